//! Checks that call our own functions over HTTP, as clients do, as calls between the
//! application's functions (`shared::chain`: Spin's service chaining, or the application's
//! own origin where that is not available):
//!
//! - functionality / `health_endpoint` and performance / `health_latency`, per component:
//!   `GET /health` once cold (the first request of this validation) and three times warm.
//!   Latency: cold ≤ 300 ms and warm median ≤ 100 ms pass (the guide's targets), up to twice
//!   that warning, slower fail.
//! - security / `forged_tokens`: `alg: none`, an expired token signed with the real secret
//!   and a token signed with a random key must each get 401 from a user endpoint, an admin
//!   endpoint and this function; the caller's own token is sent too, as a control.
//! - security / `unsigned_webhooks`: a delivery without `Stripe-Signature`, and one signed
//!   with a random key, must get 400 from webhook-handler.

use crate::built::COMPONENTS;
use crate::check::{by_upper_bound, fixed, median, start, Category, Check, Severity, Status};
use crate::tokens;
use serde_json::{json, Value};
use shared::security::internal::{self, Purpose};
use spin_sdk::http::{Method, Request, Response};
use std::time::Instant;

pub const COLD_BUDGET_MS: f64 = 300.0;
pub const WARM_BUDGET_MS: f64 = 100.0;
pub const WARM_SAMPLES: usize = 3;

/// What one request got.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub body: Value,
    pub ms: f64,
}

impl Answer {
    fn to_json(&self) -> Value {
        json!({ "status": self.status, "code": self.code, "ms": (self.ms * 100.0).round() / 100.0 })
    }
}

fn internal_url(component: &str, path: &str) -> String {
    shared::chain::url(component, path)
}

/// One request to our own function. It carries the signed `probe` mark, so the callee's
/// security middleware still screens it but neither rate-limits it, records an incident nor
/// blocks anyone for it (a validation must not block the address it runs from).
pub async fn call(method: Method, url: &str, headers: &[(&str, &str)], body: Option<String>) -> Answer {
    let mut builder = Request::builder();
    builder.method(method).uri(url);
    let path = url.split("://").nth(1).and_then(|rest| rest.find('/').map(|i| &rest[i..])).unwrap_or("/");
    if let Some((name, value)) = internal::sign(Purpose::Probe, path.split('?').next().unwrap_or(path)) {
        builder.header(name, value);
    }
    for (k, v) in headers {
        builder.header(*k, *v);
    }
    let request = match body {
        Some(b) => builder.body(b).build(),
        None => builder.build(),
    };
    let started = Instant::now();
    let result = spin_sdk::http::send::<_, Response>(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(r) => {
            let body: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
            let code = body.get("code").and_then(Value::as_str).map(str::to_string);
            Answer { status: Some(*r.status()), code, body, ms }
        }
        Err(e) => {
            eprintln!("probe {url} failed: {e}");
            Answer { status: None, code: Some("unreachable".into()), body: Value::Null, ms }
        }
    }
}

/// One component's health probes.
#[derive(Debug, Clone)]
pub struct Health {
    pub component: &'static str,
    pub cold: Answer,
    pub warm: Vec<Answer>,
}

impl Health {
    /// Whether every answer was 200 naming the component.
    fn answers_ok(&self) -> bool {
        std::iter::once(&self.cold)
            .chain(self.warm.iter())
            .all(|a| a.status == Some(200) && a.body["status"] == "ok" && a.body["function"] == self.component)
    }

    /// Time spent on the probes (the check's own duration).
    fn probing_ms(&self) -> f64 {
        self.cold.ms + self.warm.iter().map(|a| a.ms).sum::<f64>()
    }

    fn warm_median(&self) -> Option<f64> {
        let ms: Vec<f64> = self.warm.iter().filter(|a| a.status == Some(200)).map(|a| a.ms).collect();
        median(&ms)
    }
}

pub async fn health_all() -> Vec<Health> {
    let mut out = Vec::new();
    for (component, base) in COMPONENTS {
        let url = internal_url(component, &format!("{base}/health"));
        let cold = call(Method::Get, &url, &[], None).await;
        let mut warm = Vec::new();
        for _ in 0..WARM_SAMPLES {
            warm.push(call(Method::Get, &url, &[], None).await);
        }
        out.push(Health { component, cold, warm });
    }
    out
}

pub fn health_endpoint(h: &Health) -> Check {
    let mut c = health_endpoint_verdict(h);
    c.duration_ms = h.probing_ms();
    c
}

pub fn health_latency(h: &Health) -> Check {
    let mut c = health_latency_verdict(h);
    c.duration_ms = h.probing_ms();
    c
}

