//! The deployment guide (../shared/reference/deployment-guide.md) as a test: every step it
//! gives, in its order, against a fresh database and `edge up`. Its SQL runs unchanged; its
//! HTTP calls are made with the bodies it shows. Each step must give a real result, and the
//! configuration statements must change what the functions do.

use e2e::{edge_bin, root, Host, HostConfig, HttpResponse, Jwt, TestDb, FUNCTIONS};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

fn edge(args: &[&str]) -> (bool, String) {
    let out = Command::new(edge_bin()).args(args).current_dir(root()).output().expect("run edge");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// An empty database (no template): the guide starts from nothing.
fn fresh_database() -> TestDb {
    let admin_url = std::env::var("EDGE_TEST_PG").expect("EDGE_TEST_PG: run the tests with scripts/test");
    let name = format!(
        "guide_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
    );
    let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = admin_url.rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).unwrap();
    TestDb::at(&url)
}

fn ok_json(r: &HttpResponse, what: &str) -> Value {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, r.text());
    r.json()
}

#[test]
fn the_deployment_guide_runs_end_to_end() {
    let db = fresh_database();
    let mut c = db.client();

    // Phase 1.1: apply all migration files in order, then list them
    // (`supabase migration up` / `supabase migration list` → `edge db migrate` / `edge db status`).
    let files: BTreeSet<String> = std::fs::read_dir(root().join("migrations"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".sql"))
        .collect();
    // The guide's seven files come first; this project's own follow them (0008 on).
    let guides: Vec<&String> = files.iter().take(7).collect();
    assert!(
        guides.iter().zip(1..).all(|(f, n)| f.starts_with(&format!("000{n}_"))),
        "the guide's 0001-0007 first: {files:?}"
    );
    let (ok, out) = edge(&["db", "migrate", "--db-url", &db.url]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{0} migration(s) applied, {0} in total", files.len())), "{out}");
    let (ok, out) = edge(&["db", "status", "--db-url", &db.url]);
    assert!(ok, "{out}");
    for f in &files {
        let (version, name) = f.trim_end_matches(".sql").split_once('_').unwrap();
        let listed = out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == [version, name, "applied"]);
        assert!(listed, "{f} not listed as applied:\n{out}");
    }

    // Phase 1.2: the guide's schema query, unchanged (its OR binds looser than the AND, so it
    // also finds matching tables outside `public`; every pattern must still find ours).
    let tables: Vec<String> = c
        .query(
            "SELECT table_name FROM information_schema.tables 
WHERE table_schema = 'public' 
AND table_name LIKE '%batch_jobs%' 
OR table_name LIKE '%webhook_%' 
OR table_name LIKE '%performance_%'
OR table_name LIKE '%migration_%'
OR table_name LIKE '%security_%'
OR table_name LIKE '%global_%';",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for pattern in ["batch_jobs", "webhook_", "performance_", "migration_", "security_", "global_"] {
        assert!(tables.iter().any(|t| t.contains(pattern)), "no table for {pattern}: {tables:?}");
    }
    for t in ["global_regions", "global_function_placement", "security_incidents", "performance_alerts"] {
        assert!(tables.iter().any(|x| x == t), "{t} missing: {tables:?}");
    }

    // ... and its policy query, unchanged: every public table has policies.
    let with_policies: BTreeSet<String> = c
        .query("SELECT schemaname, tablename, policyname \nFROM pg_policies \nWHERE schemaname = 'public';", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(1))
        .collect();
    let public: Vec<String> = c
        .query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(public.len() > 20, "{public:?}");
    for t in &public {
        assert!(with_policies.contains(t), "public.{t} has no policy");
    }

    // Phase 2: every function deployed (`supabase functions deploy` → `edge up`) and answering:
    // the live (blue) deployment, and the green one a zero-downtime migration moves traffic to.
    let green =
        Host::start(HostConfig::app(&db).var("deployment_color", "green").var("green_base_url", "http://127.0.0.1:9"));
    let host = Host::start(
        HostConfig::app(&db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base),
    );
    // The guide's $SERVICE_ROLE_KEY in the shape Supabase gives it (no sub, no aud).
    let service = crate::signing_keys::project_key("service_role");
    for f in FUNCTIONS {
        let r = host.get(&format!("/functions/v1/{f}/health")).send();
        assert_eq!(r.status, 200, "{f} health: {}", r.text());
    }

    // Phase 4: the migration controller starts a blue-green migration at 5 %.
    let r = host
        .post("/functions/v1/migration-controller")
        .bearer(&service)
        .json(&json!({ "operation": "initialize_migration", "target_traffic_percent": 5 }))
        .send();
    let started = ok_json(&r, "initialize_migration")["data"].clone();
    assert_eq!(started["migration"]["status"], "active", "{started}");
    assert_eq!(started["migration"]["traffic_percent"], 5);
    assert_eq!(started["migration"]["steps"], json!([5, 25, 50, 100]));
    let checks = started["health_checks"].as_array().unwrap();
    assert!(
        !checks.is_empty() && checks.iter().all(|h| h["ok"] == true && h["status"] == 200),
        "green answered: {started}"
    );
    let runs: i64 = c.query_one("SELECT count(*) FROM migration_runs WHERE status = 'active'", &[]).unwrap().get(0);
    assert_eq!(runs, 1, "one active migration run recorded");

    // Phase 5.1: the automated validation suite.
    let r = host
        .post("/functions/v1/production-validator")
        .bearer(&service)
        .json(&json!({ "validation_type": "comprehensive" }))
        .send();
    let report = ok_json(&r, "production-validator")["data"].clone();
    let checks = report["checks"].as_array().expect("checks");
    let subjects: BTreeSet<&str> = checks.iter().filter_map(|c| c["subject"].as_str()).collect();
    for f in FUNCTIONS {
        assert!(subjects.contains(f), "no check about {f}");
    }
    assert!(checks.iter().any(|c| c["status"] == "pass"), "{report}");
    for category in ["functionality", "infrastructure", "performance", "reliability", "security"] {
        let score = report["category_scores"][category].as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&score), "{category}: {report}");
    }
    let stored: i64 = c.query_one("SELECT count(*) FROM production_validation_reports", &[]).unwrap().get(0);
    assert_eq!(stored, 1, "the report is stored");

    // Phase 5.2: performance benchmarking of every function, measured through the host.
    let r = host
        .post("/functions/v1/performance-optimizer")
        .bearer(&service)
        .json(&json!({ "operation": "benchmark_all_functions" }))
        .send();
    let bench = ok_json(&r, "performance-optimizer")["data"].clone();
    let measured = bench["functions"].as_array().expect("functions");
    let names: BTreeSet<&str> = measured.iter().filter_map(|f| f["function"].as_str()).collect();
    for f in ["subscription-status", "quote-processor", "webhook-handler", "batch-processor", "monitoring-alerting"] {
        assert!(names.contains(f), "{f} not benchmarked: {names:?}");
    }
    for f in measured {
        let h = &f["health"];
        assert!(h["samples"].as_i64().unwrap_or(0) > 0 && h["p50_ms"].as_f64().unwrap_or(-1.0) > 0.0, "{f}");
    }

    // Phase 5.3: the security scan, each test with the answer it got.
    let r = host
        .post("/functions/v1/security-hardening")
        .bearer(&service)
        .json(&json!({ "operation": "security_scan" }))
        .send();
    let scan = ok_json(&r, "security-hardening")["data"].clone();
    let results = scan["results"].as_array().expect("results");
    assert!(results.len() >= 5, "{scan}");
    let alg_none = results.iter().find(|t| t["test"] == "jwt_alg_none").expect("jwt_alg_none");
    assert_eq!(alg_none["status"], "pass");
    assert_eq!(alg_none["evidence"]["status"], 401);

    // Monitoring: the dashboard, from real rows (the requests above are in it).
    let r = host.get("/functions/v1/monitoring-alerting").bearer(&service).send();
    let dashboard = ok_json(&r, "monitoring-alerting")["data"].clone();
    let components = dashboard["health"]["components"].as_array().expect("health components");
    assert!(components.iter().any(|c| c["name"] == "database" && c["status"] == "ok"), "{dashboard}");
    let requests: i64 = find_all(&dashboard, "requests").iter().filter_map(|v| v.as_i64()).sum();
    assert!(requests > 0, "the dashboard counts the requests made so far: {dashboard}");

    // Alerting configuration: migration 0004 seeds the guide's thresholds; from a database
    // without them, the guide's INSERT, unchanged, becomes three alert rules, and running it
    // again changes nothing.
    let rules = |host: &Host| -> usize {
        let r = host.get("/functions/v1/monitoring-alerting/rules").bearer(&service).send();
        let v = ok_json(&r, "rules");
        find_all(&v, "source").iter().filter(|s| **s == "performance_alerts").count()
    };
    assert_eq!(rules(&host), 3, "seeded");
    c.batch_execute("DELETE FROM performance_alerts").unwrap();
    assert_eq!(rules(&host), 0);
    let guide_alerts = "-- Configure performance thresholds
