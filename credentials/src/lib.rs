//! Credentials: what proves who sent a request, checked and made the same way by the `edge`
//! host and by every component.
//!
//! - [`jwt`]: Supabase-style access tokens and project API keys (verification policy, minting
//!   for tests, tooling and scheduled work).
//! - [`stripe`]: Stripe webhook signatures.
//! - [`internal_call`]: the signature of a call between our own functions.
//! - [`encoding`]: base64, base64url, hex and constant-time comparison, the one copy of each.
//!
//! Pure functions of their inputs: no configuration, no clock, no I/O, so the host (native) and
//! the components (wasm32-wasip2) share them unchanged. Depends on nothing of this workspace.

pub mod encoding;
pub mod internal_call;
pub mod jwt;
pub mod stripe;
