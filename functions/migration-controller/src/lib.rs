//! migration-controller: canary / blue-green traffic migration with automatic rollback
//! (SPEC "migration-controller (admin)").
//!
//! A migration run moves a share of the covered functions' requests from this deployment
//! (blue) to the green one (`green_base_url`) along a step plan (5 → 25 → 50 → 100 by default).
//! The forwarding itself is `shared::canary`, in every covered function's request pipeline;
//! this function keeps the run: it starts it, judges each step's gates from the real metrics
//! rows of both colours and green's health, advances after the bake time, and rolls back at
//! once when a gate is breached. Every change is a transition row with who, why and figures.
//!
//! `/functions/v1/migration-controller` + `/initialize_migration`, `/status`, `/advance`,
//! `/traffic-split`, `/execute_rollback`, `/evaluate`, `/route?key=`; or the guide's `POST` of
//! `{"operation": NAME, ...}` to the bare path. The original's names are answered too:
//! `/start` (`initialize_migration`; `enabledFunctions` are the covered functions),
//! `/rollback`, `/health-check` (green's health answers now) and `/feature-flags` (nothing to
//! switch: answered as not performed).

mod gates;
mod health;
mod ops;
mod routes;
mod settings;
mod store;

use routes::Endpoint;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("migration-controller", env!("CARGO_PKG_VERSION"), Callers::Administrators);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let (endpoint, body) = routes::resolve(&ctx.request)?;
    let caller = ctx.admin()?;
    let actor =
        if caller.is_service_role() { "service_role".to_string() } else { format!("user:{}", caller.user_id()) };
    let db = &*ctx.db()?;
    match endpoint {
        Endpoint::Initialize => ops::initialize(ctx, db, &actor, &body).await,
        Endpoint::Status => ops::status(ctx, db),
        Endpoint::Advance => ops::advance(ctx, db, &actor, &body).await,
        Endpoint::TrafficSplit => ops::traffic_split_view(ctx, db),
        Endpoint::SetTrafficSplit => ops::set_traffic_split(ctx, db, &actor, &body),
        Endpoint::Rollback => ops::rollback(ctx, db, &actor, &body),
        Endpoint::Evaluate => ops::evaluate(ctx, db, &actor, &body).await,
        Endpoint::Route => ops::route(ctx, db, &body),
        Endpoint::HealthCheck => ops::health_check(ctx, db).await,
        Endpoint::FeatureFlags => Ok(shared::http::not_performed(
            ctx.function,
            &ctx.request_id,
            "feature-flags",
            "traffic moves per deployment colour (green_base_url) and per caller; no feature flags switch anything",
            Some("/functions/v1/migration-controller/traffic-split"),
        )),
    }
}
