//! webhook-monitor through the host: admins only; every figure checked exactly against rows
//! the test inserted (totals, success rate, nearest-rank percentiles, DLQ and stale counts);
//! each alert rule just below and just above its thresholds; replay of a dead-letter entry
//! through webhook-handler's code path once its cause is fixed; manual resolution; bad input.

use e2e::{Host, HostConfig, HttpResponse, Jwt, TestDb};
use serde_json::{json, Value};

const BASE: &str = "/functions/v1/webhook-monitor";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

fn service() -> String {
    Jwt::token(SERVICE_SUB, "service_role")
}

fn url(path: &str) -> String {
    format!("{BASE}{path}")
}

fn get_as(host: &Host, path: &str, token: &str) -> HttpResponse {
    host.get(&url(path)).bearer(token).send()
}

/// The `data` of a 200 answer to the service role.
fn data(host: &Host, path: &str) -> Value {
    let r = get_as(host, path, &service());
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let v = r.json();
    assert_eq!(v["success"], true);
    v["data"].clone()
}

fn assert_problem(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    v
}

/// `n` events of one kind: `state` is `ok` (processed, applied), `failed` (processed = false,
/// outcome failed) or `pending` (processed = false, no outcome); `age` is an SQL interval.
fn events(db: &TestDb, tag: &str, n: u32, event_type: &str, state: &str, ms: Option<f64>, age: &str) {
    let (processed, outcome) = match state {
        "ok" => ("true", "'applied'"),
        "failed" => ("false", "'failed'"),
        "pending" => ("false", "NULL"),
        other => panic!("unknown state {other}"),
    };
    let ms = ms.map(|m| m.to_string()).unwrap_or_else(|| "NULL".into());
    db.exec(&format!(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, processed_at, outcome, processing_ms, received_at)
         SELECT 'evt_{tag}_' || g, '{event_type}', {processed}, CASE WHEN {processed} THEN now() END, {outcome}, {ms},
                now() - interval '{age}'
         FROM generate_series(1, {n}) g"
    ));
}

/// `n` dead-letter entries, open or resolved.
fn dead_letters(db: &TestDb, tag: &str, n: u32, resolved: bool) {
    let resolution = if resolved { "now(), 'manual'" } else { "NULL, NULL" };
    db.exec(&format!(
        "INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, last_error, resolved_at, resolution)
         SELECT 'evt_{tag}_' || g, 'invoice.paid', '{{}}', 'handler failed', {resolution} FROM generate_series(1, {n}) g"
    ));
}

fn clear(db: &TestDb) {
    db.exec("DELETE FROM stripe_webhook_events; DELETE FROM webhook_dead_letter_queue;");
}

