//! monitoring-alerting through the host: exact dashboard figures from rows the test inserted
//! (averages, nearest-rank percentiles, MRR, acceptance rate); rule evaluation that opens an
//! alert once, honours cooldown and resolves; every channel's payload checked exactly against
//! local stand-ins for Resend, Slack, PagerDuty and a webhook; a failing channel retried and
//! recorded while the others deliver; the guide's performance_alerts as rules; security
//! incidents; Prometheus text checked by promtool; the schedule of `edge up`; the dashboard
//! page rendered by headless Chromium; admins only; bad input.

use e2e::http::Recorder;
use e2e::{root, Host, HostConfig, HttpResponse, Jwt, TestDb};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const BASE: &str = "/functions/v1/monitoring-alerting";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

fn service() -> String {
    Jwt::token(SERVICE_SUB, "service_role")
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

fn data_of(r: HttpResponse, what: &str) -> Value {
    assert_eq!(r.status, 200, "{what}: {}", r.text());
    let v = r.json();
    assert_eq!(v["success"], true, "{v}");
    v["data"].clone()
}

fn get(host: &Host, path: &str) -> Value {
    data_of(host.get(&url(path)).bearer(&service()).send(), path)
}

fn post(host: &Host, path: &str, body: &Value) -> Value {
    data_of(host.post(&url(path)).bearer(&service()).json(body).send(), path)
}

fn put(host: &Host, path: &str, body: &Value) -> HttpResponse {
    e2e::Req::new("PUT", &host.url(path)).bearer(&service()).json(body).send()
}

fn evaluate(host: &Host) -> Value {
    data_of(host.post(&url("/evaluate?force=true")).bearer(&service()).send(), "evaluate")
}

fn assert_problem(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    v
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).expect(sql).get(0)
}

fn text(db: &TestDb, sql: &str) -> String {
    db.client().query_one(sql, &[]).expect(sql).get(0)
}

/// Request metric rows of `function`: one per duration, the first `errors` of them answered 500,
/// all `minutes_ago` minutes old.
fn metrics(db: &TestDb, function: &str, durations: &[f64], errors: usize, minutes_ago: u32) {
    for (i, d) in durations.iter().enumerate() {
        let status = if i < errors { 500 } else { 200 };
        db.exec(&format!(
            "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, created_at)
             VALUES ('{function}', '/functions/v1/{function}', 'GET', {status}, {d}, now() - interval '{minutes_ago} minutes')"
        ));
    }
}

/// Only the rules a test creates are evaluated.
fn disable_seeded_rules(db: &TestDb) {
    db.exec("UPDATE performance_alerts SET enabled = false; UPDATE alert_rules SET enabled = false;");
}

/// Four recorders standing in for Resend, Slack, PagerDuty and a webhook.
struct Channels {
    email: Recorder,
    slack: Recorder,
    pagerduty: Recorder,
    webhook: Recorder,
}

