//! production-validator through the host: a production-like system passes every check and is
//! ready; then each thing the checks guard is broken on purpose (RLS off, a privileged
//! function granted, a migration record dropped, a required variable empty or a secret weak,
//! a slow and a failing function, rate limiting off, a webhook backlog, a broken placement)
//! and the matching check fails with the evidence. Also: each validation_type's checks, no
//! data is never a pass, admins only, bad input, stored reports.

use e2e::{sign, Host, HostConfig, HttpResponse, Jwt, Plan, TestDb, FUNCTIONS};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const BASE: &str = "/functions/v1/production-validator";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";
/// A strong HS256 secret (32 random bytes, base64), as production should have.
const STRONG_SECRET: &str = "kP3v9Qx2LmZr7TaW5yNc1HbJ8uEoFd6sGi4Vt0RqXeY=";
const WHSEC: &str = "whsec_UnKKs2RxdEThhiw5qHGSRQ1ht0efbCQ1";

/// Checks run once (not per function), by category.
const SINGLE_CHECKS: [(&str, &[&str]); 5] = [
    ("infrastructure", &["database", "migrations_applied", "production_variables", "regional_configuration"]),
    (
        "security",
        &[
            "rls_enabled",
            "privileged_functions",
            "secret_strength",
            "rate_limiting",
            "threat_detection",
            "forged_tokens",
            "unsigned_webhooks",
        ],
    ),
    ("reliability", &["dead_letter_queue", "stale_webhooks"]),
    ("functionality", &["plan_catalog"]),
    ("performance", &[]),
];

/// Checks run once per function, by category.
const PER_FUNCTION_CHECKS: [(&str, &[&str]); 3] = [
    ("performance", &["p95_latency", "health_latency"]),
    ("reliability", &["error_rate"]),
    ("functionality", &["health_endpoint"]),
];

/// A token signed with `secret`.
fn token(secret: &str, sub: &str, role: &str) -> String {
    let now = sign::now_unix();
    sign::jwt_hs256(
        &json!({"sub": sub, "role": role, "aud": "authenticated", "iss": Jwt::issuer(), "iat": now, "exp": now + 3600}),
        secret,
    )
}

fn service() -> String {
    token(STRONG_SECRET, SERVICE_SUB, "service_role")
}

/// The application configured as production should be.
fn production(db: &TestDb) -> HostConfig {
    HostConfig::app(db)
        .var("jwt_secret", STRONG_SECRET)
        .var("stripe_webhook_secrets", WHSEC)
        .var("resend_api_key", "re_validation_test_key")
        .var("cors_origins", "https://app.example.com")
        .var("public_base_url", "https://api.example.com")
}

/// A sellable paid plan, and `n` fast successful requests of every function in the last hour.
fn healthy_data(db: &TestDb, n: u32) {
    let user = db.user("plan-owner@example.test");
    db.subscribe(&user, Plan::unlimited());
    for f in FUNCTIONS {
        traffic(db, f, n, 200, 12.0);
    }
}

/// `n` requests of `function` in the last hour with this status and duration.
fn traffic(db: &TestDb, function: &str, n: u32, status: u16, ms: f64) {
    db.exec(&format!(
        "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, created_at)
         SELECT '{function}', '/functions/v1/{function}', 'GET', {status}, {ms}, now() - interval '5 minutes'
         FROM generate_series(1, {n})"
    ));
}

fn validate_as(host: &Host, token: &str, validation_type: &str) -> HttpResponse {
    host.post(BASE).bearer(token).json(&json!({"validation_type": validation_type})).send()
}

/// The report of a 200 validation.
fn validate_with(host: &Host, token: &str, validation_type: &str) -> Value {
    let r = validate_as(host, token, validation_type);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["success"], true);
    v["data"].clone()
}

fn validate(host: &Host, validation_type: &str) -> Value {
    validate_with(host, &service(), validation_type)
}

/// The one check named `name` (for `subject`, when per function).
fn check<'a>(report: &'a Value, name: &str, subject: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == name && subject.is_none_or(|s| c["subject"] == s))
        .collect();
    assert_eq!(found.len(), 1, "check {name} {subject:?} in {}", report["checks"]);
    found[0]
}

