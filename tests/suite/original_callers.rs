//! Callers of the original functions, unchanged: the request shapes its functions declare
//! (quote-processor's CreateQuoteRequest / UpdateQuoteRequest / BatchQuoteRequest,
//! quote-pdf-generator's body, the CI smoke test's `{"test": true}`) and the operations it
//! names by path, sent to ours. Each is answered with our data, `success` in every body and
//! `error` beside every problem.

use e2e::sign::{jwt_hs256, now_unix};
use e2e::{Host, HostConfig, HttpResponse, Jwt, Plan, TestDb};
use serde_json::{json, Value};

/// Supabase's service-role key, as the guide's `$SERVICE_ROLE_KEY`.
fn service_role_key() -> String {
    let now = now_unix();
    jwt_hs256(
        &json!({ "iss": "supabase", "ref": "abcdefghijklmnopqrst", "role": "service_role", "iat": now, "exp": now + 3600 }),
        &Jwt::secret(),
    )
}

fn ok(r: &HttpResponse, what: &str) -> Value {
    assert!((200..300).contains(&r.status), "{what}: {} {}", r.status, r.text());
    let v = r.json();
    assert_eq!(v["success"], true, "{what}: {v}");
    v
}

fn refused(r: &HttpResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!((v["code"].as_str(), v["success"].as_bool()), (Some(code), Some(false)), "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    v
}

#[test]
fn the_originals_quote_and_pdf_callers_are_answered() {
    let db = TestDb::new();
    let user = db.user("original-caller@example.test");
    db.subscribe(&user, Plan { pdf_export: true, bulk_operations: true, ..Plan::unlimited() });
    let host = Host::start(HostConfig::app(&db));
    let token = Jwt::user(&user);
    const QP: &str = "/functions/v1/quote-processor";

    // CreateQuoteRequest: {quote, operations}; line items carry the client's own total.
    let r = host
        .post(QP)
        .bearer(&token)
        .json(&json!({
            "quote": {
                "client_name": "Harbor View HOA",
                "client_email": "board@harborview.example",
                "line_items": [
                    { "name": "Mowing", "description": "Weekly", "quantity": 4, "unit_price": 45, "total": 180 },
                    { "name": "Mulch", "quantity": 2.5, "unit_price": 85, "total": 212.5, "category": "Installation" }
                ],
                "tax_rate": 8.25,
                "notes": "Spring program",
                "valid_until": "2030-06-30"
            },
            "operations": { "update_usage": true, "auto_save": false }
        }))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let created = ok(&r, "create");
    let quote = &created["quote"];
    assert_eq!((quote["subtotal"].as_str(), quote["total"].as_str()), (Some("392.50"), Some("424.88")), "{created}");
    assert_eq!(quote["id"], created["id"], "the quote under `quote` is the quote answered");
    let id = quote["id"].as_str().unwrap().to_string();

    // UpdateQuoteRequest: PUT {quote_id, updates} to the bare path; totals follow.
    let r = host
        .put(QP)
        .bearer(&token)
        .json(&json!({ "quote_id": id, "updates": { "notes": "Revised", "tax_rate": 10,
            "line_items": [{ "name": "Mowing", "quantity": 4, "unit_price": 45, "total": 180 }] } }))
        .send();
    let updated = ok(&r, "update");
    assert_eq!(
        (updated["quote"]["notes"].as_str(), updated["quote"]["total"].as_str()),
        (Some("Revised"), Some("198.00")),
        "{updated}"
    );

    // GET ?id= and the list.
    let one = ok(&host.get(&format!("{QP}?id={id}")).bearer(&token).send(), "get");
    assert_eq!(one["quote"]["id"], id.as_str());
    let list = ok(&host.get(QP).bearer(&token).send(), "list");
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // BatchQuoteRequest.
    let r = host
        .post(&format!("{QP}/batch"))
        .bearer(&token)
        .json(&json!({ "operation": "status_update", "quote_ids": [id], "options": { "status": "sent" } }))
        .send();
    ok(&r, "batch");

    // quote-pdf-generator: the original's body lists Quote objects; only their ids are read.
    const PDF: &str = "/functions/v1/quote-pdf-generator";
    let r = host
        .post(PDF)
        .bearer(&token)
        .json(&json!({
            "quotes": [{ "id": id, "user_id": "someone else", "total": 1, "client_name": "Name Only The Caller Sent" }],
            "template_options": { "include_terms": true, "company_logo": "x" },
            "output_options": { "storage_path": "../other", "filename": "x.pdf" }
        }))
        .send();
    let docs = ok(&r, "pdf from quotes");
    assert!(docs.to_string().contains(&id), "{docs}");
    assert!(!docs.to_string().contains("Name Only The Caller Sent"), "nothing of the client's quote object is used");
    let r = host
        .post(PDF)
        .bearer(&token)
        .json(&json!({ "quote_id": id, "template": "default", "options": { "format": "A4" } }))
        .send();
    assert_eq!((r.status, r.header("content-type")), (200, Some("application/pdf")), "{}", r.text());
    let template = ok(&host.get(&format!("{PDF}/template/default")).bearer(&token).send(), "template");
    assert_eq!(template["template"]["id"], "default");
    refused(&host.get(&format!("{PDF}/template/fancy")).bearer(&token).send(), 404, "not_found");

    // DELETE ?id=: 200 with a body the original's callers read; then it is gone.
    let gone = ok(&host.delete(&format!("{QP}?id={id}")).bearer(&token).send(), "delete");
    assert_eq!(gone["deleted"], true);
    refused(&host.delete(&format!("{QP}?id={id}")).bearer(&token).send(), 404, "not_found");

    // The original's CI smoke test posts to subscription-status.
    let status = ok(
        &host.post("/functions/v1/subscription-status").bearer(&token).json(&json!({ "test": true })).send(),
        "status",
    );
    assert_eq!(status["data"]["features"]["pdf_export"], true);
    refused(
        &host.post("/functions/v1/subscription-status").json(&json!({ "test": true })).send(),
        401,
        "missing_token",
    );
}

#[test]
fn the_originals_operation_paths_are_answered() {
    let db = TestDb::new();
    db.exec(
        "UPDATE security_configuration SET config_value = '{\"requestsPerMinute\": 100000, \"burstLimit\": 100000, \"blockDuration\": 1}'
         WHERE config_category = 'rate_limiting' AND config_key = 'global_settings'",
    );
    let green =
        Host::start(HostConfig::app(&db).var("deployment_color", "green").var("green_base_url", "http://127.0.0.1:9"));
    let host = Host::start(
        HostConfig::app(&db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base),
    );
    let key = service_role_key();
    let post = |path: &str, body: Value| host.post(&format!("/functions/v1/{path}")).bearer(&key).json(&body).send();
    let get = |path: &str| host.get(&format!("/functions/v1/{path}")).bearer(&key).send();

    // production-validator: one category by path, the original's way.
    for (path, kind) in [
        ("validate-performance", "performance"),
        ("validate-security", "security"),
        ("validate-business", "functionality"),
    ] {
        let v = ok(&post(&format!("production-validator/{path}"), json!({})), path);
        assert_eq!(v["data"]["validation_type"], kind, "{v}");
    }

    // performance-optimizer: the benchmark is real; warming is answered as not performed.
    let bench = ok(
        &post("performance-optimizer/benchmark", json!({ "duration": 5, "concurrency": 2, "includeColdStart": true })),
        "benchmark",
    );
    assert!(!bench["data"]["functions"].as_array().unwrap().is_empty(), "{bench}");
    for op in ["warm-up", "memory-optimization"] {
        let v = ok(&post(&format!("performance-optimizer/{op}"), json!({})), op);
        assert_eq!((v["data"]["performed"].as_bool(), v["data"]["operation"].as_str()), (Some(false), Some(op)), "{v}");
        assert!(v["data"]["reason"].as_str().unwrap().contains("one request"), "{v}");
    }
    let pool = ok(&post("performance-optimizer/connection-optimization", json!({})), "connection-optimization");
    assert!(pool["data"].is_object(), "{pool}");

    // security-hardening: the original's names of scans run the real scan.
    let scan = ok(&post("security-hardening/penetration-test", json!({})), "penetration-test");
    assert!(scan["data"]["results"].as_array().is_some_and(|r| r.len() >= 5), "{scan}");
    let config = ok(&post("security-hardening/security-config", json!({})), "security-config");
    assert!(config.to_string().contains("requestsPerMinute"), "{config}");
    ok(&post("security-hardening/threat-detection", json!({})), "threat-detection");

    // migration-controller: start (enabledFunctions), health-check, feature flags, rollback.
    let started =
        post("migration-controller/start", json!({ "enabledFunctions": ["subscription-status"], "featureFlags": {} }));
    let started = ok(&started, "start");
    assert_eq!(started["data"]["migration"]["functions"], json!(["subscription-status"]), "{started}");
    let health = ok(&post("migration-controller/health-check", json!({})), "health-check");
    assert_eq!(
        (health["data"]["overall"].as_str(), health["data"]["total"].as_i64()),
        (Some("healthy"), Some(1)),
        "{health}"
    );
    let flags =
        ok(&post("migration-controller/feature-flags", json!({ "flags": { "new_pdf": true } })), "feature-flags");
    assert_eq!(flags["data"]["performed"], false);
    let rolled = ok(&post("migration-controller/rollback", json!({ "reason": "original caller" })), "rollback");
    assert_eq!(rolled["data"]["migration"]["status"], "rolled_back", "{rolled}");

    // monitoring-alerting: the original's webhook raises an alert (an administrator's call here).
    let r = post(
        "monitoring-alerting/webhook",
        json!({ "severity": "warning", "title": "Queue depth", "message": "12 jobs waiting", "metricValue": 12 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let alerts = ok(&get("monitoring-alerting/alerts"), "alerts");
    assert!(alerts["data"]["alerts"].as_array().unwrap().iter().any(|a| a["title"] == "Queue depth"), "{alerts}");
    refused(
        &host.post("/functions/v1/monitoring-alerting/webhook").json(&json!({ "title": "x", "message": "y" })).send(),
        401,
        "missing_token",
    );
    drop(green);
}