impl Channels {
    fn start(slack_status: u16) -> Channels {
        Channels {
            email: Recorder::start(200, r#"{"id":"email_1"}"#),
            slack: Recorder::start(slack_status, if slack_status == 200 { "ok" } else { "internal error" }),
            pagerduty: Recorder::start(202, r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#),
            webhook: Recorder::start(204, ""),
        }
    }

    fn host(&self, db: &TestDb) -> Host {
        let local = |r: &Recorder| format!("http://127.0.0.1:{}", r.port);
        Host::start(
            HostConfig::app(db)
                .var("resend_api_base", &local(&self.email))
                .var("resend_api_key", "re_test")
                .var("email_from", "QuoteKit Alerts <alerts@quotekit.example>")
                .var("alert_email_to", "ops@quotekit.example, oncall@quotekit.example")
                .var("slack_webhook_origin", &local(&self.slack))
                .var("slack_webhook_url", &format!("{}/services/T000/B000/secret", local(&self.slack)))
                .var("pagerduty_api_base", &local(&self.pagerduty))
                .var("pagerduty_routing_key", "pd-routing-key")
                .var("alert_webhook_origin", &local(&self.webhook))
                .var("alert_webhook_url", &format!("{}/hooks/alerts", local(&self.webhook))),
        )
    }
}

fn body(r: &e2e::http::Recorded) -> Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

fn header<'a>(r: &'a e2e::http::Recorded, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Access
// ---------------------------------------------------------------------------------------------

#[test]
fn health_is_liveness_and_reports_no_outage_that_is_not() {
    let db = TestDb::new();
    let ch = Channels::start(200);
    let host = ch.host(&db);
    let live = |host: &Host| {
        let r = host.get(&url("/health")).send();
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        assert_eq!(v, json!({"status": "ok", "function": "monitoring-alerting", "version": v["version"].clone()}));
    };
    live(&host);
    // The issue's measurements, each of which made health 503 "down": 50 ordinary requests and
    // one blocked injection probe, the guide's own INSERT INTO security_incidents, one failed
    // webhook out of two.
    metrics(&db, "subscription-status", &[10.0; 50], 0, 1);
    let probe = host.get("/functions/v1/subscription-status?q=1'+OR+'1'='1").send();
    assert_eq!(probe.status, 403, "{}", probe.text());
    db.exec(
        "INSERT INTO security_incidents (event_type, threat_level, auto_response) VALUES
           ('rate_limit_exceeded', 'medium', 'temporary_block'),
           ('injection_attempt', 'critical', 'immediate_block'),
           ('unauthorized_access', 'high', 'alert_admin');
         INSERT INTO stripe_webhook_events (stripe_event_id, event_type, payload, processed, outcome)
           VALUES ('evt_ok', 'product.created', '{}', true, 'applied'), ('evt_failed', 'product.created', '{}', false, 'failed');",
    );
    live(&host);
    assert_eq!(host.get(&url("/ready")).send().status, 200);
    // The dashboard (admins) shows what health no longer does.
    let d = get(&host, "/dashboard");
    let component = |name: &str| {
        d["health"]["components"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["status"].clone()
    };
    assert_eq!(component("security"), "down", "{d}");
    assert_eq!(component("webhooks"), "down", "{d}");
    // No health answer counted as an error, and the guide's 1 % rule opens nothing: no one is
    // notified of any of it.
    assert_eq!(scalar(&db, "SELECT count(*) FROM performance_metrics WHERE status >= 500"), 0);
    let e = evaluate(&host);
    assert_eq!(e["alerts_opened"], 0, "{e}");
    assert!(ch.slack.received().is_empty() && ch.pagerduty.received().is_empty() && ch.email.received().is_empty());
}

#[test]
fn readiness_is_the_database_and_liveness_does_not_depend_on_it() {
    let db = TestDb::new();
    let broken = db.url.rsplit_once('/').map(|(base, _)| format!("{base}/no_such_database")).unwrap();
    let host = Host::start(HostConfig::app(&db).var("db_url", &broken));
    for f in ["monitoring-alerting", "subscription-status", "webhook-handler"] {
        let live = host.get(&format!("/functions/v1/{f}/health")).send();
        assert_eq!(live.status, 200, "{f}: {}", live.text());
        let ready = host.get(&format!("/functions/v1/{f}/ready")).send();
        assert_problem(&ready, 503, "not_ready");
        assert!(ready.header("retry-after").is_some());
    }
    let host = Host::start(HostConfig::app(&db));
    let r = host.get(&url("/ready")).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "ready");
    assert_problem(&host.post(&url("/ready")).send(), 405, "method_not_allowed");
}

#[test]
fn everything_but_health_and_the_page_is_for_admins_only() {
    let db = TestDb::new();
    let user = db.user("plain@example.test");
    let admin = db.user("admin@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));
    let host = Host::start(HostConfig::app(&db));
    for (method, path) in [
        ("GET", ""),
        ("GET", "/dashboard"),
        ("GET", "/alerts"),
        ("GET", "/rules"),
        ("POST", "/evaluate"),
        ("GET", "/metrics"),
        ("GET", "/anomaly-detection"),
        ("POST", "/notification-test"),
    ] {
        let req = || e2e::Req::new(method, &host.url(&url(path)));
        assert_problem(&req().send(), 401, "missing_token");
        assert_eq!(req().bearer(&Jwt::user(&user)).send().status, 403, "{method} {path}");
        let as_admin = req().bearer(&Jwt::user(&admin)).send();
        assert_eq!(as_admin.status, 200, "{method} {path}: {}", as_admin.text());
    }
    let page = host.get(&url("/dashboard.html")).send();
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(page.header("content-security-policy").unwrap().contains("default-src 'none'"));
    assert!(
        !page.text().contains("<script src") && !page.text().contains("<link "),
        "the page loads nothing from elsewhere"
    );
}

#[test]
fn bad_input_is_a_clear_4xx() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let s = service();
    assert_problem(&host.get(&url("/nope")).bearer(&s).send(), 404, "route_not_found");
    assert_problem(&host.post(&url("/metrics")).bearer(&s).send(), 405, "method_not_allowed");
    let v = assert_problem(&host.get(&url("/dashboard?hours=0&days=abc")).bearer(&s).send(), 400, "validation_failed");
    assert_eq!(v["errors"].as_array().unwrap().len(), 2, "{v}");
    assert_problem(&host.get(&url("/alerts?status=sleeping")).bearer(&s).send(), 400, "validation_failed");
    assert_problem(&host.get(&url("/alerts?action=explode")).bearer(&s).send(), 400, "validation_failed");
    assert_problem(&host.post(&url("/evaluate?force=maybe")).bearer(&s).send(), 400, "validation_failed");
    assert_problem(&host.get(&url("/anomaly-detection?z=0.5")).bearer(&s).send(), 400, "validation_failed");
    let r = host.post(&url("/notification-test")).bearer(&s).json(&json!({"channel": "fax"})).send();
    assert_problem(&r, 400, "validation_failed");
    let r = host
        .post(&url("/rules"))
        .bearer(&s)
        .header("content-type", "application/json")
        .body(b"{\"name\":".to_vec())
        .send();
    assert_problem(&r, 400, "malformed_json");
    let r = host.post(&url("/alerts/not-a-uuid/acknowledge")).bearer(&s).send();
    assert_problem(&r, 400, "validation_failed");
    let r =
        host.post(&url(&format!("/alerts/{}/acknowledge", "5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"))).bearer(&s).send();
    assert_problem(&r, 404, "not_found");
    assert_problem(
        &host.post(&url("")).bearer(&s).json(&json!({"operation": "explode"})).send(),
        404,
        "route_not_found",
    );
}

// ---------------------------------------------------------------------------------------------
// Dashboard figures
// ---------------------------------------------------------------------------------------------

#[test]
fn dashboard_figures_are_exact() {
    let db = TestDb::new();
    // quote-processor: 1..=20 ms, two of them 5xx, 30 minutes ago. batch-processor: 4 requests.
    let durations: Vec<f64> = (1..=20).map(f64::from).collect();
    metrics(&db, "quote-processor", &durations, 2, 30);
    metrics(&db, "batch-processor", &[100.0, 200.0, 300.0, 400.0], 0, 30);
    // Business: MRR = 2 × 29.00 monthly + 120.00 yearly / 12 + 7.00 every 2 weeks × 52 / 12 / 2.
    let (a, b, c, d) = (db.user("a@x.test"), db.user("b@x.test"), db.user("c@x.test"), db.user("d@x.test"));
    db.exec(&format!(
        "INSERT INTO stripe_products (id, name) VALUES ('prod_m', 'Pro');
         INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, \"interval\", interval_count) VALUES
           ('price_month', 'prod_m', 'usd', 2900, 'recurring', 'month', 1),
           ('price_year', 'prod_m', 'usd', 12000, 'recurring', 'year', 1),
           ('price_fortnight', 'prod_m', 'usd', 700, 'recurring', 'week', 2);
         INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_price_id, status, quantity) VALUES
           ('sub_a', '{a}', 'price_month', 'active', 2),
           ('sub_b', '{b}', 'price_year', 'active', 1),
           ('sub_c', '{c}', 'price_fortnight', 'active', 1),
           ('sub_d', '{d}', 'price_month', 'trialing', 1),
           ('sub_e', '{d}', 'price_year', 'canceled', 1);"
    ));
    // Quotes: 5 created (one a template, not counted), 3 left draft, 1 accepted.
    db.exec(&format!(
        "SET session_replication_role = replica;
         INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq, status, is_template) VALUES
           ('{a}', 'C1', 'Q-1', 2026, 1, 'draft', false),
           ('{a}', 'C2', 'Q-2', 2026, 2, 'sent', false),
           ('{a}', 'C3', 'Q-3', 2026, 3, 'accepted', false),
           ('{a}', 'C4', 'Q-4', 2026, 4, 'declined', false),
           ('{a}', 'T', 'T-1', 2026, 5, 'sent', true);
         SET session_replication_role = origin;"
    ));
    let host = Host::start(HostConfig::app(&db));
    let d = get(&host, "/dashboard?hours=2&bucket_minutes=60");

