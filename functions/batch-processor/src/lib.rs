//! batch-processor: durable, resumable bulk jobs over the caller's quotes, clients and
//! catalog items (SPEC "batch-processor"). Requires the plan's `bulk_operations`.
//!
//! ```text
//! POST /functions/v1/batch-processor                    {operation, items, options, idempotency_key?}
//!                                                       small jobs finish here (200); larger ones 202
//! GET  /functions/v1/batch-processor/jobs               the caller's jobs (status, limit, offset)
//! GET  /functions/v1/batch-processor/jobs/{id}          status, progress %, counts, per-item errors (?items=true: all)
//! POST /functions/v1/batch-processor/jobs/{id}/run      process the next chunks within a time budget
//! POST /functions/v1/batch-processor/jobs/advance       (service role, scheduled) advance every unfinished job
//! POST /functions/v1/batch-processor/jobs/{id}/cancel   stop between chunks
//! GET  /functions/v1/batch-processor/jobs/{id}/download export: ?format=csv|json; PDFs: ?quote_id=
//! ```
//!
//! Operations: update_quote_status, delete_quotes, export_quotes, delete_clients,
//! update_item_prices, bulk_create_items, generate_pdfs. The engine is `quotekit::batch`
//! (quote-processor's `/batch` runs on it too); this crate is its router.

use quotekit::batch::{export, jobs};
use shared::http::Method;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("batch-processor", env!("CARGO_PKG_VERSION"), Callers::Users);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve_covered(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let req = &ctx.request;
    match (&req.method, req.segments().as_slice()) {
        (Method::Post, [] | ["jobs"]) => jobs::create(ctx).await,
        (Method::Post, ["jobs", "advance"]) => jobs::advance(ctx).await,
        (Method::Get, ["jobs"]) => jobs::list(ctx),
        (Method::Get, ["jobs", id]) => jobs::get(ctx, id),
        (Method::Post, ["jobs", id, "run"]) => jobs::run(ctx, id).await,
        (Method::Post, ["jobs", id, "cancel"]) => jobs::cancel(ctx, id),
        (Method::Get, ["jobs", id, "download"]) => export::download(ctx, id),
        (_, []) => Err(Problem::method_not_allowed(&["POST"])),
        (_, ["jobs"]) => Err(Problem::method_not_allowed(&["GET", "POST"])),
        (_, ["jobs", "advance"]) => Err(Problem::method_not_allowed(&["POST"])),
        (_, ["jobs", _]) => Err(Problem::method_not_allowed(&["GET"])),
        (_, ["jobs", _, "run" | "cancel"]) => Err(Problem::method_not_allowed(&["POST"])),
        (_, ["jobs", _, "download"]) => Err(Problem::method_not_allowed(&["GET"])),
        _ => Err(Problem::route_not_found(req)),
    }
}
