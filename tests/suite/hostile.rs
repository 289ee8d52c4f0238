//! Hostile clients cannot take the host down: guests busy on every core, bodies sent a byte at
//! a time, heads never finished, idle connections, answers never read and memory-hungry
//! requests each leave the host answering everyone else. (How fast it answers meanwhile is
//! measured by `scripts/bench hostile`, not asserted here.)

use e2e::{probe_manifest, Host, HostConfig, Jwt, TempDir, TestDb};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn probe_host(dir: &TempDir, settings: &str) -> Host {
    Host::start(HostConfig {
        manifest: probe_manifest(dir, &[], settings),
        vars: vec![("secret_thing".into(), "s3cr3t".into())],
        args: vec![],
        env: vec![],
    })
}

/// One figure of the host's Prometheus text.
fn figure(host: &Host, name: &str) -> f64 {
    let text = host.get("/.well-known/edge/metrics").send().text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

fn connect(host: &Host) -> TcpStream {
    let s = TcpStream::connect(host.base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Everything the host sends until it closes the connection (or the read times out).
fn read_all(mut s: TcpStream) -> (String, bool) {
    let mut got = Vec::new();
    let closed = s.read_to_end(&mut got).is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

#[test]
fn guests_busy_on_every_core_leave_the_host_answering() {
    let dir = TempDir::new("busy");
    let host = probe_host(&dir, "request_timeout_ms = 8000");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let busy = 2 * cores.max(2);
    let loops: Vec<_> = (0..busy)
        .map(|_| {
            let req = host.get("/probe/loop").timeout(Duration::from_secs(30));
            std::thread::spawn(move || req.send())
        })
        .collect();
    while figure(&host, "edge_instances_running") < busy as f64 {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every core has a guest that never yields by itself; the host still answers, its own
    // endpoint and other components alike, while all of them are still running.
    assert_eq!(host.get("/.well-known/edge/health").send().status, 200);
    assert_eq!(host.get("/probe/echo").send().status, 200);
    assert_eq!(host.get("/exact").send().status, 404);
    assert!(figure(&host, "edge_instances_running") >= busy as f64, "the loops were still running");
    for l in loops {
        let r = l.join().unwrap();
        assert_eq!((r.status, r.json()["code"].as_str()), (504, Some("function_timeout")));
    }
    assert_eq!(figure(&host, "edge_timeouts_total"), busy as f64);
}

#[test]
fn a_body_sent_a_byte_at_a_time_is_refused_without_taking_a_slot() {
    let dir = TempDir::new("slowbody");
    let host = probe_host(&dir, "max_concurrent_requests = 2\nbody_timeout_ms = 3000");
    let slow: Vec<TcpStream> = (0..6)
        .map(|_| {
            let mut s = connect(&host);
            s.write_all(b"POST /probe/json HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{")
                .unwrap();
            s
        })
        .collect();
    // Six bodies are trickling in, and only two slots exist: none of them is taken.
    assert_eq!(host.get("/probe/echo").send().status, 200);
    assert_eq!(figure(&host, "edge_instances_running"), 0.0);
    for s in slow {
        let (answer, closed) = read_all(s);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body_too_slow"), "{answer}");
        assert!(closed, "the connection is closed after the refusal");
    }
    assert!(figure(&host, "edge_slow_bodies_total") >= 6.0);
}

#[test]
fn half_sent_heads_and_idle_connections_are_closed() {
    let dir = TempDir::new("idle");
    let host = probe_host(&dir, "header_timeout_ms = 500");
    let mut partial = connect(&host);
    partial.write_all(b"GET /probe/echo HTTP/1.1\r\nhost: x\r\n").unwrap();
    let mut idle = connect(&host);
    idle.write_all(b"GET /probe/echo HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    // The kept-alive connection's first answer comes, then the connection is closed for
    // sitting idle; the half-sent head is closed too.
    let (answer, closed) = read_all(idle);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle kept-alive connection is closed");
    let (_, closed) = read_all(partial);
    assert!(closed, "a head never finished is closed");
    let mut silent = connect(&host);
    let mut buf = [0u8; 1];
    assert_eq!(silent.read(&mut buf).unwrap_or(0), 0, "a connection that sends nothing is closed");
}

#[test]
fn at_the_connection_cap_the_oldest_idle_connection_makes_room() {
    let dir = TempDir::new("cap");
    let host = probe_host(&dir, "max_connections = 3");
    let idle: Vec<TcpStream> = (0..3).map(|_| connect(&host)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A fourth client is served: the oldest idle connection was closed for it.
    assert_eq!(host.get("/probe/echo").send().status, 200);
    let (_, closed) = read_all(idle.into_iter().next().unwrap());
    assert!(closed);
    assert!(figure(&host, "edge_connections_evicted_total") >= 1.0);
}

#[test]
fn an_answer_never_read_is_cut_at_the_time_limit_and_frees_its_slot() {
    let dir = TempDir::new("noread");
    let host = probe_host(&dir, "request_timeout_ms = 2000\nmemory_limit_mib = 128\nmax_concurrent_requests = 1");
    let s = socket_that_never_reads(&host, "/probe/big?kib=24576");
    // The one slot is busy writing 48 MiB nobody reads, until the time limit ends the instance.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(host.get("/probe/echo").send().status, 200, "the slot was freed");
    assert_eq!(figure(&host, "edge_instances_running"), 0.0);
    drop(s);
}

#[test]
fn a_client_that_takes_nothing_loses_its_connection() {
    let dir = TempDir::new("stall");
    let host = probe_host(&dir, "request_timeout_ms = 30000\nmemory_limit_mib = 128\nwrite_timeout_ms = 1000");
    let s = socket_that_never_reads(&host, "/probe/big?kib=24576");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while figure(&host, "edge_write_timeouts_total") < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the stalled connection was never closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    while figure(&host, "edge_instances_running") > 0.0 {
        assert!(std::time::Instant::now() < deadline, "the instance outlived its connection");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(s);
}

/// A connection that asks for `path` and then never reads a byte (a small receive window, so
/// the answer backs up into the host).
fn socket_that_never_reads(host: &Host, path: &str) -> TcpStream {
    let mut s = connect(host);
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).unwrap();
    s
}

#[test]
fn instances_past_the_shared_memory_budget_answer_503() {
    let dir = TempDir::new("budget");
    let host = probe_host(&dir, "memory_limit_mib = 64\nmemory_budget_mib = 40");
    let r = host.get("/probe/alloc").timeout(Duration::from_secs(20)).send();
    assert_eq!((r.status, r.json()["code"].as_str()), (503, Some("memory_busy")), "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(host.get("/probe/echo").send().status, 200, "the budget came back with the instance");
    assert!(host.output().contains("descriptors"), "the start-up banner reports the limits");
}

#[test]
fn an_answer_never_read_holds_no_database_connection() {
    let db = TestDb::new();
    let dir = TempDir::new("noread-db");
    let host = Host::start(HostConfig {
        manifest: probe_manifest(
            &dir,
            &[format!("postgres://{}", db.host_port())],
            "memory_limit_mib = 128\nrequest_timeout_ms = 30000",
        ),
        vars: vec![
            ("secret_thing".into(), "s3cr3t".into()),
            ("db_url".into(), db.url.clone()),
            ("jwt_secret".into(), Jwt::secret()),
        ],
        args: vec![],
        env: vec![],
    });
    // The request queries its database, then answers 48 MiB that nobody reads.
    let s = socket_that_never_reads(&host, "/probe/big?kib=49152&db=1");
    let service = Jwt::token("00000000-0000-4000-8000-000000000000", "service_role");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pool = host.get("/.well-known/edge/pool").bearer(&service).send().json();
        if pool["pools"].as_array().is_some_and(|p| !p.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the request never used the database: {pool}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    // The answer is stuck in the pipe, and the request's connection is back in the pool.
    assert!(figure(&host, "edge_instances_running") >= 1.0, "the answer is still being written");
    let pool = host.get("/.well-known/edge/pool").bearer(&service).send().json();
    assert_eq!(pool["pools"][0]["in_use"], 0, "{pool}");
    drop(s);
}
