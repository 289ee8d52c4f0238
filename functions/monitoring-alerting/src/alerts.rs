//! `GET /alerts[?status=active|acknowledged|resolved|suppressed|open|all][&limit=50]` and the
//! transitions `POST /alerts/{id}/acknowledge|resolve|suppress` (or the original
//! `POST /alerts?action=...` with `{"alertId": ...}`). Who made a transition is the caller,
//! never a name from the body. An alert that is not in a state the transition leaves is a 409.

use crate::display::clip;
use crate::routes::AlertAction;
use serde_json::{json, Map, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Row};
use shared::params::Params;
use shared::{FieldError, Problem, Request};

const STATUSES: [&str; 6] = ["active", "acknowledged", "resolved", "suppressed", "open", "all"];
const MAX_NOTE: usize = 2000;

const COLUMNS: &str = "id::text AS id, rule_key, severity, category, title, message, metric, operator, threshold,
  metric_value, last_value, sample_count, status, dedup_key, triggered_at, last_evaluated_at, acknowledged_at,
  acknowledged_by, resolved_at, resolved_by, resolution_notes, auto_resolved, suppressed_at, suppressed_by,
  suppression_reason";

pub fn to_json(r: &Row) -> Result<Value, DbError> {
    Ok(json!({
        "id": r.string("id")?,
        "rule_id": r.text("rule_key")?,
        "severity": r.string("severity")?,
        "category": r.string("category")?,
        "title": r.string("title")?,
        "message": r.string("message")?,
        "metric": r.string("metric")?,
        "operator": r.string("operator")?,
        "threshold": r.float("threshold")?,
        "metric_value": r.float("metric_value")?,
        "last_value": r.float("last_value")?,
        "sample_count": r.int("sample_count")?,
        "status": r.string("status")?,
        "dedup_key": r.string("dedup_key")?,
        "triggered_at": r.timestamp("triggered_at")?,
        "last_evaluated_at": r.timestamp("last_evaluated_at")?,
        "acknowledged_at": r.timestamp("acknowledged_at")?,
        "acknowledged_by": r.text("acknowledged_by")?,
        "resolved_at": r.timestamp("resolved_at")?,
        "resolved_by": r.text("resolved_by")?,
        "resolution_notes": r.text("resolution_notes")?,
        "auto_resolved": r.flag("auto_resolved")?,
        "suppressed_at": r.timestamp("suppressed_at")?,
        "suppressed_by": r.text("suppressed_by")?,
        "suppression_reason": r.text("suppression_reason")?,
    }))
}

/// `POST /webhook` (the original's, which took anyone's alert; here an administrator's):
/// `{severity?, category?, title, message, metricValue?, threshold?}` becomes an active alert
/// of category `external` (unless named), listed and resolved like any other. Its
/// notifications are not sent here: channels are tied to rules (`evaluate`).
pub fn external(db: &Db, caller: &Caller, req: &Request, request_id: &str) -> Result<Value, Problem> {
    let body: Map<String, Value> = req.json()?;
    let mut errors = Vec::new();
    const FIELDS: [&str; 8] =
        ["severity", "category", "title", "message", "metricValue", "threshold", "metadata", "actions"];
    for k in body.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(clip(k), "unknown_field", format!("known fields: {}", FIELDS.join(", "))));
    }
    let text = |name: &str, max: usize, errors: &mut Vec<FieldError>| -> Option<String> {
        match body.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => Some(s.trim().to_string()),
            Some(_) => {
                errors.push(FieldError::new(
                    name,
                    "invalid_length",
                    format!("{name} must be text of 1 to {max} characters"),
                ));
                None
            }
        }
    };
    let severity = text("severity", 20, &mut errors).unwrap_or_else(|| "warning".into());
    if !["info", "warning", "error", "critical"].contains(&severity.as_str()) {
        errors.push(FieldError::new("severity", "invalid_value", "severity must be info, warning, error or critical"));
    }
    let category = text("category", 50, &mut errors).unwrap_or_else(|| "external".into());
    let title = text("title", 200, &mut errors);
    let message = text("message", MAX_NOTE, &mut errors);
    for (name, missing) in [("title", title.is_none()), ("message", message.is_none())] {
        if missing && !errors.iter().any(|e| e.field == name) {
            errors.push(FieldError::new(name, "required", format!("{name} is required")));
        }
    }
    let number = |name: &str, errors: &mut Vec<FieldError>| match body.get(name) {
        None | Some(Value::Null) => None,
        Some(v) => v.as_f64().filter(|f| f.is_finite()).or_else(|| {
            errors.push(FieldError::new(name, "invalid_number", format!("{name} must be a number")));
            None
        }),
    };
    let metric_value = number("metricValue", &mut errors);
    let threshold = number("threshold", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let who = if caller.is_service_role() { "service_role".to_string() } else { caller.user_id().to_string() };
    let alert = db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            &format!(
                "INSERT INTO public.alerts (severity, category, title, message, metric, operator, threshold, metric_value,
                                            last_value, dedup_key, acknowledged_by)
                 VALUES ($1, $2, $3, $4, 'external', 'eq', $5, $6, $6, $7, NULL)
                 RETURNING {COLUMNS}"
            ),
            &[
                db::text(severity.clone()),
                db::text(category.clone()),
                db::text(title.clone().unwrap_or_default()),
                db::text(message.clone().unwrap_or_default()),
                db::Param::Floating64(threshold.unwrap_or(0.0)),
                metric_value.map(db::Param::Floating64).unwrap_or(db::Param::DbNull),
                db::text(format!("external:{request_id}")),
            ],
        )?;
        Ok(to_json(&rows.one()?)?)
    })?;
    Ok(json!({ "alert": alert, "raised_by": who }))
}

