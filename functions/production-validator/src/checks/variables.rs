//! infrastructure / `production_variables` and security / `secret_strength`.
//!
//! Must be non-empty in production (fail): every variable spin.toml declares `required`
//! (compiled in; the host refuses to start without them, but an empty value starts) and
//! `stripe_webhook_secrets` (without it webhook-handler refuses every delivery). Should be set
//! (warning): `jwt_issuer` (otherwise tokens of any issuer signed with the secret pass),
//! `resend_api_key` (quote emails), `cors_origins` other than `*`, and a `public_base_url` on
//! https that is not a loopback address. Values are never reported, only what is wrong.

use crate::built::MANIFEST_REQUIRED;
use crate::check::{start, Category, Check, Severity, Status};
use crate::secrets;
use serde_json::json;

/// Beyond the manifest's `required`: what production cannot work without.
pub const PRODUCTION_REQUIRED: [&str; 1] = ["stripe_webhook_secrets"];

/// A variable as this component sees it: `Err` when it is not mapped into its spin.toml section.
pub fn read(name: &str) -> Result<String, ()> {
    spin_sdk::variables::get(name).map_err(|_| ())
}

pub fn required() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = MANIFEST_REQUIRED.to_vec();
    names.extend(PRODUCTION_REQUIRED.iter().filter(|n| !names.contains(n)).collect::<Vec<_>>());
    names
}

pub fn production_variables() -> Check {
    let p = start(Category::Infrastructure, "production_variables", Severity::Critical);
    let mut missing = Vec::new();
    let mut unmapped = Vec::new();
    for name in required() {
        match read(name) {
            Err(()) => unmapped.push(name),
            Ok(v) if v.trim().is_empty() => missing.push(name),
            Ok(_) => {}
        }
    }
    let mut advice = Vec::new();
    if read("jwt_issuer").map(|v| v.trim().is_empty()).unwrap_or(true) {
        advice.push("jwt_issuer is empty: tokens of any issuer signed with the secret are accepted".to_string());
    }
    if read("resend_api_key").map(|v| v.trim().is_empty()).unwrap_or(true) {
        advice.push("resend_api_key is empty: quote emails cannot be sent".to_string());
    }
    if read("cors_origins").map(|v| v.trim() == "*" || v.trim().is_empty()).unwrap_or(true) {
        advice.push("cors_origins allows every origin (`*`)".to_string());
    }
    match read("public_base_url") {
        Ok(url) if url.starts_with("https://") && !is_loopback(&url) => {}
        Ok(url) if is_loopback(&url) => advice.push("public_base_url is a loopback address".to_string()),
        Ok(_) => advice.push("public_base_url is not https".to_string()),
        Err(()) => advice.push("public_base_url is not visible to production-validator".to_string()),
    }
    let evidence = json!({
        "required": required(),
        "missing_or_empty": missing,
        "not_mapped_into_production_validator": unmapped,
        "advice": advice,
    });
    if !missing.is_empty() || !unmapped.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("required variables empty: {}", missing.join(", ")));
        }
        if !unmapped.is_empty() {
            parts.push(format!("not visible to production-validator: {}", unmapped.join(", ")));
        }
        return p.done(
            Status::Fail,
            parts.join("; "),
            evidence,
            "set the listed variables (SPIN_VARIABLE_<NAME>, .env, or the platform's secrets) and map each into [component.production-validator.variables]",
        );
    }
    if !advice.is_empty() {
        return p.done(
            Status::Warning,
            advice.join("; "),
            evidence,
            "set jwt_issuer, resend_api_key, cors_origins and an https public_base_url for production",
        );
    }
    p.done(
        Status::Pass,
        format!("all {} required variables are set; recommended settings too", required().len()),
        evidence,
        "",
    )
}

fn is_loopback(url: &str) -> bool {
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or("");
    host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "0.0.0.0"
}

pub fn secret_strength() -> Check {
    let p = start(Category::Security, "secret_strength", Severity::Critical);
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    match read("jwt_secret") {
        Ok(s) if !s.is_empty() => {
            checked.push("jwt_secret");
            findings.extend(secrets::jwt_secret_findings(&s).into_iter().map(|f| format!("jwt_secret {f}")));
        }
        _ => {}
    }
    match read("stripe_webhook_secrets") {
        Ok(s) if !s.trim().is_empty() => {
            checked.push("stripe_webhook_secrets");
            findings
                .extend(secrets::stripe_secret_findings(&s).into_iter().map(|f| format!("stripe_webhook_secrets {f}")));
        }
        _ => {}
    }
    let evidence = json!({
        "checked": checked,
        "findings": findings,
        "rules": {
            "jwt_secret": format!(
                "≥ {} bytes, ≥ {} bits estimated entropy, no repeated piece, not a published default",
                secrets::MIN_JWT_SECRET_BYTES,
                crate::check::fixed(secrets::MIN_JWT_SECRET_BITS, 0)
            ),
            "stripe_webhook_secrets": "each entry whsec_ + ≥ 24 base64 characters, no duplicates",
        },
    });
    if checked.is_empty() {
        return p.done(
            Status::Skip,
            "no secret is set to judge",
            evidence,
            "set jwt_secret and stripe_webhook_secrets",
        );
    }
    if findings.is_empty() {
        return p.done(Status::Pass, format!("{} strong", checked.join(" and ")), evidence, "");
    }
    p.done(
        Status::Fail,
        findings.join("; "),
        evidence,
        "replace weak secrets: a new jwt_secret of 32+ random bytes (`openssl rand -base64 32`; reissue tokens), the endpoint secrets from Stripe's dashboard",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_recognised() {
        assert!(is_loopback("http://127.0.0.1:3000"));
        assert!(is_loopback("https://localhost/x"));
        assert!(!is_loopback("https://api.example.com"));
    }
}
