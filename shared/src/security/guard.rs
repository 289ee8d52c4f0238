//! The middleware's two moments: [`screen`] before the handler (blocks, rate limit, threat
//! detection) and [`after`] once the answer is known (refused credentials are incidents).
//!
//! Per request this costs one SQL statement (`security_gate`): the block list, the GCRA rate
//! limit and the threat settings come back together, so changing `security_configuration`
//! changes behaviour on the next request without a redeploy. Incidents cost a second
//! statement (`security_record_incident`) only when something happened.
//!
//! Budgets fit the caller: a signed-in user spends their own (`user:<uuid>`), an anonymous
//! caller its address's (`ip:<addr>`). A block earned by an address holds for anonymous
//! requests from it, never for the signed-in users behind it (an office behind one NAT, or a
//! cross-site `<img>` that makes an office's browsers send an injection-looking URL); only a
//! block an administrator adds by hand holds for everyone there. Stripe's deliveries are
//! verified before the gate: a verified one never spends or trips a budget; the rest spend the
//! address's budget of failed signatures (`signature:ip:<addr>`), which blocks no one.
//!
//! When the gate cannot be read (database down), admin functions refuse the request (503,
//! fail closed: an attacker must not get unlimited attempts at the operations functions by
//! first overloading the database); user functions and webhooks go on (fail open: they need
//! the database for their own work anyway and will answer 503 themselves if it is gone,
//! while a brief limiter hiccup must not turn away paying users or Stripe's deliveries).

use super::client::Client;
use super::internal::{self, Purpose};
use super::threats::{self, Detection, Enabled};
use crate::db::{self, Db, Param};
use crate::http::{problem_with, Problem, Request, Response};

/// Who calls a function; its screening follows from that (see [`Policy::for_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callers {
    /// Signed-in users (and the service role).
    Users,
    /// Administrators only (the service role): the operations functions.
    Administrators,
    /// Stripe, delivering signed webhook events.
    Stripe,
}

/// How one request is screened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Refuse requests when the limiter's state cannot be read: administrators' functions.
    pub fail_closed: bool,
    /// Inspect JSON bodies for injection. Stripe's bodies are not: their authenticity the
    /// signature proves, and their strings are customer data we store, never execute;
    /// blocking Stripe's address over a product named "Drop tables" would lose billing
    /// events. Their query string is still inspected. Nor are the bodies of an endpoint that
    /// analyses payloads submitted on purpose (`analysed`).
    pub inspect_body: bool,
    /// Stripe's signed deliveries: verified before the gate, and a verified one never reaches it.
    pub stripe_deliveries: bool,
}

impl Policy {
    /// The policy for a request to `sub_path` of a function called by `callers`, whose
    /// endpoints in `analysed` (sub-paths without slashes) take attack payloads on purpose.
    pub fn for_request(callers: Callers, analysed: &[&str], sub_path: &str) -> Policy {
        Policy {
            fail_closed: callers == Callers::Administrators,
            inspect_body: callers != Callers::Stripe && !analysed.contains(&sub_path.trim_matches('/')),
            stripe_deliveries: callers == Callers::Stripe,
        }
    }
}

