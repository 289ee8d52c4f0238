//! `GET /audit-trail[?event_id=&signature_valid=&limit=100&offset=0]`: delivery attempts,
//! newest first, with counts over everything the filter matches.

use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::params::Params;
use shared::Problem;

const FILTER: &str = "($1::text IS NULL OR a.stripe_event_id = $1) AND ($2::bool IS NULL OR a.signature_valid = $2)";

pub fn list(db: &Db, mut params: Params) -> Result<Value, Problem> {
    let event_id = params.text("event_id", 255);
    let signature_valid = params.boolean("signature_valid");
    let page = params.page(100);
    params.finish()?;
    let filter_params = [db::opt_text(event_id.clone()), signature_valid.map(Param::Boolean).unwrap_or(Param::DbNull)];
    db.as_service(|db| -> Result<Value, DbError> {
        let rows = db.query(
            &format!(
                "SELECT a.id, a.received_at, a.stripe_event_id, a.event_type, a.signature_valid, a.failure_reason,
                        a.duplicate, a.outcome, a.http_status, a.duration_ms, a.client_addr, a.source
                 FROM public.webhook_audit_trail a WHERE {FILTER}
                 ORDER BY a.received_at DESC, a.id DESC LIMIT $3 OFFSET $4"
            ),
            &[filter_params[0].clone(), filter_params[1].clone(), Param::Int64(page.limit), Param::Int64(page.offset)],
        )?;
        let counts = db.query(
            &format!(
                "SELECT count(*) AS total,
                        count(*) FILTER (WHERE NOT a.signature_valid) AS signature_invalid,
                        count(*) FILTER (WHERE a.duplicate) AS duplicates,
                        count(*) FILTER (WHERE a.http_status >= 500) AS server_errors,
                        count(*) FILTER (WHERE a.source = 'replay') AS replays
                 FROM public.webhook_audit_trail a WHERE {FILTER}"
            ),
            &filter_params,
        )?;
        let c = counts.one()?;
        let entries = rows
            .iter()
            .map(|r| {
                Ok(json!({
                    "id": r.i64("id")?,
                    "received_at": r.timestamp("received_at")?,
                    "stripe_event_id": r.text("stripe_event_id")?,
                    "event_type": r.text("event_type")?,
                    "signature_valid": r.flag("signature_valid")?,
                    "failure_reason": r.text("failure_reason")?,
                    "duplicate": r.flag("duplicate")?,
                    "outcome": r.text("outcome")?,
                    "http_status": r.i64("http_status")?,
                    "duration_ms": r.float("duration_ms")?,
                    "client_addr": r.text("client_addr")?,
                    "source": r.string("source")?,
                }))
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        Ok(json!({
            "filter": { "event_id": event_id, "signature_valid": signature_valid },
            "total": c.i64("total")?,
            "limit": page.limit,
            "offset": page.offset,
            "counts": {
                "signature_invalid": c.i64("signature_invalid")?,
                "duplicates": c.i64("duplicates")?,
                "server_errors": c.i64("server_errors")?,
                "replays": c.i64("replays")?,
            },
            "entries": entries,
        }))
    })
    .map_err(Problem::from)
}
