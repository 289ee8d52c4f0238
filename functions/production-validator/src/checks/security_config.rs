//! security / `rate_limiting` and `threat_detection`: the settings the security middleware
//! reads (`security_configuration`, migration 0006). Missing table, row or a disabled
//! setting fails: a protection nobody configured is not on.

use crate::check::{start, Category, Check, Severity, Status};
use serde_json::{json, Value};
use shared::db::{self, Db};

/// The row as JSON (whatever its columns), or why it cannot be had.
fn setting(db: &Db, category: &str) -> Result<Option<Value>, String> {
    let present = db
        .query("SELECT to_regclass('public.security_configuration') IS NOT NULL AS present", &[])
        .map_err(|e| super::error_kind(&e))?;
    if !present.first().map(|r| r.flag("present").unwrap_or(false)).unwrap_or(false) {
        return Err("table public.security_configuration does not exist (migration 0006 not applied)".into());
    }
    let rows = db
        .query(
            "SELECT to_jsonb(c) AS row FROM public.security_configuration c
             WHERE c.config_category = $1 AND c.config_key = 'global_settings'",
            &[db::text(category)],
        )
        .map_err(|e| super::error_kind(&e))?;
    match rows.first() {
        None => Ok(None),
        Some(r) => r.json("row").map_err(|e| e.to_string()),
    }
}

fn positive(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64).filter(|n| *n > 0)
}

pub fn rate_limiting(db: &Db) -> Check {
    let p = start(Category::Security, "rate_limiting", Severity::High);
    let remedy = "configure rate_limiting/global_settings in security_configuration \
                  ({\"requestsPerMinute\":100,\"burstLimit\":200,\"blockDuration\":300}) and enable it";
    let row = match setting(db, "rate_limiting") {
        Ok(Some(row)) => row,
        Ok(None) => {
            return p.done(
                Status::Fail,
                "no rate_limiting/global_settings row: rate limiting is not configured",
                json!({}),
                remedy,
            )
        }
        Err(why) => return p.done(Status::Fail, format!("rate limiting cannot be on: {why}"), json!({}), remedy),
    };
    let value = row.get("config_value").cloned().unwrap_or(Value::Null);
    let enabled = row.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let rpm = positive(&value, "requestsPerMinute");
    let burst = positive(&value, "burstLimit");
    let block = positive(&value, "blockDuration");
    let mut problems = Vec::new();
    if !enabled {
        problems.push("the setting is disabled".to_string());
    }
    for (name, v) in [("requestsPerMinute", rpm), ("burstLimit", burst), ("blockDuration", block)] {
        if v.is_none() {
            problems.push(format!("{name} is not a positive whole number"));
        }
    }
    let evidence = json!({ "enabled": enabled, "config_value": value, "updated_at": row.get("last_modified_at") });
    if problems.is_empty() {
        p.done(
            Status::Pass,
            format!(
                "rate limiting on: {} requests a minute, bursts of {}, blocks of {} s",
                rpm.unwrap(),
                burst.unwrap(),
                block.unwrap()
            ),
            evidence,
            remedy,
        )
    } else {
        p.done(Status::Fail, format!("rate limiting is not on: {}", problems.join("; ")), evidence, remedy)
    }
}

pub fn threat_detection(db: &Db) -> Check {
    let p = start(Category::Security, "threat_detection", Severity::Medium);
    let remedy = "set threat_detection/global_settings to \
                  {\"sqlInjectionDetection\":true,\"xssDetection\":true,\"commandInjectionDetection\":true} and enable it";
    let row = match setting(db, "threat_detection") {
        Ok(Some(row)) => row,
        Ok(None) => return p.done(Status::Fail, "no threat_detection/global_settings row", json!({}), remedy),
        Err(why) => return p.done(Status::Fail, format!("threat detection cannot be on: {why}"), json!({}), remedy),
    };
    let value = row.get("config_value").cloned().unwrap_or(Value::Null);
    let enabled = row.get("enabled").and_then(Value::as_bool).unwrap_or(true);
    let off: Vec<&str> = ["sqlInjectionDetection", "xssDetection", "commandInjectionDetection"]
        .into_iter()
        .filter(|k| value.get(*k).and_then(Value::as_bool) != Some(true))
        .collect();
    let evidence = json!({ "enabled": enabled, "config_value": value, "off": off });
    if enabled && off.is_empty() {
        p.done(Status::Pass, "SQL injection, XSS and command injection detection are on", evidence, remedy)
    } else if !enabled {
        p.done(Status::Fail, "threat detection is disabled", evidence, remedy)
    } else {
        p.done(Status::Fail, format!("threat detection is off for: {}", off.join(", ")), evidence, remedy)
    }
}
