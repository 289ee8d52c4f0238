//! `POST /security_scan`: probes of our own endpoints ([`crate::probes`]) and checks of the
//! configuration, each result with its evidence; the score and summary are computed from the
//! results and the report is stored in `security_scan_reports`.
//!
//! Score: the mean of each non-skipped result's points: pass 100, warning 70, fail by severity
//! (info 50, medium 30, high 10, critical 0). Status: `critical` when a critical check failed,
//! `at_risk` when a high one did, `needs_attention` with other failures or warnings, `secure`
//! when everything passed.

use crate::probes;
use crate::Actor;
use serde::Serialize;
use serde_json::{json, Value};
use shared::db::{self, Db};
use shared::params::{self, Params};
use shared::security::catalog;
use shared::{Context, Problem};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warning,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub category: &'static str,
    pub test: &'static str,
    pub status: Status,
    /// How bad a failure of this check is.
    pub severity: Severity,
    pub description: &'static str,
    pub evidence: Value,
    pub recommendation: Option<String>,
    pub execution_time_ms: f64,
}

impl Finding {
    pub fn new(
        category: &'static str,
        test: &'static str,
        status: Status,
        severity: Severity,
        description: &'static str,
    ) -> Finding {
        Finding {
            category,
            test,
            status,
            severity,
            description,
            evidence: Value::Null,
            recommendation: None,
            execution_time_ms: 0.0,
        }
    }
    pub fn evidence(mut self, evidence: Value) -> Finding {
        self.evidence = evidence;
        self
    }
    pub fn recommend(mut self, text: impl Into<String>) -> Finding {
        self.recommendation = Some(text.into());
        self
    }
    pub fn timed(mut self, started: Instant) -> Finding {
        self.execution_time_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
        self
    }
}

/// Points of one result; `None` for a skipped check (it does not count).
fn points(f: &Finding) -> Option<u32> {
    match f.status {
        Status::Skip => None,
        Status::Pass => Some(100),
        Status::Warning => Some(70),
        Status::Fail => Some(match f.severity {
            Severity::Info => 50,
            Severity::Medium => 30,
            Severity::High => 10,
            Severity::Critical => 0,
        }),
    }
}

#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total_tests: usize,
    pub passed_tests: usize,
    pub failed_tests: usize,
    pub warning_tests: usize,
    pub skipped_tests: usize,
    pub critical_issues: usize,
    pub high_issues: usize,
}

pub fn summarise(results: &[Finding]) -> (u32, &'static str, Summary) {
    let count = |s: Status| results.iter().filter(|f| f.status == s).count();
    let failed_at = |sev: Severity| results.iter().filter(|f| f.status == Status::Fail && f.severity == sev).count();
    let scored: Vec<u32> = results.iter().filter_map(points).collect();
    let score =
        if scored.is_empty() { 0 } else { (scored.iter().sum::<u32>() as f64 / scored.len() as f64).round() as u32 };
    let summary = Summary {
        total_tests: results.len(),
        passed_tests: count(Status::Pass),
        failed_tests: count(Status::Fail),
        warning_tests: count(Status::Warning),
        skipped_tests: count(Status::Skip),
        critical_issues: failed_at(Severity::Critical),
        high_issues: failed_at(Severity::High),
    };
    let status = if summary.critical_issues > 0 {
        "critical"
    } else if summary.high_issues > 0 {
        "at_risk"
    } else if summary.failed_tests > 0 || summary.warning_tests > 0 || scored.is_empty() {
        "needs_attention"
    } else {
        "secure"
    };
    (score, status, summary)
}

