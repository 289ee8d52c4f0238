//! One `performance_metrics` row per request: function, route, method, status, duration,
//! region and deployment colour. Written after the response has been sent.

use crate::db::{self, Db, Param};

pub struct RequestMetric<'a> {
    pub function: &'a str,
    pub route: String,
    pub method: &'a str,
    pub status: u16,
    pub duration_ms: f64,
    /// Length of the response body: the egress the cost report prices.
    pub response_bytes: i64,
    pub user_id: Option<&'a str>,
    pub request_id: &'a str,
}

/// The route with identifiers replaced, so rows group by endpoint and not by id:
/// `/functions/v1/quote-processor/5f0c…/duplicate` → `/functions/v1/quote-processor/:id/duplicate`.
pub fn route_pattern(function: &str, sub_path: &str) -> String {
    let mut out = format!("/functions/v1/{function}");
    for seg in sub_path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if looks_like_id(seg) {
            out.push_str(":id");
        } else if crate::security::capability::is_token(seg) {
            // A share link's secret: the metrics table must not become a list of working links.
            out.push_str(":token");
        } else {
            out.push_str(&seg.chars().take(64).collect::<String>());
        }
    }
    out
}

fn looks_like_id(seg: &str) -> bool {
    let uuid = seg.len() == 36 && seg.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    let number = !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit());
    let stripe = seg.contains('_') && seg.len() > 10 && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    uuid || number || stripe
}

/// Whether requests write their row: the `request_metrics` variable, `on` unless set to `off`.
/// A benchmarking switch (scripts/bench `metrics_cost` measures a request with and without
/// the row); production leaves it on, since monitoring, alerting and the cost report read the rows.
pub fn enabled() -> bool {
    crate::settings::current().request_metrics()
}

/// Insert the row as the connection's own (service) login; a failure is logged, never raised:
/// metrics must not turn a served request into an error.
pub fn record(db: &Db, m: &RequestMetric<'_>) {
    record_as(db, m, crate::settings::current().deployment_color())
}

/// As [`record`], with the row's deployment colour given (see `canary`: `forwarded`).
///
/// The row commits asynchronously (`synchronous_commit = off` for this statement's own
/// transaction only, set in the same round trip): waiting for the WAL flush of every metrics
/// row cost more than half of the host's throughput (scripts/bench `metrics_cost`). A crash of
/// the database may lose the last fraction of a second of rows, never corrupt anything; the
/// application's own data keeps synchronous commits.
pub fn record_as(db: &Db, m: &RequestMetric<'_>, colour: &str) {
    let region = crate::settings::current().region();
    let result = db.execute(
        "INSERT INTO public.performance_metrics \
           (function_name, route, method, status, duration_ms, region, deployment_color, user_id, request_id, \
            response_bytes) \
         SELECT $1::text, $2::text, $3::text, $4::int, $5::float8, $6::text, $7::text, $8::uuid, $9::text, $10::int8 \
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit",
        &[
            db::text(m.function),
            db::text(m.route.clone()),
            db::text(m.method),
            Param::Int32(m.status as i32),
            Param::Floating64(m.duration_ms),
            db::text(region),
            db::text(colour),
            m.user_id.map(db::uuid).unwrap_or(Param::DbNull),
            db::text(m.request_id),
            Param::Int64(m.response_bytes),
        ],
    );
    if let Err(e) = result {
        eprintln!("metrics row not written: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_replaced_in_routes() {
        assert_eq!(route_pattern("quote-processor", ""), "/functions/v1/quote-processor");
        assert_eq!(
            route_pattern("quote-processor", "/5f0c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b/duplicate"),
            "/functions/v1/quote-processor/:id/duplicate"
        );
        assert_eq!(route_pattern("batch-processor", "/jobs/42/run"), "/functions/v1/batch-processor/jobs/:id/run");
        assert_eq!(route_pattern("webhook-monitor", "/overview"), "/functions/v1/webhook-monitor/overview");
        let token = "AbC-_0123456789abcdefghijklmnopqrstuvwxyzAB";
        assert_eq!(
            route_pattern("quote-processor", &format!("/shared/{token}/accept")),
            "/functions/v1/quote-processor/shared/:token/accept"
        );
    }
}
