//! `rules`: list, read, create, update (partial), delete. Every field is validated (all
//! errors at once, unknown fields refused so a typo is not silently ignored). Rules that
//! mirror a `performance_alerts` row are changed through that row, not here (409).

use crate::condition::{CATEGORIES, CHANNELS, METRICS, OPERATORS, SEVERITIES};
use crate::display::clip;
use crate::routes::RuleOp;
use serde_json::{json, Map, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Param, Row};
use shared::{Context, FieldError, Problem, Response};

const COLUMNS: &str = "id::text AS id, rule_id, name, description, category, severity, metric, operator, threshold,
  window_minutes, evaluation_interval_minutes, cooldown_minutes, min_samples, min_events, function_name,
  notification_channels, enabled, performance_alert_id::text AS performance_alert_id, last_evaluated_at, created_by, created_at, updated_at";

const FIELDS: [&str; 15] = [
    "rule_id",
    "name",
    "description",
    "category",
    "severity",
    "metric",
    "operator",
    "threshold",
    "window_minutes",
    "evaluation_interval_minutes",
    "cooldown_minutes",
    "min_samples",
    "min_events",
    "function_name",
    "notification_channels",
];

fn to_json(r: &Row) -> Result<Value, DbError> {
    Ok(json!({
        "id": r.string("id")?,
        "rule_id": r.string("rule_id")?,
        "name": r.string("name")?,
        "description": r.text("description")?,
        "category": r.string("category")?,
        "severity": r.string("severity")?,
        "metric": r.string("metric")?,
        "operator": r.string("operator")?,
        "threshold": r.float("threshold")?,
        "window_minutes": r.int("window_minutes")?,
        "evaluation_interval_minutes": r.int("evaluation_interval_minutes")?,
        "cooldown_minutes": r.int("cooldown_minutes")?,
        "min_samples": r.int("min_samples")?,
        "min_events": r.int("min_events")?,
        "function_name": r.text("function_name")?,
        "notification_channels": r.json("notification_channels")?,
        "enabled": r.flag("enabled")?,
        "source": if r.is_null("performance_alert_id")? { "alert_rules" } else { "performance_alerts" },
        "performance_alert_id": r.text("performance_alert_id")?,
        "last_evaluated_at": r.timestamp("last_evaluated_at")?,
        "created_by": r.text("created_by")?,
        "created_at": r.timestamp("created_at")?,
        "updated_at": r.timestamp("updated_at")?,
    }))
}

/// A validated value for one column.
enum Val {
    Text(Option<String>),
    Float(f64),
    Int(i32),
    Bool(bool),
    Json(String),
}

impl Val {
    fn param(&self) -> Param {
        match self {
            Val::Text(t) => db::opt_text(t.clone()),
            Val::Float(f) => Param::Floating64(*f),
            Val::Int(i) => Param::Int32(*i),
            Val::Bool(b) => Param::Boolean(*b),
            Val::Json(j) => db::text(j.clone()),
        }
    }
}

