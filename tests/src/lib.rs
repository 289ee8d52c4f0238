//! Test harness shared by the suites: a fresh database per test (cloned from a migrated
//! template), the real `edge` host serving the real components, a small HTTP client, and
//! tokens minted with the fixtures' keys. `scripts/test` prepares the environment:
//!
//! - `EDGE_TEST_PG`: URL of the cluster's maintenance database (`.../postgres`)
//! - `EDGE_TEST_TEMPLATE`: name of the migrated template database
//! - `EDGE_BIN`: the `edge` binary (default `target/host/edge`)
//! - `E2E_HOST`: `spin` runs the suites against the real Spin CLI (`SPIN_BIN`, default
//!   `../shared/tools/spin/spin`) instead of `edge`; tests of what only edge has say so and
//!   are skipped there ([`edge_only`])

pub mod http;
pub mod images;
pub mod original;
pub mod schema;
pub mod sign;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use http::{HttpResponse, Req};

/// The workspace root.
/// The application's functions, in spin.toml's order (`deployment` checks that they match).
pub const FUNCTIONS: [&str; 11] = [
    "subscription-status",
    "quote-processor",
    "quote-pdf-generator",
    "webhook-handler",
    "batch-processor",
    "webhook-monitor",
    "migration-controller",
    "production-validator",
    "security-hardening",
    "performance-optimizer",
    "monitoring-alerting",
];

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// `tests/fixtures/...`: the external test vectors, kept in the repository (see its README).
/// How many migration files `migrations/` holds (what a migrate of an empty database applies).
pub fn migration_count() -> usize {
    std::fs::read_dir(root().join("migrations"))
        .expect("migrations/")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql")))
        .count()
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests").join("fixtures").join(rel)
}

/// Material kept beside the checkout rather than in it (`../shared/<rel>`: the reference
/// documents and the upstream copy of the fixtures), or `None` when it is not there, after
/// saying so: a test that needs it skips with that message instead of failing a lone clone.
pub fn beside_checkout(rel: &str, test: &str, what_is_skipped: &str) -> Option<PathBuf> {
    let path = root().join("..").join("shared").join(rel);
    if path.exists() {
        return Some(path);
    }
    skip(test, &format!("{what_is_skipped}: {} is not beside the checkout", path.display()));
    None
}

/// Says on the real stderr (not captured by the test harness, so it shows in every run) that
/// `test` skipped something, and why.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED in {test}: {why}");
}

/// A fixture's bytes; a missing file names its path.
pub fn fixture_bytes(rel: &str) -> Vec<u8> {
    let path = fixture(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} is missing or unreadable: {e}", path.display()))
}

