//! The caller's company logo, stored in their `company_settings` row (migration 0017).
//!
//! ```text
//! PUT    /company/logo   the image itself as the body, Content-Type image/png or image/jpeg
//! GET    /company/logo   the stored image (404 without one)
//! DELETE /company/logo   remove it (204, also without one)
//! ```
//!
//! The upload is checked before anything is written ([`quotekit::image::check`]: PNG or JPEG,
//! at most 512 KiB, each side 16 to 4096 px, a PNG's pixels decoded, so that what is stored
//! can be drawn); a refused image is a 400 (413 when too large) and leaves the stored logo as
//! it was. The
//! quote PDF and the share page draw the stored logo. Writing it moves the row's
//! `updated_at`, which makes the cached documents of the caller's quotes stale.

use quotekit::image;
use serde_json::json;
use shared::db::{self, Param};
use shared::{Context, Problem, Response};

/// `PUT /company/logo`.
pub fn put(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let bytes = &ctx.request.body;
    let checked = image::check(ctx.request.header("content-type"), bytes)?;
    let user_id = caller.user_id().to_string();
    ctx.db()?.as_user(&caller.claims_json, |db| -> Result<(), Problem> {
        db.execute(
            "INSERT INTO public.company_settings (id, logo, logo_type, logo_width, logo_height)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE
               SET logo = EXCLUDED.logo, logo_type = EXCLUDED.logo_type,
                   logo_width = EXCLUDED.logo_width, logo_height = EXCLUDED.logo_height",
            &[
                db::uuid(&user_id),
                Param::Binary(bytes.clone()),
                db::text(checked.kind.mime()),
                Param::Int32(checked.width as i32),
                Param::Int32(checked.height as i32),
            ],
        )?;
        Ok(())
    })?;
    Ok(Response::ok(&json!({
        "content_type": checked.kind.mime(),
        "width": checked.width,
        "height": checked.height,
        "size_bytes": bytes.len(),
    })))
}

/// `GET /company/logo`.
pub fn get(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let user_id = caller.user_id().to_string();
    let stored = ctx.db()?.as_user(&caller.claims_json, |db| -> Result<Option<(String, String)>, Problem> {
        let rows = db.query(
            "SELECT encode(s.logo, 'base64') AS logo, s.logo_type
               FROM public.company_settings s WHERE s.id = $1 AND s.logo IS NOT NULL",
            &[db::uuid(&user_id)],
        )?;
        Ok(match rows.first() {
            Some(r) => Some((r.string("logo")?, r.string("logo_type")?)),
            None => None,
        })
    })?;
    let (b64, mime) = stored.ok_or_else(|| Problem::not_found("no company logo is stored"))?;
    let compact: String = b64.split_ascii_whitespace().collect();
    let bytes = credentials::encoding::base64_decode(&compact).ok_or_else(|| {
        eprintln!("company logo of {user_id}: stored base64 does not decode");
        Problem::internal()
    })?;
    Ok(Response::bytes(200, &mime, bytes)
        .header("cache-control", "private, no-cache")
        .header("x-content-type-options", "nosniff"))
}

/// `DELETE /company/logo`.
pub fn delete(ctx: &Context) -> Result<Response, Problem> {
    let caller = ctx.user()?;
    let user_id = caller.user_id().to_string();
    ctx.db()?.as_user(&caller.claims_json, |db| -> Result<(), Problem> {
        db.execute(
            "UPDATE public.company_settings
                SET logo = NULL, logo_type = NULL, logo_width = NULL, logo_height = NULL
              WHERE id = $1 AND logo IS NOT NULL",
            &[db::uuid(&user_id)],
        )?;
        Ok(())
    })?;
    Ok(Response::empty(204))
}
