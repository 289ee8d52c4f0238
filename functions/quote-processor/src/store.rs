//! Quotes in the database: one insert path (number from the owner's counter, quota by the
//! table's trigger), one row shape, all as the calling user (RLS applies).

use quotekit::money::{Money, Rate, Totals};
use quotekit::quote::{line_items_from_stored, priced, Date, QuoteFields, QuoteStatus};
use serde_json::{json, Value};
use shared::db::{self, Db, Param, Row};
use shared::{FieldError, Problem};

pub use quotekit::quote::stored::COLUMNS;

/// A stored quote as the API answers it.
pub fn to_json(r: &Row<'_>) -> Result<Value, Problem> {
    Ok(quotekit::quote::stored::to_json(r)?)
}

fn stored(detail: impl Into<String>) -> Problem {
    eprintln!("stored quote unreadable: {}", detail.into());
    Problem::internal()
}

/// The writable fields of a stored quote, to apply an update to.
pub fn fields(r: &Row<'_>) -> Result<QuoteFields, Problem> {
    let items = line_items_from_stored(&r.json("line_items")?.unwrap_or_else(|| json!([])))
        .map_err(|e| stored(format!("{e:?}")))?;
    let rate = |k: &str| -> Result<Rate, Problem> { Rate::parse(&r.string(k)?).map_err(|e| stored(e.to_string())) };
    let valid_until = match r.timestamp("valid_until")? {
        Some(d) => Some(Date::parse(&d).ok_or_else(|| stored("valid_until"))?),
        None => None,
    };
    Ok(QuoteFields {
        client_name: r.string("client_name")?,
        client_email: r.text("client_email")?,
        client_phone: r.text("client_phone")?,
        client_address: r.text("client_address")?,
        client_id: r.text("client_id")?,
        line_items: items,
        tax_rate: rate("tax_rate")?,
        markup_rate: rate("markup_rate")?,
        notes: r.text("notes")?,
        valid_until,
        is_template: r.flag("is_template")?,
        template_name: r.text("template_name")?,
        currency: Some(r.string("currency")?),
    })
}

fn money(m: Money) -> Param {
    Param::Decimal(m.to_string())
}

fn rate(r: Rate) -> Param {
    Param::Decimal(r.to_string())
}

fn date(d: Option<Date>) -> Param {
    match d {
        Some(d) => Param::Date((d.year() as i32, d.month(), d.day())),
        None => Param::DbNull,
    }
}

fn items_json(q: &QuoteFields, totals: &Totals) -> Param {
    Param::Jsonb(serde_json::to_vec(&priced(&q.line_items, totals)).unwrap_or_default())
}

/// `$1` (the owner or the quote id), then the writable fields as `$2..$18`, then `extra`.
fn params(first: Param, q: &QuoteFields, totals: &Totals, extra: Option<Param>) -> Vec<Param> {
    let mut p = vec![
        first,
        q.client_id.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
        db::text(q.client_name.clone()),
        db::opt_text(q.client_email.clone()),
        db::opt_text(q.client_phone.clone()),
        db::opt_text(q.client_address.clone()),
        items_json(q, totals),
        money(totals.subtotal),
        rate(q.markup_rate),
        money(totals.markup_amount),
        rate(q.tax_rate),
        money(totals.tax_amount),
        money(totals.total),
        db::opt_text(q.notes.clone()),
        date(q.valid_until),
        Param::Boolean(q.is_template),
        db::opt_text(q.template_name.clone()),
        db::text(q.currency.clone().unwrap_or_else(|| quotekit::currency::DEFAULT.to_string())),
    ];
    p.extend(extra);
    p
}

