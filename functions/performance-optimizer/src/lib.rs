//! performance-optimizer: benchmarks, latency figures, regressions, recommendations, the cost
//! report and the connection pool's figures (SPEC "performance-optimizer (admin)"). Every figure
//! comes from `performance_metrics`, `performance_benchmarks`, `cost_metrics` or a real
//! measurement; nothing here "warms" or "optimises" anything, since a Spin instance lives for
//! one request. Admin only; reads and writes run as the service role.
//!
//! `/functions/v1/performance-optimizer` + `POST /benchmark_all_functions`, `/metrics`,
//! `/analyze`, `/recommendations`, `/cost_report`, `GET|PUT /cost_report/settings`, `/pool`,
//! `POST /retention` (scheduled daily);
//! the bare path takes the guide's `POST {"operation": NAME, ...}`.

mod analyze;
mod benchmark;
mod cost;
mod figures;
mod metrics;
mod outbound;
mod params;
mod pool;
mod recommendations;
mod reply;
mod retention;
mod routes;
mod stats;

use routes::Endpoint;
use shared::service::{Callers, Function};
use shared::{Context, Problem, Response};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};

const FUNCTION: Function = Function::new("performance-optimizer", env!("CARGO_PKG_VERSION"), Callers::Administrators);

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    shared::service::serve(&FUNCTION, req, out, route).await
}

async fn route(ctx: &Context) -> Result<Response, Problem> {
    let (endpoint, params) = routes::resolve(&ctx.request)?;
    let caller = ctx.admin()?;
    let db = &*ctx.db()?;
    let ok = |data, message| Ok(reply::ok(ctx, data, message));
    match endpoint {
        Endpoint::BenchmarkAll => {
            let token = ctx.request.header("authorization").and_then(|h| h.get(7..)).unwrap_or("").trim();
            ok(benchmark::run(db, &caller, token, params).await?, "Benchmark of every function")
        }
        Endpoint::Metrics => ok(metrics::get(db, params)?, "Request metrics per function"),
        Endpoint::Analyze => ok(analyze::get(db, params)?, "Window-over-window analysis"),
        Endpoint::Recommendations => ok(recommendations::get(db, params)?, "Recommendations from the data"),
        Endpoint::CostReport => ok(cost::report(db, params)?, "Cost report"),
        Endpoint::CostSettings => {
            params.finish()?;
            ok(cost::settings(db)?, "Cost unit prices")
        }
        Endpoint::UpdateCostSettings => {
            let who = if caller.is_service_role() { "service_role" } else { caller.user_id() };
            ok(cost::update(db, who, params)?, "Cost unit prices updated")
        }
        Endpoint::Pool => ok(pool::get().await?, "Connection pool"),
        Endpoint::NotPerformed(operation) => Ok(shared::http::not_performed(
            ctx.function,
            &ctx.request_id,
            operation,
            "an instance lives for one request and compiled components are cached by the host: there is nothing \
             to warm, preload, free or tune in-process",
            Some(match operation {
                "optimize" => "/functions/v1/performance-optimizer/recommendations",
                _ => "/functions/v1/performance-optimizer/benchmark_all_functions",
            }),
        )),
        Endpoint::Retention => ok(retention::run(db, params)?, "Request metrics rolled up"),
    }
}
