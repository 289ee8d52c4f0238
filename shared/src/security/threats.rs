//! Threat detection for request input: SQL injection, cross-site scripting and OS command
//! injection.
//!
//! Every value is first normalised ([`normalize`]: up to three rounds of percent / `%uXXXX`
//! / HTML-entity / `\xNN` / `\uNNNN` decoding, NUL and zero-width characters removed,
//! full-width ASCII folded, lower-cased, whitespace folded), then scanned by three
//! hand-written, linear-time detectors that recognise *structure* rather than sample lines:
//!
//! * SQL ([`sql`]): a small SQL lexer (words, numbers, quotes, operators, comments, `@vars`;
//!   `/**/` dropped, `/*!…*/` kept) and rules over the token stream: a quote that closes the
//!   application's string followed by SQL (`' or 1=1`, `') and (`, `'; drop table`), literal
//!   tautologies, `union [all] select`, `select … from` with SQL-only evidence, sub-queries,
//!   time-based functions, stacked queries, schema probes, `order by N--` probes,
//!   comment-truncated expressions.
//! * XSS ([`xss`]): script / script-capable tags, event-handler attributes, script URL
//!   schemes (whitespace-insensitive), CSS expressions / bindings, JavaScript sinks.
//! * Command injection ([`cmd`]): a shell separator (`;`, `|`, `&`, newline, backtick, `$(`)
//!   followed by a known command *whose arguments look like a command line* (options, paths,
//!   URLs, IPs, quotes, `$`…), command substitution, shellshock, SSI, PHP code execution,
//!   sensitive system paths.
//!
//! Work is bounded: only the first [`MAX_INPUT`] bytes of a value are inspected, every pass
//! is a forward scan (no backtracking), and JSON is walked iteratively.

mod cmd;
mod normalize;
mod sql;
mod xss;

