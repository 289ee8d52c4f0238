//! `POST /benchmark_all_functions` (or the guide's `{"operation": "benchmark_all_functions"}`):
//! for every function of the application, the first call and `iterations` repeated calls of
//! `/health` and of a representative read, over real outbound HTTP; p50 / p95 / p99 of the
//! repeated calls (nearest-rank), the success rate (2xx answers of all calls), and the
//! comparison with the targets (first call < 300 ms, repeated p95 < 100 ms). One
//! `performance_benchmarks` row per function and probe, all of a run in one transaction.
//!
//! `via` decides what is measured:
//! - `internal` (default): a call between the application's functions (`shared::chain`):
//!   Spin's service chaining, which edge dispatches in-process (a fresh instance of the
//!   function, its auth and its database work, without network or HTTP parsing), or the
//!   application's own origin where chaining is not available;
//! - `public`: `public_base_url`, a full HTTP round trip through the host's front door, as a
//!   client next to the host sees it.
//!
//! Every request gets a fresh instance (under Spin as under edge), so the "first call" differs
//! from the repeated ones only by what the host keeps warm between requests (compiled code,
//! pooled database connections and their prepared statements), not by anything this function
//! could warm.

use crate::figures::FUNCTIONS;
use crate::outbound::{self, Timed};
use crate::params::Params;
use crate::stats::{round, summarise};
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::{self, Db, DbError, Param};
use shared::Problem;
use std::collections::BTreeMap;

pub const COLD_TARGET_MS: f64 = 300.0;
pub const WARM_TARGET_MS: f64 = 100.0;
pub const DEFAULT_ITERATIONS: i64 = 10;

/// Who a representative read needs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// A signed-in user: the caller's own token when the caller is a user, otherwise a
    /// two-minute token of a fresh identity that owns no rows (the read runs the whole path
    /// of auth, RLS transaction and query, and finds nothing).
    User,
    /// An administrator: the service-role token.
    Admin,
}

/// The representative read of each function: a GET without side effects; `None` where the
/// function has none (every operation of quote-pdf-generator renders; webhook-handler takes
/// only signed Stripe deliveries, which it stores).
fn read_of(function: &str) -> Option<(&'static str, Needs)> {
    Some(match function {
        "subscription-status" => ("", Needs::User),
        "quote-processor" => ("?limit=1", Needs::User),
        "batch-processor" => ("/jobs", Needs::User),
        "webhook-monitor" => ("/overview", Needs::Admin),
        "migration-controller" => ("/status", Needs::Admin),
        "production-validator" => ("/reports", Needs::Admin),
        "security-hardening" => ("/config", Needs::Admin),
        "performance-optimizer" => ("/metrics?timeRange=1h", Needs::Admin),
        "monitoring-alerting" => ("/dashboard", Needs::Admin),
        _ => return None,
    })
}

fn no_read_reason(function: &str) -> &'static str {
    match function {
        "quote-pdf-generator" => "every operation renders a document (POST); there is no read without side effects",
        "webhook-handler" => "it takes only signed Stripe deliveries, which it stores; there is no read",
        _ => "no representative read is defined",
    }
}

/// The measurements of one probe.
struct Probe {
    function: &'static str,
    probe: &'static str,
    route: String,
    first: Timed,
    repeated: Vec<Timed>,
}