    let qp = d["per_function"].as_array().unwrap().iter().find(|f| f["function"] == "quote-processor").unwrap().clone();
    // Mean of 1..20 is 10.5; nearest rank: p50 = 10th value, p95 = 19th, p99 = 20th.
    assert_eq!(
        qp,
        json!({"function": "quote-processor", "requests": 20, "errors": 2, "error_rate": 10.0,
               "avg_ms": 10.5, "p50_ms": 10.0, "p95_ms": 19.0, "p99_ms": 20.0})
    );
    let bp = d["per_function"].as_array().unwrap().iter().find(|f| f["function"] == "batch-processor").unwrap().clone();
    assert_eq!(
        (bp["avg_ms"].clone(), bp["p50_ms"].clone(), bp["p95_ms"].clone()),
        (json!(250.0), json!(200.0), json!(400.0))
    );

    // The inserted rows sit in one hourly bucket with exactly 24 requests of these two functions.
    let buckets: Vec<&Value> = d["requests_by_function"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["function"] == "quote-processor" || r["function"] == "batch-processor")
        .collect();
    assert_eq!(buckets.iter().map(|r| r["requests"].as_i64().unwrap()).sum::<i64>(), 24);
    let series_total: i64 = d["series"].as_array().unwrap().iter().map(|s| s["requests"].as_i64().unwrap()).sum();
    assert_eq!(series_total, d["performance"]["requests"].as_i64().unwrap());
    assert!(d["series"].as_array().unwrap().iter().all(|s| s["p95_ms"].is_number()));

    let b = &d["business"];
    assert_eq!(b["active_subscriptions"], 4, "{b}");
    assert_eq!(b["trialing_subscriptions"], 1);
    assert_eq!(b["paying_subscriptions"], 3);
    // 5800 + 1000 + round(700 × 52 / 12 / 2 = 1516.67) = 8317 cents.
    assert_eq!(b["mrr"], json!([{"currency": "usd", "mrr_minor": 8317, "subscriptions": 3}]));
    assert_eq!(
        (b["quotes_created"].clone(), b["quotes_sent"].clone(), b["quotes_accepted"].clone()),
        (json!(4), json!(3), json!(1))
    );
    assert_eq!(b["acceptance_rate"], 33.33);

    // Health looks at the last 15 minutes only: the 10 % errors of 30 minutes ago are history.
    let health = &d["health"];
    assert_eq!(health["status"], "ok", "{health}");
    let functions = health["components"].as_array().unwrap().iter().find(|c| c["name"] == "functions").unwrap();
    assert_eq!(
        functions["details"]["functions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["function"] == "quote-processor")
            .count(),
        0
    );
    assert_eq!(d["alerts"]["open"], 0);

    // The bare path is the dashboard too (the guide's curl).
    let bare = get(&host, "");
    assert_eq!(bare["business"]["mrr"], b["mrr"]);
}

// ---------------------------------------------------------------------------------------------
// Evaluation and notifications
// ---------------------------------------------------------------------------------------------

fn error_rate_rule(host: &Host, channels: Value) -> Value {
    let r = host
        .post(&url("/rules"))
        .bearer(&service())
        .json(&json!({
            "rule_id": "qp_errors", "name": "QP errors", "category": "reliability", "severity": "error",
            "metric": "error_rate", "operator": "gt", "threshold": 5, "window_minutes": 10,
            "cooldown_minutes": 30, "min_samples": 10, "min_events": 4, "function_name": "quote-processor",
            "notification_channels": channels,
        }))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["data"]["rule"].clone()
}

#[test]
fn an_alert_opens_once_honours_cooldown_and_resolves_with_each_channels_payload() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    let ch = Channels::start(200);
    let host = ch.host(&db);
    error_rate_rule(&host, json!(["email", "slack", "pagerduty", "webhook"]));

    // Too few samples: no verdict.
    metrics(&db, "quote-processor", &[10.0; 5], 5, 1);
    let e = evaluate(&host);
    assert_eq!(e["results"][0]["outcome"], "no_data", "{e}");
    db.exec("DELETE FROM performance_metrics WHERE function_name = 'quote-processor'");

