//! Spin's conformance suite against `edge up`: what a Spin-compliant runtime must show a
//! guest (request shape, variables, outbound HTTP, PostgreSQL, TCP sockets, key-value,
//! SQLite). The suite (Apache-2.0) ships tests and guest components but no runner; this is
//! ours. It reads the suite from `../shared/reference/spin-conformance` beside the
//! repository, builds its components once (for `wasm32-unknown-unknown`, as the suite
//! packages them: core modules, which edge componentizes when it loads them) into
//! `target/conformance`, starts the services a test names (HTTP and TCP echo servers, the
//! test cluster's PostgreSQL with the suite's init SQL), and compares each answer as the
//! suite's rules say: the status, the body, every expected header, and no other header.
//!
//! Redis and MQTT are not implemented by edge: those tests check that `edge up` refuses
//! their components, naming the interface. Without the suite every test here is skipped
//! with a message.

use e2e::{edge_bin, root, Host, HostConfig, TempDir};
use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

const TARGET: &str = "wasm32-unknown-unknown";

fn suite() -> Option<PathBuf> {
    let dir = root().join("../shared/reference/spin-conformance");
    dir.join("tests").is_dir().then_some(dir)
}

macro_rules! skip_without_suite {
    () => {
        match suite() {
            Some(s) => s,
            None => {
                eprintln!("skipped: Spin's conformance suite is not at ../shared/reference/spin-conformance");
                return;
            }
        }
    };
}

/// Build every component of the suite once per run; `name → .wasm`.
fn components(suite: &Path) -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let target_dir = root().join("target/conformance");
        let mut packages = BTreeMap::new();
        for entry in std::fs::read_dir(suite.join("components")).expect("the suite's components") {
            let dir = entry.unwrap().path();
            let manifest: toml::Table =
                toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml")).unwrap()).unwrap();
            let package = manifest["package"]["name"].as_str().unwrap().to_string();
            packages.insert(dir.file_name().unwrap().to_string_lossy().into_owned(), package);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--release", "--locked", "--target", TARGET, "--manifest-path"])
            .arg(suite.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir);
        for p in packages.values() {
            cmd.args(["-p", p]);
        }
        // Only what the suite's own workspace asks for: no flags of the outer build.
        for var in ["RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR"] {
            cmd.env_remove(var);
        }
        let out = cmd.output().expect("cargo runs");
        assert!(
            out.status.success(),
            "building the conformance components failed (is the {TARGET} target installed? scripts/test adds it):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        packages
            .into_iter()
            .map(|(dir, package)| {
                let wasm = target_dir.join(TARGET).join("release").join(format!("{}.wasm", package.replace('-', "_")));
                assert!(wasm.exists(), "{} was not built", wasm.display());
                (dir, wasm)
            })
            .collect()
    })
}

/// The services a test asks for, each known by the port a guest would use (`%{port=N}`).
#[derive(Default)]
struct Services {
    ports: BTreeMap<u16, u16>,
}

impl Services {
    fn start(preconditions: &[serde_json::Value]) -> Services {
        let mut s = Services::default();
        for p in preconditions {
            match p["kind"].as_str().unwrap_or_default() {
                "http-echo" => {
                    s.ports.insert(80, http_echo());
                }
                "tcp-echo" => {
                    s.ports.insert(7, tcp_echo());
                }
                "postgres" => {
                    s.ports.insert(5432, postgres_service());
                }
                // The embedded stores need nothing: each test runs in a fresh state folder.
                "key-value-store" | "sqlite" => {}
                other => panic!("no service `{other}` in this runner"),
            }
        }
        s
    }

    /// Replace `%{port=N}` (and `%{source=NAME}` through `source`) in `text`.
    fn substitute(&self, text: &str, mut source: impl FnMut(&str) -> String) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("%{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed %{...}") + start;
            let (key, value) = rest[start + 2..end].split_once('=').expect("%{key=value}");
            match key.trim() {
                "port" => {
                    let guest: u16 = value.trim().parse().unwrap();
                    let port = self.ports.get(&guest).unwrap_or_else(|| panic!("no service offers port {guest}"));
                    out.push_str(&port.to_string());
                }
                "source" => out.push_str(&source(value.trim())),
                other => panic!("unknown template key {other}"),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// An HTTP server answering every request with its own body (`text/plain`).
fn http_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let Ok(req) = read_request(&mut reader) else { return };
                let mut stream = stream;
                let head =
                    format!("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n", req.len());
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&req);
            });
        }
    });
    port
}

