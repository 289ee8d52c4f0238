//! Canary forwarding: while a migration (migration-controller) is active, a covered function on
//! the blue deployment sends its green share of requests to the green deployment and relays the
//! answer, so the traffic split is real traffic.
//!
//! Assignment is sticky and deterministic: the caller's key (the verified user, else the client
//! address; see `security::client`) hashes to a bucket 0–99, and buckets below the migration's
//! traffic percent go to green. Raising the percent only adds buckets, so a caller on green
//! stays on green for the rest of the migration.
//!
//! Cost: nothing when the function is not covered, on the green deployment, or when
//! `green_base_url` is unset (no database round trip); otherwise one indexed query for the
//! active run (components live for one request, so nothing is cached across requests).
//!
//! Loops: only a deployment whose `deployment_color` is not `green` forwards, and nothing a
//! client sends changes that, so a forwarded request is never forwarded again.
//!
//! Metrics: the green host writes its own row (colour `green`) for the request it served. The
//! blue host writes its row for a forwarded request with colour [`FORWARDED`] and the status
//! green answered (502 when green could not be reached, after which blue serves the request
//! itself and writes its usual `blue` row too). The gates compare `blue` rows with `forwarded`
//! rows: what clients of each colour experienced, each request counted once per colour.

use crate::db;
use crate::http::{Method, Response};
use crate::metrics;
use crate::service::Context;
use std::time::Instant;

/// The functions a migration may move: the user-facing ones (the original's default
/// `enabledFunctions`). Admin functions, the controller among them, always answer themselves.
pub const COVERABLE: [&str; 5] =
    ["subscription-status", "quote-processor", "quote-pdf-generator", "webhook-handler", "batch-processor"];

/// `performance_metrics.deployment_color` of the blue host's row for a forwarded request.
pub const FORWARDED: &str = "forwarded";

/// Response header naming the deployment that served the request.
pub const COLOUR_HEADER: &str = "x-deployment-color";

/// The bucket 0–99 of a client key (FNV-1a, then a 64-bit finaliser so that the low digits
/// are well mixed; stable across builds and platforms).
pub fn bucket(key: &str) -> u8 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h % 100) as u8
}

/// Whether a key goes to green at `percent`.
pub fn goes_green(key: &str, percent: i64) -> bool {
    (bucket(key) as i64) < percent
}

/// This deployment's colour (`deployment_color`, blue unless set).
pub fn colour() -> &'static str {
    crate::settings::current().deployment_color()
}

/// Hop-by-hop and host-set headers that are not passed on to green.
fn passes_on(name: &str) -> bool {
    !(name.starts_with("spin-")
        || name.starts_with("proxy-")
        || matches!(
            name,
            "host"
                | "content-length"
                | "connection"
                | "keep-alive"
                | "transfer-encoding"
                | "te"
                | "trailer"
                | "upgrade"
                | "x-forwarded-for"
        ))
}

/// Headers of green's answer that are not relayed (blue sets its own).
fn relays(name: &str) -> bool {
    !(name.starts_with("access-control-")
        || matches!(name, "content-length" | "connection" | "keep-alive" | "transfer-encoding" | "vary"))
}

/// Forward `ctx`'s request to green when it falls in green's share; `None` means "serve it here".
pub async fn forward(ctx: &Context) -> Option<Response> {
    let req = &ctx.request;
    if !COVERABLE.contains(&ctx.function) || req.method == Method::Options || req.segments() == ["health"] {
        return None;
    }
    if colour() == "green" {
        return None;
    }
    let green = crate::settings::current().green_base_url()?;
    let percent = match active_percent(ctx) {
        Some(p) if p > 0 => p,
        _ => return None,
    };
    let client = crate::security::client::identify(req);
    if !goes_green(&client.key, percent) {
        return None;
    }
    // Green answers from its own connections: this one goes back to the pool meanwhile.
    ctx.release_db();
    let started = Instant::now();
    match send(green, ctx, client.address.as_deref()).await {
        Ok(response) => {
            ctx.forwarded.set(true);
            Some(response)
        }
        Err(e) => {
            // Serve it on blue; the failed attempt is a green error sample all the same.
            eprintln!("canary: green unreachable ({e}); serving on blue");
            record_failed_attempt(ctx, started.elapsed().as_secs_f64() * 1000.0);
            None
        }
    }
}

/// The traffic percent of the active migration covering this function, if any.
fn active_percent(ctx: &Context) -> Option<i64> {
    let db = ctx.db().ok()?;
    let rows = db
        .query(
            "SELECT traffic_percent FROM public.migration_runs WHERE status = 'active' AND $1 = ANY (functions)",
            &[db::text(ctx.function)],
        )
        .map_err(|e| eprintln!("canary: active migration not read: {e}"))
        .ok()?;
    rows.first()?.int("traffic_percent").ok().flatten()
}

