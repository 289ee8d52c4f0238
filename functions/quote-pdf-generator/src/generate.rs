//! `POST /functions/v1/quote-pdf-generator`: the caller's quotes as PDFs, optionally emailed.
//!
//! 1. The body names quotes by id only ([`crate::request`]); 400 lists every field error.
//! 2. In the caller's transaction (RLS decides what is theirs): the plan must include
//!    `pdf_export` (and `email_quotes` to email), else 402 `plan_upgrade_required`; the quotes
//!    and company settings are read; each document comes from the cache or is rendered and
//!    cached. Unknown and other users' ids are 404.
//!    The emails the request would send are claimed against the caller's daily cap in the
//!    same transaction; over it, 429 `email_limit_reached` and nothing is kept or sent.
//! 3. One `pdf_exports` usage per document served, cached or not.
//! 4. Emails go out after the documents are safe; each attempt is recorded, and a failed one
//!    is reported beside the document, never instead of it.
//!
//! `quote_id` answers the PDF (`Content-Disposition: attachment`), or with
//! `Accept: application/json` `{quote_id, quote_number, filename, size_bytes, sha256, cached,
//! render_ms, pdf_base64, email?}`. `quote_ids` answers `{results, succeeded, failed}`, one
//! entry per id in order: a document, or `{quote_id, error}` (a problem object).

use crate::email::{self, Email};
use crate::render;
use crate::request::{self, GenerateRequest, Target};
use crate::store::{self, Attempt, StoredQuote};
use credentials::encoding::{base64_encode, hex};
use quotekit::plans::Entitlements;
use serde_json::{json, Value};
use shared::auth::Caller;
use shared::db::Db;
use shared::{Context, Problem, Response};
use std::time::Instant;

/// A document ready to answer with.
struct Document {
    quote: StoredQuote,
    pdf: Vec<u8>,
    sha256: String,
    cached: bool,
    render_ms: Option<f64>,
    email: Option<Email>,
}

/// One quote's result: its document, or why there is none.
type Outcome = Result<Document, (String, Problem)>;

pub async fn generate(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let body: Value = ctx.request.json()?;
    let req = request::parse(&body).map_err(Problem::validation)?;
    let (outcomes, served) = {
        let db = ctx.db()?;
        let outcomes = documents(&db, &caller, &req)?;
        let served = outcomes.iter().filter(|o| o.is_ok()).count();
        store::count_exports(&db, caller.user_id(), served)?;
        (outcomes, served)
    };
    let emails = if req.send_email { send_emails(ctx, &caller, &outcomes).await } else { Vec::new() };

    match req.target {
        Target::One(_) => {
            let email = emails.into_iter().next().flatten();
            let doc = outcomes.into_iter().next().expect("one id, one outcome").map_err(|(_, problem)| problem)?;
            Ok(if wants_json(ctx) {
                Response::ok(&document_json(&doc, email.as_ref())).header("cache-control", "private, no-store")
            } else {
                pdf_response(doc, email.as_ref())
            })
        }
        Target::Many(_) => {
            let mut emails = emails.into_iter();
            let results: Vec<Value> = outcomes
                .iter()
                .map(|o| match o {
                    Ok(doc) => document_json(doc, emails.next().flatten().as_ref()),
                    Err((id, problem)) => {
                        emails.next();
                        json!({"quote_id": id, "error": problem.to_json()})
                    }
                })
                .collect();
            let body = json!({"results": results, "succeeded": served, "failed": outcomes.len() - served});
            Ok(Response::ok(&body).header("cache-control", "private, no-store"))
        }
    }
}

fn plan_upgrade(ent: &Entitlements, feature: &str, to: &str) -> Problem {
    Problem::new(402, "plan_upgrade_required", "Plan upgrade required")
        .detail(format!("your plan ({}) does not include `{feature}`; upgrade your plan to {to}", ent.plan_name))
}

/// Text one request may render, in bytes: rendering time and memory follow it (a quote of
/// 200 items with 2,000-character descriptions holds about 450 KB and takes about 0.8 s and
/// 9 MB to render), so a request stays well inside the host's time and memory limits. Larger
/// sets go in several requests, or in a batch-processor `generate_pdfs` job.
pub const MAX_BATCH_TEXT_BYTES: u64 = 2_000_000;
/// Heavy requests (more than [`HEAVY_RENDER_BYTES`] of text) of one user rendering at once;
/// more answer 429 until one ends. Ordinary documents are never held back.
pub const RENDERS_PER_USER: u32 = 2;
/// Text from which a request counts as heavy: a few dozen times a typical quote's.
pub const HEAVY_RENDER_BYTES: u64 = 200_000;

