//! Share links: a capability URL the owner sends to their client, who opens the quote without
//! an account and accepts or declines it.
//!
//! ```text
//! POST   /{id}/share                  owner: a new link (expires_in_days, default 30, at most 90)
//! GET    /{id}/share                  owner: the quote's links (never their tokens)
//! DELETE /{id}/share[/{link_id}]      owner: revoke the quote's links (or one)
//! GET    /shared/{token}              anyone with the link: the quote as an HTML page
//! GET    /shared/{token}/pdf          anyone with the link: the quote's PDF
//! POST   /shared/{token}/accept       anyone with the link: accept (name, optional comment)
//! POST   /shared/{token}/decline      anyone with the link: decline (name, optional comment)
//! ```
//!
//! The token (256 random bits) is the only credential, so it is never stored: the database
//! keeps its SHA-256 ([`capability`]). The anonymous routes run as the service role but only
//! ever read the one quote the token's hash names, and only what the quote itself shows (the
//! company block of its owner, its client, items, totals, notes, terms). A link is used once:
//! after a decision, and once expired or revoked, it answers 410. Each token has its own rate
//! budget (`share_links`), beside the per-address budget the middleware already spends.

use crate::history::set_path;
use crate::page::{self, Company};
use crate::store::{self, COLUMNS};
use quotekit::quote::{transition, QuoteStatus};
use serde_json::{json, Value};
use shared::db::{self, Db, Param};
use shared::email::{self, Outcome};
use shared::security::{capability, internal};
use shared::{Context, FieldError, Problem, Response};

/// Days a link works when the owner does not say.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest a link may work.
pub const MAX_DAYS: i64 = 90;
/// Longest signer name and comment (as the table's checks).
pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_COMMENT_CHARS: usize = 2_000;

// ---------------------------------------------------------------------------------------------
// The owner's side
// ---------------------------------------------------------------------------------------------

/// A new link to the caller's quote `id`. Sharing a draft sends it (draft → sent, the only
/// status a client can decide from); a template, or a quote already decided or expired,
/// cannot be shared (409).
pub fn create(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let days = expires_in_days(ctx.request.json_opt()?)?;
    let token = capability::new_token();
    let digest = capability::digest(token.as_bytes());
    let user_id = caller.user_id().to_string();
    let link = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<Value, Problem> {
        let (_, fields, status) = store::load(db, &id, true)?.ok_or_else(|| store::not_found(&id))?;
        if fields.is_template {
            return Err(Problem::new(409, "not_shareable", "The quote cannot be shared")
                .detail("a template is not sent to clients; create a quote from it and share that"));
        }
        match status {
            QuoteStatus::Sent => {}
            QuoteStatus::Draft => {
                db.execute(
                    "UPDATE public.quotes SET status = 'sent', sent_at = now() WHERE id = $1",
                    &[db::uuid(&id)],
                )?;
            }
            other => {
                return Err(Problem::new(409, "not_shareable", "The quote cannot be shared")
                    .detail(format!("a {other} quote is no longer open for the client's decision")))
            }
        }
        let rows = db.query(
            "INSERT INTO public.quote_share_links (quote_id, user_id, token_sha256, expires_at)
             VALUES ($1, $2, $3, now() + make_interval(days => $4))
             RETURNING id, quote_id, expires_at, created_at",
            &[db::uuid(&id), db::uuid(&user_id), db::text(digest), Param::Int32(days as i32)],
        )?;
        let r = rows.one()?;
        Ok(json!({
            "id": r.string("id")?,
            "quote_id": r.string("quote_id")?,
            "expires_at": r.timestamp("expires_at")?,
            "created_at": r.timestamp("created_at")?,
        }))
    })?;
    let path = format!("/functions/v1/quote-processor/shared/{token}");
    let base = shared::settings::current().public_base_url();
    let mut answer = link;
    answer["token"] = token.into();
    answer["url"] = format!("{}{path}", base.trim_end_matches('/')).into();
    answer["path"] = path.into();
    answer["quote_status"] = "sent".into();
    Ok(Response::json(201, &answer))
}

