//! performance-optimizer through the host: figures checked exactly against metric rows the test
//! loaded (averages, nearest-rank percentiles, error rates, throughput), window-over-window
//! regressions, recommendations only from data, cost figures from known rows and unit prices,
//! `benchmark_all_functions` against the real host (every function, rows stored), the host's
//! pool endpoint, the `request_metrics` switch, admin-only access and bad input.

use e2e::{Host, HostConfig, HttpResponse, Jwt, TestDb, FUNCTIONS};
use serde_json::{json, Value};

const BASE: &str = "/functions/v1/performance-optimizer";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

fn service() -> String {
    Jwt::token(SERVICE_SUB, "service_role")
}

fn get_as(host: &Host, path: &str, token: &str) -> HttpResponse {
    host.get(&format!("{BASE}{path}")).bearer(token).send()
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

/// Metric rows of `function`: one per (duration ms, status), `age` ago (an SQL interval),
/// each with `bytes` response bytes (NULL when `None`).
fn rows(db: &TestDb, function: &str, samples: &[(f64, i32)], age: &str, bytes: Option<i64>, user: Option<&str>) {
    let durations: Vec<String> = samples.iter().map(|(d, _)| d.to_string()).collect();
    let statuses: Vec<String> = samples.iter().map(|(_, s)| s.to_string()).collect();
    let bytes = bytes.map(|b| b.to_string()).unwrap_or_else(|| "NULL".into());
    let user = user.map(|u| format!("'{u}'")).unwrap_or_else(|| "NULL".into());
    db.exec(&format!(
        "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, user_id, response_bytes, created_at)
         SELECT '{function}', '/functions/v1/{function}', 'GET', s, d, {user}, {bytes}, now() - interval '{age}'
         FROM unnest('{{{}}}'::float8[], '{{{}}}'::int[]) AS t(d, s)",
        durations.join(","),
        statuses.join(",")
    ));
}

fn ok_rows(durations: impl IntoIterator<Item = f64>) -> Vec<(f64, i32)> {
    durations.into_iter().map(|d| (d, 200)).collect()
}

fn function<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == name)
        .unwrap_or_else(|| panic!("{name} missing in {list}"))
}

/// A port nobody listens on now, for `edge up --listen` (the pool and `via=public` tests
/// need the host's address before it starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn host_at(db: &TestDb, vars: &[(&str, &str)]) -> (Host, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cfg = HostConfig::app(db).var("public_base_url", &base);
    for (k, v) in vars {
        cfg = cfg.var(k, v);
    }
    cfg.args.extend(["--listen".to_string(), format!("127.0.0.1:{port}")]);
    (Host::start(cfg), base)
}

#[test]
fn only_admins_may_use_it() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let user = db.user("user@example.test");
    let admin = db.user("admin@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin'), ('{user}', 'user')"));
    for path in ["/metrics", "/analyze", "/recommendations", "/cost_report", "/cost_report/settings", "/pool"] {
        assert_problem(&host.get(&format!("{BASE}{path}")).send(), 401, "missing_token");
        assert_problem(&get_as(&host, path, &Jwt::user(&user)), 403, "admin_required");
        assert_problem(&get_as(&host, path, &Jwt::token(&user, "anon")), 403, "admin_required");
        assert_eq!(get_as(&host, path, &Jwt::user(&admin)).status, 200, "{path}");
    }
    // Writes too, refused before anything runs: no benchmark row, no cost row.
    let r = host.post(BASE).bearer(&Jwt::user(&user)).json(&json!({"operation": "benchmark_all_functions"})).send();
    assert_problem(&r, 403, "admin_required");
    let r = host.post(&format!("{BASE}/cost_report")).send();
    assert_problem(&r, 401, "missing_token");
    let r = e2e::Req::new("PUT", &host.url(&format!("{BASE}/cost_report/settings")))
        .bearer(&Jwt::user(&user))
        .json(&json!({"memory_mb": 1}))
        .send();
    assert_problem(&r, 403, "admin_required");
    let counts: (i64, i64, i32) = {
        let mut c = db.client();
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM performance_benchmarks), (SELECT count(*) FROM cost_metrics),
                        (SELECT memory_mb FROM cost_settings)",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(counts, (0, 30, 128), "only the admin's cost_report stored rows (the 30 days of its window)");
}

