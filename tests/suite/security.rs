//! The security middleware on every function, and the security-hardening function, through
//! the host: GCRA rate limiting exactly at the burst under concurrency, settings read per
//! request (the deployment guide's SQL changes behaviour at once), trusted proxies, threat
//! detection with rule ids, auto_response, windowed incident logging, failing closed for admin
//! functions, and the scan / config / incidents / blocks / audit-log endpoints.

use e2e::{Host, HostConfig, HttpResponse, Jwt, Req, TestDb};
use serde_json::{json, Value};

const SCAN: &str = "/functions/v1/security-hardening";
const STATUS: &str = "/functions/v1/subscription-status";
const QUOTES: &str = "/functions/v1/quote-processor";
const SERVICE_SUB: &str = "00000000-0000-4000-8000-000000000001";

fn service() -> String {
    Jwt::token(SERVICE_SUB, "service_role")
}

fn start(db: &TestDb) -> Host {
    Host::start(HostConfig::app(db))
}

/// The guide's rate-limit statement with other figures.
fn set_limits(db: &TestDb, per_minute: u32, burst: u32, block: u32) {
    db.exec(&format!(
        "UPDATE security_configuration \
         SET config_value = '{{\"requestsPerMinute\": {per_minute}, \"burstLimit\": {burst}, \"blockDuration\": {block}}}' \
         WHERE config_category = 'rate_limiting' AND config_key = 'global_settings';"
    ));
}

fn query_i64(db: &TestDb, sql: &str) -> i64 {
    db.client().query_one(sql, &[]).unwrap_or_else(|e| panic!("{e}: {sql}")).get(0)
}

/// Rows and the occurrences they count, for one incident type from clients.
fn windowed(db: &TestDb, event: &str) -> (i64, i64) {
    let row = db
        .client()
        .query_one(
            "SELECT count(*), coalesce(sum(occurrences), 0)::bigint FROM security_incidents \
              WHERE event_type = $1 AND client_key IS NOT NULL",
            &[&event],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

fn assert_problem(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"), "{}", r.text());
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    v
}

fn admin_get(host: &Host, path: &str) -> Value {
    let r = host.get(&format!("{SCAN}{path}")).bearer(&service()).send();
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()["data"].clone()
}

fn admin_send(host: &Host, method: &str, path: &str, body: &Value) -> HttpResponse {
    Req::new(method, &host.url(&format!("{SCAN}{path}"))).bearer(&service()).json(body).send()
}

#[test]
fn exactly_the_burst_gets_through_300_concurrent_requests() {
    let db = TestDb::new();
    let user = db.user("burst@example.test");
    // One request a minute refills nothing during the test: exactly the burst passes.
    set_limits(&db, 1, 200, 300);
    let host = start(&db);
    let token = Jwt::user(&user);
    let statuses: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..300)
            .map(|_| {
                s.spawn(|| {
                    let r = host.get(STATUS).bearer(&token).send();
                    (r.status, r.header("retry-after").map(str::to_string))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|(s, _)| *s == 200).count();
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert_eq!((ok, limited.len()), (200, 100), "{statuses:?}");
    assert!(limited
        .iter()
        .all(|(_, retry)| retry.as_deref().and_then(|r| r.parse::<u32>().ok()).is_some_and(|r| r >= 1)));
    assert_eq!(query_i64(&db, "SELECT allowed FROM security_rate_limits WHERE client_key = 'user:' || (SELECT id FROM auth.users LIMIT 1)"), 200);

    // Going over the limit is an incident (one row a minute; the burst may straddle a minute),
    // answered as configured: a temporary block of blockDuration seconds.
    let rows = query_i64(&db, "SELECT count(*) FROM security_incidents WHERE event_type = 'rate_limit_exceeded'");
    assert!((1..=2).contains(&rows), "{rows} incident rows");
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM security_blocks WHERE reason = 'rate_limit' \
              AND expires_at BETWEEN now() + interval '290 seconds' AND now() + interval '301 seconds'"
        ),
        1
    );
    let r = host.get(STATUS).bearer(&token).send();
    assert_problem(&r, 429, "rate_limited");
    let retry: u32 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((280..=300).contains(&retry), "Retry-After {retry}");
    // Other users have their own allowance.
    let other = db.user("other@example.test");
    assert_eq!(host.get(STATUS).bearer(&Jwt::user(&other)).send().status, 200);
}

#[test]
fn the_guides_sql_changes_the_limits_on_the_next_request() {
    let db = TestDb::new();
    let user = db.user("guide@example.test");
    let host = start(&db);
    let token = Jwt::user(&user);
    for _ in 0..5 {
        assert_eq!(host.get(STATUS).bearer(&token).send().status, 200);
    }
    set_limits(&db, 100, 2, 60);
    // The state so far (5 requests at 100/min) is over a burst of 2: refused at once.
    let r = host.get(STATUS).bearer(&token).send();
    assert_problem(&r, 429, "rate_limited");
    // Switching rate limiting off in the settings (through the API) lets everything through
    // once the block is lifted.
    let off = admin_send(&host, "PUT", "/config", &json!({"category": "rate_limiting", "enabled": false}));
    assert_eq!(off.status, 200, "{}", off.text());
    let key = format!("user:{user}");
    let lifted =
        Req::new("DELETE", &host.url(&format!("{SCAN}/blocks/{}", key.replace(':', "%3A")))).bearer(&service()).send();
    assert_eq!(lifted.status, 200, "{}", lifted.text());
    for _ in 0..10 {
        assert_eq!(host.get(STATUS).bearer(&token).send().status, 200);
    }
}

#[test]
fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let db = TestDb::new();
    set_limits(&db, 1, 2, 60);
    // Anonymous requests (refused with 401 once the limiter let them through).
    let send = |host: &Host, forwarded: &str| host.get(STATUS).header("x-forwarded-for", forwarded).send().status;
    // Not trusted: X-Forwarded-For is ignored and every request is 127.0.0.1's.
    let host = start(&db);
    assert_eq!([send(&host, "203.0.113.7"), send(&host, "203.0.113.8"), send(&host, "203.0.113.9")], [401, 401, 429]);
    drop(host);
    db.exec("DELETE FROM security_rate_limits; DELETE FROM security_blocks;");
    // Trusted: each forwarded client has its own allowance; a forged left-most hop is ignored.
    let host = Host::start(HostConfig::app(&db).var("trusted_proxies", "127.0.0.1"));
    assert_eq!(
        [send(&host, "203.0.113.7"), send(&host, "6.6.6.6, 203.0.113.7"), send(&host, "203.0.113.7")],
        [401, 401, 429]
    );
    assert_eq!(send(&host, "203.0.113.8"), 401);
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM security_rate_limits WHERE client_key IN ('ip:203.0.113.7', 'ip:203.0.113.8')"
        ),
        2
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key = 'ip:6.6.6.6'"), 0);
}