/// Insert a new quote of the caller (inside their transaction). Its number comes from the
/// caller's counter row, locked and advanced in the same transaction; the quota trigger
/// counts it (or refuses it with 402).
pub fn insert(db: &Db, user_id: &str, q: &QuoteFields, totals: &Totals) -> Result<Value, Problem> {
    let rows = db.query(
        &format!(
            "WITH n AS (SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int AS year),
                  s AS (SELECT n.year, public.next_quote_number(n.year) AS seq FROM n)
             INSERT INTO public.quotes AS q (user_id, client_id, client_name, client_email, client_phone, client_address,
                 quote_number, quote_year, quote_seq, line_items, subtotal, markup_rate, markup_amount, tax_rate,
                 tax_amount, total, notes, valid_until, is_template, template_name, currency)
             SELECT $1, $2, $3, $4, $5, $6, 'Q-' || s.year || '-' || lpad(s.seq::text, greatest(4, length(s.seq::text)), '0'), s.year, s.seq,
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
             FROM s
             RETURNING {COLUMNS}"
        ),
        &params(db::uuid(user_id), q, totals, None),
    )?;
    to_json(&rows.one()?)
}

/// Write the fields, totals and (when it changes) the status of an existing quote.
pub fn update(
    db: &Db,
    id: &str,
    q: &QuoteFields,
    totals: &Totals,
    status: Option<QuoteStatus>,
) -> Result<Value, Problem> {
    let rows = db.query(
        &format!(
            "UPDATE public.quotes AS q SET client_id = $2, client_name = $3, client_email = $4, client_phone = $5,
                 client_address = $6, line_items = $7, subtotal = $8, markup_rate = $9, markup_amount = $10,
                 tax_rate = $11, tax_amount = $12, total = $13, notes = $14, valid_until = $15, is_template = $16,
                 template_name = $17, currency = $18,
                 status = coalesce($19::text::public.quote_status, q.status),
                 sent_at = CASE WHEN $19 = 'sent' THEN now() ELSE q.sent_at END,
                 accepted_at = CASE WHEN $19 = 'accepted' THEN now() ELSE q.accepted_at END,
                 declined_at = CASE WHEN $19 = 'declined' THEN now() ELSE q.declined_at END
             WHERE q.id = $1
             RETURNING {COLUMNS}"
        ),
        &params(db::uuid(id), q, totals, Some(status.map(|s| db::text(s.as_str())).unwrap_or(Param::DbNull))),
    )?;
    to_json(&rows.one()?)
}

/// The currency of the caller's new quotes: their company settings' `preferred_currency`
/// when it is an active ISO 4217 code, else USD. Run it in the caller's transaction (RLS).
pub fn preferred_currency(db: &Db, user_id: &str) -> Result<String, Problem> {
    let rows = db.query(
        "SELECT upper(s.preferred_currency) AS currency FROM public.company_settings s WHERE s.id = $1",
        &[db::uuid(user_id)],
    )?;
    let stored = match rows.first() {
        Some(r) => r.text("currency")?,
        None => None,
    };
    Ok(stored
        .and_then(|c| quotekit::currency::Currency::lookup(&c))
        .map_or(quotekit::currency::DEFAULT, |c| c.code())
        .to_string())
}

/// A quote of the caller, locked for update when asked; `None` when absent or not theirs.
pub fn load(db: &Db, id: &str, lock: bool) -> Result<Option<(Value, QuoteFields, QuoteStatus)>, Problem> {
    let rows = db.query(
        &format!("SELECT {COLUMNS} FROM public.quotes q WHERE q.id = $1 {}", if lock { "FOR UPDATE" } else { "" }),
        &[db::uuid(id)],
    )?;
    let Some(r) = rows.first() else { return Ok(None) };
    let status = QuoteStatus::parse(&r.string("status")?).ok_or_else(|| stored("status"))?;
    Ok(Some((to_json(&r)?, fields(&r)?, status)))
}

/// A path or query id: a UUID, else a 400 naming the field.
pub fn quote_id(id: &str) -> Result<String, Problem> {
    if shared::params::is_uuid(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Problem::validation(vec![FieldError::new("id", "invalid_uuid", "the quote id must be a UUID")]))
    }
}

pub fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no quote {id}"))
}
