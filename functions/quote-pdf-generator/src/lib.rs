//! quote-pdf-generator: the caller's quotes as real PDFs (genpdf), cached, and emailed with the
//! PDF attached through Resend (SPEC "quote-pdf-generator").
//!
//! `POST /functions/v1/quote-pdf-generator` (and `/batch`, the same): see [`generate`].
//! `GET /functions/v1/quote-pdf-generator/template/default`: the built-in layout, which the
//! original's clients ask for by template id (there is no other).

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
        (Method::Get, ["template", id]) => template(ctx, id),
        (_, ["template", _]) => Err(Problem::method_not_allowed(&["GET"])),
        _ => Err(Problem::route_not_found(req)),
    }
}

/// The one layout every PDF uses (`render`); a template id other than `default` names
/// nothing.
fn template(ctx: &Context, id: &str) -> Result<Response, Problem> {
    ctx.user()?;
    if id != "default" {
        return Err(Problem::not_found(format!(
            "no template `{}`: every quote is rendered with the built-in layout, `default`",
            id.chars().take(60).collect::<String>()
        )));
    }
    Ok(Response::ok(&serde_json::json!({
        "template": {
            "id": "default",
            "name": "Built-in quote layout",
            "format": "application/pdf",
            "customizable": false,
            "sections": ["company", "quote number and dates", "status", "client", "line items",
                         "subtotal, markup, tax, total", "notes", "terms", "footer (unless custom_branding)"],
        },
        "cached": false,
    })))
}
