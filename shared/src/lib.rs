//! What every function shares: the request pipeline, errors and CORS, authentication,
//! database access, plans and quotas, and request metrics.

pub mod auth;
pub mod chain;
mod config;
pub mod db;
pub mod email;
pub mod http;
pub mod image;
pub mod metrics;
pub mod params;
pub mod plans;
pub mod service;
pub mod settings;
pub mod webhooks;

pub use http::{FieldError, Problem, Request, Response};
pub use service::Context;
pub mod batch;
pub mod canary;
pub mod currency;
pub mod money;
pub mod quote;
pub mod security;
