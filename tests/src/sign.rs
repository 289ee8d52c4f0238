//! Signing what the tests send: HS256 access tokens and Stripe-Signature headers, computed
//! here (not with the code under test) so the suites check the functions against an
//! independent implementation.

use base64::Engine;

pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HS256 JWT with these claims.
pub fn jwt_hs256(claims: &serde_json::Value, secret: &str) -> String {
    let signing_input = format!("{}.{}", b64(br#"{"alg":"HS256","typ":"JWT"}"#), b64(claims.to_string().as_bytes()));
    let mac = hmac_sha256::HMAC::mac(signing_input.as_bytes(), secret.as_bytes());
    format!("{signing_input}.{}", b64(&mac))
}

/// A `Stripe-Signature` header for `body` at time `t`.
pub fn stripe_signature(body: &[u8], secret: &str, t: i64) -> String {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    format!("t={t},v1={}", hex(&hmac_sha256::HMAC::mac(&signed, secret.as_bytes())))
}