#[test]
fn a_forged_first_forwarded_for_line_neither_escapes_the_limit_nor_blocks_its_victim() {
    let db = TestDb::new();
    set_limits(&db, 1, 2, 60);
    let host = Host::start(HostConfig::app(&db).var("trusted_proxies", "127.0.0.1"));
    // Our proxy (127.0.0.1, trusted) appends the address it saw as a line of its own; the
    // client wrote a first line naming whomever it likes.
    let send = |forged: &str, client: &str| {
        host.get(STATUS).header("x-forwarded-for", forged).header("x-forwarded-for", client).send().status
    };
    let attacker = "203.0.113.7";
    let statuses: Vec<u16> = (1..=6).map(|i| send(&format!("198.51.100.{i}"), attacker)).collect();
    // Anonymous requests are refused with 401 once the limiter let them through: two, then 429.
    assert_eq!(statuses, [401, 401, 429, 429, 429, 429], "a new forged line each time does not reset the limit");
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key LIKE 'ip:198.51.100.%'"), 0);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_blocks WHERE client_key LIKE 'ip:198.51.100.%'"), 0);
    assert_eq!(query_i64(&db, &format!("SELECT count(*) FROM security_blocks WHERE client_key = 'ip:{attacker}'")), 1);
    // The address the attacker named is served as usual when it really calls.
    assert_eq!(send("192.0.2.1", "198.51.100.1"), 401, "the victim is neither limited nor blocked");
}

