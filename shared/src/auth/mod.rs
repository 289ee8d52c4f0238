//! Who is calling: a user (a valid `authenticated` JWT), an admin (an active `admin` row in
//! `user_roles`, or the service-role JWT), Stripe (a signed webhook delivery), or nobody.

pub mod jwks;

use crate::db::Db;
use crate::http::{Problem, Request};
use credentials::{jwt, stripe};
use std::borrow::Cow;

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: jwt::Claims,
    /// The verified claims as JSON, for `request.jwt.claims`.
    pub claims_json: String,
}

impl Caller {
    pub fn user_id(&self) -> &str {
        &self.claims.sub
    }

    pub fn is_service_role(&self) -> bool {
        self.claims.role == "service_role"
    }
}

/// Seconds since the epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The configured keys (`jwt_secret`, `jwks`, `jwt_issuer`, parsed once per request), plus a
/// document fetched from `jwks_url` when the request needed one (see [`jwks`]).
pub fn jwt_config(fetched_jwks: Option<&str>) -> Result<Cow<'static, jwt::JwtConfig>, Problem> {
    let configured = crate::settings::current().jwt_keys()?;
    match fetched_jwks {
        None => Ok(Cow::Borrowed(configured)),
        Some(doc) => match configured.clone().with_jwks(doc) {
            Ok(with_fetched) => Ok(Cow::Owned(with_fetched)),
            Err(e) => {
                // Checked when it was fetched; a document that no longer parses is ignored.
                eprintln!("the JWKS fetched from jwks_url is unusable: {e}");
                Ok(Cow::Borrowed(configured))
            }
        },
    }
}

/// The bearer token of a request (`Authorization: Bearer <token>`), or the 401 to answer.
pub fn bearer(req: &Request) -> Result<&str, Problem> {
    let header = req
        .header("authorization")
        .ok_or_else(|| Problem::unauthorized("missing_token", "send `Authorization: Bearer <access token>`"))?;
    Ok(header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| {
            Problem::unauthorized("invalid_authorization_header", "the Authorization header must be `Bearer <token>`")
        })?
        .trim())
}

/// The bearer token of the request, verified with the configured keys. 401 with the
/// reason's code otherwise.
pub fn authenticate(req: &Request) -> Result<Caller, Problem> {
    authenticate_with(req, None)
}

/// As [`authenticate`], also trusting the keys of `fetched_jwks` (from `jwks_url`).
pub fn authenticate_with(req: &Request, fetched_jwks: Option<&str>) -> Result<Caller, Problem> {
    let token = bearer(req)?;
    let claims = jwt::verify(token, jwt_config(fetched_jwks)?.as_ref(), now_unix())
        .map_err(|r| Problem::unauthorized(r.code(), r.message()))?;
    let claims_json = claims.raw.to_string();
    Ok(Caller { claims, claims_json })
}

/// Work the system does for `user_id` when no request of theirs is open (a scheduled batch
/// job): a token of that user, signed with `jwt_secret` and valid for `ttl_s` seconds, and the
/// caller it verifies as. The token goes wherever the user's own would (a chained PDF render),
/// so RLS and every check see the owner, never the service role.
pub fn act_for(user_id: &str, ttl_s: i64) -> Result<(Caller, String), Problem> {
    let settings = crate::settings::current();
    let secret = settings
        .jwt_secret()
        .ok_or_else(|| Problem::unavailable("not_configured", "jwt_secret is not set, so no token can be minted"))?;
    let now = now_unix();
    let mut claims = serde_json::json!({
        "sub": user_id, "role": "authenticated", "aud": "authenticated", "iat": now, "exp": now + ttl_s,
    });
    if let Some(iss) = settings.jwt_issuer() {
        claims["iss"] = iss.into();
    }
    let token = jwt::mint_hs256(&claims, secret);
    let verified = jwt::verify(&token, jwt_config(None)?.as_ref(), now).map_err(|r| {
        eprintln!("a minted token did not verify: {}", r.code());
        Problem::internal()
    })?;
    let claims_json = verified.raw.to_string();
    Ok((Caller { claims: verified, claims_json }, token))
}

/// Verify a delivery's `Stripe-Signature` with this deployment's configuration: the secrets of
/// `stripe_webhook_secrets` and the age limit `stripe_webhook_tolerance_s` (default 300 s).
/// Asked once per request through `Context::stripe_delivery`: the security middleware needs
/// it before the rate limiter (a verified delivery spends no client budget), webhook-handler
/// before anything touches the database.
pub fn stripe_delivery(payload: &[u8], header: &str) -> Result<i64, stripe::SignatureError> {
    let settings = crate::settings::current();
    let secrets = settings.stripe_webhook_secrets();
    if secrets.is_empty() {
        return Err(stripe::SignatureError::NoSecret);
    }
    stripe::verify(payload, header, &secrets, settings.stripe_webhook_tolerance_s(), now_unix())
}

/// A signed-in user acting for themselves (role `authenticated`).
pub fn require_user(req: &Request) -> Result<Caller, Problem> {
    user_only(authenticate(req)?)
}

/// The verified `caller`, if it is a signed-in user acting for themselves.
pub fn user_only(caller: Caller) -> Result<Caller, Problem> {
    match caller.claims.role.as_str() {
        "authenticated" => Ok(caller),
        "anon" => Err(Problem::forbidden("sign_in_required", "an anonymous token cannot use this endpoint; sign in")),
        _ => Err(Problem::forbidden(
            "user_token_required",
            "this endpoint acts for a signed-in user; use a user's token",
        )),
    }
}

/// An administrator: the service-role token, or a user whose `user_roles` holds an active,
/// unexpired `admin` row (the same `is_admin()` that RLS uses).
pub fn require_admin(req: &Request, db: &Db) -> Result<Caller, Problem> {
    admin_only(authenticate(req)?, db)
}

/// The verified `caller`, if it is an administrator.
pub fn admin_only(caller: Caller, db: &Db) -> Result<Caller, Problem> {
    match caller.claims.role.as_str() {
        "service_role" => Ok(caller),
        "authenticated" => {
            let admin = db.as_user(&caller.claims_json, |db| -> Result<bool, Problem> {
                let rows = db.query("SELECT public.is_admin() AS admin", &[])?;
                Ok(rows.one()?.flag("admin")?)
            })?;
            if admin {
                Ok(caller)
            } else {
                Err(Problem::forbidden("admin_required", "this endpoint is for administrators"))
            }
        }
        _ => Err(Problem::forbidden("admin_required", "this endpoint is for administrators")),
    }
}
