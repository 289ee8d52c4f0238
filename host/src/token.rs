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
    sign(secret, &claims)
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
    let header: serde_json::Value =
        b64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(Refusal::Invalid("malformed_token"))?;
    if header["alg"] != "HS256" {
        return Err(Refusal::Invalid("algorithm_not_allowed"));
    }
    let signature = b64.decode(s).map_err(|_| Refusal::Invalid("malformed_token"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{h}.{p}").as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&signature).map_err(|_| Refusal::Invalid("bad_signature"))?;
    let claims: serde_json::Value =
        b64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(Refusal::Invalid("malformed_token"))?;
    match claims["exp"].as_i64() {
        Some(exp) if exp + 30 >= now => {}
        Some(_) => return Err(Refusal::Invalid("token_expired")),
        None => return Err(Refusal::Invalid("missing_exp")),
    }
    if is_project_key(&claims) {
        // Supabase's service-role key: it names the project (`ref`), not a user or audience.
        if let Some(expected) = issuer.and_then(hosted_project_ref) {
            if claims["ref"].as_str() != Some(expected) {
                return Err(Refusal::Invalid("wrong_project"));
            }
        }
        return if claims["role"] == "service_role" { Ok(()) } else { Err(Refusal::NotServiceRole) };
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

/// A project API key (Supabase's anon / service_role key): `iss` "supabase", a `ref`, and
/// neither `sub` nor `aud` (the same shape `shared::auth::jwt` accepts).
fn is_project_key(claims: &serde_json::Value) -> bool {
    claims["iss"] == "supabase"
        && claims["ref"].is_string()
        && claims.get("sub").is_none()
        && claims.get("aud").is_none()
}

/// The project ref of a hosted project's issuer (`https://<ref>.supabase.co/auth/v1`).
fn hosted_project_ref(issuer: &str) -> Option<&str> {
    let host = issuer.strip_prefix("https://")?.split(['/', ':']).next()?;
    host.strip_suffix(".supabase.co").filter(|r| !r.is_empty() && !r.contains('.'))
}

/// A project API key as the Supabase dashboard shows it (`edge token --key ROLE`), signed with
/// the project secret.
pub fn mint_project_key(secret: &str, role: &str, project_ref: &str, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims =
        serde_json::json!({ "iss": "supabase", "ref": project_ref, "role": role, "iat": now, "exp": now + ttl });
    sign(secret, &claims)
}

fn sign(secret: &str, claims: &serde_json::Value) -> String {
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64(claims.to_string().as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", b64(&mac.finalize().into_bytes()))
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
        assert_eq!(
            verify_service_role(&service, SECRET, Some("https://issuer"), now),
            Err(Refusal::Invalid("wrong_issuer"))
        );
        let issued = mint(SECRET, "service", "service_role", None, Some("https://issuer"), 60);
        assert_eq!(verify_service_role(&issued, SECRET, Some("https://issuer"), now), Ok(()));
        assert_eq!(verify_service_role("a.b", SECRET, None, now), Err(Refusal::Invalid("malformed_token")));
        // alg none: no signature to check, refused before anything else.
        let none = format!("{}.{}.", b64(br#"{"alg":"none"}"#), b64(br#"{"role":"service_role","exp":9999999999}"#));
        assert_eq!(verify_service_role(&none, SECRET, None, now), Err(Refusal::Invalid("algorithm_not_allowed")));
    }

    #[test]
    fn the_supabase_service_role_key_passes_whatever_the_issuer() {
        let now = chrono::Utc::now().timestamp();
        let key = mint_project_key(SECRET, "service_role", "abcdefghijklmnopqrst", 3600);
        assert_eq!(verify_service_role(&key, SECRET, None, now), Ok(()));
        assert_eq!(verify_service_role(&key, SECRET, Some("http://127.0.0.1:54321/auth/v1"), now), Ok(()));
        let hosted = "https://abcdefghijklmnopqrst.supabase.co/auth/v1";
        assert_eq!(verify_service_role(&key, SECRET, Some(hosted), now), Ok(()));
        let other = mint_project_key(SECRET, "service_role", "zzzzzzzzzzzzzzzzzzzz", 3600);
        assert_eq!(verify_service_role(&other, SECRET, Some(hosted), now), Err(Refusal::Invalid("wrong_project")));
        let anon = mint_project_key(SECRET, "anon", "abcdefghijklmnopqrst", 3600);
        assert_eq!(verify_service_role(&anon, SECRET, None, now), Err(Refusal::NotServiceRole));
        let expired = mint_project_key(SECRET, "service_role", "abcdefghijklmnopqrst", -120);
        assert_eq!(verify_service_role(&expired, SECRET, None, now), Err(Refusal::Invalid("token_expired")));
        let forged = mint_project_key(
            "another-secret-of-enough-length-for-hmac!!",
            "service_role",
            "abcdefghijklmnopqrst",
            3600,
        );
        assert_eq!(verify_service_role(&forged, SECRET, None, now), Err(Refusal::Invalid("bad_signature")));
    }
}