fn status_of(report: &Value, name: &str, subject: Option<&str>) -> String {
    check(report, name, subject)["status"].as_str().unwrap().to_string()
}

/// Checks whose verdict is a measured time on this machine (shared with other builds and
/// tests): a healthy system may see a warning there under load, never a failure.
const TIMED_CHECKS: [&str; 2] = ["database", "health_latency"];

/// Every check passes, except that a timed one may warn; returns whether all passed.
fn assert_healthy(report: &Value) -> bool {
    let mut all_pass = true;
    for c in report["checks"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        if c["status"] == "pass" {
            continue;
        }
        assert!(
            TIMED_CHECKS.contains(&name) && c["status"] == "warning",
            "{name} {} is {}: {} {}",
            c["subject"],
            c["status"],
            c["message"],
            c["evidence"]
        );
        all_pass = false;
    }
    let expected = if all_pass { "pass" } else { "warning" };
    assert_eq!(report["overall_status"], expected, "{}", report["recommendations"]);
    all_pass
}

fn assert_problem(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    v
}

fn reports_stored(db: &TestDb) -> i64 {
    db.client().query_one("SELECT count(*) FROM production_validation_reports", &[]).unwrap().get(0)
}

#[test]
fn a_production_like_system_passes_every_check_and_is_ready() {
    let db = TestDb::new();
    healthy_data(&db, 40);
    let host = Host::start(production(&db));
    let report = validate(&host, "comprehensive");

    assert_eq!(report["validation_type"], "comprehensive");
    let total = report["checks"].as_array().unwrap().len();
    // 14 checks run once, 4 per function.
    assert_eq!(total, 14 + 4 * FUNCTIONS.len());
    if assert_healthy(&report) {
        assert_eq!(report["overall_score"], 100);
        assert_eq!(report["deployment_ready"], true);
        assert_eq!(report["estimated_risk"], "low");
        assert_eq!(report["recommendations"], json!([]));
        assert_eq!(
            report["summary"],
            json!({"total": total, "passed": total, "warnings": 0, "failed": 0, "skipped": 0})
        );
        for c in ["performance", "security", "reliability", "functionality", "infrastructure"] {
            assert_eq!(report["category_scores"][c], 100, "{c}");
        }
    } else {
        // A timed check warned (a loaded machine): the report says so, and nothing else changes.
        assert!(report["overall_score"].as_i64().unwrap() >= 90, "{}", report["overall_score"]);
        assert_eq!(report["summary"]["failed"], 0);
        assert!(report["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| TIMED_CHECKS.contains(&r["check"].as_str().unwrap())));
    }

    // Evidence behind the verdicts: real figures, not constants.
    let database = &check(&report, "database", None)["evidence"];
    assert_eq!(database["round_trips_ms"].as_array().unwrap().len(), 5);
    let migrations = &check(&report, "migrations_applied", None)["evidence"];
    let files = std::fs::read_dir(e2e::root().join("migrations")).unwrap().count() as u64;
    assert_eq!(migrations["expected"], files);
    assert_eq!(migrations["recorded"], files);
    let rls = &check(&report, "rls_enabled", None)["evidence"];
    assert!(rls["tables"].as_u64().unwrap() >= 30, "{rls}");
    let definers = &check(&report, "privileged_functions", None)["evidence"];
    assert_eq!(
        definers["allow_list"],
        json!(["is_admin()", "next_quote_number(integer)", "my_webhook_backlog(integer)", "claim_quote_emails(integer)"]),
        "shared::security::USER_CALLABLE_DEFINERS (a unit test holds it equal to tests/sql/rls_privileged_functions.sql)"
    );
    let tokens = &check(&report, "forged_tokens", None)["evidence"]["probes"];
    let forged: Vec<&Value> = tokens.as_array().unwrap().iter().filter(|p| p["token"] != "caller (control)").collect();
    assert_eq!(forged.len(), 9, "three forged tokens against three endpoints: {tokens}");
    assert!(forged.iter().all(|p| p["answer"]["status"] == 401), "{tokens}");
    let webhooks = &check(&report, "unsigned_webhooks", None)["evidence"];
    assert_eq!(webhooks["without_signature"]["status"], 400);
    assert_eq!(webhooks["signed_with_a_random_key"]["status"], 400);
    let latency = &check(&report, "p95_latency", Some("webhook-handler"))["evidence"];
    assert_eq!((latency["requests"].as_i64(), latency["p95_ms"].as_f64()), (Some(40), Some(12.0)));
    let health = &check(&report, "health_latency", Some("quote-processor"))["evidence"];
    assert!(health["cold_ms"].as_f64().unwrap() > 0.0 && health["warm_ms"].as_array().unwrap().len() == 3, "{health}");
    let placement = &check(&report, "regional_configuration", None)["evidence"];
    assert_eq!(placement["home_region"], json!(["us-east-1"]));
    assert_eq!(placement["placed_components"], 11);
    assert_eq!(placement["compared_with_manifest"], true);

    // Stored: listed, and readable by id with the same checks.
    let id = report["report_id"].as_str().unwrap();
    let list = host.get(&format!("{BASE}/reports")).bearer(&service()).send().json()["data"].clone();
    assert_eq!(list["total"], 1);
    assert_eq!(list["reports"][0]["report_id"], id);
    assert_eq!(list["reports"][0]["overall_score"], report["overall_score"]);
    assert_eq!(list["reports"][0]["requested_role"], "service_role");
    let one = host.get(&format!("{BASE}/reports/{id}")).bearer(&service()).send().json()["data"].clone();
    assert_eq!(one["checks"].as_array().unwrap().len(), total);
    assert_eq!(one["checks"][0]["name"], report["checks"][0]["name"]);
    assert_eq!(one["deployment_ready"], report["deployment_ready"]);
}

#[test]
fn each_validation_type_runs_the_checks_of_its_category() {
    let db = TestDb::new();
    healthy_data(&db, 40);
    let host = Host::start(production(&db));
    let mut all = BTreeSet::new();
    for category in ["performance", "security", "reliability", "functionality", "infrastructure"] {
        let report = validate(&host, category);
        assert_eq!(report["validation_type"], category);
        let got: BTreeSet<(String, String)> = report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert_eq!(c["category"], category, "{c}");
                (c["name"].as_str().unwrap().to_string(), c["subject"].as_str().unwrap_or("").to_string())
            })
            .collect();
        let mut expected = BTreeSet::new();
        for (_, names) in SINGLE_CHECKS.iter().filter(|(c, _)| *c == category) {
            expected.extend(names.iter().map(|n| (n.to_string(), String::new())));
        }
        for (_, names) in PER_FUNCTION_CHECKS.iter().filter(|(c, _)| *c == category) {
            for n in names.iter() {
                expected.extend(FUNCTIONS.iter().map(|f| (n.to_string(), f.to_string())));
            }
        }
        assert_eq!(got, expected, "{category}");
        assert_eq!(report["category_scores"].as_object().unwrap().len(), 1);
        assert_eq!(report["deployment_ready"], false, "only a comprehensive validation declares readiness");
        assert_healthy(&report);
        all.extend(got);
    }
    let comprehensive = validate(&host, "comprehensive");
    assert_eq!(comprehensive["checks"].as_array().unwrap().len(), all.len());
    let listed =
        host.get(&format!("{BASE}/reports?validation_type=security")).bearer(&service()).send().json()["data"].clone();
    assert_eq!(listed["total"], 1);
    assert_eq!(host.get(&format!("{BASE}/reports?limit=2")).bearer(&service()).send().json()["data"]["total"], 6);
}

