//! `[application.tool.edge]`: the host's own settings, which Spin ignores. Read once into a
//! struct that refuses unknown keys, so a misspelt limit is an error at start, not a default
//! silently kept.

use crate::connections::ConnectionLimits;
use crate::runtime::Limits;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSettings {
    /// Wall-clock limit of one request, from its head to the last byte of its answer.
    pub request_timeout_ms: Option<u64>,
    /// Linear memory one instance may grow to.
    pub memory_limit_mib: Option<u64>,
    /// Linear memory all instances together may hold; past it, requests answer 503.
    pub memory_budget_mib: Option<u64>,
    /// Instances running at once.
    pub max_concurrent_requests: Option<usize>,
    /// Instances running at once for one client address.
    pub max_concurrent_requests_per_address: Option<usize>,
    /// Open connections, in all and per client address.
    pub max_connections: Option<usize>,
    pub max_connections_per_address: Option<usize>,
    /// A request head must arrive within this long of the connection opening (or of the
    /// previous answer, on a kept-alive connection).
    pub header_timeout_ms: Option<u64>,
    /// A request body must arrive within this long...
    pub body_timeout_ms: Option<u64>,
    /// ...and at least this fast (after its first second).
    pub min_body_bytes_per_second: Option<u64>,
    /// A client must take written bytes within this long.
    pub write_timeout_ms: Option<u64>,
    /// Largest request body the host accepts.
    pub max_body_mib: Option<u64>,
    /// Request bodies held in memory at once, in all.
    pub body_budget_mib: Option<u64>,
    /// PostgreSQL connections per database address.
    pub pg_pool_size: Option<usize>,
    /// Regional placement (`edge deploy`): checked as a key here, read by placement.rs.
    #[allow(dead_code)]
    pub regions: Option<toml::Value>,
    /// Scheduled calls (see schedule.rs).
    pub schedule: Option<toml::Value>,
}

impl EdgeSettings {
    pub fn from_table(table: &toml::Table) -> Result<EdgeSettings> {
        toml::Value::Table(table.clone()).try_into().context("[application.tool.edge]")
    }

    /// The limits on instances, with `request_timeout_ms` overridden from the command line.
    pub fn limits(&self, timeout_override: Option<u64>) -> Limits {
        let mut limits = Limits::default();
        let positive = |v: Option<u64>| v.filter(|v| *v > 0);
        if let Some(ms) = positive(timeout_override.or(self.request_timeout_ms)) {
            limits.request_timeout = Duration::from_millis(ms);
        }
        if let Some(mib) = positive(self.memory_limit_mib) {
            limits.memory_bytes = (mib as usize) << 20;
        }
        if let Some(mib) = positive(self.memory_budget_mib) {
            limits.memory_budget_bytes = (mib as usize) << 20;
        }
        if let Some(n) = self.max_concurrent_requests.filter(|n| *n > 0) {
            limits.max_concurrent = n;
        }
        limits.max_concurrent_per_address =
            self.max_concurrent_requests_per_address.filter(|n| *n > 0).unwrap_or(limits.max_concurrent * 3 / 4).max(1);
        limits
    }

    pub fn connection_limits(&self) -> ConnectionLimits {
        let mut c = ConnectionLimits::default();
        let ms = |v: Option<u64>| v.filter(|v| *v > 0).map(Duration::from_millis);
        if let Some(n) = self.max_connections.filter(|n| *n > 0) {
            c.max_total = n;
        }
        if let Some(n) = self.max_connections_per_address.filter(|n| *n > 0) {
            c.max_per_address = n;
        }
        if let Some(d) = ms(self.header_timeout_ms) {
            c.header_timeout = d;
        }
        if let Some(d) = ms(self.body_timeout_ms) {
            c.body_timeout = d;
        }
        if let Some(n) = self.min_body_bytes_per_second.filter(|n| *n > 0) {
            c.min_body_rate = n;
        }
        if let Some(d) = ms(self.write_timeout_ms) {
            c.write_timeout = d;
        }
        if let Some(mib) = self.max_body_mib.filter(|n| *n > 0) {
            c.max_body_bytes = mib << 20;
        }
        if let Some(mib) = self.body_budget_mib.filter(|n| *n > 0) {
            c.body_budget_bytes = mib << 20;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_setting_is_refused() {
        let table: toml::Table = toml::from_str("request_timeout = 5000").unwrap();
        let err = EdgeSettings::from_table(&table).unwrap_err();
        assert!(format!("{err:#}").contains("request_timeout"), "{err:#}");
    }

    #[test]
    fn settings_override_the_defaults() {
        let table: toml::Table = toml::from_str(
            "request_timeout_ms = 5000\nmax_concurrent_requests = 40\nheader_timeout_ms = 2000\nmax_body_mib = 2",
        )
        .unwrap();
        let s = EdgeSettings::from_table(&table).unwrap();
        let limits = s.limits(None);
        assert_eq!(limits.request_timeout, Duration::from_secs(5));
        assert_eq!(limits.max_concurrent, 40);
        assert_eq!(limits.max_concurrent_per_address, 30);
        assert_eq!(s.limits(Some(700)).request_timeout, Duration::from_millis(700));
        let c = s.connection_limits();
        assert_eq!(c.header_timeout, Duration::from_secs(2));
        assert_eq!(c.max_body_bytes, 2 << 20);
    }
}
