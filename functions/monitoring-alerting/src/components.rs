//! Component health, from real rows: functions (request metrics of the last 15 minutes),
//! database (one timed query), security (open incidents of the last hour, once
//! security_incidents exists), webhooks (last hour of Stripe events, the dead-letter queue and
//! the stale backlog) and migrations (migration_runs, once it exists). Each is ok, degraded
//! or down; the thresholds are the constants below.

use serde::Serialize;
use serde_json::{json, Value};
use shared::db::{Db, DbError};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Down,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub name: &'static str,
    pub status: Status,
    /// The figures behind the status (admin views only; health shows the status alone).
    pub details: Value,
}

/// Function window, and the thresholds on it (the guide's 1 % error-rate alert).
pub const FUNCTION_WINDOW_MINUTES: i32 = 15;
const FUNCTION_MIN_SAMPLES: i64 = 5;
const FUNCTION_DEGRADED_ERROR_RATE: f64 = 1.0;
const FUNCTION_DOWN_ERROR_RATE: f64 = 25.0;
const FUNCTION_DEGRADED_P95_MS: f64 = 1000.0;
const DATABASE_DEGRADED_MS: f64 = 100.0;
const DATABASE_DOWN_MS: f64 = 500.0;

fn function_status(requests: i64, error_rate: f64, p95: f64) -> Status {
    if requests < FUNCTION_MIN_SAMPLES {
        Status::Ok
    } else if error_rate > FUNCTION_DOWN_ERROR_RATE {
        Status::Down
    } else if error_rate > FUNCTION_DEGRADED_ERROR_RATE || p95 > FUNCTION_DEGRADED_P95_MS {
        Status::Degraded
    } else {
        Status::Ok
    }
}

fn functions(db: &Db) -> Result<Component, DbError> {
    let rows = db.query(
        "SELECT function_name, count(*) AS requests, count(*) FILTER (WHERE status >= 500) AS errors,
                percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95
         FROM public.performance_metrics
         WHERE created_at >= now() - make_interval(mins => $1::int) AND deployment_color <> 'forwarded'
         GROUP BY function_name ORDER BY function_name",
        &[shared::db::Param::Int32(FUNCTION_WINDOW_MINUTES)],
    )?;
    let mut worst = Status::Ok;
    let mut list = Vec::new();
    for r in rows.iter() {
        let requests = r.i64("requests")?;
        let errors = r.i64("errors")?;
        let p95 = r.float("p95")?.unwrap_or(0.0);
        let rate = if requests > 0 { 100.0 * errors as f64 / requests as f64 } else { 0.0 };
        let status = function_status(requests, rate, p95);
        worst = worst.max(status);
        list.push(json!({
            "function": r.string("function_name")?,
            "status": status,
            "requests": requests,
            "errors": errors,
            "error_rate": crate::display::round2(rate),
            "p95_ms": crate::display::round2(p95),
        }));
    }
    Ok(Component {
        name: "functions",
        status: worst,
        details: json!({ "window_minutes": FUNCTION_WINDOW_MINUTES, "functions": list }),
    })
}

fn database(db: &Db) -> Component {
    let started = Instant::now();
    let result = db.query("SELECT 1 AS one", &[]);
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = match result {
        Err(_) => Status::Down,
        Ok(_) if ms >= DATABASE_DOWN_MS => Status::Down,
        Ok(_) if ms >= DATABASE_DEGRADED_MS => Status::Degraded,
        Ok(_) => Status::Ok,
    };
    Component { name: "database", status, details: json!({ "query_ms": crate::display::round2(ms) }) }
}

fn table_exists(db: &Db, name: &str) -> Result<bool, DbError> {
    db.query("SELECT to_regclass($1) IS NOT NULL AS present", &[shared::db::text(name)])?.one()?.flag("present")
}

fn security(db: &Db) -> Result<Option<Component>, DbError> {
    if !table_exists(db, "public.security_incidents")? {
        return Ok(None);
    }
    let r = db.query(
        "SELECT count(*) FILTER (WHERE threat_level = 'critical') AS critical,
                count(*) FILTER (WHERE threat_level = 'high') AS high,
                count(*) AS total
         FROM public.security_incidents
         WHERE status = 'open' AND created_at >= now() - interval '1 hour'",
        &[],
    )?;
    let r = r.one()?;
    let (critical, high) = (r.i64("critical")?, r.i64("high")?);
    let status = if critical > 0 || high >= 10 {
        Status::Down
    } else if high >= 3 {
        Status::Degraded
    } else {
        Status::Ok
    };
    Ok(Some(Component {
        name: "security",
        status,
        details: json!({ "open_incidents_last_hour": r.i64("total")?, "critical": critical, "high": high }),
    }))
}

