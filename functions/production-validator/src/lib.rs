//! production-validator: real pre-deployment checks with a stored report (SPEC
//! "production-validator (admin)"). Admin only; the checks read as the service role.
//!
//! `POST /functions/v1/production-validator` (or `/validate`) with
//! `{"validation_type": "comprehensive" | "performance" | "security" | "reliability" |
//! "functionality" | "infrastructure"}` runs the checks and stores the report;
//! `GET /reports` lists reports, `GET /reports/{id}` returns one with its checks.

mod check;
mod checks;
mod report;
mod routes;
mod secrets;
mod store;
mod tokens;
mod validate;
mod validation_type;

/// Facts compiled in from the repository (build.rs): migrations, the definer allow-list,
/// the manifest's components, required variables and service chains.
mod built {
    include!(concat!(env!("OUT_DIR"), "/built.rs"));
}

use routes::Endpoint;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("production-validator", env!("CARGO_PKG_VERSION"), Callers::Administrators);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let endpoint = routes::resolve(&ctx.request)?;
    let caller = ctx.admin()?;
    let db = &*ctx.db()?;
    let ok = |data, message| Ok(shared::http::envelope(ctx.function, &ctx.request_id, data, message));
    match endpoint {
        Endpoint::Validate(kind) => ok(validate::run(ctx, db, &caller, kind).await?, "Validation report"),
        Endpoint::Reports(query) => ok(store::list(db, &query)?, "Validation reports"),
        Endpoint::Report(id) => ok(store::get(db, &routes::report_id(&id)?)?, "Validation report"),
    }
}
