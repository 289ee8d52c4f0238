//! Requests counted by component, method and status class, and their latency as a
//! histogram: written as Prometheus text (`/.well-known/edge/metrics`) and exported over OTLP.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (the last bucket, +Inf, is implied).
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The label of an answer made by the host itself, before any component (its own endpoints,
/// no route, refusals).
pub const HOST: &str = "edge";

/// What is known of one component and method.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Answers by status class: 1xx to 5xx.
    pub by_class: [u64; 5],
    /// Timed requests per bucket (not cumulative), the last one past 10 s.
    pub buckets: [u64; BUCKETS.len() + 1],
    pub sum_seconds: f64,
    pub count: u64,
}

#[derive(Default)]
pub struct RequestFigures {
    series: Mutex<BTreeMap<(String, &'static str), Series>>,
}

/// Methods as labels: the usual ones by name, anything else as `other`, so a client cannot
/// make a series per made-up method.
pub fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl RequestFigures {
    /// An answer; `took` is given for requests a component served (the histogram's).
    pub fn record(&self, component: &str, method: &http::Method, status: u16, took: Option<Duration>) {
        let class = (status / 100).clamp(1, 5) as usize - 1;
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = series.entry((component.to_string(), method_label(method))).or_default();
        s.by_class[class] += 1;
        if let Some(took) = took {
            let seconds = took.as_secs_f64();
            let bucket = BUCKETS.iter().position(|&le| seconds <= le).unwrap_or(BUCKETS.len());
            s.buckets[bucket] += 1;
            s.sum_seconds += seconds;
            s.count += 1;
        }
    }

    /// Every series, in order of component and method.
    pub fn snapshot(&self) -> Vec<((String, &'static str), Series)> {
        self.series.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `edge_requests_total{component,method,status_class}` and
    /// `edge_request_duration_seconds{component,method}` in Prometheus' text format.
    pub fn prometheus(&self, out: &mut String) {
        let snapshot = self.snapshot();
        let _ =
            writeln!(out, "# HELP edge_requests_total HTTP requests answered, by component, method and status class");
        let _ = writeln!(out, "# TYPE edge_requests_total counter");
        for ((component, method), s) in &snapshot {
            for (class, n) in CLASSES.iter().zip(s.by_class) {
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "edge_requests_total{{component=\"{}\",method=\"{method}\",status_class=\"{class}\"}} {n}",
                        escape(component)
                    );
                }
            }
        }
        let _ = writeln!(out, "# HELP edge_request_duration_seconds time to answer requests served by components");
        let _ = writeln!(out, "# TYPE edge_request_duration_seconds histogram");
        for ((component, method), s) in snapshot.iter().filter(|(_, s)| s.count > 0) {
            let labels = format!("component=\"{}\",method=\"{method}\"", escape(component));
            let mut cumulative = 0;
            for (i, n) in s.buckets.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "edge_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "edge_request_duration_seconds_sum{{{labels}}} {}", s.sum_seconds);
            let _ = writeln!(out, "edge_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
    }
}

/// A label value as Prometheus' text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_class_and_timed_in_cumulative_buckets() {
        let f = RequestFigures::default();
        f.record("quote-processor", &http::Method::POST, 201, Some(Duration::from_millis(3)));
        f.record("quote-processor", &http::Method::POST, 503, Some(Duration::from_millis(700)));
        f.record("quote-processor", &http::Method::POST, 201, Some(Duration::from_secs(11)));
        f.record(HOST, &http::Method::GET, 404, None);
        f.record(HOST, &http::Method::from_bytes(b"BREW").unwrap(), 404, None);
        let mut text = String::new();
        f.prometheus(&mut text);
        for line in [
            "edge_requests_total{component=\"quote-processor\",method=\"POST\",status_class=\"2xx\"} 2",
            "edge_requests_total{component=\"quote-processor\",method=\"POST\",status_class=\"5xx\"} 1",
            "edge_requests_total{component=\"edge\",method=\"GET\",status_class=\"4xx\"} 1",
            "edge_requests_total{component=\"edge\",method=\"other\",status_class=\"4xx\"} 1",
            "edge_request_duration_seconds_bucket{component=\"quote-processor\",method=\"POST\",le=\"0.005\"} 1",
            "edge_request_duration_seconds_bucket{component=\"quote-processor\",method=\"POST\",le=\"0.5\"} 1",
            "edge_request_duration_seconds_bucket{component=\"quote-processor\",method=\"POST\",le=\"1\"} 2",
            "edge_request_duration_seconds_bucket{component=\"quote-processor\",method=\"POST\",le=\"10\"} 2",
            "edge_request_duration_seconds_bucket{component=\"quote-processor\",method=\"POST\",le=\"+Inf\"} 3",
            "edge_request_duration_seconds_count{component=\"quote-processor\",method=\"POST\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        assert!(!text.contains("method=\"GET\",le="), "the host's own answers are not timed");
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("edge_request_duration_seconds_sum{component=\"quote-processor\",method=\"POST\"} ")
            })
            .unwrap()
            .parse()
            .unwrap();
        assert!((sum - 11.703).abs() < 1e-9, "{sum}");
    }
}