#[test]
fn injections_are_refused_with_rule_ids_and_the_client_is_blocked() {
    let db = TestDb::new();
    let user = db.user("attacker@example.test");
    let host = start(&db);
    let token = Jwt::user(&user);
    let r = host.get(&format!("{QUOTES}?q=x%27%20OR%201%3D1--")).bearer(&token).send();
    let v = assert_problem(&r, 403, "threat_detected");
    let detection = &v["detections"][0];
    assert_eq!(detection["kind"], "SqlInjection", "{v}");
    assert_eq!(detection["field"], "query.q");
    assert!(detection["rule"].as_str().unwrap().starts_with("sqli."), "{v}");

    // injection_attempt → immediate_block (the seeded response): the next, harmless request too.
    let row = db
        .client()
        .query_one(
            "SELECT auto_response, threat_level, function_name, array_length(rule_ids, 1) FROM security_incidents \
              WHERE event_type = 'injection_attempt'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "immediate_block");
    assert_eq!(row.get::<_, String>(1), "critical");
    assert_eq!(row.get::<_, String>(2), "quote-processor");
    assert!(row.get::<_, i32>(3) >= 1);
    assert_problem(&host.get(STATUS).bearer(&token).send(), 403, "client_blocked");
    // Critical incidents are security events in the audit log.
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_audit_log WHERE event_category = 'security_event'"), 1);

    // XSS and command injection in JSON bodies, from another user.
    let other = Jwt::user(&db.user("other@example.test"));
    let xss = host.post(QUOTES).bearer(&other).json(&json!({"title": "<img src=x onerror=alert(1)>"})).send();
    assert_eq!(assert_problem(&xss, 403, "threat_detected")["detections"][0]["field"], "body.title");
    let third = Jwt::user(&db.user("third@example.test"));
    let cmd = host.post(QUOTES).bearer(&third).json(&json!({"notes": "; cat /etc/passwd"})).send();
    assert_eq!(assert_problem(&cmd, 403, "threat_detected")["detections"][0]["kind"], "CommandInjection");
}

#[test]
fn a_normal_quote_is_never_blocked() {
    let db = TestDb::new();
    let user = db.user("tradie@example.test");
    let host = start(&db);
    let quote = json!({
        "client_name": "Siobhán O'Brien-D'Arcy",
        "client_email": "obrien@example.test",
        "client_address": "12 O'Connell St <rear entrance>; select the side gate",
        "notes": "Please select the <best> option; we drop by on Tue. Width < 40 cm, height > 2 m. Drop table legs: 4. Select from: oak, ash. Or call us: we'll update the order.",
        "line_items": [
            {"name": "Tiles (select grade) <20cm>", "description": "O'Neill's; drop-in sink | 1/2\" fittings & sealant", "quantity": 2, "unit_price": 19.99},
            {"name": "Labour", "description": "Delete old fittings; update wiring where needed", "quantity": 1, "unit_price": 120}
        ]
    });
    let r = host.post(QUOTES).bearer(&Jwt::user(&user)).json(&quote).send();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = host.get(&format!("{QUOTES}?q=O%27Brien&status=draft")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_incidents"), 0);
}

#[test]
fn detectors_switch_off_with_the_guides_sql_and_auto_response_follows_the_guides_rows() {
    let db = TestDb::new();
    let user = db.user("switch@example.test");
    let host = start(&db);
    let token = Jwt::user(&user);
    db.exec(
        "UPDATE security_configuration \
         SET config_value = '{\"sqlInjectionDetection\": false, \"xssDetection\": true, \"commandInjectionDetection\": true}' \
         WHERE config_category = 'threat_detection' AND config_key = 'global_settings';",
    );
    let r = host.get(&format!("{QUOTES}?q=x%27%20OR%201%3D1--")).bearer(&token).send();
    assert_eq!(r.status, 200, "SQL detection is off: {}", r.text());
    let xss = host.post(QUOTES).bearer(&token).json(&json!({"title": "<script>alert(1)</script>"})).send();
    assert_problem(&xss, 403, "threat_detected");
    // That attempt blocked the user; lift it and declare, as the guide does, how injections are
    // answered from now on: alert the administrators instead of blocking.
    db.exec(
        "DELETE FROM security_blocks; \
         INSERT INTO security_incidents (event_type, threat_level, auto_response) VALUES \
           ('rate_limit_exceeded', 'medium', 'temporary_block'), \
           ('injection_attempt', 'high', 'alert_admin'), \
           ('unauthorized_access', 'high', 'alert_admin');",
    );
    for _ in 0..3 {
        let r = host.post(QUOTES).bearer(&token).json(&json!({"title": "<script>alert(2)</script>"})).send();
        assert_problem(&r, 403, "threat_detected");
    }
    assert_eq!(host.get(STATUS).bearer(&token).send().status, 200, "no block under alert_admin");
    let row = db
        .client()
        .query_one(
            "SELECT auto_response, threat_level, occurrences FROM security_incidents \
              WHERE event_type = 'injection_attempt' AND client_key IS NOT NULL ORDER BY created_at DESC LIMIT 1",
            &[],
        )
        .unwrap();
    assert_eq!((row.get::<_, String>(0), row.get::<_, String>(1)), ("alert_admin".into(), "high".into()));
    // Logging is windowed: one row per client, type and minute counts the repeats.
    // (the first attempt, before the guide's rows, is counted too)
    let (rows, attempts) = windowed(&db, "injection_attempt");
    assert!(rows <= 2 && attempts == 4, "{rows} rows, {attempts} attempts");
    assert!(row.get::<_, i32>(2) >= 1);
}

#[test]
fn refused_credentials_are_one_windowed_incident_for_the_admins() {
    let db = TestDb::new();
    let host = start(&db);
    for _ in 0..6 {
        let r = host.get(STATUS).bearer("not-a-token").send();
        assert_eq!(r.status, 401);
    }
    let (rows, attempts) = windowed(&db, "unauthorized_access");
    assert!(rows <= 2 && attempts == 6, "{rows} rows, {attempts} attempts");
    let row = db
        .client()
        .query_one("SELECT max(auto_response), max(client_key) FROM security_incidents WHERE event_type = 'unauthorized_access'", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "alert_admin");
    assert_eq!(row.get::<_, String>(1), "ip:127.0.0.1");
}

#[test]
fn admin_functions_fail_closed_when_the_limiter_cannot_be_read() {
    let db = TestDb::new();
    let user = db.user("open@example.test");
    let host = start(&db);
    db.exec("ALTER FUNCTION public.security_gate(text, text, boolean, text) RENAME TO security_gate_gone;");
    let r = host.get("/functions/v1/webhook-monitor/overview").bearer(&service()).send();
    assert_problem(&r, 503, "security_unavailable");
    assert!(r.header("retry-after").is_some());
    let r = host.get(SCAN).bearer(&service()).send();
    assert_problem(&r, 503, "security_unavailable");
    // User functions go on (documented choice).
    assert_eq!(host.get(STATUS).bearer(&Jwt::user(&user)).send().status, 200);
}

#[test]
fn security_hardening_is_admin_only() {
    let db = TestDb::new();
    let user = db.user("user@example.test");
    let host = start(&db);
    for path in ["", "/incidents", "/blocks", "/config", "/audit-log", "/scans", "/threat-detection"] {
        assert_problem(&host.get(&format!("{SCAN}{path}")).send(), 401, "missing_token");
        assert_problem(&host.get(&format!("{SCAN}{path}")).bearer(&Jwt::user(&user)).send(), 403, "admin_required");
    }
    let r = host.post(&format!("{SCAN}/security_scan")).bearer(&Jwt::user(&user)).send();
    assert_problem(&r, 403, "admin_required");
    // An active admin row makes a user an administrator.
    db.exec(&format!("INSERT INTO user_roles (user_id, role) VALUES ('{user}', 'admin')"));
    let r = host.get(&format!("{SCAN}/incidents")).bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
}

fn finding<'a>(scan: &'a Value, test: &str) -> &'a Value {
    scan["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["test"] == test)
        .unwrap_or_else(|| panic!("no {test} in {scan}"))
}

#[test]
fn the_scan_probes_our_endpoints_and_derives_its_score_from_the_results() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db).var("stripe_webhook_secrets", "whsec_test_0123456789abcdefghijklmnop"));
    let r = host.post(SCAN).bearer(&service()).json(&json!({"operation": "security_scan"})).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let scan = r.json()["data"].clone();

    for test in [
        "jwt_alg_none",
        "jwt_wrong_key",
        "jwt_garbage",
        "jwt_oversized",
        "jwt_expired",
        "jwt_wrong_audience",
        "jwt_key_confusion",
    ] {
        let f = finding(&scan, test);
        assert_eq!(f["status"], "pass", "{f}");
        assert_eq!(f["evidence"]["status"], 401, "{f}");
    }
    for test in ["webhook_unsigned", "webhook_bad_signature"] {
        assert_eq!(finding(&scan, test)["evidence"]["status"], 400);
        assert_eq!(finding(&scan, test)["status"], "pass");
    }
    for test in ["sql_injection", "xss", "command_injection"] {
        let f = finding(&scan, test);
        assert_eq!(
            (f["status"].as_str(), f["evidence"]["code"].as_str()),
            (Some("pass"), Some("threat_detected")),
            "{f}"
        );
    }
    // cors_origins is `*` in tests: any origin may call, a warning with the header as evidence.
    let cors = finding(&scan, "cors_foreign_origin");
    assert_eq!(
        (cors["status"].as_str(), cors["evidence"]["access_control_allow_origin"].as_str()),
        (Some("warning"), Some("*"))
    );
    assert_eq!(finding(&scan, "rls_enabled")["status"], "pass");
    assert_eq!(finding(&scan, "privileged_functions")["status"], "pass");
    assert_eq!(finding(&scan, "rate_limiting")["status"], "pass");
    assert_eq!(finding(&scan, "threat_detection")["status"], "pass");
    // The fixtures use the Supabase CLI's published secret: rightly a critical failure.
    let secret = finding(&scan, "jwt_secret_strength");
    assert_eq!(
        (secret["status"].as_str(), secret["evidence"]["published_default"].as_bool()),
        (Some("fail"), Some(true))
    );
    assert_eq!(scan["status"], "critical");

    // The score is the mean of the results' points (pass 100, warning 70, failed critical 0...).
    let points: Vec<f64> = scan["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "skip")
        .map(|r| match (r["status"].as_str().unwrap(), r["severity"].as_str().unwrap()) {
            ("pass", _) => 100.0,
            ("warning", _) => 70.0,
            (_, "critical") => 0.0,
            (_, "high") => 10.0,
            (_, "medium") => 30.0,
            _ => 50.0,
        })
        .collect();
    let expected = (points.iter().sum::<f64>() / points.len() as f64).round();
    assert_eq!(scan["securityScore"].as_f64(), Some(expected));
    let total = scan["results"].as_array().unwrap().len() as i64;
    assert_eq!(scan["summary"]["totalTests"].as_i64(), Some(total));
    assert_eq!(scan["summary"]["criticalIssues"], 1);

    // The scan blocked no one and recorded no incident.
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_blocks"), 0);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_incidents"), 0);
    // Stored and listed.
    let reports = admin_get(&host, "/scans");
    assert_eq!(reports["total"], 1);
    let id = scan["scanId"].as_str().unwrap();
    assert_eq!(admin_get(&host, &format!("/scans/{id}"))["security_score"], scan["securityScore"]);
}

