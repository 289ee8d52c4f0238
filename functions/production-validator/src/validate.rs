//! One validation: run the checks `validation_type` asks for, derive the report, store it.
//!
//! Order matters: the last hour of traffic is read first, so this validation's own probe
//! requests never count in the figures it judges.

use crate::check::{Category, Check};
use crate::checks::{
    catalog, database, migrations, placement, plans, probes, security_config, traffic, variables, webhooks,
};
use crate::report;
use crate::store;
use crate::validation_type::ValidationType;
use serde_json::Value;
use shared::auth::Caller;
use shared::db::{Db, DbError};
use shared::{Context, Problem};
use std::time::Instant;

/// Run a catalog / table check as the service role, in a transaction of its own (a failing
/// query cannot spoil the next check).
fn as_service(db: &Db, check: fn(&Db) -> Check) -> Check {
    match db.as_service(|db| Ok::<Check, DbError>(check(db))) {
        Ok(c) => c,
        Err(_) => check(db),
    }
}

pub async fn run(ctx: &Context, db: &Db, caller: &Caller, kind: ValidationType) -> Result<Value, Problem> {
    let started = Instant::now();
    let wants = |c: Category| kind.includes(c);
    let mut checks: Vec<Check> = Vec::new();

    if wants(Category::Performance) || wants(Category::Reliability) {
        let windows = db.as_service(|db| Ok::<_, DbError>(traffic::last_hour(db)));
        match windows {
            Ok(Ok(windows)) => {
                for (function, w) in &windows {
                    if wants(Category::Performance) {
                        checks.push(traffic::p95_latency(function, w));
                    }
                    if wants(Category::Reliability) {
                        checks.push(traffic::error_rate(function, w));
                    }
                }
            }
            Ok(Err(why)) | Err(DbError::Unavailable(why)) => checks.extend(traffic::unreadable(&why, wants)),
            Err(e) => checks.extend(traffic::unreadable(&e.to_string(), wants)),
        }
    }
    if wants(Category::Infrastructure) {
        checks.push(database::connectivity(db));
        checks.push(migrations::applied(db));
        checks.push(variables::production_variables());
        checks.push(as_service(db, placement::regional_configuration));
    }
    if wants(Category::Security) {
        checks.push(as_service(db, catalog::rls));
        checks.push(as_service(db, catalog::privileged_functions));
        checks.push(variables::secret_strength());
        checks.push(as_service(db, security_config::rate_limiting));
        checks.push(as_service(db, security_config::threat_detection));
    }
    if wants(Category::Reliability) {
        checks.push(as_service(db, webhooks::dead_letter_queue));
        checks.push(as_service(db, webhooks::stale_webhooks));
    }
    if wants(Category::Functionality) {
        checks.push(as_service(db, plans::catalog));
    }
    if wants(Category::Functionality) || wants(Category::Performance) {
        for h in probes::health_all().await {
            if wants(Category::Functionality) {
                checks.push(probes::health_endpoint(&h));
            }
            if wants(Category::Performance) {
                checks.push(probes::health_latency(&h));
            }
        }
    }
    if wants(Category::Security) {
        let authorization = ctx.request.header("authorization").unwrap_or("").to_string();
        checks.push(probes::forged_tokens(&authorization).await);
        checks.push(probes::unsigned_webhooks().await);
    }

    let summary = report::summarize(kind, &checks);
    let execution_ms = started.elapsed().as_secs_f64() * 1000.0;
    let stored = store::save(db, caller, kind, &summary, &checks, execution_ms)?;
    Ok(store::report_json(&stored, kind.as_str(), &summary, &checks, execution_ms))
}