/// Screen a request. `Err` is the answer to give instead of running the handler.
/// `verified_delivery` says whether the request is a delivery signed by Stripe (asked only
/// of functions Stripe calls; the handler reuses the verdict).
pub fn screen(
    function: &str,
    policy: Policy,
    req: &Request,
    client: &Client,
    db: Option<&Db>,
    verified_delivery: impl FnOnce() -> bool,
) -> Result<(), Response> {
    let internal = internal::verify(req);
    if internal == Some(Purpose::Chain) {
        return Ok(());
    }
    let probe = internal == Some(Purpose::Probe);
    let service = client.key == "service_role";
    let address_key =
        if service { None } else { Some(format!("ip:{}", client.address.as_deref().unwrap_or("unknown"))) };

    // Which budget this request spends (see the module documentation).
    let (budget_key, budget) = if policy.stripe_deliveries && !service {
        if verified_delivery() {
            return Ok(());
        }
        (format!("signature:{}", address_key.as_deref().unwrap_or("ip:unknown")), FAILED_SIGNATURES)
    } else {
        (client.key.clone(), CLIENTS)
    };

    let gate =
        db.ok_or_else(|| Problem::unavailable("database_unavailable", "no database connection")).and_then(|db| {
            let rows = db.query(
                "SELECT status, code, retry_after, threat_settings FROM public.security_gate($1, $2, $3, $4)",
                &[
                    db::text(budget_key.clone()),
                    db::opt_text(address_key.clone()),
                    Param::Boolean(!service && !probe),
                    db::text(budget),
                ],
            )?;
            let row = rows.one()?;
            Ok((row.i64("status")?, row.text("code")?, row.i64("retry_after")?, row.json("threat_settings")?))
        });
    let (status, code, retry_after, settings) = match gate {
        Ok(g) => g,
        Err(e) if policy.fail_closed => {
            eprintln!("security gate unavailable, refusing ({function}): {}", e.code);
            return Err(Response::problem(
                &Problem::unavailable("security_unavailable", "the request could not be screened; retry shortly")
                    .retry_after(5),
            ));
        }
        Err(e) => {
            eprintln!("security gate unavailable, letting the request through ({function}): {}", e.code);
            (
                0,
                None,
                0,
                Some(
                    serde_json::json!({"sqlInjectionDetection": true, "xssDetection": true, "commandInjectionDetection": true}),
                ),
            )
        }
    };
    match status {
        0 => {}
        429 => {
            let retry = retry_after.clamp(1, 86_400) as u32;
            // Only going over the limit is an incident (and starts the block); requests
            // refused during the block do not extend it.
            if let (Some(db), Some("rate_limited")) = (db, code.as_deref()) {
                let details = serde_json::json!({"retry_after_s": retry, "budget": budget});
                record(db, function, req, &budget_key, client, "rate_limit_exceeded", &[], details);
            }
            return Err(Response::problem(
                &Problem::new(429, "rate_limited", "Too many requests")
                    .detail(format!("the request rate limit was exceeded; retry in {retry} s"))
                    .retry_after(retry),
            ));
        }
        _ => {
            let retry = retry_after.clamp(1, 86_400) as u32;
            return Err(Response::problem(
                &Problem::forbidden("client_blocked", "this client is blocked after a security incident")
                    .retry_after(retry),
            ));
        }
    }

    let enabled = enabled_from(settings.as_ref());
    let detections = inspect(req, enabled, policy.inspect_body);
    if detections.is_empty() {
        return Ok(());
    }
    let rules: Vec<String> = detections.iter().map(|d| d.rule.to_string()).collect();
    if !probe {
        if let Some(db) = db {
            let fields: Vec<&str> = detections.iter().map(|d| d.field.as_str()).collect();
            record(
                db,
                function,
                req,
                &client.key,
                client,
                "injection_attempt",
                &rules,
                serde_json::json!({"fields": fields}),
            );
        }
    }
    let problem = Problem::forbidden("threat_detected", "the request looks like an injection attempt and was refused");
    let listed: Vec<_> =
        detections.iter().map(|d| serde_json::json!({"kind": d.kind, "rule": d.rule, "field": d.field})).collect();
    Err(problem_with(&problem, serde_json::json!({"detections": listed})))
}

/// After the handler: a refused credential (401, or 403 from an auth check) is an
/// `unauthorized_access` incident, logged at most once a minute per client. A request that
/// presented no credential at all is not one: nothing was refused, and any page on the web can
/// make a browser send such a request.
pub fn after(function: &str, req: &Request, client: &Client, status: u16, db: Option<&Db>) {
    if !(status == 401 || status == 403) || client.key == "service_role" {
        return;
    }
    if req.header("authorization").is_none_or(|h| h.trim().is_empty()) {
        return;
    }
    if internal::verify(req) == Some(Purpose::Probe) {
        return;
    }
    if let Some(db) = db {
        record(
            db,
            function,
            req,
            &client.key,
            client,
            "unauthorized_access",
            &[],
            serde_json::json!({"status": status}),
        );
    }
}

/// Which detectors the settings turn on; a missing or non-boolean key means on.
pub fn enabled_from(settings: Option<&serde_json::Value>) -> Enabled {
    let on = |key: &str| settings.and_then(|s| s.get(key)).and_then(|v| v.as_bool()).unwrap_or(true);
    Enabled {
        sql_injection: on("sqlInjectionDetection"),
        xss: on("xssDetection"),
        command_injection: on("commandInjectionDetection"),
    }
}