/// `expires_in_days` of the optional body: a whole number from 1 to [`MAX_DAYS`].
fn expires_in_days(body: Option<Value>) -> Result<i64, Problem> {
    let Some(body) = body else { return Ok(DEFAULT_DAYS) };
    let invalid = || {
        Problem::validation(vec![FieldError::new(
            "expires_in_days",
            "out_of_range",
            format!("expires_in_days must be a whole number of days from 1 to {MAX_DAYS}"),
        )])
    };
    let Value::Object(body) = body else {
        return Err(Problem::new(400, "invalid_body", "The request body is not valid").detail("send a JSON object"));
    };
    match body.get("expires_in_days") {
        None | Some(Value::Null) => Ok(DEFAULT_DAYS),
        Some(v) => v.as_i64().filter(|d| (1..=MAX_DAYS).contains(d)).ok_or_else(invalid),
    }
}

/// The caller's links to quote `id`, newest first: when each was made, expires, was revoked,
/// used for the decision and last used, and whether it still works (as the client's routes
/// judge it). Never a token: only their hashes are stored.
pub fn list(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let links = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<Vec<Value>, Problem> {
        if db.query("SELECT 1 FROM public.quotes WHERE id = $1", &[db::uuid(&id)])?.first().is_none() {
            return Err(store::not_found(&id));
        }
        let rows = db.query(
            "SELECT l.id, l.created_at, l.expires_at, l.revoked_at, l.used_at, l.last_used_at,
                    (l.revoked_at IS NULL AND l.used_at IS NULL AND l.expires_at > now()
                     AND q.status IN ('draft', 'sent')
                     AND NOT coalesce(q.valid_until < (now() AT TIME ZONE 'UTC')::date, false)) AS active
               FROM public.quote_share_links l
               JOIN public.quotes q ON q.id = l.quote_id
              WHERE l.quote_id = $1
              ORDER BY l.created_at DESC, l.id",
            &[db::uuid(&id)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(json!({
                    "id": r.string("id")?,
                    "created_at": r.timestamp("created_at")?,
                    "expires_at": r.timestamp("expires_at")?,
                    "revoked_at": r.timestamp("revoked_at")?,
                    "used_at": r.timestamp("used_at")?,
                    "last_used_at": r.timestamp("last_used_at")?,
                    "active": r.flag("active")?,
                }))
            })
            .collect()
    })?;
    Ok(Response::ok(&json!({ "quote_id": id, "links": links })))
}

/// Revoke the caller's links to quote `id`: all of them, or the one `link_id`.
pub fn revoke(ctx: &Context, id: &str, link_id: Option<&str>) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let link_id = match link_id {
        Some(l) if shared::params::is_uuid(l) => Some(l.to_ascii_lowercase()),
        Some(_) => {
            return Err(Problem::validation(vec![FieldError::new(
                "link_id",
                "invalid_uuid",
                "the link id must be a UUID",
            )]))
        }
        None => None,
    };
    let revoked = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<usize, Problem> {
        store::load(db, &id, false)?.ok_or_else(|| store::not_found(&id))?;
        let rows = db.query(
            "UPDATE public.quote_share_links SET revoked_at = now()
              WHERE quote_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR id = $2::text::uuid)
              RETURNING id",
            &[db::uuid(&id), db::opt_text(link_id.clone())],
        )?;
        Ok(rows.len())
    })?;
    if revoked == 0 {
        if let Some(l) = link_id {
            return Err(Problem::not_found(format!("no active link {l} of quote {id}")));
        }
    }
    Ok(Response::ok(&json!({ "quote_id": id, "revoked": revoked })))
}

// ---------------------------------------------------------------------------------------------
// The client's side (no authentication: the token is the credential)
// ---------------------------------------------------------------------------------------------

/// A link, found by its token, with its quote.
struct Shared {
    link_id: String,
    owner: String,
    quote: Value,
    status: QuoteStatus,
    company: Company,
    /// Why the link no longer works, if it does not.
    gone: Option<&'static str>,
}

fn unknown_link() -> Problem {
    Problem::not_found("no such share link; ask the sender for a new one")
}

/// 410 for a link that no longer works: problem+json, or a page for a browser.
fn gone(ctx: &Context, why: &str) -> Response {
    let problem = Problem::new(410, "share_link_gone", "This link no longer works").detail(why);
    if wants_html(&ctx.request) {
        html(410, page::gone_page(why))
    } else {
        Response::problem(&problem)
    }
}

