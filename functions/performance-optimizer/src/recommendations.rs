//! `GET /recommendations?timeRange=24h&minSamples=20`: findings derived only from data — the
//! window's request figures, its comparison with the window before, and the latest benchmark
//! run. Nothing is recommended when the data is fine (an empty list), and nothing is judged
//! on fewer than `minSamples` requests. Rules:
//!
//! - `latency`: p95 above the warm target (100 ms); high when above the cold target (300 ms);
//! - `errors`: 5xx rate above the guide's 0.1 %; high above 1 %;
//! - `regression`: what `analyze` reports as a regression (high);
//! - `benchmark`: in the latest run of the window, a probe that did not always answer 2xx (high), a first
//!   call over 300 ms or a repeated p95 over 100 ms (medium).

use crate::analyze::{comparisons, DEFAULT_MIN_SAMPLES};
use crate::benchmark::{COLD_TARGET_MS, WARM_TARGET_MS};
use crate::figures::Window;
use crate::params::Params;
use crate::stats::round;
use serde_json::{json, Value};
use shared::db::{Db, DbError, Param};
use shared::Problem;

/// The guide's target: error rates below 0.1 %.
pub const ERROR_RATE_TARGET: f64 = 0.1;
pub const ERROR_RATE_HIGH: f64 = 1.0;

const LATEST_RUN_SQL: &str = "
SELECT run_id::text AS run_id, function_name, probe, route, first_ms, p95_ms, success_rate::float8 AS success_rate,
       created_at
FROM public.performance_benchmarks
WHERE run_id = (SELECT run_id FROM public.performance_benchmarks
                WHERE created_at >= now() - make_interval(hours => $1::int)
                ORDER BY created_at DESC, id DESC LIMIT 1)
ORDER BY function_name, probe";

fn item(function: &str, category: &str, priority: &str, title: String, evidence: Value) -> Value {
    json!({ "function": function, "category": category, "priority": priority, "title": title, "evidence": evidence })
}

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let (range, hours) = crate::params::time_range(&mut params);
    let min_samples = params.int("minSamples", DEFAULT_MIN_SAMPLES, 1..=1_000_000);
    params.finish()?;
    let (window, compared, bench) = db.as_service(|db| -> Result<_, DbError> {
        let bench = db.query(LATEST_RUN_SQL, &[Param::Int32(hours)])?;
        Ok((Window::load(db, hours, 0)?, comparisons(db, hours, min_samples)?, bench))
    })?;

    let mut out = Vec::new();
    let mut judged = Vec::new();
    for f in &window.functions {
        let name = f.function.as_deref().unwrap_or("");
        if f.requests < min_samples {
            continue;
        }
        judged.push(name);
        if let Some(p95) = f.p95_ms.filter(|p| *p > WARM_TARGET_MS) {
            let priority = if p95 > COLD_TARGET_MS { "high" } else { "medium" };
            out.push(item(
                name,
                "latency",
                priority,
                format!("p95 latency {p95} ms is above the {WARM_TARGET_MS} ms target: look at this function's slowest routes and queries"),
                json!({ "p95_ms": p95, "requests": f.requests, "target_ms": WARM_TARGET_MS }),
            ));
        }
        if let Some(rate) = f.error_rate().filter(|r| *r > ERROR_RATE_TARGET) {
            let priority = if rate > ERROR_RATE_HIGH { "high" } else { "medium" };
            out.push(item(
                name,
                "errors",
                priority,
                format!("{:.2} % of requests failed with 5xx (target below {ERROR_RATE_TARGET} %): read the function's logs for these requests", rate),
                json!({ "server_errors": f.server_errors, "requests": f.requests, "error_rate": round(rate, 2),
                        "target_percent": ERROR_RATE_TARGET }),
            ));
        }
    }
    for (c, prev, cur) in &compared {
        for r in &c.regressions {
            out.push(item(
                &c.function,
                "regression",
                "high",
                format!("regression against the previous {hours} h: {r}"),
                json!({ "previous": prev.to_json(), "current": cur.to_json() }),
            ));
        }
    }
    let mut run_id = None;
    for r in bench.iter() {
        run_id = r.text("run_id")?;
        let (name, probe, route) = (r.string("function_name")?, r.string("probe")?, r.string("route")?);
        let success = r.float("success_rate")?.unwrap_or(0.0);
        let first = r.float("first_ms")?.unwrap_or(0.0);
        let p95 = r.float("p95_ms")?.unwrap_or(0.0);
        let evidence = json!({ "run_id": run_id, "probe": probe, "route": route, "success_rate": success,
                               "first_ms": round(first, 2), "p95_ms": round(p95, 2), "measured_at": r.timestamp("created_at")? });
        if success < 100.0 {
            out.push(item(
                &name,
                "benchmark",
                "high",
                format!("{route} answered 2xx on only {success} % of benchmark calls"),
                evidence.clone(),
            ));
        }
        if first >= COLD_TARGET_MS {
            out.push(item(
                &name,
                "benchmark",
                "medium",
                format!("the first call of {route} took {:.1} ms (target below {COLD_TARGET_MS} ms)", first),
                evidence.clone(),
            ));
        }
        if p95 >= WARM_TARGET_MS {
            out.push(item(
                &name,
                "benchmark",
                "medium",
                format!("repeated calls of {route} had p95 {:.1} ms (target below {WARM_TARGET_MS} ms)", p95),
                evidence,
            ));
        }
    }
    let rank = |v: &Value| if v["priority"] == "high" { 0 } else { 1 };
    out.sort_by_key(rank);
    Ok(json!({
        "timeRange": range,
        "window_hours": hours,
        "min_samples": min_samples,
        "checked": {
            "functions_with_enough_requests": judged,
            "latest_benchmark_run": run_id,
        },
        "recommendations": out,
    }))
}