/// The body's fields, validated; `required` lists fields that must be present (create).
fn validate(body: &Map<String, Value>, create: bool) -> Result<Vec<(&'static str, Val)>, Problem> {
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for key in body.keys() {
        if !FIELDS.contains(&key.as_str()) && key != "enabled" && key != "ruleId" {
            errors.push(FieldError::new(key.clone(), "unknown_field", format!("`{}` is not a rule field", clip(key))));
        }
    }
    let mut err = |f: &str, code: &str, m: String| errors.push(FieldError::new(f, code, m));
    let text = |v: &Value| v.as_str().map(str::trim).map(str::to_string);
    let one_of =
        |f: &'static str, allowed: &[&str], v: &Value, err: &mut dyn FnMut(&str, &str, String)| -> Option<Val> {
            match v.as_str().filter(|s| allowed.contains(s)) {
                Some(s) => Some(Val::Text(Some(s.to_string()))),
                None => {
                    err(f, "invalid_value", format!("{f} must be one of {}", allowed.join(", ")));
                    None
                }
            }
        };
    let int = |f: &'static str, lo: i64, hi: i64, v: &Value, err: &mut dyn FnMut(&str, &str, String)| -> Option<Val> {
        match v.as_i64().filter(|n| (lo..=hi).contains(n)) {
            Some(n) => Some(Val::Int(n as i32)),
            None => {
                err(f, "out_of_range", format!("{f} must be a whole number from {lo} to {hi}"));
                None
            }
        }
    };
    for field in FIELDS.iter().copied().chain(["enabled"]) {
        let Some(v) = body.get(field) else {
            let optional = matches!(
                field,
                "rule_id"
                    | "description"
                    | "category"
                    | "evaluation_interval_minutes"
                    | "cooldown_minutes"
                    | "min_samples"
                    | "min_events"
                    | "function_name"
                    | "notification_channels"
                    | "enabled"
            );
            if create && !optional {
                err(field, "required", format!("{field} is required"));
            }
            continue;
        };
        let val = match field {
            "rule_id" => match text(v).filter(|s| valid_rule_id(s)) {
                Some(s) => Some(Val::Text(Some(s))),
                None => {
                    err(
                        field,
                        "invalid_format",
                        "rule_id must be 1 to 100 of a-z, 0-9, _ . - (starting with a letter or digit)".into(),
                    );
                    None
                }
            },
            "name" => match text(v).filter(|s| (1..=200).contains(&s.chars().count())) {
                Some(s) => Some(Val::Text(Some(s))),
                None => {
                    err(field, "invalid_length", "name must be 1 to 200 characters".into());
                    None
                }
            },
            "description" | "function_name" => {
                let max = if field == "description" { 2000 } else { 100 };
                match v {
                    Value::Null => Some(Val::Text(None)),
                    Value::String(s) if s.chars().count() <= max && !s.trim().is_empty() => {
                        if field == "function_name" && !s.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                            err(field, "invalid_format", "function_name is a function's name (a-z and -)".into());
                            None
                        } else {
                            Some(Val::Text(Some(s.trim().to_string())))
                        }
                    }
                    _ => {
                        err(field, "invalid_length", format!("{field} must be null or 1 to {max} characters"));
                        None
                    }
                }
            }
            "category" => one_of(field, &CATEGORIES, v, &mut err),
            "severity" => one_of(field, &SEVERITIES, v, &mut err),
            "metric" => one_of(field, &METRICS, v, &mut err),
            "operator" => one_of(field, &OPERATORS, v, &mut err),
            "threshold" => match v.as_f64().filter(|f| f.is_finite()) {
                Some(f) => Some(Val::Float(f)),
                None => {
                    err(field, "invalid_number", "threshold must be a number".into());
                    None
                }
            },
            "window_minutes" => int(field, 1, 10080, v, &mut err),
            "evaluation_interval_minutes" => int(field, 1, 1440, v, &mut err),
            "cooldown_minutes" => int(field, 0, 10080, v, &mut err),
            "min_samples" | "min_events" => int(field, 1, 1_000_000, v, &mut err),
            "notification_channels" => match channels(v) {
                Ok(list) => Some(Val::Json(Value::from(list).to_string())),
                Err(m) => {
                    err(field, "invalid_value", m);
                    None
                }
            },
            "enabled" => match v.as_bool() {
                Some(b) => Some(Val::Bool(b)),
                None => {
                    err(field, "invalid_boolean", "enabled must be true or false".into());
                    None
                }
            },
            _ => None,
        };
        if let Some(val) = val {
            out.push((field, val));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(out)
}

fn valid_rule_id(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-');
    (1..=100).contains(&s.len())
        && s.chars().all(ok_char)
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && !s.starts_with("performance_alert.")
}

fn channels(v: &Value) -> Result<Vec<String>, String> {
    let message = format!("notification_channels must be a list of distinct channels from: {}", CHANNELS.join(", "));
    let list = v.as_array().ok_or_else(|| message.clone())?;
    let mut out: Vec<String> = Vec::new();
    for c in list {
        let name = c.as_str().map(|s| if s == "pager" { "pagerduty" } else { s }).ok_or_else(|| message.clone())?;
        if !CHANNELS.contains(&name) || out.iter().any(|o| o == name) {
            return Err(message);
        }
        out.push(name.to_string());
    }
    Ok(out)
}

