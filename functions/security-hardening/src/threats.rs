//! `POST /threat-detection`: analyse a payload an administrator submits (with the detectors
//! the settings switch on, or all of them with `"all_detectors": true`).
//! `GET /threat-detection?hours=`: what the middleware refused in recent traffic, by rule and
//! by client, from `security_incidents`.

use serde::Deserialize;
use serde_json::{json, Value};
use shared::db::{Db, Param};
use shared::params::Params;
use shared::security::{guard, threats};
use shared::{Context, FieldError, Problem};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Analysis {
    /// Any JSON: every string value in it is inspected.
    payload: Option<Value>,
    /// A query string (`a=1&b=2`), inspected as the middleware inspects one.
    query: Option<String>,
    #[serde(default)]
    all_detectors: bool,
}

pub fn analyse(ctx: &Context, db: &Db) -> Result<Value, Problem> {
    let body: Analysis = ctx.request.json()?;
    if body.payload.is_none() && body.query.is_none() {
        return Err(Problem::validation(vec![FieldError::new(
            "payload",
            "required",
            "send `payload` (JSON) and/or `query` (text)",
        )]));
    }
    let settings = db.as_service(|db| -> Result<Option<Value>, Problem> {
        let rows =
            db.query("SELECT public.security_setting('threat_detection', 'global_settings', '{}') AS settings", &[])?;
        Ok(rows.one()?.json("settings")?)
    })?;
    let enabled = if body.all_detectors { threats::Enabled::ALL } else { guard::enabled_from(settings.as_ref()) };
    let mut detections = Vec::new();
    if let Some(q) = &body.query {
        detections.extend(threats::scan_query(q, enabled));
    }
    if let Some(p) = &body.payload {
        detections.extend(threats::scan_json(p, enabled));
    }
    Ok(json!({
        "threat_detected": !detections.is_empty(),
        "detections": detections,
        "detectors": {
            "sql_injection": enabled.sql_injection,
            "xss": enabled.xss,
            "command_injection": enabled.command_injection,
        },
    }))
}

pub fn recent(db: &Db, mut p: Params) -> Result<Value, Problem> {
    let hours = p.hours();
    p.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "WITH recent AS ( \
               SELECT * FROM public.security_incidents \
                WHERE event_type = 'injection_attempt' AND client_key IS NOT NULL \
                  AND last_seen_at > now() - make_interval(hours => $1)) \
             SELECT (SELECT coalesce(sum(occurrences), 0) FROM recent) AS refused, \
                    (SELECT count(DISTINCT client_key) FROM recent) AS clients, \
                    (SELECT coalesce(jsonb_agg(r ORDER BY r.occurrences DESC, r.rule), '[]') FROM ( \
                       SELECT rule, count(*) AS incidents, sum(occurrences) AS occurrences \
                         FROM recent, unnest(rule_ids) AS rule GROUP BY rule) r) AS by_rule, \
                    (SELECT coalesce(jsonb_agg(c ORDER BY c.occurrences DESC, c.client_key), '[]') FROM ( \
                       SELECT client_key, sum(occurrences) AS occurrences, max(last_seen_at) AS last_seen_at \
                         FROM recent GROUP BY client_key ORDER BY 2 DESC LIMIT 20) c) AS top_clients, \
                    (SELECT coalesce(jsonb_agg(f ORDER BY f.occurrences DESC, f.function_name), '[]') FROM ( \
                       SELECT function_name, sum(occurrences) AS occurrences FROM recent GROUP BY function_name) f) AS by_function",
            &[Param::Int32(hours)],
        )?;
        let row = rows.one()?;
        Ok(json!({
            "hours": hours,
            "requests_refused": row.i64("refused")?,
            "clients": row.i64("clients")?,
            "by_rule": row.json("by_rule")?,
            "by_function": row.json("by_function")?,
            "top_clients": row.json("top_clients")?,
        }))
    })
}
