//! The component variables: each named once, with the default `spin.toml` declares for it, and
//! read and parsed at most once per request.
//!
//! Spin and edge make a new instance of a component for every request, so what an instance
//! keeps lives exactly as long as the request: [`current`] reads a variable from the host the
//! first time something asks for it and keeps the parsed value (the JWT keys are parsed once,
//! not at every verification). Handlers reach it as `ctx.settings()`.
//!
//! An empty value counts as unset, and an unset variable takes its default here too, so a
//! deployment that blanks an optional variable gets the documented behaviour.
//! `the_table_is_spin_toml_s_variables` holds [`VARIABLES`] equal to `spin.toml`'s
//! `[variables]`, names and defaults.

use crate::http::Problem;
use credentials::jwt::JwtConfig;
use std::cell::OnceCell;

/// A variable as `spin.toml` declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// `None`: required (no default).
    pub default: Option<&'static str>,
    /// Its place in [`VARIABLES`] (and in a [`Settings`]' cache).
    index: usize,
}

const fn required(index: usize, name: &'static str) -> Variable {
    Variable { name, default: None, index }
}

const fn optional(index: usize, name: &'static str, default: &'static str) -> Variable {
    Variable { name, default: Some(default), index }
}

/// PostgreSQL connection string.
pub const DB_URL: Variable = required(0, "db_url");
/// `host:port` of `db_url`, the only database address components may reach (read by the
/// manifest's `allowed_outbound_hosts`, not by code).
pub const DB_HOST: Variable = required(1, "db_host");
/// The project's JWT secret (HS256).
pub const JWT_SECRET: Variable = required(2, "jwt_secret");
/// JWKS document with the ES256/RS256 verification keys.
pub const JWKS: Variable = optional(3, "jwks", "");
/// Where the project publishes its signing keys, fetched on an unknown `kid`.
pub const JWKS_URL: Variable = optional(4, "jwks_url", "");
/// `scheme://host[:port]` of `jwks_url` (manifest only).
pub const JWKS_ORIGIN: Variable = optional(5, "jwks_origin", "https://jwks.invalid");
/// When set, tokens must carry exactly this `iss`.
pub const JWT_ISSUER: Variable = optional(6, "jwt_issuer", "");
/// Comma-separated Stripe endpoint secrets (rotation).
pub const STRIPE_WEBHOOK_SECRETS: Variable = optional(7, "stripe_webhook_secrets", "");
/// Largest accepted signature age, in seconds.
pub const STRIPE_WEBHOOK_TOLERANCE_S: Variable = optional(8, "stripe_webhook_tolerance_s", "300");
pub const RESEND_API_KEY: Variable = optional(9, "resend_api_key", "");
pub const RESEND_API_BASE: Variable = optional(10, "resend_api_base", "https://api.resend.com");
pub const EMAIL_FROM: Variable = optional(11, "email_from", "QuoteKit <quotes@example.com>");
pub const SLACK_WEBHOOK_URL: Variable = optional(12, "slack_webhook_url", "");
pub const PAGERDUTY_ROUTING_KEY: Variable = optional(13, "pagerduty_routing_key", "");
pub const PAGERDUTY_API_BASE: Variable = optional(14, "pagerduty_api_base", "https://events.pagerduty.com");
/// `scheme://host[:port]` of `slack_webhook_url` (manifest only).
pub const SLACK_WEBHOOK_ORIGIN: Variable = optional(15, "slack_webhook_origin", "https://hooks.slack.com");
/// Comma-separated recipients of alert emails.
pub const ALERT_EMAIL_TO: Variable = optional(16, "alert_email_to", "");
/// Generic webhook receiving alert JSON.
pub const ALERT_WEBHOOK_URL: Variable = optional(17, "alert_webhook_url", "");
/// `scheme://host[:port]` of `alert_webhook_url` (manifest only).
pub const ALERT_WEBHOOK_ORIGIN: Variable = optional(18, "alert_webhook_origin", "https://alerts.invalid");
pub const REGION: Variable = optional(19, "region", "local");
pub const DEPLOYMENT_COLOR: Variable = optional(20, "deployment_color", "blue");
/// Origin of the green deployment a migration moves traffic to; empty: no canary forwarding.
pub const GREEN_BASE_URL: Variable = optional(21, "green_base_url", "");
/// `scheme://host[:port]` of `green_base_url`.
pub const GREEN_ORIGIN: Variable = optional(22, "green_origin", "https://green.invalid");
/// `local` or `self`: see [`Chaining`].
pub const SERVICE_CHAINING: Variable = optional(23, "service_chaining", "local");
/// The application's public origin, for links sent to clients.
pub const PUBLIC_BASE_URL: Variable = optional(24, "public_base_url", "http://127.0.0.1:3000");
/// `*` or a comma-separated list of allowed origins.
pub const CORS_ORIGINS: Variable = optional(25, "cors_origins", "*");
/// Comma-separated addresses whose `X-Forwarded-For` is believed.
pub const TRUSTED_PROXIES: Variable = optional(26, "trusted_proxies", "");
/// `off` skips rate limiting and threat detection (benchmarks of the middleware only).
pub const SECURITY_MIDDLEWARE: Variable = optional(27, "security_middleware", "on");
/// `edge` when the edge host serves the functions (its pool figures can be read).
pub const POOL_STATS: Variable = optional(28, "pool_stats", "");
/// `off` skips the per-request metrics row (benchmarks only).
pub const REQUEST_METRICS: Variable = optional(29, "request_metrics", "on");
/// Whole UTC days of request metrics kept before the daily roll-up.
pub const METRICS_RETENTION_DAYS: Variable = optional(30, "metrics_retention_days", "35");

