//! migration-controller and the canary middleware with two real hosts on one database: a blue
//! one (`deployment_color` blue, `green_base_url` pointing at the green host) and a green one.
//! The split is counted from the colour each response reports and from the metrics rows; the
//! same key always lands on the same colour; a green that fails is rolled back by the gates; a
//! healthy green goes 5 → 25 → 50 → 100 and completes; refusals come with their reasons.

use e2e::{Host, HostConfig, HttpResponse, Jwt, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BASE: &str = "/functions/v1/migration-controller";
const COVERED: &str = "/functions/v1/subscription-status";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

fn service() -> String {
    Jwt::token(SERVICE_SUB, "service_role")
}

/// The same bucket as `shared::canary::bucket` (checked against `route?key=` below).
fn bucket(key: &str) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % 100) as u8
}

/// A fresh user id (`n` makes it distinct within a test).
fn user_id(tag: u32, n: u32) -> String {
    format!("{tag:08x}-{:04x}-4000-8000-{n:012x}", n >> 16)
}

/// `count` users whose bucket satisfies `want`.
fn users_where(tag: u32, count: usize, want: impl Fn(u8) -> bool) -> Vec<String> {
    (0..).map(|n| user_id(tag, n)).filter(|u| want(bucket(&format!("user:{u}")))).take(count).collect()
}

fn green_host(db: &TestDb) -> Host {
    // A green_base_url of its own that leads nowhere: green must never forward, whatever it is set to.
    Host::start(HostConfig::app(db).var("deployment_color", "green").var("green_base_url", "http://127.0.0.1:9"))
}

fn blue_host(db: &TestDb, green: &Host) -> Host {
    Host::start(
        HostConfig::app(db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base),
    )
}

fn call(host: &Host, body: Value) -> HttpResponse {
    host.post(BASE).bearer(&service()).json(&body).send()
}

fn ok_data(r: &HttpResponse) -> Value {
    assert!(r.status == 200 || r.status == 201, "{}: {}", r.status, r.text());
    let v = r.json();
    assert_eq!(v["success"], true, "{v}");
    v["data"].clone()
}

fn assert_problem(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    v
}

/// A covered request as `user`; returns the colour that served it.
fn visit(host: &Host, user: &str) -> String {
    let r = host.get(COVERED).bearer(&Jwt::user(user)).send();
    assert!(r.status < 600, "{}", r.text());
    r.header("x-deployment-color").unwrap_or_else(|| panic!("no colour header: {:?}", r.headers)).to_string()
}

