//! Tokens an attacker could present, for probing our own endpoints: `alg: none`, an expired
//! token signed with the real secret, and one signed with a key nobody configured (signing
//! itself is `credentials::jwt::mint_hs256`; Stripe signatures `credentials::stripe::sign`).

use credentials::encoding::base64url_encode;
use serde_json::{json, Value};

/// Claims of a service-role token that would pass every check but the one probed.
pub fn claims(now: i64, exp: i64, issuer: Option<&str>) -> Value {
    let mut c = json!({
        "sub": "00000000-0000-4000-8000-00000000abcd",
        "role": "service_role",
        "aud": "authenticated",
        "iat": now - 60,
        "exp": exp,
    });
    if let Some(iss) = issuer {
        c["iss"] = iss.into();
    }
    c
}

pub fn unsigned(claims: &Value) -> String {
    let header = base64url_encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", base64url_encode(claims.to_string().as_bytes()))
}
