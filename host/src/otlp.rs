//! Spans and request metrics exported over OTLP/HTTP with JSON encoding, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT` / `..._METRICS_ENDPOINT`) is set.
//!
//! Written by hand rather than with the `opentelemetry` crates: the host needs one span per
//! request and a few cumulative series, which is a page of serde_json over the HTTP client
//! already in the tree (wasmtime-wasi-http's, the one components' outgoing requests use, with
//! TLS), where the SDK with its OTLP exporter would add dozens of crates (prost, tonic or
//! reqwest, opentelemetry_sdk) to every build for the same JSON.
//!
//! Requests never wait for the exporter: a span is handed to a bounded queue, dropped (and
//! counted) when it is full; one background task batches the spans and posts them, and posts
//! the metrics at their interval. A collector that fails or hangs costs only its own posts.

use crate::figures::{RequestFigures, BUCKETS};
use crate::trace::{hex, RequestScope};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Spans waiting for the exporter; past this they are dropped.
const QUEUE: usize = 4096;
/// Spans per post at most.
const MAX_BATCH: usize = 512;
/// How long a span waits for its batch at most.
const BATCH_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A client's request to the host.
    Server,
    /// A component's call to another component (service chaining or a self request).
    Client,
}

/// One finished request, as a span.
#[derive(Debug, Clone)]
pub struct Span {
    pub scope: RequestScope,
    pub kind: Kind,
    pub name: String,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Attr)>,
    /// A 5xx answer.
    pub error: bool,
}

#[derive(Debug, Clone)]
pub enum Attr {
    Str(String),
    Int(i64),
}

/// Where and how to export, from the standard `OTEL_*` variables.
#[derive(Debug, Clone)]
pub struct Config {
    pub traces: Option<http::Uri>,
    pub metrics: Option<http::Uri>,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub resource: Vec<(String, String)>,
    pub metric_interval: Duration,
    pub timeout: Duration,
}

impl Config {
    /// `None` when no endpoint is set (or `OTEL_SDK_DISABLED=true`). Values that cannot be
    /// used are reported and left out rather than stopping the host.
    pub fn from_env(var: impl Fn(&str) -> Option<String>, default_service: &str) -> Option<Config> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return None;
        }
        let base = var("OTEL_EXPORTER_OTLP_ENDPOINT");
        let endpoint = |own: &str, path: &str| -> Option<http::Uri> {
            let url = var(own).or_else(|| base.as_ref().map(|b| format!("{}/{path}", b.trim_end_matches('/'))))?;
            match url.parse::<http::Uri>() {
                Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.authority().is_some() => Some(uri),
                _ => {
                    crate::logs::warn(
                        "edge",
                        None,
                        &format!("{own}: `{url}` is not an http(s) URL; not exporting there"),
                    );
                    None
                }
            }
        };
        let traces = endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "v1/traces");
        let metrics = endpoint("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "v1/metrics");
        if traces.is_none() && metrics.is_none() {
            return None;
        }
        if let Some(p) = var("OTEL_EXPORTER_OTLP_PROTOCOL").filter(|p| p != "http/json") {
            crate::logs::warn("edge", None, &format!("OTEL_EXPORTER_OTLP_PROTOCOL={p}: edge exports http/json only"));
        }
        let headers = pairs(&var("OTEL_EXPORTER_OTLP_HEADERS").unwrap_or_default())
            .into_iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.parse().ok()?)))
            .collect();
        let mut resource = pairs(&var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default());
        let service = var("OTEL_SERVICE_NAME")
            .or_else(|| resource.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
            .unwrap_or_else(|| default_service.to_string());
        resource.retain(|(k, _)| k != "service.name");
        resource.insert(0, ("service.name".to_string(), service));
        let millis = |name: &str, default: u64| {
            Duration::from_millis(var(name).and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default))
        };
        Some(Config {
            traces,
            metrics,
            headers,
            resource,
            metric_interval: millis("OTEL_METRIC_EXPORT_INTERVAL", 60_000),
            timeout: millis("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000),
        })
    }
}

