//! `Idempotency-Key` on quote creation: a retried create (the same key and body from the same
//! user within 24 hours) answers what the first one answered and creates nothing; the same key
//! with another body is refused (422), since the client has mixed up two requests.
//!
//! The key's row is inserted in the same transaction as the quote, before it, with
//! `ON CONFLICT DO NOTHING` on the (owner, key) primary key: a concurrent retry waits on the
//! first one's row, then finds it committed with its answer and replays it. If the first one
//! fails (a 402 at the quota, say), its row is rolled back with it and the retry runs afresh.

use serde_json::Value;
use shared::db::{self, Db, Param};
use shared::security::capability;
use shared::{FieldError, Problem, Response};

pub const HEADER: &str = "idempotency-key";
/// Longest key accepted (Stripe's limit).
pub const MAX_KEY_CHARS: usize = 255;

/// The request's key: `None` without the header; 400 unless it is 1–255 visible ASCII
/// characters (no spaces or controls, which proxies and logs would mangle).
pub fn key(req: &shared::Request) -> Result<Option<String>, Problem> {
    let Some(value) = req.header(HEADER) else { return Ok(None) };
    if !is_valid_key(value) {
        return Err(Problem::validation(vec![FieldError::new(
            "Idempotency-Key",
            "invalid_idempotency_key",
            format!("the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} visible ASCII characters"),
        )]));
    }
    Ok(Some(value.to_string()))
}

pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_CHARS && key.bytes().all(|b| b.is_ascii_graphic())
}

/// What identifies "the same body": the SHA-256 of its JSON with object members in key order
/// (`serde_json`'s maps are sorted), so spacing and member order do not make two retries differ.
pub fn fingerprint(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => capability::digest(&serde_json::to_vec(&v).unwrap_or_default()),
        Err(_) => capability::digest(body),
    }
}

/// Claim `key` for this request (inside the caller's transaction). `None`: the key is ours,
/// go on and [`record`] the answer. `Some`: the earlier answer to give again.
pub fn claim(db: &Db, user_id: &str, key: &str, fingerprint: &str) -> Result<Option<Response>, Problem> {
    // A key older than 24 hours names nothing any more: it is forgotten, then claimed afresh.
    db.execute(
        "DELETE FROM public.quote_idempotency_keys
          WHERE user_id = $1 AND idempotency_key = $2 AND created_at < now() - interval '24 hours'",
        &[db::uuid(user_id), db::text(key)],
    )?;
    let claimed = db.query(
        "INSERT INTO public.quote_idempotency_keys (user_id, idempotency_key, request_sha256) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, idempotency_key) DO NOTHING
         RETURNING idempotency_key",
        &[db::uuid(user_id), db::text(key), db::text(fingerprint)],
    )?;
    if !claimed.is_empty() {
        return Ok(None);
    }
    let rows = db.query(
        "SELECT request_sha256, response_status, response FROM public.quote_idempotency_keys
          WHERE user_id = $1 AND idempotency_key = $2",
        &[db::uuid(user_id), db::text(key)],
    )?;
    let Some(row) = rows.first() else {
        // Deleted between the two statements (it turned 24 hours old): let the client retry.
        return Err(Problem::unavailable("conflict_retry", "the request conflicted with another; retry it"));
    };
    if row.string("request_sha256")? != fingerprint {
        return Err(Problem::new(422, "idempotency_key_reused", "Idempotency-Key already used")
            .detail("this Idempotency-Key was used with a different request body in the last 24 hours; use a new key for a new quote"));
    }
    match (row.int("response_status")?, row.json("response")?) {
        (Some(status), Some(body)) => {
            let status = u16::try_from(status).unwrap_or(200);
            Ok(Some(Response::json(status, &body).header("idempotent-replayed", "true")))
        }
        // A row is committed together with its answer (one transaction), so this is a row
        // no answer was recorded for: nothing can be replayed, and nothing is created twice.
        _ => Err(Problem::new(409, "idempotency_key_in_use", "Request in progress")
            .detail("a request with this Idempotency-Key is still being processed; retry shortly")),
    }
}

/// Store the answer given for `key` (inside the transaction that claimed it).
pub fn record(db: &Db, user_id: &str, key: &str, quote_id: &str, status: u16, body: &Value) -> Result<(), Problem> {
    db.execute(
        "UPDATE public.quote_idempotency_keys SET quote_id = $3, response_status = $4, response = $5
          WHERE user_id = $1 AND idempotency_key = $2",
        &[
            db::uuid(user_id),
            db::text(key),
            db::uuid(quote_id),
            Param::Int32(i32::from(status)),
            Param::Jsonb(serde_json::to_vec(body).unwrap_or_default()),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(is_valid_key("order-7f3a"));
        assert!(is_valid_key(&"k".repeat(255)));
        assert!(is_valid_key("a!~{}[]\"'"));
        for bad in ["", " ", "two words", "tab\tkey", "née", &"k".repeat(256)] {
            assert!(!is_valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_same_json_in_another_layout_is_the_same_body() {
        let a = fingerprint(br#"{"client_name":"A","line_items":[]}"#);
        assert_eq!(a, fingerprint(b"{ \"line_items\": [],\n  \"client_name\": \"A\" }"));
        assert_ne!(a, fingerprint(br#"{"client_name":"B","line_items":[]}"#));
        assert_eq!(fingerprint(b"not json").len(), 64);
    }
}
