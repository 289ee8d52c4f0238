//! Test harness shared by the suites: a fresh database per test (cloned from a migrated
//! template), the real `edge` host serving the real components, a small HTTP client, and
//! tokens minted with the fixtures' keys. `scripts/test` prepares the environment:
//!
//! - `EDGE_TEST_PG`: URL of the cluster's maintenance database (`.../postgres`)
//! - `EDGE_TEST_TEMPLATE`: name of the migrated template database
//! - `EDGE_BIN`: the `edge` binary (default `target/host/edge`)

pub mod http;
pub mod original;
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

/// `../shared/fixtures/...` beside the workspace.
pub fn fixture(rel: &str) -> PathBuf {
    root().join("..").join("shared").join("fixtures").join(rel)
}

pub fn fixture_json(rel: &str) -> serde_json::Value {
    let path = fixture(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {} is missing: {e}", path.display()));
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
        std::fs::read_to_string(fixture("jwt/jwks.json")).expect("jwks fixture")
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
            plan.max_quotes, plan.max_clients, plan.pdf_export, plan.email_quotes, plan.custom_branding, plan.bulk_operations
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
}

pub struct HostConfig {
    pub manifest: PathBuf,
    pub vars: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl HostConfig {
    /// The application's own `spin.toml` against `db`.
    pub fn app(db: &TestDb) -> HostConfig {
        HostConfig { manifest: root().join("spin.toml"), vars: base_vars(db), args: Vec::new() }
    }

    pub fn var(mut self, k: &str, v: &str) -> HostConfig {
        self.vars.retain(|(name, _)| name != k);
        self.vars.push((k.to_string(), v.to_string()));
        self
    }
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
    pub fn start(cfg: HostConfig) -> Host {
        let mut cmd = Command::new(edge_bin());
        cmd.arg("up").arg("--listen").arg("127.0.0.1:0").arg("-f").arg(&cfg.manifest).args(&cfg.args);
        // Only what the test sets: no SPIN_VARIABLE_* leaking in from the caller's shell.
        for (k, _) in std::env::vars() {
            if k.starts_with("SPIN_VARIABLE_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &cfg.vars {
            cmd.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", edge_bin().display()));
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
                    if let Some(addr) = line.strip_prefix("Serving ") {
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
                panic!("edge did not start:\n{}", output.lock().unwrap().join("\n"));
            }
        };
        Host { child, base, output }
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The wasm of the test-only probe component.
pub fn probe_wasm() -> PathBuf {
    root().join("target/wasm32-wasip2/release/probe.wasm")
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("edge-{tag}-{}-{}", std::process::id(), DB_SEQ.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
