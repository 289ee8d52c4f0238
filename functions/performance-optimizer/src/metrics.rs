//! `GET /metrics?timeRange=24h` (1h, 6h, 12h, 24h, 7d, 30d): per function and in total, the
//! requests, 5xx and 4xx counts, error rate, average and nearest-rank p50 / p95 / p99 latency,
//! and throughput of the window, from `performance_metrics`.

use crate::figures::Window;
use crate::params::Params;
use serde_json::{json, Value};
use shared::db::{Db, DbError};
use shared::Problem;

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let (range, hours) = crate::params::time_range(&mut params);
    params.finish()?;
    let window = db.as_service(|db| -> Result<_, DbError> { Window::load(db, hours, 0) })?;
    let functions: Vec<Value> = window
        .functions
        .iter()
        .map(|f| {
            let mut v = f.to_json();
            v["function"] = json!(f.function);
            v
        })
        .collect();
    Ok(json!({
        "timeRange": range,
        "window_hours": hours,
        "percentile_method": "nearest-rank",
        "error_definition": "5xx answers per request, in percent",
        "throughput_unit": "requests per minute",
        "total": window.total.to_json(),
        "functions": functions,
    }))
}
