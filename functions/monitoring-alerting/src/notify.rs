//! Notifications: email through Resend, Slack incoming webhook, PagerDuty Events API v2 and a
//! generic JSON webhook. Channel settings come from variables only (never from rows).
//!
//! Delivery: the first attempt of every notification goes out at once (concurrently), so a
//! slow or failing channel never holds back the others. A failure that may pass (no answer,
//! 408, 429, 5xx) is retried within the same request after 250 ms and again after 500 ms
//! (three attempts in all); other failures (a 4xx: the request or its configuration is wrong)
//! are not retried. Retries stop once the delivery has taken [`RETRY_BUDGET`]: an endpoint that
//! hangs until the host's outbound timeout (15 s to the first byte) gets one attempt, so the
//! request still ends inside the host's 30 s limit and the failure is recorded. Every delivery
//! is returned with its outcome, to be stored.

use serde_json::{json, Value};
use shared::email::short;
use spin_sdk::http::{Method, Request, Response};
use std::time::{Duration, Instant};

pub const MAX_ATTEMPTS: i32 = 3;
const BACKOFF: [Duration; 2] = [Duration::from_millis(250), Duration::from_millis(500)];
/// No new attempt starts after this much time in `deliver` (see the module comment).
const RETRY_BUDGET: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Trigger,
    Resolve,
    Test,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Trigger => "trigger",
            Event::Resolve => "resolve",
            Event::Test => "test",
        }
    }
}

/// What to tell: an alert opening or resolving, a security incident, or a test.
#[derive(Debug, Clone)]
pub struct Message {
    pub event: Event,
    /// info | warning | error | critical (PagerDuty's own four levels).
    pub severity: String,
    pub title: String,
    pub text: String,
    /// Names one incident across trigger and resolve (PagerDuty dedup_key).
    pub dedup_key: String,
    /// What the alert is about (PagerDuty `component` / `class`).
    pub component: String,
    pub class: String,
    pub details: Value,
    pub alert_id: Option<String>,
    pub incident_id: Option<String>,
}

/// One delivery and its outcome.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub channel: &'static str,
    pub event: Event,
    pub target: Option<String>,
    /// sent | failed | skipped (channel not configured)
    pub status: &'static str,
    pub attempts: i32,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub payload: Option<Value>,
    pub response_ms: Option<f64>,
    pub alert_id: Option<String>,
    pub incident_id: Option<String>,
}

/// A request ready to go out, with what may be stored about it.
struct Prepared {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: String,
    stored_payload: Value,
    target: String,
}

fn recipients() -> Vec<String> {
    shared::settings::current().alert_email_to().into_iter().map(str::to_string).collect()
}

/// `scheme://host[:port]` of a URL: where a delivery went, without path or secrets.
pub fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

fn pagerduty_severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "error" => "error",
        "warning" => "warning",
        _ => "info",
    }
}

/// The request `channel` sends for `m`; `Err` says which setting is missing.
fn prepare(channel: &'static str, m: &Message) -> Result<Prepared, String> {
    let missing = |v: &str| format!("{channel} is not configured ({v} is empty)");
    let settings = shared::settings::current();
    match channel {
        "email" => {
            let key = settings.resend_api_key().ok_or_else(|| missing("resend_api_key"))?;
            let to = recipients();
            if to.is_empty() {
                return Err(missing("alert_email_to"));
            }
            let base = settings.resend_api_base();
            let payload = json!({
                "from": settings.email_from(),
                "to": to,
                "subject": m.title,
                "text": m.text,
            });
            Ok(Prepared {
                url: format!("{}/emails", base.trim_end_matches('/')),
                headers: vec![("authorization", format!("Bearer {key}"))],
                body: payload.to_string(),
                target: to.join(", "),
                stored_payload: payload,
            })
        }
        "slack" => {
            let url = settings.slack_webhook_url().ok_or_else(|| missing("slack_webhook_url"))?.to_string();
            let payload = json!({ "text": format!("*{}*\n{}", m.title, m.text) });
            Ok(Prepared {
                target: origin(&url),
                url,
                headers: Vec::new(),
                body: payload.to_string(),
                stored_payload: payload,
            })
        }
        "pagerduty" => {
            let key = settings.pagerduty_routing_key().ok_or_else(|| missing("pagerduty_routing_key"))?;
            let base = settings.pagerduty_api_base();
            let mut payload = match m.event {
                Event::Resolve => json!({
                    "routing_key": key,
                    "event_action": "resolve",
                    "dedup_key": m.dedup_key,
                }),
                _ => json!({
                    "routing_key": key,
                    "event_action": "trigger",
                    "dedup_key": m.dedup_key,
                    "payload": {
                        "summary": m.title.chars().take(1024).collect::<String>(),
                        "source": "quotekit/monitoring-alerting",
                        "severity": pagerduty_severity(&m.severity),
                        "component": m.component,
                        "class": m.class,
                        "custom_details": m.details,
                    },
                }),
            };
            let body = payload.to_string();
            payload["routing_key"] = json!("[redacted]");
            let url = format!("{}/v2/enqueue", base.trim_end_matches('/'));
            Ok(Prepared { target: origin(&url), url, headers: Vec::new(), body, stored_payload: payload })
        }
        "webhook" => {
            let url = settings.alert_webhook_url().ok_or_else(|| missing("alert_webhook_url"))?.to_string();
            let event = match m.event {
                Event::Trigger => "alert.triggered",
                Event::Resolve => "alert.resolved",
                Event::Test => "notification.test",
            };
            let payload = json!({
                "event": event,
                "severity": m.severity,
                "title": m.title,
                "text": m.text,
                "dedup_key": m.dedup_key,
                "alert_id": m.alert_id,
                "security_incident_id": m.incident_id,
                "details": m.details,
            });
            Ok(Prepared {
                target: origin(&url),
                url,
                headers: Vec::new(),
                body: payload.to_string(),
                stored_payload: payload,
            })
        }
        other => Err(format!("unknown channel {other}")),
    }
}

