//! The QuoteKit domain, on the platform of `shared`: what a quote is and how it is priced
//! ([`money`], [`currency`], [`quote`]), what a subscription allows ([`plans`]), Stripe events
//! applied to the mirror tables exactly once ([`webhooks`]), batch jobs over many quotes
//! ([`batch`]), and the company logo a quote carries ([`image`]).
//!
//! Depends on `shared` and `credentials`; the functions use it, the host never does.

pub mod batch;
pub mod currency;
pub mod image;
pub mod money;
pub mod plans;
pub mod quote;
pub mod webhooks;
