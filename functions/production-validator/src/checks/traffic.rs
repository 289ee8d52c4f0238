//! performance / `p95_latency` and reliability / `error_rate`, per function, from the last
//! hour of `performance_metrics` (real requests: `/health`, CORS preflights and validation runs
//! themselves left out).
//!
//! p95 (nearest rank) against the function's target: ≤ target pass, ≤ 1.5 × target warning,
//! slower fail. Error rate (5xx / requests): ≤ 0.05 % pass (the guide's acceptable error
//! rate), ≤ 1 % warning, more fail. No request: skip; fewer than 20: warning (too few to judge).

use crate::built::COMPONENTS;
use crate::check::{by_upper_bound, fixed, start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;

pub const MIN_SAMPLES: i64 = 20;
pub const ERROR_RATE_PASS: f64 = 0.05;
pub const ERROR_RATE_WARN: f64 = 1.0;

/// p95 targets in ms, from the deployment guide's success criteria: subscription operations
/// < 320 ms, quote generation < 950 ms, webhook processing < 180 ms, admin analytics < 480 ms.
pub fn p95_target_ms(function: &str) -> f64 {
    match function {
        "subscription-status" => 320.0,
        "quote-processor" | "quote-pdf-generator" | "batch-processor" => 950.0,
        "webhook-handler" => 180.0,
        _ => 480.0,
    }
}

/// One function's last hour.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub requests: i64,
    pub errors: i64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

const WINDOW_SQL: &str = "
SELECT m.function_name,
       count(*) AS requests,
       count(*) FILTER (WHERE m.status >= 500) AS errors,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY m.duration_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY m.duration_ms) AS p95_ms,
       max(m.duration_ms) AS max_ms
FROM public.performance_metrics m
WHERE m.created_at >= now() - interval '1 hour'
  AND m.deployment_color <> 'forwarded'
  AND m.method <> 'OPTIONS' AND m.route NOT LIKE '%/health'
  -- Validations themselves (dozens of probes each) are not what the admin target is about.
  AND NOT (m.function_name = 'production-validator' AND m.method = 'POST')
GROUP BY m.function_name";

