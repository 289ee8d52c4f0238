//! The security middleware every function runs through (SPEC "Security middleware"): who the
//! client is ([`client`]), blocks, rate limiting and threat detection ([`guard`], with the
//! detector in [`threats`]), the database's own guarantees ([`catalog`]), and the signature of calls between our own functions
//! ([`internal`]), and capability tokens ([`capability`]).

pub mod capability;
pub mod catalog;
pub mod client;
pub mod guard;
pub mod internal;
pub mod threats;

/// SECURITY DEFINER functions that signed-in users may call on purpose: each checks the
/// caller itself. Everything else privileged is for the service role only; the security scan,
/// production-validator and tests/sql/rls_privileged_functions.sql hold to this list.
pub const USER_CALLABLE_DEFINERS: &[&str] =
    &["is_admin()", "next_quote_number(integer)", "my_webhook_backlog(integer)", "claim_quote_emails(integer)"];