/// The alerts raised, as (rule, severity, value, threshold).
fn alerts(host: &Host) -> Vec<(String, String, f64, f64)> {
    let d = data(host, "/alerts");
    d["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a["message"].as_str().is_some_and(|m| !m.is_empty()), "{a}");
            (
                a["rule"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
                a["value"].as_f64().unwrap(),
                a["threshold"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn alert(rule: &str, severity: &str, value: f64, threshold: f64) -> (String, String, f64, f64) {
    (rule.to_string(), severity.to_string(), value, threshold)
}

#[test]
fn only_admins_may_look() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let user = db.user("plain@example.test");
    let admin = db.user("admin@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin'), ('{user}', 'user')"));

    assert_problem(&host.get(&url("/overview")).send(), 401, "missing_token");
    assert_problem(&get_as(&host, "/overview", &Jwt::user(&user)), 403, "admin_required");
    assert_problem(&get_as(&host, "/alerts", &Jwt::token(&user, "anon")), 403, "admin_required");
    assert_eq!(get_as(&host, "/overview", &service()).status, 200);
    assert_eq!(get_as(&host, "/overview", &Jwt::user(&admin)).status, 200);
    assert_eq!(get_as(&host, "/dead-letter-queue", &Jwt::user(&admin)).status, 200);

    db.exec(&format!("UPDATE user_roles SET expires_at = now() - interval '1 minute' WHERE user_id = '{admin}'"));
    assert_problem(&get_as(&host, "/overview", &Jwt::user(&admin)), 403, "admin_required");
    db.exec(&format!("UPDATE user_roles SET expires_at = NULL, is_active = false WHERE user_id = '{admin}'"));
    assert_problem(&get_as(&host, "/overview", &Jwt::user(&admin)), 403, "admin_required");
    // Writes are admin-only too, and refused before anything is looked up.
    let id = "5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b";
    let r = host.post(&url(&format!("/dead-letter-queue/{id}/resolve"))).bearer(&Jwt::user(&user)).send();
    assert_problem(&r, 403, "admin_required");
    assert_problem(&host.post(&url(&format!("/dead-letter-queue/{id}/replay"))).send(), 401, "missing_token");
}

#[test]
fn overview_reports_exact_figures_from_real_rows() {
    let db = TestDb::new();
    // invoice.paid: ten applied events taking 10, 20, ..., 100 ms.
    db.exec(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, processed_at, outcome, processing_ms, received_at)
         SELECT 'evt_inv_' || g, 'invoice.paid', true, now(), 'applied', g * 10, now() - interval '30 minutes'
         FROM generate_series(1, 10) g;
         INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, processed_at, outcome, processing_ms, received_at, deliveries) VALUES
           ('evt_cus_1', 'customer.updated', true, now(), 'stale', 300, now() - interval '3 hours', 3),
           ('evt_cus_2', 'customer.updated', true, now(), 'ignored', 100, now() - interval '5 hours', 1);
         INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, outcome, received_at, error_message) VALUES
           ('evt_price_failed', 'price.created', false, 'failed', now() - interval '2 hours', 'no such product'),
           ('evt_price_new', 'price.created', false, NULL, now() - interval '10 minutes', NULL),
           ('evt_old_stuck', 'invoice.paid', false, NULL, now() - interval '30 hours', NULL);
         INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, processed_at, outcome, processing_ms, received_at) VALUES
           ('evt_old_ok', 'invoice.paid', true, now(), 'applied', 1000, now() - interval '26 hours');
         INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, last_error, failure_count, resolved_at, resolution) VALUES
           ('evt_price_failed', 'price.created', '{}', 'no such product', 1, NULL, NULL),
           ('evt_dlq_review', 'invoice.paid', '{}', 'boom', 5, NULL, NULL),
           ('evt_dlq_done', 'invoice.paid', '{}', 'boom', 2, now(), 'manual');",
    );
    let host = Host::start(HostConfig::app(&db));
    let d = data(&host, "/overview");
    assert_eq!(d["window_hours"], 24);
    let s = &d["summary"];
    assert_eq!(s["total_events"], 14, "{d}");
    assert_eq!(s["processed_events"], 12);
    assert_eq!(s["failed_events"], 2);
    assert_eq!(s["succeeded_events"], 12);
    assert_eq!(s["success_rate"].as_f64(), Some(85.71)); // 12 of 14
    assert_eq!(s["duplicate_deliveries"], 2);
    assert_eq!(s["avg_processing_ms"].as_f64(), Some(79.17)); // (550 + 300 + 100) / 12
    assert_eq!(s["by_outcome"], json!({"applied": 10, "stale": 1, "ignored": 1, "failed": 1, "none": 1}));
    assert_eq!(d["dead_letter_queue"], json!({"open": 2, "requires_manual_review": 1}));
    // Unprocessed for over an hour, whatever the window: the 2 h old failure and the 30 h old one.
    assert_eq!(d["stale_unprocessed_events"], 2);

    let types = d["event_types"].as_array().unwrap();
    assert_eq!(types.len(), 3);
    let inv = &types[0];
    assert_eq!(inv["event_type"], "invoice.paid");
    assert_eq!((inv["events"].as_i64(), inv["failed"].as_i64()), (Some(10), Some(0)));
    assert_eq!((inv["p50_ms"].as_f64(), inv["p95_ms"].as_f64()), (Some(50.0), Some(100.0)));
    assert_eq!(inv["avg_ms"].as_f64(), Some(55.0));
    assert_eq!(inv["p95_within_target"], true);
    assert_eq!(inv["success_rate"].as_f64(), Some(100.0));
    let cus = types.iter().find(|t| t["event_type"] == "customer.updated").unwrap();
    assert_eq!((cus["p50_ms"].as_f64(), cus["p95_ms"].as_f64()), (Some(100.0), Some(300.0)));
    assert_eq!(cus["avg_ms"].as_f64(), Some(200.0));
    assert_eq!(cus["p95_within_target"], false);
    let price = types.iter().find(|t| t["event_type"] == "price.created").unwrap();
    assert_eq!((price["events"].as_i64(), price["failed"].as_i64()), (Some(2), Some(2)));
    assert_eq!(price["success_rate"].as_f64(), Some(0.0));
    assert_eq!((price["p50_ms"].clone(), price["p95_within_target"].clone()), (Value::Null, Value::Null));

    // A wider window takes in the 26 h and 30 h old events.
    let wide = data(&host, "/overview?hours=48");
    assert_eq!(wide["summary"]["total_events"], 16);
    assert_eq!(wide["summary"]["failed_events"], 3);
    let inv = &wide["event_types"][0];
    assert_eq!((inv["events"].as_i64(), inv["p95_ms"].as_f64()), (Some(12), Some(1000.0)));
}

