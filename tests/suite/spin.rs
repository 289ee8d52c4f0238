//! The application under real Spin: the Spin CLI built from its v4.0.2 tag
//! (`../shared/tools/spin/spin`, or `SPIN_BIN`) loads the project's own `spin.toml` and built
//! components, and every smoke request answers through Spin as it does through `edge`: the
//! same status codes and the same body shapes. Skipped, saying why, where the binary is absent.

use e2e::{spin_bin, Host, HostConfig, HttpResponse, Jwt, Plan, TestDb, FUNCTIONS};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const WEBHOOK_SECRET: &str = "whsec_spin_smoke_0123456789abcdef";

fn spin_present() -> bool {
    if spin_bin().is_none() {
        eprintln!("skipped: no Spin CLI at ../shared/tools/spin/spin (set SPIN_BIN to run these under real Spin)");
        return false;
    }
    true
}

/// A JSON value's shape: object keys (sorted) with their shapes, an array as its first
/// element's shape, anything else as its type. Values differ between runs; shapes must not.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => json!([a.first().map(shape).unwrap_or(Value::Null)]),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("boolean"),
        Value::Null => json!("null"),
    }
}

/// One smoke request's outcome: status, and the body's shape (or its content type).
fn outcome(r: &HttpResponse) -> (u16, Value) {
    let body = match serde_json::from_slice::<Value>(&r.body) {
        Ok(v) => shape(&v),
        Err(_) => json!(r.header("content-type").unwrap_or("")),
    };
    (r.status, body)
}

struct Seed {
    user: String,
}

fn seed(db: &TestDb) -> Seed {
    let user = db.user("spin-smoke@example.test");
    db.subscribe(&user, Plan { pdf_export: true, ..Plan::unlimited() });
    Seed { user }
}

fn config(db: &TestDb) -> HostConfig {
    HostConfig::app(db).var("stripe_webhook_secrets", WEBHOOK_SECRET)
}

/// The smoke requests, by name, against one host.
fn smoke(host: &Host, db: &TestDb, seed: &Seed) -> BTreeMap<String, (u16, Value)> {
    let mut out = BTreeMap::new();
    let user = Jwt::user(&seed.user);
    let service = Jwt::token("00000000-0000-4000-8000-000000000000", "service_role");
    for f in FUNCTIONS {
        out.insert(format!("{f} /health"), outcome(&host.get(&format!("/functions/v1/{f}/health")).send()));
    }
    out.insert("subscription-status, no token".into(), outcome(&host.get("/functions/v1/subscription-status").send()));
    let status = host.get("/functions/v1/subscription-status").bearer(&user).send();
    assert_eq!(status.status, 200, "{}", status.text());
    out.insert("subscription-status, user".into(), outcome(&status));
    // An empty list: a query with no rows, which released Spin would never answer unshaped.
    out.insert(
        "quote list, none yet".into(),
        outcome(&host.get("/functions/v1/quote-processor?status=declined").bearer(&user).send()),
    );

    // A quote created with its PDF: quote-processor calls quote-pdf-generator (service chaining).
    let created = host
        .post("/functions/v1/quote-processor")
        .bearer(&user)
        .json(&json!({"quote": {"client_name": "Spin & Co", "line_items": [{"name": "Survey", "quantity": 2, "unit_price": "45.00"}]},
                      "operations": {"generate_pdf": true}}))
        .send();
    assert_eq!(created.status, 201, "{}", created.text());
    let quote = created.json();
    assert_eq!(quote["document"]["status"], "generated", "{quote}");
    out.insert("quote create with generate_pdf".into(), outcome(&created));
    let pdf =
        host.post("/functions/v1/quote-pdf-generator").bearer(&user).json(&json!({"quote_id": quote["id"]})).send();
    assert_eq!(pdf.status, 200, "{}", pdf.text());
    assert!(pdf.body.starts_with(b"%PDF-"), "a PDF");
    out.insert("the quote's PDF".into(), outcome(&pdf));

    // A signed Stripe event, delivered twice: applied once. A forged `spin-client-addr` is
    // not what the audit trail records.
    let event = json!({
        "id": format!("evt_spin_smoke_{}", db.name), "object": "event", "type": "product.created",
        "created": e2e::sign::now_unix(), "livemode": false,
        "data": {"object": {"id": "prod_spin_smoke", "object": "product", "name": "Smoke", "active": true, "metadata": {}}},
    })
    .to_string()
    .into_bytes();
    for delivery in ["first", "again"] {
        let signature = e2e::sign::stripe_signature(&event, WEBHOOK_SECRET, e2e::sign::now_unix());
        let r = host
            .post("/functions/v1/webhook-handler")
            .header("content-type", "application/json")
            .header("stripe-signature", &signature)
            .header("spin-client-addr", "6.6.6.6:666")
            .body(event.clone())
            .send();
        assert_eq!(r.status, 200, "{}", r.text());
        out.insert(format!("signed webhook, {delivery}"), outcome(&r));
    }
    let mut c = db.client();
    let applied: i64 =
        c.query_one("SELECT count(*) FROM stripe_products WHERE id = 'prod_spin_smoke'", &[]).unwrap().get(0);
    assert_eq!(applied, 1);
    let forged: i64 =
        c.query_one("SELECT count(*) FROM webhook_audit_trail WHERE client_addr LIKE '6.6.6.6%'", &[]).unwrap().get(0);
    assert_eq!(forged, 0, "a client's own spin-client-addr was recorded as its address");

    // An administrator's call with a service-role token.
    let overview = host.get("/functions/v1/webhook-monitor/overview").bearer(&service).send();
    assert_eq!(overview.status, 200, "{}", overview.text());
    out.insert("webhook-monitor overview, service role".into(), outcome(&overview));
    out
}