pub use normalize::MAX_INPUT;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ThreatKind {
    SqlInjection,
    Xss,
    CommandInjection,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detection {
    pub kind: ThreatKind,
    /// Stable rule id, e.g. `"sqli.union_select"`.
    pub rule: &'static str,
    /// Where: `"query.q"`, `"body.notes"`, `"body.line_items[2].name"`.
    pub field: String,
    /// At most 80 characters of the normalised input, around the match.
    pub excerpt: String,
}

/// Which detectors run (threat_detection settings `sqlInjectionDetection`, `xssDetection`,
/// `commandInjectionDetection`).
#[derive(Debug, Clone, Copy)]
pub struct Enabled {
    pub sql_injection: bool,
    pub xss: bool,
    pub command_injection: bool,
}

impl Enabled {
    pub const ALL: Enabled = Enabled {
        sql_injection: true,
        xss: true,
        command_injection: true,
    };
}

/// Every rule id a [`Detection`] can carry.
pub const RULES: &[&str] = &[
    "sqli.union_select",
    "sqli.select_from",
    "sqli.subquery",
    "sqli.quote_break",
    "sqli.tautology",
    "sqli.stacked_query",
    "sqli.time_based",
    "sqli.schema_probe",
    "sqli.fingerprint_function",
    "sqli.system_variable",
    "sqli.order_by_probe",
    "sqli.comment",
    "sqli.comment_truncation",
    "sqli.file_access",
    "xss.script_tag",
    "xss.dangerous_tag",
    "xss.namespace_tag",
    "xss.tag_breakout",
    "xss.script_uri",
    "xss.css_expression",
    "xss.event_handler",
    "xss.js_sink",
    "cmdi.shellshock",
    "cmdi.ssi",
    "cmdi.php_code",
    "cmdi.code_exec",
    "cmdi.template_exec",
    "cmdi.variable_exec",
    "cmdi.substitution",
    "cmdi.chained_command",
    "cmdi.sensitive_path",
];

/// At most this many detections per call (a body full of attacks is reported, not echoed).
const MAX_DETECTIONS: usize = 64;
const MAX_PATH: usize = 200;

fn excerpt(s: &str, pos: usize) -> String {
    let mut st = pos.saturating_sub(16).min(s.len());
    while !s.is_char_boundary(st) {
        st -= 1;
    }
    s[st..]
        .chars()
        .take(80)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Scan one string value.
pub fn scan_value(field: &str, value: &str, enabled: Enabled) -> Vec<Detection> {
    let mut out = Vec::new();
    scan_into(field, value, enabled, &mut out);
    out
}

fn scan_into(field: &str, value: &str, enabled: Enabled, out: &mut Vec<Detection>) {
    if !(enabled.sql_injection || enabled.xss || enabled.command_injection) || value.is_empty() {
        return;
    }
    let n = normalize::normalize(value);
    let mut push = |kind, (rule, pos): (&'static str, usize), src: &str| {
        out.push(Detection {
            kind,
            rule,
            field: field.to_string(),
            excerpt: excerpt(src, pos),
        });
    };
    if enabled.sql_injection {
        if let Some(h) = sql::scan(&n.lower) {
            push(ThreatKind::SqlInjection, h, &n.lower);
        }
    }
    if enabled.xss {
        if let Some(h) = xss::scan(&n.lower) {
            push(ThreatKind::Xss, h, &n.lower);
        }
    }
    if enabled.command_injection {
        if let Some(h) = cmd::scan(&n.raw) {
            push(ThreatKind::CommandInjection, h, &n.raw);
        }
    }
}

fn percent_decode_query(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len()
                && b[i + 1].is_ascii_hexdigit()
                && b[i + 2].is_ascii_hexdigit() =>
            {
                let h = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(h(b[i + 1]) * 16 + h(b[i + 2]));
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Scan a raw query string (`a=1&b=2`, optionally with a leading `?`): every value,
/// percent-decoded (`+` as space), reported as `query.<name>`.
pub fn scan_query(query: &str, enabled: Enabled) -> Vec<Detection> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for part in query.split('&') {
        if part.is_empty() || out.len() >= MAX_DETECTIONS {
            continue;
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = percent_decode_query(normalize::truncate(name, 256));
        let value = percent_decode_query(normalize::truncate(value, MAX_INPUT * 3));
        scan_into(&format!("query.{name}"), &value, enabled, &mut out);
    }
    out.truncate(MAX_DETECTIONS);
    out
}

fn child_key(parent: &str, key: &str) -> String {
    if parent.len() > MAX_PATH {
        return parent.to_string();
    }
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!("{parent}.{key}")
    } else {
        let k: String = key.chars().take(32).collect();
        format!("{parent}[{}]", serde_json::Value::String(k))
    }
}

/// Scan every string value and object key of a JSON body, recursively (iteratively, so any
/// depth is fine); fields are `body`, `body.notes`, `body.line_items[2].name`.
pub fn scan_json(value: &serde_json::Value, enabled: Enabled) -> Vec<Detection> {
    use serde_json::Value;
    let mut out = Vec::new();
    let mut stack: Vec<(String, &Value)> = vec![("body".to_string(), value)];
    while let Some((path, v)) = stack.pop() {
        if out.len() >= MAX_DETECTIONS {
            break;
        }
        match v {
            Value::String(s) => scan_into(&path, s, enabled, &mut out),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    let p = if path.len() > MAX_PATH {
                        path.clone()
                    } else {
                        format!("{path}[{i}]")
                    };
                    stack.push((p, item));
                }
            }
            Value::Object(map) => {
                let base = stack.len();
                for (k, item) in map {
                    let p = child_key(&path, k);
                    scan_into(&p, k, enabled, &mut out);
                    stack.push((p, item));
                }
                stack[base..].reverse();
            }
            _ => {}
        }
    }
    out.truncate(MAX_DETECTIONS);
    out
}

#[cfg(test)]
mod tests;