#[test]
fn rls_disabled_on_a_table_fails_with_the_table_named() {
    let db = TestDb::new();
    healthy_data(&db, 40);
    // A table of the same name in another schema, without RLS, is not public's business.
    db.exec(
        "CREATE SCHEMA scratch; CREATE TABLE scratch.quotes (id int);
         ALTER TABLE public.clients DISABLE ROW LEVEL SECURITY;
         CREATE TABLE public.unguarded (id int); ALTER TABLE public.unguarded ENABLE ROW LEVEL SECURITY;",
    );
    let host = Host::start(production(&db));
    let report = validate(&host, "security");
    let rls = check(&report, "rls_enabled", None);
    assert_eq!(rls["status"], "fail");
    assert_eq!(rls["severity"], "critical");
    assert_eq!(rls["evidence"]["without_rls"], json!(["clients"]));
    assert_eq!(rls["evidence"]["without_policies"], json!(["unguarded"]));
    assert!(rls["message"].as_str().unwrap().contains("clients"));
    assert_eq!(report["overall_status"], "fail");
    assert_eq!(report["recommendations"][0]["check"], "rls_enabled");
    assert!(report["recommendations"][0]["action"].as_str().unwrap().contains("ENABLE ROW LEVEL SECURITY"));

    let full = validate(&host, "comprehensive");
    assert_eq!(full["deployment_ready"], false);
    assert_eq!(full["estimated_risk"], "critical");
    assert!(full["overall_score"].as_i64().unwrap() < 100);
}

