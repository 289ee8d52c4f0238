//! Taking the settings tokio-postgres does not read out of a connection string, in both of
//! libpq's forms: a URL (`postgres://...?sslmode=verify-full&sslrootcert=ca.pem`) and
//! `key=value` words (`host=db sslmode=verify-full sslrootcert='/etc/ca.pem'`).

use crate::Error;

/// A connection string without its TLS settings, and those settings.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    pub rest: String,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

/// libpq settings of client certificates and revocation lists: refused rather than ignored,
/// so that nobody believes a certificate is presented (or checked) when it is not.
const UNSUPPORTED: [&str; 5] = ["sslcert", "sslkey", "sslpassword", "sslcrl", "sslcrldir"];

pub fn split(conn: &str) -> Result<Split, Error> {
    let trimmed = conn.trim();
    if trimmed.starts_with("postgres://") || trimmed.starts_with("postgresql://") {
        split_url(trimmed)
    } else {
        split_words(trimmed)
    }
}

fn take(key: &str, value: String, out: &mut Split) -> Result<bool, Error> {
    match key {
        "sslmode" => out.sslmode = Some(value),
        "sslrootcert" => out.sslrootcert = Some(value),
        k if UNSUPPORTED.contains(&k) => {
            return Err(Error::Setting(format!(
                "{k} is not supported: client certificates and revocation lists are not used; \
                 authenticate with a password over sslmode=verify-full"
            )))
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn split_url(url: &str) -> Result<Split, Error> {
    let mut out = Split { rest: String::new(), sslmode: None, sslrootcert: None };
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut kept = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !take(&percent_decode(k), percent_decode(v), &mut out)? {
            kept.push(pair);
        }
    }
    out.rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `key = value` words; values may be single-quoted with `\'` and `\\` escapes.
fn split_words(s: &str) -> Result<Split, Error> {
    let mut out = Split { rest: String::new(), sslmode: None, sslrootcert: None };
    let mut kept: Vec<String> = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(Error::Setting(format!("invalid connection string: `{key}` has no `=value`")));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::Setting(format!(
                            "invalid connection string: the quoted value of `{key}` is not closed"
                        )))
                    }
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                if c == '\\' {
                    chars.next();
                    value.extend(chars.next());
                    continue;
                }
                value.push(c);
                chars.next();
            }
        }
        if !take(&key, value.clone(), &mut out)? {
            kept.push(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
        }
    }
    out.rest = kept.join(" ");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_tls_settings_only() {
        let s =
            split("postgres://u:p%40ss@h:5432/d?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
                .unwrap();
        assert_eq!(s.rest, "postgres://u:p%40ss@h:5432/d?application_name=x");
        assert_eq!((s.sslmode.as_deref(), s.sslrootcert.as_deref()), (Some("verify-full"), Some("/etc/ca.pem")));
        let s = split("postgresql://u@h/d?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgresql://u@h/d");
        let s = split("postgres://u@h/d").unwrap();
        assert_eq!((s.rest.as_str(), s.sslmode), ("postgres://u@h/d", None));
    }

    #[test]
    fn words_lose_their_tls_settings_only() {
        let s =
            split(r"host=db port=5432 password='it\'s a \\ secret' sslmode = verify-ca sslrootcert='/etc/my ca.pem'")
                .unwrap();
        assert_eq!(s.rest, r"host='db' port='5432' password='it\'s a \\ secret'");
        assert_eq!((s.sslmode.as_deref(), s.sslrootcert.as_deref()), (Some("verify-ca"), Some("/etc/my ca.pem")));
        assert!(split("host=db sslmode").is_err());
        assert!(split("host='db").is_err());
        assert!(split("host=db sslkey=/k").is_err());
    }
}
