//! Requests and responses as handlers see them: problem+json errors (RFC 9457), CORS, and
//! JSON bodies with a size limit.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Default largest JSON body a function accepts.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Head,
    Other(String),
}

impl Method {
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
            Method::Other(m) => m,
        }
    }
}

/// Headers set by the host (Spin's `spin-*` request headers).
pub fn is_host_header(name: &str) -> bool {
    name.len() > 5 && name[..5].eq_ignore_ascii_case("spin-")
}

/// An incoming request, read completely (within the body limit).
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The full path, e.g. `/functions/v1/quote-processor/123`.
    pub path: String,
    /// The path below the function's route (`spin-path-info`), e.g. `/123`; empty at the root.
    pub sub_path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first line of a header: for fields that occur once (`Authorization`,
    /// `Content-Type`). A list field may arrive in several lines; read it with [`Request::list_header`].
    ///
    /// The `spin-*` headers (`spin-client-addr`, `spin-path-info`, ...) are what the host says
    /// about the request, and for them the *last* line is read: Spin hands a component the
    /// client's own headers first and appends its values after them, so an earlier line may
    /// have been written by the client.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut lines = self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        if is_host_header(name) {
            lines.next_back()
        } else {
            lines.next()
        }
    }

    /// Every line of a header, in the order received.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A list header (`X-Forwarded-For`, `Accept`) as one value: all its lines joined with
    /// `", "` in order, which is how RFC 9110 (section 5.3) combines a repeated field. Reading
    /// only the first line would let whoever wrote it hide the lines a proxy appended.
    pub fn list_header(&self, name: &str) -> Option<String> {
        let lines: Vec<&str> = self.header_values(name).collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    }

    /// The path segments below the function's route: `/a/b` → `["a", "b"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.sub_path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// A decoded query parameter (the first occurrence).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').filter(|p| !p.is_empty()).find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k) == name).then(|| percent_decode(v))
        })
    }

    /// The body as JSON of type `T`: requires a JSON content type and valid JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let ct = self.header("content-type").unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Problem::new(415, "unsupported_media_type", "The request body must be JSON")
                .detail("send the body with `Content-Type: application/json`"));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Problem::new(400, "empty_body", "The request body is empty").detail("a JSON body is required"));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            let kind = if e.is_syntax() || e.is_eof() { "malformed_json" } else { "invalid_body" };
            Problem::new(400, kind, "The request body is not valid").detail(format!(
                "line {}, column {}: {}",
                e.line(),
                e.column(),
                short_serde_message(&e)
            ))
        })
    }

    /// The body as JSON when there is one; `None` for an empty body.
    pub fn json_opt<T: DeserializeOwned>(&self) -> Result<Option<T>, Problem> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        self.json().map(Some)
    }
}

/// serde's message without the echo of (possibly long) input.
fn short_serde_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
    if msg.len() > 200 {
        format!("{}…", &msg[..msg.char_indices().nth(200).map(|(i, _)| i).unwrap_or(msg.len())])
    } else {
        msg
    }
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            out.push(b' ');
        } else if b == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 2;
                }
                None => out.push(b'%'),
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One field-level validation error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), code: code.into(), message: message.into() }
    }
}

