//! Stripe webhook signatures, verified exactly as Stripe's own libraries do: scheme `v1`,
//! HMAC-SHA256 keyed with the whole endpoint secret (including `whsec_`) over
//! `"{t}.{raw body}"`, constant-time comparison with every `v1` value and every configured
//! secret (rotation), and an age limit (`now - t > tolerance` is refused; a timestamp in the
//! future is not, as in the libraries). Checked before anything touches the database.
//!
//! Headers Stripe never sends are refused rather than guessed at: `t` must be one plain
//! decimal number, given once (see `fixtures/stripe/signatures_quirks.json`).

use crate::encoding::{constant_time_eq, hex};

/// Stripe's default tolerance.
pub const DEFAULT_TOLERANCE_S: i64 = 300;
/// More `v1` values than any rotation needs: a header with more is refused unread.
pub const MAX_SIGNATURES: usize = 8;
/// Headers longer than this are refused before parsing.
pub const MAX_HEADER_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    MissingHeader,
    Malformed,
    NoTimestamp,
    NoSignature,
    TooManySignatures,
    NoSecret,
    Mismatch,
    TooOld,
}

impl SignatureError {
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader => "signature_missing",
            SignatureError::Malformed => "signature_malformed",
            SignatureError::NoTimestamp => "signature_no_timestamp",
            SignatureError::NoSignature => "signature_no_v1",
            SignatureError::TooManySignatures => "signature_too_many",
            SignatureError::NoSecret => "webhook_not_configured",
            SignatureError::Mismatch => "signature_mismatch",
            SignatureError::TooOld => "signature_expired",
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            SignatureError::MissingHeader => "the Stripe-Signature header is missing or empty",
            SignatureError::Malformed => "the Stripe-Signature header cannot be parsed",
            SignatureError::NoTimestamp => "the Stripe-Signature header has no single decimal t= element",
            SignatureError::NoSignature => "the Stripe-Signature header has no v1 signature",
            SignatureError::TooManySignatures => "the Stripe-Signature header carries too many signatures",
            SignatureError::NoSecret => "no webhook signing secret is configured",
            SignatureError::Mismatch => "no v1 signature matches the body with any configured secret",
            SignatureError::TooOld => "the signature timestamp is older than the tolerance",
        }
    }
}

/// Verify `header` for the exact raw `payload`. Returns the signed timestamp `t`.
pub fn verify(
    payload: &[u8],
    header: &str,
    secrets: &[&str],
    tolerance_s: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    if header.is_empty() {
        return Err(SignatureError::MissingHeader);
    }
    if header.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::TooManySignatures);
    }
    let mut t: Option<i64> = None;
    let mut t_count = 0;
    let mut signatures: Vec<&str> = Vec::new();
    let mut parsed_any = false;
    for element in header.split(',') {
        let Some((name, value)) = element.split_once('=') else { continue };
        parsed_any = true;
        match name {
            "t" => {
                t_count += 1;
                let plain = !value.is_empty()
                    && value.len() <= 12
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && !(value.len() > 1 && value.starts_with('0'));
                t = if plain { value.parse().ok() } else { None };
            }
            "v1" => {
                signatures.push(value);
                if signatures.len() > MAX_SIGNATURES {
                    return Err(SignatureError::TooManySignatures);
                }
            }
            _ => {}
        }
    }
    if !parsed_any {
        return Err(SignatureError::Malformed);
    }
    let t = match (t, t_count) {
        (Some(t), 1) => t,
        _ => return Err(SignatureError::NoTimestamp),
    };
    if signatures.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let secrets: Vec<&str> = secrets.iter().copied().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    if payload.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let mut signed = Vec::with_capacity(payload.len() + 16);
    signed.extend_from_slice(t.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(payload);
    let mut matched = false;
    for secret in &secrets {
        let expected = hex(&hmac_sha256::HMAC::mac(&signed, secret.as_bytes()));
        for sig in &signatures {
            // No early exit: every comparison runs, whatever matched.
            matched |= constant_time_eq(expected.as_bytes(), sig.as_bytes());
        }
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if now - t > tolerance_s {
        return Err(SignatureError::TooOld);
    }
    Ok(t)
}

/// A header for `payload` signed with `secret` at `t` (for tests and tools).
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(payload);
    format!("t={t},v1={}", hex(&hmac_sha256::HMAC::mac(&signed, secret.as_bytes())))
}

/// The configured secrets: `stripe_webhook_secrets`, comma-separated (rotation).
pub fn parse_secrets(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn sign_then_verify_roundtrip_and_rotation() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1000);
        assert_eq!(verify(body, &header, &[SECRET], 300, 1000), Ok(1000));
        assert_eq!(verify(body, &header, &["whsec_other", SECRET], 300, 1000), Ok(1000));
        assert_eq!(verify(body, &header, &["whsec_other"], 300, 1000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn quirky_timestamps_are_refused() {
        let body = b"{}";
        let good = sign(body, SECRET, 1000);
        let v1 = good.split_once(",v1=").unwrap().1;
        for header in [
            format!("t=1000,t=1000,v1={v1}"),
            format!("t=01000,v1={v1}"),
            format!("t=1000x,v1={v1}"),
            format!("t=NaN,v1={v1}"),
            format!("t=,v1={v1}"),
        ] {
            assert_eq!(verify(body, &header, &[SECRET], 300, 1000), Err(SignatureError::NoTimestamp), "{header}");
        }
    }

    #[test]
    fn a_thousand_v1_entries_are_refused_without_hashing_them() {
        let body = b"{}";
        let header = format!("t=1000{}", ",v1=00".repeat(1000));
        let err = verify(body, &header, &[SECRET], 300, 1000).unwrap_err();
        assert_eq!(err, SignatureError::TooManySignatures);
    }

    #[test]
    fn garbage_never_panics() {
        for h in ["", "=", ",,,", "t", "t=", "v1=", "t=1,v1", "t=99999999999999999999,v1=ab", "\u{0}=\u{0}"] {
            let _ = verify(b"x", h, &[SECRET], 300, 0);
        }
    }
}
