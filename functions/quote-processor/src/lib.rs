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
//! POST   /functions/v1/quote-processor/{id}/share           a share link (owner; see `share`)
//! GET    /functions/v1/quote-processor/{id}/share           the quote's links, without their tokens (owner)
//! DELETE /functions/v1/quote-processor/{id}/share[/{link}]  revoke the quote's links (or one)
//! GET    /functions/v1/quote-processor/shared/{token}       the shared quote's page (no authentication)
//! GET    /functions/v1/quote-processor/shared/{token}/pdf   its PDF (no authentication)
//! POST   /functions/v1/quote-processor/shared/{token}/accept|decline   the client's decision
//! GET    /functions/v1/quote-processor/{id}/history         every change of the quote (owner)
//! POST   /functions/v1/quote-processor/expire               the schedule: sent quotes past valid_until expire
//! PUT    /functions/v1/quote-processor                      the original's update, {quote_id, updates}
//! DELETE /functions/v1/quote-processor?id=...               the original's delete (200 {"success": true, ...})
//! PUT|GET|DELETE /functions/v1/quote-processor/company/logo  the caller's company logo (see `logo`)
//! ```
//!
//! Answers to the original clients' forms (`{quote, operations}`, `{quote_id, updates}`,
//! `?id=`) also carry the quote as `quote`, where those clients read it.

mod batch;
mod create;
mod documents;
mod history;
mod idempotency;
mod logo;
mod page;
mod read;
mod share;
mod store;
mod update;

use quotekit::quote::QuoteStatus;
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
        (Method::Put, ["company", "logo"]) => logo::put(ctx),
        (Method::Get, ["company", "logo"]) => logo::get(ctx),
        (Method::Delete, ["company", "logo"]) => logo::delete(ctx),
        (Method::Post, []) => create::create(ctx).await,
        (Method::Get, []) => match req.query_param("id") {
            Some(id) => read::one(ctx, &id).map(with_quote_member),
            None => read::list(ctx),
        },
        (Method::Get, [id]) => read::one(ctx, id),
        (Method::Put | Method::Patch, []) => update::update_original(ctx).await,
        (Method::Put | Method::Patch, [id]) => update::update(ctx, id).await,
        (Method::Delete, []) => match req.query_param("id") {
            Some(id) => update::delete_original(ctx, &id),
            None => Err(Problem::validation(vec![shared::FieldError::new(
                "id",
                "required",
                "name the quote: DELETE /{id}, or ?id= as the original clients do",
            )])),
        },
        (Method::Delete, [id]) => update::delete(ctx, id),
        (Method::Post, ["batch"]) => batch::batch(ctx).await,
        (Method::Post, ["expire"]) => history::expire(ctx),
        (Method::Get, ["shared", token]) => share::view(ctx, token),
        (Method::Get, ["shared", token, "pdf"]) => share::pdf(ctx, token).await,
        (Method::Post, ["shared", token, "accept"]) => share::decide(ctx, token, QuoteStatus::Accepted).await,
        (Method::Post, ["shared", token, "decline"]) => share::decide(ctx, token, QuoteStatus::Declined).await,
        (Method::Post, [id, "share"]) => share::create(ctx, id),
        (Method::Get, [id, "share"]) => share::list(ctx, id),
        (Method::Delete, [id, "share"]) => share::revoke(ctx, id, None),
        (Method::Delete, [id, "share", link]) => share::revoke(ctx, id, Some(link)),
        (Method::Get, [id, "history"]) => history::history(ctx, id),
        (Method::Post, [id, "duplicate"]) => create::duplicate(ctx, id),
        (Method::Post, ["from-template", id]) => create::from_template(ctx, id),
        (_, []) => Err(Problem::method_not_allowed(&["GET", "POST", "PUT", "PATCH", "DELETE"])),
        (_, [_]) => Err(Problem::method_not_allowed(&["GET", "PUT", "PATCH", "DELETE"])),
        _ => Err(Problem::route_not_found(req)),
    }
}

/// The answer with the quote also under `quote`, where the original clients read it.
pub(crate) fn with_quote_member(mut response: Response) -> Response {
    if let Ok(serde_json::Value::Object(mut quote)) = serde_json::from_slice::<serde_json::Value>(&response.body) {
        quote.remove("document");
        let copy = serde_json::Value::Object(quote.clone());
        let mut body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&response.body).unwrap_or_default();
        body.insert("quote".into(), copy);
        response.body = serde_json::to_vec(&body).unwrap_or_default();
    }
    response
}
