//! `security_audit_log`: every change this function makes is written here (who, what, before
//! and after), and `GET /audit-log` lists it.

use crate::Actor;
use serde_json::{json, Value};
use shared::db::{self, Db, Param};
use shared::params::Params;
use shared::{Context, Problem};

const CATEGORIES: &[&str] =
    &["authentication", "authorization", "data_access", "configuration_change", "system_event", "security_event"];

pub struct Entry<'a> {
    pub event_type: &'a str,
    pub category: &'a str,
    pub resource_type: &'a str,
    pub resource_id: String,
    pub action: &'a str,
    pub details: Value,
    pub risk_level: Option<&'a str>,
}

/// Write one row (inside the caller's transaction, so the change and its record go together).
pub fn write(ctx: &Context, db: &Db, actor: &Actor, e: Entry<'_>) -> Result<(), Problem> {
    db.execute(
        "INSERT INTO public.security_audit_log \
           (event_type, event_category, user_id, actor, source_ip, resource_type, resource_id, \
            action_performed, result, details, risk_level, function_name, request_id) \
         VALUES ($1, $2, $3::text::uuid, $4, $5, $6, $7, $8, 'success', $9::text::jsonb, $10, $11, $12)",
        &[
            db::text(e.event_type),
            db::text(e.category),
            db::opt_text(actor.user_id.clone()),
            db::text(actor.name.clone()),
            db::opt_text(ctx.client().address.clone()),
            db::text(e.resource_type),
            db::text(e.resource_id),
            db::text(e.action),
            db::text(e.details.to_string()),
            db::opt_text(e.risk_level),
            db::text(ctx.function),
            db::text(ctx.request_id.clone()),
        ],
    )?;
    Ok(())
}

/// `GET /audit-log?limit=&offset=&category=&hours=`, newest first.
pub fn list(db: &Db, mut p: Params) -> Result<Value, Problem> {
    let page = p.page(50);
    let category = p.choice("category", CATEGORIES);
    let hours = p.int("hours", 24 * 90, 1..=24 * 3650);
    p.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT coalesce(jsonb_agg(to_jsonb(a) ORDER BY a.created_at DESC, a.id DESC), '[]') AS entries, \
                    (SELECT count(*) FROM public.security_audit_log \
                      WHERE ($1::text IS NULL OR event_category = $1) \
                        AND created_at > now() - make_interval(hours => $2)) AS total \
               FROM (SELECT id, event_type, event_category, user_id, actor, source_ip, resource_type, resource_id, \
                            action_performed, result, details, risk_level, function_name, request_id, created_at \
                       FROM public.security_audit_log \
                      WHERE ($1::text IS NULL OR event_category = $1) \
                        AND created_at > now() - make_interval(hours => $2) \
                      ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4) a",
            &[db::opt_text(category), Param::Int32(hours as i32), db::int(page.limit), db::int(page.offset)],
        )?;
        let row = rows.one()?;
        Ok(json!({ "entries": row.json("entries")?, "total": row.i64("total")?, "limit": page.limit, "offset": page.offset }))
    })
}
