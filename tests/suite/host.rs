//! The `edge` host behaves like Spin where components can tell: routing and `spin-*`
//! headers, variables, `allowed_outbound_hosts`, per-request limits, the compiled cache.

use e2e::http::Recorder;
use e2e::{probe_manifest, Host, HostConfig, TempDir, TestDb};
use std::time::{Duration, Instant};

fn manifest(dir: &TempDir, allowed: &[String], extra: &str) -> std::path::PathBuf {
    probe_manifest(dir, allowed, extra)
}

fn start(dir: &TempDir, allowed: &[String]) -> Host {
    Host::start(HostConfig {
        manifest: manifest(dir, allowed, ""),
        vars: vec![("secret_thing".into(), "s3cr3t".into())],
        args: vec![],
        env: vec![],
    })
}

fn header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"].as_array()?.iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

#[test]
fn routes_match_like_spin_and_spin_headers_are_set() {
    let dir = TempDir::new("routes");
    let host = start(&dir, &[]);
    let r = host.get("/probe/echo?x=1").header("spin-client-addr", "6.6.6.6:1").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(e["path"], "/probe/echo");
    assert_eq!(e["query"], "x=1");
    assert_eq!(header(&e, "spin-path-info"), Some("/echo"));
    assert_eq!(header(&e, "spin-matched-route"), Some("/probe/..."));
    assert_eq!(header(&e, "spin-raw-component-route"), Some("/probe/..."));
    assert_eq!(header(&e, "spin-component-route"), Some("/probe"));
    assert_eq!(header(&e, "spin-base-path"), Some("/"));
    assert!(header(&e, "spin-full-url").unwrap().ends_with("/probe/echo?x=1"));
    let client = header(&e, "spin-client-addr").unwrap();
    assert!(client.starts_with("127.0.0.1:"), "a client cannot forge spin-client-addr: {client}");

    // Most specific wins: /probe/deeper/... belongs to `deeper`, whose path-info starts below it.
    let e = host.get("/probe/deeper/echo").send().json();
    assert_eq!(header(&e, "spin-matched-route"), Some("/probe/deeper/..."));
    assert_eq!(header(&e, "spin-path-info"), Some("/echo"));
    // An exact route matches only itself.
    assert_eq!(host.get("/exact").send().status, 404, "the probe's root is its own 404");
    let r = host.get("/exact/echo").send();
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "route_not_found");
    // The host logs each request on its way out; the line may trail the response.
    assert!(
        host.wait_for_output(|o| o.contains("[exact]"), Duration::from_secs(5)),
        "the exact route reached its component"
    );
    assert_eq!(host.get("/probex/echo").send().status, 404);
}

#[test]
fn variables_resolve_from_environment_dotenv_and_defaults() {
    let dir = TempDir::new("vars");
    std::fs::write(dir.0.join(".env"), "SPIN_VARIABLE_GREETING=from-dotenv\n").unwrap();
    let host = start(&dir, &[]);
    let v = host.get("/probe/var?name=greeting").send().json();
    assert_eq!(v["value"], "from-dotenv, world");
    let v = host.get("/probe/var?name=secret_thing").send().json();
    assert_eq!(v["value"], "s3cr3t");
    assert_eq!(host.get("/probe/var?name=not_declared").send().status, 404);
    drop(host);

    let host = Host::start(HostConfig {
        manifest: manifest(&dir, &[], ""),
        vars: vec![("secret_thing".into(), "x".into()), ("greeting".into(), "from-env".into())],
        args: vec![],
        env: vec![],
    });
    assert_eq!(host.get("/probe/var?name=greeting").send().json()["value"], "from-env, world");
    drop(host);
    std::fs::remove_file(dir.0.join(".env")).unwrap();
    let host = start(&dir, &[]);
    assert_eq!(host.get("/probe/var?name=greeting").send().json()["value"], "hello, world");
}