/// A browser's request: it accepts HTML, or it posted a form.
fn wants_html(req: &shared::Request) -> bool {
    let form =
        req.header("content-type").is_some_and(|c| c.trim_start().starts_with("application/x-www-form-urlencoded"));
    form || req.header("accept").is_some_and(|a| a.contains("text/html"))
}

fn html(status: u16, body: String) -> Response {
    Response::bytes(status, "text/html; charset=utf-8", body.into_bytes())
        .header("content-security-policy", page::CSP)
        .header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        // The token is in the URL: it must not leave in a Referer, nor stay in a cache.
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
}

/// The token's digest, once the token has the shape of one and its budget allows the request.
fn admit(ctx: &Context, token: &str) -> Result<String, Problem> {
    if !capability::is_token(token) {
        return Err(unknown_link());
    }
    let digest = capability::digest(token.as_bytes());
    let db = ctx.db()?;
    // The middleware's limiter (GCRA in security_gate) with the links' own budget, per token.
    let rows = db.query(
        "SELECT status, retry_after FROM public.security_gate($1, NULL, true, 'share_links')",
        &[db::text(format!("share:{}", &digest[..32]))],
    )?;
    let row = rows.one()?;
    if row.i64("status")? != 0 {
        let retry = row.i64("retry_after")?.clamp(1, 3600) as u32;
        return Err(Problem::new(429, "rate_limited", "Too many requests")
            .detail(format!("this link was opened too often; retry in {retry} s"))
            .retry_after(retry));
    }
    Ok(digest)
}

/// The link of `digest` and its quote (inside a service-role transaction), locked when asked.
fn find(db: &Db, digest: &str, lock: bool) -> Result<Option<Shared>, Problem> {
    let rows = db.query(
        &format!(
            "SELECT l.id AS link_id, l.user_id AS owner, l.expires_at <= now() AS link_expired,
                    l.revoked_at IS NOT NULL AS revoked, l.used_at IS NOT NULL AS used,
                    coalesce(q.valid_until < (now() AT TIME ZONE 'UTC')::date, false) AS past_valid_until,
                    c.company_name, c.company_address, c.company_email, c.company_phone, c.quote_terms,
                    c.logo_type, encode(c.logo, 'base64') AS logo,
                    {COLUMNS}
               FROM public.quote_share_links l
               JOIN public.quotes q ON q.id = l.quote_id
               LEFT JOIN public.company_settings c ON c.id = l.user_id
              WHERE l.token_sha256 = $1
              {}",
            if lock { "FOR UPDATE OF l, q" } else { "" }
        ),
        &[db::text(digest)],
    )?;
    let Some(r) = rows.first() else { return Ok(None) };
    let status = QuoteStatus::parse(&r.string("status")?).ok_or_else(Problem::internal)?;
    let gone = if r.flag("revoked")? {
        Some("The sender has withdrawn this link.")
    } else if r.flag("used")?
        || matches!(status, QuoteStatus::Accepted | QuoteStatus::Declined | QuoteStatus::Converted)
    {
        Some("A decision on this quote has already been made.")
    } else if r.flag("link_expired")? || r.flag("past_valid_until")? || status == QuoteStatus::Expired {
        Some("This link or the quote it shows has expired; ask the sender for a new one.")
    } else {
        None
    };
    Ok(Some(Shared {
        link_id: r.string("link_id")?,
        owner: r.string("owner")?,
        quote: store::to_json(&r)?,
        status,
        company: Company {
            name: r.text("company_name")?,
            address: r.text("company_address")?,
            email: r.text("company_email")?,
            phone: r.text("company_phone")?,
            terms: r.text("quote_terms")?,
            logo: page::logo_data_url(r.text("logo_type")?, r.text("logo")?),
        },
        gone,
    }))
}

/// The link of `digest` and its quote; a link that still works is noted as used now.
fn open(ctx: &Context, digest: &str) -> Result<Shared, Problem> {
    ctx.db()?
        .as_service(|db| -> Result<Option<Shared>, Problem> {
            let found = find(db, digest, false)?;
            if let Some(link) = found.as_ref().filter(|f| f.gone.is_none()) {
                db.execute(
                    "UPDATE public.quote_share_links SET last_used_at = now() WHERE id = $1",
                    &[db::uuid(&link.link_id)],
                )?;
            }
            Ok(found)
        })?
        .ok_or_else(unknown_link)
}

