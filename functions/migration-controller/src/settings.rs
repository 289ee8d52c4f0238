//! The parameters of a new migration (`initialize_migration`), validated all at once: every
//! wrong field is reported, and nothing is stored unless all are right.

use crate::routes::Body;
use serde_json::{json, Value};
use shared::canary::COVERABLE;
use shared::{FieldError, Problem};

/// The guide's plan: 5 → 25 → 50 → 100.
pub const DEFAULT_PLAN: [i64; 4] = [5, 25, 50, 100];
/// The guide monitors each step for 15 minutes.
pub const DEFAULT_BAKE_SECONDS: i64 = 900;
pub const DEFAULT_MIN_SAMPLES: i64 = 100;

/// Gate thresholds (SPEC: green error rate ≤ 1 % and not worse than blue by more than a
/// margin; green p95 ≤ 1.5 × blue p95; fewer than 5 consecutive failed health checks).
///
/// A latency regression must be relative *and* absolute: green p95 over `max_p95_ratio` ×
/// blue's and at least `min_p95_increase_ms` more, judged only with `min_latency_samples`
/// timings on each side. On a fast service a ratio alone turns noise into rollbacks (a few
/// milliseconds of scheduling delay is "3 ×"); an absolute margin alone would miss a slow
/// service getting slower.
#[derive(Debug, Clone, PartialEq)]
pub struct Gates {
    pub max_error_rate: f64,
    pub error_rate_margin: f64,
    pub max_p95_ratio: f64,
    pub min_p95_increase_ms: f64,
    pub min_latency_samples: i64,
    pub max_failed_health_checks: i64,
}

impl Default for Gates {
    fn default() -> Gates {
        Gates {
            max_error_rate: 0.01,
            error_rate_margin: 0.005,
            max_p95_ratio: 1.5,
            min_p95_increase_ms: 50.0,
            min_latency_samples: 20,
            max_failed_health_checks: 5,
        }
    }
}

impl Gates {
    pub fn to_json(&self) -> Value {
        json!({
            "max_error_rate": self.max_error_rate,
            "error_rate_margin": self.error_rate_margin,
            "max_p95_ratio": self.max_p95_ratio,
            "min_p95_increase_ms": self.min_p95_increase_ms,
            "min_latency_samples": self.min_latency_samples,
            "max_failed_health_checks": self.max_failed_health_checks,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub target_percent: i64,
    pub plan: Vec<i64>,
    pub bake_seconds: i64,
    pub min_samples: i64,
    pub gates: Gates,
    pub functions: Vec<String>,
    pub reason: String,
}

const FIELDS: [&str; 7] =
    ["target_traffic_percent", "steps", "bake_time_seconds", "min_samples", "gates", "functions", "reason"];
const GATE_FIELDS: [&str; 6] = [
    "max_error_rate",
    "error_rate_margin",
    "max_p95_ratio",
    "min_p95_increase_ms",
    "min_latency_samples",
    "max_failed_health_checks",
];

pub fn parse(body: &Body) -> Result<Settings, Problem> {
    let mut errors = Vec::new();
    for k in body.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(FieldError::new(
            k.as_str(),
            "unknown_field",
            format!("`{}` is not a parameter of initialize_migration; known: {}", clip(k), FIELDS.join(", ")),
        ));
    }
    let plan = match body.get("steps") {
        None | Some(Value::Null) => DEFAULT_PLAN.to_vec(),
        Some(Value::Array(items)) => {
            let steps: Vec<Option<i64>> = items.iter().map(Value::as_i64).collect();
            let ok = !steps.is_empty()
                && steps.len() <= 20
                && steps.iter().all(|s| s.is_some_and(|s| (1..=100).contains(&s)))
                && steps.windows(2).all(|w| w[0] < w[1])
                && steps.last() == Some(&Some(100));
            if !ok {
                errors.push(FieldError::new(
                    "steps",
                    "invalid_plan",
                    "steps must be 1 to 20 whole percentages, strictly increasing, each 1–100, ending at 100",
                ));
            }
            steps.into_iter().flatten().collect()
        }
        Some(_) => {
            errors.push(FieldError::new("steps", "invalid_plan", "steps must be an array of percentages"));
            Vec::new()
        }
    };
    let first = plan.first().copied().unwrap_or(DEFAULT_PLAN[0]);
    let target_percent = int(body, "target_traffic_percent", first, 1, 100, &mut errors);
    let bake_seconds = int(body, "bake_time_seconds", DEFAULT_BAKE_SECONDS, 1, 86_400, &mut errors);
    let min_samples = int(body, "min_samples", DEFAULT_MIN_SAMPLES, 1, 1_000_000, &mut errors);

    let mut gates = Gates::default();
    match body.get("gates") {
        None | Some(Value::Null) => {}
        Some(Value::Object(g)) => {
            for k in g.keys().filter(|k| !GATE_FIELDS.contains(&k.as_str())) {
                errors.push(FieldError::new(
                    format!("gates.{}", clip(k)),
                    "unknown_field",
                    format!("known gates: {}", GATE_FIELDS.join(", ")),
                ));
            }
            gates.max_error_rate = number(g, "max_error_rate", gates.max_error_rate, 0.0, 1.0, &mut errors);
            gates.error_rate_margin = number(g, "error_rate_margin", gates.error_rate_margin, 0.0, 1.0, &mut errors);
            gates.max_p95_ratio = number(g, "max_p95_ratio", gates.max_p95_ratio, 1.0, 100.0, &mut errors);
            gates.min_p95_increase_ms =
                number(g, "min_p95_increase_ms", gates.min_p95_increase_ms, 0.0, 60_000.0, &mut errors);
            gates.min_latency_samples =
                int_in(g, "min_latency_samples", gates.min_latency_samples, 1, 1_000_000, &mut errors);
            gates.max_failed_health_checks =
                int(g, "max_failed_health_checks", gates.max_failed_health_checks, 1, 100, &mut errors);
        }
        Some(_) => errors.push(FieldError::new("gates", "invalid_type", "gates must be an object")),
    }

    let functions = match body.get("functions") {
        None | Some(Value::Null) => COVERABLE.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) => {
            let names: Vec<Option<&str>> = items.iter().map(Value::as_str).collect();
            let known = names.iter().all(|n| n.is_some_and(|n| COVERABLE.contains(&n)));
            let mut unique: Vec<&str> = names.iter().flatten().copied().collect();
            unique.sort_unstable();
            unique.dedup();
            if names.is_empty() || !known || unique.len() != names.len() {
                errors.push(FieldError::new(
                    "functions",
                    "invalid_functions",
                    format!("functions must be distinct names among: {}", COVERABLE.join(", ")),
                ));
            }
            names.into_iter().flatten().map(str::to_string).collect()
        }
        Some(_) => {
            errors.push(FieldError::new("functions", "invalid_functions", "functions must be an array of names"));
            Vec::new()
        }
    };
    let reason = reason(body, "migration started", &mut errors);
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(Settings { target_percent, plan, bake_seconds, min_samples, gates, functions, reason })
}

/// An optional free-text reason (1–500 characters).
pub fn reason(body: &Body, default: &str, errors: &mut Vec<FieldError>) -> String {
    match body.get("reason") {
        None | Some(Value::Null) => default.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 500 => s.trim().to_string(),
        Some(_) => {
            errors.push(FieldError::new("reason", "invalid_reason", "reason must be a text of 1 to 500 characters"));
            default.to_string()
        }
    }
}

/// A whole number in `lo..=hi` (JSON number, or a digit string from a query), `default` when absent.
pub fn int(body: &Body, name: &str, default: i64, lo: i64, hi: i64, errors: &mut Vec<FieldError>) -> i64 {
    let value = match body.get(name) {
        None | Some(Value::Null) => return default,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(_) => None,
    };
    match value {
        Some(v) if (lo..=hi).contains(&v) => v,
        Some(_) => {
            errors.push(FieldError::new(name, "out_of_range", format!("{name} must be between {lo} and {hi}")));
            default
        }
        None => {
            errors.push(FieldError::new(name, "invalid_integer", format!("{name} must be a whole number")));
            default
        }
    }
}

/// [`int`] for a field of `gates` (reported as `gates.NAME`).
fn int_in(gates: &Body, name: &str, default: i64, lo: i64, hi: i64, errors: &mut Vec<FieldError>) -> i64 {
    let mut found = Vec::new();
    let value = int(gates, name, default, lo, hi, &mut found);
    errors.extend(found.into_iter().map(|e| FieldError { field: format!("gates.{name}"), ..e }));
    value
}

fn number(body: &Body, name: &str, default: f64, lo: f64, hi: f64, errors: &mut Vec<FieldError>) -> f64 {
    let field = format!("gates.{name}");
    match body.get(name) {
        None | Some(Value::Null) => default,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && (lo..=hi).contains(&v) => v,
            _ => {
                errors.push(FieldError::new(field, "out_of_range", format!("{name} must be between {lo} and {hi}")));
                default
            }
        },
        Some(_) => {
            errors.push(FieldError::new(field, "invalid_number", format!("{name} must be a number")));
            default
        }
    }
}