/// `key=value,key=value` (the OTEL_* lists; values percent-decoded as they may be).
fn pairs(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let decoded =
            (b[i] == b'%').then(|| s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())).flatten();
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The exporter's figures, shown with the host's metrics.
#[derive(Default)]
pub struct ExportStats {
    pub spans_exported: AtomicU64,
    pub spans_dropped: AtomicU64,
    pub posts_failed: AtomicU64,
}

pub struct Exporter {
    queue: mpsc::Sender<Span>,
    pub stats: Arc<ExportStats>,
    traces: bool,
}

impl Exporter {
    /// Start the background task (within a Tokio runtime).
    pub fn start(config: Config, figures: Arc<RequestFigures>) -> Exporter {
        let (queue, spans) = mpsc::channel(QUEUE);
        let stats = Arc::new(ExportStats::default());
        let traces = config.traces.is_some();
        let task = Task { config, figures, stats: stats.clone(), started: SystemTime::now(), last_warning: None };
        tokio::spawn(task.run(spans));
        Exporter { queue, stats, traces }
    }

    /// Hand a finished span over, without waiting. Spans of traces the caller chose not to
    /// sample (`traceparent` flags without bit 0) are not exported.
    pub fn record(&self, span: Span) {
        if !self.traces || span.scope.flags & 1 == 0 {
            return;
        }
        if self.queue.try_send(span).is_err() {
            self.stats.spans_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Task {
    config: Config,
    figures: Arc<RequestFigures>,
    stats: Arc<ExportStats>,
    started: SystemTime,
    last_warning: Option<std::time::Instant>,
}

impl Task {
    async fn run(mut self, mut spans: mpsc::Receiver<Span>) {
        let mut batch: Vec<Span> = Vec::new();
        let mut flush = tokio::time::interval(BATCH_DELAY);
        let mut metrics = tokio::time::interval(self.config.metric_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        metrics.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        metrics.tick().await; // the first tick is immediate, with nothing to say yet
        loop {
            tokio::select! {
                got = spans.recv() => match got {
                    Some(span) => {
                        batch.push(span);
                        if batch.len() >= MAX_BATCH {
                            self.export_spans(std::mem::take(&mut batch)).await;
                        }
                    }
                    None => break,
                },
                _ = flush.tick() => {
                    if !batch.is_empty() {
                        self.export_spans(std::mem::take(&mut batch)).await;
                    }
                }
                _ = metrics.tick(), if self.config.metrics.is_some() => self.export_metrics().await,
            }
        }
    }

    async fn export_spans(&mut self, batch: Vec<Span>) {
        let Some(uri) = self.config.traces.clone() else { return };
        let body = traces_json(&self.config.resource, &batch);
        if self.post(&uri, body).await {
            self.stats.spans_exported.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    }

    async fn export_metrics(&mut self) {
        let Some(uri) = self.config.metrics.clone() else { return };
        let body = metrics_json(&self.config.resource, &self.figures, self.started, SystemTime::now());
        self.post(&uri, body).await;
    }

    /// POST `body`; whether the collector took it. A failure is counted and reported, at
    /// most once a minute.
    async fn post(&mut self, uri: &http::Uri, body: Value) -> bool {
        let mut req = http::Request::post(uri.clone()).header("content-type", "application/json");
        for (k, v) in &self.config.headers {
            req = req.header(k, v);
        }
        let body = Full::new(Bytes::from(body.to_string())).map_err(|e: Infallible| match e {}).boxed_unsync();
        let outcome = match req.body(body) {
            Ok(req) => tokio::time::timeout(self.config.timeout, send(req))
                .await
                .unwrap_or_else(|_| Err("timed out".to_string())),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(status) if status.is_success() => true,
            failed => {
                self.stats.posts_failed.fetch_add(1, Ordering::Relaxed);
                let why = match failed {
                    Ok(status) => format!("answered {status}"),
                    Err(e) => e,
                };
                if self.last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    self.last_warning = Some(std::time::Instant::now());
                    crate::logs::warn(
                        "edge",
                        None,
                        &format!("OTLP export to {uri} failed: {why} (reported once a minute at most)"),
                    );
                }
                false
            }
        }
    }
}

async fn send(req: http::Request<wasmtime_wasi_http::WasiBody>) -> Result<http::StatusCode, String> {
    let options = wasmtime_wasi_http::RequestOptions {
        connect_timeout: Some(Duration::from_secs(5)),
        first_byte_timeout: Some(Duration::from_secs(10)),
        between_bytes_timeout: Some(Duration::from_secs(10)),
    };
    let (response, io) =
        wasmtime_wasi_http::default_send_request(req, Some(options)).await.map_err(|e| format!("{e:?}"))?;
    let io = tokio::spawn(io);
    let status = response.status();
    // Read the answer whole so the connection ends cleanly; what it says is not needed.
    let _ = response.into_body().collect().await;
    io.abort();
    Ok(status)
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos().to_string()
}

fn attribute(key: &str, value: &Attr) -> Value {
    match value {
        Attr::Str(s) => json!({"key": key, "value": {"stringValue": s}}),
        // OTLP JSON writes 64-bit integers as strings.
        Attr::Int(n) => json!({"key": key, "value": {"intValue": n.to_string()}}),
    }
}

fn resource_json(resource: &[(String, String)]) -> Value {
    let attributes: Vec<Value> = resource.iter().map(|(k, v)| attribute(k, &Attr::Str(v.clone()))).collect();
    json!({ "attributes": attributes })
}

fn scope_json() -> Value {
    json!({"name": "edge", "version": env!("CARGO_PKG_VERSION")})
}

/// `ExportTraceServiceRequest` in OTLP's JSON mapping.
pub fn traces_json(resource: &[(String, String)], spans: &[Span]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": hex(&s.scope.trace_id),
                "spanId": hex(&s.scope.span_id),
                "name": s.name,
                "kind": match s.kind { Kind::Server => 2, Kind::Client => 3 },
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
                // UNSET, or ERROR for a 5xx (a 4xx is the client's doing, not the server's).
                "status": {"code": if s.error { 2 } else { 0 }},
            });
            if let Some(parent) = s.scope.parent_span_id {
                span["parentSpanId"] = hex(&parent).into();
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{"resource": resource_json(resource), "scopeSpans": [{"scope": scope_json(), "spans": spans}]}]})
}

