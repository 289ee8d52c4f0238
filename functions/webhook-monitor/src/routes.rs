//! Which endpoint a request names: a path below `/functions/v1/webhook-monitor`, or the
//! guide-style `POST` of `{"operation": NAME}` to the bare path. Unknown routes are 404 and
//! wrong methods 405, decided before authentication (they reveal nothing but the SPEC).

use shared::http::Method;
use shared::params::Params;
use shared::{Problem, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Overview,
    Performance,
    DeadLetters,
    /// The path segment after `dead-letter-queue/`, checked to be a uuid after authentication.
    DeadLetter(String),
    Replay(String),
    Resolve(String),
    AuditTrail,
    BatchJobs,
    Alerts,
}

/// The read views a guide-style body may name (`dead_letter_queue` spelled either way).
const OPERATIONS: [(&str, Endpoint); 6] = [
    ("overview", Endpoint::Overview),
    ("performance", Endpoint::Performance),
    ("dead-letter-queue", Endpoint::DeadLetters),
    ("audit-trail", Endpoint::AuditTrail),
    ("batch-jobs", Endpoint::BatchJobs),
    ("alerts", Endpoint::Alerts),
];

const GET: &[&str] = &["GET"];
const POST: &[&str] = &["POST"];

pub fn resolve(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let segments = req.segments();
    let is_get = matches!(req.method, Method::Get | Method::Head);
    let is_post = req.method == Method::Post;
    let (endpoint, allowed) = match segments.as_slice() {
        [] if is_post => return operation(req),
        [] => (Endpoint::Overview, &["GET", "POST"][..]),
        ["dead-letter-queue", id] => (Endpoint::DeadLetter(id.to_string()), GET),
        ["dead-letter-queue", id, "replay"] => (Endpoint::Replay(id.to_string()), POST),
        ["dead-letter-queue", id, "resolve"] => (Endpoint::Resolve(id.to_string()), POST),
        [name] => match OPERATIONS.iter().find(|(n, _)| n == name) {
            Some((_, e)) => (e.clone(), GET),
            None => return Err(Problem::route_not_found(req)),
        },
        _ => return Err(Problem::route_not_found(req)),
    };
    let method_ok = if allowed == POST { is_post } else { is_get };
    if !method_ok {
        return Err(Problem::method_not_allowed(allowed));
    }
    Ok((endpoint, Params::from_query(req)))
}

/// `POST {"operation": NAME, ...}`: the other fields are that view's parameters.
fn operation(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
    let (name, body) = shared::params::operation(req, &names)?;
    let endpoint = OPERATIONS.iter().find(|(n, _)| *n == name).map(|(_, e)| e.clone()).expect("a listed name");
    Ok((endpoint, Params::from_body(&body, req)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, sub_path: &str, body: &str) -> Request {
        Request {
            method,
            path: format!("/functions/v1/webhook-monitor{sub_path}"),
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
    fn paths_name_their_endpoints() {
        assert_eq!(endpoint(Method::Get, "", ""), Ok(Endpoint::Overview));
        assert_eq!(endpoint(Method::Get, "/alerts/", ""), Ok(Endpoint::Alerts));
        assert_eq!(endpoint(Method::Get, "/dead-letter-queue/abc", ""), Ok(Endpoint::DeadLetter("abc".into())));
        assert_eq!(endpoint(Method::Post, "/dead-letter-queue/abc/replay", ""), Ok(Endpoint::Replay("abc".into())));
        assert_eq!(endpoint(Method::Post, "/dead-letter-queue/abc/resolve", ""), Ok(Endpoint::Resolve("abc".into())));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(endpoint(Method::Get, "/nope", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/dead-letter-queue/a/b/c", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Post, "/overview", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "/dead-letter-queue/abc/replay", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Delete, "", "").unwrap_err().status, 405);
    }

    #[test]
    fn a_guide_style_body_names_a_view() {
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"dead_letter_queue"}"#), Ok(Endpoint::DeadLetters));
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"overview","hours":48}"#), Ok(Endpoint::Overview));
        assert_eq!(endpoint(Method::Post, "", r#"{"operation":"status"}"#).unwrap_err().code, "route_not_found");
        assert_eq!(endpoint(Method::Post, "", r#"{"hours":1}"#).unwrap_err().code, "validation_failed");
    }
}
