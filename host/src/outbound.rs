//! `allowed_outbound_hosts`: where a component may connect, in Spin's grammar.
//!
//! An entry is `<scheme>://<host>[:<port>]`:
//! - scheme: a name of letters (`https`, `postgres`, `tcp`, ...) or `*` for any;
//! - host: a name (`api.example.com`), `*.example.com` (any subdomain), `*`, an IP address or
//!   an IP network (`10.0.0.0/8`), or `self` / `self.alt` (the application itself);
//! - port: a number, a range `a..b` (from a, below b), `*`, or nothing for the scheme's
//!   well-known port (http 80, https 443, postgres 5432, mysql 3306, redis 6379, mqtt 1883);
//! - `{{ variable }}` templates anywhere.
//!
//! When an application is loaded, literal entries must parse, and so must templates whose
//! variables all have defaults, filled with those defaults (Spin's rule: a template that is
//! only valid with a value from the environment is refused). When it runs, the entries are
//! filled with the variables' actual values; an entry that is then invalid leaves the
//! component with no outbound access at all, and says why on every refused attempt.

use crate::variables::{AppVariables, Template};
use anyhow::{anyhow, bail, Context, Result};
use std::net::{IpAddr, SocketAddr};
use url::Host;

/// The domain of requests between components (service chaining).
const CHAINING_SUFFIX: &str = ".spin.internal";

/// One parsed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `*.example.com`, kept as `.example.com`.
    Subdomain(String),
    /// `self` or `self.alt`: requests to the application itself.
    ToSelf,
    Name(Host<String>),
    Network(IpNetwork),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
    /// From the first port up to, not including, the second.
    Range(u16, u16),
}

/// An IP address with a prefix length; the bits past the prefix are cleared when parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    base: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or one with `/n` (no brackets).
    fn parse(s: &str) -> Option<IpNetwork> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(bits);
        if prefix > bits {
            return None;
        }
        Some(IpNetwork { base: mask(addr, prefix), prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.base.is_ipv4() && mask(ip, self.prefix) == self.base
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

/// The port a scheme uses when none is written.
pub fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        _ => None,
    }
}

const FORMAT_HINT: &str = "write <scheme>://<host>[:<port>], each part may be '*' ('*://*:*' allows every destination)";

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<AllowedHost> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            if matches!(entry, "*" | ":" | "" | "?") {
                bail!("{entry:?} is not an allowed outbound host format: {FORMAT_HINT}");
            }
            bail!("{entry:?} does not contain a scheme (e.g., 'http://' or '*://')");
        };
        // The port follows the last colon; an IPv6 host is written in brackets.
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((_, path)) if !path.is_empty() => bail!("{entry:?} has a path but is not allowed to"),
            Some((port, _)) => port,
            None => port,
        };
        let port = PortRule::parse(port, scheme).with_context(|| format!("Invalid allowed host port {port:?}"))?;
        let scheme = SchemeRule::parse(scheme).with_context(|| format!("Invalid allowed host scheme {scheme:?}"))?;
        let host = HostRule::parse(host).with_context(|| format!("Invalid allowed host {host:?}"))?;
        Ok(AllowedHost { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &Host<String>, port: Option<u16>) -> bool {
        self.scheme.allows(scheme)
            && self.host.allows(host)
            && self.port.allows(port.or_else(|| well_known_port(scheme)))
    }
}

impl SchemeRule {
    fn parse(s: &str) -> Result<SchemeRule> {
        if s == "*" {
            return Ok(SchemeRule::Any);
        }
        if s.starts_with('{') {
            bail!("scheme lists are not supported");
        }
        if !s.chars().all(char::is_alphabetic) {
            bail!("only alphabetic characters are allowed");
        }
        Ok(SchemeRule::Named(s.to_string()))
    }

    fn allows(&self, scheme: &str) -> bool {
        match self {
            SchemeRule::Any => true,
            SchemeRule::Named(s) => s == scheme,
        }
    }
}

