//! quote-pdf-generator: the caller's quotes as real PDFs (genpdf), cached, and emailed with the
//! PDF attached through Resend (SPEC "quote-pdf-generator").
//!
//! `POST /functions/v1/quote-pdf-generator` (and `/batch`, the same): see [`generate`].

mod email;
mod generate;
pub mod render;
mod request;
mod store;

use shared::http::Method;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("quote-pdf-generator", env!("CARGO_PKG_VERSION"), Callers::Users);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve_covered(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let req = &ctx.request;
    match (&req.method, req.segments().as_slice()) {
        (Method::Post, [] | ["batch"]) => generate::generate(ctx).await,
        (_, [] | ["batch"]) => Err(Problem::method_not_allowed(&["POST"])),
        _ => Err(Problem::route_not_found(req)),
    }
}
