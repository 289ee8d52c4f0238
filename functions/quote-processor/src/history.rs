//! A quote's history (`GET /{id}/history`), and the scheduled expiry (`POST /expire`) that
//! writes part of it.
//!
//! Every insert, change and delete of a quote is recorded by the `quotes_record_history`
//! trigger (migration 0015), whoever makes it: this API, a share link, a batch job, the
//! schedule. So no path can forget to record, and the path itself is named by the
//! transaction's `quotekit.change_path` setting ([`set_path`]).

use crate::store;
use serde_json::json;
use shared::db::{self, Db};
use shared::{Context, Problem, Response};

/// The most entries one answer lists (the oldest first).
const MAX_ENTRIES: i64 = 500;

/// Where the changes of the current transaction come from, for the history (`api` unless set).
pub fn set_path(db: &Db, path: &str) -> Result<(), Problem> {
    db.execute("SELECT set_config('quotekit.change_path', $1, true)", &[db::text(path)])?;
    Ok(())
}

/// The history of the caller's quote `id`, deleted quotes included; 404 for a quote that has
/// none the caller may see (someone else's, or none at all).
pub fn history(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let entries = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<Vec<serde_json::Value>, Problem> {
        let rows = db.query(
            "SELECT h.id, h.action, h.status_from, h.status_to, h.changes, h.changed_by, h.path, h.changed_at
               FROM public.quote_history h
              WHERE h.quote_id = $1
              ORDER BY h.id
              LIMIT $2",
            &[db::uuid(&id), db::int(MAX_ENTRIES)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(json!({
                    "id": r.i64("id")?,
                    "action": r.string("action")?,
                    "status_from": r.text("status_from")?,
                    "status_to": r.text("status_to")?,
                    "changes": r.json("changes")?.unwrap_or_else(|| json!({})),
                    "changed_by": r.text("changed_by")?,
                    "path": r.string("path")?,
                    "changed_at": r.timestamp("changed_at")?,
                }))
            })
            .collect()
    })?;
    if entries.is_empty() {
        return Err(store::not_found(&id));
    }
    Ok(Response::ok(&json!({ "quote_id": id, "entries": entries })))
}

/// The schedule's call (service role): sent quotes past `valid_until` become `expired`, and
/// idempotency keys past their 24 hours are purged (`expire_quotes()`, migration 0015).
pub fn expire(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.caller()?;
    if !caller.is_service_role() {
        return Err(Problem::forbidden(
            "service_role_required",
            "the expiry is run by the schedule with the service role",
        ));
    }
    let (expired, purged) = ctx.db()?.as_service(|db| -> Result<(i64, i64), Problem> {
        let rows = db.query("SELECT expired, keys_purged FROM public.expire_quotes()", &[])?;
        let row = rows.one()?;
        Ok((row.i64("expired")?, row.i64("keys_purged")?))
    })?;
    Ok(Response::ok(&json!({ "expired": expired, "idempotency_keys_purged": purged })))
}
