//! `GET /incidents` (filters: status, event_type, threat_level, hours; paged),
//! `GET /incidents/{id}`, `POST /incidents/{id}/resolve` with an optional `note`.

use crate::audit::{self, Entry};
use crate::settings::{EVENT_TYPES, THREAT_LEVELS};
use crate::Actor;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::db::{self, Db, Param};
use shared::params::{self, Params};
use shared::{Context, FieldError, Problem};

const COLUMNS: &str = "id, event_type, threat_level, auto_response, client_key, source_ip, user_agent, user_id, \
    function_name, request_path, rule_ids, details, occurrences, last_seen_at, status, admin_notified_at, \
    resolved_at, resolved_by, resolution_note, created_at";

pub fn list(db: &Db, mut p: Params) -> Result<Value, Problem> {
    let page = p.page(50);
    let status = p.choice("status", &["open", "resolved", "all"]).unwrap_or("all");
    let event_type = p.choice("event_type", EVENT_TYPES);
    let level = p.choice("threat_level", THREAT_LEVELS);
    let hours = p.int("hours", 24 * 90, 1..=24 * 3650);
    p.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let filter = "($1 = 'all' OR status = $1) AND ($2::text IS NULL OR event_type = $2) \
                      AND ($3::text IS NULL OR threat_level = $3) AND created_at > now() - make_interval(hours => $4)";
        let rows = db.query(
            &format!(
                "SELECT coalesce(jsonb_agg(to_jsonb(i) ORDER BY i.created_at DESC, i.id), '[]') AS incidents, \
                        (SELECT count(*) FROM public.security_incidents WHERE {filter}) AS total, \
                        (SELECT coalesce(sum(occurrences), 0) FROM public.security_incidents WHERE {filter}) AS occurrences \
                   FROM (SELECT {COLUMNS} FROM public.security_incidents WHERE {filter} \
                          ORDER BY created_at DESC, id LIMIT $5 OFFSET $6) i"
            ),
            &[
                db::text(status),
                db::opt_text(event_type),
                db::opt_text(level),
                Param::Int32(hours as i32),
                db::int(page.limit),
                db::int(page.offset),
            ],
        )?;
        let row = rows.one()?;
        Ok(json!({
            "incidents": row.json("incidents")?,
            "total": row.i64("total")?,
            "occurrences": row.i64("occurrences")?,
            "limit": page.limit,
            "offset": page.offset,
        }))
    })
}

pub fn get(db: &Db, id: &str) -> Result<Value, Problem> {
    let id = params::path_id(id)?;
    db.as_service(|db| fetch(db, &id))
}

/// One incident, inside the caller's transaction.
fn fetch(db: &Db, id: &str) -> Result<Value, Problem> {
    let rows = db.query(
        &format!(
            "SELECT to_jsonb(i) AS incident FROM (SELECT {COLUMNS} FROM public.security_incidents WHERE id = $1) i"
        ),
        &[db::uuid(id)],
    )?;
    match rows.first() {
        Some(r) => Ok(r.json("incident")?.unwrap_or(Value::Null)),
        None => Err(Problem::not_found(format!("no incident {id}"))),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Resolution {
    note: Option<String>,
}

pub fn resolve(ctx: &Context, db: &Db, actor: &Actor, id: &str) -> Result<Value, Problem> {
    let id = params::path_id(id)?;
    let body: Resolution = ctx.request.json_opt()?.unwrap_or_default();
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(Problem::validation(vec![FieldError::new(
            "note",
            "too_long",
            "note is limited to 2,000 characters",
        )]));
    }
    db.as_service(|db| -> Result<Value, Problem> {
        let rows =
            db.query("SELECT status FROM public.security_incidents WHERE id = $1 FOR UPDATE", &[db::uuid(&id)])?;
        let Some(row) = rows.first() else { return Err(Problem::not_found(format!("no incident {id}"))) };
        if row.string("status")? == "resolved" {
            return Err(Problem::new(409, "already_resolved", "The incident is already resolved"));
        }
        db.execute(
            "UPDATE public.security_incidents \
                SET status = 'resolved', resolved_at = now(), resolved_by = $2::text::uuid, resolution_note = $3 \
              WHERE id = $1",
            &[db::uuid(&id), db::opt_text(actor.user_id.clone()), db::opt_text(body.note.clone())],
        )?;
        audit::write(
            ctx,
            db,
            actor,
            Entry {
                event_type: "security_incident_resolved",
                category: "security_event",
                resource_type: "security_incident",
                resource_id: id.clone(),
                action: "resolve",
                details: json!({"note": body.note}),
                risk_level: None,
            },
        )?;
        fetch(db, &id)
    })
}