#[test]
fn the_scan_finds_what_was_broken_on_purpose() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db).var("jwt_secret", "k3J9x-Qw8vLz2Rt7Yp0Nc5Hs1Df6Gm4BaE-pL"));
    db.exec(
        "ALTER TABLE public.clients DISABLE ROW LEVEL SECURITY; \
         GRANT EXECUTE ON FUNCTION public.increment_usage(uuid, text, integer) TO authenticated; \
         UPDATE security_configuration SET config_value = config_value || '{\"xssDetection\": false}' \
          WHERE config_category = 'threat_detection'; \
         UPDATE security_configuration SET enabled = false WHERE config_category = 'rate_limiting';",
    );
    let r = host.post(&format!("{SCAN}/security_scan")).bearer(&service()).send();
    assert_eq!(r.status, 401, "tokens signed with the fixtures' secret are refused now: {}", r.text());
    let service = e2e::sign::jwt_hs256(
        &json!({"sub": SERVICE_SUB, "role": "service_role", "aud": "authenticated", "iss": Jwt::issuer(),
                "exp": 4_000_000_000u64}),
        "k3J9x-Qw8vLz2Rt7Yp0Nc5Hs1Df6Gm4BaE-pL",
    );
    let r = host.post(&format!("{SCAN}/security_scan")).bearer(&service).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let scan = r.json()["data"].clone();
    let rls = finding(&scan, "rls_enabled");
    assert_eq!(rls["status"], "fail");
    assert_eq!(rls["evidence"]["without_rls"], json!(["clients"]));
    let definers = finding(&scan, "privileged_functions");
    assert_eq!(definers["status"], "fail");
    assert_eq!(definers["evidence"]["executable_by_authenticated"], json!(["increment_usage(uuid,text,integer)"]));
    assert_eq!(finding(&scan, "xss")["status"], "fail");
    // With XSS detection off the payload reaches the handler, which asks for a token.
    assert_eq!(finding(&scan, "xss")["evidence"]["code"], "missing_token");
    assert_eq!(finding(&scan, "threat_detection")["evidence"]["switched_off"], json!(["xssDetection"]));
    assert_eq!(finding(&scan, "rate_limiting")["status"], "fail");
    assert_eq!(finding(&scan, "jwt_secret_strength")["status"], "pass");
    // No webhook secret in this host: the probes are refused with 503, a warning (not a pass).
    assert_eq!(finding(&scan, "webhook_unsigned")["status"], "warning");
    assert_eq!(finding(&scan, "webhook_unsigned")["evidence"]["code"], "webhook_not_configured");
    assert_eq!(scan["summary"]["criticalIssues"], 2);
    assert_eq!(scan["status"], "critical");
}

