//! monitoring-alerting: dashboard, alert rules, evaluation and notifications
//! (SPEC "monitoring-alerting (admin; `health` public)").
//!
//! `/functions/v1/monitoring-alerting` + `/dashboard` (also the bare path), `/dashboard.html`,
//! `/alerts` (list, acknowledge, resolve, suppress), `/rules[/{rule_id}]` (CRUD), `/evaluate`,
//! `/metrics` (Prometheus text), `/anomaly-detection`, `/notification-test`, and the public
//! `/health` (liveness) and `/ready` (readiness) every function answers. Every figure comes from real rows; admin work runs as the service role after the
//! caller has been checked to be an admin.

mod alerts;
mod anomaly;
mod components;
mod condition;
mod dashboard;
mod display;
mod evaluate;
mod notify;
mod page;
mod prometheus;
mod routes;
mod rules;
mod security_incidents;
mod test_notification;

use routes::{Endpoint, Route};
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

// `/health` is liveness, as every function's; component health and business figures are the
// dashboard's (admins only), never the public probe's.
const FUNCTION: Function = Function::new("monitoring-alerting", env!("CARGO_PKG_VERSION"), Callers::Administrators);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let endpoint = match routes::resolve(&ctx.request)? {
        // The page holds no data: it asks for a token and fetches `dashboard` with it.
        Route::Page => return Ok(page::html()),
        Route::Admin(endpoint) => endpoint,
    };
    let caller = ctx.admin()?;
    let db = &*ctx.db()?;
    let ok = |data, message| Ok(shared::http::envelope(ctx.function, &ctx.request_id, data, message));
    let req = &ctx.request;
    match endpoint {
        Endpoint::Dashboard => ok(dashboard::get(db, req)?, "Monitoring dashboard"),
        Endpoint::Alerts(action) => ok(alerts::handle(db, &caller, req, action)?, "Alerts"),
        Endpoint::Rules(op) => rules::handle(ctx, db, &caller, op),
        Endpoint::Evaluate => ok(evaluate::run(db, req).await?, "Alert rules evaluated"),
        Endpoint::Metrics => Ok(prometheus::get(db)?),
        Endpoint::Anomalies => ok(anomaly::get(db, req)?, "Anomaly detection"),
        Endpoint::NotificationTest => ok(test_notification::run(db, req).await?, "Test notifications sent"),
        Endpoint::ExternalAlert => {
            let mut r = ok(alerts::external(db, &caller, req, &ctx.request_id)?, "Alert recorded")?;
            r.status = 201;
            Ok(r)
        }
    }
}
