//! Who a request comes from, for rate limiting, blocks and sticky canary assignment: the
//! verified user when the request carries a valid token, else the client address.
//!
//! The address is the connection's (`spin-client-addr`, set by the host and never taken from
//! the client). `X-Forwarded-For` is believed only when the connection comes from a configured
//! trusted proxy (`trusted_proxies`), and then only up to the first hop that is not itself a
//! trusted proxy: anything further left was written by the client and proves nothing. The
//! header is read whole: a client may send a line of its own before the one our proxy
//! appends, and only the last hops (the right-most, in the last lines) are our proxies' word.

use crate::auth;
use crate::http::Request;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `user:<uuid>`, `service_role`, or `ip:<address>`.
    pub key: String,
    /// The client address as far as it can be trusted.
    pub address: Option<String>,
    /// The verified user, if any.
    pub user_id: Option<String>,
}

/// Identify the caller of `req` with the configured trusted proxies.
pub fn identify(req: &Request) -> Client {
    identify_with(req, crate::settings::current().trusted_proxies(), auth::authenticate(req).ok())
}

/// As [`identify`], with the proxy list and the verified caller given (testable natively).
pub fn identify_with(req: &Request, trusted_proxies: &str, caller: Option<auth::Caller>) -> Client {
    let address = client_address(req, trusted_proxies);
    match caller {
        Some(c) if c.is_service_role() => Client { key: "service_role".into(), address, user_id: None },
        Some(c) if crate::params::is_uuid(c.user_id()) => {
            Client { key: format!("user:{}", c.user_id()), address, user_id: Some(c.user_id().to_string()) }
        }
        _ => Client { key: format!("ip:{}", address.as_deref().unwrap_or("unknown")), address, user_id: None },
    }
}

/// The address of the client: the connection's, or the forwarded one behind a trusted proxy.
pub fn client_address(req: &Request, trusted_proxies: &str) -> Option<String> {
    let peer = req.header("spin-client-addr").map(strip_port)?;
    let trusted: Vec<&str> = trusted_proxies.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if !trusted.contains(&peer.as_str()) {
        return Some(peer);
    }
    let Some(forwarded) = req.list_header("x-forwarded-for") else { return Some(peer) };
    // Walk from the nearest hop outwards; the first address that is not one of our proxies is
    // the client as seen by the outermost proxy we trust.
    let mut hops: Vec<String> = forwarded.split(',').map(|h| strip_port(h.trim())).filter(|h| !h.is_empty()).collect();
    while let Some(hop) = hops.pop() {
        if !trusted.contains(&hop.as_str()) {
            return Some(hop);
        }
    }
    Some(peer)
}

/// `1.2.3.4:5678` → `1.2.3.4`; `[::1]:5678` → `::1`; a bare address is returned as is.
fn strip_port(addr: &str) -> String {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest).to_string();
    }
    match addr.matches(':').count() {
        1 => addr.split(':').next().unwrap_or(addr).to_string(),
        _ => addr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn req(headers: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            path: "/".into(),
            sub_path: "/".into(),
            query: String::new(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn the_connection_address_is_used_without_proxies() {
        let r = req(&[("spin-client-addr", "10.0.0.7:51234"), ("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(client_address(&r, ""), Some("10.0.0.7".into()));
        assert_eq!(identify_with(&r, "", None).key, "ip:10.0.0.7");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let r = req(&[("spin-client-addr", "10.0.0.1:443"), ("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")]);
        // 10.0.0.1 and 10.0.0.2 are ours; 203.0.113.9 is the client; 6.6.6.6 was forged by it.
        assert_eq!(client_address(&r, "10.0.0.1, 10.0.0.2"), Some("203.0.113.9".into()));
        assert_eq!(client_address(&r, "10.0.0.9"), Some("10.0.0.1".into()));
    }

    #[test]
    fn a_forged_first_line_of_forwarded_for_is_not_the_client() {
        // The client sends a line of its own; our proxy appends the address it saw as a
        // second line. The walk reads both lines, right to left.
        let r = req(&[
            ("spin-client-addr", "10.0.0.1:443"),
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(client_address(&r, "10.0.0.1"), Some("203.0.113.9".into()));
        let r = req(&[
            ("spin-client-addr", "10.0.0.1:443"),
            ("x-forwarded-for", "6.6.6.6, 7.7.7.7"),
            ("x-forwarded-for", "203.0.113.9, 10.0.0.2"),
        ]);
        assert_eq!(client_address(&r, "10.0.0.1, 10.0.0.2"), Some("203.0.113.9".into()));
        assert_eq!(identify_with(&r, "10.0.0.1, 10.0.0.2", None).key, "ip:203.0.113.9");
    }

    #[test]
    fn ipv6_addresses_lose_only_their_port() {
        assert_eq!(strip_port("[::1]:8080"), "::1");
        assert_eq!(strip_port("2001:db8::1"), "2001:db8::1");
        assert_eq!(strip_port("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn no_connection_address_is_unknown() {
        assert_eq!(identify_with(&req(&[]), "", None).key, "ip:unknown");
    }
}