#[test]
fn config_is_validated_stored_and_audited() {
    let db = TestDb::new();
    let host = start(&db);
    let bad = admin_send(
        &host,
        "PUT",
        "/config",
        &json!({"category": "rate_limiting", "value": {"requestsPerMinute": 0, "burstLimit": "many", "colour": "red"}}),
    );
    let v = assert_problem(&bad, 400, "validation_failed");
    let fields: Vec<&str> = v["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["value.colour", "value.requestsPerMinute", "value.burstLimit"]);
    assert_problem(
        &admin_send(&host, "PUT", "/config", &json!({"category": "firewall", "value": {}})),
        400,
        "validation_failed",
    );
    assert_problem(
        &admin_send(&host, "PUT", "/config", &json!({"category": "incident_response", "key": "made_up", "value": {}})),
        400,
        "validation_failed",
    );
    assert_problem(
        &admin_send(&host, "PUT", "/config", &json!({"category": "rate_limiting", "value": {}, "extra": 1})),
        400,
        "invalid_body",
    );

    // A partial update merges into the stored value.
    let ok = admin_send(&host, "PUT", "/config", &json!({"category": "rate_limiting", "value": {"burstLimit": 50}}));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let stored = admin_get(&host, "/config");
    assert_eq!(
        stored["rate_limiting"]["global_settings"]["value"],
        json!({"requestsPerMinute": 100, "burstLimit": 50, "blockDuration": 300})
    );
    let response = admin_send(
        &host,
        "POST",
        "/config",
        &json!({"category": "incident_response", "key": "unauthorized_access", "value": {"auto_response": "temporary_block", "block_seconds": 120}}),
    );
    assert_eq!(response.status, 200, "{}", response.text());
    let log = admin_get(&host, "/audit-log?category=configuration_change");
    assert_eq!(log["total"], 2);
    assert_eq!(log["entries"][0]["resource_id"], "incident_response/unauthorized_access");
    assert_eq!(log["entries"][1]["details"]["before"]["burstLimit"], 200);
    assert_eq!(log["entries"][1]["details"]["after"]["burstLimit"], 50);
    assert_eq!(log["entries"][1]["actor"], "service_role");
    // The new response applies: a refused token now blocks the address for 120 s.
    assert_eq!(host.get(STATUS).bearer("garbage").send().status, 401);
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM security_blocks WHERE client_key = 'ip:127.0.0.1' AND expires_at < now() + interval '121 seconds'"),
        1
    );
}