/// Every variable, in index order.
pub const VARIABLES: [Variable; 31] = [
    DB_URL,
    DB_HOST,
    JWT_SECRET,
    JWKS,
    JWKS_URL,
    JWKS_ORIGIN,
    JWT_ISSUER,
    STRIPE_WEBHOOK_SECRETS,
    STRIPE_WEBHOOK_TOLERANCE_S,
    RESEND_API_KEY,
    RESEND_API_BASE,
    EMAIL_FROM,
    SLACK_WEBHOOK_URL,
    PAGERDUTY_ROUTING_KEY,
    PAGERDUTY_API_BASE,
    SLACK_WEBHOOK_ORIGIN,
    ALERT_EMAIL_TO,
    ALERT_WEBHOOK_URL,
    ALERT_WEBHOOK_ORIGIN,
    REGION,
    DEPLOYMENT_COLOR,
    GREEN_BASE_URL,
    GREEN_ORIGIN,
    SERVICE_CHAINING,
    PUBLIC_BASE_URL,
    CORS_ORIGINS,
    TRUSTED_PROXIES,
    SECURITY_MIDDLEWARE,
    POOL_STATS,
    REQUEST_METRICS,
    METRICS_RETENTION_DAYS,
];

/// Default retention of request metrics, in days, and the accepted range.
pub const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3660;

/// How the functions call each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chaining {
    /// Spin's service chaining, `http://<name>.spin.internal`, in process.
    Local,
    /// The application's own origin (`http://self.alt`), where local chaining is not available.
    SelfOrigin,
}

/// This request's settings.
pub struct Settings {
    values: [OnceCell<Option<String>>; VARIABLES.len()],
    jwt: OnceCell<Result<JwtConfig, String>>,
}

thread_local! {
    // One instance serves one request on one thread; natively (bench/native) a worker thread
    // keeps its settings, which come from the process's environment and never change.
    static CURRENT: &'static Settings = Box::leak(Box::new(Settings::new()));
}

/// The settings of the request this instance serves.
pub fn current() -> &'static Settings {
    CURRENT.with(|s| *s)
}

impl Settings {
    fn new() -> Settings {
        Settings { values: std::array::from_fn(|_| OnceCell::new()), jwt: OnceCell::new() }
    }

    /// The variable's value, `None` when unset or blank.
    pub fn value(&self, v: Variable) -> Option<&str> {
        self.values[v.index].get_or_init(|| crate::config::var(v.name)).as_deref()
    }