INSERT INTO performance_alerts (
  alert_type, severity, threshold_value, notification_channels
) VALUES 
  ('response_time', 'high', 500, '[\"email\", \"slack\"]'),
  ('error_rate', 'critical', 1.0, '[\"email\", \"slack\", \"pager\"]'),
  ('cost_overrun', 'high', 100, '[\"email\", \"slack\"]');";
    c.batch_execute(guide_alerts).unwrap();
    assert_eq!(rules(&host), 3, "each performance_alerts row is an alert rule");
    c.batch_execute(guide_alerts).unwrap();
    assert_eq!(rules(&host), 3, "configuring the same thresholds again doubles nothing");

    // Security alerts: the guide's INSERT, unchanged.
    c.batch_execute(
        "-- Configure security monitoring
INSERT INTO security_incidents (
  event_type, threat_level, auto_response
) VALUES 
  ('rate_limit_exceeded', 'medium', 'temporary_block'),
  ('injection_attempt', 'critical', 'immediate_block'),
  ('unauthorized_access', 'high', 'alert_admin');",
    )
    .unwrap();

    // Rate limiting: under a tight limit a user is refused; the guide's UPDATE restores
    // 100 a minute with bursts of 200.
    c.batch_execute(
        "UPDATE security_configuration SET config_value = '{\"requestsPerMinute\": 1, \"burstLimit\": 2, \"blockDuration\": 300}'
         WHERE config_category = 'rate_limiting' AND config_key = 'global_settings'",
    )
    .unwrap();
    let statuses = |user: &str, n: usize| -> Vec<u16> {
        let token = Jwt::user(user);
        (0..n).map(|_| host.get("/functions/v1/subscription-status").bearer(&token).send().status).collect()
    };
    let tight = statuses(&db.user("guide-tight@example.test"), 6);
    assert!(tight.contains(&429), "a tight limit refuses: {tight:?}");
    c.batch_execute(
        "-- Configure rate limits
UPDATE security_configuration 
SET config_value = '{\"requestsPerMinute\": 100, \"burstLimit\": 200, \"blockDuration\": 300}'
WHERE config_category = 'rate_limiting' AND config_key = 'global_settings';",
    )
    .unwrap();
    let relaxed = statuses(&db.user("guide-relaxed@example.test"), 6);
    assert!(relaxed.iter().all(|s| *s == 200), "the guide's limits let a user through: {relaxed:?}");

    // Threat detection: switched off, an injection-looking query passes; the guide's UPDATE
    // switches detection on and the same request is refused.
    c.batch_execute(
        "UPDATE security_configuration SET config_value = '{\"sqlInjectionDetection\": false, \"xssDetection\": false, \"commandInjectionDetection\": false}'
         WHERE config_category = 'threat_detection' AND config_key = 'global_settings'",
    )
    .unwrap();
    let attack = "/functions/v1/subscription-status?plan=x'%20OR%201=1--";
    let r = host.get(attack).bearer(&Jwt::user(&db.user("guide-off@example.test"))).send();
    assert_ne!(r.status, 403, "detection off: {}", r.text());
    c.batch_execute(
        "-- Enable threat detection
UPDATE security_configuration 
SET config_value = '{\"sqlInjectionDetection\": true, \"xssDetection\": true, \"commandInjectionDetection\": true}'
WHERE config_category = 'threat_detection' AND config_key = 'global_settings';",
    )
    .unwrap();
    let r = host.get(attack).bearer(&Jwt::user(&db.user("guide-on@example.test"))).send();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.json()["code"], "threat_detected");

    // Automated rollback.
    let r = host
        .post("/functions/v1/migration-controller")
        .bearer(&service)
        .json(&json!({ "operation": "execute_rollback", "reason": "Performance degradation detected" }))
        .send();
    let rolled = ok_json(&r, "execute_rollback")["data"].clone();
    assert_eq!(rolled["migration"]["status"], "rolled_back", "{rolled}");
    assert_eq!(rolled["migration"]["traffic_percent"], 0);
    assert_eq!(rolled["rollback"]["traffic_at_rollback"], 5);

    // Maintenance: the weekly performance review, unchanged.
    let summary = c.query("SELECT * FROM get_performance_summary(NULL, 7);", &[]).unwrap();
    assert!(!summary.is_empty(), "the requests above are summarised");

    // The monthly cost analysis: performance-optimizer's cost report writes the daily rows
    // the guide's query reads.
    let r = host.get("/functions/v1/performance-optimizer/cost_report?days=30").bearer(&service).send();
    ok_json(&r, "cost_report");
    let costs = c
        .query(
            "SELECT * FROM cost_metrics 
WHERE metric_date >= CURRENT_DATE - INTERVAL '30 days'
ORDER BY metric_date DESC;",
            &[],
        )
        .unwrap();
    assert!(!costs.is_empty(), "cost_metrics has the last 30 days");

    // The quarterly security audit: the guide's incidents and the refused injection.
    let audit = c
        .query(
            "SELECT event_type, threat_level FROM security_incidents 
WHERE created_at >= CURRENT_DATE - INTERVAL '90 days'
AND threat_level IN ('high', 'critical');",
            &[],
        )
        .unwrap();
    let events: Vec<(String, String)> = audit.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(events.contains(&("unauthorized_access".into(), "high".into())), "{events:?}");
    assert!(
        events.iter().filter(|e| e.0 == "injection_attempt" && e.1 == "critical").count() >= 2,
        "the guide's row and the refused request: {events:?}"
    );
    drop(green);
}

/// Every value under `key`, anywhere in `v`.
fn find_all<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                }
                out.extend(find_all(x, key));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| out.extend(find_all(x, key))),
        _ => {}
    }
    out
}