/// The body of one request (by `content-length`).
fn read_request(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    use std::io::BufRead;
    let mut length = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// A TCP server sending back whatever it receives.
fn tcp_echo() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut out = stream.try_clone().unwrap();
                let _ = std::io::copy(&mut &stream, &mut out);
            });
        }
    });
    port
}

/// The test cluster's PostgreSQL with a fresh `spin_dev` database made by the suite's init
/// SQL (the database name is fixed in the suite's test).
fn postgres_service() -> u16 {
    let admin = std::env::var("EDGE_TEST_PG").expect("EDGE_TEST_PG: run the tests with scripts/test");
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("the test cluster");
    // Two statements: DROP DATABASE cannot run in the transaction a multi-statement string is.
    c.batch_execute("DROP DATABASE IF EXISTS spin_dev WITH (FORCE)").unwrap();
    c.batch_execute("CREATE DATABASE spin_dev").unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let mut db = postgres::Client::connect(&format!("{base}/spin_dev"), postgres::NoTls).unwrap();
    let init = suite().unwrap().join("crates/test-environment/services/postgres-init");
    let mut files: Vec<PathBuf> = std::fs::read_dir(init).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for f in files {
        db.batch_execute(&std::fs::read_to_string(&f).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    let after_at = admin.split('@').nth(1).unwrap();
    after_at.split('/').next().unwrap().rsplit_once(':').unwrap().1.parse().unwrap()
}

/// JSON5 as the suite writes it (unquoted keys, trailing commas) made JSON.
fn json5(text: &str) -> serde_json::Value {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&n) = chars.peek().filter(|n| n.is_ascii_alphanumeric() || **n == '_') {
                    word.push(n);
                    chars.next();
                }
                let key = {
                    let rest: String = chars.clone().take_while(|c| c.is_whitespace() || *c == ':').collect();
                    rest.contains(':')
                };
                if key {
                    out.push_str(&format!("\"{word}\""));
                } else {
                    out.push_str(&word);
                }
            }
            ',' => {
                let next = chars.clone().find(|c| !c.is_whitespace());
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
            }
            c => out.push(c),
        }
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON5 this runner reads: {e}\n{out}"))
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// One request as the suite sends it (its own `Host` when it names one), the answer read
/// whole.
fn send(base: &str, request: &serde_json::Value, services: &Services) -> Answer {
    let authority = base.strip_prefix("http://").unwrap();
    let method = request["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
    let path = request["path"].as_str().unwrap_or("/");
    let headers: Vec<(String, String)> = request["headers"]
        .as_array()
        .map(|hs| {
            hs.iter()
                .map(|h| {
                    (
                        h["name"].as_str().unwrap().to_string(),
                        services.substitute(h["value"].as_str().unwrap(), |_| unreachable!()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let body = request["body"].as_str().unwrap_or_default().as_bytes().to_vec();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("host: {authority}\r\n"));
    }
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body).unwrap();
    let r = e2e::http::read_response(&mut BufReader::new(stream)).expect("an answer");
    Answer { status: r.status, headers: r.headers, body: r.body }
}

/// The suite's rules: status, then body, then every expected header (a value compared
/// without case; `optional` ones may be missing), and no header it does not list.
fn compare(expected: &serde_json::Value, actual: &Answer) -> Result<(), String> {
    let status = expected["status"].as_u64().unwrap_or(200) as u16;
    let body = String::from_utf8_lossy(&actual.body);
    if actual.status != status {
        return Err(format!("status {} instead of {status}; body: {body}", actual.status));
    }
    let want = expected["body"].as_str().unwrap_or_default();
    if body != want {
        return Err(format!("body {body:?} instead of {want:?}"));
    }
    let mut headers: BTreeMap<String, String> =
        actual.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_ascii_lowercase())).collect();
    for h in expected["headers"].as_array().into_iter().flatten() {
        let name = h["name"].as_str().unwrap().to_ascii_lowercase();
        match (headers.remove(&name), h["value"].as_str()) {
            (None, _) if h["optional"].as_bool().unwrap_or(false) => {}
            (None, _) => return Err(format!("header {name} missing")),
            (Some(v), Some(want)) if v != want.to_ascii_lowercase() => {
                return Err(format!("header {name} is {v:?}, not {want:?}"))
            }
            _ => {}
        }
    }
    if !headers.is_empty() {
        return Err(format!("unexpected headers: {headers:?}"));
    }
    Ok(())
}

/// The test's manifest, with its components and service ports, in a directory of its own.
fn prepare(suite: &Path, test: &str, services: &Services) -> (TempDir, PathBuf) {
    let dir = TempDir::new(&format!("conformance-{test}"));
    let built = components(suite);
    let manifest = std::fs::read_to_string(suite.join("tests").join(test).join("spin.toml")).unwrap();
    let manifest = services.substitute(&manifest, |name| {
        let wasm = built.get(name).unwrap_or_else(|| panic!("no component {name} in the suite"));
        let file = format!("{name}.wasm");
        std::fs::copy(wasm, dir.0.join(&file)).unwrap();
        file
    });
    let path = dir.0.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    (dir, path)
}

fn run(test: &str) {
    let suite = skip_without_suite!();
    let config = json5(&std::fs::read_to_string(suite.join("tests").join(test).join("test.json5")).unwrap());
    let services = Services::start(config["preconditions"].as_array().map(Vec::as_slice).unwrap_or_default());
    let (_dir, manifest) = prepare(&suite, test, &services);
    let host = Host::start(HostConfig { manifest, vars: Vec::new(), args: Vec::new(), env: Vec::new() });
    for (i, invocation) in config["invocations"].as_array().unwrap().iter().enumerate() {
        let answer = send(&host.base, &invocation["request"], &services);
        if let Err(why) = compare(&invocation["response"], &answer) {
            panic!("{test}, invocation {i}: {why}\nhost output:\n{}", host.output());
        }
    }
}

/// A test of an interface edge does not implement: `edge up` refuses the component, naming
/// the interface.
fn refused(test: &str, interface: &str) {
    let suite = skip_without_suite!();
    let mut services = Services::default();
    for port in [6379, 1883] {
        services.ports.insert(port, port);
    }
    let (_dir, manifest) = prepare(&suite, test, &services);
    let out = Command::new(edge_bin()).args(["up", "--listen", "127.0.0.1:0", "-f"]).arg(&manifest).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{test}: edge started a component importing {interface}");
    assert!(stderr.contains(interface), "{test}: the refusal does not name {interface}:\n{stderr}");
}

macro_rules! conformance {
    ($($name:ident => $test:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run($test);
            }
        )*
    };
}

conformance! {
    request_shape => "request-shape",
    variables => "variables",
    outbound_wasi_http => "outbound-wasi-http-v0.2.0",
    outbound_wasi_http_without_permission => "outbound-wasi-http-v0.2.0-no-perms",
    postgres => "postgres",
    tcp_sockets => "tcp-sockets",
    tcp_sockets_ip_range => "tcp-sockets-ip-range",
    tcp_sockets_ip_range_from_variables => "tcp-sockets-ip-range-variable-permission",
    tcp_sockets_address_not_allowed => "tcp-sockets-no-ip-permission",
    tcp_sockets_port_not_allowed => "tcp-sockets-no-port-permission",
    key_value => "key-value",
    key_value_without_permission => "key-value-no-permission",
    sqlite => "sqlite",
    sqlite_without_permission => "sqlite-no-permission",
}

#[test]
fn redis_components_are_refused_naming_the_interface() {
    for test in ["outbound-redis", "outbound-redis-no-permission", "outbound-redis-variable-permission"] {
        refused(test, "redis");
    }
}

#[test]
fn mqtt_components_are_refused_naming_the_interface() {
    for test in ["outbound-mqtt", "outbound-mqtt-no-permission"] {
        refused(test, "mqtt");
    }
}

#[test]
fn the_runner_reads_the_suites_json5() {
    let v = json5("{ a: 1, \"b\": [1, 2,], c: { optional: true, }, s: \"x: y, }\", }");
    assert_eq!(v, serde_json::json!({"a": 1, "b": [1, 2], "c": {"optional": true}, "s": "x: y, }"}));
}
