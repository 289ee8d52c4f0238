//! security-hardening: security scans, threat detection, the middleware's configuration,
//! incidents, blocks and the audit log (SPEC "security-hardening (admin)"). Admin only.
//!
//! `/functions/v1/security-hardening` +
//! - `POST /security_scan` (or `/scan`): probes our own endpoints and checks the configuration;
//!   `GET /scans`, `GET /scans/{id}`: stored reports
//! - `POST /threat-detection`: analyse a submitted payload; `GET /threat-detection?hours=`:
//!   what the middleware caught in recent traffic
//! - `GET /config`, `PUT|POST /config`: the rate_limiting / threat_detection /
//!   incident_response settings, validated before they are stored
//! - `GET /incidents`, `GET /incidents/{id}`, `POST /incidents/{id}/resolve`
//! - `GET /blocks`, `POST /blocks`, `DELETE /blocks/{client_key}`
//! - `GET /audit-log`
//! - `GET /`: an overview; `POST /` with `{"operation": NAME, ...}` as in the deployment guide.

mod audit;
mod blocks;
mod config;
mod incidents;
mod probes;
mod routes;
mod scan;
mod settings;
mod threats;

use routes::Endpoint;
use serde_json::json;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("security-hardening", env!("CARGO_PKG_VERSION"), Callers::Administrators)
    // Its threat analysis takes attack payloads on purpose: they are its input, not an attack.
    .analysing(&["threat-detection", "threat_detection"]);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

/// The administrator acting, as recorded in the audit log.
pub struct Actor {
    pub user_id: Option<String>,
    pub name: String,
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let (endpoint, params) = routes::resolve(&ctx.request)?;
    let caller = ctx.admin()?;
    let actor = if caller.is_service_role() {
        Actor { user_id: None, name: "service_role".into() }
    } else {
        Actor { user_id: Some(caller.user_id().to_string()), name: format!("user:{}", caller.user_id()) }
    };
    let db = &*ctx.db()?;
    let ok = |data, message| Ok(shared::http::envelope(FUNCTION.name, &ctx.request_id, data, message));
    match endpoint {
        Endpoint::Overview => ok(overview(db)?, "Security overview"),
        Endpoint::Scan => ok(scan::run(ctx, db, &actor).await?, "Security scan completed"),
        Endpoint::Scans => ok(scan::list(db, params)?, "Security scan reports"),
        Endpoint::ScanReport(id) => ok(scan::get(db, &id)?, "Security scan report"),
        Endpoint::AnalysePayload => ok(threats::analyse(ctx, db)?, "Threat analysis"),
        Endpoint::RecentThreats => ok(threats::recent(db, params)?, "Threats in recent traffic"),
        Endpoint::Config => ok(config::get(db)?, "Security configuration"),
        Endpoint::UpdateConfig => ok(config::update(ctx, db, &actor)?, "Security configuration updated"),
        Endpoint::Incidents => ok(incidents::list(db, params)?, "Security incidents"),
        Endpoint::Incident(id) => ok(incidents::get(db, &id)?, "Security incident"),
        Endpoint::ResolveIncident(id) => ok(incidents::resolve(ctx, db, &actor, &id)?, "Security incident resolved"),
        Endpoint::Blocks => ok(blocks::list(db, params)?, "Blocked clients"),
        Endpoint::AddBlock => Ok(blocks::add(ctx, db, &actor)?),
        Endpoint::RemoveBlock(key) => ok(blocks::remove(ctx, db, &actor, &key)?, "Block removed"),
        Endpoint::AuditLog => ok(audit::list(db, params)?, "Security audit log"),
    }
}

/// Open incidents, active blocks, the latest scan and the settings in force.
fn overview(db: &shared::db::Db) -> Result<serde_json::Value, Problem> {
    let configuration = config::get(db)?;
    db.as_service(|db| -> Result<_, Problem> {
        let rows = db.query(
            "SELECT \
               (SELECT count(*) FROM public.security_incidents WHERE status = 'open' AND client_key IS NOT NULL) AS open_incidents, \
               (SELECT count(*) FROM public.security_incidents WHERE status = 'open' AND client_key IS NOT NULL \
                  AND threat_level IN ('high', 'critical')) AS open_high_incidents, \
               (SELECT count(*) FROM public.security_blocks WHERE expires_at IS NULL OR expires_at > now()) AS active_blocks, \
               (SELECT to_jsonb(r) FROM (SELECT id, security_score, failed_tests, created_at \
                  FROM public.security_scan_reports ORDER BY created_at DESC LIMIT 1) r) AS latest_scan",
            &[],
        )?;
        let row = rows.one()?;
        Ok(json!({
            "open_incidents": row.i64("open_incidents")?,
            "open_high_or_critical_incidents": row.i64("open_high_incidents")?,
            "active_blocks": row.i64("active_blocks")?,
            "latest_scan": row.json("latest_scan")?,
            "configuration": configuration,
        }))
    })
}