/// An error answer: `application/problem+json` with a stable machine `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    pub code: String,
    pub title: String,
    pub detail: Option<String>,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: u16, code: impl Into<String>, title: impl Into<String>) -> Problem {
        Problem { status, code: code.into(), title: title.into(), detail: None, errors: Vec::new(), retry_after: None }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 listing every field error at once.
    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let n = errors.len();
        let mut p = Problem::new(400, "validation_failed", "The request has invalid fields")
            .detail(format!("{n} field{} failed validation", if n == 1 { "" } else { "s" }));
        p.errors = errors;
        p
    }

    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(404, "not_found", "Not found").detail(what)
    }

    pub fn route_not_found(req: &Request) -> Problem {
        Problem::new(404, "route_not_found", "No such endpoint").detail(format!(
            "{} {} is not an endpoint of this function",
            req.method.as_str(),
            req.path
        ))
    }

    pub fn method_not_allowed(allowed: &[&str]) -> Problem {
        Problem::new(405, "method_not_allowed", "Method not allowed").detail(format!("allowed: {}", allowed.join(", ")))
    }

    pub fn unauthorized(code: &str, message: &str) -> Problem {
        Problem::new(401, code, "Authentication required").detail(message)
    }

    pub fn forbidden(code: &str, message: &str) -> Problem {
        Problem::new(403, code, "Forbidden").detail(message)
    }

    /// 503 for a dependency that is down (the database): the caller should retry.
    pub fn unavailable(code: &str, message: &str) -> Problem {
        Problem::new(503, code, "Service temporarily unavailable").detail(message).retry_after(2)
    }

    /// 500 with nothing internal in it; the cause goes to the log, not to the caller.
    pub fn internal() -> Problem {
        Problem::new(500, "internal_error", "Internal error")
            .detail("the request could not be completed; it was logged")
    }

    /// The problem+json members, and beside them the original API's `success: false` and
    /// `error` (a sentence), which its callers read from every answer.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "type": format!("https://quotekit.dev/problems/{}", self.code),
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "success": false,
            "error": match &self.detail {
                Some(d) => format!("{}: {d}", self.title),
                None => self.title.clone(),
            },
        });
        if let Some(d) = &self.detail {
            v["detail"] = d.clone().into();
        }
        if !self.errors.is_empty() {
            v["errors"] = serde_json::to_value(&self.errors).unwrap_or_default();
        }
        v
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.code)
    }
}

/// An outgoing response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
        Response { status, headers: vec![("content-type".into(), "application/json".into())], body }
    }

    pub fn ok(value: &impl Serialize) -> Response {
        Response::json(200, value)
    }

    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response { status, headers: vec![("content-type".into(), content_type.into())], body }
    }

    pub fn empty(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    pub fn problem(p: &Problem) -> Response {
        let mut r = Response {
            status: p.status,
            headers: vec![("content-type".into(), "application/problem+json".into())],
            body: serde_json::to_vec(&p.to_json()).unwrap_or_default(),
        };
        if let Some(s) = p.retry_after {
            r.headers.push(("retry-after".into(), s.to_string()));
        }
        r
    }
}

/// The success envelope of the original API, which existing clients read:
/// `{"success": true, "data": ..., "message": ..., "metadata": {"function", "request_id"}}`.
pub fn envelope(function: &str, request_id: &str, data: serde_json::Value, message: &str) -> Response {
    Response::ok(&serde_json::json!({
        "success": true,
        "data": data,
        "message": message,
        "metadata": { "function": function, "request_id": request_id },
    }))
}

/// The original API's `success: true` on a JSON object answer that does not say already
/// (its callers read `success` from every body). Other answers are left as they are.
pub fn mark_success(response: &mut Response) {
    let json = response.headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("application/json"));
    if !(200..300).contains(&response.status) || !json || response.body.first() != Some(&b'{') {
        return;
    }
    // The keys only (values skipped), then the member spliced in after the brace.
    let Ok(keys) = serde_json::from_slice::<std::collections::HashMap<String, serde::de::IgnoredAny>>(&response.body)
    else {
        return;
    };
    if keys.contains_key("success") {
        return;
    }
    let member: &[u8] = if keys.is_empty() { b"\"success\":true" } else { b"\"success\":true," };
    let mut body = Vec::with_capacity(response.body.len() + member.len());
    body.push(b'{');
    body.extend_from_slice(member);
    body.extend_from_slice(&response.body[1..]);
    response.body = body;
}

/// The answer to an operation of the original API that has nothing real to do here (an
/// instance lives for one request: there is nothing to warm, preload or free in-process):
/// 200 with `performed: false`, why, and where the real figures are. The original's callers
/// read `success` and carry on; nobody is told that something happened.
pub fn not_performed(
    function: &str,
    request_id: &str,
    operation: &str,
    reason: &str,
    instead: Option<&str>,
) -> Response {
    envelope(
        function,
        request_id,
        serde_json::json!({ "operation": operation, "performed": false, "reason": reason, "instead": instead }),
        "Not performed",
    )
}

