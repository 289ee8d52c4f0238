//! The rows behind a document: the caller's quotes with their company settings (read as the
//! caller, so RLS decides what exists), the document cache, email attempts and usage.
//!
//! # The document cache
//!
//! `quote_documents` keeps one rendered document per quote, keyed by the quote's
//! `updated_at`: any change to the quote makes the next request render afresh. A stored
//! document is also stale once the company settings or the caller's subscription (hence the
//! branding footer) changed after it was made. Rendering replaces the quote's documents.

use crate::render::{Client, Company, Item, QuoteDocument};
use credentials::encoding::base64_decode;
use quotekit::money::{Money, Rate};
use quotekit::quote::line_items_from_stored;
use shared::db::{self, Db, DbError, Param, Row};
use shared::FieldError;

/// One of the caller's quotes as stored.
pub struct StoredQuote {
    pub id: String,
    pub quote_number: String,
    pub client_name: String,
    pub client_email: Option<String>,
    pub company_name: Option<String>,
    pub total: Money,
    pub currency: String,
    pub valid_until: Option<String>,
    /// `updated_at` as the database prints it, to key the cache exactly.
    updated_at: String,
    /// What the document shows, or why the stored quote cannot be shown.
    pub document: Result<QuoteDocument, Vec<FieldError>>,
    /// A still valid rendering.
    pub cached: Option<Cached>,
}

#[cfg(test)]
impl StoredQuote {
    pub fn for_tests(
        number: &str,
        client: &str,
        email: Option<&str>,
        company: Option<&str>,
        total: Money,
    ) -> StoredQuote {
        StoredQuote {
            id: "123e4567-e89b-12d3-a456-426614174000".into(),
            quote_number: number.into(),
            client_name: client.into(),
            client_email: email.map(str::to_string),
            company_name: company.map(str::to_string),
            total,
            currency: "USD".into(),
            valid_until: None,
            updated_at: "2026-01-01 00:00:00+00".into(),
            document: Err(Vec::new()),
            cached: None,
        }
    }
}

pub struct Cached {
    pub content: Vec<u8>,
    pub sha256: String,
}

