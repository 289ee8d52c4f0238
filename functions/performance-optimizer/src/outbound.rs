//! Outbound HTTP of this function: timed GETs to our own functions and to the host, and the
//! short-lived tokens they carry (minted from `jwt_secret`, as Supabase's service-role key is).

use credentials::jwt;
use shared::auth::now_unix;
use shared::Problem;
use spin_sdk::http::{Method, Request, Response};
use std::time::Instant;

/// The service role has no user; tokens still carry a uuid `sub`, as verification requires.
const SERVICE_SUB: &str = "00000000-0000-0000-0000-000000000000";
/// Benchmark tokens live two minutes: long enough for one run, useless afterwards.
const TOKEN_TTL_S: i64 = 120;

fn mint(sub: &str, role: &str) -> Result<String, Problem> {
    let settings = shared::settings::current();
    let secret = settings
        .jwt_secret()
        .ok_or_else(|| Problem::unavailable("not_configured", "jwt_secret is not set, so no token can be minted"))?;
    let now = now_unix();
    let mut claims = serde_json::json!({
        "sub": sub, "role": role, "aud": "authenticated", "iat": now, "exp": now + TOKEN_TTL_S,
    });
    if let Some(iss) = settings.jwt_issuer() {
        claims["iss"] = iss.into();
    }
    Ok(jwt::mint_hs256(&claims, secret))
}

pub fn service_token() -> Result<String, Problem> {
    mint(SERVICE_SUB, "service_role")
}

pub fn user_token(sub: &str) -> Result<String, Problem> {
    mint(sub, "authenticated")
}

/// One timed request: the status (`None` when no answer came) and the time until the whole
/// body was read, in milliseconds.
pub struct Timed {
    pub status: Option<u16>,
    pub ms: f64,
    pub body: Vec<u8>,
}

pub async fn get(url: &str, token: Option<&str>) -> Timed {
    let mut builder = Request::builder();
    builder.method(Method::Get).uri(url).header("accept", "application/json");
    if let Some(t) = token {
        builder.header("authorization", format!("Bearer {t}"));
    }
    let request = builder.build();
    let started = Instant::now();
    let answer = spin_sdk::http::send::<_, Response>(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match answer {
        Ok(r) => Timed { status: Some(*r.status()), ms, body: r.into_body() },
        Err(e) => {
            eprintln!("GET {url} failed: {e}");
            Timed { status: None, ms, body: Vec::new() }
        }
    }
}

/// `public_base_url` without a trailing slash.
pub fn public_base_url() -> Option<String> {
    Some(shared::settings::current().public_base_url().to_string()).filter(|u| !u.is_empty())
}
