//! Request-content security: the threat detector (SQL injection, XSS, OS command injection)
//! used by the threat-detection settings of the security-hardening function.

pub mod threats;
