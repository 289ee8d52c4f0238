//! webhook-handler: Stripe webhooks, verified, then applied to the billing mirror exactly once
//! (SPEC "webhook-handler").
//!
//! `POST /functions/v1/webhook-handler` with Stripe's `Stripe-Signature` header. The signature
//! is checked before anything touches the database; then `quotekit::webhooks` records, applies
//! and marks the event in one transaction. Answers: 200 applied / stale / ignored / duplicate,
//! 400 bad signature or not an event, 500 handler failure (queued for retry), 503 database down.

use credentials::stripe;
use quotekit::webhooks::{self, Event, Kind, Source};
use serde_json::json;
use shared::http::Method;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use std::time::Instant;

pub const FUNCTION: Function = Function::new("webhook-handler", env!("CARGO_PKG_VERSION"), Callers::Stripe);

// The component's export; natively (bench/native) `route` is served directly, and the export's
// WIT symbol name would not link into a native library.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve_covered(&FUNCTION, req, out, route).await
}

/// The handler (public for bench/native, which serves it compiled natively).
pub async fn route(ctx: &Context) -> Result<Response, Problem> {
    let req = &ctx.request;
    if !req.segments().is_empty() {
        return Err(Problem::route_not_found(req));
    }
    match req.method {
        Method::Post => receive(ctx),
        _ => Err(Problem::method_not_allowed(&["POST"])),
    }
}

fn rejected(ctx: &Context, started: Instant, code: &str, message: &str) -> Problem {
    // At most a few audit rows a minute, however many bad requests arrive.
    if let Ok(db) = ctx.db() {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        webhooks::audit_rejected(&db, code, 400, ms, ctx.request.header("spin-client-addr"));
    }
    Problem::new(400, code, "Webhook rejected").detail(message)
}

fn receive(ctx: &Context) -> Result<Response, Problem> {
    let started = Instant::now();
    let req = &ctx.request;
    match ctx.stripe_delivery() {
        Ok(_) => {}
        Err(stripe::SignatureError::NoSecret) => {
            return Err(Problem::unavailable("webhook_not_configured", "no Stripe webhook secret is configured"));
        }
        Err(e) => return Err(rejected(ctx, started, e.code(), e.message())),
    }
    let raw =
        std::str::from_utf8(&req.body).map_err(|_| rejected(ctx, started, "invalid_event", "the body is not UTF-8"))?;
    let event = Event::parse(raw).map_err(|why| rejected(ctx, started, "invalid_event", &why))?;
    let db = ctx.db()?;
    let outcome = webhooks::process(&db, raw, &event, Source::Stripe, req.header("spin-client-addr"))?;
    if outcome.kind == Kind::Failed {
        return Err(Problem::new(500, "webhook_handler_failed", "The event could not be applied").detail(format!(
            "event {} ({}) was rolled back and queued for retry; Stripe will deliver it again",
            outcome.event_id, outcome.event_type
        )));
    }
    Ok(Response::ok(&json!({
        "received": true,
        "event_id": outcome.event_id,
        "type": outcome.event_type,
        "outcome": outcome.kind.as_str(),
        "detail": outcome.detail,
    })))
}
