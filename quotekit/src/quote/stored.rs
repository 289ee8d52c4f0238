//! Quotes as stored in `public.quotes`: the columns every answer reads (numbers as exact
//! decimal text) and the JSON shape of a stored quote, shared by every function that shows one.

use serde_json::{json, Value};
use shared::db::{DbError, Row};

/// The columns of a quote aliased `q` (`SELECT {COLUMNS} FROM public.quotes q ...`).
pub const COLUMNS: &str = "q.id, q.quote_number, q.status::text AS status, q.client_id, q.client_name,
  q.client_email, q.client_phone, q.client_address, q.line_items, q.subtotal::text AS subtotal,
  q.markup_rate::text AS markup_rate, q.markup_amount::text AS markup_amount, q.tax_rate::text AS tax_rate,
  q.tax_amount::text AS tax_amount, q.total::text AS total, q.notes, q.valid_until, q.is_template, q.template_name,
  q.sent_at, q.accepted_at, q.declined_at, q.created_at, q.updated_at, q.currency";

/// A row of [`COLUMNS`] as the API answers it: the amounts as decimal strings (two
/// decimals, a third when there is one: `"1234.50"`, `"4.011"`), and each also printed in
/// the quote's currency (`total_formatted`: `EUR 1,234.50`, `KWD 4.010`).
pub fn to_json(r: &Row<'_>) -> Result<Value, DbError> {
    let currency = r.string("currency")?;
    let amount = |column: &str| -> Result<crate::money::Money, DbError> {
        crate::money::Money::parse(&r.string(column)?).map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
    };
    let (subtotal, markup, tax, total) =
        (amount("subtotal")?, amount("markup_amount")?, amount("tax_amount")?, amount("total")?);
    let formatted = |a| crate::currency::format(a, &currency);
    Ok(json!({
        "subtotal_formatted": formatted(subtotal),
        "markup_amount_formatted": formatted(markup),
        "tax_amount_formatted": formatted(tax),
        "total_formatted": formatted(total),
        "currency": currency,
        "id": r.string("id")?,
        "quote_number": r.string("quote_number")?,
        "status": r.string("status")?,
        "client_id": r.text("client_id")?,
        "client_name": r.string("client_name")?,
        "client_email": r.text("client_email")?,
        "client_phone": r.text("client_phone")?,
        "client_address": r.text("client_address")?,
        "line_items": r.json("line_items")?.unwrap_or_else(|| json!([])),
        "subtotal": subtotal.to_string(),
        "markup_rate": r.string("markup_rate")?,
        "markup_amount": markup.to_string(),
        "tax_rate": r.string("tax_rate")?,
        "tax_amount": tax.to_string(),
        "total": total.to_string(),
        "notes": r.text("notes")?,
        "valid_until": r.timestamp("valid_until")?,
        "is_template": r.flag("is_template")?,
        "template_name": r.text("template_name")?,
        "sent_at": r.timestamp("sent_at")?,
        "accepted_at": r.timestamp("accepted_at")?,
        "declined_at": r.timestamp("declined_at")?,
        "created_at": r.timestamp("created_at")?,
        "updated_at": r.timestamp("updated_at")?,
    }))
}
