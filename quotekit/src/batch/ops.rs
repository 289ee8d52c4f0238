//! The work on one item, done as the calling user (RLS applies): an id that does not exist
//! and an id of someone else's row look the same — "not found" — and fail that item only.

use super::spec::{Operation, PriceAdjustment};
use crate::money::Money;
use crate::quote::{transition, QuoteStatus};
use serde_json::{json, Value};
use shared::db::{self, Db, DbError, Param};
use shared::security::internal;
use spin_sdk::http::{Method, Request, Response};

/// Why an item did not succeed.
#[derive(Debug)]
pub enum ItemError {
    /// This item failed; the reason is stored with it and the job goes on.
    Failed(String),
    /// The database went away or a conflict needs a retry: the whole chunk is rolled back.
    Abort(DbError),
}

impl From<DbError> for ItemError {
    fn from(e: DbError) -> ItemError {
        match &e {
            DbError::Unavailable(_) => ItemError::Abort(e),
            DbError::Query { code: Some(c), .. } if c == "40001" || c == "40P01" => ItemError::Abort(e),
            DbError::Query { code: Some(c), .. } if c == "23503" => {
                ItemError::Failed("still referenced by other records".into())
            }
            DbError::Query { code: Some(c), .. } if c == "42501" => ItemError::Failed("permission denied".into()),
            DbError::Query { code: Some(c), .. } if c == "23514" => {
                ItemError::Failed("the new value breaks a rule of the record".into())
            }
            _ => {
                eprintln!("batch item failed: {e}");
                ItemError::Failed("the item could not be processed (logged)".into())
            }
        }
    }
}

fn failed(reason: impl Into<String>) -> ItemError {
    ItemError::Failed(reason.into())
}

fn not_found(what: &str, id: &str) -> ItemError {
    failed(format!("not_found: no {what} {id} (it does not exist or is not yours)"))
}

/// Do `op` for `item` (inside the chunk's transaction, as the user). Sync operations only.
pub fn run(db: &Db, op: Operation, options: &Value, item: &Value) -> Result<Value, ItemError> {
    let id = item.as_str().unwrap_or_default();
    match op {
        Operation::UpdateQuoteStatus => update_quote_status(db, id, options),
        Operation::DeleteQuotes => delete_quote(db, id),
        Operation::ExportQuotes => export_quote(db, id),
        Operation::DeleteClients => delete_client(db, id),
        Operation::UpdateItemPrices => update_item_price(db, id, options),
        Operation::BulkCreateItems => create_item(db, item),
        Operation::GeneratePdfs => Err(failed("generate_pdfs runs through pdf()")),
    }
}

fn update_quote_status(db: &Db, id: &str, options: &Value) -> Result<Value, ItemError> {
    let to =
        options["status"].as_str().and_then(QuoteStatus::parse).ok_or_else(|| failed("options.status is invalid"))?;
    let rows =
        db.query("SELECT status::text AS status FROM public.quotes WHERE id = $1 FOR UPDATE", &[db::uuid(id)])?;
    let Some(row) = rows.first() else {
        return Err(not_found("quote", id));
    };
    let from = QuoteStatus::parse(&row.string("status")?).ok_or_else(|| failed("the stored status is unknown"))?;
    transition(from, to).map_err(|e| failed(format!("illegal_transition: {e}")))?;
    if from != to {
        // The quote's history names the path of the change (migration 0015).
        db.execute("SELECT set_config('quotekit.change_path', 'batch', true)", &[])?;
        db.execute(
            "UPDATE public.quotes SET status = $2::text::public.quote_status,
                 sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END,
                 accepted_at = CASE WHEN $2 = 'accepted' THEN now() ELSE accepted_at END,
                 declined_at = CASE WHEN $2 = 'declined' THEN now() ELSE declined_at END
             WHERE id = $1",
            &[db::uuid(id), db::text(to.as_str())],
        )?;
    }
    Ok(json!({ "from": from.as_str(), "to": to.as_str(), "changed": from != to }))
}

fn delete_quote(db: &Db, id: &str) -> Result<Value, ItemError> {
    db.execute("SELECT set_config('quotekit.change_path', 'batch', true)", &[])?;
    let rows = db.query("DELETE FROM public.quotes WHERE id = $1 RETURNING quote_number", &[db::uuid(id)])?;
    let Some(row) = rows.first() else {
        return Err(not_found("quote", id));
    };
    Ok(json!({ "deleted": true, "quote_number": row.string("quote_number")? }))
}

