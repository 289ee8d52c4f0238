//! `POST /retention` (scheduled daily in spin.toml): performance_metrics rows of whole UTC days
//! older than `metrics_retention_days` (default 35) are rolled up into
//! `performance_metrics_daily` and deleted, at most `max_days` days per call (default 31), by
//! `public.performance_metrics_roll_up` (0014) in one transaction. `keep_days` overrides the
//! variable for one call (at least 1).

use crate::params::Params;
use serde_json::{json, Value};
use shared::db::{self, Db, DbError};
use shared::{config, Problem};

const DEFAULT_KEEP_DAYS: i64 = 35;

pub fn run(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let configured = config::var("metrics_retention_days")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|d| (1..=3660).contains(d))
        .unwrap_or(DEFAULT_KEEP_DAYS);
    let keep = params.int("keep_days", configured, 1..=3660);
    let max_days = params.int("max_days", 31, 1..=366);
    params.finish()?;
    let r = db.as_service(|db| -> Result<Value, DbError> {
        let rows = db.query(
            "SELECT days, rows_rolled_up, rows_deleted, first_day, last_day FROM public.performance_metrics_roll_up($1::int, $2::int)",
            &[db::int(keep), db::int(max_days)],
        )?;
        let r = rows.one()?;
        Ok(json!({
            "keep_days": keep,
            "days_rolled_up": r.i64("days")?,
            "rows_rolled_up": r.i64("rows_rolled_up")?,
            "rows_deleted": r.i64("rows_deleted")?,
            "first_day": r.timestamp("first_day")?,
            "last_day": r.timestamp("last_day")?,
        }))
    })?;
    Ok(r)
}
