//! Request parameters of the admin views: the query string, or the fields of a guide-style `{"operation": ...}`
//! body. Parsed strictly (a value that is not what the endpoint takes is a 400, never a
//! silent default), with every field error reported at once.

use crate::http::percent_decode;
use crate::http::{FieldError, Problem, Request};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

/// Ids are lower-case or upper-case `8-4-4-4-12` hex: the same test as a token's subject.
pub use credentials::jwt::is_uuid;

/// Look-back window of the figures, in hours (default one day, at most 30 days).
pub const HOURS: RangeInclusive<i64> = 1..=720;
pub const DEFAULT_HOURS: i64 = 24;
/// Page size of every list.
pub const LIMIT: RangeInclusive<i64> = 1..=500;
pub const MAX_OFFSET: i64 = 1_000_000;

/// One page of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

pub struct Params {
    fields: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Params {
    /// The decoded query string (the first occurrence of a name wins).
    pub fn from_query(req: &Request) -> Params {
        let fields = req
            .query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Params { fields, errors: Vec::new() }
    }

    /// The fields of a JSON body (scalars as text), then the query string.
    pub fn from_body(body: &Map<String, Value>, req: &Request) -> Params {
        let mut params = Params::from_query(req);
        let body_fields = body.iter().filter_map(|(k, v)| {
            let text = match v {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((k.clone(), text))
        });
        params.fields = body_fields.chain(params.fields).collect();
        params
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn error(&mut self, name: &str, code: &str, message: String) {
        self.errors.push(FieldError::new(name, code, message));
    }

    /// An integer in `range`, `default` when absent.
    pub fn int(&mut self, name: &str, default: i64, range: RangeInclusive<i64>) -> i64 {
        let Some(raw) = self.raw(name).map(str::trim).map(str::to_string) else { return default };
        match raw.parse::<i64>() {
            Ok(n) if range.contains(&n) => n,
            Ok(_) => {
                self.error(
                    name,
                    "out_of_range",
                    format!("{name} must be between {} and {}", range.start(), range.end()),
                );
                default
            }
            Err(_) => {
                self.error(name, "invalid_integer", format!("{name} must be a whole number, not `{}`", clip(&raw)));
                default
            }
        }
    }

    /// The look-back window in hours.
    pub fn hours(&mut self) -> i32 {
        self.int("hours", DEFAULT_HOURS, HOURS) as i32
    }

    pub fn page(&mut self, default_limit: i64) -> Page {
        Page { limit: self.int("limit", default_limit, LIMIT), offset: self.int("offset", 0, 0..=MAX_OFFSET) }
    }

    /// One of `allowed`, or `None` when absent.
    pub fn choice(&mut self, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let raw = self.raw(name)?.to_string();
        match allowed.iter().find(|a| **a == raw) {
            Some(a) => Some(a),
            None => {
                self.error(
                    name,
                    "invalid_value",
                    format!("{name} must be one of {}, not `{}`", allowed.join(", "), clip(&raw)),
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        match self.raw(name)? {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                let message = format!("{name} must be true or false, not `{}`", clip(other));
                self.error(name, "invalid_boolean", message);
                None
            }
        }
    }

    /// A finite number in `range`, `default` when absent.
    pub fn number(&mut self, name: &str, default: f64, range: RangeInclusive<f64>) -> f64 {
        let Some(raw) = self.raw(name).map(str::trim).map(str::to_string) else { return default };
        match raw.parse::<f64>() {
            Ok(n) if n.is_finite() && range.contains(&n) => n,
            _ => {
                let message =
                    format!("{name} must be a number from {} to {}, not `{}`", range.start(), range.end(), clip(&raw));
                self.error(name, "invalid_number", message);
                default
            }
        }
    }

    /// Non-empty text of at most `max` characters, or `None` when absent.
    pub fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let raw = self.raw(name)?.to_string();
        if raw.is_empty() || raw.chars().count() > max {
            self.error(name, "invalid_length", format!("{name} must be 1 to {max} characters"));
            return None;
        }
        Some(raw)
    }

    /// A non-negative decimal with at most `scale` decimals and 8 whole digits, kept as text
    /// (prices and money go to SQL `numeric`, never through a float), or `None` when absent.
    pub fn decimal(&mut self, name: &str, scale: usize) -> Option<String> {
        let raw = self.raw(name)?.trim().to_string();
        let (whole, frac) = raw.split_once('.').unwrap_or((&raw, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        let valid = !whole.is_empty()
            && whole.len() <= 8
            && digits(whole)
            && digits(frac)
            && frac.len() <= scale
            && !(raw.contains('.') && frac.is_empty());
        if !valid {
            let message =
                format!("{name} must be a non-negative decimal with at most {scale} decimals, not `{}`", clip(&raw));
            self.error(name, "invalid_decimal", message);
            return None;
        }
        Some(raw)
    }

    /// Every field not in `known` is an `unknown_field` error (a body must not carry settings
    /// that would be silently ignored).
    pub fn reject_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> =
            self.fields.iter().map(|(k, _)| k.clone()).filter(|k| !known.contains(&k.as_str())).collect();
        for k in unknown {
            self.error(&k, "unknown_field", format!("`{}` is not a known field", clip(&k)));
        }
    }

    /// `Ok` when every parameter was valid; otherwise one 400 listing them all.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

/// The deployment guide's form of calling a sub-operation: `POST {"operation": NAME, ...}` to
/// a function's bare path. Returns which of `names` it names (`_` and `-` are the same) and
/// the body's other fields, its parameters; a 400 without a name, a 404 for an unknown one,
/// each listing the names in the guide's spelling.
pub fn operation<'a>(req: &Request, names: &[&'a str]) -> Result<(&'a str, Map<String, Value>), Problem> {
    let mut body: Map<String, Value> = req.json()?;
    let listed = || names.iter().map(|n| n.replace('-', "_")).collect::<Vec<_>>().join(", ");
    let name = match body.remove("operation") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(Problem::validation(vec![FieldError::new(
                "operation",
                "required",
                format!("operation must name one of: {}", listed()),
            )]))
        }
    };
    let wanted = name.replace('-', "_");
    match names.iter().find(|n| n.replace('-', "_") == wanted) {
        Some(n) => Ok((n, body)),
        None => Err(Problem::new(404, "route_not_found", "No such endpoint").detail(format!(
            "operation `{}` is not one of: {}",
            clip(&name),
            listed()
        ))),
    }
}

/// An id from the path (a dead-letter entry, an incident...): a uuid, or a 400 naming the field `id`.
pub fn path_id(segment: &str) -> Result<String, Problem> {
    if is_uuid(segment) {
        Ok(segment.to_ascii_lowercase())
    } else {
        Err(Problem::validation(vec![FieldError::new(
            "id",
            "invalid_uuid",
            format!("`{}` is not a uuid", clip(segment)),
        )]))
    }
}

/// Input echoed in a message is cut short.
fn clip(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn req(query: &str) -> Request {
        Request {
            method: Method::Get,
            path: "/functions/v1/webhook-monitor/overview".into(),
            sub_path: "/overview".into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn absent_parameters_take_their_defaults() {
        let mut p = Params::from_query(&req(""));
        assert_eq!(p.hours(), 24);
        assert_eq!(p.page(50), Page { limit: 50, offset: 0 });
        assert_eq!(p.choice("status", &["open", "all"]), None);
        assert_eq!(p.boolean("signature_valid"), None);
        assert!(p.finish().is_ok());
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let mut p = Params::from_query(&req("hours=abc&limit=0&offset=-1&status=closed&signature_valid=yes&event_id="));
        p.hours();
        p.page(50);
        p.choice("status", &["open", "resolved", "all"]);
        p.boolean("signature_valid");
        p.text("event_id", 255);
        let problem = p.finish().unwrap_err();
        assert_eq!(problem.status, 400);
        let fields: Vec<(&str, &str)> = problem.errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            fields,
            vec![
                ("hours", "invalid_integer"),
                ("limit", "out_of_range"),
                ("offset", "out_of_range"),
                ("status", "invalid_value"),
                ("signature_valid", "invalid_boolean"),
                ("event_id", "invalid_length"),
            ]
        );
    }

    #[test]
    fn numbers_are_finite_and_in_range() {
        let mut p = Params::from_query(&req("z=2.5"));
        assert_eq!(p.number("z", 3.0, 1.0..=10.0), 2.5);
        assert_eq!(p.number("absent", 3.0, 1.0..=10.0), 3.0);
        assert!(p.finish().is_ok());
        for bad in ["z=0.5", "z=NaN", "z=inf", "z=abc"] {
            let mut p = Params::from_query(&req(bad));
            p.number("z", 3.0, 1.0..=10.0);
            assert_eq!(p.finish().unwrap_err().errors[0].code, "invalid_number", "{bad}");
        }
    }

    #[test]
    fn hours_are_bounded_to_thirty_days() {
        let mut p = Params::from_query(&req("hours=720"));
        assert_eq!(p.hours(), 720);
        assert!(p.finish().is_ok());
        let mut p = Params::from_query(&req("hours=721"));
        p.hours();
        assert_eq!(p.finish().unwrap_err().errors[0].code, "out_of_range");
    }

    #[test]
    fn body_fields_come_before_the_query() {
        let body: Map<String, Value> = serde_json::from_str(r#"{"operation":"overview","hours":48,"x":null}"#).unwrap();
        let mut p = Params::from_body(&body, &req("hours=12&limit=7"));
        assert_eq!(p.hours(), 48);
        assert_eq!(p.page(50).limit, 7);
        assert!(p.finish().is_ok());
    }

    #[test]
    fn path_ids_must_be_uuids() {
        assert_eq!(path_id("5F0C2B7E-5D41-4A8E-9B6F-1C2D3E4F5A6B").unwrap(), "5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b");
        let p = path_id("42").unwrap_err();
        assert_eq!((p.status, p.errors[0].field.as_str()), (400, "id"));
    }

    #[test]
    fn decimals_are_exact_text_with_bounded_scale() {
        let mut p = Params::from_query(&req("a=2&b=0.0000166667&c=1.&d=1e3&e=0.1234567&f=-1&g=123456789"));
        assert_eq!(p.decimal("a", 6).as_deref(), Some("2"));
        assert_eq!(p.decimal("b", 10).as_deref(), Some("0.0000166667"));
        for name in ["c", "d", "e", "f", "g"] {
            assert_eq!(p.decimal(name, 6), None, "{name}");
        }
        let codes: Vec<String> = p.finish().unwrap_err().errors.iter().map(|e| e.code.clone()).collect();
        assert_eq!(codes, vec!["invalid_decimal"; 5]);
    }

    #[test]
    fn unknown_fields_are_named() {
        let body: Map<String, Value> = serde_json::from_str(r#"{"price":"1","colour":"red"}"#).unwrap();
        let mut p = Params::from_body(&body, &req(""));
        p.reject_unknown(&["price"]);
        let e = p.finish().unwrap_err();
        assert_eq!(
            (e.errors.len(), e.errors[0].field.as_str(), e.errors[0].code.as_str()),
            (1, "colour", "unknown_field")
        );
    }
}