#[test]
fn incidents_blocks_and_threat_analysis_through_the_api() {
    let db = TestDb::new();
    let user = db.user("mallory@example.test");
    let host = start(&db);
    let token = Jwt::user(&user);
    assert_eq!(
        host.get(&format!("{QUOTES}?q=1%20UNION%20SELECT%20password%20FROM%20users")).bearer(&token).send().status,
        403
    );

    let incidents = admin_get(&host, "/incidents?event_type=injection_attempt&status=open");
    assert_eq!(incidents["total"], 1);
    let incident = &incidents["incidents"][0];
    assert_eq!(incident["client_key"], format!("user:{user}"));
    let id = incident["id"].as_str().unwrap().to_string();
    assert_problem(
        &host.get(&format!("{SCAN}/incidents?threat_level=severe")).bearer(&service()).send(),
        400,
        "validation_failed",
    );
    assert_problem(
        &host.get(&format!("{SCAN}/incidents/not-a-uuid")).bearer(&service()).send(),
        400,
        "validation_failed",
    );

    let resolved = admin_send(&host, "POST", &format!("/incidents/{id}/resolve"), &json!({"note": "test account"}));
    assert_eq!(resolved.status, 200, "{}", resolved.text());
    assert_eq!(resolved.json()["data"]["status"], "resolved");
    assert_problem(
        &admin_send(&host, "POST", &format!("/incidents/{id}/resolve"), &json!({})),
        409,
        "already_resolved",
    );

    // The user is blocked (immediate_block); the block is listed with its expiry and can be lifted.
    let blocks = admin_get(&host, "/blocks");
    assert_eq!(blocks["total"], 1);
    assert_eq!(blocks["blocks"][0]["reason"], "threat");
    assert!(blocks["blocks"][0]["seconds_left"].as_i64().unwrap() > 3500);
    let key = format!("user%3A{user}");
    assert_eq!(Req::new("DELETE", &host.url(&format!("{SCAN}/blocks/{key}"))).bearer(&service()).send().status, 200);
    assert_eq!(host.get(STATUS).bearer(&token).send().status, 200);
    assert_problem(
        &Req::new("DELETE", &host.url(&format!("{SCAN}/blocks/{key}"))).bearer(&service()).send(),
        404,
        "not_found",
    );

    // A manual block of an address, with expiry; bad ones refused.
    let added = admin_send(
        &host,
        "POST",
        "/blocks",
        &json!({"ip": "198.51.100.23", "duration_seconds": 600, "note": "scanner"}),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    assert_eq!(added.json()["data"]["client_key"], "ip:198.51.100.23");
    assert_problem(&admin_send(&host, "POST", "/blocks", &json!({"ip": "999.1.1.1"})), 400, "validation_failed");
    assert_problem(
        &admin_send(&host, "POST", "/blocks", &json!({"ip": "1.1.1.1", "user_id": user})),
        400,
        "validation_failed",
    );
    assert_problem(
        &admin_send(&host, "POST", "/blocks", &json!({"ip": "1.1.1.1", "duration_seconds": 0})),
        400,
        "validation_failed",
    );
    // A manual block of 127.0.0.1 stops anonymous traffic from it (but not the service role).
    let local = admin_send(&host, "POST", "/blocks", &json!({"ip": "127.0.0.1", "duration_seconds": 60}));
    assert_eq!(local.status, 201);
    assert_problem(&host.post("/functions/v1/webhook-handler").json(&json!({})).send(), 403, "client_blocked");
    assert_eq!(admin_get(&host, "/blocks")["total"], 2);

    // Analysis of a submitted payload names the rules; recent traffic counts what was refused.
    let analysis = admin_send(
        &host,
        "POST",
        "/threat-detection",
        &json!({"payload": {"a": "<svg onload=alert(1)>", "b": ["fine", "1; rm -rf /"]}, "query": "id=1%27%20or%20%271%27=%271"}),
    );
    assert_eq!(analysis.status, 200, "{}", analysis.text());
    let a = analysis.json()["data"].clone();
    assert_eq!(a["threat_detected"], true);
    let fields: Vec<&str> = a["detections"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"query.id") && fields.contains(&"body.a") && fields.contains(&"body.b[1]"), "{fields:?}");
    assert!(a["detections"].as_array().unwrap().iter().all(|d| d["rule"].as_str().unwrap().contains('.')));
    let recent = admin_get(&host, "/threat-detection?hours=1");
    assert_eq!(recent["requests_refused"], 1);
    assert_eq!(recent["clients"], 1);
    assert_eq!(recent["by_function"][0]["function_name"], "quote-processor");
    assert!(recent["by_rule"][0]["rule"].as_str().unwrap().starts_with("sqli."));
    // Audit: resolve, unblock, two blocks.
    let log = admin_get(&host, "/audit-log?category=security_event");
    let actions: Vec<&str> =
        log["entries"].as_array().unwrap().iter().map(|e| e["action_performed"].as_str().unwrap()).collect();
    assert_eq!(actions, ["block", "block", "unblock", "resolve", "immediate_block"]);
}

