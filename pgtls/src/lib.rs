//! PostgreSQL connection strings as libpq reads them, TLS included, for every place this
//! project connects to PostgreSQL: `edge`'s pool (what components reach through
//! `spin:postgres`), `edge db`, and bench/native.
//!
//! tokio-postgres understands `sslmode` `disable | prefer | require` and nothing of
//! `sslrootcert`; managed databases (Supabase, Neon, RDS) want `verify-full` against a CA.
//! [`Target::parse`] takes the connection string (a `postgres://` URL or `key=value` words),
//! takes out `sslmode` and `sslrootcert`, and builds the rustls configuration they ask for:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | when the server offers it | not checked, unless `sslrootcert` names a CA file (then as `verify-ca`) |
//! | `require` | always | not checked, unless `sslrootcert` names a CA file (then as `verify-ca`) |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert` and issued for the host name |
//!
//! `sslrootcert` is a PEM file of CA certificates, or `system` for the public CAs (Mozilla's
//! list, `webpki-roots`). Without it, `verify-ca` / `verify-full` use `~/.postgresql/root.crt`
//! as libpq does, and fail when it is absent. Client certificates (`sslcert`, `sslkey`) are
//! refused with an error rather than ignored. Connection failures are explained in terms of
//! the setting that caused them ([`explain`]).

mod conninfo;
mod verify;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use tokio_postgres;

/// The TLS stream type of every connection made here.
pub type Stream = postgres_rustls::TlsStream<tokio_postgres::Socket>;
/// A connection to drive (spawn it, or poll it beside the client).
pub type Connection = tokio_postgres::Connection<tokio_postgres::Socket, Stream>;
/// The `MakeTlsConnect` every connection uses.
pub type Connector = postgres_rustls::MakeTlsConnector;

/// libpq's `sslmode` (`allow`, which tries without TLS first, is not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, Error> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::Setting(format!(
                    "sslmode={other} is not supported: use disable, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file (`sslrootcert=PATH`, or libpq's default `~/.postgresql/root.crt`).
    File(PathBuf),
    /// `sslrootcert=system`: the public CAs.
    System,
}

/// A connection string that cannot be used as it is.
#[derive(Debug)]
pub enum Error {
    /// A setting is wrong or unsupported; the message says which and what to do.
    Setting(String),
    /// The rest of the string is not something tokio-postgres reads.
    Invalid(tokio_postgres::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setting(m) => f.write_str(m),
            Error::Invalid(e) => write!(f, "invalid connection string: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A parsed connection string: tokio-postgres's settings plus the TLS ones it lacks.
#[derive(Clone)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub sslmode: SslMode,
    pub roots: Option<Roots>,
    connector: Connector,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target").field("sslmode", &self.sslmode).field("roots", &self.roots).finish_non_exhaustive()
    }
}

impl Target {
    /// Read a connection string (see the crate's description). CA files are read here, so a
    /// missing or unreadable one is reported before any connection is tried.
    pub fn parse(conn: &str) -> Result<Target, Error> {
        let split = conninfo::split(conn)?;
        let config: tokio_postgres::Config = split.rest.parse().map_err(Error::Invalid)?;
        let sslmode = match split.sslmode.as_deref() {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        let roots = match split.sslrootcert.as_deref() {
            Some("system") => Some(Roots::System),
            Some(path) => Some(Roots::File(PathBuf::from(path))),
            None if matches!(sslmode, SslMode::VerifyCa | SslMode::VerifyFull) => match default_root_file() {
                Some(path) if path.exists() => Some(Roots::File(path)),
                _ => {
                    return Err(Error::Setting(format!(
                        "sslmode={} needs the CA that signed the server's certificate: add sslrootcert=PATH \
                         (a PEM file; your provider publishes it) or sslrootcert=system (public CAs)",
                        sslmode.as_str()
                    )))
                }
            },
            None => None,
        };
        let mut config = config;
        config.ssl_mode(match sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let connector = verify::connector(sslmode, roots.as_ref())?;
        Ok(Target { config, sslmode, roots, connector })
    }

    /// Whether the server is on this machine: every host a loopback address, `localhost` or a
    /// Unix socket. Such a server shares this machine's cores with whoever connects to it.
    pub fn on_this_machine(&self) -> bool {
        use tokio_postgres::config::Host;
        let hosts = self.config.get_hosts();
        !hosts.is_empty()
            && hosts.iter().all(|h| match h {
                Host::Tcp(name) => {
                    name.eq_ignore_ascii_case("localhost")
                        || name.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                }
                #[cfg(unix)]
                Host::Unix(_) => true,
            })
    }

    /// The `MakeTlsConnect` for this target's settings.
    pub fn connector(&self) -> Connector {
        self.connector.clone()
    }

    /// Connect; a failure is explained in terms of the settings ([`explain`]).
    pub async fn connect(&self) -> Result<(tokio_postgres::Client, Connection), String> {
        self.config.connect(self.connector()).await.map_err(|e| explain(&e, self))
    }
}

fn default_root_file() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql").join("root.crt"))
}

/// What went wrong connecting to `target`, naming the TLS cause when there is one: an
/// untrusted CA, a certificate issued for another host, a server without TLS.
pub fn explain(e: &tokio_postgres::Error, target: &Target) -> String {
    let mode = target.sslmode.as_str();
    let chain = chain_text(e);
    if let Some(tls) = rustls_error(e) {
        let roots = match &target.roots {
            Some(Roots::File(p)) => format!("the CA file {}", p.display()),
            Some(Roots::System) => "the public CAs (sslrootcert=system)".to_string(),
            None => "no CA".to_string(),
        };
        use rustls::CertificateError as C;
        return match tls {
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => format!(
                "TLS: the server's certificate is not signed by a CA in {roots} (sslmode={mode}); \
                 point sslrootcert at the CA that issued it"
            ),
            rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => format!(
                "TLS: the server's certificate is not issued for the host name connected to ({}) (sslmode={mode} checks the name; \
                 connect with a name the certificate lists){}",
                hosts(target),
                match tls {
                    rustls::Error::InvalidCertificate(C::NotValidForNameContext { presented, .. }) =>
                        format!("; it lists: {}", presented.join(", ")),
                    _ => String::new(),
                }
            ),
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                format!("TLS: the server's certificate has expired (sslmode={mode})")
            }
            rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                format!("TLS: the server's certificate is not valid yet (sslmode={mode})")
            }
            other => format!("TLS handshake with the server failed (sslmode={mode}): {other}"),
        };
    }
    if chain.contains("server does not support TLS") {
        return format!(
            "the server does not accept TLS connections, and sslmode={mode} requires TLS \
             (use sslmode=prefer or disable for a server without TLS)"
        );
    }
    chain
}