impl HostRule {
    fn parse(host: &str) -> Result<HostRule> {
        let host = host.trim();
        if host == "*" {
            return Ok(HostRule::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(HostRule::ToSelf);
        }
        if host.starts_with('{') {
            if host.ends_with('}') {
                bail!("host lists are not yet supported");
            }
            bail!("a host list must end with '}}'");
        }
        if let Some(net) = IpNetwork::parse(host) {
            return Ok(HostRule::Network(net));
        }
        let host = host.trim_end_matches('/');
        if host.contains('/') {
            bail!("must not include a path");
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                bail!("wildcards are allowed only as prefixes");
            }
            return Ok(HostRule::Subdomain(format!(".{domain}")));
        }
        if host.contains('*') {
            bail!("wildcards are allowed only as subdomains");
        }
        Ok(HostRule::Name(Host::parse(host)?))
    }

    fn allows(&self, host: &Host<String>) -> bool {
        match (self, host) {
            (HostRule::Any, _) => true,
            (HostRule::Subdomain(suffix), Host::Domain(d)) => d.ends_with(suffix.as_str()),
            (HostRule::Name(name), h) => name == h,
            (HostRule::Network(net), Host::Ipv4(ip)) => net.contains(IpAddr::V4(*ip)),
            (HostRule::Network(net), Host::Ipv6(ip)) => net.contains(IpAddr::V6(*ip)),
            _ => false,
        }
    }
}

impl PortRule {
    fn parse(port: &str, scheme: &str) -> Result<PortRule> {
        if port.is_empty() {
            return well_known_port(scheme).map(PortRule::Exact).with_context(|| {
                format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
            });
        }
        if port == "*" {
            return Ok(PortRule::Any);
        }
        if port.starts_with('{') {
            bail!("port lists are not yet supported");
        }
        if let Some((from, to)) = port.split_once("..") {
            let number = |p: &str| p.parse::<u16>().with_context(|| format!("port range {port:?} contains non-number"));
            return Ok(PortRule::Range(number(from)?, number(to)?));
        }
        Ok(PortRule::Exact(port.parse().with_context(|| format!("port {port:?} is not a number"))?))
    }

    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (PortRule::Any, _) => true,
            (PortRule::Exact(p), Some(q)) => *p == q,
            (PortRule::Range(from, to), Some(q)) => (*from..*to).contains(&q),
            (_, None) => false,
        }
    }
}

/// Parse the entries as written: literal entries parsed, templates kept for later.
fn parse_entries(entries: &[String]) -> Result<Vec<Entry>> {
    if entries.len() == 1 && entries[0] == "insecure:allow-all" {
        bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead if you really want to allow all outbound traffic");
    }
    entries
        .iter()
        .map(|e| {
            let template = Template::parse(e).map_err(|why| anyhow!("invalid variable template: {why}"))?;
            if template.is_literal() {
                Ok(Entry::Parsed(AllowedHost::parse(e)?))
            } else {
                Ok(Entry::Template(template))
            }
        })
        .collect()
}

enum Entry {
    Parsed(AllowedHost),
    Template(Template),
}

/// The check Spin makes when it loads an application: literal entries must parse, and so must
/// templates filled with their variables' defaults. A template naming a variable without a
/// default (or no variable at all) can only be checked when it runs.
pub fn check_entries(entries: &[String], defaults: &AppVariables) -> Result<()> {
    for entry in parse_entries(entries)? {
        if let Entry::Template(t) = entry {
            let Ok(filled) = t.render(|name| defaults.get(name)) else { continue };
            AllowedHost::parse(&filled).with_context(|| {
                format!(
                    "using default variable value(s) with template {:?} results in invalid config {filled:?}",
                    t.to_string()
                )
            })?;
        }
    }
    Ok(())
}

