//! Security incidents whose automatic response is `alert_admin` (security_incidents, 0006)
//! reach the administrators through one rule, `security_alert_admin` (0012): when enough of
//! them arrive within its window, one alert opens and its channels are told once, with a
//! summary of the incidents; those incidents are stamped `admin_notified_at` with it. One
//! refused token is an incident on the record, not a page.

use serde_json::{json, Value};
use shared::db::{self, Db, DbError};

/// The figure of the rule that carries these incidents.
pub const METRIC: &str = "security_alert_admin";

/// The incidents of the last `window_minutes` answered `alert_admin`, by type and level.
pub fn summary(db: &Db, window_minutes: i64) -> Result<Value, DbError> {
    let rows = db.query(
        "SELECT event_type, threat_level, count(*) AS rows, sum(occurrences)::int8 AS occurrences,
                count(DISTINCT client_key) AS clients, count(DISTINCT function_name) AS functions
         FROM public.security_incidents
         WHERE auto_response = 'alert_admin' AND client_key IS NOT NULL
           AND last_seen_at >= now() - make_interval(mins => $1::int)
         GROUP BY event_type, threat_level ORDER BY occurrences DESC, event_type",
        &[db::int(window_minutes)],
    )?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "event_type": r.string("event_type")?,
                "threat_level": r.string("threat_level")?,
                "occurrences": r.i64("occurrences")?,
                "clients": r.i64("clients")?,
                "functions": r.i64("functions")?,
            }))
        })
        .collect::<Result<Vec<_>, DbError>>()
        .map(Value::from)
}

/// Stamp the incidents an opening alert told the administrators about.
pub fn told(db: &Db, window_minutes: i64) -> Result<(), DbError> {
    db.execute(
        "UPDATE public.security_incidents SET admin_notified_at = now()
         WHERE auto_response = 'alert_admin' AND admin_notified_at IS NULL AND client_key IS NOT NULL
           AND last_seen_at >= now() - make_interval(mins => $1::int)",
        &[db::int(window_minutes)],
    )?;
    Ok(())
}

/// Incidents answered `alert_admin` that no alert has told anyone about yet.
pub fn awaiting(db: &Db) -> Result<Value, DbError> {
    let r = db.query(
        "SELECT count(*) AS incidents, coalesce(sum(occurrences), 0)::int8 AS occurrences
         FROM public.security_incidents
         WHERE auto_response = 'alert_admin' AND admin_notified_at IS NULL AND client_key IS NOT NULL",
        &[],
    )?;
    let r = r.one()?;
    Ok(json!({
        "awaiting_alert": r.i64("incidents")?,
        "occurrences": r.i64("occurrences")?,
        "rule": "security_alert_admin",
    }))
}
