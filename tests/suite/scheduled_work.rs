//! Work that runs by itself: the schedule in spin.toml, run by `edge up` with a service-role
//! token it mints, advances batch jobs to the end, evaluates an active migration (and so rolls
//! a failing green back), fills cost_metrics and applies the retention of performance_metrics,
//! with no client calling anything. The host runs a copy of spin.toml whose intervals are
//! shortened to seconds (beside it, so the components' relative paths resolve).

use e2e::{root, Host, HostConfig, Jwt, Plan, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

/// spin.toml with every schedule's interval shortened to `every`; removed when dropped.
struct FastSchedule(std::path::PathBuf);

impl FastSchedule {
    fn new(tag: &str, every: &str) -> FastSchedule {
        let manifest = std::fs::read_to_string(root().join("spin.toml")).unwrap();
        let fast = manifest
            .replace("every = \"60s\"", &format!("every = \"{every}\""))
            .replace("every = \"24h\"", &format!("every = \"{every}\""));
        assert_ne!(fast, manifest, "spin.toml has schedules");
        let path = root().join(format!(".spin-schedule-{tag}-{}.toml", std::process::id()));
        std::fs::write(&path, fast).unwrap();
        FastSchedule(path)
    }

    fn host(&self, cfg: HostConfig) -> Host {
        Host::start(HostConfig { manifest: self.0.clone(), ..cfg })
    }
}

impl Drop for FastSchedule {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
}

fn text(db: &TestDb, sql: &str) -> String {
    db.client().query_one(sql, &[]).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
}

/// Wait for `sql` (a count) to reach `want`.
fn until(db: &TestDb, sql: &str, want: i64, limit: Duration, host: &Host) {
    let started = Instant::now();
    loop {
        if scalar(db, sql) >= want {
            return;
        }
        assert!(started.elapsed() < limit, "{sql} did not reach {want} in {limit:?}:\n{}", host.output());
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_thousand_item_job_finishes_with_no_client_call() {
    let db = TestDb::new();
    let user = db.user("bulk@example.test");
    db.subscribe(&user, Plan { bulk_operations: true, ..Plan::unlimited() });
    let fast = FastSchedule::new("batch", "2s");
    let host = fast.host(HostConfig::app(&db));
    let items: Vec<Value> =
        (0..1000).map(|i| json!({"name": format!("item-{i:04}"), "cost": format!("{}.{:02}", i, i % 100)})).collect();
    let r = host
        .post("/functions/v1/batch-processor")
        .bearer(&Jwt::user(&user))
        .json(&json!({"operation": "bulk_create_items", "items": items}))
        .send();
    assert_eq!(r.status, 202, "{}", r.text());
    let job = r.json()["id"].as_str().unwrap().to_string();
    // Nobody calls /run: the schedule's /jobs/advance does the work.
    until(
        &db,
        &format!("SELECT count(*) FROM batch_jobs WHERE id = '{job}' AND status = 'completed'"),
        1,
        Duration::from_secs(120),
        &host,
    );
    assert_eq!(scalar(&db, &format!("SELECT processed_items::int8 FROM batch_jobs WHERE id = '{job}'")), 1000);
    assert_eq!(
        scalar(&db, &format!("SELECT count(*) FROM batch_job_items WHERE job_id = '{job}' AND status = 'processed'")),
        1000
    );
    assert_eq!(scalar(&db, "SELECT count(DISTINCT name) FROM line_items"), 1000);
    assert_eq!(scalar(&db, "SELECT count(*) FROM line_items"), 1000);
    // The items belong to the job's owner (the work ran as them, never as the service role).
    assert_eq!(scalar(&db, &format!("SELECT count(*) FROM line_items WHERE user_id = '{user}'")), 1000);
    assert!(
        host.output().contains("[schedule] POST /functions/v1/batch-processor/jobs/advance -> 200"),
        "{}",
        host.output()
    );
}

#[test]
fn an_active_migration_is_evaluated_and_a_failing_green_rolled_back_by_itself() {
    let db = TestDb::new();
    let broken = db.url.rsplit_once('/').map(|(base, _)| format!("{base}/no_such_database")).unwrap();
    let green = Host::start(HostConfig::app(&db).var("deployment_color", "green").var("db_url", &broken));
    let fast = FastSchedule::new("canary", "2s");
    let blue = fast.host(
        HostConfig::app(&db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base),
    );
    let init = blue
        .post("/functions/v1/migration-controller")
        .bearer(&Jwt::token(SERVICE_SUB, "service_role"))
        .json(&json!({"operation": "initialize_migration", "target_traffic_percent": 50, "min_samples": 20, "bake_time_seconds": 1}))
        .send();
    assert_eq!(init.status, 201, "{}", init.text());
    for n in 0..120u32 {
        let user = format!("00000003-0000-4000-8000-{n:012x}");
        blue.get("/functions/v1/subscription-status").bearer(&Jwt::user(&user)).send();
    }
    // No one calls evaluate: the schedule does, and the breached gate rolls back.
    until(&db, "SELECT count(*) FROM migration_runs WHERE status = 'rolled_back'", 1, Duration::from_secs(60), &blue);
    let reason = text(&db, "SELECT reason FROM migration_rollbacks WHERE automatic");
    assert!(reason.starts_with("automatic rollback: green_error_rate"), "{reason}");
    assert_eq!(text(&db, "SELECT actor FROM migration_transitions WHERE action = 'auto_rollback'"), "service_role");
}

#[test]
fn cost_report_and_retention_run_by_themselves() {
    let db = TestDb::new();
    // Ten requests 20 days ago and five today.
    db.exec(
        "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, response_bytes, created_at)
         SELECT 'quote-processor', '/functions/v1/quote-processor', 'GET', CASE WHEN g = 1 THEN 500 ELSE 200 END,
                10 * g, 1000, date_trunc('day', now()) - interval '20 days' + interval '3 hours'
         FROM generate_series(1, 10) g;
         INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, response_bytes)
         SELECT 'subscription-status', '/functions/v1/subscription-status', 'GET', 200, 5, 500 FROM generate_series(1, 5);",
    );
    let fast = FastSchedule::new("daily", "2s");
    let host = fast.host(HostConfig::app(&db).var("metrics_retention_days", "10"));
    let old_day = "(now() AT TIME ZONE 'UTC')::date - 20";
    // The retention rolled the old day up and deleted its rows...
    until(
        &db,
        &format!("SELECT count(*) FROM performance_metrics_daily WHERE metric_date = {old_day}"),
        1,
        Duration::from_secs(60),
        &host,
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM performance_metrics WHERE created_at < now() - interval '10 days'"),
        0
    );
    let row = db
        .client()
        .query_one(
            &format!("SELECT requests, server_errors, max_ms, response_bytes FROM performance_metrics_daily WHERE metric_date = {old_day}"),
            &[],
        )
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, f64>(2), row.get::<_, i64>(3)),
        (10, 1, 100.0, 10_000)
    );
    // ...and the daily cost report keeps that day's figures from the roll-up.
    until(
        &db,
        &format!("SELECT count(*) FROM cost_metrics WHERE metric_date = {old_day} AND edge_function_invocations = 10"),
        1,
        Duration::from_secs(60),
        &host,
    );
    until(&db, "SELECT count(*) FROM cost_metrics WHERE metric_date = (now() AT TIME ZONE 'UTC')::date AND edge_function_invocations >= 5", 1, Duration::from_secs(60), &host);
    assert_eq!(scalar(&db, &format!("SELECT server_errors::int8 FROM cost_metrics WHERE metric_date = {old_day}")), 1);
    let out = host.output();
    assert!(out.contains("[schedule] POST /functions/v1/performance-optimizer/retention -> 200"), "{out}");
    assert!(out.contains("[schedule] POST /functions/v1/performance-optimizer/cost_report -> 200"), "{out}");
}

#[test]
fn the_scheduled_endpoints_refuse_users_and_bad_input() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let user = Jwt::user(&db.user("u@example.test"));
    let r = host.post("/functions/v1/batch-processor/jobs/advance").bearer(&user).send();
    assert_eq!((r.status, r.json()["code"].as_str()), (403, Some("service_role_required")), "{}", r.text());
    assert_eq!(host.get("/functions/v1/batch-processor/jobs/advance").bearer(&user).send().status, 400);
    let service = Jwt::token(SERVICE_SUB, "service_role");
    let r = host.post("/functions/v1/batch-processor/jobs/advance").bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["jobs_advanced"], 0);
    let r = host.post("/functions/v1/performance-optimizer/retention?keep_days=0").bearer(&service).send();
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert_eq!(r.json()["errors"][0]["field"], "keep_days");
    let r = host.post("/functions/v1/performance-optimizer/retention").bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["rows_deleted"], 0);
    assert_eq!(host.post("/functions/v1/performance-optimizer/retention").bearer(&user).send().status, 403);
}
