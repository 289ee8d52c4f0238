//! Is a secret strong enough for production? Judged on the value itself, never echoed:
//! the findings name the rule a value breaks, not the value.
//!
//! `jwt_secret` (HS256 key): at least 32 bytes (RFC 7518 §3.2: a key as long as the hash), at
//! least 96 bits by a character-frequency estimate (length × Shannon entropy per character),
//! not one short piece repeated, and not a published default.
//! `stripe_webhook_secrets`: each comma-separated entry is `whsec_` followed by at least 24
//! base64 characters (Stripe's format), with no entry listed twice.

/// Published example secrets (the Supabase CLI's local JWT secret).
const KNOWN_DEFAULTS: [&str; 1] = ["super-secret-jwt-token-with-at-least-32-characters-long"];

pub const MIN_JWT_SECRET_BYTES: usize = 32;
pub const MIN_JWT_SECRET_BITS: f64 = 96.0;
const MIN_WHSEC_BODY: usize = 24;

/// Estimated entropy in bits: length × empirical Shannon entropy per character.
pub fn estimated_bits(s: &str) -> f64 {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return 0.0;
    }
    // Secrets are short: a list is enough to count characters.
    let mut counts: Vec<(char, usize)> = Vec::new();
    for c in &chars {
        match counts.iter_mut().find(|(k, _)| k == c) {
            Some((_, n)) => *n += 1,
            None => counts.push((*c, 1)),
        }
    }
    let n = chars.len() as f64;
    let per_char: f64 = counts
        .iter()
        .map(|&(_, k)| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// The shortest piece `s` is a repetition of (its own length when it repeats nothing).
fn period(s: &[u8]) -> usize {
    (1..=s.len() / 2).find(|&p| s.len().is_multiple_of(p) && s.chunks(p).all(|c| c == &s[..p])).unwrap_or(s.len())
}

/// What is wrong with a JWT secret; empty when it is strong.
pub fn jwt_secret_findings(secret: &str) -> Vec<String> {
    let mut findings = Vec::new();
    if KNOWN_DEFAULTS.contains(&secret) {
        findings.push("is a published default (the Supabase CLI's local secret)".to_string());
    }
    if secret.len() < MIN_JWT_SECRET_BYTES {
        findings.push(format!("is {} bytes long; at least {MIN_JWT_SECRET_BYTES} are required", secret.len()));
    }
    let bits = estimated_bits(secret);
    if bits < MIN_JWT_SECRET_BITS {
        findings.push(format!(
            "has about {} bits of entropy; at least {} are required",
            crate::check::fixed(bits, 0),
            crate::check::fixed(MIN_JWT_SECRET_BITS, 0)
        ));
    }
    let p = period(secret.as_bytes());
    if p < secret.len() {
        findings.push(format!("repeats a {p}-character piece"));
    }
    findings
}

/// What is wrong with the comma-separated Stripe webhook secrets; empty when all are well formed.
pub fn stripe_secret_findings(list: &str) -> Vec<String> {
    let mut findings = Vec::new();
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    for (i, entry) in entries.iter().enumerate() {
        let n = i + 1;
        match entry.strip_prefix("whsec_") {
            None if entry.is_empty() => findings.push(format!("entry {n} is empty")),
            None => findings.push(format!("entry {n} does not start with `whsec_`")),
            Some(body) => {
                let base64 = body.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
                if body.len() < MIN_WHSEC_BODY || !base64 {
                    findings.push(format!("entry {n} is not `whsec_` and at least {MIN_WHSEC_BODY} base64 characters"));
                }
            }
        }
        if entries[..i].contains(entry) && !entry.is_empty() {
            findings.push(format!("entry {n} repeats an earlier entry"));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_random_secrets_pass() {
        // 32 random bytes, base64 and hex (what `openssl rand` gives).
        assert!(jwt_secret_findings("q3J8vXo2pL9sKf4TzW1mN7bRc6YhDe0aGu5iQx+VtE=").is_empty());
        assert!(jwt_secret_findings("9f2c4e7a1b8d3f6e0a5c9b2d7e4f1a8c3b6d9e2f5a8c1b4d7e0f3a6c9b2d5e8f").is_empty());
    }

    #[test]
    fn weak_secrets_say_why() {
        let f = jwt_secret_findings("super-secret-jwt-token-with-at-least-32-characters-long");
        assert!(f[0].contains("published default"), "{f:?}");
        let f = jwt_secret_findings("short");
        assert!(f.iter().any(|x| x.contains("5 bytes")), "{f:?}");
        let f = jwt_secret_findings(&"a".repeat(48));
        assert!(f.iter().any(|x| x.contains("entropy")) && f.iter().any(|x| x.contains("1-character")), "{f:?}");
        let f = jwt_secret_findings(&"password1234".repeat(4));
        assert_eq!(f, vec!["repeats a 12-character piece".to_string()]);
    }

    #[test]
    fn stripe_secrets_follow_stripes_format() {
        assert!(stripe_secret_findings("whsec_UnKKs2RxdEThhiw5qHGSRQ1ht0efbCQ1").is_empty());
        assert!(stripe_secret_findings("whsec_UnKKs2RxdEThhiw5qHGSRQ1ht0efbCQ1, whsec_AAAAbbbbCCCCddddEEEEffff1234")
            .is_empty());
        assert_eq!(stripe_secret_findings("sk_live_abc"), vec!["entry 1 does not start with `whsec_`".to_string()]);
        assert_eq!(stripe_secret_findings("whsec_short").len(), 1);
        assert_eq!(
            stripe_secret_findings("whsec_UnKKs2RxdEThhiw5qHGSRQ1ht0efbCQ1,whsec_UnKKs2RxdEThhiw5qHGSRQ1ht0efbCQ1"),
            vec!["entry 2 repeats an earlier entry".to_string()]
        );
    }
}