#[test]
fn an_empty_window_has_no_success_rate_and_raises_no_alert() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let d = data(&host, "");
    assert_eq!(d["summary"]["total_events"], 0);
    assert_eq!(d["summary"]["success_rate"], Value::Null, "never a made-up 100 %");
    assert_eq!(d["summary"]["avg_processing_ms"], Value::Null);
    assert_eq!(d["event_types"], json!([]));
    let a = data(&host, "/alerts");
    assert_eq!(a["alerts"], json!([]));
    assert_eq!(a["alert_counts"], json!({"critical": 0, "warning": 0, "total": 0}));
    let checks = a["checks"].as_array().unwrap();
    assert_eq!(checks[0]["rule"], "high_failure_rate");
    assert_eq!(checks[0]["status"], "no_data");
    assert_eq!(checks[0]["message"], "no events in the last 24 h");
    assert_eq!(checks[1]["status"], "no_data");
    assert_eq!((checks[2]["status"].as_str(), checks[3]["status"].as_str()), (Some("ok"), Some("ok")));
}

#[test]
fn success_rate_alerts_at_their_thresholds() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    // (succeeded, failed) → expected alert
    let cases = [
        (95, 5, None),                                                      // exactly 95 %
        (94, 6, Some(alert("high_failure_rate", "warning", 94.0, 95.0))),   // 94 %
        (90, 10, Some(alert("high_failure_rate", "warning", 90.0, 95.0))),  // exactly 90 %
        (89, 11, Some(alert("high_failure_rate", "critical", 89.0, 90.0))), // 89 %
    ];
    for (ok, failed, expected) in cases {
        clear(&db);
        events(&db, "ok", ok, "invoice.paid", "ok", Some(10.0), "5 minutes");
        events(&db, "bad", failed, "invoice.paid", "failed", None, "5 minutes");
        assert_eq!(alerts(&host), expected.into_iter().collect::<Vec<_>>(), "{ok} of {}", ok + failed);
        let o = data(&host, "/overview");
        assert_eq!(o["summary"]["success_rate"].as_f64(), Some(ok as f64));
    }
}

#[test]
fn processing_time_alerts_at_their_thresholds() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let cases: [(&[f64], Option<_>); 4] = [
        (&[150.0, 250.0], None), // average exactly 200
        (&[200.0, 202.0], Some(alert("slow_processing", "warning", 201.0, 200.0))),
        (&[500.0], Some(alert("slow_processing", "warning", 500.0, 200.0))),
        (&[400.0, 602.0], Some(alert("slow_processing", "critical", 501.0, 500.0))),
    ];
    for (times, expected) in cases {
        clear(&db);
        for (i, ms) in times.iter().enumerate() {
            events(&db, &format!("t{i}"), 1, "invoice.paid", "ok", Some(*ms), "5 minutes");
        }
        assert_eq!(alerts(&host), expected.into_iter().collect::<Vec<_>>(), "{times:?}");
    }
}

#[test]
fn dead_letter_alerts_count_open_entries_only() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let cases = [
        (10, None),
        (11, Some(alert("dlq_buildup", "warning", 11.0, 10.0))),
        (50, Some(alert("dlq_buildup", "warning", 50.0, 10.0))),
        (51, Some(alert("dlq_buildup", "critical", 51.0, 50.0))),
    ];
    for (open, expected) in cases {
        clear(&db);
        dead_letters(&db, "open", open, false);
        dead_letters(&db, "done", 7, true);
        assert_eq!(alerts(&host), expected.into_iter().collect::<Vec<_>>(), "{open} open");
        assert_eq!(data(&host, "/overview")["dead_letter_queue"]["open"], open);
    }
}