/// The outcome of one attempt: `Ok(status)` for 2xx, else the status (if any) and the error.
async fn attempt(p: &Prepared) -> Result<u16, (Option<u16>, String)> {
    let mut builder = Request::builder();
    builder.method(Method::Post).uri(&p.url);
    builder.header("content-type", "application/json");
    builder.header("accept", "application/json");
    builder.header("content-length", p.body.len().to_string());
    for (k, v) in &p.headers {
        builder.header(*k, v);
    }
    let request = builder.body(p.body.clone()).build();
    match spin_sdk::http::send::<_, Response>(request).await {
        Err(e) => Err((None, short(&format!("no answer: {e}")))),
        Ok(r) if (200..300).contains(r.status()) => Ok(*r.status()),
        Ok(r) => {
            let body = String::from_utf8_lossy(r.body()).trim().to_string();
            let error = if body.is_empty() {
                format!("answered {}", r.status())
            } else {
                format!("answered {}: {body}", r.status())
            };
            Err((Some(*r.status()), short(&error)))
        }
    }
}

/// Worth another attempt: no answer, a timeout, throttling or a server error.
pub fn retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 408 || s == 429 || s >= 500,
    }
}

/// Deliver every `(channel, message)`; see the module comment for the retry policy.
pub async fn deliver(jobs: Vec<(&'static str, Message)>) -> Vec<Delivery> {
    let mut deliveries = Vec::with_capacity(jobs.len());
    let mut pending: Vec<(usize, Prepared)> = Vec::new();
    for (channel, m) in &jobs {
        let mut d = Delivery {
            channel,
            event: m.event,
            target: None,
            status: "skipped",
            attempts: 0,
            http_status: None,
            error: None,
            payload: None,
            response_ms: None,
            alert_id: m.alert_id.clone(),
            incident_id: m.incident_id.clone(),
        };
        match prepare(channel, m) {
            Ok(p) => {
                d.target = Some(p.target.clone());
                d.payload = Some(p.stored_payload.clone());
                pending.push((deliveries.len(), p));
            }
            Err(reason) => d.error = Some(reason),
        }
        deliveries.push(d);
    }
    let begun = Instant::now();
    for round in 0..MAX_ATTEMPTS as usize {
        if pending.is_empty() {
            break;
        }
        if round > 0 {
            if begun.elapsed() + BACKOFF[round - 1] > RETRY_BUDGET {
                break;
            }
            std::thread::sleep(BACKOFF[round - 1]);
        }
        let started = Instant::now();
        let outcomes = futures::future::join_all(pending.iter().map(|(_, p)| attempt(p))).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut again = Vec::new();
        for ((i, p), outcome) in pending.into_iter().zip(outcomes) {
            let d = &mut deliveries[i];
            d.attempts += 1;
            d.response_ms = Some(elapsed_ms);
            match outcome {
                Ok(status) => {
                    d.status = "sent";
                    d.http_status = Some(status);
                    d.error = None;
                }
                Err((status, error)) => {
                    d.status = "failed";
                    d.http_status = status;
                    d.error = Some(error);
                    if retryable(status) {
                        again.push((i, p));
                    }
                }
            }
        }
        pending = again;
    }
    deliveries
}

/// Store deliveries (service role).
pub fn record(db: &shared::db::Db, deliveries: &[Delivery]) -> Result<(), shared::db::DbError> {
    use shared::db::{self, Param};
    for d in deliveries {
        db.execute(
            "INSERT INTO public.notification_deliveries
               (alert_id, security_incident_id, event, channel, target, status, attempts, http_status, error,
                payload, response_ms, completed_at)
             VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10::text::jsonb, $11, now())",
            &[
                d.alert_id.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
                d.incident_id.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
                db::text(d.event.as_str()),
                db::text(d.channel),
                db::opt_text(d.target.clone()),
                db::text(d.status),
                Param::Int32(d.attempts),
                d.http_status.map(|s| Param::Int32(s as i32)).unwrap_or(Param::DbNull),
                db::opt_text(d.error.clone()),
                db::opt_text(d.payload.as_ref().map(Value::to_string)),
                d.response_ms.map(Param::Floating64).unwrap_or(Param::DbNull),
            ],
        )?;
    }
    Ok(())
}

/// A delivery as the caller sees it.
pub fn summary(d: &Delivery) -> Value {
    json!({
        "channel": d.channel,
        "event": d.event.as_str(),
        "target": d.target,
        "status": d.status,
        "attempts": d.attempts,
        "http_status": d.http_status,
        "error": d.error,
        "alert_id": d.alert_id,
        "security_incident_id": d.incident_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_keep_no_path_or_credentials() {
        assert_eq!(origin("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com");
        assert_eq!(origin("http://user:pw@127.0.0.1:9000/x?y"), "http://127.0.0.1:9000");
        assert_eq!(origin("nonsense"), "");
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(retryable(None));
        assert!(retryable(Some(500)) && retryable(Some(503)) && retryable(Some(429)) && retryable(Some(408)));
        assert!(!retryable(Some(400)) && !retryable(Some(401)) && !retryable(Some(404)));
    }
}
