//! Calls between our own functions carry a short-lived signature (`x-internal-call`, see
//! [`credentials::internal_call`] for its purposes and format), keyed with the project's JWT
//! secret: made here for outgoing calls, checked here for incoming ones.

use credentials::internal_call::{sign_with, verify_with};
pub use credentials::internal_call::{Purpose, HEADER};

/// The header value, signed with the configured JWT secret (`None` when there is none).
pub fn sign(purpose: Purpose, path: &str) -> Option<(String, String)> {
    let secret = crate::settings::current().jwt_secret()?;
    Some((HEADER.to_string(), sign_with(secret, purpose, path, crate::auth::now_unix())))
}

/// The purpose of the request's internal-call header, if it has a valid one.
pub fn verify(req: &crate::http::Request) -> Option<Purpose> {
    let header = req.header(HEADER)?;
    let secret = crate::settings::current().jwt_secret()?;
    verify_with(secret, header, &req.path, crate::auth::now_unix())
}