#[test]
fn an_event_unprocessed_for_over_an_hour_is_a_warning() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    events(&db, "ok", 1, "invoice.paid", "ok", Some(10.0), "61 minutes"); // processed: never stale
    events(&db, "young", 1, "invoice.paid", "pending", None, "59 minutes");
    let a = alerts(&host);
    assert!(a.iter().all(|x| x.0 != "stale_webhooks"), "{a:?}");
    assert_eq!(data(&host, "/overview")["stale_unprocessed_events"], 0);

    events(&db, "old", 1, "invoice.paid", "pending", None, "61 minutes");
    let a = alerts(&host);
    assert!(a.contains(&alert("stale_webhooks", "warning", 1.0, 0.0)), "{a:?}");
    assert_eq!(data(&host, "/overview")["stale_unprocessed_events"], 1);
}

#[test]
fn alerts_are_sorted_critical_first_and_counted() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    events(&db, "ok", 8, "invoice.paid", "ok", Some(600.0), "5 minutes");
    events(&db, "bad", 2, "invoice.paid", "failed", None, "90 minutes");
    dead_letters(&db, "open", 12, false);
    let d = data(&host, "/alerts");
    assert_eq!(d["alert_counts"], json!({"critical": 2, "warning": 2, "total": 4}));
    let got = alerts(&host);
    assert_eq!(
        got,
        vec![
            alert("high_failure_rate", "critical", 80.0, 90.0),
            alert("slow_processing", "critical", 600.0, 500.0),
            alert("dlq_buildup", "warning", 12.0, 10.0),
            alert("stale_webhooks", "warning", 2.0, 0.0),
        ]
    );
    assert!(d["checks"].as_array().unwrap().iter().all(|c| c["status"] == "alert"));
}

