//! Creating quotes: from a request body, as a copy of another quote, or from a template.

use crate::{idempotency, store};
use quotekit::quote::{self, QuoteFields, QuoteInput};
use shared::{Context, Problem, Response};

/// Create a quote; `operations.generate_pdf` / `send_email` then go to quote-pdf-generator.
/// With an `Idempotency-Key`, a retry answers as the first request did (see [`idempotency`]).
pub async fn create(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let key = idempotency::key(&ctx.request)?;
    let input: QuoteInput = ctx.request.json()?;
    let original = input.is_original_form();
    let mut valid = quote::validate(&input).map_err(Problem::validation)?;
    let fingerprint = idempotency::fingerprint(&ctx.request.body);
    let user_id = caller.user_id().to_string();
    let outcome = ctx.db()?.as_user(&caller.claims_json, |db| {
        if let Some(key) = &key {
            if let Some(earlier) = idempotency::claim(db, &user_id, key, &fingerprint)? {
                return Ok(Err(earlier));
            }
        }
        // Without a `currency`, the owner's preferred one; the quote is checked again in it
        // (whole prices and whole totals for a currency without minor units).
        if valid.quote.currency.is_none() {
            valid.quote.currency = Some(store::preferred_currency(db, &user_id)?);
            valid.totals = valid.quote.check().map_err(Problem::validation)?;
        }
        let created = store::insert(db, &user_id, &valid.quote, &valid.totals)?;
        if let Some(key) = &key {
            idempotency::record(db, &user_id, key, created["id"].as_str().unwrap_or_default(), 201, &created)?;
        }
        Ok::<_, Problem>(Ok(created))
    })?;
    // A replay gives the first answer again; its operations (PDF, email) are not run twice.
    let mut created = match outcome {
        Ok(created) => created,
        Err(earlier) => return Ok(if original { crate::with_quote_member(earlier) } else { earlier }),
    };
    let id = created["id"].as_str().unwrap_or_default().to_string();
    if let Some(document) = crate::documents::run(ctx, &id, valid.operations).await {
        created["document"] = document;
    }
    let response = Response::json(201, &created);
    Ok(if original { crate::with_quote_member(response) } else { response })
}

/// A new draft with the same content as the caller's quote `id` (a new number; never a template).
pub fn duplicate(ctx: &Context, id: &str) -> Result<Response, Problem> {
    copy(ctx, id, |source| {
        source.is_template = false;
        source.template_name = None;
        Ok(())
    })
}

/// A new quote from the caller's template `id`; the body may name the client.
pub fn from_template(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let overrides: Option<serde_json::Value> = ctx.request.json_opt()?;
    copy(ctx, id, |source| {
        if !source.is_template {
            return Err(Problem::new(409, "not_a_template", "The quote is not a template")
                .detail("create from templates only; use /{id}/duplicate to copy a quote"));
        }
        source.is_template = false;
        source.template_name = None;
        if let Some(body) = &overrides {
            let update: quote::QuoteUpdateInput = serde_json::from_value(body.clone()).map_err(|e| {
                Problem::new(400, "invalid_body", "The request body is not valid").detail(e.to_string())
            })?;
            let update = quote::validate_update(&update).map_err(Problem::validation)?;
            if update.status.is_some() || update.is_template.is_some() {
                return Err(Problem::validation(vec![shared::FieldError::new(
                    "status",
                    "read_only",
                    "a quote made from a template starts as a draft",
                )]));
            }
            update.apply(source);
        }
        Ok(())
    })
}

fn copy(
    ctx: &Context,
    id: &str,
    adjust: impl FnOnce(&mut QuoteFields) -> Result<(), Problem>,
) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let created = ctx.db()?.as_user(&caller.claims_json, |db| {
        let (_, mut fields, _) = store::load(db, &id, false)?.ok_or_else(|| store::not_found(&id))?;
        adjust(&mut fields)?;
        let totals = fields.check().map_err(Problem::validation)?;
        store::insert(db, caller.user_id(), &fields, &totals)
    })?;
    Ok(Response::json(201, &created))
}