fn find(db: &Db, key: &str) -> Result<Option<Value>, DbError> {
    let (by, param) =
        if shared::params::is_uuid(key) { ("id = $1", db::uuid(key)) } else { ("rule_id = $1", db::text(key)) };
    let rows = db.query(&format!("SELECT {COLUMNS} FROM public.alert_rules WHERE {by}"), &[param])?;
    rows.first().map(|r| to_json(&r)).transpose()
}

fn not_found(key: &str) -> Problem {
    Problem::not_found(format!("no alert rule `{}`", clip(key)))
}

fn managed(rule: &Value) -> Result<(), Problem> {
    if rule["source"] == "performance_alerts" {
        return Err(Problem::new(409, "managed_by_performance_alerts", "This rule mirrors a performance_alerts row")
            .detail(format!(
                "change or delete performance_alerts row {} instead",
                rule["performance_alert_id"].as_str().unwrap_or("")
            )));
    }
    Ok(())
}

fn who(caller: &Caller) -> String {
    if caller.is_service_role() {
        "service_role".into()
    } else {
        caller.user_id().to_string()
    }
}

fn ok(ctx: &Context, status: u16, data: Value, message: &str) -> Response {
    let mut r = shared::http::envelope(ctx.function, &ctx.request_id, data, message);
    r.status = status;
    r
}

