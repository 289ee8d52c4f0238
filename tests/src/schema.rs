//! A checker for the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that openapi.yaml
//! is written in: `$ref` to `#/components/schemas/...`, `type` (one or a list, `null`
//! included), `properties`, `required`, `additionalProperties`, `items`, `enum`, `const`,
//! `oneOf` / `anyOf` / `allOf`, lengths, bounds, `pattern` and the formats `uuid`, `date`,
//! `date-time`. A keyword it does not know is an error, so nothing is skipped silently.

use serde_json::Value;

const ANNOTATIONS: &[&str] =
    &["description", "title", "example", "examples", "default", "deprecated", "readOnly", "writeOnly"];
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "oneOf",
    "anyOf",
    "allOf",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "minItems",
    "maxItems",
    "pattern",
    "format",
];

/// An OpenAPI document (as JSON) whose component schemas `$ref`s point into.
pub struct Checker<'a> {
    pub doc: &'a Value,
}

impl Checker<'_> {
    /// Every way `value` breaks `schema`, each as `path: what` (empty when it fits).
    pub fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        self.check(schema, value, "$", &mut errs, 0);
        errs
    }

    fn resolve<'s>(&'s self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        self.doc.pointer(pointer)
    }

    fn check(&self, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>, depth: usize) {
        if depth > 64 {
            errs.push(format!("{path}: schema nesting too deep (a $ref loop?)"));
            return;
        }
        let s = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errs.push(format!("{path}: nothing is allowed here"));
                return;
            }
            Value::Object(s) => s,
            other => {
                errs.push(format!("{path}: a schema must be an object, not {other}"));
                return;
            }
        };
        for k in s.keys() {
            if !KEYWORDS.contains(&k.as_str()) && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-") {
                errs.push(format!("{path}: the checker does not know the keyword {k}"));
            }
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            match self.resolve(r) {
                Some(target) => self.check(target, v, path, errs, depth + 1),
                None => errs.push(format!("{path}: $ref {r} points at nothing")),
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            if !types.iter().any(|t| type_matches(t, v)) {
                errs.push(format!("{path}: {} is not of type {}", short(v), types.join(" | ")));
                return;
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                errs.push(format!("{path}: {} is not one of {}", short(v), Value::Array(e.clone())));
            }
        }
        if let Some(c) = s.get("const") {
            if c != v {
                errs.push(format!("{path}: {} is not {c}", short(v)));
            }
        }
        for (key, all) in [("allOf", true), ("anyOf", false), ("oneOf", false)] {
            let Some(alts) = s.get(key).and_then(Value::as_array) else { continue };
            let fits: Vec<Vec<String>> = alts
                .iter()
                .map(|alt| {
                    let mut e = Vec::new();
                    self.check(alt, v, path, &mut e, depth + 1);
                    e
                })
                .collect();
            let n = fits.iter().filter(|e| e.is_empty()).count();
            match key {
                "allOf" if all && n != alts.len() => errs.extend(fits.into_iter().flatten()),
                "anyOf" if n == 0 => errs.push(format!("{path}: {} fits none of anyOf: {}", short(v), summary(&fits))),
                "oneOf" if n != 1 => {
                    errs.push(format!("{path}: {} fits {n} of oneOf, not exactly one: {}", short(v), summary(&fits)))
                }
                _ => {}
            }
        }
        match v {
            Value::Object(obj) => {
                for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let r = r.as_str().unwrap_or_default();
                    if !obj.contains_key(r) {
                        errs.push(format!("{path}: required member {r} is missing"));
                    }
                }
                let props = s.get("properties").and_then(Value::as_object);
                for (k, val) in obj {
                    let child = format!("{path}.{k}");
                    match props.and_then(|p| p.get(k)) {
                        Some(ps) => self.check(ps, val, &child, errs, depth + 1),
                        None => match s.get("additionalProperties") {
                            Some(Value::Bool(false)) => errs.push(format!("{path}: member {k} is not described")),
                            Some(extra @ Value::Object(_)) => self.check(extra, val, &child, errs, depth + 1),
                            _ => {}
                        },
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = s.get("items") {
                    for (i, val) in items.iter().enumerate() {
                        self.check(item, val, &format!("{path}[{i}]"), errs, depth + 1);
                    }
                }
                bound(s, "minItems", items.len() as f64, path, errs, |n, m| n >= m);
                bound(s, "maxItems", items.len() as f64, path, errs, |n, m| n <= m);
            }
            Value::String(text) => {
                let chars = text.chars().count() as f64;
                bound(s, "minLength", chars, path, errs, |n, m| n >= m);
                bound(s, "maxLength", chars, path, errs, |n, m| n <= m);
                if let Some(p) = s.get("pattern").and_then(Value::as_str) {
                    match regex::Regex::new(p) {
                        Ok(re) if !re.is_match(text) => errs.push(format!("{path}: {text:?} does not match {p}")),
                        Err(e) => errs.push(format!("{path}: pattern {p} is not a regex: {e}")),
                        _ => {}
                    }
                }
                if let Some(f) = s.get("format").and_then(Value::as_str) {
                    if !format_matches(f, text) {
                        errs.push(format!("{path}: {text:?} is not a {f}"));
                    }
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                bound(s, "minimum", n, path, errs, |n, m| n >= m);
                bound(s, "maximum", n, path, errs, |n, m| n <= m);
                bound(s, "exclusiveMinimum", n, path, errs, |n, m| n > m);
            }
            _ => {}
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

fn format_matches(format: &str, text: &str) -> bool {
    let re = match format {
        "uuid" => r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        "date" => r"^\d{4}-\d{2}-\d{2}$",
        "date-time" => r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$",
        // Other formats (email, uri, binary, ...) are annotations here.
        _ => return true,
    };
    regex::Regex::new(re).unwrap().is_match(text)
}

fn bound(
    s: &serde_json::Map<String, Value>,
    key: &str,
    n: f64,
    path: &str,
    errs: &mut Vec<String>,
    ok: fn(f64, f64) -> bool,
) {
    if let Some(m) = s.get(key).and_then(Value::as_f64) {
        if !ok(n, m) {
            errs.push(format!("{path}: {n} breaks {key} {m}"));
        }
    }
}

fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 80 {
        format!("{}…", t.chars().take(80).collect::<String>())
    } else {
        t
    }
}

fn summary(alternatives: &[Vec<String>]) -> String {
    alternatives.iter().map(|e| e.first().cloned().unwrap_or_default()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"components": {"schemas": {
            "Money": {"type": "string", "pattern": "^-?\\d+\\.\\d{2}$"},
            "Quote": {"type": "object", "required": ["id", "total"], "additionalProperties": false, "properties": {
                "id": {"type": "string", "format": "uuid"},
                "total": {"$ref": "#/components/schemas/Money"},
                "status": {"type": "string", "enum": ["draft", "sent"]},
                "notes": {"type": ["string", "null"], "maxLength": 5},
                "items": {"type": "array", "items": {"type": "integer", "minimum": 0}}
            }}
        }}})
    }

    fn errors(v: Value) -> Vec<String> {
        let d = doc();
        Checker { doc: &d }.errors(&json!({"$ref": "#/components/schemas/Quote"}), &v)
    }

    #[test]
    fn a_fitting_value_has_no_errors() {
        let e = errors(
            json!({"id": "de300000-0000-4000-8000-00000000a001", "total": "1.50", "status": "sent", "notes": null, "items": [0, 3]}),
        );
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn each_broken_rule_is_reported_with_its_path() {
        let e = errors(
            json!({"id": "Q-1", "total": 1.5, "status": "lost", "notes": "too long", "items": [-1, "x"], "extra": 1}),
        );
        let want = [
            "$.id: \"Q-1\" is not a uuid",
            "$.total: 1.5 is not of type string",
            "$.status: \"lost\" is not one of",
            "$.notes: 8 breaks maxLength 5",
            "$.items[0]: -1 breaks minimum 0",
            "$.items[1]: \"x\" is not of type integer",
            "$: member extra is not described",
        ];
        for w in want {
            assert!(e.iter().any(|x| x.starts_with(w)), "{w} not in {e:#?}");
        }
        assert!(errors(json!({"id": "de300000-0000-4000-8000-00000000a001"}))
            .iter()
            .any(|x| x == "$: required member total is missing"));
    }

    #[test]
    fn unknown_keywords_and_dangling_refs_are_errors() {
        let d = doc();
        let c = Checker { doc: &d };
        assert!(!c.errors(&json!({"type": "string", "contentEncoding": "base64"}), &json!("x")).is_empty());
        assert!(!c.errors(&json!({"$ref": "#/components/schemas/Nope"}), &json!("x")).is_empty());
        assert!(c.errors(&json!({"oneOf": [{"type": "string"}, {"type": "integer"}]}), &json!(3)).is_empty());
        assert!(!c.errors(&json!({"oneOf": [{"type": "number"}, {"type": "integer"}]}), &json!(3)).is_empty());
    }
}
