//! Changing the caller's quotes: allow-listed fields, status moves, deletes.

use crate::store;
use shared::quote::{self, transition, QuoteUpdateInput};
use shared::{Context, Problem, Response};

pub async fn update(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let input: QuoteUpdateInput = ctx.request.json()?;
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
