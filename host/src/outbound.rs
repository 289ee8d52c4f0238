//! `allowed_outbound_hosts`: which `scheme://host:port` a component may reach, as Spin
//! interprets the list (`*` wildcards for scheme, host and port; `*.example.com`;
//! `{{ variable }}` templates; the default port of the scheme when none is written).

use crate::variables::AppVariables;
use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: String,
    host: String,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        _ => None,
    }
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<AllowedHost> {
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("allowed outbound host `{entry}` must be written scheme://host[:port]");
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("allowed outbound host `{entry}` must not contain a path");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let port = match port {
            Some("*") => PortRule::Any,
            Some(p) => PortRule::Exact(p.parse().map_err(|_| anyhow::anyhow!("bad port in `{entry}`"))?),
            None => match default_port(scheme) {
                Some(p) => PortRule::Exact(p),
                None => bail!("allowed outbound host `{entry}` needs a port for scheme `{scheme}`"),
            },
        };
        if host.is_empty() {
            bail!("allowed outbound host `{entry}` has no host");
        }
        Ok(AllowedHost { scheme: scheme.to_ascii_lowercase(), host: host.to_ascii_lowercase(), port })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.to_ascii_lowercase();
        let scheme_ok = self.scheme == "*" || self.scheme.eq_ignore_ascii_case(scheme);
        let host_ok = self.host == "*"
            || self.host == host
            || self.host.strip_prefix("*.").is_some_and(|suffix| host.ends_with(&format!(".{suffix}")));
        let port_ok = match self.port {
            PortRule::Any => true,
            PortRule::Exact(p) => p == port,
        };
        scheme_ok && host_ok && port_ok
    }
}

/// The outbound rules of one component.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    rules: Vec<AllowedHost>,
}

impl OutboundPolicy {
    pub fn new(entries: &[String], vars: &AppVariables) -> Result<OutboundPolicy> {
        let mut rules = Vec::new();
        for e in entries {
            let expanded = vars.expand(e).map_err(|msg| anyhow::anyhow!("allowed_outbound_hosts entry `{e}`: {msg}"))?;
            // An entry that is a template of an optional, unset variable (`{{ green_base_url }}`
            // before a migration is configured) allows nothing rather than failing the load.
            if expanded.trim().is_empty() && e.contains("{{") {
                continue;
            }
            rules.push(AllowedHost::parse(&expanded)?);
        }
        Ok(OutboundPolicy { rules })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Some(port) = port.or_else(|| default_port(scheme)) else { return false };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.rules.iter().any(|r| r.allows(scheme, host, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        OutboundPolicy::new(&entries, &AppVariables::default()).unwrap()
    }

    #[test]
    fn exact_host_and_default_port() {
        let p = policy(&["https://api.resend.com", "postgres://127.0.0.1:5433"]);
        assert!(p.allows("https", "api.resend.com", None));
        assert!(p.allows("https", "api.resend.com", Some(443)));
        assert!(!p.allows("https", "api.resend.com", Some(8443)));
        assert!(!p.allows("http", "api.resend.com", None));
        assert!(p.allows("postgres", "127.0.0.1", Some(5433)));
        assert!(!p.allows("postgres", "127.0.0.1", Some(5432)));
        assert!(!p.allows("postgres", "10.0.0.1", Some(5433)));
    }

    #[test]
    fn wildcards() {
        let p = policy(&["http://*.example.com:*", "*://localhost:9000"]);
        assert!(p.allows("http", "a.example.com", Some(1234)));
        assert!(!p.allows("http", "example.com", Some(1234)));
        assert!(!p.allows("http", "evil-example.com", Some(1234)));
        assert!(p.allows("https", "localhost", Some(9000)));
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        assert!(!policy(&[]).allows("https", "example.com", None));
    }

    #[test]
    fn a_template_of_an_empty_variable_allows_nothing() {
        let mut vars = AppVariables::default();
        vars.set("green_base_url", "");
        let p = OutboundPolicy::new(&["{{ green_base_url }}".to_string()], &vars).unwrap();
        assert!(!p.allows("http", "127.0.0.1", Some(80)));
        vars.set("green_base_url", "http://127.0.0.1:4000/");
        let p = OutboundPolicy::new(&["{{ green_base_url }}".to_string()], &vars).unwrap();
        assert!(p.allows("http", "127.0.0.1", Some(4000)));
        assert!(!p.allows("http", "127.0.0.1", Some(4001)));
        // Only templates: a literal empty entry is still an error.
        assert!(OutboundPolicy::new(&["".to_string()], &AppVariables::default()).is_err());
    }

    #[test]
    fn malformed_entries_are_rejected() {
        assert!(AllowedHost::parse("example.com").is_err());
        assert!(AllowedHost::parse("https://example.com/path").is_err());
        assert!(AllowedHost::parse("https://example.com:notaport").is_err());
    }
}
