//! The security middleware every function runs through (SPEC "Security middleware"): who the
//! client is, rate limiting and blocks, threat detection in query strings and JSON bodies.

pub mod client;
pub mod threats;