/// Every requested quote's document, in request order, inside the caller's transaction.
fn documents(db: &Db, caller: &Caller, req: &GenerateRequest) -> Result<Vec<Outcome>, Problem> {
    db.as_user(&caller.claims_json, |db| {
        let ent = Entitlements::of_caller(db)?;
        if !ent.features.pdf_export {
            return Err(plan_upgrade(&ent, "pdf_export", "export quotes as PDF"));
        }
        if req.send_email && !ent.features.email_quotes {
            return Err(plan_upgrade(&ent, "email_quotes", "email quotes"));
        }
        let weights = store::weights(db, req.ids())?;
        check_batch_size(&weights)?;
        let heavy = weights.iter().map(|(_, w)| w).sum::<u64>() > HEAVY_RENDER_BYTES;
        if heavy && !store::take_render_slot(db, caller.user_id(), RENDERS_PER_USER)? {
            return Err(Problem::new(429, "renders_in_progress", "Too many documents in progress")
                .detail(format!(
                    "{RENDERS_PER_USER} of your large PDF requests are already running; retry when one ends"
                ))
                .retry_after(5));
        }
        let mut stored = store::load(db, req.ids(), ent.features.custom_branding)?;
        let mut outcomes = Vec::with_capacity(req.ids().len());
        for id in req.ids() {
            let outcome = match stored.iter().position(|q| &q.id == id) {
                Some(i) => document(db, caller.user_id(), stored.swap_remove(i), req)?,
                None => Err((id.clone(), Problem::not_found(format!("quote {id} does not exist or is not yours")))),
            };
            outcomes.push(outcome);
        }
        let emails = outcomes.iter().filter(|o| matches!(o, Ok(Document { email: Some(_), .. }))).count();
        if emails > 0 {
            let claim = store::claim_emails(db, emails)?;
            if !claim.granted {
                return Err(email_limit_reached(&claim, emails));
            }
        }
        Ok(outcomes)
    })
}

/// A batch whose quotes hold more text than one request renders is refused whole (413), with
/// how many of them would fit.
fn check_batch_size(weights: &[(String, u64)]) -> Result<(), Problem> {
    let total: u64 = weights.iter().map(|(_, w)| w).sum();
    if total <= MAX_BATCH_TEXT_BYTES {
        return Ok(());
    }
    let mut fit = 0;
    let mut sum = 0;
    for (_, w) in weights {
        sum += w;
        if sum > MAX_BATCH_TEXT_BYTES {
            break;
        }
        fit += 1;
    }
    let mb = |b: u64| b as f64 / 1e6;
    Err(Problem::new(413, "batch_too_large", "Too much to render in one request").detail(format!(
        "these {} quotes hold {:.1} MB of text and one request renders at most {:.1} MB; ask for fewer at once \
         (the first {fit} fit), or create a batch-processor generate_pdfs job",
        weights.len(),
        mb(total),
        mb(MAX_BATCH_TEXT_BYTES)
    )))
}

/// 429: the request's emails do not fit under the caller's daily cap (nothing was kept).
fn email_limit_reached(claim: &store::EmailClaim, emails: usize) -> Problem {
    Problem::new(429, "email_limit_reached", "Daily email limit reached")
        .detail(format!(
            "your plan sends at most {} quote emails a day; {} were sent today and this request would send {emails}; \
             the count starts again at 00:00 UTC",
            claim.daily_limit, claim.sent_today
        ))
        .retry_after(claim.retry_after_s)
}

/// The cached document of `quote`, or a fresh one (then cached). `Err` only for the database.
fn document(db: &Db, user_id: &str, mut quote: StoredQuote, req: &GenerateRequest) -> Result<Outcome, Problem> {
    let email = match req.send_email.then(|| email::compose(&req.email, &quote)).transpose() {
        Ok(email) => email,
        Err(field) => return Ok(Err((quote.id, Problem::validation(vec![field])))),
    };
    if let Some(cached) = quote.cached.take() {
        let (pdf, sha256) = (cached.content, cached.sha256);
        return Ok(Ok(Document { quote, pdf, sha256, cached: true, render_ms: None, email }));
    }
    let doc = match &quote.document {
        Ok(doc) => doc,
        Err(errors) => {
            let mut problem = Problem::new(422, "stored_quote_invalid", "The stored quote cannot be rendered").detail(
                format!("quote {} has stored values that are not valid; correct them and retry", quote.quote_number),
            );
            problem.errors = errors.clone();
            return Ok(Err((quote.id, problem)));
        }
    };
    let started = Instant::now();
    let pdf = match render::render(doc) {
        Ok(pdf) => pdf,
        Err(e) => {
            eprintln!("quote {}: {e}", quote.id);
            let problem = Problem::new(500, "render_failed", "The document could not be rendered")
                .detail("the PDF could not be produced; it was logged");
            return Ok(Err((quote.id, problem)));
        }
    };
    let render_ms = started.elapsed().as_secs_f64() * 1000.0;
    let sha256 = hex(&hmac_sha256::Hash::hash(&pdf));
    store::keep(db, user_id, &quote, &pdf, &sha256, render_ms)?;
    Ok(Ok(Document { quote, pdf, sha256, cached: false, render_ms: Some(render_ms), email }))
}

