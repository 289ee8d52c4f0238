//! Tokens and signatures an attacker could present, for probing our own endpoints:
//! `alg: none`, an expired token signed with the real secret, and a token and a Stripe
//! signature made with a key nobody configured.

use serde_json::{json, Value};

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..=chunk.len() {
            out.push(B64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Claims of a service-role token that would pass every check but the one probed.
pub fn claims(now: i64, exp: i64, issuer: Option<&str>) -> Value {
    let mut c = json!({
        "sub": "00000000-0000-4000-8000-00000000abcd",
        "role": "service_role",
        "aud": "authenticated",
        "iat": now - 60,
        "exp": exp,
    });
    if let Some(iss) = issuer {
        c["iss"] = iss.into();
    }
    c
}

pub fn unsigned(claims: &Value) -> String {
    let header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64url(claims.to_string().as_bytes()))
}

pub fn hs256(claims: &Value, key: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64url(br#"{"alg":"HS256","typ":"JWT"}"#), b64url(claims.to_string().as_bytes()));
    let mac = hmac_sha256::HMAC::mac(signing_input.as_bytes(), key);
    format!("{signing_input}.{}", b64url(&mac))
}

/// `Stripe-Signature` for `body` at `t` with `secret` (as Stripe computes it).
pub fn stripe_signature(t: i64, body: &str, secret: &[u8]) -> String {
    let mac = hmac_sha256::HMAC::mac(format!("{t}.{body}").as_bytes(), secret);
    format!("t={t},v1={}", hex(&mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc4648_vectors_without_padding() {
        let cases = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in cases {
            assert_eq!(b64url(plain.as_bytes()), encoded);
        }
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn hs256_matches_the_rfc7515_example() {
        // RFC 7515 appendix A.1: the same signing input gives the same signature.
        let key_b64 = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        let key = decode(key_b64);
        let input = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        let mac = hmac_sha256::HMAC::mac(input.as_bytes(), &key);
        assert_eq!(b64url(&mac), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    }

    fn decode(s: &str) -> Vec<u8> {
        let bits: Vec<u8> = s.bytes().map(|c| B64URL.iter().position(|&b| b == c).unwrap() as u8).collect();
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut n = 0;
        for v in bits {
            acc = acc << 6 | v as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((acc >> n) as u8);
                acc &= (1 << n) - 1;
            }
        }
        out
    }
}
