//! Logs and traces: request ids (`X-Request-Id`) honoured, echoed and logged; W3C
//! `traceparent` taken and handed down to chained calls; `--log-format json`; components'
//! stderr in the console; spans and metrics exported over OTLP/HTTP (JSON) to a receiver
//! in the test; the host's Prometheus figures by function, checked by promtool.

use e2e::http::{Recorded, Recorder};
use e2e::{probe_manifest, Host, HostConfig, Jwt, Plan, TempDir, TestDb};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

fn probe(dir: &TempDir, cfg: impl FnOnce(HostConfig) -> HostConfig) -> Host {
    let base = HostConfig {
        manifest: probe_manifest(dir, &[], ""),
        vars: vec![("secret_thing".into(), "s3cr3t".into())],
        args: vec![],
        env: vec![],
    };
    Host::start(cfg(base))
}

/// Every span the receiver got, from every post to /v1/traces.
fn spans(received: &[Recorded]) -> Vec<Value> {
    received
        .iter()
        .filter(|r| r.path == "/v1/traces")
        .flat_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("an OTLP JSON body");
            let mut out = Vec::new();
            for rs in body["resourceSpans"].as_array().cloned().unwrap_or_default() {
                for ss in rs["scopeSpans"].as_array().cloned().unwrap_or_default() {
                    out.extend(ss["spans"].as_array().cloned().unwrap_or_default());
                }
            }
            out
        })
        .collect()
}

/// An attribute's value (string, or integer as OTLP JSON writes it: a string).
fn attr(item: &Value, key: &str) -> Option<String> {
    let a = item["attributes"].as_array()?.iter().find(|a| a["key"] == key)?;
    let v = &a["value"];
    v["stringValue"].as_str().or(v["intValue"].as_str()).map(str::to_string)
}

