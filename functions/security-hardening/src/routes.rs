//! Which endpoint a request names: a path below `/functions/v1/security-hardening`, or the
//! guide-style `POST` of `{"operation": NAME}` to the bare path. Unknown routes are 404 and
//! wrong methods 405, decided before authentication.

use shared::http::Method;
use shared::params::Params;
use shared::{Problem, Request};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Overview,
    Scan,
    Scans,
    ScanReport(String),
    AnalysePayload,
    RecentThreats,
    Config,
    UpdateConfig,
    Incidents,
    Incident(String),
    ResolveIncident(String),
    Blocks,
    AddBlock,
    RemoveBlock(String),
    AuditLog,
}

/// Operations a guide-style body may name, and the endpoint each one is.
const OPERATIONS: &[(&str, Endpoint)] = &[
    ("security_scan", Endpoint::Scan),
    ("scan", Endpoint::Scan),
    ("scans", Endpoint::Scans),
    ("threat_detection", Endpoint::RecentThreats),
    ("config", Endpoint::Config),
    ("security_config", Endpoint::Config),
    ("incidents", Endpoint::Incidents),
    ("blocks", Endpoint::Blocks),
    ("audit_log", Endpoint::AuditLog),
];

pub fn resolve(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let segments = req.segments();
    let get = matches!(req.method, Method::Get | Method::Head);
    let post = req.method == Method::Post;
    let put = req.method == Method::Put;
    let delete = req.method == Method::Delete;
    let wrong = |allowed: &[&str]| Err(Problem::method_not_allowed(allowed));
    let endpoint = match segments.as_slice() {
        [] if post => return operation(req),
        [] if get => Endpoint::Overview,
        [] => return wrong(&["GET", "POST"]),
        ["security_scan" | "security-scan" | "scan"] if post => Endpoint::Scan,
        ["security_scan" | "security-scan" | "scan"] => return wrong(&["POST"]),
        ["scans"] if get => Endpoint::Scans,
        ["scans", id] if get => Endpoint::ScanReport(id.to_string()),
        ["scans"] | ["scans", _] => return wrong(&["GET"]),
        // A POST without a payload (the original's form) asks about recent traffic.
        ["threat-detection" | "threat_detection"] if post && analyses_nothing(req) => Endpoint::RecentThreats,
        ["threat-detection" | "threat_detection"] if post => Endpoint::AnalysePayload,
        ["threat-detection" | "threat_detection"] if get => Endpoint::RecentThreats,
        ["threat-detection" | "threat_detection"] => return wrong(&["GET", "POST"]),
        ["config"] if get => Endpoint::Config,
        ["config"] if put || post => Endpoint::UpdateConfig,
        ["config"] => return wrong(&["GET", "PUT", "POST"]),
        // The original's path: the same, an empty body reading the settings.
        ["security-config" | "security_config"] if get => Endpoint::Config,
        ["security-config" | "security_config"] if (put || post) && shared::http::body_is_empty(req) => {
            Endpoint::Config
        }
        ["security-config" | "security_config"] if put || post => Endpoint::UpdateConfig,
        ["security-config" | "security_config"] => return wrong(&["GET", "PUT", "POST"]),
        // The original's scans of other names were constants; here each runs the real scan.
        ["compliance-check" | "vulnerability-assessment" | "penetration-test"] if post => Endpoint::Scan,
        ["compliance-check" | "vulnerability-assessment" | "penetration-test"] => return wrong(&["POST"]),
        ["incidents"] if get => Endpoint::Incidents,
        ["incidents", id] if get => Endpoint::Incident(id.to_string()),
        ["incidents", id, "resolve"] if post => Endpoint::ResolveIncident(id.to_string()),
        ["incidents"] | ["incidents", _] => return wrong(&["GET"]),
        ["incidents", _, "resolve"] => return wrong(&["POST"]),
        ["blocks"] if get => Endpoint::Blocks,
        ["blocks"] if post => Endpoint::AddBlock,
        ["blocks"] => return wrong(&["GET", "POST"]),
        ["blocks", key] if delete => Endpoint::RemoveBlock(shared::http::percent_decode(key)),
        ["blocks", _] => return wrong(&["DELETE"]),
        ["audit-log" | "audit_log"] if get => Endpoint::AuditLog,
        ["audit-log" | "audit_log"] => return wrong(&["GET"]),
        _ => return Err(Problem::route_not_found(req)),
    };
    Ok((endpoint, Params::from_query(req)))
}

/// A `POST threat-detection` body naming neither `payload` nor `query`.
fn analyses_nothing(req: &Request) -> bool {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&req.body) {
        Ok(body) => !body.contains_key("payload") && !body.contains_key("query"),
        Err(_) => req.body.iter().all(u8::is_ascii_whitespace),
    }
}

/// `POST {"operation": NAME, ...}`: the other fields are that operation's parameters.
fn operation(req: &Request) -> Result<(Endpoint, Params), Problem> {
    let names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
    let (name, body) = shared::params::operation(req, &names)?;
    let endpoint = OPERATIONS.iter().find(|(n, _)| *n == name).map(|(_, e)| e.clone()).expect("a listed name");
    Ok((endpoint, Params::from_body(&body, req)))
}
