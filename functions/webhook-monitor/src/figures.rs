//! The figures of a window, read in one statement: what overview reports and what the alert
//! rules are evaluated on, so the two can never disagree.
//!
//! An event is *failed* when its outcome is `failed` or it is not processed (yet); every other
//! event *succeeded*. The dead-letter queue and the stale backlog are current states, not
//! windowed: an event stuck for three days is still stuck.

use shared::db::{Db, DbError, Param};

/// Target processing time of one webhook (SPEC: p50/p95 against the 200 ms target).
pub const TARGET_MS: f64 = 200.0;

const SUMMARY_SQL: &str = "
SELECT count(*) AS total,
       count(*) FILTER (WHERE e.processed) AS processed,
       count(*) FILTER (WHERE e.outcome = 'failed' OR NOT e.processed) AS failed,
       count(*) FILTER (WHERE e.outcome = 'applied') AS applied,
       count(*) FILTER (WHERE e.outcome = 'stale') AS stale,
       count(*) FILTER (WHERE e.outcome = 'ignored') AS ignored,
       count(*) FILTER (WHERE e.outcome = 'failed') AS outcome_failed,
       count(*) FILTER (WHERE e.outcome IS NULL) AS pending,
       coalesce(sum(e.deliveries - 1), 0)::int8 AS duplicate_deliveries,
       count(e.processing_ms) AS timed,
       avg(e.processing_ms) AS avg_ms,
       (SELECT count(*) FROM public.webhook_dead_letter_queue q WHERE q.resolved_at IS NULL) AS dlq_open,
       (SELECT count(*) FROM public.webhook_dead_letter_queue q
         WHERE q.resolved_at IS NULL AND q.requires_manual_review) AS dlq_manual_review,
       (SELECT count(*) FROM public.stripe_webhook_events s
         WHERE NOT s.processed AND s.received_at < now() - interval '1 hour') AS stale_unprocessed,
       now() AS generated_at
FROM public.stripe_webhook_events e
WHERE e.received_at >= now() - make_interval(hours => $1::int)";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub hours: i32,
    pub total: i64,
    pub processed: i64,
    pub failed: i64,
    pub applied: i64,
    pub stale: i64,
    pub ignored: i64,
    pub outcome_failed: i64,
    pub pending: i64,
    pub duplicate_deliveries: i64,
    /// Events of the window with a recorded processing time.
    pub timed: i64,
    pub avg_ms: Option<f64>,
    /// Open dead-letter entries (not resolved).
    pub dlq_open: i64,
    pub dlq_manual_review: i64,
    /// Events not processed and received more than an hour ago.
    pub stale_unprocessed: i64,
    pub generated_at: String,
}

impl Summary {
    pub fn load(db: &Db, hours: i32) -> Result<Summary, DbError> {
        let rows = db.query(SUMMARY_SQL, &[Param::Int32(hours)])?;
        let r = rows.one()?;
        Ok(Summary {
            hours,
            total: r.i64("total")?,
            processed: r.i64("processed")?,
            failed: r.i64("failed")?,
            applied: r.i64("applied")?,
            stale: r.i64("stale")?,
            ignored: r.i64("ignored")?,
            outcome_failed: r.i64("outcome_failed")?,
            pending: r.i64("pending")?,
            duplicate_deliveries: r.i64("duplicate_deliveries")?,
            timed: r.i64("timed")?,
            avg_ms: r.float("avg_ms")?,
            dlq_open: r.i64("dlq_open")?,
            dlq_manual_review: r.i64("dlq_manual_review")?,
            stale_unprocessed: r.i64("stale_unprocessed")?,
            generated_at: r.timestamp("generated_at")?.unwrap_or_default(),
        })
    }

    pub fn succeeded(&self) -> i64 {
        self.total - self.failed
    }

    /// Succeeded / total in percent; `None` without events (never a made-up 100).
    pub fn success_rate(&self) -> Option<f64> {
        rate(self.succeeded(), self.total)
    }
}

/// `part / whole` in percent, exact for whole-number results (so 19 of 20 is exactly 95).
pub fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

/// Rounded to two decimals for display; comparisons use the unrounded value.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_rate_is_none_without_events_and_exact_at_whole_numbers() {
        let s = Summary::default();
        assert_eq!(s.success_rate(), None);
        let s = Summary { total: 20, failed: 1, ..Summary::default() };
        assert_eq!(s.success_rate(), Some(95.0));
        let s = Summary { total: 3, failed: 1, ..Summary::default() };
        assert_eq!(s.success_rate().map(round2), Some(66.67));
    }
}