/// Visit as every user from `threads` threads; the colours in the users' order.
fn visit_all(host: &Host, users: &[String], threads: usize) -> Vec<String> {
    let chunk = users.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = users
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(|u| visit(host, u)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Metrics rows of the covered function by colour (health excluded), once `expect` holds
/// (rows are written after each response is sent).
fn rows_by_colour(db: &TestDb, expect: impl Fn(i64, i64, i64) -> bool) -> (i64, i64, i64) {
    let started = Instant::now();
    loop {
        let row = db
            .client()
            .query_one(
                "SELECT count(*) FILTER (WHERE deployment_color = 'blue'),
                        count(*) FILTER (WHERE deployment_color = 'forwarded'),
                        count(*) FILTER (WHERE deployment_color = 'green')
                   FROM performance_metrics WHERE function_name = 'subscription-status' AND route NOT LIKE '%/health'",
                &[],
            )
            .unwrap();
        let counts = (row.get(0), row.get(1), row.get(2));
        if expect(counts.0, counts.1, counts.2) || started.elapsed() > Duration::from_secs(20) {
            return counts;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scalar(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn a_quarter_of_distinct_keys_goes_green_and_each_key_stays_put() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);

    // Before any migration everything stays on blue, with no forwarding.
    assert_eq!(visit(&blue, &user_id(1, 999_999)), "blue");
    assert_eq!(rows_by_colour(&db, |b, _, _| b >= 1), (1, 0, 0));

    let data = ok_data(&call(&blue, json!({"operation": "initialize_migration", "target_traffic_percent": 25})));
    assert_eq!(data["migration"]["traffic_percent"], 25);
    assert_eq!(data["migration"]["steps"], json!([5, 25, 50, 100]));

    let users: Vec<String> = (0..2000).map(|n| user_id(2, n)).collect();
    let colours = visit_all(&blue, &users, 4);
    let green_count = colours.iter().filter(|c| *c == "green").count();
    assert!((440..=560).contains(&green_count), "{green_count} of 2000 went green, not 25 % ± 3 %");
    assert_eq!(colours.iter().filter(|c| *c == "blue").count(), 2000 - green_count);
    // Each key went where its bucket says.
    for (u, c) in users.iter().zip(&colours) {
        let expected = if bucket(&format!("user:{u}")) < 25 { "green" } else { "blue" };
        assert_eq!(c, expected, "{u}");
    }
    // The metrics rows say the same: blue's own, blue's forwarded ones, green's own.
    let g = green_count as i64;
    let b = 2000 - g + 1;
    let (blue_rows, forwarded_rows, green_rows) = rows_by_colour(&db, |bl, f, gr| bl >= b && f >= g && gr >= g);
    assert_eq!((blue_rows, forwarded_rows, green_rows), (b, g, g));
    // No forwarded request failed, and green never forwarded (its green_base_url leads nowhere).
    assert_eq!(scalar(&db, "SELECT count(*) FROM performance_metrics WHERE status = 502"), 0);

    // Sticky: the same keys again land on the same colours.
    let again = visit_all(&blue, &users[..300], 4);
    assert_eq!(again, colours[..300].to_vec());

    // route?key= agrees with the middleware, by path and by the guide's body.
    for u in users.iter().take(20) {
        let r = blue.get(&format!("{BASE}/route?key=user:{u}")).bearer(&service()).send();
        let d = ok_data(&r);
        assert_eq!(d["bucket"], bucket(&format!("user:{u}")) as i64);
        assert_eq!(d["colour"], if bucket(&format!("user:{u}")) < 25 { "green" } else { "blue" });
    }
    let d = ok_data(&call(&blue, json!({"operation": "route", "key": users[0]})));
    assert_eq!(d["key"], format!("user:{}", users[0]));

    // The measured split of the step, from the rows.
    let g_again = again.iter().filter(|c| *c == "green").count() as i64;
    let (_, forwarded_rows, _) = rows_by_colour(&db, |_, f, _| f >= g + g_again);
    assert_eq!(forwarded_rows, g + g_again);
    let d = ok_data(&blue.get(&format!("{BASE}/traffic-split")).bearer(&service()).send());
    assert_eq!(d["traffic_percent"], 25);
    assert_eq!(d["requests"]["forwarded_to_green"].as_i64().unwrap(), g + g_again);
    assert_eq!(d["requests"]["served_by_blue"].as_i64().unwrap(), 2300 - g - g_again);
    let measured = d["measured_green_percent"].as_f64().unwrap();
    assert!((22.0..=28.0).contains(&measured), "{measured}");

    // Health answers stay local on blue; a direct request to green is served by green.
    let r = blue.get(&format!("{COVERED}/health")).send();
    assert_eq!(r.header("x-deployment-color"), Some("blue"));
    assert_eq!(visit(&green, &users[0]), "green");
}

#[test]
fn a_green_that_fails_is_rolled_back_automatically() {
    let db = TestDb::new();
    // Green answers its health checks but cannot reach its database: every real request fails.
    let broken = db.url.rsplit_once('/').map(|(base, _)| format!("{base}/no_such_database")).unwrap();
    let green = Host::start(HostConfig::app(&db).var("deployment_color", "green").var("db_url", &broken));
    let blue = blue_host(&db, &green);

    let body = json!({"operation": "initialize_migration", "target_traffic_percent": 25, "min_samples": 20, "bake_time_seconds": 1});
    let run = ok_data(&call(&blue, body))["migration"]["id"].as_str().unwrap().to_string();
    let users: Vec<String> = (0..200).map(|n| user_id(3, n)).collect();
    let colours = visit_all(&blue, &users, 4);
    let green_count = colours.iter().filter(|c| *c == "green").count() as i64;
    assert!(green_count >= 20, "{green_count}");
    rows_by_colour(&db, |_, f, _| f >= green_count);

    let d = ok_data(&call(&blue, json!({"operation": "evaluate"})));
    assert_eq!(d["action"], "rolled_back", "{d}");
    assert_eq!(d["migration"]["status"], "rolled_back");
    assert_eq!(d["migration"]["traffic_percent"], 0);
    let reason = d["rollback_reason"].as_str().unwrap();
    assert!(reason.contains("green_error_rate") && reason.contains("100.00 %"), "{reason}");

    // Recorded: the rollback (automatic, with the traffic it had), the transition with its figures.
    let row = db
        .client()
        .query_one(
            "SELECT automatic, traffic_at_rollback, reason FROM migration_rollbacks WHERE run_id = $1::text::uuid",
            &[&run],
        )
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i32>(1), 25);
    assert_eq!(row.get::<_, String>(2), reason);
    let metrics: String = db
        .client()
        .query_one(
            "SELECT metrics::text FROM migration_transitions WHERE run_id = $1::text::uuid AND action = 'auto_rollback'",
            &[&run],
        )
        .unwrap()
        .get(0);
    let metrics: Value = serde_json::from_str(&metrics).unwrap();
    assert_eq!(metrics["green_as_served_to_clients"]["errors"], green_count);

    // Traffic is back on blue at once.
    let again = visit_all(&blue, &users, 4);
    assert!(again.iter().all(|c| c == "blue"));
    let s = ok_data(&blue.get(&format!("{BASE}/status")).bearer(&service()).send());
    assert_eq!(s["active"], false);
    assert_eq!(s["rollback"]["automatic"], true);
    assert_eq!(s["transitions"][0]["action"], "auto_rollback");
}

#[test]
fn a_healthy_green_advances_step_by_step_and_completes_after_bake() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);
    // Both deployments serve a few requests first, as running ones have: the first requests of
    // a freshly started host (instances faulted in, pools filled) are no measure of its
    // latency, and on a busy machine they alone can exceed the gate. The step's figures count
    // only what is served after it starts.
    let warm_up = users_where(9, 20, |_| true);
    visit_all(&green, &warm_up, 2);
    visit_all(&blue, &warm_up, 2);

    // The default gates: a latency regression must be relative and absolute, on 20 timings a side.
    let body = json!({"operation": "initialize_migration", "target_traffic_percent": 5, "bake_time_seconds": 1,
        "min_samples": 5, "functions": ["subscription-status"]});
    let r = call(&blue, body);
    assert_eq!(r.status, 201, "{}", r.text());
    // Too early: the bake time has not passed.
    let p = assert_problem(&call(&blue, json!({"operation": "advance"})), 409, "bake_time_not_elapsed");
    assert!(p["detail"].as_str().unwrap().contains("remain"), "{p}");

    let mut percent = 5;
    for (i, next) in [25, 50, 100, 0].into_iter().enumerate() {
        let tag = 10 + i as u32;
        let to_green = users_where(tag, 20, |b| (b as i64) < percent);
        let colours = visit_all(&blue, &to_green, 2);
        assert!(colours.iter().all(|c| c == "green"), "at {percent} %: {colours:?}");
        if percent < 100 {
            let to_blue = users_where(tag, 20, |b| (b as i64) >= percent);
            assert!(visit_all(&blue, &to_blue, 2).iter().all(|c| c == "blue"));
        }
        std::thread::sleep(Duration::from_millis(1100));
        let d = ok_data(&call(&blue, json!({"operation": "evaluate"})));
        assert_eq!(d["action"], "none", "{d}");
        assert_eq!(d["evaluation"]["all_pass"], true, "{d}");
        let r =
            blue.post(&format!("{BASE}/advance")).bearer(&service()).json(&json!({"reason": "step looks fine"})).send();
        let d = ok_data(&r);
        if next == 0 {
            assert_eq!(d["migration"]["status"], "completed");
            assert_eq!(d["migration"]["traffic_percent"], 100);
        } else {
            assert_eq!(d["migration"]["traffic_percent"], next);
            assert_eq!(d["previous_percent"], percent);
            percent = next;
        }
    }
    let s = ok_data(&blue.get(BASE).bearer(&service()).send());
    assert_eq!(s["migration"]["status"], "completed");
    let actions: Vec<&str> =
        s["transitions"].as_array().unwrap().iter().rev().map(|t| t["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["initialize", "advance", "advance", "advance", "complete"]);
    let t = &s["transitions"][1];
    assert_eq!((t["from_percent"].as_i64(), t["to_percent"].as_i64()), (Some(50), Some(100)));
    assert_eq!(t["actor"], "service_role");
    assert_eq!(t["reason"], "step looks fine");
    assert!(t["metrics"]["green_as_served_to_clients"]["samples"].as_i64().unwrap() >= 20, "{t}");
    assert!(scalar(&db, "SELECT count(*) FROM migration_health_checks WHERE ok") >= 5);
    // A completed migration no longer forwards; green is now the deployment of record.
    assert_eq!(visit(&blue, &user_id(20, 1)), "blue");
}

#[test]
fn refusals_carry_their_reasons() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);

    // No green configured (green's own green_base_url is for forwarding tests; use a bare host).
    let bare = Host::start(HostConfig::app(&db));
    assert_problem(&call(&bare, json!({"operation": "initialize_migration"})), 409, "green_not_configured");

    let body = json!({"operation": "initialize_migration", "target_traffic_percent": 50, "min_samples": 1000,
        "bake_time_seconds": 1});
    assert_eq!(call(&blue, body.clone()).status, 201);
    // One active migration at a time.
    assert_problem(&call(&blue, body.clone()), 409, "migration_active");
    // Baked, but nowhere near 1,000 samples.
    visit_all(&blue, &users_where(30, 10, |_| true), 2);
    std::thread::sleep(Duration::from_millis(1100));
    let p = assert_problem(&call(&blue, json!({"operation": "advance"})), 422, "insufficient_samples");
    assert!(p["detail"].as_str().unwrap().contains("of 1000"), "{p}");
    assert_eq!(p["evaluation"]["gates"][0]["status"], "insufficient");

    // Setting the split directly restarts the bake.
    let d = ok_data(
        &blue.post(&format!("{BASE}/traffic-split")).bearer(&service()).json(&json!({"targetPercent": 10})).send(),
    );
    assert_eq!(d["migration"]["traffic_percent"], 10);
    assert_problem(&call(&blue, json!({"operation": "traffic-split", "target_percent": 10})), 409, "traffic_unchanged");

    // The guide's rollback call.
    let d =
        ok_data(&call(&blue, json!({"operation": "execute_rollback", "reason": "Performance degradation detected"})));
    assert_eq!(d["migration"]["status"], "rolled_back");
    assert_eq!(d["rollback"]["automatic"], false);
    assert_eq!(d["rollback"]["traffic_at_rollback"], 10);
    assert_eq!(d["migration"]["finish_reason"], "Performance degradation detected");
    // Every transition carries what it was decided on.
    let s = ok_data(&blue.get(&format!("{BASE}/status")).bearer(&service()).send());
    let actions: Vec<&str> =
        s["transitions"].as_array().unwrap().iter().rev().map(|t| t["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["initialize", "traffic_split", "rollback"]);
    assert_eq!(s["transitions"][2]["metrics"]["health_checks"].as_array().unwrap().len(), 5);
    let split = &s["transitions"][1];
    assert_eq!(split["metrics"]["last_evaluation"]["evaluation"]["gates"][0]["status"], "insufficient", "{split}");
    assert_eq!(s["transitions"][0]["reason"], "Performance degradation detected");
    assert_problem(&call(&blue, json!({"operation": "advance"})), 409, "no_active_migration");
    assert_problem(
        &call(&blue, json!({"operation": "execute_rollback", "reason": "again"})),
        409,
        "no_active_migration",
    );
    assert_problem(&call(&blue, json!({"operation": "evaluate"})), 409, "no_active_migration");
    // After the rollback a new migration may start.
    assert_eq!(call(&blue, body).status, 201);
    assert_eq!(scalar(&db, "SELECT count(*) FROM migration_runs"), 2);
}

#[test]
fn admins_only_and_bad_input_stores_nothing() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);
    let admin = db.user("ops@example.com");
    let user = db.user("someone@example.com");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));

    let init = json!({"operation": "initialize_migration", "target_traffic_percent": 5});
    assert_problem(&blue.post(BASE).json(&init).send(), 401, "missing_token");
    let r = blue.post(BASE).bearer(&Jwt::user(&user)).json(&init).send();
    assert_eq!(r.status, 403, "{}", r.text());
    let r = blue.get(&format!("{BASE}/status")).bearer(&Jwt::user(&admin)).send();
    assert_eq!(ok_data(&r)["active"], false);

    let bad = [
        json!({"operation": "initialize_migration", "target_traffic_percent": 0}),
        json!({"operation": "initialize_migration", "target_traffic_percent": "five"}),
        json!({"operation": "initialize_migration", "steps": [50, 25, 100]}),
        json!({"operation": "initialize_migration", "steps": [5, 50]}),
        json!({"operation": "initialize_migration", "bake_time_seconds": 0}),
        json!({"operation": "initialize_migration", "gates": {"max_error_rate": 1.5}}),
        json!({"operation": "initialize_migration", "gates": {"max_p95_ratio": 0.9}}),
        json!({"operation": "initialize_migration", "functions": ["migration-controller"]}),
        json!({"operation": "initialize_migration", "bake_time": 60}),
    ];
    for body in bad {
        let v = assert_problem(&call(&blue, body.clone()), 400, "validation_failed");
        assert!(!v["errors"].as_array().unwrap().is_empty(), "{body}: {v}");
    }
    assert_problem(&call(&blue, json!({"operation": "launch"})), 404, "route_not_found");
    assert_problem(&call(&blue, json!({"target_traffic_percent": 5})), 400, "validation_failed");
    let r = blue
        .post(BASE)
        .bearer(&service())
        .header("content-type", "application/json")
        .body(b"{\"operation\":".to_vec())
        .send();
    assert_problem(&r, 400, "malformed_json");
    assert_problem(&blue.get(&format!("{BASE}/advance")).bearer(&service()).send(), 405, "method_not_allowed");
    assert_problem(&blue.get(&format!("{BASE}/route")).bearer(&service()).send(), 400, "validation_failed");
    assert_problem(&blue.post(&format!("{BASE}/nope")).bearer(&service()).send(), 404, "route_not_found");
    assert_eq!(scalar(&db, "SELECT count(*) FROM migration_runs"), 0);

    // An admin user may run one; the transition names them.
    let r = blue.post(BASE).bearer(&Jwt::user(&admin)).json(&init).send();
    assert_eq!(r.status, 201, "{}", r.text());
    let bad_split = [
        json!({"operation": "traffic-split"}),
        json!({"operation": "traffic-split", "target_percent": 101}),
        json!({"operation": "execute_rollback", "reason": "x".repeat(501)}),
        json!({"operation": "execute_rollback", "reason": 5}),
    ];
    for body in bad_split {
        assert_problem(&call(&blue, body), 400, "validation_failed");
    }
    let actor: String = db.client().query_one("SELECT actor FROM migration_transitions", &[]).unwrap().get(0);
    assert_eq!(actor, format!("user:{admin}"));
    assert_eq!(scalar(&db, "SELECT count(*) FROM migration_runs WHERE status = 'active' AND traffic_percent = 5"), 1);
}