fn health_endpoint_verdict(h: &Health) -> Check {
    let p = start(Category::Functionality, "health_endpoint", Severity::High).subject(h.component);
    let answers: Vec<Value> = std::iter::once(&h.cold).chain(h.warm.iter()).map(Answer::to_json).collect();
    let evidence = json!({ "requests": answers.len(), "answers": answers });
    if h.answers_ok() {
        p.done(Status::Pass, format!("{} answers /health with 200 and its name", h.component), evidence, "")
    } else {
        let first_bad =
            std::iter::once(&h.cold).chain(h.warm.iter()).find(|a| a.status != Some(200)).unwrap_or(&h.cold);
        let got = match first_bad.status {
            Some(s) => format!("{s}{}", first_bad.code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()),
            None => "no answer".into(),
        };
        p.done(
            Status::Fail,
            format!("{} /health did not answer 200 with its name (got {got})", h.component),
            evidence,
            format!("deploy {} and check its route in spin.toml and its log", h.component),
        )
    }
}

fn health_latency_verdict(h: &Health) -> Check {
    let p = start(Category::Performance, "health_latency", Severity::Medium).subject(h.component);
    let warm = h.warm_median();
    let evidence = json!({
        "cold_ms": (h.cold.ms * 100.0).round() / 100.0,
        "warm_ms": h.warm.iter().map(|a| (a.ms * 100.0).round() / 100.0).collect::<Vec<_>>(),
        "warm_median_ms": warm.map(|v| (v * 100.0).round() / 100.0),
        "cold_budget_ms": COLD_BUDGET_MS,
        "warm_budget_ms": WARM_BUDGET_MS,
    });
    let (Some(warm), Some(200)) = (warm, h.cold.status) else {
        return p.done(
            Status::Skip,
            format!("{} gave no successful answer to time", h.component),
            evidence,
            "make /health answer first (health_endpoint)",
        );
    };
    let cold_status = by_upper_bound(h.cold.ms, COLD_BUDGET_MS, 2.0 * COLD_BUDGET_MS);
    let warm_status = by_upper_bound(warm, WARM_BUDGET_MS, 2.0 * WARM_BUDGET_MS);
    let status = [cold_status, warm_status]
        .into_iter()
        .max_by_key(|s| match s {
            Status::Fail => 2,
            Status::Warning => 1,
            _ => 0,
        })
        .unwrap_or(Status::Pass);
    p.done(
        status,
        format!(
            "{} /health cold {} ms (budget {} ms), warm median {} ms (budget {} ms)",
            h.component,
            fixed(h.cold.ms, 1),
            fixed(COLD_BUDGET_MS, 0),
            fixed(warm, 1),
            fixed(WARM_BUDGET_MS, 0)
        ),
        evidence,
        format!(
            "{} is slow to start or answer: check its size (edge build prints it) and the host's load",
            h.component
        ),
    )
}

/// Endpoints that need a token: a user endpoint, an admin endpoint and this function.
const AUTH_TARGETS: [(&str, &str); 3] = [
    ("subscription-status", "/functions/v1/subscription-status"),
    ("webhook-monitor", "/functions/v1/webhook-monitor/overview"),
    ("production-validator", "/functions/v1/production-validator/reports"),
];

pub async fn forged_tokens(caller_authorization: &str) -> Check {
    let p = start(Category::Security, "forged_tokens", Severity::Critical);
    let now = shared::auth::now_unix();
    let settings = shared::settings::current();
    let issuer = settings.jwt_issuer();
    let mut forged: Vec<(&str, String)> = vec![
        ("alg_none", tokens::unsigned(&tokens::claims(now, now + 600, issuer))),
        ("wrong_key", credentials::jwt::mint_hs256(&tokens::claims(now, now + 600, issuer), &random_secret())),
    ];
    if let Some(secret) = settings.jwt_secret() {
        forged.push(("expired", credentials::jwt::mint_hs256(&tokens::claims(now - 7200, now - 3600, issuer), secret)));
    }
    let mut probes = Vec::new();
    let mut refused = 0;
    let mut accepted = Vec::new();
    let mut control_refused = Vec::new();
    for (component, path) in AUTH_TARGETS.iter().filter(|(c, _)| COMPONENTS.iter().any(|(n, _)| n == c)) {
        let url = internal_url(component, path);
        for (kind, token) in &forged {
            let bearer = format!("Bearer {token}");
            let a = call(Method::Get, &url, &[("authorization", &bearer)], None).await;
            if a.status == Some(401) {
                refused += 1;
            } else {
                accepted.push(format!(
                    "{kind} → {path}: {}",
                    a.status.map(|s| s.to_string()).unwrap_or("no answer".into())
                ));
            }
            probes.push(json!({ "token": kind, "path": path, "answer": a.to_json() }));
        }
        let control = call(Method::Get, &url, &[("authorization", caller_authorization)], None).await;
        if control.status.is_none() || control.status == Some(401) || control.status.is_some_and(|s| s >= 500) {
            control_refused
                .push(format!("{path}: {}", control.status.map(|s| s.to_string()).unwrap_or("no answer".into())));
        }
        probes.push(json!({ "token": "caller (control)", "path": path, "answer": control.to_json() }));
    }
    let evidence = json!({ "probes": probes, "not_refused": accepted, "control_failed": control_refused });
    if probes.is_empty() {
        return p.done(Status::Skip, "no endpoint to probe in this build", evidence, "");
    }
    if !accepted.is_empty() {
        return p.done(
            Status::Fail,
            format!("forged tokens were not refused with 401: {}", accepted.join("; ")),
            evidence,
            "authentication accepts forged tokens: check jwt_secret / jwks and the JWT verification in shared::auth",
        );
    }
    if !control_refused.is_empty() {
        return p.done(
            Status::Warning,
            format!(
                "forged tokens got 401, but so did (or failed) the caller's valid token: {}",
                control_refused.join("; ")
            ),
            evidence,
            "the probed endpoints refuse valid tokens too, so the 401s prove nothing: check those functions",
        );
    }
    p.done(
        Status::Pass,
        format!("all {refused} forged tokens refused with 401; the caller's own token accepted"),
        evidence,
        "",
    )
}