/// Whether a request's body is absent, or a JSON object without members (`{}`).
pub fn body_is_empty(req: &Request) -> bool {
    req.body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&req.body).is_ok_and(|m| m.is_empty())
}

/// `problem` as problem+json with extra members (RFC 9457 extensions).
pub fn problem_with(problem: &Problem, extra: serde_json::Value) -> Response {
    let mut body = problem.to_json();
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    let mut r = Response::problem(problem);
    r.body = serde_json::to_vec(&body).unwrap_or_default();
    r
}

/// CORS headers for a response to a request from `origin`, given the allowed origins
/// (`*` or a comma-separated list from the `cors_origins` variable).
pub fn cors_headers(origin: Option<&str>, allowed: &str) -> Vec<(String, String)> {
    let allowed = allowed.trim();
    let allow_origin = if allowed.is_empty() || allowed == "*" {
        Some("*".to_string())
    } else {
        origin.filter(|o| allowed.split(',').map(str::trim).any(|a| a.eq_ignore_ascii_case(o))).map(str::to_string)
    };
    let mut h = vec![
        ("vary".to_string(), "Origin".to_string()),
        (
            "access-control-allow-headers".to_string(),
            "authorization, x-client-info, apikey, content-type, stripe-signature, idempotency-key, accept".to_string(),
        ),
        ("access-control-allow-methods".to_string(), "GET, POST, PUT, PATCH, DELETE, OPTIONS".to_string()),
        (
            "access-control-expose-headers".to_string(),
            "retry-after, x-request-id, location, content-disposition, x-quote-id, x-document-sha256, \
             x-document-cached, x-email-status, idempotent-replayed"
                .to_string(),
        ),
        ("access-control-max-age".to_string(), "86400".to_string()),
    ];
    if let Some(o) = allow_origin {
        h.push(("access-control-allow-origin".to_string(), o));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: Option<&str>, body: &str) -> Request {
        Request {
            method: Method::Post,
            path: "/functions/v1/x".into(),
            sub_path: String::new(),
            query: "a=1&b=hello%20world&c=x+y&d=%zz".into(),
            headers: ct.map(|c| vec![("content-type".to_string(), c.to_string())]).unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_client_copy_of_a_spin_header_is_never_read() {
        // As Spin delivers them: the client's lines first, the host's appended after.
        let mut r = req(None, "");
        for forged in ["spin-client-addr", "spin-path-info", "spin-full-url", "spin-matched-route", "SPIN-BASE-PATH"] {
            r.headers.push((forged.to_ascii_lowercase(), "forged".into()));
        }
        r.headers.push(("spin-client-addr".into(), "10.0.0.7:51234".into()));
        r.headers.push(("spin-path-info".into(), "/jobs".into()));
        r.headers.push(("spin-full-url".into(), "http://h/functions/v1/x/jobs".into()));
        r.headers.push(("spin-matched-route".into(), "/functions/v1/x/...".into()));
        r.headers.push(("spin-base-path".into(), "/".into()));
        assert_eq!(r.header("spin-client-addr"), Some("10.0.0.7:51234"));
        assert_eq!(r.header("Spin-Path-Info"), Some("/jobs"));
        assert_eq!(r.header("spin-full-url"), Some("http://h/functions/v1/x/jobs"));
        assert_eq!(r.header("spin-matched-route"), Some("/functions/v1/x/..."));
        assert_eq!(r.header("spin-base-path"), Some("/"));
        // Other headers keep their first line.
        r.headers.push(("authorization".into(), "Bearer first".into()));
        r.headers.push(("authorization".into(), "Bearer second".into()));
        assert_eq!(r.header("authorization"), Some("Bearer first"));
    }

    #[test]
    fn query_parameters_are_decoded() {
        let r = req(None, "");
        assert_eq!(r.query_param("a").as_deref(), Some("1"));
        assert_eq!(r.query_param("b").as_deref(), Some("hello world"));
        assert_eq!(r.query_param("c").as_deref(), Some("x y"));
        assert_eq!(r.query_param("d").as_deref(), Some("%zz"));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn a_list_header_is_every_line_joined_in_order() {
        let mut r = req(None, "");
        r.headers = vec![
            ("x-forwarded-for".into(), "6.6.6.6".into()),
            ("accept".into(), "text/html".into()),
            ("X-Forwarded-For".into(), "203.0.113.7, 10.0.0.2".into()),
        ];
        assert_eq!(r.header("x-forwarded-for"), Some("6.6.6.6"), "header() is the first line only");
        assert_eq!(r.list_header("x-forwarded-for").as_deref(), Some("6.6.6.6, 203.0.113.7, 10.0.0.2"));
        assert_eq!(r.header_values("X-FORWARDED-FOR").count(), 2);
        assert_eq!(r.list_header("accept").as_deref(), Some("text/html"));
        assert_eq!(r.list_header("via"), None);
    }

    #[test]
    fn json_bodies_need_a_json_content_type() {
        let p = req(Some("text/plain"), "{}").json::<serde_json::Value>().unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (415, "unsupported_media_type"));
        let v: serde_json::Value = req(Some("application/json; charset=utf-8"), "{\"a\":1}").json().unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn malformed_json_is_a_400_with_position() {
        let p = req(Some("application/json"), "{\"a\":").json::<serde_json::Value>().unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (400, "malformed_json"));
        assert!(p.detail.unwrap().contains("line 1"));
        let p = req(Some("application/json"), "  ").json::<serde_json::Value>().unwrap_err();
        assert_eq!(p.code, "empty_body");
    }

    #[test]
    fn problems_serialize_as_rfc9457() {
        let p = Problem::validation(vec![FieldError::new("name", "required", "name is required")]);
        let v = p.to_json();
        assert_eq!(v["status"], 400);
        assert_eq!(v["code"], "validation_failed");
        assert_eq!(v["errors"][0]["field"], "name");
        // The original API's members, for its callers.
        assert_eq!(v["success"], false);
        assert_eq!(v["error"], "The request has invalid fields: 1 field failed validation");
        assert_eq!(Problem::new(404, "x", "Not found").to_json()["error"], "Not found");
        let r = Response::problem(&Problem::unavailable("database_unavailable", "down"));
        assert!(r.headers.contains(&("retry-after".to_string(), "2".to_string())));
        assert!(r.headers.contains(&("content-type".to_string(), "application/problem+json".to_string())));
    }

    #[test]
    fn json_object_answers_say_success_once() {
        let mut r = Response::ok(&serde_json::json!({"data": [1, 2], "a": {"success": 1}}));
        mark_success(&mut r);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!((v["success"].clone(), v["data"].clone()), (serde_json::json!(true), serde_json::json!([1, 2])));
        let mut empty = Response::ok(&serde_json::json!({}));
        mark_success(&mut empty);
        assert_eq!(empty.body, br#"{"success":true}"#);
        // Bodies that say already, arrays, other types and errors are left alone.
        for mut r in [
            Response::ok(&serde_json::json!({"success": false})),
            Response::ok(&serde_json::json!([1])),
            Response::bytes(200, "text/plain", b"{}".to_vec()),
            Response::json(404, &serde_json::json!({"x": 1})),
        ] {
            let before = r.body.clone();
            mark_success(&mut r);
            assert_eq!(r.body, before);
        }
    }

    #[test]
    fn cors_allows_configured_origins_only() {
        let any = cors_headers(Some("https://a.example"), "*");
        assert!(any.contains(&("access-control-allow-origin".into(), "*".into())));
        let list = cors_headers(Some("https://a.example"), "https://a.example, https://b.example");
        assert!(list.contains(&("access-control-allow-origin".into(), "https://a.example".into())));
        let other = cors_headers(Some("https://evil.example"), "https://a.example");
        assert!(!other.iter().any(|(k, _)| k == "access-control-allow-origin"));
    }
}
