//! The answer envelope every view shares (see `shared::http::envelope`).

use serde_json::Value;
use shared::{Context, Response};

/// `{"success": true, "data": ..., "message": ..., "metadata": {...}}`.
pub fn ok(ctx: &Context, data: Value, message: &str) -> Response {
    shared::http::envelope(ctx.function, &ctx.request_id, data, message)
}
