//! Changing the caller's quotes: allow-listed fields, status moves, deletes.

use crate::store;
use quotekit::quote::{self, transition, QuoteUpdateInput};
use shared::{Context, Problem, Response};

pub async fn update(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let input: QuoteUpdateInput = ctx.request.json()?;
    let original = input.is_original_form();
    let response = apply(ctx, id, input).await?;
    Ok(if original { crate::with_quote_member(response) } else { response })
}

/// The original's `PUT {quote_id, updates}` to the bare path: the same update.
pub async fn update_original(ctx: &Context) -> Result<Response, Problem> {
    let input: QuoteUpdateInput = ctx.request.json()?;
    let Some(id) = input.quote_id().map(str::to_string) else {
        ctx.user()?;
        return Err(Problem::validation(vec![shared::FieldError::new(
            "quote_id",
            "required",
            "name the quote to change: {\"quote_id\": ..., \"updates\": {...}}, or PUT /{id}",
        )]));
    };
    Ok(crate::with_quote_member(apply(ctx, &id, input).await?))
}

async fn apply(ctx: &Context, id: &str, input: QuoteUpdateInput) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let update = quote::validate_update(&input).map_err(Problem::validation)?;
    if update.quote_id.as_deref().is_some_and(|q| q != id) {
        return Err(Problem::validation(vec![shared::FieldError::new(
            "quote_id",
            "conflict",
            "quote_id in the body differs from the id in the path",
        )]));
    }
    let mut updated = ctx.db()?.as_user(&caller.claims_json, |db| {
        let (_, mut fields, status) = store::load(db, &id, true)?.ok_or_else(|| store::not_found(&id))?;
        let new_status = match update.status {
            Some(to) if to != status => {
                transition(status, to)?;
                Some(to)
            }
            _ => None,
        };
        update.apply(&mut fields);
        let totals = fields.check().map_err(Problem::validation)?;
        store::update(db, &id, &fields, &totals, new_status)
    })?;
    if let Some(document) = crate::documents::run(ctx, &id, update.operations).await {
        updated["document"] = document;
    }
    Ok(Response::ok(&updated))
}

pub fn delete(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let deleted = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<u64, Problem> {
        Ok(db.execute("DELETE FROM public.quotes WHERE id = $1", &[shared::db::uuid(&id)])?)
    })?;
    if deleted == 0 {
        return Err(store::not_found(&id));
    }
    Ok(Response::empty(204))
}

/// The original's `DELETE ?id=`: the same delete, answered with a body its clients read
/// (`{"success": true, "id": ..., "deleted": true}`) instead of 204.
pub fn delete_original(ctx: &Context, id: &str) -> Result<Response, Problem> {
    delete(ctx, id)?;
    Ok(Response::ok(&serde_json::json!({ "id": id.to_ascii_lowercase(), "deleted": true })))
}