/// Threats in the query string and, when asked, in the JSON body's string values.
pub fn inspect(req: &Request, enabled: Enabled, body: bool) -> Vec<Detection> {
    if !(enabled.sql_injection || enabled.xss || enabled.command_injection) {
        return Vec::new();
    }
    let mut found = threats::scan_query(&req.query, enabled);
    if body && !req.body.is_empty() {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&req.body) {
            found.extend(threats::scan_json(&value, enabled));
        }
    }
    found
}

/// The rate-limit budget of users and addresses (the guide's `global_settings` row).
const CLIENTS: &str = "global_settings";
/// The budget of requests to webhook-handler that are not verified deliveries, per address.
const FAILED_SIGNATURES: &str = "failed_webhook_signatures";

/// Record an incident of `key` (the budget's key, or the client's).
#[allow(clippy::too_many_arguments)]
fn record(
    db: &Db,
    function: &str,
    req: &Request,
    key: &str,
    client: &Client,
    event: &str,
    rules: &[String],
    details: serde_json::Value,
) {
    let result = db.query(
        "SELECT auto_response FROM public.security_record_incident($1, $2, $3, $4::text::uuid, $5, $6, $7, $8, $9::text::jsonb)",
        &[
            db::text(event),
            db::text(key),
            db::opt_text(client.address.clone()),
            db::opt_text(client.user_id.clone()),
            db::text(function),
            db::text(req.path.clone()),
            db::opt_text(req.header("user-agent").map(str::to_string)),
            Param::ArrayStr(rules.iter().map(|r| Some(r.clone())).collect()),
            db::text(details.to_string()),
        ],
    );
    if let Err(e) = result {
        eprintln!("security incident not recorded ({event}): {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn req(query: &str, body: &str) -> Request {
        Request {
            method: Method::Post,
            path: "/functions/v1/quote-processor".into(),
            sub_path: String::new(),
            query: query.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_normal_quote_is_never_a_threat() {
        let quote = r#"{"title": "O'Brien's kitchen: drop ceiling & select tiles",
            "notes": "Please select the <b>best</b> option; we drop by at 3 < 4 pm. Tiles > 20 cm.",
            "client_name": "D'Arcy & Sons", "line_items": [{"name": "Select grade oak", "description": "Drop-in sink; 1/2\" pipe | fittings", "quantity": 2}]}"#;
        assert!(inspect(&req("status=draft&q=o'neil", quote), Enabled::ALL, true).is_empty());
        // URLs whose last segment is a command's name are still URLs.
        let urls = "url=http://deeper.spin.internal/probe/deeper/echo&next=https://example.com/tools/curl";
        assert!(inspect(&req(urls, "{}"), Enabled::ALL, true).is_empty());
    }

    #[test]
    fn injections_in_query_and_body_are_found_with_rule_ids() {
        let found = inspect(&req("q=1' OR '1'='1", r#"{"notes": "<script>alert(1)</script>"}"#), Enabled::ALL, true);
        let fields: Vec<_> = found.iter().map(|d| d.field.as_str()).collect();
        assert!(fields.contains(&"query.q") && fields.contains(&"body.notes"), "{found:?}");
        assert!(found.iter().all(|d| d.rule.contains('.')));
    }

    #[test]
    fn each_kind_can_be_switched_off_and_bodies_skipped() {
        let r = req("", r#"{"notes": "<script>alert(1)</script>"}"#);
        let off = enabled_from(Some(&serde_json::json!({"xssDetection": false})));
        assert!(inspect(&r, off, true).is_empty());
        assert!(inspect(&r, Enabled::ALL, false).is_empty());
        assert!(!off.xss && off.sql_injection && off.command_injection);
    }

    #[test]
    fn admin_functions_fail_closed_and_webhook_bodies_are_not_inspected() {
        let policy = Policy::for_request;
        assert!(policy(Callers::Administrators, &[], "/").fail_closed);
        assert!(!policy(Callers::Users, &[], "/").fail_closed);
        assert!(!policy(Callers::Stripe, &[], "").fail_closed);
        assert!(!policy(Callers::Stripe, &[], "").inspect_body);
        assert!(policy(Callers::Stripe, &[], "").stripe_deliveries);
        assert!(!policy(Callers::Users, &[], "").stripe_deliveries);
        assert!(policy(Callers::Users, &[], "/batch").inspect_body);
        let analysed = &["threat-detection"];
        assert!(!policy(Callers::Administrators, analysed, "/threat-detection").inspect_body);
        assert!(!policy(Callers::Administrators, analysed, "/threat-detection/").inspect_body);
        assert!(policy(Callers::Administrators, analysed, "/config").inspect_body);
    }
}
