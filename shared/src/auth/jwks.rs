//! Signing keys published at `jwks_url` (a Supabase project's
//! `<project>/auth/v1/.well-known/jwks.json`), which Supabase rotates.
//!
//! A component lives for one request, so the fetched document cannot stay in memory: it is
//! cached in the database (`public.jwks_cache`, migration 0009), shared by every instance of
//! every function. A request whose ES256/RS256 token names a `kid` the configured `jwks` does
//! not have reads the cache (one indexed read); when the cache lacks that `kid` too, or is
//! older than [`MAX_AGE_S`], the request refetches, but only if it can claim the refetch: one
//! statement moves `attempted_at` forward when the last attempt is older than
//! [`REFETCH_FLOOR_S`]. However many instances see unknown kids (a rotation, or someone
//! sending made-up ones), the JWKS URL is fetched at most once per floor interval per
//! database; the others verify against the cached keys (an unknown kid then stays 401).
//! A failed or invalid fetch keeps the previous document and records `last_error`.
//!
//! Tokens signed with the project secret (HS256) and tokens whose kid the configured `jwks`
//! holds never touch the database here.

use crate::db::{self, Db, DbError, Param};
use serde_json::Value;

/// How often, at most, `jwks_url` is fetched (per database, across all instances).
pub const REFETCH_FLOOR_S: i64 = 30;
/// A cached document older than this is refetched (within the floor) before it is used:
/// keys Supabase removed stop verifying within this time.
pub const MAX_AGE_S: i64 = 600;
/// Largest JWKS document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The `alg` and `kid` of an ES256/RS256 token's header (nothing is verified here).
pub fn asymmetric_key_of(token: &str) -> Option<(String, String)> {
    if token.len() > credentials::jwt::MAX_TOKEN_BYTES {
        return None;
    }
    let header = credentials::encoding::base64url_decode(token.split('.').next()?)?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    let alg = header.get("alg")?.as_str()?;
    let kid = header.get("kid")?.as_str()?;
    matches!(alg, "ES256" | "RS256").then(|| (alg.to_string(), kid.to_string()))
}

/// Whether `document` is a JWKS with a key of this `kid` usable for `alg`.
fn has_key(document: &str, alg: &str, kid: &str) -> bool {
    credentials::jwt::JwtConfig::new(None, Some(document), None, "authenticated").is_ok_and(|c| c.has_key(alg, kid))
}

/// The cached document for `url`, refetched first when it lacks `kid` or is too old and this
/// request wins the claim. `None` when there is nothing usable.
pub async fn document_for(db: &Db, url: &str, alg: &str, kid: &str) -> Option<String> {
    let cached = match read(db, url) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jwks cache unreadable: {e}");
            return None;
        }
    };
    let fresh_enough = |c: &Cached| c.age_s.is_some_and(|age| age <= MAX_AGE_S as f64);
    if let Some(c) = &cached {
        if let Some(doc) = &c.document {
            if fresh_enough(c) && has_key(doc, alg, kid) {
                return Some(doc.clone());
            }
        }
    }
    let previous = cached.and_then(|c| c.document);
    match claim(db, url) {
        Ok(true) => {}
        Ok(false) => return previous,
        Err(e) => {
            eprintln!("jwks cache unwritable: {e}");
            return previous;
        }
    }
    match fetch(url).await {
        Ok(document) => {
            if let Err(e) = db.as_service(|db| {
                db.execute(
                    "UPDATE public.jwks_cache SET document = $2, fetched_at = now(), last_error = NULL, fetches = fetches + 1
                     WHERE url = $1",
                    &[db::text(url), db::text(document.clone())],
                )
            }) {
                eprintln!("jwks cache unwritable: {e}");
            }
            Some(document)
        }
        Err(why) => {
            eprintln!("jwks_url could not be fetched: {why}");
            let _ = db.as_service(|db| {
                db.execute(
                    "UPDATE public.jwks_cache SET last_error = $2, fetches = fetches + 1 WHERE url = $1",
                    &[db::text(url), db::text(why)],
                )
            });
            previous
        }
    }
}

struct Cached {
    document: Option<String>,
    /// Seconds since the document was fetched.
    age_s: Option<f64>,
}

fn read(db: &Db, url: &str) -> Result<Option<Cached>, DbError> {
    db.as_service(|db| {
        let rows = db.query(
            "SELECT document, extract(epoch FROM now() - fetched_at)::float8 AS age_s FROM public.jwks_cache WHERE url = $1",
            &[db::text(url)],
        )?;
        match rows.first() {
            None => Ok(None),
            Some(r) => Ok(Some(Cached { document: r.text("document")?, age_s: r.float("age_s")? })),
        }
    })
}

/// Claim the next fetch: true when no fetch was tried within the floor (the claim commits
/// before the fetch, so concurrent requests see it).
fn claim(db: &Db, url: &str) -> Result<bool, DbError> {
    db.as_service(|db| {
        let rows = db.query(
            "INSERT INTO public.jwks_cache AS c (url, attempted_at) VALUES ($1, now())
             ON CONFLICT (url) DO UPDATE SET attempted_at = now()
               WHERE c.attempted_at < now() - $2::int8 * interval '1 second'
             RETURNING 1 AS claimed",
            &[db::text(url), Param::Int64(REFETCH_FLOOR_S)],
        )?;
        Ok(!rows.is_empty())
    })
}

/// GET the document; it must be a JWKS whose ES256/RS256 keys are all usable.
async fn fetch(url: &str) -> Result<String, String> {
    let request = spin_sdk::http::Request::get(url).header("accept", "application/json").build();
    let response: spin_sdk::http::Response =
        spin_sdk::http::send(request).await.map_err(|e| format!("request failed: {e}"))?;
    if *response.status() != 200 {
        return Err(format!("answered HTTP {}", response.status()));
    }
    let body = response.into_body();
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let document = String::from_utf8(body).map_err(|_| "the document is not UTF-8".to_string())?;
    credentials::jwt::JwtConfig::new(None, Some(&document), None, "authenticated").map_err(|e| e.to_string())?;
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_an_asymmetric_token_names_is_read_from_its_header() {
        let h = |json: &str| format!("{}.e30.c2ln", credentials::encoding::base64url_encode(json.as_bytes()));
        assert_eq!(
            asymmetric_key_of(&h(r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)),
            Some(("ES256".to_string(), "k1".to_string()))
        );
        assert_eq!(asymmetric_key_of(&h(r#"{"alg":"RS256","kid":"k2"}"#)).map(|k| k.1), Some("k2".to_string()));
        assert_eq!(asymmetric_key_of(&h(r#"{"alg":"HS256","kid":"k1"}"#)), None, "HS256 uses the project secret");
        assert_eq!(asymmetric_key_of(&h(r#"{"alg":"ES256"}"#)), None, "no kid, no key");
        assert_eq!(asymmetric_key_of("not a token"), None);
        assert_eq!(asymmetric_key_of(&"a".repeat(9000)), None);
    }
}
