//! `GET /analyze?timeRange=24h&minSamples=20`: the latest window against the one before it,
//! per function: how requests, average, p95 and error rate moved, a trend, and regressions.
//!
//! - trend: `slower` / `faster` when p95 moved by more than 10 %, else `stable`;
//!   `insufficient_data` when either window has fewer than `minSamples` requests.
//! - regression: p95 up by more than 20 %, or the error rate up by more than 1 point.

use crate::figures::{Figures, Window};
use crate::params::Params;
use crate::stats::round;
use serde_json::{json, Value};
use shared::db::{Db, DbError};
use shared::Problem;

pub const TREND_PERCENT: f64 = 10.0;
pub const REGRESSION_P95_PERCENT: f64 = 20.0;
pub const REGRESSION_ERROR_POINTS: f64 = 1.0;
pub const DEFAULT_MIN_SAMPLES: i64 = 20;

/// One function's comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub function: String,
    pub trend: &'static str,
    pub p95_change_percent: Option<f64>,
    pub avg_change_percent: Option<f64>,
    pub error_rate_change_points: Option<f64>,
    pub regressions: Vec<String>,
}

fn change_percent(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if b > 0.0 => Some(100.0 * (a - b) / b),
        _ => None,
    }
}

pub fn compare(previous: &Figures, current: &Figures, min_samples: i64) -> Comparison {
    let function = current.function.clone().unwrap_or_default();
    let p95 = change_percent(previous.p95_ms, current.p95_ms);
    let avg = change_percent(previous.avg_ms, current.avg_ms);
    let errors = match (previous.error_rate(), current.error_rate()) {
        (Some(b), Some(a)) => Some(a - b),
        _ => None,
    };
    let enough = previous.requests >= min_samples && current.requests >= min_samples;
    if !enough {
        return Comparison {
            function,
            trend: "insufficient_data",
            p95_change_percent: p95,
            avg_change_percent: avg,
            error_rate_change_points: errors,
            regressions: Vec::new(),
        };
    }
    let trend = match p95 {
        Some(c) if c > TREND_PERCENT => "slower",
        Some(c) if c < -TREND_PERCENT => "faster",
        _ => "stable",
    };
    let mut regressions = Vec::new();
    if let (Some(c), Some(b), Some(a)) = (p95, previous.p95_ms, current.p95_ms) {
        if c > REGRESSION_P95_PERCENT {
            regressions.push(format!("p95 rose {:.1} % ({b} ms → {a} ms)", c));
        }
    }
    if let (Some(d), Some(b), Some(a)) = (errors, previous.error_rate(), current.error_rate()) {
        if d > REGRESSION_ERROR_POINTS {
            regressions.push(format!("error rate rose {:.2} points ({:.2} % → {:.2} %)", d, b, a));
        }
    }
    Comparison {
        function,
        trend,
        p95_change_percent: p95,
        avg_change_percent: avg,
        error_rate_change_points: errors,
        regressions,
    }
}

/// The comparisons of every function for a window of `hours`.
pub fn comparisons(db: &Db, hours: i32, min_samples: i64) -> Result<Vec<(Comparison, Figures, Figures)>, DbError> {
    let current = Window::load(db, hours, 0)?;
    let previous = Window::load(db, hours, hours)?;
    let mut names: Vec<String> = current.functions.iter().filter_map(|f| f.function.clone()).collect();
    for f in &previous.functions {
        if let Some(n) = &f.function {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    Ok(names
        .into_iter()
        .map(|name| {
            let empty = Figures { function: Some(name.clone()), hours, ..Figures::default() };
            let cur = current.get(&name).cloned().unwrap_or_else(|| empty.clone());
            let prev = previous.get(&name).cloned().unwrap_or(empty);
            (compare(&prev, &cur, min_samples), prev, cur)
        })
        .collect())
}

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let (range, hours) = crate::params::time_range(&mut params);
    let min_samples = params.int("minSamples", DEFAULT_MIN_SAMPLES, 1..=1_000_000);
    params.finish()?;
    let rows = db.as_service(|db| comparisons(db, hours, min_samples))?;
    let mut regressions = Vec::new();
    let functions: Vec<Value> = rows
        .iter()
        .map(|(c, prev, cur)| {
            for r in &c.regressions {
                regressions.push(json!({ "function": c.function, "finding": r }));
            }
            json!({
                "function": c.function,
                "trend": c.trend,
                "current": cur.to_json(),
                "previous": prev.to_json(),
                "change": {
                    "p95_percent": c.p95_change_percent.map(|v| round(v, 1)),
                    "avg_percent": c.avg_change_percent.map(|v| round(v, 1)),
                    "error_rate_points": c.error_rate_change_points.map(|v| round(v, 2)),
                },
                "regressions": c.regressions,
            })
        })
        .collect();
    Ok(json!({
        "timeRange": range,
        "window_hours": hours,
        "windows": {
            "current": format!("the last {hours} h"),
            "previous": format!("the {hours} h before that"),
        },
        "min_samples": min_samples,
        "rules": {
            "trend_p95_percent": TREND_PERCENT,
            "regression_p95_percent": REGRESSION_P95_PERCENT,
            "regression_error_rate_points": REGRESSION_ERROR_POINTS,
        },
        "functions": functions,
        "regressions": regressions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(requests: i64, errors: i64, p95: f64) -> Figures {
        Figures {
            function: Some("f".into()),
            hours: 1,
            requests,
            server_errors: errors,
            p95_ms: Some(p95),
            avg_ms: Some(p95 / 2.0),
            ..Figures::default()
        }
    }

    #[test]
    fn a_slower_p95_beyond_twenty_percent_is_a_regression() {
        let c = compare(&fig(100, 0, 50.0), &fig(100, 0, 65.0), 20);
        assert_eq!(c.trend, "slower");
        assert_eq!(c.p95_change_percent, Some(30.0));
        assert_eq!(c.regressions.len(), 1);
        let c = compare(&fig(100, 0, 50.0), &fig(100, 0, 58.0), 20);
        assert_eq!((c.trend, c.regressions.len()), ("slower", 0));
        let c = compare(&fig(100, 0, 50.0), &fig(100, 0, 40.0), 20);
        assert_eq!(c.trend, "faster");
        let c = compare(&fig(100, 0, 50.0), &fig(100, 0, 52.0), 20);
        assert_eq!(c.trend, "stable");
    }

    #[test]
    fn errors_rising_more_than_a_point_is_a_regression() {
        let c = compare(&fig(100, 1, 50.0), &fig(100, 3, 50.0), 20);
        assert_eq!(c.error_rate_change_points, Some(2.0));
        assert_eq!(c.regressions.len(), 1);
    }

    #[test]
    fn too_few_samples_judge_nothing() {
        let c = compare(&fig(5, 0, 50.0), &fig(100, 50, 500.0), 20);
        assert_eq!((c.trend, c.regressions.len()), ("insufficient_data", 0));
    }
}
