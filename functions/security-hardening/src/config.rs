//! `GET /config` and `PUT /config`: the settings the middleware reads on every request.
//!
//! Update body: `{"category": "rate_limiting", "value": {...}}` (key defaults to
//! `global_settings`; incident_response takes the event type as `key`), and/or
//! `"enabled": false` to switch the category off. The value is merged into the stored one and
//! the result validated as a whole; the change and its audit row are one transaction.

use crate::audit::{self, Entry};
use crate::settings;
use crate::Actor;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::db::{self, Db, Param};
use shared::{Context, FieldError, Problem};

/// Every managed setting, grouped by category.
pub fn get(db: &Db) -> Result<Value, Problem> {
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT config_category, config_key, config_value, enabled, last_modified_at, last_modified_by \
               FROM public.security_configuration \
              WHERE config_category = ANY($1::text::text[]) ORDER BY config_category, config_key",
            &[db::text(format!("{{{}}}", settings::CATEGORIES.join(",")))],
        )?;
        let mut out = serde_json::Map::new();
        for row in rows.iter() {
            let entry = json!({
                "value": row.json("config_value")?,
                "enabled": row.flag("enabled")?,
                "last_modified_at": row.timestamp("last_modified_at")?,
                "last_modified_by": row.text("last_modified_by")?,
            });
            let category = out.entry(row.string("config_category")?).or_insert_with(|| json!({}));
            category[row.string("config_key")?] = entry;
        }
        Ok(Value::Object(out))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    category: Option<String>,
    key: Option<String>,
    value: Option<Value>,
    enabled: Option<bool>,
}

pub fn update(ctx: &Context, db: &Db, actor: &Actor) -> Result<Value, Problem> {
    let body: Update = ctx.request.json()?;
    let mut errors = Vec::new();
    let category = match body.category.as_deref() {
        Some(c) if settings::CATEGORIES.contains(&c) => c.to_string(),
        Some(_) => {
            errors.push(FieldError::new(
                "category",
                "invalid_value",
                format!("category must be one of {}", settings::CATEGORIES.join(", ")),
            ));
            String::new()
        }
        None => {
            errors.push(FieldError::new("category", "required", "category is required"));
            String::new()
        }
    };
    let key = match (body.key.clone(), settings::default_key(&category)) {
        (Some(k), _) => k,
        (None, Some(k)) => k.to_string(),
        (None, None) if !category.is_empty() => {
            errors.push(FieldError::new("key", "required", "key is required for this category (an event type)"));
            String::new()
        }
        (None, None) => String::new(),
    };
    if body.value.is_none() && body.enabled.is_none() {
        errors.push(FieldError::new("value", "required", "send `value` and/or `enabled`"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }

    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT config_value, enabled FROM public.security_configuration \
              WHERE config_category = $1 AND config_key = $2 FOR UPDATE",
            &[db::text(category.clone()), db::text(key.clone())],
        )?;
        let (before, was_enabled) = match rows.first() {
            Some(r) => (r.json("config_value")?.unwrap_or(json!({})), r.flag("enabled")?),
            None => (json!({}), true),
        };
        let mut merged = before.clone();
        if let Some(value) = &body.value {
            match (merged.as_object_mut(), value.as_object()) {
                (Some(m), Some(v)) => m.extend(v.clone()),
                _ => merged = value.clone(),
            }
        }
        let problems = settings::validate(&category, &key, &merged);
        if !problems.is_empty() {
            return Err(Problem::validation(problems));
        }
        let enabled = body.enabled.unwrap_or(was_enabled);
        db.execute(
            "INSERT INTO public.security_configuration \
               (config_category, config_key, config_value, enabled, last_modified_by, last_modified_at) \
             VALUES ($1, $2, $3::text::jsonb, $4, $5::text::uuid, now()) \
             ON CONFLICT (config_category, config_key) DO UPDATE \
               SET config_value = EXCLUDED.config_value, enabled = EXCLUDED.enabled, \
                   last_modified_by = EXCLUDED.last_modified_by, last_modified_at = now()",
            &[
                db::text(category.clone()),
                db::text(key.clone()),
                db::text(merged.to_string()),
                Param::Boolean(enabled),
                db::opt_text(actor.user_id.clone()),
            ],
        )?;
        audit::write(
            ctx,
            db,
            actor,
            Entry {
                event_type: "security_configuration_updated",
                category: "configuration_change",
                resource_type: "security_configuration",
                resource_id: format!("{category}/{key}"),
                action: "update",
                details: json!({"before": before, "after": merged, "enabled_before": was_enabled, "enabled": enabled}),
                risk_level: Some(if !enabled { "high" } else { "medium" }),
            },
        )?;
        Ok(json!({"category": category, "key": key, "value": merged, "enabled": enabled, "previous": before}))
    })
}