pub async fn run(ctx: &Context, db: &Db, actor: &Actor) -> Result<Value, Problem> {
    let started = Instant::now();
    let mut results = Vec::new();
    results.extend(probes::forged_tokens().await);
    results.extend(probes::unsigned_webhooks().await);
    results.extend(probes::injections().await);
    results.push(probes::cors_preflight().await);
    results.extend(db.as_service(configuration_checks)?);
    results.push(secret_strength());
    results.push(webhook_secrets());

    let (score, status, summary) = summarise(&results);
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let stored = db.as_service(|db| -> Result<(String, Option<String>), Problem> {
        let rows = db.query(
            "INSERT INTO public.security_scan_reports \
               (security_score, total_tests, passed_tests, failed_tests, warning_tests, skipped_tests, \
                critical_issues, high_issues, scan_results, execution_time_ms, started_by) \
             VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::text::jsonb, $10, $11) \
             RETURNING id::text AS id, created_at",
            &[
                db::int(score as i64),
                db::int(summary.total_tests as i64),
                db::int(summary.passed_tests as i64),
                db::int(summary.failed_tests as i64),
                db::int(summary.warning_tests as i64),
                db::int(summary.skipped_tests as i64),
                db::int(summary.critical_issues as i64),
                db::int(summary.high_issues as i64),
                db::text(serde_json::to_string(&results).unwrap_or_else(|_| "[]".into())),
                shared::db::Param::Floating64(elapsed_ms),
                db::text(actor.name.clone()),
            ],
        )?;
        let row = rows.one()?;
        let id = row.string("id")?;
        crate::audit::write(
            ctx,
            db,
            actor,
            crate::audit::Entry {
                event_type: "security_scan",
                category: "system_event",
                resource_type: "security_scan_report",
                resource_id: id.clone(),
                action: "scan",
                details: json!({"score": score, "status": status, "failed": summary.failed_tests}),
                risk_level: None,
            },
        )?;
        Ok((id, row.timestamp("created_at")?))
    })?;
    Ok(json!({
        "status": status,
        "scanId": stored.0,
        "securityScore": score,
        "summary": summary,
        "results": results,
        "executionTimeMs": (elapsed_ms * 1000.0).round() / 1000.0,
        "createdAt": stored.1,
    }))
}