    /// The variable's value, or its default when unset or blank.
    pub fn value_or_default(&self, v: Variable) -> &str {
        self.value(v).or(v.default).unwrap_or("")
    }

    /// A comma-separated list, entries trimmed, empty ones dropped.
    pub fn list(&self, v: Variable) -> Vec<&str> {
        self.value_or_default(v).split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
    }

    /// An `on`/`off` switch: anything but `off` is on.
    fn switch(&self, v: Variable) -> bool {
        self.value_or_default(v).trim() != "off"
    }

    pub fn db_url(&self) -> Option<&str> {
        self.value(DB_URL)
    }

    pub fn jwt_secret(&self) -> Option<&str> {
        self.value(JWT_SECRET)
    }

    pub fn jwt_issuer(&self) -> Option<&str> {
        self.value(JWT_ISSUER)
    }

    pub fn jwks(&self) -> Option<&str> {
        self.value(JWKS)
    }

    pub fn jwks_url(&self) -> Option<&str> {
        self.value(JWKS_URL)
    }

    /// The configured token keys (`jwt_secret`, `jwks`, `jwt_issuer`), parsed once. A
    /// misconfiguration is logged and answered with a 500: no token can be checked.
    pub fn jwt_keys(&self) -> Result<&JwtConfig, Problem> {
        self.jwt
            .get_or_init(|| {
                JwtConfig::new(self.jwt_secret(), self.jwks(), self.jwt_issuer(), "authenticated")
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| {
                eprintln!("authentication is misconfigured: {e}");
                Problem::internal()
            })
    }

    pub fn stripe_webhook_secrets(&self) -> Vec<&str> {
        self.list(STRIPE_WEBHOOK_SECRETS)
    }

    /// The signature age limit; a value that is not a positive number of seconds is Stripe's
    /// default.
    pub fn stripe_webhook_tolerance_s(&self) -> i64 {
        self.value(STRIPE_WEBHOOK_TOLERANCE_S)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(credentials::stripe::DEFAULT_TOLERANCE_S)
    }

    pub fn resend_api_key(&self) -> Option<&str> {
        self.value(RESEND_API_KEY)
    }

    pub fn resend_api_base(&self) -> &str {
        self.value_or_default(RESEND_API_BASE)
    }

    pub fn email_from(&self) -> &str {
        self.value_or_default(EMAIL_FROM)
    }

    pub fn slack_webhook_url(&self) -> Option<&str> {
        self.value(SLACK_WEBHOOK_URL)
    }

    pub fn pagerduty_routing_key(&self) -> Option<&str> {
        self.value(PAGERDUTY_ROUTING_KEY)
    }

    pub fn pagerduty_api_base(&self) -> &str {
        self.value_or_default(PAGERDUTY_API_BASE)
    }

    pub fn alert_email_to(&self) -> Vec<&str> {
        self.list(ALERT_EMAIL_TO)
    }

    pub fn alert_webhook_url(&self) -> Option<&str> {
        self.value(ALERT_WEBHOOK_URL)
    }

    pub fn region(&self) -> &str {
        self.value_or_default(REGION)
    }

    pub fn deployment_color(&self) -> &str {
        self.value_or_default(DEPLOYMENT_COLOR)
    }

    pub fn green_base_url(&self) -> Option<&str> {
        self.value(GREEN_BASE_URL)
    }

    /// `green_origin` without a trailing `/`.
    pub fn green_origin(&self) -> &str {
        self.value_or_default(GREEN_ORIGIN).trim_end_matches('/')
    }

    pub fn service_chaining(&self) -> Chaining {
        match self.value_or_default(SERVICE_CHAINING).trim() {
            "self" => Chaining::SelfOrigin,
            _ => Chaining::Local,
        }
    }

    /// `public_base_url` trimmed of spaces and a trailing `/`.
    pub fn public_base_url(&self) -> &str {
        self.value_or_default(PUBLIC_BASE_URL).trim().trim_end_matches('/')
    }

    pub fn cors_origins(&self) -> &str {
        self.value_or_default(CORS_ORIGINS)
    }

    pub fn trusted_proxies(&self) -> &str {
        self.value_or_default(TRUSTED_PROXIES)
    }

    pub fn security_middleware(&self) -> bool {
        self.switch(SECURITY_MIDDLEWARE)
    }

    pub fn pool_stats(&self) -> Option<&str> {
        self.value(POOL_STATS).map(str::trim)
    }

    pub fn request_metrics(&self) -> bool {
        self.switch(REQUEST_METRICS)
    }

    /// Days of request metrics kept; a value outside [`RETENTION_DAYS`] is the default.
    pub fn metrics_retention_days(&self) -> i64 {
        let default = METRICS_RETENTION_DAYS.default.and_then(|d| d.parse().ok()).unwrap_or(35);
        self.value(METRICS_RETENTION_DAYS)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|d| RETENTION_DAYS.contains(d))
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_sits_at_its_index_once() {
        for (i, v) in VARIABLES.iter().enumerate() {
            assert_eq!(v.index, i, "{} is at {i} in VARIABLES but claims {}", v.name, v.index);
            assert_eq!(VARIABLES.iter().filter(|w| w.name == v.name).count(), 1, "{} is listed twice", v.name);
        }
    }

    #[test]
    fn the_table_is_spin_toml_s_variables() {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml")).unwrap();
        // spin.toml's [variables] section: `name = { default = "…" }` or `{ required = true }`.
        let section = manifest.split("\n[variables]\n").nth(1).expect("spin.toml has [variables]");
        let section = section.split("\n[").next().unwrap_or_default();
        let mut declared = Vec::new();
        for line in section.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let (name, spec) = line.split_once('=').expect("name = { ... }");
            let default = spec.split_once("default = \"").map(|(_, rest)| rest.split('"').next().unwrap_or_default());
            declared.push((name.trim().to_string(), default.map(str::to_string)));
        }
        let ours: Vec<(String, Option<String>)> =
            VARIABLES.iter().map(|v| (v.name.to_string(), v.default.map(str::to_string))).collect();
        let mut declared_sorted = declared.clone();
        declared_sorted.sort();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        assert_eq!(ours_sorted, declared_sorted, "settings::VARIABLES and spin.toml's [variables] differ");
    }