// ---------------------------------------------------------------------------------------------
// Budgets that fit the caller (issue 17, item 2): the measurements repeated with the requests
// that made them.
// ---------------------------------------------------------------------------------------------

const WEBHOOK: &str = "/functions/v1/webhook-handler";
const WEBHOOK_SECRET: &str = "whsec_test_0123456789abcdefghijklmnop";
/// The cross-site `<img src="…/functions/v1/subscription-status?q=1'+OR+'1'='1">` of the issue.
const IMG_PROBE: &str = "/functions/v1/subscription-status?q=1'+OR+'1'='1";

fn with_webhooks(db: &TestDb) -> Host {
    Host::start(HostConfig::app(db).var("stripe_webhook_secrets", WEBHOOK_SECRET))
}

/// A distinct, self-contained event (a product created in Stripe).
fn product_event(n: usize) -> Vec<u8> {
    json!({
        "id": format!("evt_burst_{n:05}"), "object": "event", "type": "product.created",
        "created": e2e::sign::now_unix(), "livemode": false, "api_version": "2026-07-29.dahlia",
        "data": {"object": {"id": format!("prod_burst_{n:05}"), "object": "product", "active": true,
                            "name": format!("Product {n}"), "created": e2e::sign::now_unix(), "metadata": {}}}
    })
    .to_string()
    .into_bytes()
}

fn deliver(host: &Host, body: Vec<u8>) -> HttpResponse {
    let sig = e2e::sign::stripe_signature(&body, WEBHOOK_SECRET, e2e::sign::now_unix());
    host.post(WEBHOOK).header("content-type", "application/json").header("stripe-signature", &sig).body(body).send()
}

