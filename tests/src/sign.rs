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

/// A P-256 signing key made from a label (tests need keys that stay the same between runs).
pub fn es256_key(label: &str) -> p256::ecdsa::SigningKey {
    let scalar = hmac_sha256::Hash::hash(label.as_bytes());
    p256::ecdsa::SigningKey::from_slice(&scalar).expect("a hash is a valid P-256 scalar")
}

/// The public JWK of `key`, as a JWKS lists it.
pub fn es256_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> serde_json::Value {
    let point = key.verifying_key().to_encoded_point(false);
    serde_json::json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64(point.x().expect("uncompressed point")), "y": b64(point.y().expect("uncompressed point")),
    })
}

/// An ES256 JWT (`R || S` signature, as JWS requires) with `kid` in its header.
pub fn jwt_es256(claims: &serde_json::Value, key: &p256::ecdsa::SigningKey, kid: &str) -> String {
    use p256::ecdsa::signature::Signer;
    let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": kid });
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&signature.to_bytes()))
}
