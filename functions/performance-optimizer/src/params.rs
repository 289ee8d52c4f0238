//! Request parameters: `shared::params` (the query string, or the fields of a guide-style
//! `{"operation": ...}` body, parsed strictly with every error reported at once), plus the
//! original's `timeRange` names.

pub use shared::params::Params;

/// The windows `timeRange` may name, in hours (the original's names, plus 30d).
pub const TIME_RANGES: [(&str, i32); 6] = [("1h", 1), ("6h", 6), ("12h", 12), ("24h", 24), ("7d", 168), ("30d", 720)];
pub const DEFAULT_TIME_RANGE: &str = "24h";

/// `timeRange` (or `time_range`): its name and its length in hours.
pub fn time_range(params: &mut Params) -> (&'static str, i32) {
    let names: Vec<&'static str> = TIME_RANGES.iter().map(|(n, _)| *n).collect();
    let chosen = params
        .choice("timeRange", &names)
        .or_else(|| params.choice("time_range", &names))
        .unwrap_or(DEFAULT_TIME_RANGE);
    TIME_RANGES.iter().find(|(n, _)| *n == chosen).copied().expect("a listed range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};
    use shared::http::Method;
    use shared::Request;

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
        assert_eq!(time_range(&mut p), ("24h", 24));
        let mut p = Params::from_query(&req("timeRange=7d"));
        assert_eq!(time_range(&mut p), ("7d", 168));
        assert!(p.finish().is_ok());
        let mut p = Params::from_query(&req("time_range=1h"));
        assert_eq!(time_range(&mut p), ("1h", 1));
        let mut p = Params::from_query(&req("timeRange=2h"));
        time_range(&mut p);
        let e = p.finish().unwrap_err();
        assert_eq!(
            (e.status, e.errors[0].field.as_str(), e.errors[0].code.as_str()),
            (400, "timeRange", "invalid_value")
        );
    }

    #[test]
    fn every_bad_parameter_is_reported_at_once() {
        let mut p = Params::from_query(&req("days=abc&iterations=0&via=lan&price=-1&timeRange=x"));
        p.int("days", 30, 1..=90);
        p.int("iterations", 10, 1..=50);
        p.choice("via", &["internal", "public"]);
        p.decimal("price", 6);
        time_range(&mut p);
        let fields: Vec<(String, String)> =
            p.finish().unwrap_err().errors.iter().map(|e| (e.field.clone(), e.code.clone())).collect();
        let want = [
            ("days", "invalid_integer"),
            ("iterations", "out_of_range"),
            ("via", "invalid_value"),
            ("price", "invalid_decimal"),
            ("timeRange", "invalid_value"),
        ];
        assert_eq!(fields, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn body_fields_come_before_the_query() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"operation":"metrics","timeRange":"1h","x":null}"#).unwrap();
        let mut p = Params::from_body(&body, &req("timeRange=7d"));
        assert_eq!(time_range(&mut p), ("1h", 1));
        assert!(p.finish().is_ok());
    }
}
