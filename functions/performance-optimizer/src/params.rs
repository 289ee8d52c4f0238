//! Request parameters: the query string, or the fields of a guide-style `{"operation": ...}`
//! body. Parsed strictly (a value that is not what the endpoint takes is a 400, never a
//! silent default), with every field error reported at once.

use serde_json::{Map, Value};
use shared::http::percent_decode;
use shared::{FieldError, Problem, Request};
use std::ops::RangeInclusive;

/// The windows `timeRange` may name, in hours (the original's names, plus 30d).
pub const TIME_RANGES: [(&str, i32); 6] = [("1h", 1), ("6h", 6), ("12h", 12), ("24h", 24), ("7d", 168), ("30d", 720)];
pub const DEFAULT_TIME_RANGE: &str = "24h";

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

    /// `timeRange` (or `time_range`): its name and its length in hours.
    pub fn time_range(&mut self) -> (&'static str, i32) {
        let name = if self.raw("timeRange").is_some() { "timeRange" } else { "time_range" };
        let names: Vec<&'static str> = TIME_RANGES.iter().map(|(n, _)| *n).collect();
        let chosen = self.choice(name, &names).unwrap_or(DEFAULT_TIME_RANGE);
        TIME_RANGES.iter().find(|(n, _)| *n == chosen).copied().expect("a listed range")
    }

    /// A non-negative decimal with at most `scale` decimals (money and prices: never a float),
    /// or `None` when absent.
    pub fn decimal(&mut self, name: &str, scale: usize) -> Option<String> {
        let raw = self.raw(name)?.trim().to_string();
        let (whole, frac) = raw.split_once('.').unwrap_or((&raw, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() || whole.len() > 8 || !digits(whole) || !digits(frac) || frac.len() > scale
            || (raw.contains('.') && frac.is_empty())
        {
            self.error(
                name,
                "invalid_decimal",
                format!("{name} must be a non-negative decimal with at most {scale} decimals, not `{}`", clip(&raw)),
            );
            return None;
        }
        Some(raw)
    }

    /// Names present that are not in `known` (a body must not carry fields that are ignored).
    pub fn reject_unknown(&mut self, known: &[&str]) {
        let unknown: Vec<String> =
            self.fields.iter().map(|(k, _)| k.clone()).filter(|k| !known.contains(&k.as_str())).collect();
        for k in unknown {
            self.error(&k, "unknown_field", format!("`{}` is not a setting", clip(&k)));
        }
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

    /// Non-empty text of at most `max` characters, or `None` when absent.
    pub fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let raw = self.raw(name)?.to_string();
        if raw.is_empty() || raw.chars().count() > max {
            self.error(name, "invalid_length", format!("{name} must be 1 to {max} characters"));
            return None;
        }
        Some(raw)
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
    use shared::http::Method;

    fn req(query: &str) -> Request {
        Request {
            method: Method::Get,
            path: "/functions/v1/performance-optimizer/metrics".into(),
            sub_path: "/metrics".into(),
            query: query.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    #[test]
    fn time_ranges_have_their_hours_and_a_default() {
        let mut p = Params::from_query(&req(""));
        assert_eq!(p.time_range(), ("24h", 24));
        let mut p = Params::from_query(&req("timeRange=7d"));
        assert_eq!(p.time_range(), ("7d", 168));
        assert!(p.finish().is_ok());
        let mut p = Params::from_query(&req("timeRange=2h"));
        p.time_range();
        let e = p.finish().unwrap_err();
        assert_eq!((e.status, e.errors[0].field.as_str(), e.errors[0].code.as_str()), (400, "timeRange", "invalid_value"));
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let mut p = Params::from_query(&req("days=abc&iterations=0&via=lan&price=-1"));
        p.int("days", 30, 1..=90);
        p.int("iterations", 10, 1..=50);
        p.choice("via", &["internal", "public"]);
        p.decimal("price", 6);
        let fields: Vec<(String, String)> =
            p.finish().unwrap_err().errors.iter().map(|e| (e.field.clone(), e.code.clone())).collect();
        let want = [("days", "invalid_integer"), ("iterations", "out_of_range"), ("via", "invalid_value"), ("price", "invalid_decimal")];
        assert_eq!(fields, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn decimals_are_exact_text_with_bounded_scale() {
        let mut p = Params::from_query(&req("a=2&b=0.0000166667&c=1.&d=1e3&e=0.1234567"));
        assert_eq!(p.decimal("a", 6).as_deref(), Some("2"));
        assert_eq!(p.decimal("b", 10).as_deref(), Some("0.0000166667"));
        assert_eq!(p.decimal("c", 6), None);
        assert_eq!(p.decimal("d", 6), None);
        assert_eq!(p.decimal("e", 6), None);
        assert_eq!(p.finish().unwrap_err().errors.len(), 3);
    }

    #[test]
    fn body_fields_come_before_the_query() {
        let body: Map<String, Value> = serde_json::from_str(r#"{"operation":"metrics","timeRange":"1h","x":null}"#).unwrap();
        let mut p = Params::from_body(&body, &req("timeRange=7d"));
        assert_eq!(p.time_range(), ("1h", 1));
        assert!(p.finish().is_ok());
    }
}