    // 4 of 20 requests failed: 20 % > 5 %.
    metrics(&db, "quote-processor", &[10.0; 20], 4, 1);
    let e = evaluate(&host);
    assert_eq!((e["alerts_opened"].clone(), e["results"][0]["outcome"].clone()), (json!(1), json!("opened")), "{e}");
    assert_eq!(e["results"][0]["value"], 20.0);
    let alert_id = e["results"][0]["alert_id"].as_str().unwrap().to_string();
    let dedup = text(&db, &format!("SELECT dedup_key FROM alerts WHERE id = '{alert_id}'"));
    assert!(dedup.starts_with("quotekit-alert-"));
    let deliveries = e["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 4);
    assert!(deliveries.iter().all(|d| d["status"] == "sent" && d["attempts"] == 1), "{e}");

    let title = "[ERROR] QP errors: firing";
    let text_ = "error_rate = 20 (condition > 5 on at least 4 events; 4 events in 20 samples over the last 10 min, quote-processor)";
    let details = json!({"rule_id": "qp_errors", "metric": "error_rate", "operator": "gt", "threshold": 5.0,
                         "value": 20.0, "samples": 20, "events": 4, "min_events": 4, "window_minutes": 10,
                         "function": "quote-processor"});
    let email = ch.email.received();
    assert_eq!(email.len(), 1);
    assert_eq!((email[0].method.as_str(), email[0].path.as_str()), ("POST", "/emails"));
    assert_eq!(header(&email[0], "authorization"), Some("Bearer re_test"));
    assert_eq!(
        body(&email[0]),
        json!({"from": "QuoteKit Alerts <alerts@quotekit.example>",
               "to": ["ops@quotekit.example", "oncall@quotekit.example"], "subject": title, "text": text_})
    );
    let slack = ch.slack.received();
    assert_eq!((slack.len(), slack[0].path.as_str()), (1, "/services/T000/B000/secret"));
    assert_eq!(body(&slack[0]), json!({"text": format!("*{title}*\n{text_}")}));
    let pd = ch.pagerduty.received();
    assert_eq!((pd.len(), pd[0].path.as_str()), (1, "/v2/enqueue"));
    assert_eq!(
        body(&pd[0]),
        json!({"routing_key": "pd-routing-key", "event_action": "trigger", "dedup_key": dedup,
               "payload": {"summary": title, "source": "quotekit/monitoring-alerting", "severity": "error",
                           "component": "quote-processor", "class": "error_rate", "custom_details": details}})
    );
    let hook = ch.webhook.received();
    assert_eq!((hook.len(), hook[0].path.as_str()), (1, "/hooks/alerts"));
    assert_eq!(
        body(&hook[0]),
        json!({"event": "alert.triggered", "severity": "error", "title": title, "text": text_, "dedup_key": dedup,
               "alert_id": alert_id, "security_incident_id": null, "details": details})
    );
    // Stored: four deliveries, the routing key redacted.
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT count(*) FROM notification_deliveries WHERE alert_id = '{alert_id}' AND status = 'sent'")
        ),
        4
    );
    assert_eq!(
        text(&db, "SELECT payload->>'routing_key' FROM notification_deliveries WHERE channel = 'pagerduty'"),
        "[redacted]"
    );

    // Still failing: the same alert, no second notification.
    let e = evaluate(&host);
    assert_eq!((e["results"][0]["outcome"].clone(), e["alerts_opened"].clone()), (json!("still_open"), json!(0)));
    assert_eq!(e["results"][0]["alert_id"], alert_id.as_str());
    assert_eq!((ch.slack.received().len(), ch.pagerduty.received().len()), (1, 1));
    assert_eq!(scalar(&db, "SELECT count(*) FROM alerts"), 1);

    // The errors stop: resolved, and PagerDuty resolves the same dedup key.
    db.exec("UPDATE performance_metrics SET status = 200 WHERE function_name = 'quote-processor'");
    let e = evaluate(&host);
    assert_eq!(
        (e["results"][0]["outcome"].clone(), e["alerts_resolved"].clone()),
        (json!("resolved"), json!(1)),
        "{e}"
    );
    assert_eq!(
        text(&db, &format!("SELECT status || ' ' || auto_resolved FROM alerts WHERE id = '{alert_id}'")),
        "resolved true"
    );
    let pd = ch.pagerduty.received();
    assert_eq!(pd.len(), 2);
    assert_eq!(body(&pd[1]), json!({"routing_key": "pd-routing-key", "event_action": "resolve", "dedup_key": dedup}));
    let slack = ch.slack.received();
    assert_eq!(
        body(&slack[1]),
        json!({"text": "*[RESOLVED] QP errors: resolved*\nerror_rate = 0 (condition > 5 on at least 4 events; 0 events in 20 samples over the last 10 min, quote-processor)"})
    );
    assert_eq!(body(&ch.webhook.received()[1])["event"], "alert.resolved");

    // Failing again within the 30-minute cooldown: no new alert, no notification.
    db.exec("UPDATE performance_metrics SET status = 503 WHERE function_name = 'quote-processor'");
    let e = evaluate(&host);
    assert_eq!(e["results"][0]["outcome"], "cooldown", "{e}");
    assert_eq!((scalar(&db, "SELECT count(*) FROM alerts"), ch.slack.received().len()), (1, 2));

    // Once the cooldown has passed, a new alert with a new dedup key.
    db.exec("UPDATE alerts SET triggered_at = triggered_at - interval '40 minutes', resolved_at = resolved_at - interval '31 minutes'");
    let e = evaluate(&host);
    assert_eq!(e["results"][0]["outcome"], "opened", "{e}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM alerts"), 2);
    let pd = ch.pagerduty.received();
    assert_eq!(pd.len(), 3);
    assert_ne!(body(&pd[2])["dedup_key"], dedup.as_str());
    assert_eq!(body(&pd[2])["payload"]["custom_details"]["value"], 100.0);

    // Every evaluation is recorded with its outcome.
    let outcomes =
        text(&db, "SELECT string_agg(outcome, ',' ORDER BY id) FROM alert_evaluations WHERE rule_key = 'qp_errors'");
    assert_eq!(outcomes, "no_data,opened,still_open,resolved,cooldown,opened");
}

#[test]
fn a_failing_channel_is_retried_with_backoff_and_recorded_while_the_others_deliver() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    let ch = Channels::start(500);
    let host = ch.host(&db);
    error_rate_rule(&host, json!(["slack", "email", "pagerduty", "webhook"]));
    metrics(&db, "quote-processor", &[10.0; 10], 10, 1);
    let e = evaluate(&host);
    let by_channel = |c: &str| e["deliveries"].as_array().unwrap().iter().find(|d| d["channel"] == c).unwrap().clone();
    let slack = by_channel("slack");
    assert_eq!(
        (slack["status"].clone(), slack["attempts"].clone(), slack["http_status"].clone()),
        (json!("failed"), json!(3), json!(500))
    );
    assert_eq!(slack["error"], "answered 500: internal error");
    for c in ["email", "pagerduty", "webhook"] {
        assert_eq!(
            (by_channel(c)["status"].clone(), by_channel(c)["attempts"].clone()),
            (json!("sent"), json!(1)),
            "{c}"
        );
    }
    assert_eq!(ch.slack.received().len(), 3, "three attempts");
    assert_eq!((ch.email.received().len(), ch.pagerduty.received().len(), ch.webhook.received().len()), (1, 1, 1));
    assert_eq!(
        text(&db, "SELECT status || ' ' || attempts || ' ' || http_status FROM notification_deliveries WHERE channel = 'slack'"),
        "failed 3 500"
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM notification_deliveries WHERE status = 'sent'"), 3);
}