/// Row Level Security, privileged functions, and the middleware's own settings.
fn configuration_checks(db: &Db) -> Result<Vec<Finding>, Problem> {
    let mut out = Vec::new();

    let started = Instant::now();
    let tables = catalog::tables(db)?;
    // A table without RLS is reported by the first check only.
    let without_policies: Vec<&String> =
        tables.without_policies.iter().filter(|t| !tables.without_rls.contains(t)).collect();
    let what = "Row Level Security is enabled on every table in schema public";
    out.push(
        if tables.count == 0 {
            Finding::new("authorization", "rls_enabled", Status::Warning, Severity::Critical, what)
                .evidence(json!({"tables": 0}))
                .recommend("no tables found in schema public: are the migrations applied?")
        } else if tables.without_rls.is_empty() {
            Finding::new("authorization", "rls_enabled", Status::Pass, Severity::Critical, what)
                .evidence(json!({"tables": tables.count}))
        } else {
            Finding::new("authorization", "rls_enabled", Status::Fail, Severity::Critical, what)
                .evidence(json!({"tables": tables.count, "without_rls": tables.without_rls}))
                .recommend("ALTER TABLE ... ENABLE ROW LEVEL SECURITY and add policies")
        }
        .timed(started),
    );
    let what = "every table with RLS has at least one policy";
    out.push(
        if tables.count > 0 && without_policies.is_empty() {
            Finding::new("authorization", "rls_policies", Status::Pass, Severity::Medium, what).evidence(json!({"tables": tables.count}))
        } else if tables.count == 0 {
            Finding::new("authorization", "rls_policies", Status::Skip, Severity::Medium, what).evidence(json!({"tables": 0}))
        } else {
            Finding::new("authorization", "rls_policies", Status::Fail, Severity::Medium, what)
                .evidence(json!({"without_policies": without_policies}))
                .recommend("a table with RLS and no policy is unreachable for every role but the owner; add the intended policies")
        }
        .timed(started),
    );

    let started = Instant::now();
    let definers = catalog::definers(db)?;
    let what = "no privileged (SECURITY DEFINER) function is executable by anon or authenticated";
    out.push(
        if definers.executable_by_anon.is_empty() && definers.executable_by_authenticated.is_empty() {
            Finding::new("authorization", "privileged_functions", Status::Pass, Severity::Critical, what).evidence(
                json!({
                    "security_definer_functions": definers.count,
                    "callable_by_users_on_purpose": shared::security::USER_CALLABLE_DEFINERS,
                }),
            )
        } else {
            Finding::new("authorization", "privileged_functions", Status::Fail, Severity::Critical, what)
                .evidence(json!({"executable_by_anon": definers.executable_by_anon,
                                 "executable_by_authenticated": definers.executable_by_authenticated}))
                .recommend("REVOKE EXECUTE ... FROM PUBLIC, anon, authenticated; GRANT it to service_role")
        }
        .timed(started),
    );

    let started = Instant::now();
    let rows = db.query(
        "SELECT config_category, config_value, enabled FROM public.security_configuration \
          WHERE config_key = 'global_settings' AND config_category IN ('rate_limiting', 'threat_detection')",
        &[],
    )?;
    let mut rate = None;
    let mut threat = None;
    for row in rows.iter() {
        let entry = (row.json("config_value")?.unwrap_or(Value::Null), row.flag("enabled")?);
        match row.string("config_category")?.as_str() {
            "rate_limiting" => rate = Some(entry),
            _ => threat = Some(entry),
        }
    }
    let what = "rate limiting is on, with limits a client cannot abuse";
    out.push(
        match rate {
            None => Finding::new("network", "rate_limiting", Status::Fail, Severity::High, what)
                .evidence(json!({"setting": null}))
                .recommend("restore security_configuration rate_limiting/global_settings"),
            Some((v, false)) => Finding::new("network", "rate_limiting", Status::Fail, Severity::High, what)
                .evidence(json!({"enabled": false, "value": v}))
                .recommend("re-enable rate limiting"),
            Some((v, true)) => {
                let rpm = v.get("requestsPerMinute").and_then(Value::as_i64).unwrap_or(0);
                let burst = v.get("burstLimit").and_then(Value::as_i64).unwrap_or(0);
                if rpm > 0 && rpm <= 10_000 && burst > 0 && burst <= 20_000 {
                    Finding::new("network", "rate_limiting", Status::Pass, Severity::High, what).evidence(json!({"enabled": true, "value": v}))
                } else {
                    Finding::new("network", "rate_limiting", Status::Warning, Severity::High, what)
                        .evidence(json!({"enabled": true, "value": v}))
                        .recommend("requestsPerMinute above 10,000 or burstLimit above 20,000 per client is no practical limit")
                }
            }
        }
        .timed(started),
    );
    let what = "SQL injection, XSS and command injection detection are on";
    let kinds = ["sqlInjectionDetection", "xssDetection", "commandInjectionDetection"];
    out.push(
        match threat {
            Some((v, true)) => {
                let off: Vec<&str> =
                    kinds.iter().copied().filter(|k| v.get(*k).and_then(Value::as_bool) == Some(false)).collect();
                if off.is_empty() {
                    Finding::new("input_validation", "threat_detection", Status::Pass, Severity::High, what)
                        .evidence(json!({"value": v}))
                } else {
                    Finding::new("input_validation", "threat_detection", Status::Fail, Severity::High, what)
                        .evidence(json!({"value": v, "switched_off": off}))
                        .recommend("switch every detector on in threat_detection/global_settings")
                }
            }
            Some((v, false)) => {
                Finding::new("input_validation", "threat_detection", Status::Fail, Severity::High, what)
                    .evidence(json!({"enabled": false, "value": v}))
            }
            None => Finding::new("input_validation", "threat_detection", Status::Fail, Severity::High, what)
                .evidence(json!({"setting": null})),
        }
        .timed(started),
    );

    let rows = db.query(
        "SELECT count(*) AS open_critical FROM public.security_incidents \
          WHERE status = 'open' AND client_key IS NOT NULL AND threat_level = 'critical' \
            AND created_at > now() - interval '24 hours'",
        &[],
    )?;
    let open = rows.one()?.i64("open_critical")?;
    let what = "no unresolved critical incident in the last 24 hours";
    out.push(if open == 0 {
        Finding::new("monitoring", "open_critical_incidents", Status::Pass, Severity::Medium, what)
            .evidence(json!({"open_critical": 0}))
    } else {
        Finding::new("monitoring", "open_critical_incidents", Status::Warning, Severity::Medium, what)
            .evidence(json!({"open_critical": open}))
            .recommend("review GET /incidents?status=open&threat_level=critical and resolve them")
    });
    Ok(out)
}

