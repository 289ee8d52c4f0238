//! subscription-status: the caller's plan, entitlements, usage this period, limits and what
//! is left of them, with diagnostics (SPEC "subscription-status").
//!
//! `GET /functions/v1/subscription-status[?include_diagnostics=false]`; `POST` answers the
//! same (the original's callers post, its CI smoke test with `{"test": true}`): a body is
//! accepted and read for nothing.

mod diagnostics;

use diagnostics::{diagnose, Diagnostic, Facts};
use quotekit::plans::{remaining, Entitlements, Usage};
use serde_json::json;
use shared::db;
use shared::http::Method;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

pub const FUNCTION: Function = Function::new("subscription-status", env!("CARGO_PKG_VERSION"), Callers::Users);

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
        Method::Get | Method::Head | Method::Post => status(ctx),
        _ => Err(Problem::method_not_allowed(&["GET", "POST"])),
    }
}

/// Plan, usage this period, Stripe customer and (when asked) the customer's unprocessed
/// webhook events of the caller, read as the caller in one statement: the SQL is the function
/// `public.subscription_status_as(claims, user id, include diagnostics)` in
/// `migrations/0019_requests_in_one_statement.sql`. An event says why it is unprocessed by a
/// classified `reason` (`billing_data_rejected`, `customer_not_linked`,
/// `temporarily_unavailable`, `processing_failed`), never by the handler's own text, which may
/// quote the database and is for administrators only.
const STATUS_FUNCTION: &str = "public.subscription_status_as";

/// Stripe customer of the caller, if linked.
struct Customer {
    id: String,
    email: Option<String>,
}

fn status(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let include_diagnostics = match ctx.request.query_param("include_diagnostics").as_deref() {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(other) => {
            return Err(Problem::validation(vec![shared::FieldError::new(
                "include_diagnostics",
                "invalid_boolean",
                format!("`{other}` is not true or false"),
            )]))
        }
    };
    let user_id = caller.user_id().to_string();

    // Everything is read as the caller, so RLS limits it to their own rows; one statement
    // for plan, usage, customer and webhook backlog keeps the request to one round trip.
    let rows = ctx.db()?.query_as_user(
        &caller.claims_json,
        STATUS_FUNCTION,
        &[db::uuid(&user_id), db::Param::Boolean(include_diagnostics)],
    )?;
    let r = rows.one()?;
    let customer = match r.text("stripe_customer_id")? {
        Some(id) => Some(Customer { id, email: r.text("customer_email")? }),
        None => None,
    };
    let backlog = match r.int("backlog_total")? {
        Some(total) => Some((total, r.json("backlog")?.unwrap_or_else(|| json!([])))),
        None => None,
    };
    let (ent, usage) = (Entitlements::from_row(&r)?, Usage::from_row(&r)?);

    let f = &ent.features;
    let mut data = json!({
        "user": { "id": user_id, "email": caller.claims.email },
        "plan": {
            "key": ent.plan_key,
            "name": ent.plan_name,
            "entitled": ent.entitled,
            "past_due": ent.past_due,
            "limits_configured": ent.limits_configured,
        },
        "subscription": ent.subscription,
        "stripe_customer": customer.as_ref().map(|c| json!({ "id": c.id, "email": c.email })),
        "features": f,
        "usage": {
            "quotes": usage.quotes,
            "clients": usage.clients,
            "pdf_exports": usage.pdf_exports,
            "api_calls": usage.api_calls,
            "bulk_operations": usage.bulk_operations,
            "periodStart": usage.period_start,
            "periodEnd": usage.period_end,
        },
        "limits": {
            "quotes": f.max_quotes,
            "clients": f.max_clients,
            "quotesRemaining": remaining(f.max_quotes, usage.quotes),
            "clientsRemaining": remaining(f.max_clients, usage.clients),
        },
    });
    if include_diagnostics {
        let facts = Facts {
            has_customer: customer.is_some(),
            entitlements: &ent,
            usage: &usage,
            unprocessed_events: backlog.as_ref().map(|b| b.0).unwrap_or(0),
        };
        let list: Vec<Diagnostic> = diagnose(&facts);
        data["diagnostics"] = serde_json::to_value(list).unwrap_or_default();
        if let Some((_, latest)) = backlog.filter(|b| b.0 > 0) {
            data["unprocessed_webhook_events"] = latest;
        }
    }
    Ok(shared::http::envelope(FUNCTION.name, &ctx.request_id, data, "Subscription status retrieved successfully"))
}