#[test]
fn a_privileged_function_granted_to_users_fails() {
    let db = TestDb::new();
    db.exec(
        "GRANT EXECUTE ON FUNCTION public.increment_usage(uuid, text, integer) TO authenticated;
         GRANT EXECUTE ON FUNCTION public.get_entitlements(uuid) TO anon;",
    );
    let host = Host::start(production(&db));
    let report = validate(&host, "security");
    let c = check(&report, "privileged_functions", None);
    assert_eq!(c["status"], "fail");
    let authenticated = c["evidence"]["executable_by_authenticated_outside_allow_list"].to_string();
    assert!(authenticated.contains("increment_usage(uuid,text,integer)"), "{c}");
    assert!(c["evidence"]["executable_by_anon"].to_string().contains("get_entitlements(uuid)"), "{c}");
    assert!(!authenticated.contains("is_admin"), "the allow-list is honoured: {c}");
}

#[test]
fn a_dropped_migration_record_fails() {
    let db = TestDb::new();
    db.exec("DELETE FROM supabase_migrations.schema_migrations WHERE version = '0003'");
    let host = Host::start(production(&db));
    let report = validate(&host, "infrastructure");
    let c = check(&report, "migrations_applied", None);
    assert_eq!(c["status"], "fail");
    assert_eq!(c["evidence"]["missing"], json!(["0003_webhooks_and_jobs"]));
    assert!(c["message"].as_str().unwrap().contains("0003_webhooks_and_jobs"));

    // A record changed since it was applied, and one no file explains: warnings.
    db.exec(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements)
           SELECT '0003', 'webhooks_and_jobs', ARRAY[statements[1] || ' '] FROM supabase_migrations.schema_migrations WHERE version = '0002';
         INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES ('9999', 'from_elsewhere');",
    );
    let report = validate(&host, "infrastructure");
    let c = check(&report, "migrations_applied", None);
    assert_eq!(c["status"], "warning", "{c}");
    assert_eq!(c["evidence"]["changed_since_applied"], json!(["0003_webhooks_and_jobs"]));
    assert_eq!(c["evidence"]["recorded_without_file"], json!(["9999"]));
}

#[test]
fn an_empty_required_variable_or_a_weak_secret_fails() {
    let db = TestDb::new();
    // No Stripe secret: the host starts (it is not `required` in the manifest), production cannot.
    let host = Host::start(production(&db).var("stripe_webhook_secrets", ""));
    let report = validate(&host, "infrastructure");
    let c = check(&report, "production_variables", None);
    assert_eq!(c["status"], "fail");
    assert_eq!(c["evidence"]["missing_or_empty"], json!(["stripe_webhook_secrets"]));
    assert!(!c.to_string().contains(STRONG_SECRET), "values are never reported");
    let report = validate(&host, "security");
    let webhooks = check(&report, "unsigned_webhooks", None);
    assert_eq!(webhooks["status"], "fail");
    assert_eq!(webhooks["evidence"]["without_signature"]["status"], 503, "{webhooks}");
    drop(host);

    // The Supabase CLI's published secret (the fixtures'), and a malformed Stripe secret.
    let host = Host::start(
        production(&db).var("jwt_secret", &Jwt::secret()).var("stripe_webhook_secrets", "sk_live_not_a_webhook_secret"),
    );
    let report = validate_with(&host, &Jwt::token(SERVICE_SUB, "service_role"), "security");
    let c = check(&report, "secret_strength", None);
    assert_eq!(c["status"], "fail");
    let findings = c["evidence"]["findings"].to_string();
    assert!(findings.contains("jwt_secret is a published default"), "{findings}");
    assert!(findings.contains("stripe_webhook_secrets entry 1 does not start with `whsec_`"), "{findings}");
    assert!(!c.to_string().contains(&Jwt::secret()), "values are never reported");
    drop(host);

    // Long enough for the verifier, but one character repeated.
    let weak = "z".repeat(40);
    let host = Host::start(production(&db).var("jwt_secret", &weak));
    let report = validate_with(&host, &token(&weak, SERVICE_SUB, "service_role"), "security");
    let c = check(&report, "secret_strength", None);
    assert_eq!(c["status"], "fail");
    assert!(c["message"].as_str().unwrap().contains("entropy"), "{c}");
    assert_eq!(report["estimated_risk"], "critical");

    // Recommended settings left at their development values: a warning, not a pass.
    let host = Host::start(HostConfig::app(&db).var("jwt_secret", STRONG_SECRET).var("stripe_webhook_secrets", WHSEC));
    let report = validate(&host, "infrastructure");
    let c = check(&report, "production_variables", None);
    assert_eq!(c["status"], "warning", "{c}");
    assert!(c["evidence"]["advice"].to_string().contains("cors_origins"), "{c}");
}