#[test]
fn a_missing_required_variable_stops_the_host_with_its_name() {
    let dir = TempDir::new("required");
    let out = std::process::Command::new(e2e::edge_bin())
        .args(["up", "--listen", "127.0.0.1:0", "-f"])
        .arg(manifest(&dir, &[], ""))
        .env_remove("SPIN_VARIABLE_SECRET_THING")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SPIN_VARIABLE_SECRET_THING"));
}

#[test]
fn outbound_http_is_limited_to_allowed_hosts() {
    let allowed_server = Recorder::start(200, r#"{"ok":true}"#);
    let other_server = Recorder::start(200, r#"{"ok":true}"#);
    let dir = TempDir::new("outbound");
    let host = start(&dir, &[format!("http://127.0.0.1:{}", allowed_server.port)]);
    let r = host.get(&format!("/probe/fetch?url=http://127.0.0.1:{}/hello", allowed_server.port)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(allowed_server.received().len(), 1);
    assert_eq!(allowed_server.received()[0].path, "/hello");

    let r = host.get(&format!("/probe/fetch?url=http://127.0.0.1:{}/steal", other_server.port)).send();
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(other_server.received().is_empty(), "the forbidden host received nothing");
    assert!(host.wait_for_output(|o| o.contains("refused: not in allowed_outbound_hosts"), Duration::from_secs(2)));
}

#[test]
fn outbound_postgres_is_limited_to_allowed_hosts() {
    let db = TestDb::new();
    let dir = TempDir::new("pg");
    let host = start(&dir, &[format!("postgres://{}", db.host_port())]);
    let r = host.get(&format!("/probe/pg?url={}", db.url)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["one"], 1);
    // The pool is the host's, not the probe's: `deeper`, allowed nothing, may not use it.
    let r = host.get(&format!("/probe/deeper/pg?url={}", db.url)).send();
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("not permitted"));
    drop(host);
    let host = start(&dir, &["postgres://db.internal.example:5432".to_string()]);
    let r = host.get(&format!("/probe/pg?url={}", db.url)).send();
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("not permitted"));
}

#[test]
fn a_runaway_component_times_out_alone_and_the_host_lives_on() {
    let dir = TempDir::new("loop");
    let mut host = start(&dir, &[]);
    let started = Instant::now();
    let r = host.get("/probe/loop").timeout(Duration::from_secs(20)).send();
    assert_eq!(r.status, 504, "{}", r.text());
    assert_eq!(r.json()["code"], "function_timeout");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(host.alive());
    assert_eq!(host.get("/probe/echo").send().status, 200);
}

#[test]
fn a_memory_hungry_component_fails_alone_and_the_host_lives_on() {
    let dir = TempDir::new("alloc");
    let mut host = start(&dir, &[]);
    let r = host.get("/probe/alloc").timeout(Duration::from_secs(20)).send();
    assert!(r.status >= 500, "{}", r.text());
    assert!(host.alive());
    for _ in 0..3 {
        assert_eq!(host.get("/probe/echo").send().status, 200);
    }
}

#[test]
fn a_restart_reuses_the_compiled_cache() {
    let dir = TempDir::new("cache");
    let first = start(&dir, &[]);
    assert!(first.output().contains("(0 from cache, 3 compiled)"), "{}", first.output());
    drop(first);
    let second = start(&dir, &[]);
    assert!(second.output().contains("(3 from cache, 0 compiled)"), "{}", second.output());
    assert_eq!(second.get("/probe/echo").send().status, 200);
}

#[test]
fn the_hosts_wit_is_the_wit_shipped_in_spin_sdk() {
    // Find the spin-sdk package the components are built with.
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(e2e::root())
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sdk = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "spin-sdk" && p["version"].as_str().unwrap().starts_with("5.2"))
        .expect("spin-sdk 5.2 in the dependency graph");
    let sdk_dir = std::path::Path::new(sdk["manifest_path"].as_str().unwrap()).parent().unwrap().join("wit/deps");
    for rel in ["spin-postgres@4.0.0/postgres.wit", "spin@2.0.0/variables.wit"] {
        let ours = std::fs::read(e2e::root().join("wit/deps").join(rel)).unwrap();
        let theirs = std::fs::read(sdk_dir.join(rel)).unwrap();
        assert!(ours == theirs, "wit/deps/{rel} differs from the spin-sdk package's copy");
    }
}