#[test]
fn a_thousand_signed_deliveries_from_one_address_are_all_applied_once() {
    let db = TestDb::new();
    // A client budget far below the burst, and the address already blocked for an hour by an
    // anonymous injection-looking request: neither touches verified deliveries.
    set_limits(&db, 1, 5, 300);
    let host = with_webhooks(&db);
    assert_problem(&host.get(IMG_PROBE).send(), 403, "threat_detected");
    assert_problem(&host.get(STATUS).send(), 403, "client_blocked");
    let spent_by_the_probes =
        query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key LIKE '%127.0.0.1'");

    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let statuses: Vec<(usize, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = Vec::new();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if n >= 1000 {
                            return seen;
                        }
                        let r = deliver(&host, product_event(n));
                        let outcome = if r.status == 200 {
                            r.json()["outcome"].as_str().unwrap_or("").to_string()
                        } else {
                            r.text()
                        };
                        seen.push((n, r.status, outcome));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    println!("1,000 signed deliveries from one address: {:.2} s", started.elapsed().as_secs_f64());
    let refused: Vec<_> = statuses.iter().filter(|(_, status, _)| *status != 200).collect();
    assert!(refused.is_empty(), "{} of 1000 refused, e.g. {:?}", refused.len(), refused.first());
    assert!(statuses.iter().all(|(_, _, outcome)| outcome == "applied"), "every delivery applied");
    assert_eq!(
        query_i64(
            &db,
            "SELECT count(*) FROM stripe_webhook_events WHERE stripe_event_id LIKE 'evt_burst_%' AND processed"
        ),
        1000
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM stripe_products WHERE id LIKE 'prod_burst_%'"), 1000);
    // Nothing was spent from a budget beyond the probes' own, nothing recorded against the address.
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key LIKE '%127.0.0.1'"),
        spent_by_the_probes
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_incidents WHERE event_type = 'rate_limit_exceeded'"), 0);
    // A redelivery of one of them changes nothing.
    let again = deliver(&host, product_event(7));
    assert_eq!((again.status, again.json()["outcome"].as_str()), (200, Some("duplicate")), "{}", again.text());
}

#[test]
fn a_block_earned_anonymously_never_locks_out_signed_in_users_or_stripe() {
    let db = TestDb::new();
    let host = with_webhooks(&db);
    // The cross-site probe: refused, and its address blocked for anonymous requests.
    let probe = assert_problem(&host.get(IMG_PROBE).send(), 403, "threat_detected");
    assert_eq!(probe["detections"][0]["field"], "query.q");
    assert_eq!(
        query_i64(&db, "SELECT count(*) FROM security_blocks WHERE client_key = 'ip:127.0.0.1' AND reason = 'threat'"),
        1
    );
    assert_problem(&host.get(STATUS).send(), 403, "client_blocked");
    assert_problem(&host.post(WEBHOOK).json(&json!({})).send(), 403, "client_blocked");
    // Signed-in users at that address and Stripe's deliveries go on.
    let user = db.user("office@example.test");
    assert_eq!(host.get(STATUS).bearer(&Jwt::user(&user)).send().status, 200);
    assert_eq!(deliver(&host, product_event(1)).status, 200);

    // The same for a block earned by going over the anonymous budget.
    db.exec("DELETE FROM security_blocks; DELETE FROM security_rate_limits;");
    set_limits(&db, 1, 3, 300);
    let anonymous: Vec<u16> = (0..5).map(|_| host.get(STATUS).send().status).collect();
    assert_eq!(anonymous, [401, 401, 401, 429, 429]);
    assert_eq!(host.get(STATUS).bearer(&Jwt::user(&user)).send().status, 200);
    assert_eq!(deliver(&host, product_event(2)).status, 200);

    // A block an administrator adds by hand holds for everyone at the address.
    let manual =
        admin_send(&host, "POST", "/blocks", &json!({"ip": "127.0.0.1", "duration_seconds": 60, "note": "by hand"}));
    assert_eq!(manual.status, 201, "{}", manual.text());
    assert_problem(&host.get(STATUS).bearer(&Jwt::user(&user)).send(), 403, "client_blocked");
}

#[test]
fn signed_in_users_behind_one_address_each_have_their_own_budget() {
    let db = TestDb::new();
    set_limits(&db, 1, 5, 300);
    let host = start(&db);
    let (a, b) = (Jwt::user(&db.user("a@office.test")), Jwt::user(&db.user("b@office.test")));
    let first: Vec<u16> = (0..6).map(|_| host.get(STATUS).bearer(&a).send().status).collect();
    assert_eq!(first, [200, 200, 200, 200, 200, 429]);
    // Same address, another user: a budget of their own, and a's block is a's alone.
    let second: Vec<u16> = (0..5).map(|_| host.get(STATUS).bearer(&b).send().status).collect();
    assert_eq!(second, [200; 5]);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key LIKE 'ip:%'"), 0);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_blocks WHERE client_key LIKE 'user:%'"), 1);
}

#[test]
fn failed_signatures_have_their_own_limit_that_blocks_no_one() {
    let db = TestDb::new();
    db.exec(
        "UPDATE security_configuration SET config_value = '{\"requestsPerMinute\": 1, \"burstLimit\": 3}' \
          WHERE config_category = 'rate_limiting' AND config_key = 'failed_webhook_signatures';",
    );
    let host = with_webhooks(&db);
    let forged = |n: usize| {
        host.post(WEBHOOK)
            .header("stripe-signature", "t=1,v1=00")
            .header("content-type", "application/json")
            .body(product_event(n))
            .send()
    };
    let statuses: Vec<u16> = (0..5).map(|n| forged(n).status).collect();
    assert_eq!(statuses, [400, 400, 400, 429, 429]);
    let r = forged(9);
    assert_problem(&r, 429, "rate_limited");
    assert!(r.header("retry-after").is_some());
    // Its own key; the client budget and the address are untouched.
    assert_eq!(
        query_i64(&db, "SELECT allowed FROM security_rate_limits WHERE client_key = 'signature:ip:127.0.0.1'"),
        3
    );
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_rate_limits WHERE client_key = 'ip:127.0.0.1'"), 0);
    assert_eq!(query_i64(&db, "SELECT count(*) FROM security_blocks"), 0);
    assert_eq!(deliver(&host, product_event(20)).status, 200, "a genuine delivery still goes through");
    assert_eq!(host.get(STATUS).bearer(&Jwt::user(&db.user("u@example.test"))).send().status, 200);
    // The guide's statement on the client budget leaves this budget as it is.
    set_limits(&db, 100, 200, 300);
    assert_eq!(forged(30).status, 429);
}