/// One round of the same traffic on both colours: `n` users that go green, `n` that stay blue.
fn both_colours(blue: &Host, tag: u32, n: usize, percent: i64) {
    let green_users = users_where(tag, n, |b| (b as i64) < percent);
    let blue_users = users_where(tag, n, |b| (b as i64) >= percent);
    assert!(visit_all(blue, &green_users, 2).iter().all(|c| c == "green"));
    assert!(visit_all(blue, &blue_users, 2).iter().all(|c| c == "blue"));
}

/// Wait until every row of the requests made so far is written (rows follow the answers).
fn settled(db: &TestDb, blue_rows: i64, green_rows: i64) {
    let (b, f, g) = rows_by_colour(db, |b, f, g| b >= blue_rows && f >= green_rows && g >= green_rows);
    assert!(b >= blue_rows && f >= green_rows && g >= green_rows, "rows: {b} blue, {f} forwarded, {g} green");
}

#[test]
fn identical_blue_and_green_are_never_rolled_back() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);
    // The measured case: the default gates, 5 samples required, both builds the same.
    let body = json!({"operation": "initialize_migration", "target_traffic_percent": 50, "min_samples": 5,
        "bake_time_seconds": 1, "functions": ["subscription-status"]});
    assert_eq!(call(&blue, body).status, 201);
    let mut judged = 0;
    for round in 0..10u32 {
        both_colours(&blue, 40 + round, 6, 50);
        let n = 6 * (round as i64 + 1);
        settled(&db, n, n);
        let d = ok_data(&call(&blue, json!({"operation": "evaluate"})));
        assert_eq!(d["action"], "none", "round {round}: {d}");
        assert_eq!(d["evaluation"]["breached"], false, "round {round}: {d}");
        let latency =
            d["evaluation"]["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "p95_latency").unwrap().clone();
        if latency["status"] == "pass" {
            judged += 1;
        }
    }
    // From 20 timings a side (the fourth round on) the latency gate judges, and passes.
    assert!(judged >= 6, "the latency gate judged {judged} of 10 rounds");
    assert_eq!(scalar(&db, "SELECT count(*) FROM migration_rollbacks"), 0);
}