/// The deprecated `allowed_http_hosts` (`host[:port]`, `insecure:allow-all`) in the syntax of
/// `allowed_outbound_hosts`: each host for both HTTP and HTTPS.
pub fn from_allowed_http_hosts(list: &[String]) -> Result<Vec<String>> {
    if list.iter().any(|h| h == "insecure:allow-all") {
        return Ok(vec!["http://*:*".into(), "https://*:*".into(), "http://self".into()]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for text in list {
        let url = if text.contains("//") {
            match url::Url::parse(text) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(u),
                Ok(_) => Err(format!("{text} isn't a valid host or host:port string")),
                Err(e) => Err(format!("{text} isn't a valid HTTP host URL: {e}")),
            }
        } else {
            url::Url::parse(&format!("http://{text}"))
                .map_err(|_| format!("{text} isn't a valid host or host:port string"))
        };
        let entry = url.and_then(|u| {
            let host = u.host_str().ok_or_else(|| format!("{text} doesn't contain a host name"))?.to_string();
            if u.path().len() > 1 {
                return Err(format!("{text} contains a path, should be host and optional port only"));
            }
            Ok((host, u.port()))
        });
        match entry {
            Ok((host, _)) if host == "self" => out.push("http://self".to_string()),
            Ok((host, port)) => {
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                out.push(format!("http://{host}{port}"));
                out.push(format!("https://{host}{port}"));
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        bail!("One or more allowed_http_hosts entries was invalid:\n{}", errors.join("\n"));
    }
    Ok(out)
}

/// A component's outbound rules, with its variables' actual values filled in.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    rules: std::result::Result<Vec<AllowedHost>, String>,
    /// The application's component ids: `*.spin.internal` reaches these and nothing else.
    components: Vec<String>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy { rules: Ok(Vec::new()), components: Vec::new() }
    }
}

impl OutboundPolicy {
    /// The rules of `entries` with `vars`' values. The entries were checked at load; an entry
    /// that a value now makes invalid leaves the component with no outbound access (the
    /// reason is kept and logged with every refusal).
    pub fn new(entries: &[String], vars: &AppVariables, components: &[String]) -> OutboundPolicy {
        let rules = (|| -> Result<Vec<AllowedHost>> {
            parse_entries(entries)?
                .into_iter()
                .map(|e| match e {
                    Entry::Parsed(h) => Ok(h),
                    Entry::Template(t) => {
                        let filled = vars.render(&t).map_err(|e| anyhow!("{t}: {e}"))?;
                        AllowedHost::parse(&filled).with_context(|| format!("{t} is {filled:?}"))
                    }
                })
                .collect()
        })()
        .map_err(|e| format!("{e:#}"));
        OutboundPolicy { rules, components: components.to_vec() }
    }

    /// Why the component has no outbound access at all, when an entry is invalid.
    pub fn error(&self) -> Option<&str> {
        self.rules.as_ref().err().map(String::as_str)
    }

    /// Whether `scheme://host[:port]` may be reached (the scheme's well-known port when none).
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Ok(rules) = &self.rules else { return false };
        let scheme = scheme.to_ascii_lowercase();
        let Some(host) = parse_host(host) else { return false };
        if let Host::Domain(d) = &host {
            if let Some(component) = d.strip_suffix(CHAINING_SUFFIX) {
                // `*.spin.internal` stands for the application's own components only.
                let known = self.components.iter().any(|c| c == component);
                return rules.iter().any(|r| match &r.host {
                    HostRule::Subdomain(s) if s == CHAINING_SUFFIX => known && r.allows(&scheme, &host, port),
                    _ => r.allows(&scheme, &host, port),
                });
            }
        }
        rules.iter().any(|r| r.allows(&scheme, &host, port))
    }

    /// Whether requests to the application itself (`self`, `self.alt`, or a relative URL)
    /// with `scheme` are allowed.
    pub fn allows_self(&self, scheme: &str) -> bool {
        let Ok(rules) = &self.rules else { return false };
        rules.iter().any(|r| r.scheme.allows(scheme) && matches!(r.host, HostRule::Any | HostRule::ToSelf))
    }

    /// A `wasi:sockets` address: TCP connections as scheme `tcp`, UDP as `udp`.
    pub fn allows_socket(&self, addr: SocketAddr, udp: bool) -> bool {
        let host = match addr.ip() {
            IpAddr::V4(v4) => Host::Ipv4(v4),
            IpAddr::V6(v6) => Host::Ipv6(v6),
        };
        let Ok(rules) = &self.rules else { return false };
        let scheme = if udp { "udp" } else { "tcp" };
        rules.iter().any(|r| r.allows(scheme, &host, Some(addr.port())))
    }
}