#[test]
fn a_slow_function_and_a_failing_one_fail_their_checks_and_no_data_is_never_a_pass() {
    let db = TestDb::new();
    traffic(&db, "quote-processor", 36, 200, 20.0);
    traffic(&db, "quote-processor", 4, 200, 2000.0);
    traffic(&db, "subscription-status", 30, 200, 900.0);
    traffic(&db, "webhook-handler", 95, 200, 5.0);
    traffic(&db, "webhook-handler", 5, 500, 5.0);
    traffic(&db, "batch-processor", 5, 200, 5.0);
    // Outside the window, health checks and validation runs: not counted.
    db.exec(
        "INSERT INTO performance_metrics (function_name, route, method, status, duration_ms, created_at)
         SELECT 'webhook-monitor', '/functions/v1/webhook-monitor', 'GET', 500, 9000, now() - interval '2 hours' FROM generate_series(1, 50);
         INSERT INTO performance_metrics (function_name, route, method, status, duration_ms)
         SELECT 'migration-controller', '/functions/v1/migration-controller/health', 'GET', 200, 1 FROM generate_series(1, 50);
         INSERT INTO performance_metrics (function_name, route, method, status, duration_ms)
         SELECT 'production-validator', '/functions/v1/production-validator', 'POST', 200, 5000 FROM generate_series(1, 50);",
    );
    let host = Host::start(production(&db));
    let perf = validate(&host, "performance");
    let rel = validate(&host, "reliability");

    // 40 requests, four of them 2 s: p95 (nearest rank: the 38th value) is 2,000 ms > 1.5 × 950.
    let slow = check(&perf, "p95_latency", Some("quote-processor"));
    assert_eq!(slow["status"], "fail", "{slow}");
    assert_eq!(
        (slow["evidence"]["p95_ms"].as_f64(), slow["evidence"]["target_ms"].as_f64()),
        (Some(2000.0), Some(950.0))
    );
    let status_ok = check(&perf, "p95_latency", Some("subscription-status"));
    assert_eq!(status_ok["status"], "fail", "900 ms > 1.5 × 320 ms: {status_ok}");
    assert_eq!(status_of(&perf, "p95_latency", Some("webhook-handler")), "pass");

    let failing = check(&rel, "error_rate", Some("webhook-handler"));
    assert_eq!(failing["status"], "fail");
    assert_eq!(failing["evidence"]["server_errors"], 5);
    assert_eq!(failing["evidence"]["error_rate_percent"], 5.0);
    assert_eq!(status_of(&rel, "error_rate", Some("quote-processor")), "pass");

    // Too few requests: a warning; none (old rows and health checks do not count): a skip.
    assert_eq!(status_of(&perf, "p95_latency", Some("batch-processor")), "warning");
    assert_eq!(status_of(&rel, "error_rate", Some("batch-processor")), "warning");
    // (Validation runs themselves are not judged either.)
    for f in ["webhook-monitor", "migration-controller", "monitoring-alerting", "production-validator"] {
        assert_eq!(status_of(&perf, "p95_latency", Some(f)), "skip", "{f}");
        let c = check(&rel, "error_rate", Some(f));
        assert_eq!((c["status"].as_str(), c["evidence"]["requests"].as_i64()), (Some("skip"), Some(0)), "{f}");
    }
    assert_eq!(perf["overall_status"], "fail");
    assert!(perf["recommendations"].as_array().unwrap().iter().any(|r| r["subject"] == "quote-processor"));
    // Skips are left out of the score, never counted as passes.
    let skipped = perf["summary"]["skipped"].as_i64().unwrap();
    assert!(skipped >= 7, "{}", perf["summary"]);
}