#[test]
fn metrics_are_exact_per_function_and_window() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let someone = db.user("someone@example.test");
    // quote-processor in the last hour: 10 … 100 ms, one 500 and one 404 among them.
    let mut qp = ok_rows([10.0, 20.0, 30.0, 40.0, 60.0, 70.0, 80.0, 90.0]);
    qp.push((50.0, 500));
    qp.push((100.0, 404));
    rows(&db, "quote-processor", &qp, "10 minutes", Some(1000), Some(&someone));
    // webhook-monitor: three rows in the hour, and rows outside it that must not count.
    rows(&db, "webhook-monitor", &ok_rows([5.0, 7.0, 9.0]), "5 minutes", Some(200), None);
    rows(&db, "webhook-monitor", &ok_rows([900.0, 900.0]), "2 hours", Some(200), None);
    // 100 rows of 1 … 100 ms: p50 50, p95 95, p99 99 by nearest rank.
    rows(&db, "subscription-status", &ok_rows((1..=100).map(f64::from)), "30 minutes", None, None);

    let d = data(&host, "/metrics?timeRange=1h");
    assert_eq!(d["timeRange"], "1h");
    assert_eq!(d["window_hours"], 1);
    let names: Vec<&str> = d["functions"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap()).collect();
    assert_eq!(names, FUNCTIONS, "every function, in order, even without rows");
    let q = function(&d["functions"], "quote-processor");
    assert_eq!(q["requests"], 10);
    assert_eq!(q["server_errors"], 1);
    assert_eq!(q["client_errors"], 1);
    assert_eq!(q["error_rate"], 10.0);
    assert_eq!(q["avg_ms"], 55.0);
    assert_eq!(
        (q["p50_ms"].as_f64(), q["p95_ms"].as_f64(), q["p99_ms"].as_f64()),
        (Some(50.0), Some(100.0), Some(100.0))
    );
    assert_eq!((q["min_ms"].as_f64(), q["max_ms"].as_f64()), (Some(10.0), Some(100.0)));
    assert_eq!(q["throughput_per_minute"], 0.1667, "10 requests in 60 minutes");
    assert_eq!(q["response_bytes"], 10_000);
    let w = function(&d["functions"], "webhook-monitor");
    assert_eq!((w["requests"].as_i64(), w["avg_ms"].as_f64(), w["p95_ms"].as_f64()), (Some(3), Some(7.0), Some(9.0)));
    assert_eq!(w["error_rate"], 0.0);
    let s = function(&d["functions"], "subscription-status");
    assert_eq!(
        (s["p50_ms"].as_f64(), s["p95_ms"].as_f64(), s["p99_ms"].as_f64()),
        (Some(50.0), Some(95.0), Some(99.0))
    );
    assert_eq!(s["avg_ms"], 50.5);
    assert_eq!(s["response_bytes"], 0, "rows without a size add nothing");
    let none = function(&d["functions"], "quote-pdf-generator");
    assert_eq!(none["requests"], 0);
    assert_eq!(none["error_rate"], Value::Null, "no requests: no made-up rate");
    assert_eq!(none["p95_ms"], Value::Null);

    // The 6 h window takes in the two older webhook-monitor rows.
    let d = data(&host, "/metrics?timeRange=6h");
    let w = function(&d["functions"], "webhook-monitor");
    assert_eq!((w["requests"].as_i64(), w["max_ms"].as_f64(), w["p50_ms"].as_f64()), (Some(5), Some(900.0), Some(9.0)));

    // The guide's POST form gives the same figures.
    let r = host.post(BASE).bearer(&service()).json(&json!({"operation": "metrics", "timeRange": "1h"})).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(function(&r.json()["data"]["functions"], "quote-processor")["p95_ms"], 100.0);

    // get_performance_summary as the guide runs it, and for one user.
    let mut c = db.client();
    let summary = c.query("SELECT * FROM get_performance_summary(NULL, 7)", &[]).unwrap();
    let qp_row = summary.iter().find(|r| r.get::<_, String>("function_name") == "quote-processor").unwrap();
    assert_eq!(qp_row.get::<_, i64>("requests"), 10);
    assert_eq!(qp_row.get::<_, i64>("server_errors"), 1);
    assert_eq!(qp_row.get::<_, f64>("p50_ms"), 50.0);
    assert_eq!(qp_row.get::<_, f64>("p95_ms"), 100.0);
    assert_eq!(qp_row.get::<_, f64>("p99_ms"), 100.0);
    let wm = summary.iter().find(|r| r.get::<_, String>("function_name") == "webhook-monitor").unwrap();
    assert_eq!(wm.get::<_, i64>("requests"), 5, "seven days take in every row");
    let mine = c
        .query("SELECT function_name, requests::int8 FROM get_performance_summary($1::text::uuid, 7)", &[&someone])
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].get::<_, String>(0), mine[0].get::<_, i64>(1)), ("quote-processor".to_string(), 10));
    let bad = c.query("SELECT * FROM get_performance_summary(NULL, 0)", &[]).unwrap_err();
    assert_eq!(bad.code().map(|c| c.code()), Some("22023"));
    // Not for users: the summary reads every caller's metrics.
    c.batch_execute("SET ROLE authenticated").unwrap();
    let denied = c.query("SELECT * FROM get_performance_summary(NULL, 7)", &[]).unwrap_err();
    assert_eq!(denied.code().map(|c| c.code()), Some("42501"));
    c.batch_execute("RESET ROLE; SET ROLE anon").unwrap();
    assert!(c.query("SELECT * FROM get_performance_summary(NULL, 7)", &[]).is_err());
}

