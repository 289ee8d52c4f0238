//! infrastructure / `database`: the database answers, and how fast (median of five round
//! trips of `SELECT 1`): ≤ 20 ms pass, ≤ 100 ms warning, slower fail.

use crate::check::{by_upper_bound, fixed, median, start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;
use std::time::Instant;

pub const ROUND_TRIPS: usize = 5;
pub const PASS_MS: f64 = 20.0;
pub const WARN_MS: f64 = 100.0;

pub fn connectivity(db: &Db) -> Check {
    let p = start(Category::Infrastructure, "database", Severity::Critical);
    let mut samples = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        if let Err(e) = db.query("SELECT 1 AS one", &[]) {
            return p.done(
                Status::Fail,
                "the database did not answer",
                json!({ "error": super::error_kind(&e), "answered_round_trips": samples.len() }),
                "check db_url and that PostgreSQL is up and reachable from the functions",
            );
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let version = db
        .query("SELECT current_setting('server_version') AS v", &[])
        .ok()
        .and_then(|r| r.first().and_then(|row| row.text("v").ok().flatten()));
    let median = median(&samples).unwrap_or(0.0);
    let status = by_upper_bound(median, PASS_MS, WARN_MS);
    p.done(
        status,
        format!("the database answers; median round trip {} ms (target ≤ {} ms)", fixed(median, 2), fixed(PASS_MS, 0)),
        json!({
            "round_trips_ms": samples.iter().map(|v| (v * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "median_ms": (median * 100.0).round() / 100.0,
            "target_ms": PASS_MS,
            "server_version": version,
        }),
        "the database is slow to answer: check its load, its region (it should be in the home region) and the pool",
    )
}
