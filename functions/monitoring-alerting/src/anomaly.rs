//! `GET /anomaly-detection[?hours=24][&bucket_minutes=5][&trailing=12][&z=3][&min_requests=5]`:
//! per function, the average latency and the error rate of each time bucket are scored
//! against the trailing window of the buckets before it (z-score = (value − mean) / sample
//! standard deviation). A bucket with |z| ≥ `z` is an anomaly; when the trailing window was
//! constant (deviation 0) any different value is one, reported without a z-score. Buckets with
//! fewer than `min_requests` requests are left out (too few to say anything).

use crate::display::round2;
use serde::Serialize;
use serde_json::{json, Value};
use shared::db::{Db, Param};
use shared::params::Params;
use shared::{Problem, Request};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub bucket_start: String,
    pub value: f64,
    pub mean: f64,
    pub stddev: f64,
    /// `None` when the trailing window was constant.
    pub z: Option<f64>,
    pub direction: &'static str,
}

/// Score each point of `series` (in time order) against the `trailing` points before it.
pub fn detect(series: &[(String, f64)], trailing: usize, threshold: f64) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in trailing..series.len() {
        let window: Vec<f64> = series[i - trailing..i].iter().map(|(_, v)| *v).collect();
        let n = window.len() as f64;
        let mean = window.iter().sum::<f64>() / n;
        let var = window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let sd = var.sqrt();
        let (bucket, value) = (&series[i].0, series[i].1);
        let direction = if value >= mean { "above" } else { "below" };
        let finding = |z| Finding {
            bucket_start: bucket.clone(),
            value: round2(value),
            mean: round2(mean),
            stddev: round2(sd),
            z,
            direction,
        };
        if sd == 0.0 {
            if value != mean {
                out.push(finding(None));
            }
        } else {
            let z = (value - mean) / sd;
            if z.abs() >= threshold {
                out.push(finding(Some(round2(z))));
            }
        }
    }
    out
}

pub fn get(db: &Db, req: &Request) -> Result<Value, Problem> {
    let mut p = Params::from_query(req);
    let hours = p.int("hours", 24, 1..=168) as i32;
    let bucket = p.int("bucket_minutes", 5, 1..=60) as i32;
    let trailing = p.int("trailing", 12, 3..=288) as usize;
    let threshold = p.number("z", 3.0, 1.0..=10.0);
    let min_requests = p.int("min_requests", 5, 1..=100_000);
    p.finish()?;
    let rows = db.as_service(|db| {
        db.query(
            "SELECT function_name,
                    date_bin(make_interval(mins => $2::int), created_at, timestamptz '2000-01-01 00:00:00+00') AS bucket,
                    count(*) AS requests, avg(duration_ms) AS avg_ms,
                    (100.0 * count(*) FILTER (WHERE status >= 500) / count(*))::float8 AS error_rate
             FROM public.performance_metrics WHERE created_at >= now() - make_interval(hours => $1::int) AND deployment_color <> 'forwarded'
             GROUP BY 1, 2 HAVING count(*) >= $3 ORDER BY 1, 2",
            &[Param::Int32(hours), Param::Int32(bucket), Param::Int64(min_requests)],
        )
    })?;
    let mut series: BTreeMap<String, Vec<(String, f64, f64)>> = BTreeMap::new();
    for r in rows.iter() {
        let point = (
            r.timestamp("bucket")?.unwrap_or_default(),
            r.float("avg_ms")?.unwrap_or(0.0),
            r.float("error_rate")?.unwrap_or(0.0),
        );
        series.entry(r.string("function_name")?).or_default().push(point);
    }
    let mut anomalies = Vec::new();
    let mut scored = Vec::new();
    for (function, points) in &series {
        scored.push(json!({ "function": function, "buckets": points.len() }));
        for (metric, pick) in [("avg_response_time_ms", 1), ("error_rate", 2)] {
            let s: Vec<(String, f64)> =
                points.iter().map(|p| (p.0.clone(), if pick == 1 { p.1 } else { p.2 })).collect();
            for f in detect(&s, trailing, threshold) {
                anomalies.push(json!({ "function": function, "metric": metric, "finding": f }));
            }
        }
    }
    Ok(json!({
        "method": format!(
            "z-score of each {bucket}-minute bucket's average latency and 5xx rate per function against the \
             {trailing} buckets before it (sample standard deviation); |z| >= {threshold} is an anomaly; \
             buckets with fewer than {min_requests} requests are left out"
        ),
        "window_hours": hours,
        "bucket_minutes": bucket,
        "trailing_buckets": trailing,
        "z_threshold": threshold,
        "series": scored,
        "anomalies_detected": anomalies.len(),
        "anomalies": anomalies,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<(String, f64)> {
        values.iter().enumerate().map(|(i, v)| (format!("b{i}"), *v)).collect()
    }

    #[test]
    fn a_spike_against_a_noisy_baseline_is_found() {
        // Baseline 10, 12, 10, 12 (mean 11, sd 1.1547); 20 is z = 7.79.
        let found = detect(&series(&[10.0, 12.0, 10.0, 12.0, 20.0, 11.0]), 4, 3.0);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].bucket_start.as_str(), found[0].z, found[0].direction), ("b4", Some(7.79), "above"));
        assert_eq!((found[0].mean, found[0].stddev), (11.0, 1.15));
    }

    #[test]
    fn ordinary_variation_is_not_an_anomaly() {
        assert!(detect(&series(&[10.0, 12.0, 10.0, 12.0, 12.0, 10.0]), 4, 3.0).is_empty());
        assert!(detect(&series(&[1.0, 2.0]), 4, 3.0).is_empty()); // too short to score
    }

    #[test]
    fn a_change_after_a_constant_window_is_reported_without_z() {
        let found = detect(&series(&[0.0, 0.0, 0.0, 0.0, 50.0]), 4, 3.0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].z, None);
        assert!(detect(&series(&[0.0, 0.0, 0.0, 0.0, 0.0]), 4, 3.0).is_empty());
    }
}