#[test]
fn components_call_each_other_in_process_through_spin_internal_hosts() {
    let dir = TempDir::new("chain");
    let host = start(&dir, &["http://deeper.spin.internal".to_string()]);
    // Matched as Spin matches a chained call: as if against `/...`, the whole path its
    // path-info, whatever the component's own route.
    let r = host.get("/probe/fetch?url=http://deeper.spin.internal/echo").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let inner: serde_json::Value = serde_json::from_str(r.json()["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["path"], "/echo");
    assert_eq!(header(&inner, "spin-matched-route"), Some("/..."));
    assert_eq!(header(&inner, "spin-component-route"), Some(""));
    assert_eq!(header(&inner, "spin-path-info"), Some("/echo"));
    assert_eq!(header(&inner, "spin-client-addr"), Some("0.0.0.0:0"));
    // Not allowed: refused, and the other component never runs.
    let r = host.get("/probe/fetch?url=http://exact.spin.internal/exact").send();
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(
        host.wait_for_output(|o| o.contains("exact.spin.internal") || o.contains("refused"), Duration::from_secs(2))
    );
    assert!(!host.output().contains("[exact] GET /exact"), "the refused call never ran the component");
}

#[test]
fn an_instance_that_traps_mid_transaction_leaves_a_clean_session_to_the_next_request() {
    let db = TestDb::new();
    let dir = TempDir::new("trap-tx");
    // One connection in the pool: the next request is served on the session the trapped one held.
    let host = Host::start(HostConfig {
        manifest: manifest(&dir, &[format!("postgres://{}", db.host_port())], "pg_pool_size = 1"),
        vars: vec![("secret_thing".into(), "s3cr3t".into()), ("db_url".into(), db.url.clone())],
        args: vec![],
        env: vec![],
    });
    let r = host.get("/probe/session").send();
    assert_eq!(r.status, 200, "{}", r.text());
    let fresh = r.json();
    let pid = fresh["pid"].as_i64().unwrap();

    // In a transaction with a role, claims, a session setting and an advisory lock, back from
    // a savepoint, the instance traps.
    let r = host.get("/probe/session?trap=1").send();
    assert_eq!((r.status, r.json()["code"].as_str()), (500, Some("function_failed")), "{}", r.text());
    let held =
        |o: &str| o.lines().any(|l| l.contains("trapping in a transaction") && l.contains(&format!("\"pid\":{pid},")));
    assert!(host.wait_for_output(held, Duration::from_secs(5)), "the probe held the session:\n{}", host.output());
    let line = host.output().lines().find(|l| held(l)).unwrap().to_string();
    for left in ["\"advisory_locks\":1", "\"role\":\"authenticated\"", "\"xid\":\""] {
        assert!(line.contains(left), "the trapped instance had {left}: {line}");
    }

    let r = host.get("/probe/session").send();
    assert_eq!(r.status, 200, "the next request on the connection: {}", r.text());
    let after = r.json();
    assert_eq!(after["pid"], pid, "the next request runs on the same backend");
    assert_eq!(after, fresh, "and finds the session as a fresh one: no transaction, role, claims, setting or lock");
    // Seen from another connection: the backend is idle, not idle in a transaction.
    let state: String =
        db.client().query_one("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&(pid as i32)]).unwrap().get(0);
    assert_eq!(state, "idle");
    let metrics = host.get("/.well-known/edge/metrics").send().text();
    let figure = |name: &str| {
        let line =
            metrics.lines().find(|l| l.starts_with("edge_pg_pool{") && l.contains(&format!("figure=\"{name}\"")));
        line.and_then(|l| l.rsplit(' ').next())
            .unwrap_or_else(|| panic!("no pool figure {name}:\n{metrics}"))
            .to_string()
    };
    assert_eq!(
        (figure("rolled_back"), figure("created"), figure("discarded")),
        ("1".into(), "1".into(), "0".into()),
        "rolled back, not replaced"
    );
}
