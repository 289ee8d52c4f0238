//! `GET /performance[?hours=24&event_type=]`: one row per UTC hour that received events,
//! oldest first: events, failed, success rate, average and p95 (nearest-rank) processing time.

use crate::figures::{rate, round2, TARGET_MS};
use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::params::Params;
use shared::Problem;

const HOURLY_SQL: &str = "
SELECT date_trunc('hour', e.received_at, 'UTC') AS hour,
       count(*) AS events,
       count(*) FILTER (WHERE e.outcome = 'failed' OR NOT e.processed) AS failed,
       avg(e.processing_ms) AS avg_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY e.processing_ms) AS p95_ms
FROM public.stripe_webhook_events e
WHERE e.received_at >= now() - make_interval(hours => $1::int)
  AND ($2::text IS NULL OR e.event_type = $2)
GROUP BY 1
ORDER BY 1";

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let hours = params.hours();
    let event_type = params.text("event_type", 255);
    params.finish()?;
    let rows = db.as_service(|db| -> Result<Vec<Value>, DbError> {
        let rows = db.query(HOURLY_SQL, &[Param::Int32(hours), db::opt_text(event_type.clone())])?;
        rows.iter()
            .map(|r| {
                let (events, failed) = (r.i64("events")?, r.i64("failed")?);
                Ok(json!({
                    "hour": r.timestamp("hour")?,
                    "events": events,
                    "failed": failed,
                    "success_rate": rate(events - failed, events).map(round2),
                    "avg_ms": r.float("avg_ms")?.map(round2),
                    "p95_ms": r.float("p95_ms")?,
                }))
            })
            .collect()
    })?;
    Ok(json!({
        "window_hours": hours,
        "event_type": event_type,
        "target_ms": TARGET_MS,
        "hourly": rows,
    }))
}