#[test]
fn performance_reports_hourly_trends() {
    let db = TestDb::new();
    let mut c = db.client();
    // Two whole hours that are certainly inside the last 24 h.
    let row = c
        .query_one(
            "SELECT to_char(h, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS a, to_char(h + interval '1 hour', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS b,
                    h::text AS h
             FROM (SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '3 hours' AS h) x",
            &[],
        )
        .unwrap();
    let (hour_a, hour_b, h): (String, String, String) = (row.get("a"), row.get("b"), row.get("h"));
    db.exec(&format!(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, outcome, processing_ms, received_at) VALUES
           ('evt_a1', 'invoice.paid', true, 'applied', 100, ('{h}'::timestamp AT TIME ZONE 'UTC') + interval '5 minutes'),
           ('evt_a2', 'invoice.paid', true, 'applied', 200, ('{h}'::timestamp AT TIME ZONE 'UTC') + interval '20 minutes'),
           ('evt_a3', 'customer.created', true, 'applied', 300, ('{h}'::timestamp AT TIME ZONE 'UTC') + interval '59 minutes'),
           ('evt_a4', 'invoice.paid', false, 'failed', NULL, ('{h}'::timestamp AT TIME ZONE 'UTC') + interval '30 minutes'),
           ('evt_b1', 'invoice.paid', true, 'applied', 50, ('{h}'::timestamp AT TIME ZONE 'UTC') + interval '70 minutes');"
    ));
    let host = Host::start(HostConfig::app(&db));
    let d = data(&host, "/performance");
    assert_eq!(d["window_hours"], 24);
    let hourly = d["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 2, "{d}");
    assert_eq!(hourly[0]["hour"], hour_a.as_str());
    assert_eq!((hourly[0]["events"].as_i64(), hourly[0]["failed"].as_i64()), (Some(4), Some(1)));
    assert_eq!(hourly[0]["success_rate"].as_f64(), Some(75.0));
    assert_eq!(hourly[0]["avg_ms"].as_f64(), Some(200.0));
    assert_eq!(hourly[0]["p95_ms"].as_f64(), Some(300.0));
    assert_eq!(hourly[1]["hour"], hour_b.as_str());
    assert_eq!((hourly[1]["events"].as_i64(), hourly[1]["p95_ms"].as_f64()), (Some(1), Some(50.0)));
    assert_eq!(hourly[1]["success_rate"].as_f64(), Some(100.0));

    let only = data(&host, "/performance?event_type=customer.created");
    assert_eq!(only["event_type"], "customer.created");
    let hourly = only["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 1);
    assert_eq!((hourly[0]["events"].as_i64(), hourly[0]["avg_ms"].as_f64()), (Some(1), Some(300.0)));
    assert_eq!(data(&host, "/performance?hours=1")["hourly"], json!([]));
}

#[test]
fn the_dead_letter_queue_lists_filters_and_pages_without_raw_bodies() {
    let db = TestDb::new();
    db.exec(
        "INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, payload, last_error, failure_count,
                                               first_failed_at, last_failed_at, resolved_at, resolution, resolved_by) VALUES
           ('evt_new', 'invoice.paid', '{\"id\":\"evt_new\"}', '{\"id\":\"evt_new\"}', 'err new', 1, now() - interval '1 hour', now() - interval '1 minute', NULL, NULL, NULL),
           ('evt_old', 'price.created', '{\"id\":\"evt_old\"}', NULL, 'err old', 6, now() - interval '3 days', now() - interval '2 hours', NULL, NULL, NULL),
           ('evt_fixed', 'customer.updated', '{}', NULL, 'err fixed', 2, now() - interval '2 days', now() - interval '1 day', now(), 'retried', 'stripe');",
    );
    let host = Host::start(HostConfig::app(&db));
    let open = data(&host, "/dead-letter-queue");
    assert_eq!((open["status"].as_str(), open["total"].as_i64()), (Some("open"), Some(2)));
    assert_eq!(open["counts"], json!({"open": 2, "requires_manual_review": 1, "resolved": 1}));
    let entries = open["entries"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["stripe_event_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["evt_new", "evt_old"], "newest failure first");
    assert_eq!(
        (entries[1]["failure_count"].as_i64(), entries[1]["requires_manual_review"].as_bool()),
        (Some(6), Some(true))
    );
    assert_eq!(entries[0]["last_error"], "err new");
    assert!(entries.iter().all(|e| e.get("raw_body").is_none() && e.get("payload").is_none()), "{open}");

    let resolved = data(&host, "/dead-letter-queue?status=resolved");
    assert_eq!(resolved["total"], 1);
    assert_eq!(resolved["entries"][0]["resolution"], "retried");
    assert_eq!(resolved["entries"][0]["resolved_by"], "stripe");
    let all = data(&host, "/dead-letter-queue?status=all&limit=1&offset=1");
    assert_eq!((all["total"].as_i64(), all["limit"].as_i64(), all["offset"].as_i64()), (Some(3), Some(1), Some(1)));
    assert_eq!(all["entries"].as_array().unwrap().len(), 1);
    assert_eq!(all["entries"][0]["stripe_event_id"], "evt_old");

    let id = entries[0]["id"].as_str().unwrap();
    let one = data(&host, &format!("/dead-letter-queue/{id}"));
    assert_eq!(one["stripe_event_id"], "evt_new");
    assert_eq!(one["payload"], json!({"id": "evt_new"}));
    assert_eq!(one["raw_body"], "{\"id\":\"evt_new\"}");
    assert_eq!(one["event"], Value::Null, "no event row was recorded for it");
    let r = get_as(&host, "/dead-letter-queue/5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", &service());
    assert_problem(&r, 404, "not_found");
    let v = assert_problem(&get_as(&host, "/dead-letter-queue/42", &service()), 400, "validation_failed");
    assert_eq!(v["errors"][0]["field"], "id");
}

/// A price.created event whose product is not mirrored yet (it fails on the foreign key).
fn price_event() -> String {
    json!({
        "id": "evt_replay_price", "object": "event", "type": "price.created", "created": 1_764_000_000,
        "data": { "object": {
            "id": "price_x", "object": "price", "product": "prod_x", "currency": "usd", "unit_amount": 100,
            "active": true, "type": "recurring", "recurring": { "interval": "month", "interval_count": 1 }
        }}
    })
    .to_string()
}

#[test]
fn replay_reruns_the_stored_event_once_its_cause_is_fixed() {
    let db = TestDb::new();
    let raw = price_event();
    let id: String = db
        .client()
        .query_one(
            "INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, payload, last_error)
             VALUES ('evt_replay_price', 'price.created', $1::text, $1::text::jsonb, 'product prod_x is not mirrored') RETURNING id::text",
            &[&raw],
        )
        .unwrap()
        .get(0);
    let host = Host::start(HostConfig::app(&db));
    let replay = |token: &str| host.post(&url(&format!("/dead-letter-queue/{id}/replay"))).bearer(token).send();

    // The product is still missing: it fails again, and the failure is counted.
    let v = assert_problem(&replay(&service()), 409, "replay_failed");
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    assert_eq!(v["outcome"]["kind"], "failed");
    assert_eq!(v["outcome"]["event_id"], "evt_replay_price");
    assert_eq!(v["entry"]["failure_count"], 2);
    assert_eq!(v["entry"]["resolved_at"], Value::Null);
    let row = db
        .client()
        .query_one("SELECT failure_count, last_error FROM webhook_dead_letter_queue WHERE id = $1::text::uuid", &[&id])
        .unwrap();
    assert_eq!(row.get::<_, i32>("failure_count"), 2);
    assert_eq!(row.get::<_, String>("last_error"), v["detail"].as_str().unwrap());
    let count = |sql: &str| -> i64 { db.client().query_one(sql, &[]).unwrap().get(0) };
    assert_eq!(count("SELECT count(*) FROM stripe_prices"), 0);

    // Fixed: the product exists now. An admin user replays it.
    db.exec("INSERT INTO stripe_products (id, name) VALUES ('prod_x', 'X')");
    let admin = db.user("ops@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));
    let r = replay(&Jwt::user(&admin));
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    assert_eq!(d["outcome"]["kind"], "applied");
    assert_eq!(d["outcome"]["event_type"], "price.created");
    assert_eq!(d["entry"]["resolution"], "replayed");
    assert_eq!(d["entry"]["resolved_by"], admin.as_str());
    assert!(d["entry"]["resolved_at"].is_string());
    assert_eq!(count("SELECT count(*) FROM stripe_prices WHERE id = 'price_x' AND stripe_product_id = 'prod_x' AND unit_amount = 100"), 1);
    assert_eq!(count("SELECT count(*) FROM stripe_prices"), 1);
    assert_eq!(count("SELECT count(*) FROM stripe_webhook_events WHERE stripe_event_id = 'evt_replay_price' AND processed AND outcome = 'applied'"), 1);

    // Resolved: nothing more to replay, and the price is still there once.
    assert_problem(&replay(&service()), 409, "already_resolved");
    assert_eq!(count("SELECT count(*) FROM stripe_prices"), 1);
    assert_problem(
        &host.post(&url("/dead-letter-queue/5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b/replay")).bearer(&service()).send(),
        404,
        "not_found",
    );

    // Both attempts are in the audit trail as replays, newest first.
    let audit = data(&host, "/audit-trail?event_id=evt_replay_price");
    assert_eq!(audit["total"], 2);
    assert_eq!(audit["counts"]["replays"], 2);
    let outcomes: Vec<(&str, i64)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["outcome"].as_str().unwrap(), e["http_status"].as_i64().unwrap()))
        .collect();
    assert_eq!(outcomes, vec![("applied", 200), ("failed", 500)]);
    // The overview sees the event as processed now and the queue as empty.
    let o = data(&host, "/overview");
    assert_eq!(o["dead_letter_queue"]["open"], 0);
    assert_eq!(o["summary"]["failed_events"], 0);
}

#[test]
fn manual_resolution_records_who_resolved() {
    let db = TestDb::new();
    dead_letters(&db, "stuck", 2, false);
    db.exec(
        "INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, outcome)
             VALUES ('evt_stuck_2', 'invoice.paid', false, 'failed')",
    );
    let ids: Vec<String> = db
        .client()
        .query("SELECT id::text FROM webhook_dead_letter_queue ORDER BY stripe_event_id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let admin = db.user("ops@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));
    let host = Host::start(HostConfig::app(&db));
    let resolve = |id: &str, token: &str| host.post(&url(&format!("/dead-letter-queue/{id}/resolve"))).bearer(token);

    let r = resolve(&ids[0], &service()).json(&json!({"note": "customer refunded by hand"})).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    assert_eq!(
        (d["entry"]["resolution"].as_str(), d["entry"]["resolved_by"].as_str()),
        (Some("manual"), Some("service_role"))
    );
    assert_eq!(d["note"], "customer refunded by hand");
    assert_eq!(d["entry"]["resolution_note"], "customer refunded by hand");
    assert_problem(&resolve(&ids[0], &service()).send(), 409, "already_resolved");

    let r = resolve(&ids[1], &Jwt::user(&admin)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let row = db
        .client()
        .query_one("SELECT resolution, resolved_by, resolved_at IS NOT NULL AS done FROM webhook_dead_letter_queue WHERE id = $1::text::uuid", &[&ids[1]])
        .unwrap();
    assert_eq!(row.get::<_, String>("resolution"), "manual");
    assert_eq!(row.get::<_, String>("resolved_by"), admin);
    assert!(row.get::<_, bool>("done"));
    // Settled by a person: the event stops counting as waiting, and stays failed.
    let ev = db
        .client()
        .query_one("SELECT processed, outcome FROM stripe_webhook_events WHERE stripe_event_id = 'evt_stuck_2'", &[])
        .unwrap();
    assert_eq!((ev.get::<_, bool>(0), ev.get::<_, Option<String>>(1).as_deref()), (true, Some("failed")));
    assert_eq!(data(&host, "/overview")["dead_letter_queue"]["open"], 0);

    assert_problem(&resolve("5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b", &service()).send(), 404, "not_found");
    let v = assert_problem(&resolve(&ids[1], &service()).json(&json!({"note": ""})).send(), 400, "validation_failed");
    assert_eq!(v["errors"][0]["field"], "note");
    assert_problem(&resolve(&ids[1], &service()).json(&json!({"note": "x", "extra": 1})).send(), 400, "invalid_body");
}

#[test]
fn the_audit_trail_filters_newest_first() {
    let db = TestDb::new();
    db.exec(
        "INSERT INTO webhook_audit_trail (received_at, stripe_event_id, event_type, signature_valid, failure_reason, duplicate,
                                         outcome, http_status, duration_ms, source) VALUES
           (now() - interval '3 minutes', 'evt_1', 'invoice.paid', true, NULL, false, 'applied', 200, 12.5, 'stripe'),
           (now() - interval '2 minutes', 'evt_1', 'invoice.paid', true, NULL, true, 'duplicate', 200, 3, 'stripe'),
           (now() - interval '1 minute', NULL, NULL, false, 'signature_mismatch', false, 'rejected', 400, 1, 'stripe'),
           (now() - interval '4 minutes', 'evt_2', 'price.created', true, NULL, false, 'failed', 500, 40, 'stripe');",
    );
    let host = Host::start(HostConfig::app(&db));
    let all = data(&host, "/audit-trail");
    assert_eq!(all["total"], 4);
    assert_eq!(all["counts"], json!({"signature_invalid": 1, "duplicates": 1, "server_errors": 1, "replays": 0}));
    let outcomes: Vec<&str> =
        all["entries"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["rejected", "duplicate", "applied", "failed"]);
    assert_eq!(all["entries"][0]["failure_reason"], "signature_mismatch");
    assert_eq!(all["entries"][2]["duration_ms"].as_f64(), Some(12.5));

    let one = data(&host, "/audit-trail?event_id=evt_1");
    assert_eq!(one["total"], 2);
    assert_eq!(one["entries"][0]["duplicate"], true);
    let bad = data(&host, "/audit-trail?signature_valid=false");
    assert_eq!(bad["total"], 1);
    assert_eq!(bad["entries"][0]["signature_valid"], false);
    let page = data(&host, "/audit-trail?limit=2&offset=2");
    let outcomes: Vec<&str> =
        page["entries"].as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, vec!["applied", "failed"]);
}

