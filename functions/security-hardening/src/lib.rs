//! security-hardening: security scans, threat detection, configuration, incidents and blocks (SPEC "The eleven functions").
//!
//! Only `GET /functions/v1/security-hardening/health` is served so far; every other route answers 404
//! problem+json until this function's endpoints are built.

use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: &str = "security-hardening";

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(FUNCTION, env!("CARGO_PKG_VERSION"), req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    Err(Problem::route_not_found(&ctx.request))
}
