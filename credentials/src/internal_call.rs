//! Calls between our own functions (`http://<component>.spin.internal/...`) carry a short-lived
//! signature so the callee's middleware knows the request was already screened by the caller:
//!
//! - `chain`: a function calling another on a user's behalf (quote-processor → PDF generator,
//!   a batch job rendering PDFs). The outer request was rate limited and inspected once; the
//!   inner ones must not use up the user's rate limit again (a 1,000-quote PDF batch would
//!   otherwise be throttled by its own work).
//! - `probe`: security-hardening and production-validator probing our endpoints with hostile
//!   input. The callee still inspects and refuses it, but records no incident and blocks no
//!   one (a scan must not block the address it runs from).
//!
//! Header: `x-internal-call: <purpose>.<unix seconds>.<hex HMAC-SHA256(jwt_secret,
//! "<purpose>.<unix>.<path>")>`, valid for two minutes. Clients cannot forge it without the
//! project's JWT secret, which already lets them mint service-role tokens.

use crate::encoding::{constant_time_eq, hex};

pub const HEADER: &str = "x-internal-call";
const VALIDITY_S: i64 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Chain,
    Probe,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Chain => "chain",
            Purpose::Probe => "probe",
        }
    }
}

fn mac(secret: &str, purpose: &str, t: i64, path: &str) -> String {
    hex(&hmac_sha256::HMAC::mac(format!("{purpose}.{t}.{path}").as_bytes(), secret.as_bytes()))
}

/// The header value for a call to `path` (the URL's path, without the query).
pub fn sign_with(secret: &str, purpose: Purpose, path: &str, now: i64) -> String {
    format!("{}.{now}.{}", purpose.as_str(), mac(secret, purpose.as_str(), now, path))
}

/// The purpose of a correctly signed, fresh header for `path`.
pub fn verify_with(secret: &str, header: &str, path: &str, now: i64) -> Option<Purpose> {
    let mut parts = header.splitn(3, '.');
    let purpose = match parts.next()? {
        "chain" => Purpose::Chain,
        "probe" => Purpose::Probe,
        _ => return None,
    };
    let t: i64 = parts.next()?.parse().ok()?;
    let given = parts.next()?;
    if (now - t).abs() > VALIDITY_S || secret.is_empty() {
        return None;
    }
    let expected = mac(secret, purpose.as_str(), t, path);
    constant_time_eq(expected.as_bytes(), given.as_bytes()).then_some(purpose)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    #[test]
    fn a_signed_header_verifies_for_its_path_only() {
        let h = sign_with(SECRET, Purpose::Chain, "/functions/v1/quote-pdf-generator", 1_000);
        assert_eq!(verify_with(SECRET, &h, "/functions/v1/quote-pdf-generator", 1_030), Some(Purpose::Chain));
        assert_eq!(verify_with(SECRET, &h, "/functions/v1/quote-processor", 1_030), None);
        assert_eq!(verify_with("another-secret", &h, "/functions/v1/quote-pdf-generator", 1_030), None);
    }

    #[test]
    fn stale_tampered_or_malformed_headers_are_refused() {
        let h = sign_with(SECRET, Purpose::Probe, "/p", 1_000);
        assert_eq!(verify_with(SECRET, &h, "/p", 1_000 + 121), None);
        assert_eq!(verify_with(SECRET, &h.replacen("probe", "chain", 1), "/p", 1_000), None);
        for bad in ["", "chain", "chain.x.y", "chain.1000.", "other.1000.abc"] {
            assert_eq!(verify_with(SECRET, bad, "/p", 1_000), None, "{bad}");
        }
    }
}