/// `GET /shared/{token}`: the quote's page.
pub fn view(ctx: &Context, token: &str) -> Result<Response, Problem> {
    let digest = admit(ctx, token)?;
    let found = open(ctx, &digest)?;
    if let Some(why) = found.gone {
        return Ok(gone(ctx, why));
    }
    Ok(html(200, page::quote_page(&found.quote, &found.company, token)))
}

/// `GET /shared/{token}/pdf`: the quote's PDF, rendered by quote-pdf-generator as the owner
/// would get it (the same document, cache and plan), through a one-minute token of theirs.
pub async fn pdf(ctx: &Context, token: &str) -> Result<Response, Problem> {
    use spin_sdk::http::{Method, Request, Response as Answer};
    const GENERATOR_PATH: &str = "/functions/v1/quote-pdf-generator";
    let digest = admit(ctx, token)?;
    let found = open(ctx, &digest)?;
    if let Some(why) = found.gone {
        return Ok(gone(ctx, why));
    }
    let (_, owner_token) = shared::auth::act_for(&found.owner, 60)?;
    // quote-pdf-generator needs a connection of its own (see `Context::release_db`).
    ctx.release_db();
    let body = json!({ "quote_id": found.quote["id"] }).to_string();
    let mut builder = Request::builder();
    builder
        .method(Method::Post)
        .uri(shared::chain::url("quote-pdf-generator", GENERATOR_PATH))
        .header("content-type", "application/json")
        .header("accept", "application/pdf")
        .header("authorization", format!("Bearer {owner_token}"));
    if let Some((name, value)) = internal::sign(internal::Purpose::Chain, GENERATOR_PATH) {
        builder.header(name, value);
    }
    let unavailable = || {
        Problem::new(503, "pdf_unavailable", "The PDF is not available")
            .detail("the PDF cannot be produced right now; the quote's page has the same content")
            .retry_after(30)
    };
    let answer = match spin_sdk::http::send::<_, Answer>(builder.body(body).build()).await {
        Ok(a) if *a.status() == 200 => a,
        Ok(a) => {
            eprintln!("shared PDF: quote-pdf-generator answered {}", a.status());
            return Err(unavailable());
        }
        Err(e) => {
            eprintln!("shared PDF: quote-pdf-generator unreachable: {e}");
            return Err(unavailable());
        }
    };
    let number = found.quote["quote_number"].as_str().unwrap_or("quote").to_string();
    let filename: String = number.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Ok(Response::bytes(200, "application/pdf", answer.body().to_vec())
        .header("content-disposition", format!("inline; filename=\"quote-{filename}.pdf\""))
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store"))
}

/// The signer's answer, from a form or JSON.
#[derive(Debug, PartialEq)]
struct Decision {
    name: String,
    comment: Option<String>,
}

fn decision_of(req: &shared::Request) -> Result<Decision, Problem> {
    let form =
        req.header("content-type").is_some_and(|c| c.trim_start().starts_with("application/x-www-form-urlencoded"));
    let (name, comment) = if form {
        let body = std::str::from_utf8(&req.body).map_err(|_| {
            Problem::new(400, "invalid_body", "The request body is not valid").detail("the form is not UTF-8")
        })?;
        let field = |k: &str| {
            body.split('&').find_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (shared::http::percent_decode(key) == k).then(|| shared::http::percent_decode(value))
            })
        };
        (field("name"), field("comment"))
    } else {
        let v: Value = req.json()?;
        let text = |k: &str| -> Result<Option<String>, Problem> {
            match &v[k] {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                _ => {
                    Err(Problem::validation(vec![FieldError::new(k, "invalid_type", format!("{k} must be a string"))]))
                }
            }
        };
        (text("name")?, text("comment")?)
    };
    let mut errors = Vec::new();
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.is_empty() {
        errors.push(FieldError::new("name", "required", "type your name to sign the decision"));
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new("name", "too_long", format!("the name is at most {MAX_NAME_CHARS} characters")));
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", "invalid_characters", "the name must be one line of text"));
    }
    let comment = comment.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS) {
        errors.push(FieldError::new(
            "comment",
            "too_long",
            format!("the comment is at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(Decision { name, comment })
}

/// `POST /shared/{token}/accept` and `/decline`: record the decision and move the quote (sent →
/// accepted / declined, as the status rules allow, else 409), use up the link, then tell the
/// owner by email. A failed email loses nothing: the decision stands and the failure is kept
/// beside it.
pub async fn decide(ctx: &Context, token: &str, to: QuoteStatus) -> Result<Response, Problem> {
    let digest = admit(ctx, token)?;
    let decision = decision_of(&ctx.request)?;
    let address = ctx.client().address.clone();
    let recorded = ctx.db()?.as_service(|db| -> Result<Result<Recorded, &'static str>, Problem> {
        let found = find(db, &digest, true)?.ok_or_else(unknown_link)?;
        if let Some(why) = found.gone {
            return Ok(Err(why));
        }
        // A decided quote is `gone` above; what is left is sent (→ either) or a draft (409).
        transition(found.status, to)?;
        set_path(db, "share_link")?;
        db.execute(
            "UPDATE public.quotes SET status = $2::text::public.quote_status,
                 accepted_at = CASE WHEN $2 = 'accepted' THEN now() ELSE accepted_at END,
                 declined_at = CASE WHEN $2 = 'declined' THEN now() ELSE declined_at END
              WHERE id = $1",
            &[db::uuid(found.quote["id"].as_str().unwrap_or_default()), db::text(to.as_str())],
        )?;
        db.execute(
            "UPDATE public.quote_share_links SET used_at = now(), last_used_at = now() WHERE id = $1",
            &[db::uuid(&found.link_id)],
        )?;
        let rows = db.query(
            "INSERT INTO public.quote_responses (quote_id, user_id, link_id, decision, signer_name, comment, client_address)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING id, decided_at, public.quote_owner_email(user_id) AS owner_email",
            &[
                db::uuid(found.quote["id"].as_str().unwrap_or_default()),
                db::uuid(&found.owner),
                db::uuid(&found.link_id),
                db::text(to.as_str()),
                db::text(decision.name.clone()),
                db::opt_text(decision.comment.clone()),
                db::opt_text(address.clone()),
            ],
        )?;
        let r = rows.one()?;
        Ok(Ok(Recorded {
            id: r.string("id")?,
            decided_at: r.timestamp("decided_at")?.unwrap_or_default(),
            owner_email: r.text("owner_email")?,
            number: found.quote["quote_number"].as_str().unwrap_or_default().to_string(),
            client_name: found.quote["client_name"].as_str().unwrap_or_default().to_string(),
            total: found.quote["total_formatted"].as_str().unwrap_or_default().to_string(),
        }))
    })?;
    let recorded = match recorded {
        Ok(r) => r,
        Err(why) => return Ok(gone(ctx, why)),
    };

    // The decision is committed; the email comes after, on its own.
    ctx.release_db();
    let outcome = match &recorded.owner_email {
        Some(to_owner) => Some(
            email::send_text(to_owner, &notice_subject(&recorded, to), &notice_text(&recorded, to, &decision)).await,
        ),
        None => None,
    };
    let (state, error) = match &outcome {
        Some(Outcome::Sent { .. }) => ("sent", None),
        Some(Outcome::Failed { error, .. }) => ("failed", Some(error.clone())),
        None => ("skipped", Some("the owner has no email address".to_string())),
    };
    if let Some(e) = &error {
        eprintln!("share link decision {}: owner not emailed: {e}", recorded.id);
    }
    let noted = ctx.db().and_then(|db| {
        Ok(db.execute(
            "UPDATE public.quote_responses SET owner_email_status = $2, owner_email_error = $3 WHERE id = $1",
            &[db::uuid(&recorded.id), db::text(state), db::opt_text(error)],
        )?)
    });
    if let Err(e) = noted {
        eprintln!("share link decision {}: email outcome not recorded: {e}", recorded.id);
    }

    if wants_html(&ctx.request) {
        return Ok(html(200, page::decided_page(&recorded.number, to.as_str(), &decision.name)));
    }
    Ok(Response::ok(&json!({
        "decision": to.as_str(),
        "quote_number": recorded.number,
        "signer_name": decision.name,
        "decided_at": recorded.decided_at,
        "owner_notified": state == "sent",
    })))
}

/// What the decision's transaction gives back for the answer and the owner's email.
struct Recorded {
    id: String,
    decided_at: String,
    owner_email: Option<String>,
    number: String,
    client_name: String,
    total: String,
}

fn notice_subject(r: &Recorded, to: QuoteStatus) -> String {
    email::one_line(&format!("Quote {} {} by {}", r.number, to.as_str(), r.client_name))
}

/// The owner's notice: fixed text around what was recorded; the signer's words are quoted.
fn notice_text(r: &Recorded, to: QuoteStatus, d: &Decision) -> String {
    let mut text = format!(
        "Quote {} for {} ({}) was {} through its share link.\n\nSigned by: {}\nAt: {}\n",
        r.number,
        email::one_line(&r.client_name),
        r.total,
        to.as_str(),
        email::one_line(&d.name),
        r.decided_at
    );
    if let Some(c) = &d.comment {
        text.push_str("\nTheir comment:\n\n");
        for line in c.lines() {
            let line: String = line.chars().filter(|ch| !ch.is_control() || *ch == '\t').collect();
            text.push_str(&format!("    {}\n", line.trim_end()));
        }
    }
    text.push_str("\n--\nSent by QuoteKit. The quote's history lists every change.\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::http::Method;

    fn req(content_type: &str, body: &str) -> shared::Request {
        shared::Request {
            method: Method::Post,
            path: "/functions/v1/quote-processor/shared/t/accept".into(),
            sub_path: "/shared/t/accept".into(),
            query: String::new(),
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_decision_comes_from_a_form_or_json() {
        let d = decision_of(&req("application/x-www-form-urlencoded", "name=Ada+L%C3%B6w&comment=ok+%3Cb%3E")).unwrap();
        assert_eq!(d, Decision { name: "Ada Löw".into(), comment: Some("ok <b>".into()) });
        let d = decision_of(&req("application/json", r#"{"name": " Ada ", "comment": ""}"#)).unwrap();
        assert_eq!(d, Decision { name: "Ada".into(), comment: None });
        for (ct, body, field) in [
            ("application/x-www-form-urlencoded", "comment=x", "name"),
            ("application/json", r#"{"name": "   "}"#, "name"),
            ("application/json", r#"{"name": 7}"#, "name"),
            ("application/json", &format!(r#"{{"name": "{}"}}"#, "n".repeat(201)), "name"),
            ("application/json", r#"{"name": "a\nb"}"#, "name"),
            ("application/json", &format!(r#"{{"name": "a", "comment": "{}"}}"#, "c".repeat(2001)), "comment"),
        ] {
            let p = decision_of(&req(ct, body)).unwrap_err();
            assert_eq!(p.status, 400, "{body}");
            assert_eq!(p.errors[0].field, field, "{body}");
        }
        assert_eq!(decision_of(&req("text/plain", "name=x")).unwrap_err().status, 415);
    }

    #[test]
    fn link_lifetimes_are_checked() {
        assert_eq!(expires_in_days(None).unwrap(), DEFAULT_DAYS);
        assert_eq!(expires_in_days(Some(json!({}))).unwrap(), DEFAULT_DAYS);
        assert_eq!(expires_in_days(Some(json!({"expires_in_days": 90}))).unwrap(), 90);
        for bad in [
            json!({"expires_in_days": 0}),
            json!({"expires_in_days": 91}),
            json!({"expires_in_days": "7"}),
            json!({"expires_in_days": 1.5}),
        ] {
            assert_eq!(expires_in_days(Some(bad)).unwrap_err().status, 400);
        }
        assert_eq!(expires_in_days(Some(json!([1]))).unwrap_err().status, 400);
    }

    #[test]
    fn the_owners_notice_quotes_the_signer() {
        let r = Recorded {
            id: "r".into(),
            decided_at: "2026-12-07T10:00:00Z".into(),
            owner_email: Some("o@example.test".into()),
            number: "Q-2026-0001".into(),
            client_name: "Ada\r\nBcc: x".into(),
            total: "10.00 USD".into(),
        };
        assert_eq!(notice_subject(&r, QuoteStatus::Accepted), "Quote Q-2026-0001 accepted by Ada Bcc: x");
        let text =
            notice_text(&r, QuoteStatus::Declined, &Decision { name: "Ada".into(), comment: Some("too\ndear".into()) });
        assert!(text.contains("was declined through its share link."), "{text}");
        assert!(text.contains("Signed by: Ada\n"), "{text}");
        assert!(text.contains("    too\n    dear\n"), "{text}");
    }
}