#[test]
fn a_client_error_is_not_retried_and_an_unconfigured_channel_is_skipped() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    let slack = Recorder::start(404, "no_service");
    let host = Host::start(
        HostConfig::app(&db)
            .var("slack_webhook_origin", &format!("http://127.0.0.1:{}", slack.port))
            .var("slack_webhook_url", &format!("http://127.0.0.1:{}/services/x", slack.port)),
    );
    error_rate_rule(&host, json!(["slack", "pagerduty"]));
    metrics(&db, "quote-processor", &[10.0; 10], 10, 1);
    let e = evaluate(&host);
    let d = e["deliveries"].as_array().unwrap();
    assert_eq!(
        (d[0]["channel"].clone(), d[0]["status"].clone(), d[0]["attempts"].clone()),
        (json!("slack"), json!("failed"), json!(1))
    );
    assert_eq!(
        (d[1]["channel"].clone(), d[1]["status"].clone(), d[1]["error"].clone()),
        (json!("pagerduty"), json!("skipped"), json!("pagerduty is not configured (pagerduty_routing_key is empty)"))
    );
    assert_eq!(slack.received().len(), 1);
}

#[test]
fn notification_test_really_sends_through_every_channel() {
    let db = TestDb::new();
    let ch = Channels::start(200);
    let host = ch.host(&db);
    let r = post(&host, "/notification-test", &json!({"channel": "all"}));
    assert_eq!(
        (r["sent"].clone(), r["failed"].clone(), r["success"].clone()),
        (json!(5), json!(0), json!(true)),
        "{r}"
    );
    assert_eq!(body(&ch.email.received()[0])["subject"], "[TEST] quotekit monitoring-alerting notification test");
    assert!(body(&ch.slack.received()[0])["text"].as_str().unwrap().contains("test notification"));
    let pd = ch.pagerduty.received();
    assert_eq!(pd.len(), 2, "a trigger, then its resolve");
    assert_eq!(body(&pd[0])["event_action"], "trigger");
    assert_eq!(body(&pd[1])["event_action"], "resolve");
    assert_eq!(body(&pd[0])["dedup_key"], body(&pd[1])["dedup_key"]);
    assert_eq!(body(&ch.webhook.received()[0])["event"], "notification.test");
    assert_eq!(scalar(&db, "SELECT count(*) FROM notification_deliveries WHERE event = 'test' AND status = 'sent'"), 5);

    // One channel; an unconfigured one is reported, not pretended.
    let bare = TestDb::new();
    let host = Host::start(HostConfig::app(&bare));
    let r = post(&host, "/notification-test", &json!({"type": "slack"}));
    assert_eq!((r["sent"].clone(), r["skipped"].clone(), r["success"].clone()), (json!(0), json!(1), json!(false)));
}

#[test]
fn the_guides_performance_alerts_are_evaluated_as_rules() {
    let db = TestDb::new();
    assert_eq!(scalar(&db, "SELECT count(*) FROM performance_alerts"), 3);
    // The guide's statement, unchanged: its rows are already configured, so nothing doubles.
    db.exec(
        "INSERT INTO performance_alerts (
           alert_type, severity, threshold_value, notification_channels
         ) VALUES
           ('response_time', 'high', 500, '[\"email\", \"slack\"]'),
           ('error_rate', 'critical', 1.0, '[\"email\", \"slack\", \"pager\"]'),
           ('cost_overrun', 'high', 100, '[\"email\", \"slack\"]');",
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM performance_alerts"), 3);
    assert_eq!(scalar(&db, "SELECT count(*) FROM alert_rules WHERE performance_alert_id IS NOT NULL"), 3);
    assert_eq!(
        text(
            &db,
            "SELECT r.severity || ' ' || r.metric || ' ' || r.notification_channels::text FROM alert_rules r
                   JOIN performance_alerts p ON p.id = r.performance_alert_id WHERE p.alert_type = 'error_rate'"
        ),
        "critical error_rate [\"email\", \"pagerduty\", \"slack\"]"
    );
    // Only the guide's rules: the inventory's defaults stay out of this test.
    db.exec("UPDATE alert_rules SET enabled = false WHERE performance_alert_id IS NULL");
    let ch = Channels::start(200);
    let host = ch.host(&db);
    // 1 of 50 requests failed (2 %), averaging 600 ms: the response-time row fires; one failed
    // request is no outage, so the error-rate row (1 %, at least 5 failures) does not.
    metrics(&db, "subscription-status", &[600.0; 50], 1, 1);
    let e = evaluate(&host);
    assert_eq!(e["alerts_opened"], 1, "{e}");
    assert!(ch.pagerduty.received().is_empty(), "one failed request pages no one");
    // 5 of 55 (9 %): the error-rate row fires too.
    metrics(&db, "subscription-status", &[600.0; 5], 4, 1);
    metrics(&db, "subscription-status", &[600.0; 1], 1, 1);
    let e = evaluate(&host);
    assert_eq!(e["alerts_opened"], 1, "{e}");
    let pd = ch.pagerduty.received();
    assert_eq!(pd.len(), 1, "only the error-rate row pages");
    assert_eq!(body(&pd[0])["payload"]["severity"], "critical");
    assert_eq!(body(&pd[0])["payload"]["summary"], "[CRITICAL] error_rate above 1 %: firing");
    assert_eq!(ch.slack.received().len(), 2);
    assert_eq!(
        text(
            &db,
            "SELECT min_events::text FROM alert_rules WHERE metric = 'error_rate' AND performance_alert_id IS NOT NULL"
        ),
        "5"
    );
    let cost = e["results"].as_array().unwrap().iter().find(|r| r["metric"] == "cost_overrun").unwrap().clone();
    assert_eq!(cost["outcome"], "no_data", "no cost_metrics rows yet: {cost}");

    // A changed row changes its rule; a disabled row stops being evaluated; rules API defers to it.
    db.exec("UPDATE performance_alerts SET threshold_value = 700 WHERE alert_type = 'response_time'");
    assert_eq!(scalar(&db, "SELECT threshold::int8 FROM alert_rules WHERE metric = 'avg_response_time' AND performance_alert_id IS NOT NULL"), 700);
    let rule_id = text(
        &db,
        "SELECT rule_id FROM alert_rules WHERE metric = 'avg_response_time' AND performance_alert_id IS NOT NULL",
    );
    let r = put(&host, &url(&format!("/rules/{rule_id}")), &json!({"threshold": 1}));
    assert_problem(&r, 409, "managed_by_performance_alerts");
}

