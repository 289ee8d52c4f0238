//! Which endpoint a request names. Unknown routes are 404 and wrong methods 405, decided
//! before authentication (they reveal nothing but the SPEC). The bare path is the dashboard
//! (`GET`, as the deployment guide calls it) or the operation a `{"operation": NAME}` body names.

use crate::display;

use shared::http::Method;
use shared::{FieldError, Problem, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    List,
    Acknowledge,
    Resolve,
    Suppress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleOp {
    List,
    Create,
    Get(String),
    Update(String),
    Delete(String),
}

/// A request for the public page, or for an admin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Page,
    Admin(Endpoint),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Dashboard,
    Alerts(AlertAction),
    Rules(RuleOp),
    Evaluate,
    Metrics,
    Anomalies,
    NotificationTest,
    /// The original's `webhook`: an alert raised by another system (an administrator's call here).
    ExternalAlert,
}

fn allow(ok: bool, endpoint: Endpoint, allowed: &[&str]) -> Result<Endpoint, Problem> {
    if ok {
        Ok(endpoint)
    } else {
        Err(Problem::method_not_allowed(allowed))
    }
}

pub fn resolve(req: &Request) -> Result<Route, Problem> {
    let segments = req.segments();
    if segments == ["dashboard.html"] {
        return match req.method {
            Method::Get | Method::Head => Ok(Route::Page),
            _ => Err(Problem::method_not_allowed(&["GET"])),
        };
    }
    endpoint(req).map(Route::Admin)
}

fn endpoint(req: &Request) -> Result<Endpoint, Problem> {
    let get = matches!(req.method, Method::Get | Method::Head);
    let post = req.method == Method::Post;
    match req.segments().as_slice() {
        [] if post && !req.body.iter().all(u8::is_ascii_whitespace) => operation(req),
        [] | ["dashboard"] => allow(get || post, Endpoint::Dashboard, &["GET", "POST"]),
        ["alerts"] => alert_action(req, None),
        ["alerts", id, action] if !id.is_empty() => alert_action(req, Some(action)),
        ["rules"] => match req.method {
            Method::Get | Method::Head => Ok(Endpoint::Rules(RuleOp::List)),
            Method::Post => Ok(Endpoint::Rules(RuleOp::Create)),
            // The original API: `PUT {ruleId, ...}` and `DELETE ?ruleId=`.
            Method::Put => Ok(Endpoint::Rules(RuleOp::Update(String::new()))),
            Method::Delete => Ok(Endpoint::Rules(RuleOp::Delete(req.query_param("ruleId").unwrap_or_default()))),
            _ => Err(Problem::method_not_allowed(&["GET", "POST", "PUT", "DELETE"])),
        },
        ["rules", id] => {
            let id = id.to_string();
            match req.method {
                Method::Get | Method::Head => Ok(Endpoint::Rules(RuleOp::Get(id))),
                Method::Put | Method::Patch => Ok(Endpoint::Rules(RuleOp::Update(id))),
                Method::Delete => Ok(Endpoint::Rules(RuleOp::Delete(id))),
                _ => Err(Problem::method_not_allowed(&["GET", "PUT", "PATCH", "DELETE"])),
            }
        }
        ["evaluate"] => allow(post || get, Endpoint::Evaluate, &["POST", "GET"]),
        ["metrics"] => allow(get, Endpoint::Metrics, &["GET"]),
        ["anomaly-detection"] => allow(get || post, Endpoint::Anomalies, &["GET", "POST"]),
        ["notification-test"] => allow(post, Endpoint::NotificationTest, &["POST"]),
        ["webhook"] => allow(post, Endpoint::ExternalAlert, &["POST"]),
        _ => Err(Problem::route_not_found(req)),
    }
}

