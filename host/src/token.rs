//! Tokens the host makes and checks, with the components' own code ([`credentials::jwt`]):
//! development tokens and project keys for `edge token`, the service-role token of scheduled
//! calls, and the check of the service-role token that the host's admin endpoints require.

use credentials::jwt::{self, JwtConfig, Rejection};

/// Clock skew tolerated on the host's admin endpoints (`exp`, `nbf`).
const LEEWAY_S: u32 = 30;

/// A token in Supabase Auth's shape: `sub`, `role`, audience `authenticated`, valid for `ttl`
/// seconds from now, with `email` and `iss` when given.
pub fn mint(secret: &str, sub: &str, role: &str, email: Option<&str>, issuer: Option<&str>, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims =
        serde_json::json!({ "sub": sub, "role": role, "aud": "authenticated", "iat": now, "exp": now + ttl });
    if let Some(e) = email {
        claims["email"] = e.into();
    }
    if let Some(i) = issuer {
        claims["iss"] = i.into();
    }
    jwt::mint_hs256(&claims, secret)
}

/// A project API key as the Supabase dashboard shows it (`edge token --key ROLE`), signed with
/// the project secret.
pub fn mint_project_key(secret: &str, role: &str, project_ref: &str, ttl: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims =
        serde_json::json!({ "iss": "supabase", "ref": project_ref, "role": role, "iat": now, "exp": now + ttl });
    jwt::mint_hs256(&claims, secret)
}

/// Why a token was refused by a host endpoint.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a valid token for this project (401), with the components' reason.
    Invalid(Rejection),
    /// Valid, but not the service role (403).
    NotServiceRole,
}

/// Check that `token` is the service role's: a user-shaped token with role `service_role` or
/// the project's service-role key, verified exactly as the components verify tokens (HS256
/// with the project secret; `iss` must equal `issuer` when one is set), with 30 s of leeway.
pub fn verify_service_role(token: &str, secret: &str, issuer: Option<&str>, now: i64) -> Result<(), Refusal> {
    let config = JwtConfig::new(Some(secret), None, issuer.filter(|i| !i.is_empty()), "authenticated")
        .map_err(|_| Refusal::Invalid(Rejection::UnknownKey))?
        .with_leeway(LEEWAY_S);
    let claims = jwt::verify(token, &config, now).map_err(Refusal::Invalid)?;
    if claims.role == "service_role" {
        Ok(())
    } else {
        Err(Refusal::NotServiceRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use credentials::encoding::base64url_encode;

    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
    const SERVICE: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn only_a_signed_unexpired_service_role_token_passes() {
        let now = chrono::Utc::now().timestamp();
        let service = mint(SECRET, SERVICE, "service_role", None, None, 60);
        assert_eq!(verify_service_role(&service, SECRET, None, now), Ok(()));
        let user = mint(SECRET, "5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", "authenticated", None, None, 60);
        assert_eq!(verify_service_role(&user, SECRET, None, now), Err(Refusal::NotServiceRole));
        let other_key = mint("another-secret-of-enough-length-for-hmac!!", SERVICE, "service_role", None, None, 60);
        assert_eq!(verify_service_role(&other_key, SECRET, None, now), Err(Refusal::Invalid(Rejection::BadSignature)));
        let expired = mint(SECRET, SERVICE, "service_role", None, None, -120);
        assert_eq!(verify_service_role(&expired, SECRET, None, now), Err(Refusal::Invalid(Rejection::Expired)));
        let within_leeway = mint(SECRET, SERVICE, "service_role", None, None, -20);
        assert_eq!(verify_service_role(&within_leeway, SECRET, None, now), Ok(()));
        assert_eq!(
            verify_service_role(&service, SECRET, Some("https://issuer"), now),
            Err(Refusal::Invalid(Rejection::MissingClaim))
        );
        let other_issuer = mint(SECRET, SERVICE, "service_role", None, Some("https://other"), 60);
        assert_eq!(
            verify_service_role(&other_issuer, SECRET, Some("https://issuer"), now),
            Err(Refusal::Invalid(Rejection::WrongIssuer))
        );
        let issued = mint(SECRET, SERVICE, "service_role", None, Some("https://issuer"), 60);
        assert_eq!(verify_service_role(&issued, SECRET, Some("https://issuer"), now), Ok(()));
        assert_eq!(verify_service_role("a.b", SECRET, None, now), Err(Refusal::Invalid(Rejection::Malformed)));
        // alg none: no signature to check, refused before anything else.
        let none = format!(
            "{}.{}.",
            base64url_encode(br#"{"alg":"none"}"#),
            base64url_encode(br#"{"role":"service_role","exp":9999999999}"#)
        );
        assert_eq!(
            verify_service_role(&none, SECRET, None, now),
            Err(Refusal::Invalid(Rejection::UnsupportedAlgorithm))
        );
        // The components' policy holds here too: the subject is a user id.
        let named = mint(SECRET, "service", "service_role", None, None, 60);
        assert_eq!(verify_service_role(&named, SECRET, None, now), Err(Refusal::Invalid(Rejection::InvalidSubject)));
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
        assert_eq!(
            verify_service_role(&other, SECRET, Some(hosted), now),
            Err(Refusal::Invalid(Rejection::WrongIssuer))
        );
        let anon = mint_project_key(SECRET, "anon", "abcdefghijklmnopqrst", 3600);
        assert_eq!(verify_service_role(&anon, SECRET, None, now), Err(Refusal::NotServiceRole));
        let expired = mint_project_key(SECRET, "service_role", "abcdefghijklmnopqrst", -120);
        assert_eq!(verify_service_role(&expired, SECRET, None, now), Err(Refusal::Invalid(Rejection::Expired)));
        let forged = mint_project_key(
            "another-secret-of-enough-length-for-hmac!!",
            "service_role",
            "abcdefghijklmnopqrst",
            3600,
        );
        assert_eq!(verify_service_role(&forged, SECRET, None, now), Err(Refusal::Invalid(Rejection::BadSignature)));
    }
}
