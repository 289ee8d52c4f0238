//! `POST /batch`: the original clients' bulk form, run by the same engine as batch-processor
//! (`quotekit::batch`): same limits, entitlement, usage, jobs and per-item results.
//!
//! `{operation: status_update | bulk_delete | bulk_export, quote_ids: [...], options: {status?, format?}}`
//! maps to update_quote_status / delete_quotes / export_quotes (`format: "pdf"` to generate_pdfs).

use quotekit::batch::{jobs, spec};
use serde_json::{json, Map, Value};
use shared::{Context, FieldError, Problem, Response};

fn translate(body: &Value) -> Result<Value, Problem> {
    let Some(obj) = body.as_object() else {
        return Err(Problem::validation(vec![FieldError::new(
            "body",
            "invalid_type",
            "the body must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    for k in obj.keys().filter(|k| !["operation", "quote_ids", "options", "idempotency_key"].contains(&k.as_str())) {
        errors.push(FieldError::new(k.clone(), "unknown_field", format!("`{k}` is not a field of a batch request")));
    }
    let options = obj.get("options").cloned().unwrap_or_else(|| json!({}));
    let format = options.get("format").and_then(Value::as_str);
    let operation = match obj.get("operation").and_then(Value::as_str) {
        Some("status_update") => Some("update_quote_status"),
        Some("bulk_delete") => Some("delete_quotes"),
        Some("bulk_export") if format == Some("pdf") => Some("generate_pdfs"),
        Some("bulk_export") => Some("export_quotes"),
        _ => {
            errors.push(FieldError::new(
                "operation",
                "unknown_operation",
                "operation must be status_update, bulk_delete or bulk_export",
            ));
            None
        }
    };
    if !obj.contains_key("quote_ids") {
        errors.push(FieldError::new("quote_ids", "required", "quote_ids is required"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let mut options: Map<String, Value> = options.as_object().cloned().unwrap_or_default();
    match operation {
        Some("export_quotes") => {
            options.entry("format").or_insert(json!("json"));
        }
        Some("generate_pdfs") | Some("delete_quotes") => {
            options.remove("format");
        }
        _ => {}
    }
    let mut job = json!({ "operation": operation, "items": obj["quote_ids"], "options": options });
    if let Some(k) = obj.get("idempotency_key") {
        job["idempotency_key"] = k.clone();
    }
    Ok(job)
}

pub async fn batch(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let body: Value = ctx.request.json()?;
    let job = translate(&body)?;
    let spec = spec::parse(&job, ctx.request.header("idempotency-key")).map_err(Problem::validation)?;
    jobs::submit(ctx, &caller, &spec).await
}