impl Probe {
    fn ok(t: &Timed) -> bool {
        t.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn succeeded(&self) -> i64 {
        (Probe::ok(&self.first) as i64) + self.repeated.iter().filter(|t| Probe::ok(t)).count() as i64
    }

    fn success_rate(&self) -> f64 {
        100.0 * self.succeeded() as f64 / (self.repeated.len() + 1) as f64
    }

    fn latencies(&self) -> Vec<f64> {
        self.repeated.iter().map(|t| t.ms).collect()
    }

    fn statuses(&self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for t in std::iter::once(&self.first).chain(&self.repeated) {
            let key = t.status.map(|s| s.to_string()).unwrap_or_else(|| "no_answer".into());
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    fn to_json(&self) -> Value {
        let s = summarise(&self.latencies()).expect("at least one repeated call");
        json!({
            "route": self.route,
            "first_ms": round(self.first.ms, 2),
            "first_status": self.first.status,
            "samples": s.n,
            "succeeded": self.succeeded(),
            "success_rate": round(self.success_rate(), 2),
            "avg_ms": round(s.avg, 2),
            "p50_ms": round(s.p50, 2),
            "p95_ms": round(s.p95, 2),
            "p99_ms": round(s.p99, 2),
            "min_ms": round(s.min, 2),
            "max_ms": round(s.max, 2),
            "first_within_target": self.first.ms < COLD_TARGET_MS,
            "repeated_within_target": s.p95 < WARM_TARGET_MS,
            "statuses": self.statuses(),
        })
    }
}

async fn measure(
    function: &'static str,
    probe: &'static str,
    base: &str,
    path: &str,
    token: Option<&str>,
    n: i64,
) -> Probe {
    let route = format!("/functions/v1/{function}{path}");
    let url = format!("{base}{route}");
    let first = outbound::get(&url, token).await;
    let mut repeated = Vec::with_capacity(n as usize);
    for _ in 0..n {
        repeated.push(outbound::get(&url, token).await);
    }
    Probe { function, probe, route, first, repeated }
}

const INSERT_SQL: &str = "
INSERT INTO public.performance_benchmarks
  (run_id, function_name, probe, route, via, first_ms, first_status, samples, succeeded, success_rate,
   avg_ms, p50_ms, p95_ms, p99_ms, min_ms, max_ms, latencies_ms, cold_target_ms, warm_target_ms,
   first_within_target, repeated_within_target, requested_by)
VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::int, $8::int, $9::int, round($10::text::numeric, 2),
        $11, $12, $13, $14, $15, $16, $17::text::float8[], $18, $19, $20, $21, $22)";

fn store(db: &Db, run_id: &str, via: &str, requested_by: &str, probes: &[Probe]) -> Result<(), DbError> {
    for p in probes {
        let latencies = p.latencies();
        let s = summarise(&latencies).expect("at least one repeated call");
        let array = format!("{{{}}}", latencies.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(","));
        db.execute(
            INSERT_SQL,
            &[
                db::uuid(run_id),
                db::text(p.function),
                db::text(p.probe),
                db::text(p.route.clone()),
                db::text(via),
                Param::Floating64(p.first.ms),
                p.first.status.map(|s| Param::Int32(s as i32)).unwrap_or(Param::DbNull),
                Param::Int32(s.n as i32),
                Param::Int32(p.succeeded() as i32),
                db::text(p.success_rate().to_string()),
                Param::Floating64(s.avg),
                Param::Floating64(s.p50),
                Param::Floating64(s.p95),
                Param::Floating64(s.p99),
                Param::Floating64(s.min),
                Param::Floating64(s.max),
                db::text(array),
                Param::Floating64(COLD_TARGET_MS),
                Param::Floating64(WARM_TARGET_MS),
                Param::Boolean(p.first.ms < COLD_TARGET_MS),
                Param::Boolean(s.p95 < WARM_TARGET_MS),
                db::text(requested_by),
            ],
        )?;
    }
    Ok(())
}

pub async fn run(db: &Db, caller: &Caller, request_token: &str, mut params: Params) -> Result<Value, Problem> {
    let iterations = params.int("iterations", DEFAULT_ITERATIONS, 1..=50);
    let via = params.choice("via", &["internal", "public"]).unwrap_or("internal");
    params.finish()?;

    let public = outbound::public_base_url();
    if via == "public" && public.is_none() {
        return Err(Problem::new(409, "not_configured", "public_base_url is not set")
            .detail("via=public calls the functions at public_base_url; set it, or use via=internal"));
    }
    let (run_id, ghost) = db.as_service(|db| -> Result<(String, String), DbError> {
        let rows = db.query("SELECT gen_random_uuid()::text AS run_id, gen_random_uuid()::text AS ghost", &[])?;
        let r = rows.one()?;
        Ok((r.string("run_id")?, r.string("ghost")?))
    })?;
    let service = outbound::service_token()?;
    let user = if caller.is_service_role() { outbound::user_token(&ghost)? } else { request_token.to_string() };

    let mut probes = Vec::new();
    let mut skipped = BTreeMap::new();
    for function in FUNCTIONS {
        let base = match via {
            "public" => public.clone().unwrap_or_default(),
            _ => shared::chain::url(function, ""),
        };
        probes.push(measure(function, "health", &base, "/health", None, iterations).await);
        match read_of(function) {
            Some((path, needs)) => {
                let token = if needs == Needs::Admin { &service } else { &user };
                probes.push(measure(function, "read", &base, path, Some(token), iterations).await);
            }
            None => {
                skipped.insert(function, no_read_reason(function));
            }
        }
    }

    let requested_by = if caller.is_service_role() { "service_role".to_string() } else { caller.user_id().to_string() };
    db.as_service(|db| store(db, &run_id, via, &requested_by, &probes))?;

    let functions: Vec<Value> = FUNCTIONS
        .iter()
        .map(|f| {
            let of = |probe: &str| probes.iter().find(|p| p.function == *f && p.probe == probe).map(Probe::to_json);
            let read = of("read").unwrap_or_else(|| json!({ "skipped": skipped.get(f).copied().unwrap_or("") }));
            json!({ "function": f, "health": of("health"), "read": read })
        })
        .collect();
    let total_calls: i64 = probes.iter().map(|p| p.repeated.len() as i64 + 1).sum();
    let ok_calls: i64 = probes.iter().map(Probe::succeeded).sum();
    let first_ok = probes.iter().filter(|p| p.first.ms < COLD_TARGET_MS).count();
    let repeated_ok =
        probes.iter().filter(|p| summarise(&p.latencies()).is_some_and(|s| s.p95 < WARM_TARGET_MS)).count();
    let failing: Vec<Value> = probes
        .iter()
        .filter(|p| p.succeeded() < p.repeated.len() as i64 + 1)
        .map(|p| json!({ "function": p.function, "probe": p.probe, "route": p.route, "statuses": p.statuses() }))
        .collect();
    Ok(json!({
        "run_id": run_id,
        "via": via,
        "measures": match via {
            "public" => "full HTTP round trips through public_base_url (the host's front door)",
            _ => "in-process service chaining (<function>.spin.internal): instance, auth and database work, no network",
        },
        "iterations": iterations,
        "targets": {
            "cold_ms": COLD_TARGET_MS,
            "warm_ms": WARM_TARGET_MS,
            "cold_applies_to": "the first call of each probe",
            "warm_applies_to": "the p95 of the repeated calls",
        },
        "percentile_method": "nearest-rank over the repeated calls",
        "functions": functions,
        "summary": {
            "functions": FUNCTIONS.len(),
            "probes": probes.len(),
            "calls": total_calls,
            "successful_calls": ok_calls,
            "success_rate": round(100.0 * ok_calls as f64 / total_calls.max(1) as f64, 2),
            "first_within_cold_target": first_ok,
            "repeated_within_warm_target": repeated_ok,
            "failing_probes": failing,
        },
    }))
}