#[test]
fn analyze_compares_windows_and_flags_regressions() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    // quote-processor: p95 50 ms an hour ago, 100 ms now; errors 0 % → 10 %.
    rows(&db, "quote-processor", &ok_rows((1..=10).map(|i| f64::from(i) * 5.0)), "90 minutes", None, None);
    let mut now_rows = ok_rows((1..=9).map(|i| f64::from(i) * 10.0));
    now_rows.push((100.0, 503));
    rows(&db, "quote-processor", &now_rows, "20 minutes", None, None);
    // subscription-status: the same both times.
    rows(&db, "subscription-status", &ok_rows((1..=10).map(f64::from)), "90 minutes", None, None);
    rows(&db, "subscription-status", &ok_rows((1..=10).map(f64::from)), "20 minutes", None, None);
    // webhook-monitor: too few requests to judge.
    rows(&db, "webhook-monitor", &ok_rows([1.0]), "90 minutes", None, None);
    rows(&db, "webhook-monitor", &ok_rows([500.0]), "20 minutes", None, None);

    let d = data(&host, "/analyze?timeRange=1h&minSamples=5");
    let q = function(&d["functions"], "quote-processor");
    assert_eq!(q["trend"], "slower");
    assert_eq!(q["previous"]["p95_ms"], 50.0);
    assert_eq!(q["current"]["p95_ms"], 100.0);
    assert_eq!(q["change"]["p95_percent"], 100.0);
    assert_eq!(q["change"]["error_rate_points"], 10.0);
    assert_eq!(q["regressions"].as_array().unwrap().len(), 2, "{q}");
    let s = function(&d["functions"], "subscription-status");
    assert_eq!((s["trend"].as_str(), s["change"]["p95_percent"].as_f64()), (Some("stable"), Some(0.0)));
    assert_eq!(s["regressions"], json!([]));
    let w = function(&d["functions"], "webhook-monitor");
    assert_eq!(w["trend"], "insufficient_data");
    let flagged: Vec<&str> =
        d["regressions"].as_array().unwrap().iter().map(|r| r["function"].as_str().unwrap()).collect();
    assert_eq!(flagged, ["quote-processor", "quote-processor"]);
}