fn clip(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Body {
        v.as_object().unwrap().clone()
    }

    fn fields(p: Problem) -> Vec<String> {
        p.to_json()["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn the_guides_call_takes_the_defaults() {
        let s = parse(&body(json!({"target_traffic_percent": 5}))).unwrap();
        assert_eq!(s.target_percent, 5);
        assert_eq!(s.plan, vec![5, 25, 50, 100]);
        assert_eq!(s.bake_seconds, 900);
        assert_eq!(s.gates, Gates::default());
        assert_eq!(s.functions.len(), COVERABLE.len());
        assert_eq!(parse(&Body::new()).unwrap().target_percent, 5);
    }

    #[test]
    fn everything_wrong_is_reported_at_once() {
        let p = parse(&body(json!({
            "target_traffic_percent": 0, "steps": [50, 25, 100], "bake_time_seconds": "soon",
            "min_samples": -1, "gates": {"max_error_rate": 2, "max_p95_ratio": 0.5, "min_p95_increase_ms": -5,
                                          "min_latency_samples": 0, "bogus": 1},
            "functions": ["migration-controller"], "reason": "", "extra": true
        })))
        .unwrap_err();
        assert_eq!(p.status, 400);
        let f = fields(p);
        for name in [
            "target_traffic_percent",
            "steps",
            "bake_time_seconds",
            "min_samples",
            "gates.max_error_rate",
            "gates.max_p95_ratio",
            "gates.min_p95_increase_ms",
            "gates.min_latency_samples",
            "gates.bogus",
            "functions",
            "reason",
            "extra",
        ] {
            assert!(f.contains(&name.to_string()), "{name} missing from {f:?}");
        }
    }

    #[test]
    fn plans_must_rise_to_100() {
        assert!(parse(&body(json!({"steps": [10, 100]}))).is_ok());
        assert!(parse(&body(json!({"steps": [10, 50]}))).is_err());
        assert!(parse(&body(json!({"steps": []}))).is_err());
        assert!(parse(&body(json!({"steps": [10, 10, 100]}))).is_err());
        assert!(parse(&body(json!({"functions": ["quote-processor", "quote-processor"]}))).is_err());
    }
}