#[test]
fn batch_jobs_of_every_user_with_exact_progress() {
    let db = TestDb::new();
    let a = db.user("a@example.test");
    let b = db.user("b@example.test");
    db.exec(&format!(
        "INSERT INTO batch_jobs (user_id, operation, status, total_items, processed_items, failed_items, created_at, started_at, completed_at) VALUES
           ('{a}', 'delete_quotes', 'running', 10, 3, 2, now() - interval '1 minute', now() - interval '1 minute', NULL),
           ('{b}', 'export_quotes', 'completed', 4, 3, 1, now() - interval '1 hour', now() - interval '1 hour',
                                                           now() - interval '1 hour' + interval '1.5 seconds'),
           ('{b}', 'update_item_prices', 'pending', 3, 0, 0, now() - interval '2 hours', NULL, NULL);"
    ));
    let host = Host::start(HostConfig::app(&db));
    let d = data(&host, "/batch-jobs");
    assert_eq!(d["total"], 3);
    assert_eq!(d["by_status"], json!({"pending": 1, "running": 1, "completed": 1, "failed": 0, "cancelled": 0}));
    let jobs = d["jobs"].as_array().unwrap();
    let progress: Vec<(&str, f64)> =
        jobs.iter().map(|j| (j["user_id"].as_str().unwrap(), j["progress_percent"].as_f64().unwrap())).collect();
    assert_eq!(progress, vec![(a.as_str(), 50.0), (b.as_str(), 100.0), (b.as_str(), 0.0)]);
    assert_eq!(jobs[1]["duration_ms"].as_f64(), Some(1500.0));
    assert_eq!(jobs[0]["duration_ms"], Value::Null);

    let done = data(&host, "/batch-jobs?status=completed");
    assert_eq!(done["total"], 1);
    assert_eq!(done["jobs"][0]["operation"], "export_quotes");
    assert_eq!(data(&host, "/batch-jobs?limit=1&offset=2")["jobs"][0]["operation"], "update_item_prices");
}

