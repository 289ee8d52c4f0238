//! `POST /retention` (scheduled daily in spin.toml): performance_metrics rows of whole UTC days
//! older than `metrics_retention_days` (default 35) are rolled up into
//! `performance_metrics_daily` and deleted, at most `max_days` days per call (default 31), by
//! `public.performance_metrics_roll_up` (0014) in one transaction. `keep_days` overrides the
//! variable for one call (at least 1).

use crate::params::Params;
use serde_json::{json, Value};
use shared::db::{self, Db, DbError};
use shared::Problem;

pub fn run(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let configured = shared::settings::current().metrics_retention_days();
    let keep = params.int("keep_days", configured, shared::settings::RETENTION_DAYS);
    let max_days = params.int("max_days", 31, 1..=366);
    params.finish()?;
    let r = db.as_service(|db| -> Result<Value, DbError> {
        let rows = db.query(
            "SELECT days, rows_rolled_up, rows_deleted, first_day, last_day FROM public.performance_metrics_roll_up($1::int8::int, $2::int8::int)",
            &[db::int(keep), db::int(max_days)],
        )?;
        let r = rows.one()?;
        Ok(json!({
            "keep_days": keep,
            "days_rolled_up": r.i64("days")?,
            "rows_rolled_up": r.i64("rows_rolled_up")?,
            "rows_deleted": r.i64("rows_deleted")?,
            "first_day": r.text("first_day")?,
            "last_day": r.text("last_day")?,
        }))
    })?;
    Ok(r)
}
