//! `GET /pool`: the database connection pool's figures, where the host exposes them.
//!
//! Spin keeps its connections to itself; this project's `edge` host serves its pool figures at
//! `/.well-known/edge/pool` to a service-role token. Set `pool_stats = "edge"` (and
//! `public_base_url` to the host's address) to read them; anything else answers
//! `available: false` with the reason, never made-up figures.

use crate::outbound;
use crate::stats::{rate, round};
use serde_json::{json, Value};
use shared::Problem;

pub const PATH: &str = "/.well-known/edge/pool";

fn unavailable(reason: String) -> Value {
    json!({ "available": false, "reason": reason })
}

pub async fn get() -> Result<Value, Problem> {
    match shared::settings::current().pool_stats() {
        Some("edge") => {}
        None => {
            return Ok(unavailable(
                "not available: pool_stats is not set (only the edge host exposes its connection pool; set \
                 pool_stats = \"edge\" there)"
                    .into(),
            ))
        }
        Some(other) => {
            return Ok(unavailable(format!(
                "not available: pool_stats is `{}`; the only source known is `edge`",
                other.chars().take(40).collect::<String>()
            )))
        }
    }
    let Some(base) = outbound::public_base_url() else {
        return Ok(unavailable("not available: public_base_url (the edge host's address) is not set".into()));
    };
    let url = format!("{base}{PATH}");
    let answer = outbound::get(&url, Some(&outbound::service_token()?)).await;
    let status = match answer.status {
        Some(s) => s,
        None => return Ok(unavailable(format!("not available: {url} did not answer"))),
    };
    if status != 200 {
        return Ok(unavailable(format!("not available: {url} answered {status}")));
    }
    let Ok(mut stats) = serde_json::from_slice::<Value>(&answer.body) else {
        return Ok(unavailable(format!("not available: {url} answered something that is not JSON")));
    };
    // Derived figures, each from the host's own counters.
    if let Some(pools) = stats["pools"].as_array_mut() {
        for p in pools {
            let n = |k: &str| p[k].as_i64().unwrap_or(0);
            let utilisation = rate(n("in_use"), n("max_connections")).map(|v| round(v, 1));
            let reuse = rate(n("reused"), n("acquired")).map(|v| round(v, 1));
            p["utilisation_percent"] = json!(utilisation);
            p["reuse_percent"] = json!(reuse);
        }
    }
    Ok(json!({
        "available": true,
        "source": url,
        "fetched_in_ms": round(answer.ms, 2),
        "note": "this request holds one connection while it asks, so in_use counts it",
        "host": stats,
    }))
}