/// `/alerts?action=...` (the original API) or `/alerts/{id}/{action}`.
fn alert_action(req: &Request, path_action: Option<&str>) -> Result<Endpoint, Problem> {
    let named = path_action.map(str::to_string).or_else(|| req.query_param("action"));
    let action = match named.as_deref() {
        // Listing is `GET /alerts`; there is no list of one alert.
        Some("list") if path_action.is_some() => return Err(Problem::route_not_found(req)),
        None | Some("list") => AlertAction::List,
        Some("acknowledge") => AlertAction::Acknowledge,
        Some("resolve") => AlertAction::Resolve,
        Some("suppress") => AlertAction::Suppress,
        Some(_) if path_action.is_some() => return Err(Problem::route_not_found(req)),
        Some(other) => {
            return Err(Problem::validation(vec![FieldError::new(
                "action",
                "invalid_value",
                format!("action must be list, acknowledge, resolve or suppress, not `{}`", display::clip(other)),
            )]))
        }
    };
    let get = matches!(req.method, Method::Get | Method::Head);
    match action {
        AlertAction::List => allow(get, Endpoint::Alerts(action), &["GET"]),
        _ => allow(req.method == Method::Post, Endpoint::Alerts(action), &["POST"]),
    }
}

/// `POST {"operation": NAME}` to the bare path.
fn operation(req: &Request) -> Result<Endpoint, Problem> {
    const OPERATIONS: [(&str, Endpoint); 4] = [
        ("dashboard", Endpoint::Dashboard),
        ("evaluate", Endpoint::Evaluate),
        ("anomaly-detection", Endpoint::Anomalies),
        ("notification-test", Endpoint::NotificationTest),
    ];
    let names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
    let (name, _) = shared::params::operation(req, &names)?;
    Ok(OPERATIONS.iter().find(|(n, _)| *n == name).map(|(_, e)| e.clone()).expect("a listed name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, sub_path: &str, query: &str, body: &str) -> Request {
        Request {
            method,
            path: format!("/functions/v1/monitoring-alerting{sub_path}"),
            sub_path: sub_path.into(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn endpoint(method: Method, sub_path: &str, query: &str) -> Result<Endpoint, Problem> {
        match resolve(&req(method, sub_path, query, ""))? {
            Route::Admin(e) => Ok(e),
            Route::Page => panic!("the page is not an admin endpoint"),
        }
    }

    #[test]
    fn paths_name_their_endpoints() {
        assert_eq!(endpoint(Method::Get, "", ""), Ok(Endpoint::Dashboard));
        assert_eq!(resolve(&req(Method::Get, "/dashboard.html", "", "")), Ok(Route::Page));
        assert_eq!(resolve(&req(Method::Post, "/dashboard.html", "", "")).unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "/alerts", ""), Ok(Endpoint::Alerts(AlertAction::List)));
        assert_eq!(endpoint(Method::Post, "/alerts", "action=resolve"), Ok(Endpoint::Alerts(AlertAction::Resolve)));
        assert_eq!(endpoint(Method::Post, "/alerts/abc/suppress", ""), Ok(Endpoint::Alerts(AlertAction::Suppress)));
        assert_eq!(endpoint(Method::Put, "/rules/x", ""), Ok(Endpoint::Rules(RuleOp::Update("x".into()))));
        assert_eq!(endpoint(Method::Delete, "/rules", "ruleId=y"), Ok(Endpoint::Rules(RuleOp::Delete("y".into()))));
        assert_eq!(endpoint(Method::Post, "/evaluate", ""), Ok(Endpoint::Evaluate));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(endpoint(Method::Get, "/nope", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Post, "/metrics", "").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "/alerts", "action=resolve").unwrap_err().status, 405);
        assert_eq!(endpoint(Method::Get, "/alerts", "action=explode").unwrap_err().code, "validation_failed");
        assert_eq!(endpoint(Method::Post, "/alerts/x/explode", "").unwrap_err().status, 404);
        assert_eq!(endpoint(Method::Get, "/notification-test", "").unwrap_err().status, 405);
    }

    #[test]
    fn a_guide_style_body_names_an_operation() {
        assert_eq!(
            resolve(&req(Method::Post, "", "", r#"{"operation":"evaluate"}"#)),
            Ok(Route::Admin(Endpoint::Evaluate))
        );
        assert_eq!(
            resolve(&req(Method::Post, "", "", r#"{"operation":"status"}"#)).unwrap_err().code,
            "route_not_found"
        );
        assert_eq!(resolve(&req(Method::Post, "", "", r#"{"x":1}"#)).unwrap_err().code, "validation_failed");
    }
}
