//! `generate_pdf` / `send_email` on create: quote-pdf-generator does the work (a call between
//! the application's functions, see `shared::chain`), acting as the same user with their token.
//! A failure there never loses the quote: the answer says what happened to the document.

use quotekit::quote::Operations;
use serde_json::{json, Value};
use shared::security::internal;
use shared::Context;
use spin_sdk::http::{Method, Request, Response};

const GENERATOR_PATH: &str = "/functions/v1/quote-pdf-generator";

/// Ask quote-pdf-generator for the quote's PDF (and email); `None` when nothing was asked.
pub async fn run(ctx: &Context, quote_id: &str, ops: Operations) -> Option<Value> {
    if !ops.generate_pdf && !ops.send_email {
        return None;
    }
    // The quote is committed; its connection goes back before quote-pdf-generator, which
    // needs one of its own, is called (see `Context::release_db`).
    ctx.release_db();
    let body = json!({ "quote_id": quote_id, "send_email": ops.send_email });
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri(shared::chain::url("quote-pdf-generator", GENERATOR_PATH))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("authorization", ctx.request.header("authorization").unwrap_or(""));
    // Already screened as part of this request: not counted against the user's limit twice.
    if let Some((name, value)) = internal::sign(internal::Purpose::Chain, GENERATOR_PATH) {
        builder.header(name, value);
    }
    let request = builder.body(body.to_string()).build();
    let answer = match spin_sdk::http::send::<_, Response>(request).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quote-pdf-generator unreachable: {e}");
            return Some(json!({ "status": "failed", "error": "the PDF service could not be reached" }));
        }
    };
    let status = *answer.status();
    let parsed: Value = serde_json::from_slice(answer.body()).unwrap_or(Value::Null);
    Some(if status == 200 {
        json!({
            "status": "generated",
            "filename": parsed["filename"],
            "size_bytes": parsed["size_bytes"],
            "sha256": parsed["sha256"],
            "cached": parsed["cached"],
            "email": parsed.get("email").cloned().unwrap_or(Value::Null),
        })
    } else {
        json!({ "status": "failed", "http_status": status, "problem": parsed })
    })
}
