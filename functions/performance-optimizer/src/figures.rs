//! Request figures per function from `performance_metrics`, computed in SQL: what `metrics`
//! reports, what `analyze` compares between windows and what `recommendations` judges, so the
//! three can never disagree. Errors are 5xx answers (a 4xx is the caller's mistake, counted
//! apart); percentiles are nearest-rank (`percentile_disc`); throughput is requests per minute
//! of the window.

use serde_json::{json, Value};
use shared::db::{Db, DbError, Param};

use crate::stats::{rate, round};

/// The functions of the application (spin.toml), listed even when they have no rows.
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

/// `$1` hours back from `$2` hours ago: window 0 is the latest, window 1 the one before it.
const BY_FUNCTION_SQL: &str = "
SELECT m.function_name,
       count(*) AS requests,
       count(*) FILTER (WHERE m.status >= 500) AS server_errors,
       count(*) FILTER (WHERE m.status BETWEEN 400 AND 499) AS client_errors,
       avg(m.duration_ms) AS avg_ms,
       percentile_disc(0.50) WITHIN GROUP (ORDER BY m.duration_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY m.duration_ms) AS p95_ms,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY m.duration_ms) AS p99_ms,
       min(m.duration_ms) AS min_ms,
       max(m.duration_ms) AS max_ms,
       coalesce(sum(m.response_bytes), 0)::int8 AS response_bytes
FROM public.performance_metrics m
WHERE m.created_at >= now() - make_interval(hours => $1::int + $2::int)
  AND m.created_at < now() - make_interval(hours => $2::int)
  AND m.deployment_color <> 'forwarded'
GROUP BY GROUPING SETS ((m.function_name), ())
ORDER BY m.function_name NULLS LAST";

/// The figures of one function (or of all, `function = None`) in one window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub function: Option<String>,
    pub hours: i32,
    pub requests: i64,
    pub server_errors: i64,
    pub client_errors: i64,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub min_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub response_bytes: i64,
}

impl Figures {
    /// 5xx answers per request, in percent.
    pub fn error_rate(&self) -> Option<f64> {
        rate(self.server_errors, self.requests)
    }

    pub fn requests_per_minute(&self) -> f64 {
        self.requests as f64 / (self.hours as f64 * 60.0)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "requests": self.requests,
            "server_errors": self.server_errors,
            "client_errors": self.client_errors,
            "error_rate": self.error_rate().map(|r| round(r, 2)),
            "avg_ms": self.avg_ms.map(|v| round(v, 2)),
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "throughput_per_minute": round(self.requests_per_minute(), 4),
            "response_bytes": self.response_bytes,
        })
    }
}

/// Every known function (zero figures when it had no requests), then any other name found in
/// the rows, and the total of all functions.
pub struct Window {
    pub functions: Vec<Figures>,
    pub total: Figures,
}

impl Window {
    /// The `hours` ending `offset_hours` ago.
    pub fn load(db: &Db, hours: i32, offset_hours: i32) -> Result<Window, DbError> {
        let rows = db.query(BY_FUNCTION_SQL, &[Param::Int32(hours), Param::Int32(offset_hours)])?;
        let mut found = Vec::new();
        let mut total = Figures { hours, ..Figures::default() };
        for r in rows.iter() {
            let f = Figures {
                function: r.text("function_name")?,
                hours,
                requests: r.i64("requests")?,
                server_errors: r.i64("server_errors")?,
                client_errors: r.i64("client_errors")?,
                avg_ms: r.float("avg_ms")?,
                p50_ms: r.float("p50_ms")?,
                p95_ms: r.float("p95_ms")?,
                p99_ms: r.float("p99_ms")?,
                min_ms: r.float("min_ms")?,
                max_ms: r.float("max_ms")?,
                response_bytes: r.i64("response_bytes")?,
            };
            if f.function.is_none() {
                total = f;
            } else {
                found.push(f);
            }
        }
        let mut functions: Vec<Figures> = FUNCTIONS
            .iter()
            .map(|name| {
                found.iter().find(|f| f.function.as_deref() == Some(*name)).cloned().unwrap_or(Figures {
                    function: Some(name.to_string()),
                    hours,
                    ..Figures::default()
                })
            })
            .collect();
        functions.extend(found.into_iter().filter(|f| !FUNCTIONS.contains(&f.function.as_deref().unwrap_or(""))));
        Ok(Window { functions, total })
    }

    pub fn get(&self, function: &str) -> Option<&Figures> {
        self.functions.iter().find(|f| f.function.as_deref() == Some(function))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_counts_server_errors_only_and_throughput_is_per_minute() {
        let f = Figures { hours: 1, requests: 120, server_errors: 6, client_errors: 30, ..Figures::default() };
        assert_eq!(f.error_rate(), Some(5.0));
        assert_eq!(f.requests_per_minute(), 2.0);
        assert_eq!(Figures { hours: 1, ..Figures::default() }.error_rate(), None);
    }
}
