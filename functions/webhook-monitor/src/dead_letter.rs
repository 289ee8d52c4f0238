//! The dead-letter queue: list, one entry with its payload, replay through webhook-handler's
//! own code path (`quotekit::webhooks::process`), and manual resolution.

use crate::reply;
use quotekit::webhooks::{self, Event, Kind, Source};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Param, Row};
use shared::params::{self, Params};
use shared::{FieldError, Problem, Response};

const COLUMNS: &str = "q.id, q.stripe_event_id, q.event_type, q.failure_count, q.last_error,
       q.requires_manual_review, q.first_failed_at, q.last_failed_at, q.resolved_at, q.resolution, q.resolved_by,
       q.resolution_note";

/// Status filter of the list: open (not resolved), resolved, or all.
const STATUSES: [&str; 3] = ["open", "resolved", "all"];

fn entry(r: &Row<'_>) -> Result<Value, DbError> {
    Ok(json!({
        "id": r.string("id")?,
        "stripe_event_id": r.string("stripe_event_id")?,
        "event_type": r.string("event_type")?,
        "failure_count": r.i64("failure_count")?,
        "last_error": r.string("last_error")?,
        "requires_manual_review": r.flag("requires_manual_review")?,
        "first_failed_at": r.timestamp("first_failed_at")?,
        "last_failed_at": r.timestamp("last_failed_at")?,
        "resolved_at": r.timestamp("resolved_at")?,
        "resolution": r.text("resolution")?,
        "resolved_by": r.text("resolved_by")?,
        "resolution_note": r.text("resolution_note")?,
    }))
}

/// `GET /dead-letter-queue[?status=open|resolved|all&limit=50&offset=0]`, newest failure first.
/// Never the raw bodies: those are in the single-entry view.
pub fn list(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let status = params.choice("status", &STATUSES).unwrap_or("open");
    let page = params.page(50);
    params.finish()?;
    db.as_service(|db| -> Result<Value, DbError> {
        let filter = "CASE $1::text WHEN 'open' THEN q.resolved_at IS NULL
                                    WHEN 'resolved' THEN q.resolved_at IS NOT NULL ELSE true END";
        let rows = db.query(
            &format!(
                "SELECT {COLUMNS} FROM public.webhook_dead_letter_queue q WHERE {filter}
                 ORDER BY q.last_failed_at DESC, q.id LIMIT $2 OFFSET $3"
            ),
            &[db::text(status), Param::Int64(page.limit), Param::Int64(page.offset)],
        )?;
        let counts = db.query(
            &format!(
                "SELECT count(*) FILTER (WHERE {filter}) AS total,
                        count(*) FILTER (WHERE q.resolved_at IS NULL) AS open,
                        count(*) FILTER (WHERE q.resolved_at IS NULL AND q.requires_manual_review) AS manual_review,
                        count(*) FILTER (WHERE q.resolved_at IS NOT NULL) AS resolved
                 FROM public.webhook_dead_letter_queue q"
            ),
            &[db::text(status)],
        )?;
        let c = counts.one()?;
        let entries = rows.iter().map(|r| entry(&r)).collect::<Result<Vec<_>, _>>()?;
        Ok(json!({
            "status": status,
            "total": c.i64("total")?,
            "limit": page.limit,
            "offset": page.offset,
            "counts": {
                "open": c.i64("open")?,
                "requires_manual_review": c.i64("manual_review")?,
                "resolved": c.i64("resolved")?,
            },
            "entries": entries,
        }))
    })
    .map_err(Problem::from)
}

/// `GET /dead-letter-queue/{id}`: the entry, its stored event and the event's current state.
pub fn get(db: &Db, id: &str) -> Result<Value, Problem> {
    let id = params::path_id(id)?;
    let found = db.as_service(|db| -> Result<Option<Value>, DbError> {
        let rows = db.query(
            &format!(
                "SELECT {COLUMNS}, q.payload, q.raw_body, e.processed, e.outcome, e.deliveries,
                        e.received_at, e.processed_at
                 FROM public.webhook_dead_letter_queue q
                 LEFT JOIN public.stripe_webhook_events e ON e.stripe_event_id = q.stripe_event_id
                 WHERE q.id = $1"
            ),
            &[db::uuid(&id)],
        )?;
        let Some(r) = rows.first() else { return Ok(None) };
        let mut v = entry(&r)?;
        v["payload"] = r.json("payload")?.unwrap_or(Value::Null);
        v["raw_body"] = r.text("raw_body")?.into();
        v["event"] = match r.bool("processed")? {
            None => Value::Null,
            Some(processed) => json!({
                "processed": processed,
                "outcome": r.text("outcome")?,
                "deliveries": r.int("deliveries")?,
                "received_at": r.timestamp("received_at")?,
                "processed_at": r.timestamp("processed_at")?,
            }),
        };
        Ok(Some(v))
    })?;
    found.ok_or_else(|| not_found(&id))
}