fn sdk_method(m: &Method) -> spin_sdk::http::Method {
    use spin_sdk::http::Method as M;
    match m {
        Method::Get => M::Get,
        Method::Post => M::Post,
        Method::Put => M::Put,
        Method::Patch => M::Patch,
        Method::Delete => M::Delete,
        Method::Options => M::Options,
        Method::Head => M::Head,
        Method::Other(s) => M::Other(s.clone()),
    }
}

async fn send(green: &str, ctx: &Context, client_address: Option<&str>) -> Result<Response, String> {
    let req = &ctx.request;
    let mut url = format!("{}{}", green.trim_end_matches('/'), req.path);
    if !req.query.is_empty() {
        url.push('?');
        url.push_str(&req.query);
    }
    let mut builder = spin_sdk::http::Request::builder();
    builder.method(sdk_method(&req.method)).uri(url);
    for (name, value) in req.headers.iter().filter(|(k, _)| passes_on(k)) {
        builder.header(name.as_str(), value.as_str());
    }
    // Green sees the client, not blue, when it trusts blue as a proxy (`trusted_proxies`).
    // Every line of the header: the first alone may be the client's own invention.
    let chain = match (req.list_header("x-forwarded-for"), client_address) {
        (Some(prior), Some(addr)) => Some(format!("{prior}, {addr}")),
        (None, Some(addr)) => Some(addr.to_string()),
        (prior, None) => prior,
    };
    if let Some(chain) = chain {
        builder.header("x-forwarded-for", chain);
    }
    builder.header("x-request-id", ctx.request_id.as_str());
    builder.body(req.body.clone());
    let answer: spin_sdk::http::Response = spin_sdk::http::send(builder.build()).await.map_err(|e| e.to_string())?;
    let mut headers: Vec<(String, String)> = answer
        .headers()
        .filter(|(k, _)| relays(&k.to_ascii_lowercase()))
        .map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            // Blue's request id is the one the client gets; green's stays findable.
            let k = if k == "x-request-id" { "x-green-request-id".to_string() } else { k };
            (k, String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .collect();
    if !headers.iter().any(|(k, _)| k == COLOUR_HEADER) {
        headers.push((COLOUR_HEADER.into(), "green".into()));
    }
    Ok(Response { status: *answer.status(), headers, body: answer.into_body() })
}

fn record_failed_attempt(ctx: &Context, duration_ms: f64) {
    let Ok(db) = ctx.db() else { return };
    metrics::record_as(
        &db,
        &metrics::RequestMetric {
            function: ctx.function,
            route: metrics::route_pattern(ctx.function, &ctx.request.sub_path),
            method: ctx.request.method.as_str(),
            status: 502,
            duration_ms,
            response_bytes: 0,
            user_id: None,
            request_id: &ctx.request_id,
        },
        FORWARDED,
    );
}

/// The colour of this request's metrics row.
pub fn row_colour(ctx: &Context) -> String {
    if ctx.forwarded.get() {
        FORWARDED.to_string()
    } else {
        colour().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_in_range() {
        assert_eq!(
            bucket("user:3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b"),
            bucket("user:3f9c2b7e-5d41-4a8e-9b6f-1c2d3e4f5a6b")
        );
        for i in 0..1000 {
            assert!(bucket(&format!("ip:10.0.{}.{}", i / 256, i % 256)) < 100);
        }
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut counts = [0u32; 100];
        for i in 0..100_000 {
            counts[bucket(&format!("user:{i:08x}-0000-4000-8000-{i:012x}")) as usize] += 1;
        }
        // 1,000 expected per bucket; a fair hash stays well within ±20 %.
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        let green = (0..100_000).filter(|i| goes_green(&format!("ip:192.0.{}.{}", i / 256, i % 256), 25)).count();
        assert!((23_000..27_000).contains(&green), "{green}");
    }

    #[test]
    fn raising_the_percent_keeps_green_callers_on_green() {
        for i in 0..1000 {
            let key = format!("user:{i}");
            if goes_green(&key, 5) {
                assert!(goes_green(&key, 25) && goes_green(&key, 50) && goes_green(&key, 100));
            }
            assert!(!goes_green(&key, 0));
            assert!(goes_green(&key, 100));
        }
    }

    #[test]
    fn hop_by_hop_and_host_headers_stay_behind() {
        assert!(!passes_on("spin-client-addr"));
        assert!(!passes_on("host"));
        assert!(!passes_on("x-forwarded-for"));
        assert!(passes_on("authorization"));
        assert!(passes_on("stripe-signature"));
        assert!(!relays("access-control-allow-origin"));
        assert!(relays("content-type"));
    }
}