#[test]
fn a_green_200_ms_slower_or_failing_5_percent_is_rolled_back() {
    let db = TestDb::new();
    let green = green_host(&db);
    let blue = blue_host(&db, &green);
    let start = || {
        let body = json!({"operation": "initialize_migration", "target_traffic_percent": 50, "min_samples": 20,
            "bake_time_seconds": 1, "functions": ["subscription-status"]});
        let r = call(&blue, body);
        assert_eq!(r.status, 201, "{}", r.text());
    };

    // Green 200 ms slower: the real traffic of both colours, green's own timings then shifted
    // by 200 ms (what a slower build would have written).
    start();
    both_colours(&blue, 60, 40, 50);
    settled(&db, 40, 40);
    db.exec("UPDATE performance_metrics SET duration_ms = duration_ms + 200 WHERE deployment_color = 'green'");
    let d = ok_data(&call(&blue, json!({"operation": "evaluate"})));
    assert_eq!(d["action"], "rolled_back", "{d}");
    let reason = d["rollback_reason"].as_str().unwrap();
    assert!(reason.contains("p95_latency") && !reason.contains("error_rate"), "{reason}");

    // Green failing 5 % of what it served: 2 of 40 forwarded answers turned into 500s.
    db.exec("DELETE FROM performance_metrics");
    start();
    both_colours(&blue, 61, 40, 50);
    settled(&db, 40, 40);
    db.exec(
        "UPDATE performance_metrics SET status = 500 WHERE id IN \
           (SELECT id FROM performance_metrics WHERE deployment_color = 'forwarded' ORDER BY id LIMIT 2)",
    );
    let d = ok_data(&call(&blue, json!({"operation": "evaluate"})));
    assert_eq!(d["action"], "rolled_back", "{d}");
    let reason = d["rollback_reason"].as_str().unwrap();
    assert!(reason.contains("green_error_rate: green error rate 5.00 % (2 of 40)"), "{reason}");
    assert_eq!(scalar(&db, "SELECT count(*) FROM migration_rollbacks WHERE automatic"), 2);
}

#[test]
fn the_scheduled_evaluate_is_a_quiet_no_op_without_an_active_run() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let r = host.post(&format!("{BASE}/evaluate?if_active=true")).bearer(&service()).send();
    let d = ok_data(&r);
    assert_eq!((d["active"].as_bool(), d["action"].as_str()), (Some(false), Some("none")), "{d}");
    // Called by hand, the same is still a clear refusal.
    assert_problem(&host.post(&format!("{BASE}/evaluate")).bearer(&service()).send(), 409, "no_active_migration");
    let p = assert_problem(
        &host.post(&format!("{BASE}/evaluate?if_active=maybe")).bearer(&service()).send(),
        400,
        "validation_failed",
    );
    assert_eq!(p["errors"][0]["field"], "if_active");
}