/// `ExportMetricsServiceRequest`: the request counts and latency histogram, cumulative since
/// the host started.
pub fn metrics_json(
    resource: &[(String, String)],
    figures: &RequestFigures,
    started: SystemTime,
    now: SystemTime,
) -> Value {
    let (start, now) = (nanos(started), nanos(now));
    let mut counts = Vec::new();
    let mut durations = Vec::new();
    for ((component, method), s) in figures.snapshot() {
        for (i, n) in s.by_class.iter().enumerate().filter(|(_, n)| **n > 0) {
            counts.push(json!({
                "attributes": [
                    attribute("edge.component", &Attr::Str(component.clone())),
                    attribute("http.request.method", &Attr::Str(method.to_string())),
                    attribute("http.response.status_class", &Attr::Str(format!("{}xx", i + 1))),
                ],
                "startTimeUnixNano": start, "timeUnixNano": now, "asInt": n.to_string(),
            }));
        }
        if s.count > 0 {
            durations.push(json!({
                "attributes": [
                    attribute("edge.component", &Attr::Str(component.clone())),
                    attribute("http.request.method", &Attr::Str(method.to_string())),
                ],
                "startTimeUnixNano": start, "timeUnixNano": now,
                "count": s.count.to_string(), "sum": s.sum_seconds,
                "bucketCounts": s.buckets.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                "explicitBounds": BUCKETS,
            }));
        }
    }
    // aggregationTemporality 2: cumulative.
    let metrics = json!([
        {"name": "edge.requests", "description": "HTTP requests answered", "unit": "{request}",
         "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": counts}},
        {"name": "http.server.request.duration", "description": "time to answer requests served by components", "unit": "s",
         "histogram": {"aggregationTemporality": 2, "dataPoints": durations}},
    ]);
    json!({"resourceMetrics": [{"resource": resource_json(resource), "scopeMetrics": [{"scope": scope_json(), "metrics": metrics}]}]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Option<Config> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(|k| vars.get(k).cloned(), "app")
    }

    #[test]
    fn endpoints_come_from_the_standard_variables() {
        assert!(config(&[]).is_none());
        let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap();
        assert_eq!(c.traces.unwrap().to_string(), "http://collector:4318/v1/traces");
        assert_eq!(c.metrics.unwrap().to_string(), "http://collector:4318/v1/metrics");
        assert_eq!(c.resource[0], ("service.name".to_string(), "app".to_string()));
        let c = config(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://t.example/otlp/traces"),
            ("OTEL_SERVICE_NAME", "quotes"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=ignored"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20abc"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ])
        .unwrap();
        assert_eq!(c.traces.unwrap().to_string(), "https://t.example/otlp/traces");
        assert!(c.metrics.is_none(), "a traces endpoint alone exports no metrics");
        assert_eq!(
            c.resource,
            vec![("service.name".into(), "quotes".into()), ("deployment.environment".into(), "prod".into())]
        );
        assert_eq!(c.headers[0].1, "Bearer abc");
        assert_eq!(c.metric_interval, Duration::from_millis(1500));
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).is_none(), "not a URL: nothing exported");
        assert!(config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]).is_none());
    }

    #[test]
    fn spans_follow_the_otlp_json_mapping() {
        let scope = RequestScope {
            request_id: "r".into(),
            trace_id: [0x4b; 16],
            span_id: [2; 8],
            parent_span_id: Some([1; 8]),
            flags: 1,
        };
        let span = Span {
            scope,
            kind: Kind::Server,
            name: "GET /x".into(),
            start: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_000_000_001),
            end: UNIX_EPOCH + Duration::from_nanos(1_700_000_000_500_000_000),
            attributes: vec![
                ("http.request.method", Attr::Str("GET".into())),
                ("http.response.status_code", Attr::Int(200)),
            ],
            error: false,
        };
        let v = traces_json(&[("service.name".into(), "edge".into())], &[span]);
        let s = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(s["traceId"], "4b".repeat(16));
        assert_eq!(s["spanId"], "0202020202020202");
        assert_eq!(s["parentSpanId"], "0101010101010101");
        assert_eq!(s["kind"], 2);
        assert_eq!(s["startTimeUnixNano"], "1700000000000000001");
        assert_eq!(s["attributes"][1], json!({"key": "http.response.status_code", "value": {"intValue": "200"}}));
        assert_eq!(v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "edge");
    }

    #[test]
    fn metrics_are_cumulative_sums_and_histograms() {
        let f = RequestFigures::default();
        f.record("a", &http::Method::GET, 200, Some(Duration::from_millis(20)));
        f.record("a", &http::Method::GET, 500, Some(Duration::from_secs(20)));
        let v = metrics_json(&[], &f, UNIX_EPOCH, UNIX_EPOCH + Duration::from_secs(1));
        let m = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"];
        assert_eq!(m[0]["sum"]["dataPoints"].as_array().unwrap().len(), 2);
        assert_eq!(m[0]["sum"]["dataPoints"][0]["asInt"], "1");
        let h = &m[1]["histogram"]["dataPoints"][0];
        assert_eq!(h["count"], "2");
        assert_eq!(h["bucketCounts"].as_array().unwrap().len(), BUCKETS.len() + 1);
        assert_eq!(h["bucketCounts"][2], "1"); // 20 ms: in (0.01, 0.025]
        assert_eq!(h["bucketCounts"][BUCKETS.len()], "1");
        assert_eq!(h["timeUnixNano"], "1000000000");
    }
}