#[test]
fn recommendations_come_only_from_data() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    // Healthy data: fast, no errors, steady. Nothing to recommend.
    rows(&db, "quote-processor", &ok_rows((1..=30).map(f64::from)), "90 minutes", None, None);
    rows(&db, "quote-processor", &ok_rows((1..=30).map(f64::from)), "20 minutes", None, None);
    let d = data(&host, "/recommendations?timeRange=1h");
    assert_eq!(d["recommendations"], json!([]), "{d}");
    assert_eq!(d["checked"]["functions_with_enough_requests"], json!(["quote-processor"]));
    assert_eq!(d["checked"]["latest_benchmark_run"], Value::Null);

    // A benchmark run three hours ago where one read failed half the time: outside a 1 h
    // window it says nothing; inside a 6 h window it is cited.
    db.exec(
        "INSERT INTO performance_benchmarks (run_id, function_name, probe, route, via, first_ms, first_status, samples,
           succeeded, success_rate, avg_ms, p50_ms, p95_ms, p99_ms, min_ms, max_ms, latencies_ms, cold_target_ms,
           warm_target_ms, first_within_target, repeated_within_target, requested_by, created_at)
         VALUES ('7e57a11b-0000-4000-8000-000000000001', 'batch-processor', 'read', '/functions/v1/batch-processor/jobs',
           'internal', 12, 200, 3, 2, 50.00, 5, 5, 6, 6, 4, 6, '{4,5,6}', 300, 100, true, true, 'service_role',
           now() - interval '3 hours')",
    );
    assert_eq!(data(&host, "/recommendations?timeRange=1h")["recommendations"], json!([]));
    let d = data(&host, "/recommendations?timeRange=6h");
    assert_eq!(d["checked"]["latest_benchmark_run"], "7e57a11b-0000-4000-8000-000000000001");
    let recs = d["recommendations"].as_array().unwrap();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(
        (recs[0]["function"].as_str(), recs[0]["category"].as_str()),
        (Some("batch-processor"), Some("benchmark"))
    );
    assert_eq!(recs[0]["evidence"]["success_rate"], 50.0);
    db.exec("DELETE FROM performance_benchmarks");

    // webhook-monitor turns slow and failing in the last hour.
    let mut bad = ok_rows((1..=28).map(|i| 100.0 + f64::from(i) * 10.0));
    bad.extend([(400.0, 500), (450.0, 500)]);
    rows(&db, "webhook-monitor", &bad, "10 minutes", None, None);
    let d = data(&host, "/recommendations?timeRange=1h");
    let recs = d["recommendations"].as_array().unwrap();
    let kinds: Vec<(&str, &str, &str)> = recs
        .iter()
        .map(|r| (r["function"].as_str().unwrap(), r["category"].as_str().unwrap(), r["priority"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("webhook-monitor", "latency", "high")), "{kinds:?}");
    assert!(kinds.contains(&("webhook-monitor", "errors", "high")), "{kinds:?}");
    assert!(kinds.iter().all(|(f, _, _)| *f == "webhook-monitor"), "{kinds:?}");
    let latency = recs.iter().find(|r| r["category"] == "latency").unwrap();
    assert_eq!(latency["evidence"]["p95_ms"], 400.0, "nearest-rank p95 of the 30 rows: the 29th");
    let errors = recs.iter().find(|r| r["category"] == "errors").unwrap();
    assert_eq!(errors["evidence"]["error_rate"], 6.67);
}