#[test]
fn no_data_at_all_is_never_a_pass() {
    let db = TestDb::new();
    let host = Host::start(production(&db));
    let report = validate(&host, "reliability");
    for f in FUNCTIONS {
        // This validation's own probes must not count either (reliability sends none; the
        // metrics are read before any probe of a comprehensive run).
        assert_eq!(status_of(&report, "error_rate", Some(f)), "skip", "{f}");
    }
    assert_eq!(report["overall_status"], "warning");
    let comprehensive = validate(&host, "comprehensive");
    assert_eq!(status_of(&comprehensive, "p95_latency", Some("subscription-status")), "skip");
    assert_eq!(status_of(&comprehensive, "plan_catalog", None), "warning", "no sellable paid plan");
    assert_ne!(comprehensive["overall_status"], "pass");
}

#[test]
fn rate_limiting_off_a_webhook_backlog_and_a_broken_placement_fail() {
    let db = TestDb::new();
    db.exec(
        "UPDATE security_configuration SET enabled = false WHERE config_category = 'rate_limiting';
         UPDATE security_configuration SET config_value = config_value || '{\"xssDetection\": false}'
           WHERE config_category = 'threat_detection';
         INSERT INTO webhook_dead_letter_queue (stripe_event_id, event_type, raw_body, last_error)
           SELECT 'evt_dlq_' || g, 'invoice.paid', '{}', 'handler failed' FROM generate_series(1, 11) g;
         INSERT INTO stripe_webhook_events (stripe_event_id, event_type, processed, received_at)
           VALUES ('evt_stuck', 'invoice.paid', false, now() - interval '3 hours');
         UPDATE global_regions SET weight = 0.50 WHERE region = 'us-west-1';
         DELETE FROM global_function_placement WHERE function_name = 'monitoring-alerting';
         INSERT INTO global_function_placement (function_name, region, tier) VALUES ('webhook-monitor', 'eu-west-1', 'cold');",
    );
    let host = Host::start(production(&db));
    let report = validate(&host, "comprehensive");

    let rate = check(&report, "rate_limiting", None);
    assert_eq!(rate["status"], "fail");
    assert_eq!(rate["evidence"]["enabled"], false);
    let threats = check(&report, "threat_detection", None);
    assert_eq!(
        (threats["status"].as_str(), threats["evidence"]["off"].clone()),
        (Some("fail"), json!(["xssDetection"]))
    );

    let dlq = check(&report, "dead_letter_queue", None);
    assert_eq!((dlq["status"].as_str(), dlq["evidence"]["open"].as_i64()), (Some("fail"), Some(11)));
    let stale = check(&report, "stale_webhooks", None);
    assert_eq!((stale["status"].as_str(), stale["evidence"]["stale"].as_i64()), (Some("fail"), Some(1)));

    let placement = check(&report, "regional_configuration", None);
    assert_eq!(placement["status"], "fail");
    let findings = placement["evidence"]["findings"].to_string();
    assert!(findings.contains("weights add up to 1.250"), "{findings}");
    assert!(findings.contains("monitoring-alerting is not placed"), "{findings}");
    assert!(findings.contains("webhook-monitor is cold (home region only) but placed in eu-west-1"), "{findings}");
    // And against the spin.toml this build was made with.
    assert!(
        findings.contains("us-west-1: priority 7 weight 0.500 in global_regions, 7 / 0.250 in spin.toml"),
        "{findings}"
    );
    assert!(
        findings.contains("webhook-monitor: eu-west-1, us-east-1 as cold in global_function_placement, us-east-1 as cold in spin.toml"),
        "{findings}"
    );

    // No setting at all: the middleware then limits nothing, and the check says so.
    db.exec("DELETE FROM security_configuration WHERE config_category = 'rate_limiting'");
    let report = validate(&host, "security");
    let rate = check(&report, "rate_limiting", None);
    assert_eq!(rate["status"], "fail");
    assert!(rate["message"].as_str().unwrap().contains("not configured"), "{rate}");
}