/// `POST /dead-letter-queue/{id}/replay`: the stored raw event through the same code path
/// as a delivery. 200 when it no longer fails (process resolves the entry), 409 with the new
/// error when it fails again (process counts the failure).
pub fn replay(ctx: &shared::Context, db: &Db, caller: &Caller, id: &str) -> Result<Response, Problem> {
    let id = params::path_id(id)?;
    let stored = db.as_service(|db| -> Result<Option<(String, bool)>, DbError> {
        let rows = db.query(
            "SELECT raw_body, resolved_at IS NOT NULL AS resolved FROM public.webhook_dead_letter_queue WHERE id = $1",
            &[db::uuid(&id)],
        )?;
        rows.first().map(|r| Ok((r.string("raw_body")?, r.flag("resolved")?))).transpose()
    })?;
    let raw_body = match stored {
        None => return Err(not_found(&id)),
        Some((_, true)) => return Err(already_resolved(&id)),
        Some((raw, false)) => raw,
    };
    let event = Event::parse(&raw_body)
        .map_err(|why| Problem::new(422, "invalid_stored_event", "The stored event cannot be replayed").detail(why))?;
    let outcome = webhooks::process(db, &raw_body, &event, Source::Replay, None)?;

    let entry = db.as_service(|db| -> Result<Value, DbError> {
        if outcome.kind != Kind::Failed {
            // process resolves the entry as `replayed` by `replay`; record which admin did it.
            // An event that was already processed (Duplicate) leaves the entry to us.
            db.execute(
                "UPDATE public.webhook_dead_letter_queue
                    SET resolved_at = coalesce(resolved_at, now()), resolution = 'replayed', resolved_by = $2
                  WHERE id = $1 AND (resolved_at IS NULL OR (resolution = 'replayed' AND resolved_by = 'replay'))",
                &[db::uuid(&id), db::text(resolver(caller))],
            )?;
        }
        let rows = db.query(
            &format!("SELECT {COLUMNS} FROM public.webhook_dead_letter_queue q WHERE q.id = $1"),
            &[db::uuid(&id)],
        )?;
        entry(&rows.one()?)
    })?;
    let result = json!({
        "event_id": outcome.event_id,
        "event_type": outcome.event_type,
        "kind": outcome.kind.as_str(),
        "detail": outcome.detail,
    });
    if outcome.kind == Kind::Failed {
        let problem =
            Problem::new(409, "replay_failed", "The replayed event failed again").detail(outcome.detail.clone());
        return Ok(reply::problem_with(&problem, json!({ "outcome": result, "entry": entry })));
    }
    Ok(reply::ok(ctx, json!({ "outcome": result, "entry": entry }), "Dead-letter entry replayed"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    note: Option<String>,
}

/// `POST /dead-letter-queue/{id}/resolve` with an optional `{"note": "..."}`: resolved by
/// hand (`manual`), by the calling admin.
pub fn resolve(ctx: &shared::Context, db: &Db, caller: &Caller, id: &str) -> Result<Value, Problem> {
    let id = params::path_id(id)?;
    let body: ResolveBody = ctx.request.json_opt()?.unwrap_or_default();
    if let Some(note) = &body.note {
        if note.trim().is_empty() || note.chars().count() > 1000 {
            return Err(Problem::validation(vec![FieldError::new(
                "note",
                "invalid_length",
                "note must be 1 to 1000 characters",
            )]));
        }
    }
    let resolved = db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT resolved_at IS NOT NULL AS resolved FROM public.webhook_dead_letter_queue WHERE id = $1 FOR UPDATE",
            &[db::uuid(&id)],
        )?;
        match rows.first().map(|r| r.flag("resolved")).transpose()? {
            None => return Err(not_found(&id)),
            Some(true) => return Err(already_resolved(&id)),
            Some(false) => {}
        }
        let rows = db.query(
            &format!(
                "UPDATE public.webhook_dead_letter_queue q
                    SET resolved_at = now(), resolution = 'manual', resolved_by = $2, resolution_note = $3
                  WHERE q.id = $1
                  RETURNING {COLUMNS}"
            ),
            &[db::uuid(&id), db::text(resolver(caller)), db::opt_text(body.note.clone())],
        )?;
        // Settled by a person: the event no longer counts as waiting (it stays `failed`).
        db.execute(
            "UPDATE public.stripe_webhook_events e SET processed = true, processed_at = now()
               FROM public.webhook_dead_letter_queue q
              WHERE q.id = $1 AND e.stripe_event_id = q.stripe_event_id AND NOT e.processed",
            &[db::uuid(&id)],
        )?;
        Ok(entry(&rows.one()?)?)
    })?;
    Ok(json!({ "entry": resolved, "note": body.note }))
}

/// Who resolved an entry: the admin's user id, or `service_role`.
fn resolver(caller: &Caller) -> String {
    if caller.is_service_role() {
        "service_role".to_string()
    } else {
        caller.user_id().to_string()
    }
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no dead-letter entry {id}"))
}

fn already_resolved(id: &str) -> Problem {
    Problem::new(409, "already_resolved", "The entry is already resolved")
        .detail(format!("dead-letter entry {id} was resolved before; nothing to do"))
}
