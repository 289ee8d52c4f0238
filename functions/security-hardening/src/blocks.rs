//! `GET /blocks` (active; `?include_expired=true` for all), `POST /blocks` to block an address
//! or a user for a while (or until removed), `DELETE /blocks/{client_key}`. The middleware
//! refuses blocked clients on their next request.

use crate::audit::{self, Entry};
use crate::Actor;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::db::{self, Db, Param};
use shared::params::Params;
use shared::{Context, FieldError, Problem, Response};
use std::net::IpAddr;

/// The longest block with an expiry: one year (`permanent` for longer).
const MAX_SECONDS: i64 = 365 * 86_400;

pub fn list(db: &Db, mut p: Params) -> Result<Value, Problem> {
    let page = p.page(100);
    let include_expired = p.boolean("include_expired").unwrap_or(false);
    p.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT coalesce(jsonb_agg(to_jsonb(b) ORDER BY b.created_at DESC), '[]') AS blocks, \
                    (SELECT count(*) FROM public.security_blocks \
                      WHERE $1 OR expires_at IS NULL OR expires_at > now()) AS total \
               FROM (SELECT client_key, reason, note, incident_id, created_by, created_at, expires_at, \
                            (expires_at IS NULL OR expires_at > now()) AS active, \
                            CASE WHEN expires_at > now() THEN ceil(extract(epoch FROM expires_at - now()))::bigint END \
                              AS seconds_left \
                       FROM public.security_blocks \
                      WHERE $1 OR expires_at IS NULL OR expires_at > now() \
                      ORDER BY created_at DESC LIMIT $2 OFFSET $3) b",
            &[Param::Boolean(include_expired), db::int(page.limit), db::int(page.offset)],
        )?;
        let row = rows.one()?;
        Ok(json!({"blocks": row.json("blocks")?, "total": row.i64("total")?, "limit": page.limit, "offset": page.offset}))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewBlock {
    ip: Option<String>,
    user_id: Option<String>,
    duration_seconds: Option<i64>,
    #[serde(default)]
    permanent: bool,
    note: Option<String>,
}

/// The client key a block applies to, from exactly one of `ip` / `user_id`.
fn client_key(b: &NewBlock, errors: &mut Vec<FieldError>) -> Option<String> {
    match (&b.ip, &b.user_id) {
        (Some(ip), None) => match ip.trim().parse::<IpAddr>() {
            Ok(addr) => Some(format!("ip:{addr}")),
            Err(_) => {
                errors.push(FieldError::new("ip", "invalid_ip", "ip must be an IPv4 or IPv6 address"));
                None
            }
        },
        (None, Some(user)) if shared::params::is_uuid(user) => Some(format!("user:{}", user.to_ascii_lowercase())),
        (None, Some(_)) => {
            errors.push(FieldError::new("user_id", "invalid_uuid", "user_id must be a uuid"));
            None
        }
        _ => {
            errors.push(FieldError::new("ip", "one_required", "give exactly one of ip or user_id"));
            None
        }
    }
}

pub fn add(ctx: &Context, db: &Db, actor: &Actor) -> Result<Response, Problem> {
    let body: NewBlock = ctx.request.json()?;
    let mut errors = Vec::new();
    let key = client_key(&body, &mut errors);
    let seconds = match (body.permanent, body.duration_seconds) {
        (true, Some(_)) => {
            errors.push(FieldError::new("duration_seconds", "conflict", "a permanent block has no duration"));
            None
        }
        (true, None) => None,
        (false, Some(s)) if (1..=MAX_SECONDS).contains(&s) => Some(s),
        (false, Some(_)) => {
            errors.push(FieldError::new(
                "duration_seconds",
                "out_of_range",
                format!("duration_seconds must be 1 to {MAX_SECONDS}"),
            ));
            None
        }
        (false, None) => Some(3600),
    };
    if body.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(FieldError::new("note", "too_long", "note is limited to 1,000 characters"));
    }
    let Some(key) = key.filter(|_| errors.is_empty()) else { return Err(Problem::validation(errors)) };

    let block = db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "INSERT INTO public.security_blocks (client_key, reason, note, created_by, expires_at) \
             VALUES ($1, 'manual', $2, $3::text::uuid, CASE WHEN $4::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => $4::bigint) END) \
             ON CONFLICT (client_key) DO UPDATE \
               SET reason = 'manual', note = EXCLUDED.note, created_by = EXCLUDED.created_by, \
                   created_at = now(), expires_at = EXCLUDED.expires_at \
             RETURNING to_jsonb(security_blocks) AS block",
            &[
                db::text(key.clone()),
                db::opt_text(body.note.clone()),
                db::opt_text(actor.user_id.clone()),
                seconds.map(db::int).unwrap_or(Param::DbNull),
            ],
        )?;
        let block = rows.one()?.json("block")?.unwrap_or(Value::Null);
        audit::write(
            ctx,
            db,
            actor,
            Entry {
                event_type: "client_blocked",
                category: "security_event",
                resource_type: "security_block",
                resource_id: key.clone(),
                action: "block",
                details: json!({"duration_seconds": seconds, "note": body.note}),
                risk_level: Some("medium"),
            },
        )?;
        Ok(block)
    })?;
    let mut created = shared::http::envelope(ctx.function, &ctx.request_id, block, "Client blocked");
    created.status = 201;
    Ok(created)
}

pub fn remove(ctx: &Context, db: &Db, actor: &Actor, key: &str) -> Result<Value, Problem> {
    if key.len() > 300 || !(key.starts_with("ip:") || key.starts_with("user:")) {
        return Err(Problem::validation(vec![FieldError::new(
            "client_key",
            "invalid_value",
            "the path names a client key: ip:<address> or user:<uuid> (URL-encoded)",
        )]));
    }
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "DELETE FROM public.security_blocks WHERE client_key = $1 RETURNING to_jsonb(security_blocks) AS block",
            &[db::text(key)],
        )?;
        let Some(row) = rows.first() else { return Err(Problem::not_found(format!("{key} is not blocked"))) };
        let block = row.json("block")?.unwrap_or(Value::Null);
        // The limiter's state goes too, so the client starts again with a full allowance.
        db.execute("DELETE FROM public.security_rate_limits WHERE client_key = $1", &[db::text(key)])?;
        audit::write(
            ctx,
            db,
            actor,
            Entry {
                event_type: "client_unblocked",
                category: "security_event",
                resource_type: "security_block",
                resource_id: key.to_string(),
                action: "unblock",
                details: json!({"removed": block}),
                risk_level: None,
            },
        )?;
        Ok(json!({"removed": block}))
    })
}