    #[test]
    fn unset_variables_take_their_defaults_and_parse() {
        let s = Settings::new();
        for v in VARIABLES {
            // Natively no variable is set (SPIN_VARIABLE_* is not in the test environment).
            let _ = s.values[v.index].set(None);
        }
        assert_eq!(s.cors_origins(), "*");
        assert_eq!(s.stripe_webhook_tolerance_s(), 300);
        assert_eq!(s.metrics_retention_days(), 35);
        assert_eq!(s.service_chaining(), Chaining::Local);
        assert!(s.security_middleware() && s.request_metrics());
        assert_eq!(s.public_base_url(), "http://127.0.0.1:3000");
        assert_eq!(s.jwt_secret(), None);
        assert!(s.alert_email_to().is_empty());
    }

    #[test]
    fn values_are_parsed_as_documented() {
        let s = Settings::new();
        let set = |v: Variable, value: &str| s.values[v.index].set(Some(value.to_string())).unwrap();
        set(STRIPE_WEBHOOK_TOLERANCE_S, "-5");
        set(METRICS_RETENTION_DAYS, "99999");
        set(SERVICE_CHAINING, "self");
        set(SECURITY_MIDDLEWARE, " off ");
        set(ALERT_EMAIL_TO, " ops@example.com, ,oncall@example.com ");
        set(PUBLIC_BASE_URL, " https://quotes.example.com/ ");
        assert_eq!(s.stripe_webhook_tolerance_s(), 300);
        assert_eq!(s.metrics_retention_days(), 35);
        assert_eq!(s.service_chaining(), Chaining::SelfOrigin);
        assert!(!s.security_middleware());
        assert_eq!(s.alert_email_to(), ["ops@example.com", "oncall@example.com"]);
        assert_eq!(s.public_base_url(), "https://quotes.example.com");
    }
}