pub fn handle(db: &Db, caller: &Caller, req: &Request, action: AlertAction) -> Result<Value, Problem> {
    match action {
        AlertAction::List => list(db, req),
        _ => transition(db, caller, req, action),
    }
}

fn list(db: &Db, req: &Request) -> Result<Value, Problem> {
    let mut params = Params::from_query(req);
    let status = params.choice("status", &STATUSES).unwrap_or("active");
    let limit = params.int("limit", 50, 1..=500);
    params.finish()?;
    let filter = match status {
        "all" => "true",
        "open" => "status IN ('active', 'acknowledged', 'suppressed')",
        _ => "status = $2",
    };
    let sql = format!("SELECT {COLUMNS} FROM public.alerts WHERE {filter} ORDER BY triggered_at DESC, id LIMIT $1");
    let mut args = vec![db::int(limit)];
    if !matches!(status, "all" | "open") {
        args.push(db::text(status));
    }
    let alerts = db.as_service(|db| -> Result<Vec<Value>, DbError> {
        db.query(&sql, &args)?.iter().map(|r| to_json(&r)).collect()
    })?;
    Ok(json!({ "status": status, "count": alerts.len(), "alerts": alerts }))
}

fn who(caller: &Caller) -> String {
    if caller.is_service_role() {
        "service_role".into()
    } else {
        caller.user_id().to_string()
    }
}

/// Optional text field of at most MAX_NOTE characters.
fn note(body: &Map<String, Value>, names: &[&str], errors: &mut Vec<FieldError>) -> Option<String> {
    let (name, value) = names.iter().find_map(|n| body.get(*n).map(|v| (*n, v)))?;
    match value {
        Value::Null => None,
        Value::String(s) if !s.trim().is_empty() && s.chars().count() <= MAX_NOTE => Some(s.trim().to_string()),
        _ => {
            errors.push(FieldError::new(
                name,
                "invalid_length",
                format!("{name} must be text of 1 to {MAX_NOTE} characters"),
            ));
            None
        }
    }
}

fn transition(db: &Db, caller: &Caller, req: &Request, action: AlertAction) -> Result<Value, Problem> {
    let body: Map<String, Value> = req.json_opt()?.unwrap_or_default();
    let mut errors = Vec::new();
    let path_id = req.segments().get(1).map(|s| s.to_string());
    let id = path_id
        .or_else(|| body.get("alertId").or_else(|| body.get("alert_id")).and_then(Value::as_str).map(str::to_string));
    let id = match id {
        Some(id) if shared::params::is_uuid(&id) => Some(id.to_ascii_lowercase()),
        Some(id) => {
            errors.push(FieldError::new("alertId", "invalid_uuid", format!("`{}` is not a uuid", clip(&id))));
            None
        }
        None => {
            errors.push(FieldError::new("alertId", "required", "name the alert in the path or as alertId"));
            None
        }
    };
    let text = match action {
        AlertAction::Resolve => note(&body, &["resolutionNotes", "resolution_notes"], &mut errors),
        AlertAction::Suppress => {
            let reason = note(&body, &["suppressionReason", "suppression_reason"], &mut errors);
            if reason.is_none()
                && errors.iter().all(|e| e.field != "suppressionReason" && e.field != "suppression_reason")
            {
                errors.push(FieldError::new("suppressionReason", "required", "say why the alert is suppressed"));
            }
            reason
        }
        _ => None,
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let id = id.expect("validated");
    let (set, from) = match action {
        AlertAction::Acknowledge => {
            ("status = 'acknowledged', acknowledged_at = now(), acknowledged_by = $2", "('active')")
        }
        AlertAction::Resolve => (
            "status = 'resolved', resolved_at = now(), resolved_by = $2, resolution_notes = $3, auto_resolved = false",
            "('active', 'acknowledged', 'suppressed')",
        ),
        AlertAction::Suppress => (
            "status = 'suppressed', suppressed_at = now(), suppressed_by = $2, suppression_reason = $3",
            "('active', 'acknowledged')",
        ),
        AlertAction::List => unreachable!("not a transition"),
    };
    let sql = format!("UPDATE public.alerts SET {set} WHERE id = $1::uuid AND status IN {from} RETURNING {COLUMNS}");
    let mut args = vec![db::uuid(&id), db::text(who(caller))];
    if action != AlertAction::Acknowledge {
        args.push(db::opt_text(text));
    }
    let updated = db.as_service(|db| -> Result<Result<Value, Option<String>>, DbError> {
        let rows = db.query(&sql, &args)?;
        if let Some(r) = rows.first() {
            return Ok(Ok(to_json(&r)?));
        }
        let current = db.query("SELECT status FROM public.alerts WHERE id = $1::uuid", &[db::uuid(&id)])?;
        Ok(Err(match current.first() {
            Some(r) => Some(r.string("status")?),
            None => None,
        }))
    })?;
    match updated {
        Ok(alert) => Ok(json!({ "alert": alert })),
        Err(None) => Err(Problem::not_found(format!("no alert {id}"))),
        Err(Some(status)) => {
            let done = match action {
                AlertAction::Acknowledge => "acknowledged only when active",
                AlertAction::Resolve => "resolved only when open",
                _ => "suppressed only when active or acknowledged",
            };
            Err(Problem::new(409, "invalid_transition", "The alert cannot make that transition")
                .detail(format!("alert {id} is {status}; an alert can be {done}")))
        }
    }
}
