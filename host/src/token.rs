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

/// Why a token was refused by a host endpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, wrongly signed, expired, or for another issuer / audience (401).
    Invalid(&'static str),
    /// Valid, but not the service role (403).
    NotServiceRole,
}

/// Check that `token` is an HS256 service-role JWT signed with the project secret: the only
/// credential the host's admin endpoints accept (the guide calls admin operations with it).
/// `exp` is required and checked with 30 s of leeway; `iss` must equal `issuer` when one is set.
pub fn verify_service_role(token: &str, secret: &str, issuer: Option<&str>, now: i64) -> Result<(), Refusal> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    if token.len() > 8192 || secret.is_empty() {
        return Err(Refusal::Invalid("invalid_token"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Invalid("malformed_token"));
    };
    let header: serde_json::Value = b64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Refusal::Invalid("malformed_token"))?;
    if header["alg"] != "HS256" {
        return Err(Refusal::Invalid("algorithm_not_allowed"));
    }
    let signature = b64.decode(s).map_err(|_| Refusal::Invalid("malformed_token"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{h}.{p}").as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&signature).map_err(|_| Refusal::Invalid("bad_signature"))?;
    let claims: serde_json::Value = b64
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(Refusal::Invalid("malformed_token"))?;
    match claims["exp"].as_i64() {
        Some(exp) if exp + 30 >= now => {}
        Some(_) => return Err(Refusal::Invalid("token_expired")),
        None => return Err(Refusal::Invalid("missing_exp")),
    }
    if let Some(iss) = issuer.filter(|i| !i.is_empty()) {
        if claims["iss"].as_str() != Some(iss) {
            return Err(Refusal::Invalid("wrong_issuer"));
        }
    }
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == "authenticated",
        serde_json::Value::Array(list) => list.iter().any(|a| a == "authenticated"),
        _ => false,
    };
    if !aud_ok {
        return Err(Refusal::Invalid("wrong_audience"));
    }
    if claims["role"] != "service_role" {
        return Err(Refusal::NotServiceRole);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";

    #[test]
    fn only_a_signed_unexpired_service_role_token_passes() {
        let now = chrono::Utc::now().timestamp();
        let service = mint(SECRET, "service", "service_role", None, None, 60);
        assert_eq!(verify_service_role(&service, SECRET, None, now), Ok(()));
        let user = mint(SECRET, "5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "authenticated", None, None, 60);
        assert_eq!(verify_service_role(&user, SECRET, None, now), Err(Refusal::NotServiceRole));
        let other_key = mint("another-secret-of-enough-length-for-hmac!!", "service", "service_role", None, None, 60);
        assert_eq!(verify_service_role(&other_key, SECRET, None, now), Err(Refusal::Invalid("bad_signature")));
        let expired = mint(SECRET, "service", "service_role", None, None, -120);
        assert_eq!(verify_service_role(&expired, SECRET, None, now), Err(Refusal::Invalid("token_expired")));
        assert_eq!(verify_service_role(&service, SECRET, Some("https://issuer"), now), Err(Refusal::Invalid("wrong_issuer")));
        let issued = mint(SECRET, "service", "service_role", None, Some("https://issuer"), 60);
        assert_eq!(verify_service_role(&issued, SECRET, Some("https://issuer"), now), Ok(()));
        assert_eq!(verify_service_role("a.b", SECRET, None, now), Err(Refusal::Invalid("malformed_token")));
        // alg none: no signature to check, refused before anything else.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"role":"service_role","exp":9999999999}"#));
        assert_eq!(verify_service_role(&none, SECRET, None, now), Err(Refusal::Invalid("algorithm_not_allowed")));
    }
}
