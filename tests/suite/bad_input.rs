//! Bad input gets a clear 4xx problem+json, never a 500: malformed JSON, oversized bodies,
//! wrong content types, unknown routes and methods, bad tokens.

use e2e::{probe_wasm, Host, HostConfig, Jwt, TempDir, TestDb, FUNCTIONS};

fn assert_problem(r: &e2e::HttpResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status);
    assert!(v["title"].is_string() && v["type"].is_string());
    // The original API's members, which its callers read from every answer.
    assert_eq!(v["success"], false, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"), "CORS on errors too");
}

#[test]
fn every_function_answers_health_without_auth_and_nothing_internal() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    for f in FUNCTIONS {
        let r = host.get(&format!("/functions/v1/{f}/health")).send();
        assert_eq!(r.status, 200, "{f}");
        let v = r.json();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["function"], f);
        assert!(v["version"].is_string());
        // monitoring-alerting also says ok / degraded / down per component, and nothing more.
        let components = v.get("components").and_then(|c| c.as_object()).filter(|_| f == "monitoring-alerting");
        if let Some(c) = components {
            assert!(c.values().all(|s| s == "ok"), "{v}");
        }
        let fields = if components.is_some() { 4 } else { 3 };
        assert_eq!(v.as_object().unwrap().len(), fields, "health says nothing else: {v}");
    }
}

#[test]
fn routes_not_built_yet_answer_404_problem_json() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    // Functions whose endpoints arrive with later work: nothing pretends to work meanwhile.
    let not_built = ["security-hardening"];
    for f in not_built {
        let r = host.post(&format!("/functions/v1/{f}")).json(&serde_json::json!({"operation": "status"})).send();
        assert_problem(&r, 404, "route_not_found");
    }
    let r = host.get("/functions/v1/no-such-function").send();
    assert_problem(&r, 404, "route_not_found");
    let r = host
        .get("/functions/v1/subscription-status/nope")
        .bearer(&Jwt::user("3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"))
        .send();
    assert_problem(&r, 404, "route_not_found");
}

#[test]
fn wrong_methods_bad_tokens_and_preflight() {
    let db = TestDb::new();
    let host = Host::start(HostConfig::app(&db));
    let path = "/functions/v1/subscription-status";
    assert_problem(
        &e2e::Req::new("PATCH", &host.url(path)).json(&serde_json::json!({})).send(),
        405,
        "method_not_allowed",
    );
    // The original's callers post (its CI smoke test sends {"test": true}): a token is still needed.
    assert_problem(&host.post(path).json(&serde_json::json!({"test": true})).send(), 401, "missing_token");
    assert_problem(&host.get(path).send(), 401, "missing_token");
    assert_problem(&host.get(path).header("authorization", "Basic abc").send(), 401, "invalid_authorization_header");
    assert_problem(&host.get(path).bearer("not-a-jwt").send(), 401, "token_malformed");
    assert_problem(&host.get(path).bearer(&"a".repeat(9000)).send(), 401, "token_too_large");
    let r = e2e::Req::new("OPTIONS", &host.url(path))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET")
        .send();
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r.header("access-control-allow-headers").unwrap().contains("authorization"));
}

/// A manifest serving the probe component (which runs the shared request pipeline).
fn probe_app(dir: &TempDir) -> std::path::PathBuf {
    let manifest = dir.0.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            r#"spin_manifest_version = 2
[application]
name = "probe"
[variables]
db_url = {{ default = "" }}
[[trigger.http]]
route = "/probe/..."
component = "probe"
[component.probe]
source = "{}"
[component.probe.variables]
db_url = "{{{{ db_url }}}}"
"#,
            probe_wasm().display()
        ),
    )
    .unwrap();
    manifest
}

#[test]
fn json_bodies_are_checked_before_any_handler_runs() {
    let dir = TempDir::new("badjson");
    let host = Host::start(HostConfig { manifest: probe_app(&dir), vars: vec![], args: vec![], env: vec![] });
    let url = "/probe/json";
    assert_problem(
        &host.post(url).header("content-type", "application/json").body(b"{\"a\": ".to_vec()).send(),
        400,
        "malformed_json",
    );
    assert_problem(
        &host.post(url).header("content-type", "application/json").body(b"   ".to_vec()).send(),
        400,
        "empty_body",
    );
    assert_problem(
        &host.post(url).header("content-type", "text/plain").body(b"{}".to_vec()).send(),
        415,
        "unsupported_media_type",
    );
    assert_problem(&host.post(url).body(b"{}".to_vec()).send(), 415, "unsupported_media_type");
    let big = vec![b'x'; 10 << 20];
    assert_problem(
        &host.post(url).header("content-type", "application/json").body(big).send(),
        413,
        "payload_too_large",
    );
    let ok = host.post(url).json(&serde_json::json!({"name": "O'Brien <b>"})).send();
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["received"]["name"], "O'Brien <b>");
}

#[test]
fn a_body_over_the_host_limit_is_refused_by_the_host() {
    let dir = TempDir::new("hugebody");
    let host = Host::start(HostConfig { manifest: probe_app(&dir), vars: vec![], args: vec![], env: vec![] });
    let r =
        host.post("/probe/json").header("content-type", "application/json").header("content-length", "20000000").send();
    assert_problem(&r, 413, "payload_too_large");
}