const LOAD_SQL: &str = "
SELECT q.id, q.quote_number, q.status::text AS status,
       q.client_name, q.client_email, q.client_phone, q.client_address,
       q.line_items, q.subtotal, q.markup_rate, q.markup_amount, q.tax_rate, q.tax_amount, q.total,
       q.notes, to_char(q.valid_until, 'YYYY-MM-DD') AS valid_until,
       to_char(q.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS created,
       q.updated_at::text AS updated_at,
       s.company_name, s.company_address, s.company_phone, s.company_email, s.quote_terms,
       encode(s.logo, 'base64') AS logo,
       q.currency,
       d.content, d.sha256
FROM public.quotes q
LEFT JOIN public.company_settings s ON s.id = q.user_id
LEFT JOIN LATERAL (
  SELECT encode(doc.content, 'base64') AS content, doc.sha256
  FROM public.quote_documents doc
  WHERE doc.quote_id = q.id
    AND doc.quote_updated_at = q.updated_at
    AND doc.created_at >= coalesce(s.updated_at, '-infinity')
    AND doc.created_at >= coalesce((SELECT max(sub.updated_at) FROM public.subscriptions sub
                                    WHERE sub.user_id = q.user_id), '-infinity')
  ORDER BY doc.created_at DESC
  LIMIT 1
) d ON true
WHERE q.id = ANY($1::text[]::uuid[])";

/// How much a document of each of the caller's quotes among `ids` weighs before it is
/// loaded: the bytes of its text (line items, notes, client block), which rendering time and
/// memory follow. Run it in the caller's transaction.
pub fn weights(db: &Db, ids: &[String]) -> Result<Vec<(String, u64)>, DbError> {
    let rows = db.query(
        "SELECT q.id::text AS id,
                (octet_length(q.line_items::text) + coalesce(octet_length(q.notes), 0)
                 + coalesce(octet_length(q.client_address), 0) + octet_length(q.client_name))::int8 AS weight
         FROM public.quotes q WHERE q.id = ANY($1::text[]::uuid[])",
        &[Param::ArrayStr(ids.iter().map(|id| Some(id.clone())).collect())],
    )?;
    rows.iter().map(|r| Ok((r.string("id")?, r.int("weight")?.unwrap_or(0) as u64))).collect()
}

/// One of the caller's few render slots, held until the transaction ends; `false` when every
/// slot is taken by the caller's other requests.
pub fn take_render_slot(db: &Db, user_id: &str, slots: u32) -> Result<bool, DbError> {
    // Tried in order; the first free slot is taken and the scan stops there.
    let rows = db.query(
        "SELECT s FROM generate_series(0, $2 - 1) s
         WHERE pg_try_advisory_xact_lock(hashtext('quote-pdf-render:' || $1), s) LIMIT 1",
        &[db::text(user_id), Param::Int32(slots as i32)],
    )?;
    Ok(!rows.is_empty())
}

/// The caller's quotes among `ids` (others' and unknown ids are simply absent). Run it in
/// the caller's transaction.
pub fn load(db: &Db, ids: &[String], custom_branding: bool) -> Result<Vec<StoredQuote>, DbError> {
    let rows = db.query(LOAD_SQL, &[Param::ArrayStr(ids.iter().map(|id| Some(id.clone())).collect())])?;
    rows.iter().map(|r| stored_quote(&r, custom_branding)).collect()
}

fn money(r: &Row<'_>, column: &str) -> Result<Money, DbError> {
    Money::parse(&r.string(column)?).map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
}

fn rate(r: &Row<'_>, column: &str) -> Result<Rate, DbError> {
    Rate::parse(&r.string(column)?).map_err(|e| DbError::Decode(format!("column `{column}`: {e}")))
}

fn stored_quote(r: &Row<'_>, custom_branding: bool) -> Result<StoredQuote, DbError> {
    let currency = r.string("currency")?;
    // Line totals rounded as the quote's were: to whole units in a currency without minor units.
    let step = quotekit::currency::Currency::lookup(&currency).map_or(quotekit::money::CENT, |c| c.step());
    let line_items = r.json("line_items")?.unwrap_or_else(|| serde_json::json!([]));
    let items = line_items_from_stored(&line_items).and_then(|items| {
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let total = item.unit_price.times_in(item.quantity, step).map_err(|e| {
                    vec![FieldError::new(
                        format!("line_items[{i}]"),
                        quotekit::quote::code::OUT_OF_RANGE,
                        e.to_string(),
                    )]
                })?;
                Ok(Item {
                    name: item.name,
                    description: item.description,
                    unit: item.unit,
                    quantity: item.quantity,
                    unit_price: item.unit_price,
                    total,
                })
            })
            .collect::<Result<Vec<Item>, Vec<FieldError>>>()
    });
    let valid_until = r.text("valid_until")?;
    let total = money(r, "total")?;
    let document = match items {
        Err(errors) => Err(errors),
        Ok(items) => Ok(QuoteDocument {
            quote_number: r.string("quote_number")?,
            status: r.string("status")?,
            created: r.string("created")?,
            valid_until: valid_until.clone(),
            currency: currency.clone(),
            company: Company {
                name: r.text("company_name")?,
                address: r.text("company_address")?,
                phone: r.text("company_phone")?,
                email: r.text("company_email")?,
            },
            client: Client {
                name: r.string("client_name")?,
                email: r.text("client_email")?,
                phone: r.text("client_phone")?,
                address: r.text("client_address")?,
            },
            items,
            subtotal: money(r, "subtotal")?,
            markup_rate: rate(r, "markup_rate")?,
            markup_amount: money(r, "markup_amount")?,
            tax_rate: rate(r, "tax_rate")?,
            tax_amount: money(r, "tax_amount")?,
            total,
            notes: r.text("notes")?,
            terms: r.text("quote_terms")?,
            custom_branding,
            logo: logo(r.text("logo")?),
        }),
    };
    let cached = match (r.text("content")?, r.text("sha256")?) {
        (Some(b64), Some(sha256)) => {
            let compact: String = b64.split_ascii_whitespace().collect();
            let content =
                base64_decode(&compact).ok_or_else(|| DbError::Decode("cached document: not base64".into()))?;
            Some(Cached { content, sha256 })
        }
        _ => None,
    };
    Ok(StoredQuote {
        id: r.string("id")?,
        quote_number: r.string("quote_number")?,
        client_name: r.string("client_name")?,
        client_email: r.text("client_email")?.filter(|e| !e.trim().is_empty()),
        company_name: r.text("company_name")?.filter(|n| !n.trim().is_empty()),
        total,
        currency,
        valid_until,
        updated_at: r.string("updated_at")?,
        document,
        cached,
    })
}

