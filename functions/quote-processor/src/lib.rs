//! quote-processor: the caller's quotes — create, read, list, update, delete, duplicate and
//! create from a template — with exact totals, race-free numbering and the plan's quota
//! (SPEC "quote-processor").
//!
//! ```text
//! POST   /functions/v1/quote-processor                      create (the quote, or {quote, operations}:
//!                                                           generate_pdf / send_email via quote-pdf-generator)
//! GET    /functions/v1/quote-processor[?id=...]             list (page, limit, status, client_id, q, from, to, is_template) or one
//! GET    /functions/v1/quote-processor/{id}                 one
//! PUT|PATCH /functions/v1/quote-processor/{id}              update (allow-listed fields, status moves)
//! DELETE /functions/v1/quote-processor/{id}                 delete
//! POST   /functions/v1/quote-processor/{id}/duplicate       a new draft copy
//! POST   /functions/v1/quote-processor/from-template/{id}   a new quote from a template
//! POST   /functions/v1/quote-processor/batch                status_update | bulk_delete | bulk_export (batch-processor's engine)
//! ```

mod batch;
mod create;
mod documents;
mod read;
mod store;
mod update;

use shared::http::Method;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("quote-processor", env!("CARGO_PKG_VERSION"), Callers::Users);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve_covered(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let req = &ctx.request;
    match (&req.method, req.segments().as_slice()) {
        (Method::Post, []) => create::create(ctx).await,
        (Method::Get, []) => match req.query_param("id") {
            Some(id) => read::one(ctx, &id),
            None => read::list(ctx),
        },
        (Method::Get, [id]) => read::one(ctx, id),
        (Method::Put | Method::Patch, [id]) => update::update(ctx, id).await,
        (Method::Delete, [id]) => update::delete(ctx, id),
        (Method::Post, ["batch"]) => batch::batch(ctx).await,
        (Method::Post, [id, "duplicate"]) => create::duplicate(ctx, id),
        (Method::Post, ["from-template", id]) => create::from_template(ctx, id),
        (_, []) => Err(Problem::method_not_allowed(&["GET", "POST"])),
        (_, [_]) => Err(Problem::method_not_allowed(&["GET", "PUT", "PATCH", "DELETE"])),
        _ => Err(Problem::route_not_found(req)),
    }
}