fn webhooks(db: &Db) -> Result<Component, DbError> {
    let r = db.query(
        "SELECT count(*) AS events,
                count(*) FILTER (WHERE e.outcome = 'failed' OR NOT e.processed) AS failed,
                (SELECT count(*) FROM public.webhook_dead_letter_queue q WHERE q.resolved_at IS NULL) AS dlq_open,
                (SELECT count(*) FROM public.stripe_webhook_events s
                  WHERE NOT s.processed AND s.received_at < now() - interval '1 hour') AS stale
         FROM public.stripe_webhook_events e
         WHERE e.received_at >= now() - interval '1 hour'",
        &[],
    )?;
    let r = r.one()?;
    let (events, failed, dlq, stale) = (r.i64("events")?, r.i64("failed")?, r.i64("dlq_open")?, r.i64("stale")?);
    let success = (events > 0).then(|| 100.0 * (events - failed) as f64 / events as f64);
    let status = if success.is_some_and(|s| s < 90.0) || dlq > 50 {
        Status::Down
    } else if success.is_some_and(|s| s < 95.0) || dlq > 10 || stale > 0 {
        Status::Degraded
    } else {
        Status::Ok
    };
    Ok(Component {
        name: "webhooks",
        status,
        details: json!({
            "events_last_hour": events,
            "success_rate": success.map(crate::display::round2),
            "dead_letter_open": dlq,
            "stale_unprocessed": stale,
        }),
    })
}

fn migrations(db: &Db) -> Result<Option<Component>, DbError> {
    if !table_exists(db, "public.migration_runs")? {
        return Ok(None);
    }
    let r = db.query(
        "SELECT count(*) FILTER (WHERE status = 'active') AS active,
                count(*) FILTER (WHERE status = 'rolled_back' AND finished_at >= now() - interval '24 hours') AS rolled_back_24h,
                (SELECT traffic_percent FROM public.migration_runs WHERE status = 'active' LIMIT 1) AS green_percent
         FROM public.migration_runs",
        &[],
    )?;
    let r = r.one()?;
    let rolled_back = r.i64("rolled_back_24h")?;
    Ok(Some(Component {
        name: "migrations",
        status: if rolled_back > 0 { Status::Degraded } else { Status::Ok },
        details: json!({
            "active": r.i64("active")?,
            "green_traffic_percent": r.int("green_percent")?,
            "rolled_back_last_24h": rolled_back,
        }),
    }))
}

/// Every component; the database first (if it is down, nothing else can be measured).
pub fn all(db: &Db) -> Vec<Component> {
    let database = database(db);
    if database.status == Status::Down {
        return vec![database];
    }
    let mut out = vec![database];
    let measured = db.as_service(|db| -> Result<Vec<Component>, DbError> {
        let mut v = vec![functions(db)?, webhooks(db)?];
        v.extend(security(db)?);
        v.extend(migrations(db)?);
        Ok(v)
    });
    match measured {
        Ok(v) => out.extend(v),
        Err(e) => {
            eprintln!("component health: {e}");
            out[0].status = Status::Degraded;
        }
    }
    out
}

pub fn overall(components: &[Component]) -> Status {
    components.iter().map(|c| c.status).max().unwrap_or(Status::Down)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_thresholds() {
        assert_eq!(function_status(4, 100.0, 5000.0), Status::Ok); // too few requests to judge
        assert_eq!(function_status(100, 1.0, 1000.0), Status::Ok);
        assert_eq!(function_status(100, 1.1, 10.0), Status::Degraded);
        assert_eq!(function_status(100, 0.0, 1000.1), Status::Degraded);
        assert_eq!(function_status(100, 25.1, 10.0), Status::Down);
    }

    #[test]
    fn the_worst_component_decides() {
        let c = |status| Component { name: "x", status, details: Value::Null };
        assert_eq!(overall(&[c(Status::Ok), c(Status::Degraded)]), Status::Degraded);
        assert_eq!(overall(&[c(Status::Down), c(Status::Degraded)]), Status::Down);
        assert_eq!(overall(&[c(Status::Ok)]), Status::Ok);
    }
}