pub fn handle(ctx: &Context, db: &Db, caller: &Caller, op: RuleOp) -> Result<Response, Problem> {
    match op {
        RuleOp::List => {
            let rules = db.as_service(|db| -> Result<Vec<Value>, DbError> {
                db.query(&format!("SELECT {COLUMNS} FROM public.alert_rules ORDER BY rule_id"), &[])?
                    .iter()
                    .map(|r| to_json(&r))
                    .collect()
            })?;
            Ok(ok(ctx, 200, json!({ "count": rules.len(), "rules": rules }), "Alert rules"))
        }
        RuleOp::Get(key) => {
            let rule = db.as_service(|db| find(db, &key))?.ok_or_else(|| not_found(&key))?;
            Ok(ok(ctx, 200, json!({ "rule": rule }), "Alert rule"))
        }
        RuleOp::Create => {
            let body: Map<String, Value> = ctx.request.json()?;
            let mut fields = validate(&body, true)?;
            if !fields.iter().any(|(f, _)| *f == "rule_id") {
                let id = db
                    .query("SELECT 'rule_' || replace(gen_random_uuid()::text, '-', '') AS id", &[])?
                    .one()?
                    .string("id")?;
                fields.push(("rule_id", Val::Text(Some(id))));
            }
            fields.push(("created_by", Val::Text(Some(who(caller)))));
            let names: Vec<&str> = fields.iter().map(|(f, _)| *f).collect();
            let values: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, (f, _))| {
                    if *f == "notification_channels" {
                        format!("${}::text::jsonb", i + 1)
                    } else {
                        format!("${}", i + 1)
                    }
                })
                .collect();
            let sql = format!(
                "INSERT INTO public.alert_rules ({}) VALUES ({}) ON CONFLICT (rule_id) DO NOTHING RETURNING {COLUMNS}",
                names.join(", "),
                values.join(", ")
            );
            let args: Vec<Param> = fields.iter().map(|(_, v)| v.param()).collect();
            let created = db.as_service(|db| -> Result<Option<Value>, DbError> {
                db.query(&sql, &args)?.first().map(|r| to_json(&r)).transpose()
            })?;
            let rule = created.ok_or_else(|| {
                Problem::new(409, "rule_exists", "A rule with this rule_id exists")
                    .detail("choose another rule_id or update that rule")
            })?;
            Ok(ok(ctx, 201, json!({ "rule": rule, "ruleId": rule["rule_id"] }), "Alert rule created"))
        }
        RuleOp::Update(key) => {
            let body: Map<String, Value> = ctx.request.json()?;
            let key = if key.is_empty() {
                body.get("ruleId").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    Problem::validation(vec![FieldError::new(
                        "ruleId",
                        "required",
                        "name the rule in the path or as ruleId",
                    )])
                })?
            } else {
                key
            };
            let fields: Vec<_> = validate(&body, false)?.into_iter().filter(|(f, _)| *f != "rule_id").collect();
            if fields.is_empty() {
                return Err(Problem::validation(vec![FieldError::new(
                    "body",
                    "empty_update",
                    "send at least one field to change",
                )]));
            }
            let existing = db.as_service(|db| find(db, &key))?.ok_or_else(|| not_found(&key))?;
            managed(&existing)?;
            let sets: Vec<String> = fields
                .iter()
                .enumerate()
                .map(|(i, (f, _))| {
                    if *f == "notification_channels" {
                        format!("{f} = ${}::text::jsonb", i + 2)
                    } else {
                        format!("{f} = ${}", i + 2)
                    }
                })
                .collect();
            let sql =
                format!("UPDATE public.alert_rules SET {} WHERE id = $1::uuid RETURNING {COLUMNS}", sets.join(", "));
            let mut args = vec![db::uuid(existing["id"].as_str().unwrap_or_default())];
            args.extend(fields.iter().map(|(_, v)| v.param()));
            let rule = db.as_service(|db| -> Result<Option<Value>, DbError> {
                db.query(&sql, &args)?.first().map(|r| to_json(&r)).transpose()
            })?;
            let rule = rule.ok_or_else(|| not_found(&key))?;
            Ok(ok(ctx, 200, json!({ "rule": rule }), "Alert rule updated"))
        }
        RuleOp::Delete(key) => {
            if key.is_empty() {
                return Err(Problem::validation(vec![FieldError::new(
                    "ruleId",
                    "required",
                    "name the rule in the path or as ?ruleId=",
                )]));
            }
            let existing = db.as_service(|db| find(db, &key))?.ok_or_else(|| not_found(&key))?;
            managed(&existing)?;
            db.as_service(|db| {
                db.execute(
                    "DELETE FROM public.alert_rules WHERE id = $1::uuid",
                    &[db::uuid(existing["id"].as_str().unwrap_or_default())],
                )
            })?;
            Ok(ok(ctx, 200, json!({ "deleted": existing["rule_id"] }), "Alert rule deleted"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(body: &str, create: bool) -> Result<Vec<&'static str>, Vec<(String, String)>> {
        let body: Map<String, Value> = serde_json::from_str(body).unwrap();
        validate(&body, create)
            .map(|v| v.into_iter().map(|(f, _)| f).collect())
            .map_err(|p| p.errors.into_iter().map(|e| (e.field, e.code)).collect())
    }

    #[test]
    fn a_complete_rule_is_accepted() {
        let f = fields(
            r#"{"name":"Slow","severity":"warning","metric":"p95_response_time","operator":"gt","threshold":800,
                "window_minutes":10,"notification_channels":["slack","pager"],"function_name":"quote-processor"}"#,
            true,
        )
        .unwrap();
        assert!(f.contains(&"notification_channels") && f.contains(&"function_name"));
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = fields(
            r#"{"name":"","severity":"loud","metric":"vibes","operator":"~","threshold":"x","window_minutes":0,
                "notification_channels":["fax"],"colour":"red"}"#,
            true,
        )
        .unwrap_err();
        let codes: Vec<(&str, &str)> = errors.iter().map(|(f, c)| (f.as_str(), c.as_str())).collect();
        for expected in [
            ("colour", "unknown_field"),
            ("name", "invalid_length"),
            ("severity", "invalid_value"),
            ("metric", "invalid_value"),
            ("operator", "invalid_value"),
            ("threshold", "invalid_number"),
            ("window_minutes", "out_of_range"),
            ("notification_channels", "invalid_value"),
        ] {
            assert!(codes.contains(&expected), "{expected:?} missing from {codes:?}");
        }
    }

    #[test]
    fn creation_needs_the_condition_and_updates_need_nothing() {
        let errors = fields(r#"{"name":"x"}"#, true).unwrap_err();
        let missing: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(missing, vec!["severity", "metric", "operator", "threshold", "window_minutes"]);
        assert_eq!(fields(r#"{"threshold":3}"#, false).unwrap(), vec!["threshold"]);
    }

    #[test]
    fn rule_ids_and_channels_are_checked() {
        assert!(valid_rule_id("api.p95-high_2"));
        assert!(!valid_rule_id("Upper") && !valid_rule_id("-x") && !valid_rule_id("performance_alert.x"));
        assert_eq!(channels(&json!(["email", "pager"])).unwrap(), vec!["email", "pagerduty"]);
        assert!(channels(&json!(["email", "email"])).is_err());
        assert!(channels(&json!("email")).is_err());
    }
}