#[test]
fn the_default_rules_are_seeded_from_the_inventory() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let rules = get(&host, "/rules");
    let seeded: Vec<(String, String, String, f64, i64, i64)> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "alert_rules")
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap().to_string(),
                r["metric"].as_str().unwrap().to_string(),
                r["operator"].as_str().unwrap().to_string(),
                r["threshold"].as_f64().unwrap(),
                r["window_minutes"].as_i64().unwrap(),
                r["cooldown_minutes"].as_i64().unwrap(),
            )
        })
        .collect();
    let s =
        |a: &str, b: &str, c: &str, t: f64, w: i64, cd: i64| (a.to_string(), b.to_string(), c.to_string(), t, w, cd);
    assert_eq!(
        seeded,
        vec![
            s("business_conversion_drop", "conversion_rate", "lt", 2.0, 60, 120),
            s("database_connections_high", "connection_pool_utilization", "gt", 85.0, 15, 30),
            s("edge_function_error_rate_high", "error_rate", "gt", 5.0, 15, 30),
            s("response_time_degraded", "avg_response_time", "gt", 2000.0, 10, 15),
            s("security_alert_admin", "security_alert_admin", "gte", 10.0, 15, 30),
            s("security_incidents_spike", "security_incidents_count", "gt", 10.0, 60, 60),
        ]
    );
    assert_eq!(rules["count"], 9);
}

#[test]
fn rules_are_validated_created_updated_and_deleted() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let s = service();
    let seeded = scalar(&db, "SELECT count(*) FROM alert_rules");
    let bad = host
        .post(&url("/rules"))
        .bearer(&s)
        .json(&json!({"name": "", "severity": "loud", "metric": "vibes", "operator": "gt", "threshold": 1,
                      "window_minutes": 0, "notification_channels": ["fax"], "colour": "red"}))
        .send();
    let v = assert_problem(&bad, 400, "validation_failed");
    let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["colour", "name", "severity", "metric", "window_minutes", "notification_channels"]);
    assert_eq!(scalar(&db, "SELECT count(*) FROM alert_rules"), seeded, "nothing stored");

    let created = host
        .post(&url("/rules"))
        .bearer(&s)
        .json(&json!({"rule_id": "api.p95", "name": "API p95", "severity": "warning", "metric": "p95_response_time",
                      "operator": "gte", "threshold": 800, "window_minutes": 10, "notification_channels": ["pager"]}))
        .send();
    assert_eq!(created.status, 201, "{}", created.text());
    let rule = created.json()["data"]["rule"].clone();
    assert_eq!(
        (rule["notification_channels"].clone(), rule["created_by"].clone()),
        (json!(["pagerduty"]), json!("service_role"))
    );
    assert_eq!((rule["cooldown_minutes"].clone(), rule["enabled"].clone()), (json!(30), json!(true)));
    let again = host
        .post(&url("/rules"))
        .bearer(&s)
        .json(&json!({"rule_id": "api.p95", "name": "x", "severity": "info",
        "metric": "request_count", "operator": "gt", "threshold": 1, "window_minutes": 1}))
        .send();
    assert_problem(&again, 409, "rule_exists");

    let updated = put(&host, &url("/rules/api.p95"), &json!({"threshold": 900.5, "enabled": false}));
    assert_eq!(updated.status, 200, "{}", updated.text());
    assert_eq!(
        (updated.json()["data"]["rule"]["threshold"].clone(), updated.json()["data"]["rule"]["enabled"].clone()),
        (json!(900.5), json!(false))
    );
    assert_problem(&put(&host, &url("/rules/api.p95"), &json!({"window_minutes": 99999})), 400, "validation_failed");
    assert_problem(&put(&host, &url("/rules/api.p95"), &json!({})), 400, "validation_failed");
    assert_problem(&put(&host, &url("/rules/nope"), &json!({"threshold": 1})), 404, "not_found");
    // The original API: PUT {ruleId, ...} and DELETE ?ruleId=.
    let original = put(&host, &url("/rules"), &json!({"ruleId": "api.p95", "severity": "critical"}));
    assert_eq!(original.json()["data"]["rule"]["severity"], "critical");
    assert_eq!(get(&host, "/rules/api.p95")["rule"]["threshold"], 900.5);
    let deleted = e2e::Req::new("DELETE", &host.url(&url("/rules?ruleId=api.p95"))).bearer(&s).send();
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_problem(&host.get(&url("/rules/api.p95")).bearer(&s).send(), 404, "not_found");
    assert_problem(&e2e::Req::new("DELETE", &host.url(&url("/rules"))).bearer(&s).send(), 400, "validation_failed");
}