fn wait_until<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(started.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn observability_spans_of_requests_and_chained_calls_and_metrics_reach_an_otlp_receiver() {
    if e2e::edge_only("the OTLP export") {
        return;
    }
    let receiver = Recorder::start(200, "{}");
    let db = TestDb::new();
    let user = db.user("traced@example.test");
    db.subscribe(&user, Plan { pdf_export: true, ..Plan::unlimited() });
    let host = Host::start(
        HostConfig::app(&db)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{}", receiver.port))
            .env("OTEL_SERVICE_NAME", "quotekit-test")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "500"),
    );
    let quote = json!({
        "quote": {"client_name": "Traced Client", "client_email": "client@example.test",
                  "line_items": [{"name": "Mowing", "quantity": 2, "unit_price": "25.00"}]},
        "operations": {"generate_pdf": true},
    });
    let r = host
        .post("/functions/v1/quote-processor")
        .bearer(&Jwt::user(&user))
        .header("traceparent", &format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .header("x-request-id", "quote-with-pdf-1")
        .json(&quote)
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("x-request-id"), Some("quote-with-pdf-1"));
    assert_eq!(r.json()["document"]["status"], "generated", "the PDF was made by the chained call");
    // A request without traceparent starts a trace of its own.
    let plain = host.get("/functions/v1/subscription-status").send();
    assert_eq!(plain.status, 401);

    let (server, child, other) = wait_until("the three spans", Duration::from_secs(15), || {
        let all = spans(&receiver.received());
        let server = all.iter().find(|s| attr(s, "edge.component").as_deref() == Some("quote-processor"))?.clone();
        let child = all.iter().find(|s| attr(s, "edge.component").as_deref() == Some("quote-pdf-generator"))?.clone();
        let other = all.iter().find(|s| attr(s, "edge.component").as_deref() == Some("subscription-status"))?.clone();
        Some((server, child, other))
    });
    // The client's request: a server span in the client's trace, below the client's span.
    assert_eq!(server["traceId"], TRACE_ID);
    assert_eq!(server["parentSpanId"], PARENT_SPAN);
    assert_eq!(server["kind"], 2, "SPAN_KIND_SERVER");
    assert!(is_hex(server["spanId"].as_str().unwrap(), 16));
    assert_eq!(attr(&server, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(&server, "url.path").as_deref(), Some("/functions/v1/quote-processor"));
    assert_eq!(attr(&server, "http.response.status_code").as_deref(), Some("201"));
    // The chained call: a child of the quote-processor span, in the same trace.
    assert_eq!(child["traceId"], TRACE_ID);
    assert_eq!(child["parentSpanId"], server["spanId"]);
    assert_eq!(child["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(attr(&child, "edge.call").as_deref(), Some("service chaining"));
    assert_eq!(attr(&child, "http.response.status_code").as_deref(), Some("200"));
    assert_eq!(attr(&child, "edge.request_id").as_deref(), Some("quote-with-pdf-1"));
    // Both functions' metrics rows carry the client's request id too.
    let rows: Vec<(String, String)> = wait_until("both metrics rows", Duration::from_secs(10), || {
        let rows: Vec<(String, String)> = db
            .client()
            .query("SELECT function_name, coalesce(request_id, '') FROM performance_metrics WHERE function_name IN ('quote-processor', 'quote-pdf-generator') ORDER BY function_name", &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        (rows.len() == 2).then_some(rows)
    });
    assert_eq!(
        rows,
        vec![
            ("quote-pdf-generator".to_string(), "quote-with-pdf-1".to_string()),
            ("quote-processor".to_string(), "quote-with-pdf-1".to_string())
        ]
    );
    let nanos = |s: &Value, k: &str| -> u128 { s[k].as_str().expect("times are strings").parse().expect("digits") };
    assert!(nanos(&child, "startTimeUnixNano") >= nanos(&server, "startTimeUnixNano"));
    assert!(nanos(&child, "endTimeUnixNano") <= nanos(&server, "endTimeUnixNano"), "the child ends within its parent");
    // The other request: a trace of its own, with no parent.
    assert_ne!(other["traceId"], TRACE_ID);
    assert!(is_hex(other["traceId"].as_str().unwrap(), 32));
    assert!(other.get("parentSpanId").is_none());
    assert_eq!(attr(&other, "http.response.status_code").as_deref(), Some("401"));

    // Metrics: the request counts and the latency histogram, by component.
    let metrics = wait_until("a metrics post counting the requests", Duration::from_secs(15), || {
        receiver.received().into_iter().rev().filter(|r| r.path == "/v1/metrics").find_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            let text = body.to_string();
            (text.contains("quote-pdf-generator") && text.contains("subscription-status")).then_some(body)
        })
    });
    let resource = &metrics["resourceMetrics"][0];
    assert_eq!(attr(&resource["resource"], "service.name").as_deref(), Some("quotekit-test"));
    let list = resource["scopeMetrics"][0]["metrics"].as_array().unwrap();
    let requests = list.iter().find(|m| m["name"] == "edge.requests").expect("edge.requests");
    assert_eq!(requests["sum"]["isMonotonic"], true);
    let point = requests["sum"]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| attr(p, "edge.component").as_deref() == Some("quote-processor"))
        .expect("a count for quote-processor");
    assert_eq!(attr(point, "http.request.method").as_deref(), Some("POST"));
    assert_eq!(attr(point, "http.response.status_class").as_deref(), Some("2xx"));
    assert_eq!(point["asInt"], "1");
    let histogram = list.iter().find(|m| m["name"] == "http.server.request.duration").expect("the duration histogram");
    assert_eq!(histogram["unit"], "s");
    let point = histogram["histogram"]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| attr(p, "edge.component").as_deref() == Some("quote-processor"))
        .expect("a histogram point for quote-processor");
    assert_eq!(point["count"], "1");
    let buckets = point["bucketCounts"].as_array().unwrap();
    assert_eq!(buckets.len(), point["explicitBounds"].as_array().unwrap().len() + 1);
    assert_eq!(buckets.iter().map(|b| b.as_str().unwrap().parse::<u64>().unwrap()).sum::<u64>(), 1);

    let received = receiver.received();
    for r in &received {
        let content_type = r.headers.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
        assert_eq!((r.method.as_str(), content_type), ("POST", Some("application/json")), "{}", r.path);
    }
    eprintln!(
        "OTLP receiver: {} posts to /v1/traces ({} spans), {} to /v1/metrics",
        received.iter().filter(|r| r.path == "/v1/traces").count(),
        spans(&received).len(),
        received.iter().filter(|r| r.path == "/v1/metrics").count()
    );
}