/// The Supabase CLI's published default secret: anyone can mint tokens with it.
const WELL_KNOWN_SECRETS: &[&str] = &["super-secret-jwt-token-with-at-least-32-characters-long"];

/// The JWT secret signs every token: long, not a published default, not repetitive.
pub fn jwt_secret_finding(secret: Option<&str>) -> Finding {
    let what = "the JWT secret is strong (≥ 32 characters, not a published default, varied)";
    let Some(secret) = secret else {
        return Finding::new("secrets", "jwt_secret_strength", Status::Skip, Severity::Critical, what).evidence(
            json!({"configured": false, "reason": "no HS256 secret; tokens are verified from the JWKS only"}),
        );
    };
    let distinct = secret.chars().collect::<std::collections::BTreeSet<_>>().len();
    let evidence = json!({"length": secret.chars().count(), "distinct_characters": distinct,
                          "published_default": WELL_KNOWN_SECRETS.contains(&secret)});
    if WELL_KNOWN_SECRETS.contains(&secret) {
        Finding::new("secrets", "jwt_secret_strength", Status::Fail, Severity::Critical, what)
            .evidence(evidence)
            .recommend("this is the Supabase CLI's published default: rotate jwt_secret before going live")
    } else if secret.chars().count() < 32 || distinct < 10 {
        Finding::new("secrets", "jwt_secret_strength", Status::Fail, Severity::Critical, what)
            .evidence(evidence)
            .recommend("use at least 32 random characters (e.g. openssl rand -base64 48)")
    } else {
        Finding::new("secrets", "jwt_secret_strength", Status::Pass, Severity::Critical, what).evidence(evidence)
    }
}

fn secret_strength() -> Finding {
    let started = Instant::now();
    jwt_secret_finding(shared::settings::current().jwt_secret()).timed(started)
}

/// Stripe endpoint secrets look like Stripe's (`whsec_` and enough characters).
pub fn webhook_secrets_finding(list: Option<&str>) -> Finding {
    let what = "Stripe webhook secrets are configured and well-formed";
    let secrets = list.map(credentials::stripe::parse_secrets).unwrap_or_default();
    if secrets.is_empty() {
        return Finding::new("secrets", "stripe_webhook_secrets", Status::Warning, Severity::High, what)
            .evidence(json!({"configured": 0}))
            .recommend("set stripe_webhook_secrets, or webhook-handler refuses every event");
    }
    let malformed = secrets.iter().filter(|s| !s.starts_with("whsec_") || s.len() < 30).count();
    let evidence = json!({"configured": secrets.len(), "malformed": malformed});
    if malformed == 0 {
        Finding::new("secrets", "stripe_webhook_secrets", Status::Pass, Severity::High, what).evidence(evidence)
    } else {
        Finding::new("secrets", "stripe_webhook_secrets", Status::Warning, Severity::High, what)
            .evidence(evidence)
            .recommend("Stripe endpoint secrets start with whsec_; copy them from the Stripe dashboard")
    }
}

fn webhook_secrets() -> Finding {
    let started = Instant::now();
    webhook_secrets_finding(shared::settings::current().value(shared::settings::STRIPE_WEBHOOK_SECRETS)).timed(started)
}

