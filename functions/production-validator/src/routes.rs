//! Which endpoint a request names. Unknown routes are 404 and wrong methods 405, and a bad
//! body or query is 400, all decided before authentication (they reveal nothing).

use crate::validation_type::{self, ValidationType};
use serde_json::{Map, Value};
use shared::http::Method;
use shared::{FieldError, Problem, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Validate(ValidationType),
    Reports(ListQuery),
    /// The path segment after `reports/`, checked to be a uuid after authentication.
    Report(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: i64,
    pub offset: i64,
    pub validation_type: Option<&'static str>,
}

pub const MAX_LIMIT: i64 = 100;
pub const DEFAULT_LIMIT: i64 = 20;

pub fn resolve(req: &Request) -> Result<Endpoint, Problem> {
    let is_get = matches!(req.method, Method::Get | Method::Head);
    let is_post = req.method == Method::Post;
    match req.segments().as_slice() {
        [] | ["validate"] if is_post => Ok(Endpoint::Validate(body(req)?)),
        [] | ["validate"] => Err(Problem::method_not_allowed(&["POST"])),
        // The original's path per category. Its `business` checks (cost, "improvement",
        // experience, scalability) were constants; the real checks nearest to a business are
        // functionality's (the plans one can buy, every function answering).
        [name] if name.starts_with("validate-") || name.starts_with("validate_") => {
            let category = match &name[9..] {
                "business" => "functionality",
                other => other,
            };
            let kind = ValidationType::parse(category).map_err(|_| Problem::route_not_found(req))?;
            if !is_post {
                return Err(Problem::method_not_allowed(&["POST"]));
            }
            if !shared::http::body_is_empty(req) {
                body(req)?;
            }
            Ok(Endpoint::Validate(kind))
        }
        ["reports"] if is_get => Ok(Endpoint::Reports(list_query(req)?)),
        ["reports", id] if is_get => Ok(Endpoint::Report(id.to_string())),
        ["reports"] | ["reports", _] => Err(Problem::method_not_allowed(&["GET"])),
        _ => Err(Problem::route_not_found(req)),
    }
}

/// `{"validation_type": ...}`; an empty body means `comprehensive`.
fn body(req: &Request) -> Result<ValidationType, Problem> {
    let Some(body) = json_body(req)? else {
        return Ok(ValidationType::Comprehensive);
    };
    let mut errors = Vec::new();
    for key in body.keys().filter(|k| k.as_str() != "validation_type") {
        let shown: String = key.chars().take(40).collect();
        errors.push(FieldError::new(
            shown.clone(),
            "unknown_field",
            format!("`{shown}` is not a field of a validation request"),
        ));
    }
    let kind = match body.get("validation_type") {
        None | Some(Value::Null) => Ok(ValidationType::Comprehensive),
        Some(Value::String(s)) => ValidationType::parse(s),
        Some(other) => Err(validation_type::invalid(&other.to_string())),
    };
    match kind {
        Ok(k) if errors.is_empty() => Ok(k),
        Ok(_) => Err(Problem::validation(errors)),
        Err(p) => {
            let mut all = p.errors;
            all.extend(errors);
            Err(Problem::validation(all))
        }
    }
}

/// The body as JSON. `curl -d '{...}'` without `-H 'Content-Type: application/json'` (as the
/// validation call is often typed) labels it `application/x-www-form-urlencoded`; it is still
/// the JSON the guide shows, so it is read as JSON. Any other non-JSON type is 415.
fn json_body(req: &Request) -> Result<Option<Map<String, Value>>, Problem> {
    let mime = req.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime.is_empty() || mime == "application/x-www-form-urlencoded" {
        let mut as_json = req.clone();
        as_json.headers.retain(|(k, _)| k != "content-type");
        as_json.headers.push(("content-type".into(), "application/json".into()));
        return as_json.json_opt();
    }
    req.json_opt()
}

fn list_query(req: &Request) -> Result<ListQuery, Problem> {
    let mut errors = Vec::new();
    let mut int = |name: &str, default: i64, max: i64| match req.query_param(name) {
        None => default,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (if name == "limit" { 1 } else { 0 }..=max).contains(&n) => n,
            _ => {
                let min = if name == "limit" { 1 } else { 0 };
                errors.push(FieldError::new(
                    name,
                    "out_of_range",
                    format!("{name} must be a whole number from {min} to {max}"),
                ));
                default
            }
        },
    };
    let limit = int("limit", DEFAULT_LIMIT, MAX_LIMIT);
    let offset = int("offset", 0, 1_000_000);
    let validation_type = match req.query_param("validation_type") {
        None => None,
        Some(v) => match validation_type::NAMES.iter().find(|n| **n == v) {
            Some(n) => Some(*n),
            None => {
                errors.extend(validation_type::invalid(&v).errors);
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(ListQuery { limit, offset, validation_type })
    } else {
        Err(Problem::validation(errors))
    }
}

/// A report id from the path: a uuid, or a 400 naming the field `id`.
pub fn report_id(segment: &str) -> Result<String, Problem> {
    if shared::params::is_uuid(segment) {
        Ok(segment.to_ascii_lowercase())
    } else {
        let shown: String = segment.chars().take(40).collect();
        Err(Problem::validation(vec![FieldError::new("id", "invalid_uuid", format!("`{shown}` is not a uuid"))]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Category;

    fn req(method: Method, sub_path: &str, query: &str, body: &str) -> Request {
        Request {
            method,
            path: format!("/functions/v1/production-validator{sub_path}"),
            sub_path: sub_path.into(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_guide_call_and_the_paths_name_their_endpoints() {
        let e = resolve(&req(Method::Post, "", "", r#"{"validation_type": "comprehensive"}"#)).unwrap();
        assert_eq!(e, Endpoint::Validate(ValidationType::Comprehensive));
        let e = resolve(&req(Method::Post, "/validate", "", r#"{"validation_type": "security"}"#)).unwrap();
        assert_eq!(e, Endpoint::Validate(ValidationType::Only(Category::Security)));
        assert_eq!(resolve(&req(Method::Post, "", "", "")).unwrap(), Endpoint::Validate(ValidationType::Comprehensive));
        // `curl -d` without a JSON content type.
        let mut form = req(Method::Post, "", "", r#"{"validation_type":"reliability"}"#);
        form.headers = vec![("content-type".into(), "application/x-www-form-urlencoded".into())];
        assert_eq!(resolve(&form).unwrap(), Endpoint::Validate(ValidationType::Only(Category::Reliability)));
        form.headers = vec![("content-type".into(), "text/plain".into())];
        assert_eq!(resolve(&form).unwrap_err().status, 415);
        assert_eq!(
            resolve(&req(Method::Get, "/reports", "limit=5&validation_type=security", "")).unwrap(),
            Endpoint::Reports(ListQuery { limit: 5, offset: 0, validation_type: Some("security") })
        );
        assert_eq!(resolve(&req(Method::Get, "/reports/abc", "", "")).unwrap(), Endpoint::Report("abc".into()));
    }

    #[test]
    fn bad_input_is_400_and_wrong_methods_405() {
        let p = resolve(&req(Method::Post, "", "", r#"{"validation_type": "business", "extra": 1}"#)).unwrap_err();
        assert_eq!((p.status, p.errors.len()), (400, 2));
        assert_eq!(p.errors[1].code, "unknown_field");
        let p = resolve(&req(Method::Post, "", "", r#"{"validation_type": 7}"#)).unwrap_err();
        assert_eq!(p.errors[0].field, "validation_type");
        assert_eq!(resolve(&req(Method::Get, "", "", "")).unwrap_err().status, 405);
        assert_eq!(resolve(&req(Method::Post, "/reports", "", "")).unwrap_err().status, 405);
        assert_eq!(resolve(&req(Method::Get, "/reports", "limit=0&offset=-1", "")).unwrap_err().errors.len(), 2);
        assert_eq!(resolve(&req(Method::Get, "/nope", "", "")).unwrap_err().status, 404);
    }
}
