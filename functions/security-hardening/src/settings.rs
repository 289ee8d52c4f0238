//! What `security_configuration` may hold: each category's value is checked against its
//! schema before it is stored, so the middleware never reads a setting it cannot apply.
//! Unknown keys, wrong types and out-of-range numbers are refused with every error at once.

use serde_json::{Map, Value};
use shared::FieldError;

/// The categories this function manages, and their keys.
pub const CATEGORIES: &[&str] = &["rate_limiting", "threat_detection", "incident_response"];
pub const EVENT_TYPES: &[&str] = &[
    "suspicious_activity",
    "failed_authentication",
    "unauthorized_access",
    "data_breach_attempt",
    "injection_attempt",
    "rate_limit_exceeded",
    "privilege_escalation",
    "configuration_change",
];
pub const THREAT_LEVELS: &[&str] = &["low", "medium", "high", "critical"];
pub const AUTO_RESPONSES: &[&str] = &["temporary_block", "immediate_block", "alert_admin", "log_only"];

/// The key a category's value lives under when none is given.
pub fn default_key(category: &str) -> Option<&'static str> {
    match category {
        "rate_limiting" | "threat_detection" => Some("global_settings"),
        _ => None,
    }
}

/// Check `value` (already merged with the stored one) for `category` / `key`.
pub fn validate(category: &str, key: &str, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(object) = value.as_object() else {
        errors.push(FieldError::new("value", "invalid_type", "value must be a JSON object"));
        return errors;
    };
    match (category, key) {
        ("rate_limiting", "global_settings") => {
            known_keys(object, &["requestsPerMinute", "burstLimit", "blockDuration"], &mut errors);
            integer(object, "requestsPerMinute", 1, 1_000_000, true, &mut errors);
            integer(object, "burstLimit", 1, 10_000_000, true, &mut errors);
            integer(object, "blockDuration", 0, 7 * 86_400, true, &mut errors);
        }
        ("threat_detection", "global_settings") => {
            let keys = ["sqlInjectionDetection", "xssDetection", "commandInjectionDetection"];
            known_keys(object, &keys, &mut errors);
            for k in keys {
                match object.get(k) {
                    Some(Value::Bool(_)) => {}
                    Some(_) => errors.push(FieldError::new(
                        format!("value.{k}"),
                        "invalid_type",
                        format!("{k} must be true or false"),
                    )),
                    None => errors.push(FieldError::new(format!("value.{k}"), "required", format!("{k} is required"))),
                }
            }
        }
        ("incident_response", event) if EVENT_TYPES.contains(&event) => {
            known_keys(object, &["threat_level", "auto_response", "block_seconds"], &mut errors);
            one_of(object, "threat_level", THREAT_LEVELS, &mut errors);
            one_of(object, "auto_response", AUTO_RESPONSES, &mut errors);
            integer(object, "block_seconds", 1, 30 * 86_400, false, &mut errors);
        }
        ("incident_response", _) => errors.push(FieldError::new(
            "key",
            "invalid_value",
            format!("incident_response keys are event types: {}", EVENT_TYPES.join(", ")),
        )),
        _ => errors.push(FieldError::new("key", "invalid_value", format!("{category} has one key: global_settings"))),
    }
    errors
}

fn known_keys(object: &Map<String, Value>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    for k in object.keys() {
        if !allowed.contains(&k.as_str()) {
            let shown: String = k.chars().take(40).collect();
            errors.push(FieldError::new(
                format!("value.{shown}"),
                "unknown_field",
                format!("`{shown}` is not a setting; allowed: {}", allowed.join(", ")),
            ));
        }
    }
}

fn integer(object: &Map<String, Value>, k: &str, min: i64, max: i64, required: bool, errors: &mut Vec<FieldError>) {
    match object.get(k) {
        None if !required => {}
        None => errors.push(FieldError::new(format!("value.{k}"), "required", format!("{k} is required"))),
        Some(v) => match v.as_i64() {
            Some(n) if (min..=max).contains(&n) => {}
            Some(_) => errors.push(FieldError::new(
                format!("value.{k}"),
                "out_of_range",
                format!("{k} must be between {min} and {max}"),
            )),
            None => errors.push(FieldError::new(
                format!("value.{k}"),
                "invalid_type",
                format!("{k} must be a whole number"),
            )),
        },
    }
}

fn one_of(object: &Map<String, Value>, k: &str, allowed: &[&str], errors: &mut Vec<FieldError>) {
    match object.get(k) {
        None => errors.push(FieldError::new(format!("value.{k}"), "required", format!("{k} is required"))),
        Some(v) if v.as_str().is_some_and(|s| allowed.contains(&s)) => {}
        Some(_) => errors.push(FieldError::new(
            format!("value.{k}"),
            "invalid_value",
            format!("{k} must be one of {}", allowed.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| format!("{}:{}", e.field, e.code)).collect()
    }

    #[test]
    fn the_guides_values_are_valid() {
        let rl = json!({"requestsPerMinute": 100, "burstLimit": 200, "blockDuration": 300});
        assert!(validate("rate_limiting", "global_settings", &rl).is_empty());
        let td = json!({"sqlInjectionDetection": true, "xssDetection": true, "commandInjectionDetection": true});
        assert!(validate("threat_detection", "global_settings", &td).is_empty());
        let ir = json!({"threat_level": "critical", "auto_response": "immediate_block"});
        assert!(validate("incident_response", "injection_attempt", &ir).is_empty());
    }

    #[test]
    fn every_mistake_is_reported() {
        let rl = json!({"requestsPerMinute": 0, "burstLimit": "200", "extra": 1});
        let got = fields(&validate("rate_limiting", "global_settings", &rl));
        assert_eq!(
            got,
            [
                "value.extra:unknown_field",
                "value.requestsPerMinute:out_of_range",
                "value.burstLimit:invalid_type",
                "value.blockDuration:required"
            ]
        );
        let td = json!({"xssDetection": "yes", "sqlInjectionDetection": true});
        assert_eq!(
            fields(&validate("threat_detection", "global_settings", &td)),
            ["value.xssDetection:invalid_type", "value.commandInjectionDetection:required"]
        );
        let ir = json!({"threat_level": "severe", "auto_response": "nuke", "block_seconds": 0});
        assert_eq!(
            fields(&validate("incident_response", "injection_attempt", &ir)),
            [
                "value.threat_level:invalid_value",
                "value.auto_response:invalid_value",
                "value.block_seconds:out_of_range"
            ]
        );
        assert_eq!(fields(&validate("incident_response", "made_up", &ir)), ["key:invalid_value"]);
        assert_eq!(fields(&validate("rate_limiting", "global_settings", &json!([1]))), ["value:invalid_type"]);
    }
}
