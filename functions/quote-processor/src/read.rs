//! Reading the caller's quotes: one, or a filtered page.

use crate::store::{self, COLUMNS};
use quotekit::quote::{Date, QuoteStatus};
use serde_json::json;
use shared::db::{self, Param};
use shared::{Context, FieldError, Problem, Response};

pub fn one(ctx: &Context, id: &str) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let id = store::quote_id(id)?;
    let found = ctx.db()?.as_user(&caller.claims_json, |db| store::load(db, &id, false))?;
    match found {
        Some((quote, _, _)) => Ok(Response::ok(&quote)),
        None => Err(store::not_found(&id)),
    }
}

/// Filters of the list, checked all at once.
struct Filters {
    page: i64,
    limit: i64,
    status: Option<QuoteStatus>,
    client_id: Option<String>,
    text: Option<String>,
    from: Option<Date>,
    to: Option<Date>,
    is_template: Option<bool>,
}

fn filters(ctx: &Context) -> Result<Filters, Problem> {
    let q = |k: &str| ctx.request.query_param(k).filter(|v| !v.is_empty());
    let mut errors = Vec::new();
    let mut int = |k: &str, default: i64, max: i64| match q(k) {
        None => default,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(k, "out_of_range", format!("{k} must be a whole number from 1 to {max}")));
                default
            }
        },
    };
    let page = int("page", 1, 100_000);
    let limit = int("limit", 20, 100);
    let status = q("status").and_then(|s| {
        let parsed = QuoteStatus::parse(&s);
        if parsed.is_none() {
            errors.push(FieldError::new("status", "invalid_status", format!("`{s}` is not a quote status")));
        }
        parsed
    });
    let client_id = q("client_id").and_then(|c| {
        if shared::params::is_uuid(&c) {
            Some(c.to_ascii_lowercase())
        } else {
            errors.push(FieldError::new("client_id", "invalid_uuid", "client_id must be a UUID"));
            None
        }
    });
    let mut day = |k: &str| {
        q(k).and_then(|d| {
            let parsed = Date::parse(&d);
            if parsed.is_none() {
                errors.push(FieldError::new(k, "invalid_date", format!("{k} must be a date YYYY-MM-DD")));
            }
            parsed
        })
    };
    let from = day("from");
    let to = day("to");
    let is_template = match q("is_template").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::new("is_template", "invalid_boolean", "is_template must be true or false"));
            None
        }
    };
    let text = q("q");
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        errors.push(FieldError::new("q", "too_long", "the search text is at most 200 characters"));
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(Filters { page, limit, status, client_id, text, from, to, is_template })
}

pub fn list(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let f = filters(ctx)?;
    let date = |d: Option<Date>| match d {
        Some(d) => Param::Date((d.year() as i32, d.month(), d.day())),
        None => Param::DbNull,
    };
    let params = [
        f.status.map(|s| db::text(s.as_str())).unwrap_or(Param::DbNull),
        f.client_id.as_deref().map(db::uuid).unwrap_or(Param::DbNull),
        db::opt_text(f.text.clone()),
        date(f.from),
        date(f.to),
        f.is_template.map(Param::Boolean).unwrap_or(Param::DbNull),
        Param::Int64(f.limit),
        Param::Int64((f.page - 1) * f.limit),
    ];
    // RLS restricts the rows to the caller's own; the filters are all optional.
    let filter = "($1::text IS NULL OR q.status::text = $1)
        AND ($2::uuid IS NULL OR q.client_id = $2)
        AND ($3::text IS NULL OR q.client_name ILIKE '%' || $3 || '%' OR q.quote_number ILIKE '%' || $3 || '%'
             OR coalesce(q.notes, '') ILIKE '%' || $3 || '%' OR coalesce(q.template_name, '') ILIKE '%' || $3 || '%')
        AND ($4::date IS NULL OR q.created_at >= $4::date)
        AND ($5::date IS NULL OR q.created_at < $5::date + 1)
        AND ($6::bool IS NULL OR q.is_template = $6)";
    let (items, total) = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<_, Problem> {
        let rows = db.query(
            &format!(
                "SELECT {COLUMNS}, count(*) OVER () AS total_count FROM public.quotes q WHERE {filter}
                 ORDER BY q.created_at DESC, q.quote_number DESC LIMIT $7 OFFSET $8"
            ),
            &params,
        )?;
        let mut items = Vec::new();
        let mut total = 0;
        for r in rows.iter() {
            total = r.i64("total_count")?;
            items.push(store::to_json(&r)?);
        }
        if items.is_empty() && f.page > 1 {
            // Past the last page: still report the true total.
            let rows = db.query(
                &format!("SELECT count(*) AS n FROM public.quotes q WHERE {filter} AND $7::int8 > 0 AND $8::int8 >= 0"),
                &params,
            )?;
            total = rows.one()?.i64("n")?;
        }
        Ok((items, total))
    })?;
    Ok(Response::ok(&json!({
        "data": items,
        "pagination": {
            "page": f.page,
            "limit": f.limit,
            "total": total,
            "totalPages": (total + f.limit - 1) / f.limit,
        },
    })))
}
