//! The platform every function runs on: the request pipeline ([`service`]), requests,
//! responses and problem+json ([`http`]), who is calling ([`auth`]), the component variables
//! ([`settings`]), database access as the caller ([`db`]), the security middleware
//! ([`security`]), request metrics, calls between functions ([`chain`]), a rollout's canary
//! forwarding ([`canary`]) and email ([`email`]).
//!
//! Nothing here knows about quotes: the QuoteKit domain is the `quotekit` crate, which builds
//! on this one. Depends on `credentials` (and, natively, `pgtls`, `pgtransaction` and
//! `pgvalue`) only.

pub mod auth;
pub mod canary;
pub mod chain;
mod config;
pub mod db;
pub mod email;
pub mod http;
pub mod metrics;
pub mod params;
pub mod security;
pub mod service;
pub mod settings;

pub use http::{FieldError, Problem, Request, Response};
pub use service::Context;
