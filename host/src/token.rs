//! Development tokens: an HS256 JWT in Supabase's shape, signed with the project secret.

use hmac::{Hmac, Mac};
use sha2::Sha256;

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn mint(secret: &str, sub: &str, role: &str, email: Option<&str>, issuer: Option<&str>, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = serde_json::json!({
        "sub": sub,
        "role": role,
        "aud": "authenticated",
        "iat": now,
        "exp": now + ttl,
    });
    if let Some(e) = email {
        claims["email"] = e.into();
    }
    if let Some(i) = issuer {
        claims["iss"] = i.into();
    }
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64(claims.to_string().as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", b64(&mac.finalize().into_bytes()))
}