#[test]
fn observability_a_failing_collector_never_affects_serving() {
    if e2e::edge_only("the OTLP export") {
        return;
    }
    let receiver = Recorder::start(503, "{}");
    let dir = TempDir::new("otlp-down");
    let host = probe(&dir, |c| c.env("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://127.0.0.1:{}", receiver.port)));
    for _ in 0..20 {
        assert_eq!(host.get("/probe/echo").send().status, 200);
    }
    wait_until("the failed post reported", Duration::from_secs(10), || {
        host.output().contains("OTLP export to").then_some(())
    });
    let started = Instant::now();
    assert_eq!(host.get("/probe/echo").send().status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    let metrics = host.get("/.well-known/edge/metrics").send().text();
    assert!(
        metrics.lines().any(|l| l.starts_with("edge_otlp_exports_failed_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

#[test]
fn observability_request_ids_are_honoured_echoed_and_logged_and_components_see_the_trace() {
    if e2e::edge_only("request ids and the host's log lines") {
        return;
    }
    let dir = TempDir::new("request-ids");
    let host = probe(&dir, |c| c);
    let r = host.get("/probe/echo").header("x-request-id", "order-7731.retry:2").send();
    assert_eq!(r.header("x-request-id"), Some("order-7731.retry:2"));
    // The component sees the same id, and a traceparent naming this request's span.
    let seen = r.json();
    let header = |name: &str| {
        seen["headers"].as_array().unwrap().iter().find(|h| h[0] == name).map(|h| h[1].as_str().unwrap().to_string())
    };
    assert_eq!(header("x-request-id").as_deref(), Some("order-7731.retry:2"));
    let traceparent = header("traceparent").expect("a traceparent for the component");
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert!(fields.len() == 4 && fields[0] == "00" && is_hex(fields[1], 32) && is_hex(fields[2], 16), "{traceparent}");
    assert!(
        host.wait_for_output(
            |o| o.lines().any(|l| l.contains(" INFO  order-7731.retry:2 [probe] GET /probe/echo -> 200")),
            Duration::from_secs(5)
        ),
        "{}",
        host.output()
    );

    // Ids that are not sane are replaced.
    for bad in ["two words".to_string(), "x".repeat(129)] {
        let r = host.get("/probe/echo").header("x-request-id", &bad).send();
        let id = r.header("x-request-id").unwrap();
        assert!(is_hex(id, 32), "{bad:?} was replaced by {id}");
    }
    // Without one, the component still gets a made-up id; its answer is left as it wrote it
    // (the shared pipeline names the id it was given; Spin's conformance suite checks that
    // the host adds nothing to a component that sets no such header).
    let r = host.get("/probe/echo").send();
    let seen = r.json();
    let id = seen["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "x-request-id")
        .and_then(|h| h[1].as_str())
        .unwrap_or("");
    assert!(is_hex(id, 32), "the component's id: {seen}");
    assert_eq!(r.header("x-request-id"), Some(id), "the answer names the id the component was given");
    // The host's own endpoints and its refusals carry one too.
    assert!(host.get("/.well-known/edge/health").send().header("x-request-id").is_some());
    assert!(host.get("/nowhere").send().header("x-request-id").is_some());

    // A traceparent that is not valid starts a new trace instead.
    let r = host.get("/probe/echo").header("traceparent", "00-not-a-trace-01").send().json();
    let passed = r["headers"].as_array().unwrap().iter().find(|h| h[0] == "traceparent").unwrap()[1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!passed.contains("not-a-trace") && passed.starts_with("00-"), "{passed}");
    let r = host.get("/probe/echo").header("traceparent", &format!("00-{TRACE_ID}-{PARENT_SPAN}-01")).send().json();
    let passed = r["headers"].as_array().unwrap().iter().find(|h| h[0] == "traceparent").unwrap()[1]
        .as_str()
        .unwrap()
        .to_string();
    assert!(passed.starts_with(&format!("00-{TRACE_ID}-")) && !passed.contains(PARENT_SPAN), "{passed}");

    // A component's stderr is shown line by line under its name and the request's id.
    let r = host.get("/probe/stderr").header("x-request-id", "stderr-check").send();
    assert_eq!(r.status, 200);
    for line in ["first line", "second line", "unterminated"] {
        let expected = format!("stderr-check [probe] probe stderr: {line}");
        assert!(
            host.wait_for_output(|o| o.lines().any(|l| l.ends_with(&expected)), Duration::from_secs(5)),
            "{expected}\n{}",
            host.output()
        );
    }
    // ...and still written to its log file.
    let log = std::fs::read_to_string(dir.0.join(".edge/logs/probe_stderr.txt")).unwrap();
    assert!(log.contains("probe stderr: first line\nprobe stderr: second line\nprobe stderr: unterminated"), "{log}");
}

#[test]
fn observability_json_log_lines_parse() {
    if e2e::edge_only("--log-format") {
        return;
    }
    let dir = TempDir::new("json-logs");
    let host = probe(&dir, |c| c.arg("--log-format").arg("json"));
    let r = host
        .get("/probe/echo")
        .header("x-request-id", "json-line-1")
        .header("traceparent", &format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .send();
    assert_eq!(r.status, 200);
    host.get("/probe/stderr").header("x-request-id", "json-line-2").send();
    assert!(host.wait_for_output(|o| o.contains("json-line-2") && o.contains("unterminated"), Duration::from_secs(5)));
    let output = host.output();
    let lines: Vec<Value> = output
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["ts", "level", "component", "request_id", "trace_id", "msg"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
        assert!(line["ts"].as_str().unwrap().ends_with('Z'));
    }
    let request = lines
        .iter()
        .find(|l| l["request_id"] == "json-line-1" && l.get("stream").is_none())
        .expect("the request's line");
    assert_eq!(request["component"], "probe");
    assert_eq!(request["level"], "info");
    assert_eq!(request["trace_id"], TRACE_ID);
    assert!(request["msg"].as_str().unwrap().starts_with("GET /probe/echo -> 200"), "{request}");
    let stderr: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "json-line-2" && l["stream"] == "stderr")
        .filter(|l| l["msg"].as_str().unwrap().starts_with("probe stderr: "))
        .collect();
    assert_eq!(stderr.len(), 3, "{stderr:?}");
    assert!(lines.iter().any(|l| l["msg"].as_str().is_some_and(|m| m.starts_with("Serving http://"))));
}

#[test]
fn observability_host_metrics_by_function_are_prometheus_text_that_promtool_accepts() {
    if e2e::edge_only("the host's metrics") {
        return;
    }
    let dir = TempDir::new("prom");
    let host = probe(&dir, |c| c);
    for _ in 0..3 {
        assert_eq!(host.get("/probe/echo").send().status, 200);
    }
    assert_eq!(host.post("/probe/json").body(b"not json".to_vec()).send().status / 100, 4);
    assert_eq!(host.get("/nowhere").send().status, 404);
    let text = host.get("/.well-known/edge/metrics").send().text();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("edge_requests_total{component=\"probe\",method=\"GET\",status_class=\"2xx\"}"), 3.0);
    assert_eq!(value("edge_requests_total{component=\"probe\",method=\"POST\",status_class=\"4xx\"}"), 1.0);
    assert_eq!(value("edge_requests_total{component=\"edge\",method=\"GET\",status_class=\"4xx\"}"), 1.0);
    assert_eq!(value("edge_request_duration_seconds_count{component=\"probe\",method=\"GET\"}"), 3.0);
    assert_eq!(value("edge_request_duration_seconds_bucket{component=\"probe\",method=\"GET\",le=\"+Inf\"}"), 3.0);
    assert!(value("edge_request_duration_seconds_bucket{component=\"probe\",method=\"GET\",le=\"10\"}") <= 3.0);
    assert!(value("edge_request_duration_seconds_sum{component=\"probe\",method=\"GET\"}") > 0.0);
    assert!(text.contains("# TYPE edge_request_duration_seconds histogram\n"));
    e2e::assert_promtool_accepts(&text);
}