#[test]
fn alerts_are_listed_acknowledged_suppressed_and_resolved_by_the_caller() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    let host = Host::start(HostConfig::app(&db));
    error_rate_rule(&host, json!([]));
    metrics(&db, "quote-processor", &[10.0; 10], 10, 1);
    let id = evaluate(&host)["results"][0]["alert_id"].as_str().unwrap().to_string();

    let list = get(&host, "/alerts");
    assert_eq!((list["count"].clone(), list["alerts"][0]["id"].clone()), (json!(1), json!(id)));
    assert_eq!(list["alerts"][0]["metric_value"], 100.0);

    let acked = post(&host, &format!("/alerts/{id}/acknowledge"), &json!({}));
    assert_eq!(
        (acked["alert"]["status"].clone(), acked["alert"]["acknowledged_by"].clone()),
        (json!("acknowledged"), json!("service_role"))
    );
    let twice = host.post(&url(&format!("/alerts/{id}/acknowledge"))).bearer(&service()).send();
    assert_problem(&twice, 409, "invalid_transition");

    let no_reason = host.post(&url("/alerts?action=suppress")).bearer(&service()).json(&json!({"alertId": id})).send();
    let v = assert_problem(&no_reason, 400, "validation_failed");
    assert_eq!(v["errors"][0]["field"], "suppressionReason");
    let suppressed =
        post(&host, "/alerts?action=suppress", &json!({"alertId": id, "suppressionReason": "deploy in progress"}));
    assert_eq!(
        (suppressed["alert"]["status"].clone(), suppressed["alert"]["suppressed_by"].clone()),
        (json!("suppressed"), json!("service_role"))
    );
    // Still failing while suppressed: still open, nothing new.
    assert_eq!(evaluate(&host)["results"][0]["outcome"], "still_open");

    let resolved = post(&host, &format!("/alerts/{id}/resolve"), &json!({"resolutionNotes": "rolled back"}));
    assert_eq!(
        (
            resolved["alert"]["status"].clone(),
            resolved["alert"]["resolution_notes"].clone(),
            resolved["alert"]["auto_resolved"].clone()
        ),
        (json!("resolved"), json!("rolled back"), json!(false))
    );
    assert_eq!(get(&host, "/alerts")["count"], 0);
    assert_eq!(get(&host, "/alerts?status=resolved&limit=5")["count"], 1);
}

