//! The public `GET /health`: ok / degraded / down per component and overall, nothing else
//! (no figures, no names of functions or tables). 503 when the application is down, so a load
//! balancer or Kubernetes probe can act on the status code alone.

use crate::components::{self, Status};
use serde_json::{json, Map, Value};
use shared::{Context, Response};

pub fn answer(ctx: &Context) -> Response {
    let components = match ctx.db() {
        Ok(db) => components::all(&db),
        Err(_) => Vec::new(),
    };
    let overall = if components.is_empty() { Status::Down } else { components::overall(&components) };
    let mut by_name = Map::new();
    if components.is_empty() {
        by_name.insert("database".into(), json!(Status::Down));
    }
    for c in &components {
        by_name.insert(c.name.into(), json!(c.status));
    }
    let body: Value = json!({
        "status": overall,
        "function": ctx.function,
        "version": env!("CARGO_PKG_VERSION"),
        "components": by_name,
    });
    Response::json(if overall == Status::Down { 503 } else { 200 }, &body)
}
