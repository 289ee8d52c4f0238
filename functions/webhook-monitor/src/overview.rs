//! `GET /overview[?hours=24]`: totals, outcomes, success rate, per-type processing times
//! (p50 / p95 by the nearest-rank method, against the 200 ms target), the dead-letter queue
//! and the stale backlog.

use crate::figures::{rate, round2, Summary, TARGET_MS};
use serde_json::{json, Value};
use shared::db::{Db, DbError, Param};
use shared::params::Params;
use shared::Problem;

/// Per event type. `percentile_disc` is the nearest-rank percentile: the smallest value
/// with at least p of the values at or below it (for 10, 20, ..., 100: p50 = 50, p95 = 100).
const BY_TYPE_SQL: &str = "
SELECT e.event_type,
       count(*) AS events,
       count(*) FILTER (WHERE e.outcome = 'failed' OR NOT e.processed) AS failed,
       count(e.processing_ms) AS timed,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY e.processing_ms) AS p50_ms,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY e.processing_ms) AS p95_ms,
       avg(e.processing_ms) AS avg_ms,
       max(e.processing_ms) AS max_ms
FROM public.stripe_webhook_events e
WHERE e.received_at >= now() - make_interval(hours => $1::int)
GROUP BY e.event_type
ORDER BY count(*) DESC, e.event_type";

pub fn get(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let hours = params.hours();
    params.finish()?;
    let (summary, by_type) =
        db.as_service(|db| -> Result<_, DbError> { Ok((Summary::load(db, hours)?, by_type(db, hours)?)) })?;
    Ok(json!({
        "window_hours": hours,
        "generated_at": summary.generated_at,
        "summary": {
            "total_events": summary.total,
            "processed_events": summary.processed,
            "failed_events": summary.failed,
            "succeeded_events": summary.succeeded(),
            "success_rate": summary.success_rate().map(round2),
            "duplicate_deliveries": summary.duplicate_deliveries,
            "avg_processing_ms": summary.avg_ms.map(round2),
            "by_outcome": {
                "applied": summary.applied,
                "stale": summary.stale,
                "ignored": summary.ignored,
                "failed": summary.outcome_failed,
                "none": summary.pending,
            },
        },
        "event_types": by_type,
        "target_ms": TARGET_MS,
        "dead_letter_queue": {
            "open": summary.dlq_open,
            "requires_manual_review": summary.dlq_manual_review,
        },
        "stale_unprocessed_events": summary.stale_unprocessed,
    }))
}

fn by_type(db: &Db, hours: i32) -> Result<Vec<Value>, DbError> {
    let rows = db.query(BY_TYPE_SQL, &[Param::Int32(hours)])?;
    rows.iter()
        .map(|r| {
            let (events, failed) = (r.i64("events")?, r.i64("failed")?);
            let p95 = r.float("p95_ms")?;
            Ok(json!({
                "event_type": r.string("event_type")?,
                "events": events,
                "failed": failed,
                "success_rate": rate(events - failed, events).map(round2),
                "timed_events": r.i64("timed")?,
                "p50_ms": r.float("p50_ms")?,
                "p95_ms": p95,
                "avg_ms": r.float("avg_ms")?.map(round2),
                "max_ms": r.float("max_ms")?,
                // No timed event: nothing to judge, neither met nor missed.
                "p95_within_target": p95.map(|p| p <= TARGET_MS),
            }))
        })
        .collect()
}