/// A host as found in a URL (`example.com`, `10.0.0.1`, `[::1]` or `::1`).
fn parse_host(host: &str) -> Option<Host<String>> {
    let host = host.trim();
    // A dotted-quad address needs no IDNA mapping (the usual database, 127.0.0.1, is checked
    // on every connection a request opens). The standard library takes four plain decimal
    // parts only; the octal and shortened forms URLs allow are left to the URL rules below.
    if let Ok(v4) = host.parse::<std::net::Ipv4Addr>() {
        return Some(Host::Ipv4(v4));
    }
    if host.contains(':') && !host.starts_with('[') {
        return Host::parse(&format!("[{host}]")).ok();
    }
    Host::parse(host).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        check_entries(&entries, &AppVariables::default()).unwrap();
        let p = OutboundPolicy::new(&entries, &AppVariables::default(), &["a".into(), "b".into()]);
        assert!(p.error().is_none(), "{:?}", p.error());
        p
    }

    fn refusal(entry: &str) -> String {
        let e = check_entries(&[entry.to_string()], &AppVariables::default()).unwrap_err();
        format!("{e:#}")
    }

    #[test]
    fn exact_host_and_default_port() {
        let p = policy(&["https://api.resend.com", "postgres://127.0.0.1:5433"]);
        assert!(p.allows("https", "api.resend.com", None));
        assert!(p.allows("https", "API.resend.com", Some(443)));
        assert!(!p.allows("https", "api.resend.com", Some(8443)));
        assert!(!p.allows("http", "api.resend.com", None));
        assert!(p.allows("postgres", "127.0.0.1", Some(5433)));
        assert!(!p.allows("postgres", "127.0.0.1", Some(5432)));
        assert!(!p.allows("postgres", "10.0.0.1", Some(5433)));
        // The other forms URLs give an address mean the same address.
        assert!(p.allows("postgres", "127.1", Some(5433)));
        assert!(p.allows("postgres", "0x7f.0.0.1", Some(5433)));
        assert!(!p.allows("postgres", "127.0.0.2", Some(5433)));
    }

    #[test]
    fn wildcards() {
        let p = policy(&["http://*.example.com:*", "*://localhost:9000"]);
        assert!(p.allows("http", "a.example.com", Some(1234)));
        assert!(p.allows("http", "a.b.example.com", Some(1)));
        assert!(!p.allows("http", "example.com", Some(1234)));
        assert!(!p.allows("http", "evil-example.com", Some(1234)));
        assert!(p.allows("https", "localhost", Some(9000)));
    }

    #[test]
    fn networks_and_port_ranges() {
        let p = policy(&["*://127.0.0.0/24:7", "tcp://10.1.2.3/8:6000..6002", "*://::1/128:*"]);
        assert!(p.allows_socket("127.0.0.1:7".parse().unwrap(), false));
        assert!(p.allows_socket("127.0.0.255:7".parse().unwrap(), true));
        assert!(!p.allows_socket("127.0.1.1:7".parse().unwrap(), false));
        assert!(!p.allows_socket("127.0.0.1:8".parse().unwrap(), false));
        assert!(p.allows_socket("10.200.0.1:6001".parse().unwrap(), false));
        assert!(!p.allows_socket("10.200.0.1:6002".parse().unwrap(), false), "a range ends before its second port");
        assert!(!p.allows_socket("10.200.0.1:6001".parse().unwrap(), true), "tcp:// is not udp");
        assert!(p.allows_socket("[::1]:5".parse().unwrap(), false));
        assert!(p.allows("http", "127.0.0.9", Some(7)));
        assert!(!p.allows("http", "localhost", Some(7)), "a network holds addresses, not names");
    }

    #[test]
    fn sockets_need_an_entry_for_their_scheme_and_port() {
        let p = policy(&["postgres://127.0.0.1:5432", "*://127.0.0.2:6001"]);
        assert!(!p.allows_socket("127.0.0.1:5432".parse().unwrap(), false));
        assert!(!p.allows_socket("127.0.0.1:6001".parse().unwrap(), false));
        assert!(p.allows_socket("127.0.0.2:6001".parse().unwrap(), false));
        assert!(!OutboundPolicy::default().allows_socket("127.0.0.1:1".parse().unwrap(), false));
    }

    #[test]
    fn self_and_service_chaining() {
        let p = policy(&["http://self", "http://*.spin.internal"]);
        assert!(p.allows_self("http"));
        assert!(!p.allows_self("https"));
        assert!(p.allows("http", "a.spin.internal", None));
        assert!(!p.allows("http", "nobody.spin.internal", None), "only the application's components");
        assert!(policy(&["http://self.alt"]).allows_self("http"));
        assert!(!policy(&["http://a.spin.internal"]).allows_self("http"));
    }

    #[test]
    fn malformed_entries_are_refused_with_spins_reasons() {
        for (entry, why) in [
            ("", "is not an allowed outbound host format"),
            ("*", "is not an allowed outbound host format"),
            ("example.com", "does not contain a scheme"),
            ("https://example.com/path", "must not include a path"),
            ("https://example.com:443/path", "has a path but is not allowed to"),
            ("https://example.com:abc", "is not a number"),
            ("https://example.com:70000", "is not a number"),
            ("tcp://example.com", "does not have a known default port number"),
            ("HTTPS://example.com", "does not have a known default port number"),
            ("h2c://example.com:80", "only alphabetic characters are allowed"),
            ("https://a.*.example.com", "wildcards are allowed only as subdomains"),
            ("https://*.*.example.com", "wildcards are allowed only as prefixes"),
            ("https://{a,b}.com", "host list"),
            ("https://a.com:{80,443}", "port lists are not yet supported"),
            ("*://127.0.0.1:7..x", "contains non-number"),
            ("*://10.0.0.0/33:7", "must not include a path"),
            ("*://[::1]/128:7", "must not include a path"),
            ("https://invalid host", "invalid international domain name"),
            ("https://u@example.com", "invalid international domain name"),
            ("insecure:allow-all", "'insecure:allow-all' is not allowed"),
            ("https://{{ v", "unmatched '{{'"),
        ] {
            let e = refusal(entry);
            assert!(e.contains(why), "{entry:?}: {e}");
        }
        let with_other =
            check_entries(&["insecure:allow-all".into(), "https://a.com".into()], &AppVariables::default());
        assert!(format!("{:#}", with_other.unwrap_err()).contains("does not contain a scheme"));
    }

    #[test]
    fn accepted_forms() {
        policy(&[
            "https://example.com/",
            "http://[::1]:80",
            "*://*:*",
            "mqtt://broker.example.com",
            "http://self",
            "*://127.0.0.1:0",
            "*://a.com:9..7",
            " https://example.com ",
        ]);
    }

    #[test]
    fn templates_are_checked_with_defaults_at_load_and_with_values_at_run_time() {
        let mut defaults = AppVariables::default();
        defaults.set("green", "");
        defaults.set("host", "example.com");
        let e = check_entries(&["{{ green }}".into()], &defaults).unwrap_err();
        assert!(format!("{e:#}").contains("results in invalid config \"\""), "{e:#}");
        // No default: checked when it runs.
        check_entries(&["postgres://{{ db_host }}".into(), "https://{{ nope }}".into()], &defaults).unwrap();
        check_entries(&["https://{{ host }}".into()], &defaults).unwrap();

        let mut vars = defaults.clone();
        vars.set("db_host", "127.0.0.1:5433");
        vars.set("host", "invalid host");
        let ok = OutboundPolicy::new(&["postgres://{{ db_host }}".into()], &vars, &[]);
        assert!(ok.allows("postgres", "127.0.0.1", Some(5433)));
        let broken = OutboundPolicy::new(&["postgres://{{ db_host }}".into(), "https://{{ host }}".into()], &vars, &[]);
        assert!(broken.error().unwrap().contains("invalid international domain name"), "{:?}", broken.error());
        assert!(!broken.allows("postgres", "127.0.0.1", Some(5433)), "an invalid entry leaves no outbound access");
        let unknown = OutboundPolicy::new(&["https://{{ nope }}".into()], &vars, &[]);
        assert!(unknown.error().unwrap().contains("nope"));
    }

    #[test]
    fn allowed_http_hosts_become_outbound_hosts() {
        let list = |l: &[&str]| from_allowed_http_hosts(&l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            list(&["example.com", "api.example.com:8080"]).unwrap(),
            [
                "http://example.com",
                "https://example.com",
                "http://api.example.com:8080",
                "https://api.example.com:8080"
            ]
        );
        assert_eq!(list(&["self"]).unwrap(), ["http://self"]);
        let e = list(&["example.com/path", "ftp://x.com"]).unwrap_err().to_string();
        assert!(e.contains("contains a path") && e.contains("isn't a valid host"), "{e}");
    }
}