pub fn fixture_json(rel: &str) -> serde_json::Value {
    let path = fixture(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is missing or unreadable: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

pub fn edge_bin() -> PathBuf {
    std::env::var("EDGE_BIN").map(PathBuf::from).unwrap_or_else(|_| root().join("target/host/edge"))
}

/// The JWT settings of the fixtures (Supabase CLI defaults), used by every test host.
pub struct Jwt;

impl Jwt {
    pub fn secret() -> String {
        fixture_json("jwt/tokens.json")["validation"]["hs256_secret"].as_str().unwrap().to_string()
    }
    pub fn issuer() -> String {
        fixture_json("jwt/tokens.json")["validation"]["issuer"].as_str().unwrap().to_string()
    }
    pub fn jwks() -> String {
        String::from_utf8(fixture_bytes("jwt/jwks.json")).expect("jwks.json is UTF-8")
    }
    /// A valid user token for `sub`.
    pub fn user(sub: &str) -> String {
        Jwt::token(sub, "authenticated")
    }
    pub fn token(sub: &str, role: &str) -> String {
        let now = sign::now_unix();
        sign::jwt_hs256(
            &serde_json::json!({
                "sub": sub, "role": role, "aud": "authenticated", "iss": Jwt::issuer(),
                "email": format!("{}@example.test", &sub[..8]), "iat": now, "exp": now + 3600,
            }),
            &Jwt::secret(),
        )
    }
}

/// The limits of a paid plan (its `plan_limits` row); `-1` means unlimited.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    pub max_quotes: i64,
    pub max_clients: i64,
    pub pdf_export: bool,
    pub email_quotes: bool,
    pub custom_branding: bool,
    pub bulk_operations: bool,
}

impl Plan {
    /// No quote or client limit, no features.
    pub fn unlimited() -> Plan {
        Plan { max_quotes: -1, max_clients: -1, ..Plan::default() }
    }
}

static DB_SEQ: AtomicU32 = AtomicU32::new(0);

/// A number unique in this test process (database and directory names).
pub fn next_seq() -> u32 {
    DB_SEQ.fetch_add(1, Ordering::SeqCst)
}

/// A fresh database cloned from the migrated template; dropped with the value.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl Default for TestDb {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDb {
    pub fn new() -> TestDb {
        let admin_url = env("EDGE_TEST_PG");
        let template = env("EDGE_TEST_TEMPLATE");
        let name = format!("t_{}_{}", std::process::id(), DB_SEQ.fetch_add(1, Ordering::SeqCst));
        let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls).expect("connect to the test cluster");
        admin.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}")).expect("clone the template");
        let url = admin_url.rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).unwrap();
        TestDb { name, url, admin_url }
    }

    /// A database that already exists at `url` (on a test's own cluster, say); dropped with
    /// the value like any other.
    pub fn at(url: &str) -> TestDb {
        let (base, name) = url.rsplit_once('/').expect("a database URL");
        TestDb { name: name.to_string(), url: url.to_string(), admin_url: format!("{base}/postgres") }
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }

    /// `host:port` of the database, for `db_host`.
    pub fn host_port(&self) -> String {
        let after = self.url.split('@').nth(1).expect("url has a host");
        after.split('/').next().unwrap().to_string()
    }

    /// Run SQL statements (as the cluster's superuser).
    pub fn exec(&self, sql: &str) {
        self.client().batch_execute(sql).unwrap_or_else(|e| panic!("SQL failed: {e}\n{sql}"));
    }

    /// Give `user` an active subscription to a product of its own with `plan`'s limits.
    pub fn subscribe(&self, user: &str, plan: Plan) {
        let product = format!("prod_{}", &user[..8]);
        self.exec(&format!(
            "INSERT INTO stripe_products (id, name) VALUES ('{product}', 'Paid');
             INSERT INTO stripe_prices (id, stripe_product_id, currency, unit_amount, type, \"interval\")
               VALUES ('price_{product}', '{product}', 'usd', 2900, 'recurring', 'month');
             INSERT INTO plan_limits (plan_key, name, max_quotes, max_clients, pdf_export, email_quotes,
                                      custom_branding, bulk_operations)
               VALUES ('{product}', 'Paid', {}, {}, {}, {}, {}, {});
             INSERT INTO subscriptions (stripe_subscription_id, user_id, stripe_price_id, status,
                                        current_period_start, current_period_end)
               VALUES ('sub_{product}', '{user}', 'price_{product}', 'active', now(), now() + interval '30 days');",
            plan.max_quotes,
            plan.max_clients,
            plan.pdf_export,
            plan.email_quotes,
            plan.custom_branding,
            plan.bulk_operations
        ));
    }

    /// A new user in auth.users; returns its id.
    pub fn user(&self, email: &str) -> String {
        let mut c = self.client();
        let row = c
            .query_one("INSERT INTO auth.users (email) VALUES ($1) RETURNING id::text", &[&email])
            .expect("insert user");
        row.get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(&self.admin_url, postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// A running `edge up`, killed on drop. Its output is kept for assertions.
pub struct Host {
    child: Child,
    pub base: String,
    pub output: Arc<Mutex<Vec<String>>>,
    /// Spin's component logs, removed with the host.
    _logs: Option<TempDir>,
}

/// The host the suites run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Edge,
    Spin,
}

/// `edge`, unless `E2E_HOST=spin`.
pub fn runtime() -> Runtime {
    match std::env::var("E2E_HOST").as_deref() {
        Ok("spin") => Runtime::Spin,
        _ => Runtime::Edge,
    }
}

/// The real Spin CLI: `SPIN_BIN`, else `../shared/tools/spin/spin` beside the workspace, if it
/// is there.
pub fn spin_bin() -> Option<PathBuf> {
    let path = std::env::var("SPIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("..").join("shared").join("tools").join("spin").join("spin"));
    path.is_file().then_some(path)
}

/// For a test of something only `edge` has (its own endpoints, its log lines, its limits and
/// settings): under Spin it is skipped, saying why. `if e2e::edge_only("...") { return; }`
pub fn edge_only(what: &str) -> bool {
    if runtime() == Runtime::Spin {
        eprintln!("skipped under Spin: {what} is edge's own");
        return true;
    }
    false
}

pub struct HostConfig {
    pub manifest: PathBuf,
    pub vars: Vec<(String, String)>,
    pub args: Vec<String>,
    /// Environment variables of the host process itself (`OTEL_*`, say).
    pub env: Vec<(String, String)>,
}

impl HostConfig {
    /// The application's own `spin.toml` against `db`.
    pub fn app(db: &TestDb) -> HostConfig {
        HostConfig { manifest: root().join("spin.toml"), vars: base_vars(db), args: Vec::new(), env: Vec::new() }
    }

    pub fn env(mut self, k: &str, v: &str) -> HostConfig {
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    pub fn arg(mut self, a: &str) -> HostConfig {
        self.args.push(a.to_string());
        self
    }

    pub fn var(mut self, k: &str, v: &str) -> HostConfig {
        self.vars.retain(|(name, _)| name != k);
        self.vars.push((k.to_string(), v.to_string()));
        self
    }
}

/// The `[variables]` of a manifest that have a default, with it.
fn manifest_defaults(manifest: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(manifest) else { return Vec::new() };
    let Ok(doc) = text.parse::<toml::Table>() else { return Vec::new() };
    let Some(vars) = doc.get("variables").and_then(|v| v.as_table()) else { return Vec::new() };
    vars.iter().filter_map(|(name, decl)| Some((name.clone(), decl.get("default")?.as_str()?.to_string()))).collect()
}

pub fn base_vars(db: &TestDb) -> Vec<(String, String)> {
    vec![
        ("db_url".into(), db.url.clone()),
        ("db_host".into(), db.host_port()),
        ("jwt_secret".into(), Jwt::secret()),
        ("jwt_issuer".into(), Jwt::issuer()),
        ("jwks".into(), Jwt::jwks()),
    ]
}

impl Host {
    /// The host [`runtime`] says: `edge up`, or `spin up`.
    pub fn start(cfg: HostConfig) -> Host {
        match runtime() {
            Runtime::Edge => Host::edge(cfg),
            Runtime::Spin => Host::spin(cfg),
        }
    }

    pub fn edge(cfg: HostConfig) -> Host {
        let mut cmd = Command::new(edge_bin());
        cmd.arg("up").arg("--listen").arg("127.0.0.1:0").arg("-f").arg(&cfg.manifest).args(&cfg.args);
        Host::run(cmd, cfg, None)
    }

    /// Real Spin on the same manifest and variables (its component logs in a directory of its
    /// own). Options are edge's: a test that passes any is edge's own.
    pub fn spin(cfg: HostConfig) -> Host {
        assert!(cfg.args.is_empty(), "{:?} are edge's options: mark the test edge_only", cfg.args);
        let spin = spin_bin().expect("E2E_HOST=spin needs the Spin CLI (SPIN_BIN or ../shared/tools/spin/spin)");
        let logs = TempDir::new("spin-logs");
        // A port of its own rather than 0: Spin sends requests to the application's own origin
        // (`http://self`) to the address it was told to listen on.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut cmd = Command::new(spin);
        cmd.arg("up")
            .arg("-f")
            .arg(&cfg.manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--log-dir")
            .arg(&logs.0);
        Host::run(cmd, cfg, Some(logs))
    }

    fn run(mut cmd: Command, cfg: HostConfig, logs: Option<TempDir>) -> Host {
        let program = cmd.get_program().to_string_lossy().into_owned();
        // Only what the test sets: no SPIN_VARIABLE_* leaking in from the caller's shell.
        for (k, _) in std::env::vars() {
            if k.starts_with("SPIN_VARIABLE_") || k.starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &cfg.env {
            cmd.env(k, v);
        }
        // Nor from the `.env` that `scripts/dev` writes beside the project's own manifest: every
        // variable the test leaves alone is given its manifest default, which the environment
        // puts first. (A test's own manifest elsewhere keeps its own `.env`.)
        let own_manifest =
            std::fs::canonicalize(&cfg.manifest).ok() == std::fs::canonicalize(root().join("spin.toml")).ok();
        for (k, v) in if own_manifest { manifest_defaults(&cfg.manifest) } else { Vec::new() } {
            if !cfg.vars.iter().any(|(name, _)| *name == k) {
                cmd.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
            }
        }
        for (k, v) in &cfg.vars {
            cmd.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    // `Serving http://...`, or the same as the message of a JSON line
                    // (`--log-format json`).
                    let json_msg = line
                        .starts_with('{')
                        .then(|| serde_json::from_str::<serde_json::Value>(&line).ok())
                        .flatten()
                        .and_then(|v| v["msg"].as_str().map(str::to_string));
                    if let Some(addr) = json_msg.as_deref().unwrap_or(&line).strip_prefix("Serving ") {
                        let _ = tx.send(addr.trim().to_string());
                    }
                    output.lock().unwrap().push(line);
                }
            });
        }
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("{program} did not start:\n{}", output.lock().unwrap().join("\n"));
            }
        };
        Host { child, base, output, _logs: logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Req {
        Req::new("GET", &self.url(path))
    }

    pub fn post(&self, path: &str) -> Req {
        Req::new("POST", &self.url(path))
    }

    pub fn put(&self, path: &str) -> Req {
        Req::new("PUT", &self.url(path))
    }

    pub fn delete(&self, path: &str) -> Req {
        Req::new("DELETE", &self.url(path))
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait until `pred` holds for the output (the host logs asynchronously).
    pub fn wait_for_output(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if pred(&self.output()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // `spin up` runs the application in a child process (`spin trigger http`): found
        // before the parent dies (then it would belong to init), and killed with it, or it
        // keeps serving after the test has "crashed" the host.
        let descendants = descendants_of(self.child.id());
        let _ = self.child.kill();
        for pid in descendants {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).stderr(Stdio::null()).status();
        }
        let _ = self.child.wait();
    }
}

/// The processes below `pid`, from /proc (empty where there is no /proc).
fn descendants_of(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|p| {
                    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                    // `pid (name) state ppid ...`; the name may hold spaces and parentheses.
                    let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
                    Some((p, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

/// The wasm of the test-only probe component.
pub fn probe_wasm() -> PathBuf {
    root().join("target/wasm32-wasip2/release/probe.wasm")
}

/// A manifest in `dir` with the probe mounted three ways (`/probe/...`, `/probe/deeper/...`
/// as `deeper`, `/exact` as `exact`), the given outbound hosts, and `extra` lines added to
/// `[application.tool.edge]` (1.5 s time limit and 64 MiB per instance unless overridden).
pub fn probe_manifest(dir: &TempDir, allowed: &[String], extra: &str) -> PathBuf {
    let wasm = probe_wasm();
    assert!(wasm.exists(), "{} is built by scripts/test", wasm.display());
    let allowed = allowed.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let mut settings = vec!["request_timeout_ms = 1500".to_string(), "memory_limit_mib = 64".to_string()];
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        let key = line.split('=').next().unwrap_or("").trim();
        settings.retain(|s| !s.starts_with(&format!("{key} ")));
        settings.push(line.trim().to_string());
    }
    let text = format!(
        r#"spin_manifest_version = 2
[application]
name = "probe"
[application.tool.edge]
{settings}
[variables]
greeting = {{ default = "hello" }}
secret_thing = {{ required = true, secret = true }}
db_url = {{ default = "" }}
jwt_secret = {{ default = "" }}
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = "/probe/deeper/..."
component = "deeper"
[[trigger.http]]
route = "/exact"
component = "exact"
[component.probe]
source = "{w}"
allowed_outbound_hosts = [{allowed}]
[component.probe.variables]
greeting = "{{{{ greeting }}}}, world"
secret_thing = "{{{{ secret_thing }}}}"
db_url = "{{{{ db_url }}}}"
[component.deeper]
source = "{w}"
[component.exact]
source = "{w}"
"#,
        settings = settings.join("\n"),
        w = wasm.display()
    );
    let path = dir.0.join("spin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "edge-{tag}-{}-{}",
            std::process::id(),
            DB_SEQ.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Prometheus's own checker (`promtool check metrics`, Debian package prometheus, installed by
/// scripts/test) accepts `text` as exposition format, or the test fails with its complaints.
pub fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/test (Debian package prometheus)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