/// The last hour per component of the manifest; `Err` is the reason it could not be read.
pub fn last_hour(db: &Db) -> Result<Vec<(&'static str, Window)>, String> {
    let rows = db.query(WINDOW_SQL, &[]).map_err(|e| super::error_kind(&e))?;
    let mut windows = Vec::new();
    for (name, _) in COMPONENTS {
        let mut w = Window::default();
        for r in rows.iter() {
            if r.string("function_name").map_err(|e| e.to_string())? == *name {
                w = Window {
                    requests: r.i64("requests").map_err(|e| e.to_string())?,
                    errors: r.i64("errors").map_err(|e| e.to_string())?,
                    p50_ms: r.float("p50_ms").map_err(|e| e.to_string())?,
                    p95_ms: r.float("p95_ms").map_err(|e| e.to_string())?,
                    max_ms: r.float("max_ms").map_err(|e| e.to_string())?,
                };
            }
        }
        windows.push((*name, w));
    }
    Ok(windows)
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn p95_latency(function: &str, w: &Window) -> Check {
    let p = start(Category::Performance, "p95_latency", Severity::Medium).subject(function);
    let target = p95_target_ms(function);
    let evidence = json!({
        "window": "1 hour",
        "requests": w.requests,
        "p50_ms": w.p50_ms.map(round2),
        "p95_ms": w.p95_ms.map(round2),
        "max_ms": w.max_ms.map(round2),
        "target_ms": target,
        "min_samples": MIN_SAMPLES,
    });
    let remedy = format!("{function} is slower than its target: look at its slowest routes (performance-optimizer /metrics) and its queries");
    let p95 = match w.p95_ms {
        Some(v) if w.requests > 0 => v,
        _ => {
            return p.done(
                Status::Skip,
                format!("no request to {function} in the last hour"),
                evidence,
                "send traffic (or wait for it) and validate again",
            )
        }
    };
    if w.requests < MIN_SAMPLES {
        return p.done(
            Status::Warning,
            format!(
                "only {} requests to {function} in the last hour: too few for a p95 (p95 {} ms)",
                w.requests,
                fixed(p95, 1)
            ),
            evidence,
            format!("validate again once {function} has served at least {MIN_SAMPLES} requests in an hour"),
        );
    }
    let status = by_upper_bound(p95, target, target * 1.5);
    p.done(
        status,
        format!("p95 {} ms over {} requests (target ≤ {} ms)", fixed(p95, 1), w.requests, fixed(target, 0)),
        evidence,
        remedy,
    )
}

pub fn error_rate(function: &str, w: &Window) -> Check {
    let p = start(Category::Reliability, "error_rate", Severity::High).subject(function);
    let rate = (w.requests > 0).then(|| 100.0 * w.errors as f64 / w.requests as f64);
    let evidence = json!({
        "window": "1 hour",
        "requests": w.requests,
        "server_errors": w.errors,
        "error_rate_percent": rate.map(|r| (r * 1000.0).round() / 1000.0),
        "target_percent": ERROR_RATE_PASS,
        "fail_above_percent": ERROR_RATE_WARN,
        "min_samples": MIN_SAMPLES,
    });
    let Some(rate) = rate else {
        return p.done(
            Status::Skip,
            format!("no request to {function} in the last hour"),
            evidence,
            "send traffic (or wait for it) and validate again",
        );
    };
    if w.requests < MIN_SAMPLES {
        return p.done(
            Status::Warning,
            format!(
                "only {} requests to {function} in the last hour ({} failed): too few to judge",
                w.requests, w.errors
            ),
            evidence,
            format!("validate again once {function} has served at least {MIN_SAMPLES} requests in an hour"),
        );
    }
    let status = by_upper_bound(rate, ERROR_RATE_PASS, ERROR_RATE_WARN);
    p.done(
        status,
        format!(
            "{} of {} requests failed with 5xx ({} %; target ≤ {} %)",
            w.errors,
            w.requests,
            fixed(rate, 2),
            fixed(ERROR_RATE_PASS, 2)
        ),
        evidence,
        format!(
            "{function} answers 5xx: read its log (.edge/logs or the platform's) for the failing routes and fix them"
        ),
    )
}

/// The traffic checks, skipped, when the metrics cannot be read at all.
pub fn unreadable(why: &str, wants: impl Fn(Category) -> bool) -> Vec<Check> {
    let mut out = Vec::new();
    for (function, _) in COMPONENTS {
        if wants(Category::Performance) {
            out.push(
                start(Category::Performance, "p95_latency", Severity::Medium)
                    .subject(function)
                    .unavailable("performance_metrics", why),
            );
        }
        if wants(Category::Reliability) {
            out.push(
                start(Category::Reliability, "error_rate", Severity::High)
                    .subject(function)
                    .unavailable("performance_metrics", why),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(requests: i64, errors: i64, p95: f64) -> Window {
        Window { requests, errors, p50_ms: Some(p95 / 2.0), p95_ms: Some(p95), max_ms: Some(p95) }
    }

    #[test]
    fn no_traffic_is_a_skip_and_little_traffic_a_warning() {
        assert_eq!(p95_latency("webhook-handler", &Window::default()).status, Status::Skip);
        assert_eq!(error_rate("webhook-handler", &Window::default()).status, Status::Skip);
        assert_eq!(p95_latency("webhook-handler", &w(19, 0, 1.0)).status, Status::Warning);
        assert_eq!(error_rate("webhook-handler", &w(19, 0, 1.0)).status, Status::Warning);
    }

    #[test]
    fn latency_and_errors_against_targets() {
        assert_eq!(p95_latency("webhook-handler", &w(100, 0, 180.0)).status, Status::Pass);
        assert_eq!(p95_latency("webhook-handler", &w(100, 0, 270.0)).status, Status::Warning);
        assert_eq!(p95_latency("webhook-handler", &w(100, 0, 271.0)).status, Status::Fail);
        assert_eq!(error_rate("quote-processor", &w(2000, 1, 1.0)).status, Status::Pass);
        assert_eq!(error_rate("quote-processor", &w(100, 1, 1.0)).status, Status::Warning);
        assert_eq!(error_rate("quote-processor", &w(100, 2, 1.0)).status, Status::Fail);
    }
}