#[test]
fn only_admins_validate_and_read_reports() {
    let db = TestDb::new();
    let admin = db.user("admin@example.test");
    let user = db.user("user@example.test");
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{admin}', 'admin')"));
    let host = Host::start(production(&db));
    let body = json!({"validation_type": "reliability"});

    assert_problem(&host.post(BASE).json(&body).send(), 401, "missing_token");
    assert_problem(
        &host.post(BASE).bearer(&token(STRONG_SECRET, &user, "authenticated")).json(&body).send(),
        403,
        "admin_required",
    );
    assert_problem(
        &host.get(&format!("{BASE}/reports")).bearer(&token(STRONG_SECRET, &user, "authenticated")).send(),
        403,
        "admin_required",
    );
    assert_problem(
        &host
            .post(BASE)
            .bearer(&token("another-secret-of-enough-length-000000", SERVICE_SUB, "service_role"))
            .json(&body)
            .send(),
        401,
        "invalid_signature",
    );
    assert_eq!(reports_stored(&db), 0);

    // The call as often typed: `curl -d '{...}'` with curl's default form content type.
    let r = host
        .post(BASE)
        .bearer(&token(STRONG_SECRET, &admin, "authenticated"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(br#"{"validation_type": "reliability"}"#.to_vec())
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json()["data"].clone();
    assert_eq!(report["requested_by"], admin);
    assert_eq!(report["requested_role"], "authenticated");
    let r = host.get(&format!("{BASE}/reports")).bearer(&token(STRONG_SECRET, &admin, "authenticated")).send();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["reports"][0]["requested_by"], admin);
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let db = TestDb::new();
    let host = Host::start(production(&db));
    let v = assert_problem(&validate_as(&host, &service(), "business"), 400, "validation_failed");
    assert_eq!(v["errors"][0]["field"], "validation_type");
    let message = v["errors"][0]["message"].as_str().unwrap();
    for t in ["comprehensive", "performance", "security", "reliability", "functionality", "infrastructure"] {
        assert!(message.contains(t), "{message}");
    }
    let v = assert_problem(
        &host.post(BASE).bearer(&service()).json(&json!({"validation_type": "security", "dry_run": true})).send(),
        400,
        "validation_failed",
    );
    assert_eq!(v["errors"][0]["code"], "unknown_field");
    assert_problem(
        &host.post(BASE).bearer(&service()).json(&json!({"validation_type": 3})).send(),
        400,
        "validation_failed",
    );
    assert_problem(
        &host
            .post(BASE)
            .bearer(&service())
            .body(b"{\"validation_type\":".to_vec())
            .header("content-type", "application/json")
            .send(),
        400,
        "malformed_json",
    );
    assert_problem(
        &host
            .post(BASE)
            .bearer(&service())
            .body(b"validation_type=security".to_vec())
            .header("content-type", "text/plain")
            .send(),
        415,
        "unsupported_media_type",
    );
    assert_problem(&host.get(BASE).bearer(&service()).send(), 405, "method_not_allowed");
    assert_problem(&host.get(&format!("{BASE}/reports?limit=0")).bearer(&service()).send(), 400, "validation_failed");
    assert_problem(
        &host.get(&format!("{BASE}/reports?validation_type=business")).bearer(&service()).send(),
        400,
        "validation_failed",
    );
    assert_problem(&host.get(&format!("{BASE}/reports/42")).bearer(&service()).send(), 400, "validation_failed");
    assert_problem(
        &host.get(&format!("{BASE}/reports/5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b")).bearer(&service()).send(),
        404,
        "not_found",
    );
    assert_problem(&host.get(&format!("{BASE}/nope")).bearer(&service()).send(), 404, "route_not_found");
    assert_eq!(reports_stored(&db), 0);
}
