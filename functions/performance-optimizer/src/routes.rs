//! Which endpoint a request names: a path below `/functions/v1/performance-optimizer`, or the
//! guide-style `POST` of `{"operation": NAME}` to the bare path (the guide posts
//! `{"operation": "benchmark_all_functions"}`). Names take `_` or `-` alike. Unknown routes are
//! 404 and wrong methods 405, decided before authentication (they reveal nothing but the SPEC).

use crate::params::Params;
use serde_json::{Map, Value};
use shared::http::Method;
use shared::{Problem, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    BenchmarkAll,
    Metrics,
    Analyze,
    Recommendations,
    CostReport,
    CostSettings,
    UpdateCostSettings,
    Pool,
    /// An operation of the original with nothing real to do here (`shared::http::not_performed`).
    NotPerformed(&'static str),
    Retention,
}

/// Operations by name, with the methods their path form takes. The last six are the
/// original's names: `benchmark` and `cold-start-optimization` measure for real (every
/// function's cold and warm start), `connection-optimization` is the pool's figures, and
/// warming, freeing memory or "optimising" inside an instance that lives for one request has
/// nothing to do.
const OPERATIONS: [(&str, Endpoint, &[&str]); 13] = [
    ("benchmark-all-functions", Endpoint::BenchmarkAll, &["POST"]),
    ("metrics", Endpoint::Metrics, &["GET"]),
    ("analyze", Endpoint::Analyze, &["GET"]),
    ("recommendations", Endpoint::Recommendations, &["GET"]),
    // Computing the report stores the daily rows it computed (an idempotent upsert).
    ("cost-report", Endpoint::CostReport, &["GET", "POST"]),
    ("pool", Endpoint::Pool, &["GET"]),
    // Scheduled daily: roll up and delete performance_metrics past the retention.
    ("retention", Endpoint::Retention, &["POST"]),
    ("benchmark", Endpoint::BenchmarkAll, &["POST"]),
    ("cold-start-optimization", Endpoint::BenchmarkAll, &["POST"]),
    ("connection-optimization", Endpoint::Pool, &["GET", "POST"]),
    ("warm-up", Endpoint::NotPerformed("warm-up"), &["GET", "POST"]),
    ("memory-optimization", Endpoint::NotPerformed("memory-optimization"), &["GET", "POST"]),
    ("optimize", Endpoint::NotPerformed("optimize"), &["POST"]),
];

/// Parameters the original's bodies carry that measure nothing here (its benchmark ignored
/// them too); dropped rather than refused.
const ORIGINAL_PARAMETERS: [&str; 8] = [
    "duration",
    "concurrency",
    "includeColdStart",
    "includeWarmStart",
    "includeMemory",
    "includeConnections",
    "optimizations",
    "autoApply",
];

fn normalise(name: &str) -> String {
    name.replace('_', "-")
}

pub fn resolve(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let segments = req.segments();
    let is_get = matches!(req.method, Method::Get | Method::Head);
    let is_post = req.method == Method::Post;
    match segments.as_slice() {
        [] if is_post => operation(req),
        [] => Err(Problem::method_not_allowed(&["POST"])),
        [report, "settings"] if normalise(report) == "cost-report" => match req.method {
            Method::Get | Method::Head => Ok((Endpoint::CostSettings, Params::from_query(req))),
            Method::Put | Method::Patch => {
                let body: Map<String, Value> = req.json()?;
                Ok((Endpoint::UpdateCostSettings, Params::from_body(&body, req)))
            }
            _ => Err(Problem::method_not_allowed(&["GET", "PUT", "PATCH"])),
        },
        [name] => {
            let Some((_, endpoint, allowed)) = OPERATIONS.iter().find(|(n, _, _)| *n == normalise(name)) else {
                return Err(Problem::route_not_found(req));
            };
            let ok = (is_get && allowed.contains(&"GET")) || (is_post && allowed.contains(&"POST"));
            if !ok {
                return Err(Problem::method_not_allowed(allowed));
            }
            // A POST may carry its parameters as a JSON body (an empty body is fine).
            let mut body = if is_post { req.json_opt::<Map<String, Value>>()? } else { None };
            if matches!(endpoint, Endpoint::BenchmarkAll | Endpoint::Pool | Endpoint::NotPerformed(_)) {
                if let Some(body) = body.as_mut() {
                    body.retain(|k, _| !ORIGINAL_PARAMETERS.contains(&k.as_str()));
                }
            }
            let params = match body {
                Some(body) if matches!(endpoint, Endpoint::Pool) && body.is_empty() => Params::from_query(req),
                Some(body) => Params::from_body(&body, req),
                None => Params::from_query(req),
            };
            Ok((*endpoint, params))
        }
        _ => Err(Problem::route_not_found(req)),
    }
}

/// `POST {"operation": NAME, ...}`: the other fields are that operation's parameters.
fn operation(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let names: Vec<&str> = OPERATIONS.iter().map(|(n, _, _)| *n).collect();
    let (name, body) = shared::params::operation(req, &names)?;
    let endpoint = OPERATIONS.iter().find(|(n, _, _)| *n == name).map(|(_, e, _)| *e).expect("a listed name");
    Ok((endpoint, Params::from_body(&body, req)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, sub_path: &str, body: &str) -> Request {
        Request {
            method,
            path: format!("/functions/v1/performance-optimizer{sub_path}"),
            sub_path: sub_path.into(),
            query: String::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn endpoint(method: Method, sub_path: &str, body: &str) -> Result<Endpoint, Problem> {
        resolve(&req(method, sub_path, body)).map(|(e, _)| e)
    }

    #[test]
    fn paths_name_their_endpoints_with_either_spelling() {
        assert_eq!(endpoint(Method::Post, "/benchmark_all_functions", ""), Ok(Endpoint::BenchmarkAll));
        assert_eq!(endpoint(Method::Post, "/benchmark-all-functions", "{}"), Ok(Endpoint::BenchmarkAll));
        assert_eq!(endpoint(Method::Get, "/metrics", ""), Ok(Endpoint::Metrics));
        assert_eq!(endpoint(Method::Get, "/cost_report", ""), Ok(Endpoint::CostReport));
        assert_eq!(endpoint(Method::Get, "/cost-report/settings", ""), Ok(Endpoint::CostSettings));
        assert_eq!(endpoint(Method::Put, "/cost_report/settings", "{}"), Ok(Endpoint::UpdateCostSettings));
        assert_eq!(endpoint(Method::Get, "/pool", ""), Ok(Endpoint::Pool));
    }

    #[test]
    fn the_originals_operations_are_answered() {
        let original = r#"{"duration": 30, "concurrency": 5, "includeColdStart": true}"#;
        assert_eq!(endpoint(Method::Post, "/benchmark", original), Ok(Endpoint::BenchmarkAll));
        assert_eq!(endpoint(Method::Post, "/cold-start-optimization", "{}"), Ok(Endpoint::BenchmarkAll));
        assert_eq!(endpoint(Method::Post, "/connection-optimization", "{}"), Ok(Endpoint::Pool));
        assert_eq!(endpoint(Method::Get, "/warm-up", ""), Ok(Endpoint::NotPerformed("warm-up")));
        assert_eq!(
            endpoint(Method::Post, "/optimize", r#"{"optimizations": [{"type": "x"}], "autoApply": true}"#),
            Ok(Endpoint::NotPerformed("optimize"))
        );
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"warm-up"}"#), Ok(Endpoint::NotPerformed("warm-up")));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(endpoint(Method::Get, "/optimise", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/optimize", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "/metrics/x", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/benchmark_all_functions", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Delete, "/metrics", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Delete, "/cost_report/settings", "").unwrap_err().status, 405);
    }

    #[test]
    fn a_guide_style_body_names_an_operation() {
        assert_eq!(
            endpoint(Method::Post, "", r#"{"operation":"benchmark_all_functions"}"#),
            Ok(Endpoint::BenchmarkAll)
        );
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"metrics","timeRange":"1h"}"#), Ok(Endpoint::Metrics));
        assert_eq!(
            endpoint(Method::Post, "", r#"{"operation":"warm-the-caches"}"#).unwrap_err().code,
            "route_not_found"
        );
        assert_eq!(endpoint(Method::Post, "", r#"{"timeRange":"1h"}"#).unwrap_err().code, "validation_failed");
        assert_eq!(endpoint(Method::Post, "", "not json").unwrap_err().status, 400);
    }
}