#[test]
fn one_refused_token_notifies_no_one_and_a_sustained_run_pages_once() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    db.exec("UPDATE alert_rules SET enabled = true WHERE rule_id = 'security_alert_admin'");
    let ch = Channels::start(200);
    let host = ch.host(&db);
    let sent = |ch: &Channels| {
        ch.email.received().len()
            + ch.slack.received().len()
            + ch.pagerduty.received().len()
            + ch.webhook.received().len()
    };
    // The guide's statement, a request without a token, one with a bad token, and five more
    // trivial ones (five PagerDuty incidents before): no one is notified.
    db.exec(
        "INSERT INTO security_incidents (event_type, threat_level, auto_response) VALUES
           ('rate_limit_exceeded', 'medium', 'temporary_block'),
           ('unauthorized_access', 'high', 'alert_admin');",
    );
    assert_eq!(host.get("/functions/v1/subscription-status").send().status, 401);
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM security_incidents WHERE client_key IS NOT NULL"),
        0,
        "no credential, no incident"
    );
    for _ in 0..6 {
        assert_eq!(host.get("/functions/v1/subscription-status").bearer("not-a-token").send().status, 401);
    }
    let e = evaluate(&host);
    assert_eq!(e["alerts_opened"], 0, "{e}");
    assert_eq!(e["security_incidents"]["occurrences"], 6, "{e}");
    assert_eq!(sent(&ch), 0, "six refused tokens page no one");

    // A sustained run (ten or more within 15 minutes): one alert, one message per channel, one
    // PagerDuty incident, whatever the number of requests.
    for _ in 0..6 {
        host.get("/functions/v1/quote-processor").bearer("still-not-a-token").send();
    }
    let e = evaluate(&host);
    assert_eq!(e["alerts_opened"], 1, "{e}");
    let pd = ch.pagerduty.received();
    assert_eq!(pd.len(), 1);
    let trigger = body(&pd[0]);
    assert_eq!(trigger["payload"]["class"], "security_alert_admin");
    assert_eq!(trigger["payload"]["custom_details"]["incidents"][0]["event_type"], "unauthorized_access", "{trigger}");
    assert_eq!(trigger["payload"]["custom_details"]["incidents"][0]["occurrences"], 12);
    assert_eq!((ch.slack.received().len(), ch.email.received().len(), ch.webhook.received().len()), (1, 1, 1));
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM security_incidents WHERE client_key IS NOT NULL AND admin_notified_at IS NULL"
        ),
        0
    );
    // More of the same: the same alert, nothing new sent.
    for _ in 0..20 {
        host.get("/functions/v1/subscription-status").bearer("again-not-a-token").send();
    }
    let e = evaluate(&host);
    assert_eq!((e["alerts_opened"].clone(), e["still_open"].clone()), (json!(0), json!(1)), "{e}");
    assert_eq!(ch.pagerduty.received().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Prometheus, anomalies, the schedule, the page
// ---------------------------------------------------------------------------------------------

#[test]
fn metrics_are_prometheus_text_that_promtool_accepts() {
    let db = TestDb::new();
    metrics(&db, "quote-processor", &[10.0, 20.0, 30.0, 40.0], 1, 1);
    let host = Host::start(HostConfig::app(&db));
    let r = host.get(&url("/metrics")).bearer(&service()).send();
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
    let text_ = r.text();
    assert!(text_.contains("quotekit_requests_last5m{function=\"quote-processor\"} 4\n"), "{text_}");
    assert!(text_.contains("quotekit_request_errors_last5m{function=\"quote-processor\"} 1\n"));
    assert!(text_
        .contains("quotekit_request_duration_last5m_seconds{function=\"quote-processor\",percentile=\"p50\"} 0.02\n"));
    assert!(text_.contains("quotekit_alerts_open{severity=\"critical\"} 0\n"));
    e2e::assert_promtool_accepts(&text_);
}

#[test]
fn anomaly_detection_finds_a_latency_spike_by_z_score() {
    let db = TestDb::new();
    // 13 five-minute buckets of 10 requests: 12 alternate 10 / 12 ms, the newest averages 40 ms.
    for k in 1..=13 {
        let ms = if k == 1 {
            40.0
        } else if k % 2 == 0 {
            10.0
        } else {
            12.0
        };
        db.exec(&format!(
            "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, created_at)
             SELECT 'quote-processor', '/q', 'GET', 200, {ms},
                    date_bin(interval '5 minutes', now(), timestamptz '2000-01-01 00:00:00+00') - {k} * interval '5 minutes' + interval '1 minute'
             FROM generate_series(1, 10)"
        ));
    }
    let host = Host::start(HostConfig::app(&db));
    let a = get(&host, "/anomaly-detection?hours=3&trailing=12");
    assert!(a["method"].as_str().unwrap().starts_with("z-score"));
    let found: Vec<&Value> =
        a["anomalies"].as_array().unwrap().iter().filter(|x| x["function"] == "quote-processor").collect();
    assert_eq!(found.len(), 1, "{a}");
    assert_eq!(found[0]["metric"], "avg_response_time_ms");
    // Trailing mean 11, sample sd √(12 / 11) = 1.0445 → z = (40 − 11) / 1.0445 = 27.77.
    assert_eq!(found[0]["finding"]["mean"], 11.0);
    assert_eq!(found[0]["finding"]["z"], 27.77);
}

#[test]
fn edge_up_calls_evaluate_on_the_schedule_in_spin_toml() {
    let db = TestDb::new();
    let manifest = std::fs::read_to_string(root().join("spin.toml")).unwrap();
    assert!(
        manifest.contains("[[application.tool.edge.schedule]]\npath = \"/functions/v1/monitoring-alerting/evaluate\"")
    );
    // The same manifest with the interval shortened to one second (beside spin.toml, so the
    // components' relative paths still resolve).
    struct Removed(std::path::PathBuf);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let fast = Removed(root().join(format!(".spin-schedule-test-{}.toml", std::process::id())));
    std::fs::write(&fast.0, manifest.replace("every = \"60s\"", "every = \"1s\"")).unwrap();
    let host = Host::start(HostConfig { manifest: fast.0.clone(), ..HostConfig::app(&db) });
    let fired = host.wait_for_output(
        |out| out.matches("[schedule] POST /functions/v1/monitoring-alerting/evaluate -> 200").count() >= 2,
        Duration::from_secs(20),
    );
    assert!(fired, "{}", host.output());
    // The first call evaluated all nine seeded rules; later calls within a rule's evaluation
    // interval (at least a minute) leave it alone.
    assert_eq!(scalar(&db, "SELECT count(*) FROM alert_evaluations"), 9);
    assert_eq!(scalar(&db, "SELECT count(*) FROM alert_rules WHERE last_evaluated_at IS NOT NULL"), 9);
}

/// The dashboard page in headless Chromium against a real host: it logs in with a token and
/// draws its charts from the JSON. The screenshot goes to target/monitoring-dashboard.png.
#[test]
fn the_dashboard_page_renders_its_charts_in_a_browser() {
    let db = TestDb::new();
    disable_seeded_rules(&db);
    for (i, f) in ["quote-processor", "subscription-status", "webhook-handler"].iter().enumerate() {
        for hours_ago in 0..12u32 {
            let n = 5 + (hours_ago as usize * (i + 1)) % 7;
            let durations: Vec<f64> =
                (0..n).map(|k| 8.0 + (k * 7 + hours_ago as usize * 3 + i * 11) as f64 % 40.0).collect();
            metrics(&db, f, &durations, usize::from(hours_ago % 5 == 0), hours_ago * 60 + 5);
        }
    }
    // Business figures: two paying customers, four quotes (one accepted).
    let (a, b) = (db.user("a@x.test"), db.user("b@x.test"));
    db.subscribe(&a, e2e::Plan::unlimited());
    db.subscribe(&b, e2e::Plan::unlimited());
    db.exec(&format!(
        "SET session_replication_role = replica;
         INSERT INTO quotes (user_id, client_name, quote_number, quote_year, quote_seq, status) VALUES
           ('{a}', 'C1', 'Q-1', 2026, 1, 'sent'), ('{a}', 'C2', 'Q-2', 2026, 2, 'accepted'),
           ('{b}', 'C3', 'Q-3', 2026, 3, 'declined'), ('{b}', 'C4', 'Q-4', 2026, 4, 'draft');
         SET session_replication_role = origin;"
    ));
    let host = Host::start(HostConfig::app(&db));
    error_rate_rule(&host, json!([]));
    metrics(&db, "quote-processor", &[10.0; 10], 4, 1);
    evaluate(&host);

    let page = format!("{}#token={}", host.url(&url("/dashboard.html")), service());
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("chromium is installed by scripts/test (Debian package chromium)");
    let flags =
        ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000", "--window-size=1280,1500"];
    let out = Command::new(chromium).args(flags).arg("--dump-dom").arg(&page).output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        dom.contains("data-rendered=\"true\""),
        "page did not render:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let points = |id: &str| -> usize {
        let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("{id} missing"));
        let rest = &dom[at..];
        let n = rest.split("data-points=\"").nth(1).unwrap().split('"').next().unwrap();
        n.parse().unwrap()
    };
    assert!(points("chart-latency") >= 24, "p50 and p95 over 12 hours");
    assert!(points("chart-errors") >= 12);
    assert!(points("chart-requests") >= 36, "three functions over 12 hours");
    assert!(dom.contains("<polyline"), "lines drawn");
    assert!(dom.contains("QP errors"), "the active alert is listed");
    assert!(dom.contains("58.00 USD"), "MRR of two 29.00 subscriptions");
    assert!(dom.contains("33.33 %"), "one of three sent quotes accepted");
    assert!(dom.contains("subscription-status") && dom.contains("webhook-handler"), "the legend names the functions");

    let shot = root().join("target/monitoring-dashboard.png");
    let out =
        Command::new(chromium).args(flags).arg(format!("--screenshot={}", shot.display())).arg(&page).output().unwrap();
    assert!(out.status.success() && shot.exists(), "{}", String::from_utf8_lossy(&out.stderr));
}