fn hosts(target: &Target) -> String {
    target
        .config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The error and its causes, as one line.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    text
}

/// The rustls error somewhere in `e`'s causes (tokio-rustls wraps it in an io::Error).
fn rustls_error<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cause: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        cause = c.source();
    }
    None
}

/// tokio-postgres's settings and the `sslmode` of a connection string, without reading any
/// file (for labels and logs).
pub fn settings(conn: &str) -> Result<(tokio_postgres::Config, SslMode), Error> {
    let split = conninfo::split(conn)?;
    let config = split.rest.parse().map_err(Error::Invalid)?;
    let mode = split.sslmode.as_deref().map(SslMode::parse).transpose()?.unwrap_or(SslMode::Prefer);
    Ok((config, mode))
}

/// Settings built once: rustls's provider is chosen explicitly (ring), never by feature luck.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_server_on_this_machine_is_a_loopback_address_localhost_or_a_socket() {
        for (conn, local) in [
            ("postgres://u@127.0.0.1:5432/db", true),
            ("postgres://u@localhost/db", true),
            ("postgres://u@[::1]:5432/db", true),
            ("host=/var/run/postgresql dbname=db", true),
            ("postgres://u@127.0.0.1,localhost/db", true),
            ("postgres://u@db.example.com/db", false),
            ("postgres://u@10.0.0.5/db", false),
            ("postgres://u@127.0.0.1,db.example.com/db", false),
        ] {
            assert_eq!(super::Target::parse(conn).unwrap().on_this_machine(), local, "{conn}");
        }
    }

    use super::*;

    #[test]
    fn the_tls_settings_are_read_and_the_rest_goes_to_tokio_postgres() {
        let t = Target::parse("postgres://app:pw@db.example.com:6543/quotekit?sslmode=require&application_name=edge")
            .unwrap();
        assert_eq!((t.sslmode, t.roots.clone()), (SslMode::Require, None));
        assert_eq!(t.config.get_application_name(), Some("edge"));
        assert_eq!(t.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert_eq!(t.config.get_dbname(), Some("quotekit"));

        let t = Target::parse("postgres://u@h/d?sslrootcert=system&sslmode=verify-full").unwrap();
        assert_eq!((t.sslmode, t.roots.clone()), (SslMode::VerifyFull, Some(Roots::System)));

        let t =
            Target::parse("host=localhost port=5433 user=u dbname=d sslmode = 'verify-ca' sslrootcert=system").unwrap();
        assert_eq!((t.sslmode, t.config.get_ports()), (SslMode::VerifyCa, &[5433][..]));
        assert_eq!(t.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);

        let t = Target::parse("postgres://u@h/d").unwrap();
        assert_eq!((t.sslmode, t.roots), (SslMode::Prefer, None), "libpq's default");
        let t = Target::parse("postgres://u@h/d?sslmode=disable").unwrap();
        assert_eq!(t.config.get_ssl_mode(), tokio_postgres::config::SslMode::Disable);
    }

    #[test]
    fn settings_that_cannot_work_are_refused_saying_why() {
        let e = Target::parse("postgres://u@h/d?sslmode=verify-fulll").unwrap_err().to_string();
        assert!(e.contains("sslmode=verify-fulll is not supported"), "{e}");
        let e = Target::parse("postgres://u@h/d?sslmode=allow").unwrap_err().to_string();
        assert!(e.contains("not supported"), "{e}");
        let e = Target::parse("postgres://u@h/d?sslcert=/c.pem&sslkey=/k.pem").unwrap_err().to_string();
        assert!(e.contains("client certificates"), "{e}");
        let e = Target::parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem")
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ca.pem"), "{e}");
        let home = std::env::var_os("HOME");
        std::env::set_var("HOME", "/nonexistent-home");
        let e = Target::parse("postgres://u@h/d?sslmode=verify-full").unwrap_err().to_string();
        if let Some(h) = home {
            std::env::set_var("HOME", h);
        }
        assert!(e.contains("needs the CA") && e.contains("sslrootcert=system"), "{e}");
        let e = Target::parse("postgres://u@h/d?nonsense=1").unwrap_err().to_string();
        assert!(e.contains("invalid connection string"), "{e}");
    }
}