pub fn list(db: &Db, mut p: Params) -> Result<Value, Problem> {
    let page = p.page(20);
    p.finish()?;
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.created_at DESC), '[]') AS reports, \
                    (SELECT count(*) FROM public.security_scan_reports) AS total \
               FROM (SELECT id, scan_type, security_score, total_tests, passed_tests, failed_tests, warning_tests, \
                            skipped_tests, critical_issues, high_issues, execution_time_ms, started_by, created_at \
                       FROM public.security_scan_reports ORDER BY created_at DESC LIMIT $1 OFFSET $2) r",
            &[db::int(page.limit), db::int(page.offset)],
        )?;
        let row = rows.one()?;
        Ok(json!({"reports": row.json("reports")?, "total": row.i64("total")?, "limit": page.limit, "offset": page.offset}))
    })
}

pub fn get(db: &Db, id: &str) -> Result<Value, Problem> {
    let id = params::path_id(id)?;
    db.as_service(|db| -> Result<Value, Problem> {
        let rows = db.query(
            "SELECT to_jsonb(r) AS report FROM public.security_scan_reports r WHERE id = $1",
            &[db::uuid(&id)],
        )?;
        match rows.first() {
            Some(r) => Ok(r.json("report")?.unwrap_or(Value::Null)),
            None => Err(Problem::not_found(format!("no scan report {id}"))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(status: Status, severity: Severity) -> Finding {
        Finding::new("c", "t", status, severity, "d")
    }

    #[test]
    fn score_and_status_follow_the_results() {
        let all_pass = [f(Status::Pass, Severity::Critical), f(Status::Pass, Severity::Medium)];
        assert_eq!(summarise(&all_pass).0, 100);
        assert_eq!(summarise(&all_pass).1, "secure");
        // 100 + 70 + 0 (critical fail) + skip (not counted) = 170 / 3 = 56.67 → 57
        let mixed = [
            f(Status::Pass, Severity::High),
            f(Status::Warning, Severity::High),
            f(Status::Fail, Severity::Critical),
            f(Status::Skip, Severity::High),
        ];
        let (score, status, summary) = summarise(&mixed);
        assert_eq!((score, status), (57, "critical"));
        assert_eq!(
            (
                summary.total_tests,
                summary.passed_tests,
                summary.failed_tests,
                summary.warning_tests,
                summary.skipped_tests
            ),
            (4, 1, 1, 1, 1)
        );
        assert_eq!((summary.critical_issues, summary.high_issues), (1, 0));
        let high = [f(Status::Fail, Severity::High), f(Status::Pass, Severity::High)];
        assert_eq!(summarise(&high).0, 55);
        assert_eq!(summarise(&high).1, "at_risk");
        let nothing = [f(Status::Skip, Severity::High)];
        assert_eq!((summarise(&nothing).0, summarise(&nothing).1), (0, "needs_attention"));
    }

    #[test]
    fn secrets_are_judged_on_what_they_are() {
        assert_eq!(
            jwt_secret_finding(Some("super-secret-jwt-token-with-at-least-32-characters-long")).status,
            Status::Fail
        );
        assert_eq!(jwt_secret_finding(Some("short")).status, Status::Fail);
        assert_eq!(jwt_secret_finding(Some(&"ab".repeat(20))).status, Status::Fail);
        assert_eq!(jwt_secret_finding(Some("k3J9x-Qw8vLz2Rt7Yp0Nc5Hs1Df6Gm4BaE")).status, Status::Pass);
        assert_eq!(jwt_secret_finding(None).status, Status::Skip);
        assert_eq!(webhook_secrets_finding(None).status, Status::Warning);
        assert_eq!(webhook_secrets_finding(Some("whsec_0123456789abcdefghijklmnopqrstuv")).status, Status::Pass);
        assert_eq!(
            webhook_secrets_finding(Some("whsec_0123456789abcdefghijklmnopqrstuv, sk_live_x")).status,
            Status::Warning
        );
    }
}