#[test]
fn spin_serves_the_application_as_edge_does() {
    if !spin_present() {
        return;
    }
    let (spin_db, edge_db) = (TestDb::new(), TestDb::new());
    let (spin_seed, edge_seed) = (seed(&spin_db), seed(&edge_db));
    let spin = Host::spin(config(&spin_db));
    let edge = Host::edge(config(&edge_db));
    let through_spin = smoke(&spin, &spin_db, &spin_seed);
    let through_edge = smoke(&edge, &edge_db, &edge_seed);
    for (name, answer) in &through_edge {
        assert_eq!(through_spin.get(name), Some(answer), "{name}: Spin answered differently from edge");
    }
    assert_eq!(through_spin.len(), through_edge.len());
}

#[test]
fn spin_forwards_a_migrations_green_share_to_a_green_edge() {
    if !spin_present() {
        return;
    }
    let db = TestDb::new();
    let seed = seed(&db);
    let green = Host::edge(HostConfig::app(&db).var("deployment_color", "green"));
    let blue = Host::spin(
        HostConfig::app(&db)
            .var("deployment_color", "blue")
            .var("green_base_url", &green.base)
            .var("green_origin", &green.base),
    );
    let service = Jwt::token("00000000-0000-4000-8000-000000000000", "service_role");
    let r = blue
        .post("/functions/v1/migration-controller")
        .bearer(&service)
        .json(&json!({"operation": "initialize_migration", "steps": [100], "functions": ["subscription-status"]}))
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    let r = blue.get("/functions/v1/subscription-status").bearer(&Jwt::user(&seed.user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-deployment-color"), Some("green"), "served by green through Spin's outbound HTTP");
}

#[test]
fn spin_runs_the_fermyon_cloud_manifest_with_calls_through_its_own_origin() {
    if !spin_present() {
        return;
    }
    let db = TestDb::new();
    let seed = seed(&db);
    let dir = e2e::TempDir::new("cloud-manifest");
    let out = std::process::Command::new(e2e::edge_bin())
        .args(["deploy", "--target", "spin", "--plan", "-f"])
        .arg(e2e::root().join("spin.toml"))
        .arg("--out")
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut cfg = config(&db);
    cfg.manifest = dir.0.join("spin.toml");
    let host = Host::spin(cfg);
    let created = host
        .post("/functions/v1/quote-processor")
        .bearer(&Jwt::user(&seed.user))
        .json(&json!({"quote": {"client_name": "Cloud", "line_items": [{"name": "A", "quantity": 1, "unit_price": "9.00"}]},
                      "operations": {"generate_pdf": true}}))
        .send();
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["document"]["status"], "generated", "quote-pdf-generator reached through http://self");
}
