//! webhook-monitor: admin views over webhook processing, the dead-letter queue and batch jobs
//! (SPEC "webhook-monitor (admin)"). Every figure is computed in SQL from real rows; all reads
//! run as the service role after the caller has been checked to be an admin.
//!
//! `/functions/v1/webhook-monitor` + `/overview`, `/performance`, `/dead-letter-queue[/{id}]`,
//! `POST /dead-letter-queue/{id}/replay|resolve`, `/audit-trail`, `/batch-jobs`, `/alerts`;
//! the bare path is overview (`GET`) or the view a `{"operation": NAME}` body names (`POST`).

mod alerts;
mod audit;
mod dead_letter;
mod figures;
mod jobs;
mod overview;
mod performance;
mod reply;
mod routes;

use routes::Endpoint;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("webhook-monitor", env!("CARGO_PKG_VERSION"), Callers::Administrators);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let (endpoint, params) = routes::resolve(&ctx.request)?;
    let caller = ctx.admin()?;
    let db = &*ctx.db()?;
    let ok = |data, message| Ok(reply::ok(ctx, data, message));
    match endpoint {
        Endpoint::Overview => ok(overview::get(db, params)?, "Webhook overview"),
        Endpoint::Performance => ok(performance::get(db, params)?, "Hourly webhook performance"),
        Endpoint::DeadLetters => ok(dead_letter::list(db, params)?, "Dead-letter queue"),
        Endpoint::DeadLetter(id) => ok(dead_letter::get(db, &id)?, "Dead-letter entry"),
        Endpoint::Replay(id) => dead_letter::replay(ctx, db, &caller, &id),
        Endpoint::Resolve(id) => ok(dead_letter::resolve(ctx, db, &caller, &id)?, "Dead-letter entry resolved"),
        Endpoint::AuditTrail => ok(audit::list(db, params)?, "Webhook audit trail"),
        Endpoint::BatchJobs => ok(jobs::list(db, params)?, "Batch jobs"),
        Endpoint::Alerts => ok(alerts::get(db, params)?, "Webhook alerts"),
    }
}