fn delete_client(db: &Db, id: &str) -> Result<Value, ItemError> {
    let rows = db.query("DELETE FROM public.clients WHERE id = $1 RETURNING name", &[db::uuid(id)])?;
    let Some(row) = rows.first() else {
        return Err(not_found("client", id));
    };
    Ok(json!({ "deleted": true, "name": row.string("name")? }))
}

/// The quote's exported row, kept as the item's result; the download is built from these.
fn export_quote(db: &Db, id: &str) -> Result<Value, ItemError> {
    let rows = db.query(
        &format!("SELECT {} FROM public.quotes q WHERE q.id = $1", crate::quote::stored::COLUMNS),
        &[db::uuid(id)],
    )?;
    let Some(r) = rows.first() else {
        return Err(not_found("quote", id));
    };
    Ok(crate::quote::stored::to_json(&r)?)
}

fn update_item_price(db: &Db, id: &str, options: &Value) -> Result<Value, ItemError> {
    let adj = PriceAdjustment::from_options(options).ok_or_else(|| failed("options.price_adjustment is invalid"))?;
    let rows =
        db.query("SELECT cost::text AS cost FROM public.line_items WHERE id = $1 FOR UPDATE", &[db::uuid(id)])?;
    let Some(row) = rows.first() else {
        return Err(not_found("catalog item", id));
    };
    let old = Money::parse(&row.string("cost")?).map_err(|_| failed("the stored cost is unreadable"))?;
    let new = adj.apply(old).ok_or_else(|| failed("out_of_range: the new cost exceeds 9999999999.99"))?;
    db.execute(
        "UPDATE public.line_items SET cost = $2 WHERE id = $1",
        &[db::uuid(id), Param::Decimal(new.to_string())],
    )?;
    Ok(json!({ "old_cost": old.to_string(), "new_cost": new.to_string() }))
}

fn create_item(db: &Db, item: &Value) -> Result<Value, ItemError> {
    let cost = item["cost"].as_str().unwrap_or("0").to_string();
    let rows = db.query(
        "INSERT INTO public.line_items (user_id, name, unit, cost, category)
         VALUES (auth.uid(), $1, $2, $3, $4) RETURNING id",
        &[
            db::text(item["name"].as_str().unwrap_or_default()),
            db::opt_text(item["unit"].as_str()),
            Param::Decimal(cost),
            db::opt_text(item["category"].as_str()),
        ],
    )?;
    Ok(json!({ "id": rows.one()?.string("id")? }))
}

const GENERATOR_PATH: &str = "/functions/v1/quote-pdf-generator";

/// Render one quote's PDF through quote-pdf-generator (service chaining, as the job's owner
/// with their token, exactly as quote-processor does: `authorization` is their header). The document itself stays in
/// `quote_documents`; the item keeps what identifies it (for the download).
pub async fn pdf(authorization: &str, quote_id: &str) -> Result<Value, ItemError> {
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri(shared::chain::url("quote-pdf-generator", GENERATOR_PATH))
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("authorization", authorization);
    // The job was screened when it was submitted: its renders do not use up the user's limit.
    if let Some((name, value)) = internal::sign(internal::Purpose::Chain, GENERATOR_PATH) {
        builder.header(name, value);
    }
    let request = builder.body(json!({ "quote_id": quote_id }).to_string()).build();
    let answer = match spin_sdk::http::send::<_, Response>(request).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("quote-pdf-generator unreachable: {e}");
            return Err(failed("the PDF service could not be reached"));
        }
    };
    let status = *answer.status();
    let parsed: Value = serde_json::from_slice(answer.body()).unwrap_or(Value::Null);
    match status {
        200 => Ok(json!({
            "quote_id": quote_id,
            "filename": parsed["filename"],
            "size_bytes": parsed["size_bytes"],
            "sha256": parsed["sha256"],
            "cached": parsed["cached"],
        })),
        404 => Err(not_found("quote", quote_id)),
        _ => {
            let code = parsed["code"].as_str().unwrap_or("pdf_failed");
            let detail = parsed["detail"].as_str().unwrap_or("the PDF could not be generated");
            Err(failed(format!("{code}: {detail} (HTTP {status})")))
        }
    }
}