/// What happened to each document's email (`None` where there was no document), in order.
/// The database connection goes back to the pool while the provider is waited on (see
/// `Context::release_db`): a provider that hangs must not hold the pool's connections.
async fn send_emails(ctx: &Context, caller: &Caller, outcomes: &[Outcome]) -> Vec<Option<(Email, email::Outcome)>> {
    ctx.release_db();
    let sends = outcomes.iter().map(|o| async move {
        match o {
            Ok(Document { email: Some(e), pdf, quote, .. }) => {
                Some((e.clone(), email::send(e, &filename(quote), pdf).await))
            }
            _ => None,
        }
    });
    let sent: Vec<Option<(Email, email::Outcome)>> = futures::future::join_all(sends).await;
    let attempts: Vec<Attempt<'_>> = outcomes
        .iter()
        .zip(&sent)
        .filter_map(|(o, s)| {
            let (Ok(doc), Some((e, outcome))) = (o, s) else { return None };
            let (sent, provider_message_id, http_status, error) = match outcome {
                email::Outcome::Sent { id, http_status } => (true, id.as_deref(), Some(*http_status), None),
                email::Outcome::Failed { error, http_status } => (false, None, *http_status, Some(error.as_str())),
            };
            Some(Attempt {
                quote_id: &doc.quote.id,
                recipient: &e.to,
                subject: &e.subject,
                sent,
                provider_message_id,
                http_status,
                error,
            })
        })
        .collect();
    // The documents are already safe; a failure to record is logged, not answered.
    let recorded = ctx.db().map_err(|p| p.to_json().to_string()).and_then(|db| {
        store::record_attempts(&db, &caller.claims_json, caller.user_id(), &attempts).map_err(|e| e.to_string())
    });
    if let Err(e) = recorded {
        eprintln!("email attempts not recorded: {e}");
    }
    sent
}

fn email_json(email: &(Email, email::Outcome)) -> Value {
    let (e, outcome) = email;
    let mut v = match outcome {
        email::Outcome::Sent { id, http_status } => json!({
            "status": "sent", "to": e.to, "subject": e.subject, "provider_id": id, "http_status": http_status,
        }),
        email::Outcome::Failed { error, http_status } => json!({
            "status": "failed", "to": e.to, "subject": e.subject, "error": error, "http_status": http_status,
        }),
    };
    if !e.warnings.is_empty() {
        v["warnings"] = json!(e.warnings);
    }
    v
}

fn document_json(doc: &Document, email: Option<&(Email, email::Outcome)>) -> Value {
    let mut v = json!({
        "quote_id": doc.quote.id,
        "quote_number": doc.quote.quote_number,
        "filename": filename(&doc.quote),
        "size_bytes": doc.pdf.len(),
        "sha256": doc.sha256,
        "cached": doc.cached,
        "render_ms": doc.render_ms,
        "pdf_base64": base64_encode(&doc.pdf),
    });
    if let Some(email) = email {
        v["email"] = email_json(email);
    }
    v
}

fn pdf_response(doc: Document, email: Option<&(Email, email::Outcome)>) -> Response {
    let name = filename(&doc.quote);
    let mut r = Response::bytes(200, "application/pdf", Vec::new())
        .header("content-disposition", format!("attachment; filename=\"{name}\""))
        .header("cache-control", "private, no-store")
        .header("x-quote-id", doc.quote.id.clone())
        .header("x-document-sha256", doc.sha256.clone())
        .header("x-document-cached", doc.cached.to_string());
    if let Some((_, outcome)) = email {
        r = match outcome {
            email::Outcome::Sent { .. } => r.header("x-email-status", "sent"),
            email::Outcome::Failed { .. } => r.header("x-email-status", "failed"),
        };
    }
    r.body = doc.pdf;
    r
}

/// `quote-Q-2026-0001.pdf`; anything unusual in a stored number becomes `_`.
fn filename(quote: &StoredQuote) -> String {
    let safe: String =
        quote.quote_number.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("quote-{safe}.pdf")
}

fn wants_json(ctx: &Context) -> bool {
    ctx.request.list_header("accept").is_some_and(|a| a.to_ascii_lowercase().contains("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quotekit::money::Money;

    #[test]
    fn filenames_carry_the_quote_number_and_nothing_else() {
        let q = |n: &str| StoredQuote::for_tests(n, "A", None, None, Money::ZERO);
        assert_eq!(filename(&q("Q-2026-0001")), "quote-Q-2026-0001.pdf");
        assert_eq!(filename(&q("Q/../\"x\r\n")), "quote-Q_____x__.pdf");
    }

    #[test]
    fn a_batch_over_the_text_budget_is_refused_with_what_fits() {
        let w = |n: u64| ("q".to_string(), n);
        assert!(check_batch_size(&[w(900_000), w(900_000)]).is_ok());
        let p = check_batch_size(&[w(900_000), w(900_000), w(900_000)]).unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (413, "batch_too_large"));
        assert!(p.detail.unwrap().contains("the first 2 fit"));
    }

    #[test]
    fn digests_are_lower_case_hex() {
        assert_eq!(
            hex(&hmac_sha256::Hash::hash(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