#[test]
fn cost_report_prices_known_rows_exactly() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    // Round prices, set through the endpoint.
    let r = e2e::Req::new("PUT", &host.url(&format!("{BASE}/cost_report/settings")))
        .bearer(&service())
        .json(&json!({
            "price_per_million_invocations": "1000", "price_per_gb_second": "0.5", "memory_mb": 1024,
            "price_per_gb_egress": "10", "database_monthly": "25.00", "monitoring_monthly": "0",
            "baseline_monthly_low": "1000", "baseline_monthly_high": "1200"
        }))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let s = r.json()["data"].clone();
    assert_eq!(s["price_per_gb_second"], "0.5000000000");
    assert_eq!(s["updated_by"], "service_role");

    // Yesterday: 1000 requests of 50 ms and 2000 bytes. The day before: 500 of 100 ms and
    // 1000 bytes, plus 10 rows without a size. Three days ago: outside a 3-day window.
    rows(&db, "quote-processor", &ok_rows(std::iter::repeat_n(50.0, 1000)), "1 day", Some(2000), None);
    rows(&db, "webhook-monitor", &ok_rows(std::iter::repeat_n(100.0, 500)), "2 days", Some(1000), None);
    rows(&db, "webhook-monitor", &ok_rows(std::iter::repeat_n(0.0, 10)), "2 days", None, None);
    rows(&db, "webhook-monitor", &ok_rows([1000.0]), "3 days", Some(1), None);
    // Rows at `now() - 1 day` fall on yesterday's UTC date unless the clock sits just past
    // midnight, where `now() - 2 days` could too; pin them to noon of their day instead.
    db.exec(
        "UPDATE performance_metrics SET created_at = date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '12 hours'
         WHERE created_at < now() - interval '12 hours'",
    );

    let d = data(&host, "/cost_report?days=3");
    let daily = d["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 3, "one row per day of the window: {daily:?}");
    assert_eq!(daily[0]["complete"], false, "today is still counting");
    let y = &daily[1];
    assert_eq!(y["invocations"], 1000);
    assert_eq!(y["compute_gb_seconds"], "50.000000");
    assert_eq!(y["egress_bytes"], 2_000_000);
    assert_eq!(y["bandwidth_gb"], "0.002000000");
    assert_eq!(y["invocation_cost"], "1.000000");
    assert_eq!(y["compute_cost"], "25.000000");
    assert_eq!(y["bandwidth_cost"], "0.020000");
    assert_eq!(y["estimated_daily_cost"], "26.020000");
    assert_eq!(y["complete"], true);
    let b = &daily[2];
    assert_eq!(b["invocations"], 510);
    assert_eq!(b["unmeasured_egress_rows"], 10);
    assert_eq!(b["invocation_cost"], "0.510000");
    assert_eq!(b["compute_cost"], "25.000000");
    assert_eq!(b["bandwidth_cost"], "0.005000");
    assert_eq!(b["estimated_daily_cost"], "25.515000");

    let m = &d["monthly_estimate"];
    assert_eq!(m["estimated"], true, "{m}");
    assert_eq!(m["based_on_days"], 2);
    // Functions: (26.00 + 25.51) / 2 × 30 = 772.65; bandwidth (0.02 + 0.005) / 2 × 30 = 0.375 → 0.38.
    assert_eq!(m["breakdown"]["edge_functions"], "772.65");
    assert_eq!(m["breakdown"]["bandwidth"], "0.38");
    assert_eq!(m["breakdown"]["database"], "25.00");
    assert_eq!(m["breakdown"]["monitoring"], "0.00");
    assert_eq!(m["total"], "798.03");
    assert_eq!(m["baseline"]["reduction_percent_vs_low"], "20.2");
    assert_eq!(m["baseline"]["reduction_percent_vs_high"], "33.5");

    // The guide's query sees the same rows; recomputing replaces them, never duplicates.
    let mut c = db.client();
    let guide = c
        .query(
            "SELECT metric_date, estimated_daily_cost::text FROM cost_metrics
             WHERE metric_date >= CURRENT_DATE - INTERVAL '30 days' ORDER BY metric_date DESC",
            &[],
        )
        .unwrap();
    assert_eq!(guide.len(), 3);
    assert_eq!(guide[1].get::<_, String>(1), "26.020000");
    let r = e2e::Req::new("PUT", &host.url(&format!("{BASE}/cost_report/settings")))
        .bearer(&service())
        .json(&json!({"price_per_gb_egress": 20}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = data(&host, "/cost_report?days=3");
    assert_eq!(d["daily"][1]["bandwidth_cost"], "0.040000");
    assert_eq!(d["daily"][1]["estimated_daily_cost"], "26.040000");
    let n: i64 = c.query_one("SELECT count(*) FROM cost_metrics", &[]).unwrap().get(0);
    assert_eq!(n, 3);

    // Without a complete day with requests there is no estimate.
    db.exec("DELETE FROM performance_metrics");
    let d = data(&host, "/cost_report?days=1");
    assert_eq!(d["monthly_estimate"]["estimated"], false);
    assert!(d["monthly_estimate"]["reason"].as_str().is_some());
}

#[test]
fn cost_settings_are_validated_and_nothing_is_stored_half_way() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let put = |body: Value| {
        e2e::Req::new("PUT", &host.url(&format!("{BASE}/cost_report/settings"))).bearer(&service()).json(&body).send()
    };
    let v = assert_problem(
        &put(json!({"price_per_gb_egress": "-1", "memory_mb": 0, "currency": "usd", "colour": "red",
                    "database_monthly": "1.234", "price_per_million_invocations": 1e-9})),
        400,
        "validation_failed",
    );
    let mut fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(
        fields,
        ["colour", "database_monthly", "memory_mb", "price_per_gb_egress", "price_per_million_invocations"]
    );
    let v = assert_problem(&put(json!({"currency": "usd"})), 400, "validation_failed");
    assert_eq!(v["errors"][0]["field"], "currency");
    let v = assert_problem(
        &put(json!({"baseline_monthly_low": "500", "baseline_monthly_high": "100"})),
        400,
        "validation_failed",
    );
    assert_eq!(v["errors"][0]["field"], "baseline_monthly_high");
    assert_problem(&put(json!([1, 2])), 400, "invalid_body");
    let s = data(&host, "/cost_report/settings");
    assert_eq!(
        (s["price_per_gb_egress"].as_str(), s["memory_mb"].as_i64(), s["baseline_monthly_high"].as_str()),
        (Some("0.090000"), Some(128), Some("165.00")),
        "the seeded prices are untouched"
    );
    assert_problem(&get_as(&host, "/cost_report?days=0", &service()), 400, "validation_failed");
    assert_problem(&get_as(&host, "/cost_report?days=x", &service()), 400, "validation_failed");
}

#[test]
fn bad_input_is_a_4xx_problem() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let t = service();
    let v = assert_problem(&get_as(&host, "/metrics?timeRange=2h", &t), 400, "validation_failed");
    assert_eq!(
        (v["errors"][0]["field"].as_str(), v["errors"][0]["code"].as_str()),
        (Some("timeRange"), Some("invalid_value"))
    );
    assert_problem(&get_as(&host, "/analyze?timeRange=1y", &t), 400, "validation_failed");
    assert_problem(&get_as(&host, "/analyze?minSamples=abc", &t), 400, "validation_failed");
    assert_problem(&get_as(&host, "/recommendations?minSamples=0", &t), 400, "validation_failed");
    let r = host
        .post(&format!("{BASE}/benchmark_all_functions"))
        .bearer(&t)
        .json(&json!({"iterations": 0, "via": "lan"}))
        .send();
    let v = assert_problem(&r, 400, "validation_failed");
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    let r = host.post(BASE).bearer(&t).json(&json!({"operation": "warm_the_caches"})).send();
    assert_problem(&r, 404, "route_not_found");
    let r = host.post(BASE).bearer(&t).json(&json!({"timeRange": "1h"})).send();
    assert_problem(&r, 400, "validation_failed");
    assert_problem(&get_as(&host, "/optimise", &t), 404, "route_not_found");
    assert_problem(&get_as(&host, "/optimize", &t), 405, "method_not_allowed");
    assert_problem(&get_as(&host, "/benchmark_all_functions", &t), 405, "method_not_allowed");
    assert_problem(&get_as(&host, "", &t), 405, "method_not_allowed");
    let r = host.post(BASE).bearer(&t).header("content-type", "application/json").body(b"{not json".to_vec()).send();
    assert_eq!(r.status, 400);
    let n: i64 = db.client().query_one("SELECT count(*) FROM performance_benchmarks", &[]).unwrap().get(0);
    assert_eq!(n, 0, "nothing stored for refused requests");
}

