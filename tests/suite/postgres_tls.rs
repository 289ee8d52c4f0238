//! TLS to PostgreSQL: a local cluster with `ssl = on` and only `hostssl` lines in
//! pg_hba.conf (plain connections are refused), certificates this test makes with openssl (a
//! CA, a server certificate for localhost / 127.0.0.1, and another CA), reached by `edge db`
//! and by components through edge's pool with libpq's sslmode / sslrootcert.

use e2e::{edge_bin, root, Host, HostConfig, Jwt, TempDir, TestDb};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn edge(args: &[&str]) -> (bool, String) {
    let out = Command::new(edge_bin()).args(args).current_dir(root()).output().expect("run edge");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn openssl(args: &[&str], dir: &Path) {
    run(Command::new("openssl").args(args).current_dir(dir));
}

/// A CA (`<name>.crt`, `<name>.key`) valid for two days.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
}

/// A server certificate for localhost and 127.0.0.1, signed by `ca`.
fn make_server_cert(dir: &Path, ca: &str) {
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
}

fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("EDGE_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect())
        .unwrap_or_default();
    found.sort();
    found.pop().expect("PostgreSQL's initdb: run the tests with scripts/test (it sets EDGE_TEST_PG_BIN)")
}

fn is_root() -> bool {
    run(Command::new("id").arg("-u")).trim() == "0"
}

/// A PostgreSQL cluster that only accepts TLS connections; stopped on drop.
struct TlsCluster {
    dir: TempDir,
    port: u16,
}

impl TlsCluster {
    fn start() -> TlsCluster {
        let dir = TempDir::new("pgtls");
        let certs = dir.0.join("certs");
        std::fs::create_dir_all(&certs).unwrap();
        make_ca(&certs, "ca");
        make_ca(&certs, "other-ca");
        make_server_cert(&certs, "ca");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = dir.0.join("data");
        let root = is_root();
        if root {
            run(Command::new("chown").args(["-R", "postgres"]).arg(&dir.0));
            run(Command::new("chmod").arg("755").arg(&dir.0));
        }
        let as_server = |program: &str| {
            let path = pg_bin().join(program);
            if root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(path);
                c
            } else {
                Command::new(path)
            }
        };
        run(as_server("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]));
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        conf.push_str(&format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = off\nssl = on\n\
             ssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            dir.0.display(),
            certs.join("server.crt").display(),
            certs.join("server.key").display()
        ));
        std::fs::write(data.join("postgresql.conf"), conf).unwrap();
        // TLS or nothing over TCP; the socket stays open for the test's own setup.
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
        if root {
            run(Command::new("chown").args(["-R", "postgres"]).arg(&dir.0));
        }
        run(Command::new("chmod").arg("600").arg(certs.join("server.key")));
        run(as_server("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-o", &format!("-p {port}"), "-l"])
            .arg(dir.0.join("log"))
            .args(["-w", "start"]));
        let cluster = TlsCluster { dir, port };
        cluster.psql("postgres", "CREATE DATABASE tlsdb");
        cluster
    }

    fn ca(&self, name: &str) -> String {
        self.dir.0.join("certs").join(format!("{name}.crt")).display().to_string()
    }

    /// SQL over the Unix socket (the test's own access, not under test).
    fn psql(&self, db: &str, sql: &str) -> String {
        run(Command::new("psql").args(["-X", "-q", "-tA", "-h"]).arg(&self.dir.0).args([
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ]))
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/tlsdb?{query}", self.port)
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let ctl = pg_bin().join("pg_ctl");
        let data = self.dir.0.join("data");
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(ctl)
                .arg("-D")
                .arg(data)
                .args(["-m", "immediate", "stop"])
                .output()
        } else {
            Command::new(ctl).arg("-D").arg(data).args(["-m", "immediate", "stop"]).output()
        };
    }
}

#[test]
fn edge_reaches_a_tls_only_postgresql_with_verify_full() {
    let pg = TlsCluster::start();
    let url = pg.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", pg.ca("ca")));

    // edge db: migrate and status over verified TLS.
    let (ok, out) = edge(&["db", "migrate", "--db-url", &url]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("{} migration(s) applied", e2e::migration_count())), "{out}");
    let (ok, out) = edge(&["db", "status", "--db-url", &url]);
    assert!(ok && !out.contains("pending"), "{out}");

    // Plain TCP is refused by the server: TLS is not optional here.
    let (ok, out) = edge(&["db", "status", "--db-url", &pg.url("127.0.0.1", "sslmode=disable")]);
    assert!(!ok && out.contains("no encryption"), "{out}");

    // Components, through edge's pool.
    let user = pg
        .psql("tlsdb", "INSERT INTO auth.users (email) VALUES ('tls@example.test') RETURNING id")
        .lines()
        .next()
        .unwrap()
        .to_string();
    let db = TestDb::at(&url);
    let host = Host::start(HostConfig::app(&db).var("db_host", &format!("localhost:{}", pg.port)));
    let r = host.get("/functions/v1/subscription-status").bearer(&Jwt::user(&user)).send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["plan"]["key"], "free");
    let tls: i64 = pg
        .psql("postgres", "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.datname = 'tlsdb' AND s.ssl")
        .trim()
        .parse()
        .unwrap();
    assert!(tls >= 1, "the pool's connections are TLS connections");
}

#[test]
fn tls_failures_name_their_cause() {
    let pg = TlsCluster::start();
    let ca = pg.ca("ca");

    // A CA that did not sign the server's certificate.
    let (ok, out) = edge(&[
        "db",
        "status",
        "--db-url",
        &pg.url("localhost", &format!("sslmode=verify-full&sslrootcert={}", pg.ca("other-ca"))),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("not signed by a CA in the CA file") && out.contains("other-ca.crt"), "{out}");

    // A host name the certificate does not list (the address is right: hostaddr).
    let misnamed = |mode: &str| pg.url("db.invalid", &format!("hostaddr=127.0.0.1&sslmode={mode}&sslrootcert={ca}"));
    let (ok, out) = edge(&["db", "status", "--db-url", &misnamed("verify-full")]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("not issued for the host name connected to (db.invalid)") && out.contains("localhost"),
        "{out}"
    );
    // verify-ca checks the CA only.
    let (ok, out) = edge(&["db", "status", "--db-url", &misnamed("verify-ca")]);
    assert!(ok, "{out}");

    // require without a CA: encrypted, unchecked (libpq's meaning).
    let (ok, out) = edge(&["db", "status", "--db-url", &pg.url("localhost", "sslmode=require")]);
    assert!(ok, "{out}");

    // verify-full without any CA to check against says what to add.
    let (ok, out) = Command::new(edge_bin())
        .args(["db", "status", "--db-url", &pg.url("localhost", "sslmode=verify-full")])
        .env("HOME", pg.dir.0.join("no-home"))
        .current_dir(root())
        .output()
        .map(|o| {
            (
                o.status.success(),
                format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)),
            )
        })
        .unwrap();
    assert!(!ok && out.contains("sslrootcert=PATH") && out.contains("sslrootcert=system"), "{out}");

    // require against a server without TLS (the suites' own cluster).
    let plain = std::env::var("EDGE_TEST_PG").expect("EDGE_TEST_PG: run the tests with scripts/test");
    let (ok, out) = edge(&["db", "status", "--db-url", &format!("{plain}?sslmode=require")]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not accept TLS connections") && out.contains("sslmode=require"), "{out}");
    // ...where prefer (the default) falls back to a plain connection.
    let (ok, out) = edge(&["db", "status", "--db-url", &format!("{plain}?sslmode=prefer")]);
    assert!(ok, "{out}");
}
