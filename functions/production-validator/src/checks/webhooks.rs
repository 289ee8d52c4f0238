//! reliability / `dead_letter_queue` and `stale_webhooks`: the webhook backlog now. Open
//! dead-letter entries: none pass, 1–10 warning, more fail (webhook-monitor's alert levels);
//! any event unprocessed for over an hour fails.

use crate::check::{start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;

pub const DLQ_WARN_MAX: i64 = 10;

pub fn dead_letter_queue(db: &Db) -> Check {
    let p = start(Category::Reliability, "dead_letter_queue", Severity::High);
    let rows = db.query(
        "SELECT count(*) FILTER (WHERE resolved_at IS NULL) AS open,
                count(*) FILTER (WHERE resolved_at IS NULL AND requires_manual_review) AS manual_review,
                extract(epoch FROM now() - min(created_at) FILTER (WHERE resolved_at IS NULL))::float8 AS oldest_open_s,
                (SELECT count(*) FROM public.stripe_webhook_events
                  WHERE received_at >= now() - interval '24 hours') AS events_24h
         FROM public.webhook_dead_letter_queue",
        &[],
    );
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return p.unavailable("the dead-letter queue", super::error_kind(&e)),
    };
    let Some(r) = rows.first() else { return p.unavailable("the dead-letter queue", "no row") };
    let (Ok(open), Ok(manual), Ok(oldest), Ok(events)) =
        (r.i64("open"), r.i64("manual_review"), r.float("oldest_open_s"), r.i64("events_24h"))
    else {
        return p.unavailable("the dead-letter queue", "unexpected row shape");
    };
    let status = match open {
        0 => Status::Pass,
        n if n <= DLQ_WARN_MAX => Status::Warning,
        _ => Status::Fail,
    };
    p.done(
        status,
        format!("{open} open dead-letter entries ({manual} need manual review); {events} events received in 24 h"),
        json!({
            "open": open,
            "requires_manual_review": manual,
            "oldest_open_age_s": oldest.map(f64::round),
            "events_received_24h": events,
            "warning_above": 0,
            "fail_above": DLQ_WARN_MAX,
        }),
        "replay or resolve the open entries (webhook-monitor /dead-letter-queue) and fix what made them fail",
    )
}

pub fn stale_webhooks(db: &Db) -> Check {
    let p = start(Category::Reliability, "stale_webhooks", Severity::High);
    let rows = db.query(
        "SELECT count(*) AS stale,
                extract(epoch FROM now() - min(received_at))::float8 AS oldest_s,
                (SELECT count(*) FROM public.stripe_webhook_events WHERE NOT processed) AS unprocessed
         FROM public.stripe_webhook_events
         WHERE NOT processed AND received_at < now() - interval '1 hour'",
        &[],
    );
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return p.unavailable("the webhook events", super::error_kind(&e)),
    };
    let Some(r) = rows.first() else { return p.unavailable("the webhook events", "no row") };
    let (Ok(stale), Ok(oldest), Ok(unprocessed)) = (r.i64("stale"), r.float("oldest_s"), r.i64("unprocessed")) else {
        return p.unavailable("the webhook events", "unexpected row shape");
    };
    let status = if stale == 0 { Status::Pass } else { Status::Fail };
    p.done(
        status,
        format!("{stale} webhook events unprocessed for over an hour ({unprocessed} unprocessed in all)"),
        json!({ "stale": stale, "oldest_stale_age_s": oldest.map(f64::round), "unprocessed": unprocessed, "stale_after_s": 3600 }),
        "find why these events were never finished (webhook-monitor /overview, /audit-trail) and replay them",
    )
}