/// Every function's probes: their rows, and the answer's figures matching them.
fn check_run(db: &TestDb, d: &Value, via: &str, iterations: i64) {
    assert_eq!(d["via"], via);
    let names: Vec<&str> = d["functions"].as_array().unwrap().iter().map(|f| f["function"].as_str().unwrap()).collect();
    assert_eq!(names, FUNCTIONS);
    for f in d["functions"].as_array().unwrap() {
        let h = &f["health"];
        // monitoring-alerting's health reports the system's state (503 while a component is
        // down, as in a fresh database): an answer, not necessarily a 2xx.
        if f["function"] == "monitoring-alerting" {
            assert!(h["first_status"].is_u64(), "{f}");
        } else {
            assert_eq!(h["success_rate"], 100.0, "{f}");
            assert_eq!(h["first_status"], 200);
        }
        assert_eq!(h["samples"], iterations);
        assert!(h["p50_ms"].as_f64().unwrap() <= h["p95_ms"].as_f64().unwrap());
        assert!(h["p95_ms"].as_f64().unwrap() <= h["p99_ms"].as_f64().unwrap());
        assert!(h["first_within_target"].is_boolean() && h["repeated_within_target"].is_boolean());
    }
    // Reads of the functions that have them, with the token each needs.
    for name in ["subscription-status", "quote-processor", "webhook-monitor", "performance-optimizer"] {
        let read = &function(&d["functions"], name)["read"];
        assert_eq!(read["success_rate"], 100.0, "{name}: {read}");
    }
    for name in ["quote-pdf-generator", "webhook-handler"] {
        assert!(function(&d["functions"], name)["read"]["skipped"].as_str().is_some_and(|s| !s.is_empty()));
    }
    eprintln!("{via} run, probes not always 2xx: {}", d["summary"]["failing_probes"]);
    let run_id = d["run_id"].as_str().unwrap();
    let mut c = db.client();
    let stored = c
        .query(
            "SELECT function_name, probe, via, samples, array_length(latencies_ms, 1) AS n,
                    p50_ms = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(latencies_ms) v) AS p50_ok,
                    p95_ms = (SELECT percentile_disc(0.95) WITHIN GROUP (ORDER BY v) FROM unnest(latencies_ms) v) AS p95_ok,
                    p99_ms = (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY v) FROM unnest(latencies_ms) v) AS p99_ok
             FROM performance_benchmarks WHERE run_id = $1::text::uuid",
            &[&run_id],
        )
        .unwrap();
    assert_eq!(stored.len(), 20, "11 health probes and 9 reads");
    let mut fns: Vec<String> = stored.iter().map(|r| r.get::<_, String>(0)).collect();
    fns.dedup();
    assert_eq!(fns.len(), 11, "every function has rows");
    for r in &stored {
        assert_eq!(r.get::<_, String>("via"), via);
        assert_eq!(r.get::<_, i32>("samples") as i64, iterations);
        assert_eq!(r.get::<_, i32>("n") as i64, iterations);
        assert!(r.get::<_, bool>("p50_ok") && r.get::<_, bool>("p95_ok") && r.get::<_, bool>("p99_ok"));
    }
    assert_eq!(d["summary"]["probes"], 20);
}