#[test]
fn bare_path_guide_operations_unknown_routes_methods_and_bad_parameters() {
    let db = TestDb::new();
    events(&db, "ok", 3, "invoice.paid", "ok", Some(10.0), "5 minutes");
    let host = Host::start(HostConfig::app(&db));
    assert_eq!(data(&host, "")["summary"]["total_events"], 3, "the bare path is overview");
    let post = |body: Value| host.post(BASE).bearer(&service()).json(&body).send();
    let r = post(json!({"operation": "alerts", "hours": 2}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["window_hours"], 2);
    let r = post(json!({"operation": "dead_letter_queue", "status": "all"}));
    assert_eq!(r.json()["data"]["status"], "all");
    assert_eq!(post(json!({"operation": "overview"})).json()["data"]["summary"]["total_events"], 3);
    assert_problem(&post(json!({"operation": "status"})), 404, "route_not_found");
    let v = assert_problem(&post(json!({"operation": "overview", "hours": 0})), 400, "validation_failed");
    assert_eq!(
        (v["errors"][0]["field"].as_str(), v["errors"][0]["code"].as_str()),
        (Some("hours"), Some("out_of_range"))
    );

    assert_problem(&host.get(&url("/nope")).send(), 404, "route_not_found");
    assert_problem(&host.get(&url("/dead-letter-queue/a/b/c")).bearer(&service()).send(), 404, "route_not_found");
    assert_problem(&host.post(&url("/overview")).bearer(&service()).send(), 405, "method_not_allowed");
    assert_problem(&e2e::Req::new("DELETE", &host.url(BASE)).bearer(&service()).send(), 405, "method_not_allowed");
    let replay_get = get_as(&host, "/dead-letter-queue/5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b/replay", &service());
    assert_problem(&replay_get, 405, "method_not_allowed");

    for (path, field, code) in [
        ("/overview?hours=abc", "hours", "invalid_integer"),
        ("/overview?hours=721", "hours", "out_of_range"),
        ("/alerts?hours=-1", "hours", "out_of_range"),
        ("/performance?hours=1.5", "hours", "invalid_integer"),
        ("/dead-letter-queue?limit=ten", "limit", "invalid_integer"),
        ("/dead-letter-queue?status=closed", "status", "invalid_value"),
        ("/audit-trail?signature_valid=maybe", "signature_valid", "invalid_boolean"),
        ("/audit-trail?offset=-5", "offset", "out_of_range"),
        ("/batch-jobs?status=done", "status", "invalid_value"),
        ("/batch-jobs?limit=501", "limit", "out_of_range"),
        ("/dead-letter-queue/not-a-uuid", "id", "invalid_uuid"),
    ] {
        let v = assert_problem(&get_as(&host, path, &service()), 400, "validation_failed");
        assert_eq!(
            (v["errors"][0]["field"].as_str(), v["errors"][0]["code"].as_str()),
            (Some(field), Some(code)),
            "{path}"
        );
    }
    let v = assert_problem(
        &get_as(&host, "/dead-letter-queue?limit=0&offset=x&status=no", &service()),
        400,
        "validation_failed",
    );
    assert_eq!(v["errors"].as_array().unwrap().len(), 3, "every bad field at once: {v}");
}