pub async fn unsigned_webhooks() -> Check {
    let p = start(Category::Security, "unsigned_webhooks", Severity::Critical);
    let url = internal_url("webhook-handler", "/functions/v1/webhook-handler");
    let now = shared::auth::now_unix();
    let body = json!({
        "id": format!("evt_validation_probe_{now}"),
        "object": "event",
        "type": "customer.updated",
        "created": now,
        "data": { "object": { "id": "cus_validation_probe", "object": "customer" } },
    })
    .to_string();
    let wrong = credentials::stripe::sign(body.as_bytes(), &random_secret(), now);
    let unsigned = call(Method::Post, &url, &[("content-type", "application/json")], Some(body.clone())).await;
    let badly_signed =
        call(Method::Post, &url, &[("content-type", "application/json"), ("stripe-signature", &wrong)], Some(body))
            .await;
    let evidence = json!({
        "without_signature": unsigned.to_json(),
        "signed_with_a_random_key": badly_signed.to_json(),
        "expected_status": 400,
    });
    let refused = |a: &Answer| a.status == Some(400);
    if refused(&unsigned) && refused(&badly_signed) {
        return p.done(Status::Pass, "unsigned and wrongly signed deliveries are refused with 400", evidence, "");
    }
    let describe = |a: &Answer| match a.status {
        Some(s) => format!("{s}{}", a.code.as_ref().map(|c| format!(" {c}")).unwrap_or_default()),
        None => "no answer".into(),
    };
    p.done(
        Status::Fail,
        format!(
            "webhook-handler did not refuse with 400: without signature → {}, random key → {}",
            describe(&unsigned),
            describe(&badly_signed)
        ),
        evidence,
        "webhook-handler must verify Stripe-Signature with stripe_webhook_secrets before anything else: set the secret and check the handler",
    )
}

/// A key nobody configured: 32 random bytes in hex.
fn random_secret() -> String {
    (0..4).map(|_| format!("{:016x}", wasi::random::random::get_random_u64())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: Option<u16>, ms: f64, function: &str) -> Answer {
        let body = if status == Some(200) { json!({"status": "ok", "function": function}) } else { Value::Null };
        Answer { status, code: None, body, ms }
    }

    fn health(cold_ms: f64, warm_ms: [f64; 3]) -> Health {
        Health {
            component: "quote-processor",
            cold: answer(Some(200), cold_ms, "quote-processor"),
            warm: warm_ms.iter().map(|ms| answer(Some(200), *ms, "quote-processor")).collect(),
        }
    }

    #[test]
    fn health_latency_against_the_cold_and_warm_budgets() {
        assert_eq!(health_latency(&health(120.0, [5.0, 9.0, 7.0])).status, Status::Pass);
        assert_eq!(health_latency(&health(450.0, [5.0, 9.0, 7.0])).status, Status::Warning);
        assert_eq!(health_latency(&health(20.0, [150.0, 400.0, 250.0])).status, Status::Fail, "warm median 250 ms");
        let c = health_latency(&health(20.0, [1.0, 2.0, 3.0]));
        assert_eq!(c.evidence["warm_median_ms"], 2.0);
    }

    #[test]
    fn a_wrong_or_missing_health_answer_fails_and_is_not_timed() {
        let mut h = health(10.0, [1.0, 1.0, 1.0]);
        assert_eq!(health_endpoint(&h).status, Status::Pass);
        h.warm[1] = answer(Some(503), 1.0, "quote-processor");
        assert_eq!(health_endpoint(&h).status, Status::Fail);
        h.cold = answer(None, 5000.0, "quote-processor");
        assert_eq!(health_latency(&h).status, Status::Skip);
        let mut other = health(10.0, [1.0, 1.0, 1.0]);
        other.cold.body = json!({"status": "ok", "function": "another-function"});
        assert_eq!(health_endpoint(&other).status, Status::Fail, "the answer must name the function");
    }
}