#[test]
fn benchmark_all_functions_measures_every_function_through_the_host() {
    let db = TestDb::new();
    let (host, _) = host_at(&db, &[]);
    // The guide's call: the service role, the bare path.
    let r = host
        .post(BASE)
        .bearer(&service())
        .json(&json!({"operation": "benchmark_all_functions", "iterations": 3}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    check_run(&db, &d, "internal", 3);
    assert_eq!(d["targets"]["cold_ms"], 300.0);
    assert_eq!(d["targets"]["warm_ms"], 100.0);

    // An admin user, through the front door: the caller's own token serves the user reads.
    let admin = db.user("admin@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));
    let r = host
        .post(&format!("{BASE}/benchmark-all-functions"))
        .bearer(&Jwt::user(&admin))
        .json(&json!({"iterations": 2, "via": "public"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let d = r.json()["data"].clone();
    check_run(&db, &d, "public", 2);
    let by: String = db
        .client()
        .query_one(
            "SELECT DISTINCT requested_by FROM performance_benchmarks WHERE run_id = $1::text::uuid",
            &[&d["run_id"].as_str().unwrap()],
        )
        .unwrap()
        .get(0);
    assert_eq!(by, admin);
    // The benchmark's own requests are in the metrics like any others.
    let health_rows = || -> i64 {
        db.client()
            .query_one(
                "SELECT count(*) FROM performance_metrics WHERE route = '/functions/v1/quote-processor/health'",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let started = std::time::Instant::now();
    while health_rows() < 7 && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(health_rows(), 4 + 3, "first call and repeated calls of both runs");

    // The latest run feeds recommendations: its figures are cited, nothing else invented.
    let rec = data(&host, "/recommendations?timeRange=1h");
    assert_eq!(rec["checked"]["latest_benchmark_run"], d["run_id"]);
    for r in rec["recommendations"].as_array().unwrap() {
        if r["category"] == "benchmark" {
            assert_eq!(r["evidence"]["run_id"], d["run_id"]);
        }
    }
}

/// The attack on the public metrics: hash likely addresses (`postgres://postgres@127.0.0.1:
/// 5432/postgres`, the database names of a default setup, ...) until one gives a pool's label,
/// and so learn where the database is and as whom the host connects. Here with the one right
/// guess, the address itself: its plain hash must not be the label.
#[test]
fn public_pool_labels_cannot_be_recovered_by_hashing_guessed_addresses() {
    let db = TestDb::new();
    let user = db.user("someone@example.test");
    let host = Host::start(HostConfig::app(&db));
    assert_eq!(host.get("/functions/v1/subscription-status").bearer(&Jwt::user(&user)).send().status, 200);
    let pools = e2e::Req::new("GET", &host.url("/.well-known/edge/pool")).bearer(&service()).send().json();
    let address = pools["pools"][0]["database"].as_str().expect("the pool's address, for the service role").to_string();
    let metrics = host.get("/.well-known/edge/metrics").send().text();
    let line =
        metrics.lines().find(|l| l.starts_with("edge_pg_pool{") && l.contains("figure=\"acquired\"")).expect(&metrics);
    let label = line.split("pool=\"").nth(1).and_then(|rest| rest.split('"').next()).expect(line);
    assert_eq!(label.len(), 8, "{line}");
    let plain_hash: String =
        hmac_sha256::Hash::hash(address.as_bytes())[..4].iter().map(|b| format!("{b:02x}")).collect();
    assert_ne!(label, plain_hash, "the label is the plain hash of {address}: {line}");
    assert!(!line.contains("database="), "no database name in public: {line}");
    assert!(!metrics.contains(&db.name), "the database name is in the public metrics:\n{metrics}");
    // A restarted host labels the same pool anew: nothing about the label is fixed by the address.
    drop(host);
    let host = Host::start(HostConfig::app(&db));
    assert_eq!(host.get("/functions/v1/subscription-status").bearer(&Jwt::user(&user)).send().status, 200);
    let metrics = host.get("/.well-known/edge/metrics").send().text();
    assert!(!metrics.contains(&format!("pool=\"{label}\"")), "{metrics}");
}

#[test]
fn pool_statistics_where_the_host_exposes_them() {
    let db = TestDb::new();
    // Not configured: said so, with the reason.
    let host = Host::start(HostConfig::app(&db));
    let d = data(&host, "/pool");
    assert_eq!(d["available"], false);
    assert!(d["reason"].as_str().unwrap().contains("pool_stats"), "{d}");
    drop(host);

    let (host, base) = host_at(&db, &[("pool_stats", "edge")]);
    // The host endpoint itself: the service role only.
    let pool = format!("{base}/.well-known/edge/pool");
    assert_eq!(e2e::Req::new("GET", &pool).send().status, 401);
    let user = db.user("user@example.test");
    assert_eq!(e2e::Req::new("GET", &pool).bearer(&Jwt::user(&user)).send().status, 403);
    let forged = e2e::sign::jwt_hs256(
        &json!({"sub": SERVICE_SUB, "role": "service_role", "aud": "authenticated", "iss": Jwt::issuer(), "exp": e2e::sign::now_unix() + 60}),
        "a-different-secret-that-is-long-enough-to-use",
    );
    assert_eq!(e2e::Req::new("GET", &pool).bearer(&forged).send().status, 401);
    let r = e2e::Req::new("GET", &pool).bearer(&service()).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["pools"].is_array());

    let d = data(&host, "/pool");
    assert_eq!(d["available"], true, "{d}");
    let pools = d["host"]["pools"].as_array().unwrap();
    assert_eq!(pools.len(), 1, "one database");
    let p = &pools[0];
    // The test database is on this machine: two connections per core and one more.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(p["max_connections"], 2 * cores + 1, "{p}");
    assert!(p["in_use"].as_i64().unwrap() >= 1, "this request holds one: {p}");
    assert!(p["acquired"].as_i64().unwrap() >= 1);
    assert!(p["created"].as_i64().unwrap() >= 1);
    assert!(!p["database"].as_str().unwrap().contains("password"));

    // The public Prometheus figures tell pools apart without saying where the database is,
    // as whom the host connects or under what name (that is for the service role, above).
    let metrics = e2e::Req::new("GET", &format!("{base}/.well-known/edge/metrics")).send();
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    let address = p["database"].as_str().unwrap();
    let (user_and_host, dbname) = address.trim_start_matches("postgres://").rsplit_once('/').unwrap();
    // (The port is left out: its digits may well occur in a counter.)
    let (user, host_and_port) = user_and_host.split_once('@').unwrap();
    let db_host = host_and_port.rsplit_once(':').map_or(host_and_port, |(h, _)| h);
    for secret in [user, db_host, dbname] {
        assert!(!text.contains(secret), "`{secret}` of {address} is in the public metrics:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("edge_pg_pool{") && l.contains("figure=\"acquired\"")), "{text}");
    assert_eq!(
        p["utilisation_percent"].as_f64().unwrap(),
        (100.0 * p["in_use"].as_f64().unwrap() / p["max_connections"].as_f64().unwrap() * 10.0).round() / 10.0
    );
}

#[test]
fn request_metrics_rows_carry_the_response_size_and_can_be_switched_off() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let r = host.get(&format!("{BASE}/health")).send();
    assert_eq!(r.status, 200);
    let len = r.body.len() as i64;
    let row = || -> Option<i64> {
        let rows = db
            .client()
            .query("SELECT response_bytes FROM performance_metrics WHERE route = '/functions/v1/performance-optimizer/health'", &[])
            .unwrap();
        rows.first().map(|r| r.get::<_, i64>(0))
    };
    let started = std::time::Instant::now();
    while row().is_none() && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(row(), Some(len), "the row records the body's length");
    drop(host);

    db.exec("DELETE FROM performance_metrics");
    let host = Host::start(HostConfig::app(&db).var("request_metrics", "off"));
    for _ in 0..3 {
        assert_eq!(host.get(&format!("{BASE}/health")).send().status, 200);
    }
    assert!(host
        .wait_for_output(|o| o.matches("performance-optimizer] GET").count() >= 3, std::time::Duration::from_secs(5)));
    std::thread::sleep(std::time::Duration::from_millis(300));
    let n: i64 = db.client().query_one("SELECT count(*) FROM performance_metrics", &[]).unwrap().get(0);
    assert_eq!(n, 0, "request_metrics = off writes no row");
}