/// The stored logo's bytes; a value that does not decode is logged and left out (the
/// document renders without it).
fn logo(b64: Option<String>) -> Option<Vec<u8>> {
    let compact: String = b64?.split_ascii_whitespace().collect();
    let bytes = base64_decode(&compact);
    if bytes.is_none() {
        eprintln!("company logo left out: stored base64 does not decode");
    }
    bytes
}

/// A fresh rendering of `quote`, replacing its older ones (as the caller).
pub fn keep(
    db: &Db,
    user_id: &str,
    quote: &StoredQuote,
    pdf: &[u8],
    sha256: &str,
    render_ms: f64,
) -> Result<(), DbError> {
    db.execute("DELETE FROM public.quote_documents WHERE quote_id = $1", &[db::uuid(&quote.id)])?;
    // A concurrent request may have stored the same version meanwhile: either copy will do.
    db.execute(
        "INSERT INTO public.quote_documents (quote_id, user_id, quote_updated_at, content, sha256, size_bytes, render_ms)
         VALUES ($1, $2, $3::text::timestamptz, $4, $5, $6, $7)
         ON CONFLICT (quote_id, quote_updated_at) DO NOTHING",
        &[
            db::uuid(&quote.id),
            db::uuid(user_id),
            db::text(quote.updated_at.clone()),
            Param::Binary(pdf.to_vec()),
            db::text(sha256),
            Param::Int32(pdf.len() as i32),
            Param::Floating64(render_ms),
        ],
    )?;
    Ok(())
}

/// Adds `documents` to the caller's `pdf_exports` this month (service role: users cannot
/// move their own counters).
pub fn count_exports(db: &Db, user_id: &str, documents: usize) -> Result<(), DbError> {
    if documents == 0 {
        return Ok(());
    }
    db.as_service(|db| {
        db.query(
            "SELECT public.increment_usage($1, 'pdf_exports', $2)",
            &[db::uuid(user_id), Param::Int32(documents as i32)],
        )
        .map(|_| ())
    })
}

/// The answer of `claim_quote_emails` (0008): whether the emails fit under the caller's daily
/// cap (and are now counted), and the day's figures either way.
pub struct EmailClaim {
    pub granted: bool,
    pub sent_today: i64,
    /// `-1`: no cap.
    pub daily_limit: i64,
    /// Seconds until the count starts again (00:00 UTC).
    pub retry_after_s: u32,
}

/// Counts `emails` more of the caller's quote emails today if they fit under their plan's
/// daily cap; otherwise counts nothing. Run it in the caller's transaction, before sending:
/// the day's row stays locked to the end of it, so concurrent requests of one user queue.
pub fn claim_emails(db: &Db, emails: usize) -> Result<EmailClaim, DbError> {
    let rows = db.query(
        "SELECT granted, sent_today::int8 AS sent_today, daily_limit::int8 AS daily_limit,
                greatest(1, ceil(extract(epoch FROM resets_at - now())))::int4 AS retry_after_s
         FROM public.claim_quote_emails($1)",
        &[Param::Int32(emails.min(i32::MAX as usize) as i32)],
    )?;
    let r = rows.one()?;
    Ok(EmailClaim {
        granted: r.flag("granted")?,
        sent_today: r.i64("sent_today")?,
        daily_limit: r.i64("daily_limit")?,
        retry_after_s: r.int("retry_after_s")?.unwrap_or(1).max(1) as u32,
    })
}

/// One email attempt, sent or not.
pub struct Attempt<'a> {
    pub quote_id: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub sent: bool,
    pub provider_message_id: Option<&'a str>,
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
}

/// Records `attempts` (as the caller).
pub fn record_attempts(db: &Db, claims_json: &str, user_id: &str, attempts: &[Attempt<'_>]) -> Result<(), DbError> {
    if attempts.is_empty() {
        return Ok(());
    }
    db.as_user(claims_json, |db| {
        for a in attempts {
            db.execute(
                "INSERT INTO public.quote_email_attempts
                   (quote_id, user_id, recipient, subject, status, provider_message_id, http_status, error)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    db::uuid(a.quote_id),
                    db::uuid(user_id),
                    db::text(a.recipient),
                    db::text(a.subject),
                    db::text(if a.sent { "sent" } else { "failed" }),
                    db::opt_text(a.provider_message_id),
                    a.http_status.map(|s| Param::Int32(s as i32)).unwrap_or(Param::DbNull),
                    db::opt_text(a.error),
                ],
            )?;
        }
        Ok(())
    })
}
