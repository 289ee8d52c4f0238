//! Which operation a request names: a path segment below `/functions/v1/migration-controller`
//! (`_` and `-` alike), or the guide's `POST {"operation": NAME, ...}` to the bare path. The
//! body (or the query string of a `GET`) becomes the operation's parameters. Unknown routes are
//! 404 and wrong methods 405, decided before authentication.

use serde_json::{Map, Value};
use shared::http::{percent_decode, Method};
use shared::{Problem, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Initialize,
    Status,
    Advance,
    /// `GET traffic-split`: the measured split of the current step.
    TrafficSplit,
    /// `POST traffic-split {"target_percent": n}`.
    SetTrafficSplit,
    Rollback,
    Evaluate,
    Route,
    /// The original's `health-check`: green's health answers now, without moving anything.
    HealthCheck,
    /// The original's `feature-flags`: nothing here is switched by flags.
    FeatureFlags,
}

/// Operation names (normalised to `-`) and what they do for `GET` and `POST`. `start`,
/// `health-check` and `feature-flags` are the original's names.
const OPERATIONS: [(&str, Option<Endpoint>, Option<Endpoint>); 12] = [
    ("initialize-migration", None, Some(Endpoint::Initialize)),
    ("initialize", None, Some(Endpoint::Initialize)),
    ("start", None, Some(Endpoint::Initialize)),
    ("health-check", Some(Endpoint::HealthCheck), Some(Endpoint::HealthCheck)),
    ("feature-flags", Some(Endpoint::FeatureFlags), Some(Endpoint::FeatureFlags)),
    ("status", Some(Endpoint::Status), Some(Endpoint::Status)),
    ("advance", None, Some(Endpoint::Advance)),
    ("traffic-split", Some(Endpoint::TrafficSplit), Some(Endpoint::SetTrafficSplit)),
    ("execute-rollback", None, Some(Endpoint::Rollback)),
    ("rollback", None, Some(Endpoint::Rollback)),
    ("evaluate", None, Some(Endpoint::Evaluate)),
    ("route", Some(Endpoint::Route), Some(Endpoint::Route)),
];

pub type Body = Map<String, Value>;

pub fn resolve(req: &Request) -> Result<(Endpoint, Body), Problem> {
    let segments = req.segments();
    let is_get = matches!(req.method, Method::Get | Method::Head);
    let is_post = req.method == Method::Post;
    match segments.as_slice() {
        [] if is_post => by_operation(req),
        [] if is_get => Ok((Endpoint::Status, query(req))),
        [] => Err(Problem::method_not_allowed(&["GET", "POST"])),
        [name] => {
            let Some(&(_, get, post)) = find(name) else { return Err(Problem::route_not_found(req)) };
            if is_get {
                if let Some(e) = get {
                    return Ok((e, query(req)));
                }
            }
            if is_post {
                if let Some(e) = post {
                    let mut body: Body = req.json_opt()?.unwrap_or_default();
                    // The query string fills what the body does not say (`route?key=` by POST).
                    for (k, v) in query(req) {
                        body.entry(k).or_insert(v);
                    }
                    if e == Endpoint::Initialize {
                        original_start(&mut body);
                    }
                    return Ok((e, body));
                }
            }
            let allowed: Vec<&str> = [get.map(|_| "GET"), post.map(|_| "POST")].into_iter().flatten().collect();
            Err(Problem::method_not_allowed(&allowed))
        }
        _ => Err(Problem::route_not_found(req)),
    }
}

/// The original's `start` body: `enabledFunctions` are the functions the run covers;
/// `featureFlags` switched nothing in the original either and are dropped.
fn original_start(body: &mut Body) {
    if let Some(functions) = body.remove("enabledFunctions") {
        body.entry("functions").or_insert(functions);
    }
    body.remove("featureFlags");
}

fn find(name: &str) -> Option<&'static (&'static str, Option<Endpoint>, Option<Endpoint>)> {
    let name = name.replace('_', "-");
    OPERATIONS.iter().find(|(n, _, _)| *n == name)
}

/// `POST {"operation": NAME, ...}` to the bare path: the other fields are the parameters.
fn by_operation(req: &Request) -> Result<(Endpoint, Body), Problem> {
    // Every operation has a POST form, so every name may be posted.
    let names: Vec<&str> = OPERATIONS.iter().map(|(n, _, _)| *n).collect();
    let (name, body) = shared::params::operation(req, &names)?;
    let post = find(name).and_then(|(_, _, post)| *post).expect("every operation can be posted");
    Ok((post, body))
}

/// The decoded query string as string fields (the first occurrence of a name wins).
fn query(req: &Request) -> Body {
    let mut out = Map::new();
    for pair in req.query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k)).or_insert(Value::String(percent_decode(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, sub_path: &str, query: &str, body: &str) -> Request {
        Request {
            method,
            path: format!("/functions/v1/migration-controller{sub_path}"),
            sub_path: sub_path.into(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn endpoint(method: Method, sub_path: &str, body: &str) -> Result<Endpoint, Problem> {
        resolve(&req(method, sub_path, "", body)).map(|(e, _)| e)
    }

    #[test]
    fn the_guides_bodies_name_operations() {
        let init = r#"{"operation":"initialize_migration","target_traffic_percent":5}"#;
        let (e, body) = resolve(&req(Method::Post, "", "", init)).unwrap();
        assert_eq!(e, Endpoint::Initialize);
        assert_eq!(body.get("target_traffic_percent"), Some(&Value::from(5)));
        assert!(!body.contains_key("operation"));
        assert_eq!(
            endpoint(Method::Post, "", r#"{"operation":"execute_rollback","reason":"x"}"#),
            Ok(Endpoint::Rollback)
        );
        assert_eq!(
            endpoint(Method::Post, "", r#"{"operation":"traffic-split","target_percent":5}"#),
            Ok(Endpoint::SetTrafficSplit)
        );
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"nope"}"#).unwrap_err().code, "route_not_found");
        assert_eq!(endpoint(Method::Post, "", r#"{"reason":"x"}"#).unwrap_err().code, "validation_failed");
    }

    #[test]
    fn path_segments_name_operations() {
        assert_eq!(endpoint(Method::Get, "", ""), Ok(Endpoint::Status));
        assert_eq!(endpoint(Method::Get, "/status", ""), Ok(Endpoint::Status));
        assert_eq!(endpoint(Method::Post, "/advance", ""), Ok(Endpoint::Advance));
        assert_eq!(endpoint(Method::Post, "/execute_rollback", "{}"), Ok(Endpoint::Rollback));
        assert_eq!(endpoint(Method::Get, "/traffic-split", ""), Ok(Endpoint::TrafficSplit));
        assert_eq!(endpoint(Method::Post, "/traffic_split", "{}"), Ok(Endpoint::SetTrafficSplit));
        let (e, q) = resolve(&req(Method::Get, "/route", "key=user%3Aabc", "")).unwrap();
        assert_eq!((e, q.get("key")), (Endpoint::Route, Some(&Value::from("user:abc"))));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(endpoint(Method::Get, "/nope", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/status/x", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/advance", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Delete, "/status", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Delete, "", "").unwrap_err().status, 405);
    }
}
