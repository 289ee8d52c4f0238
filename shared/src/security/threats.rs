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
//! Every value is inspected whole, so every detector takes time linear in its input with a
//! small constant, whatever the input: each pass reads forward, and what a pass would ask
//! again at every separator, quote or `<` (is there a `*/` further on, what does the rest of
//! this argument look like) is read once and remembered. [`work`] counts the steps, and the
//! tests hold them to a constant per byte on adversarial inputs. JSON is walked iteratively.

mod cmd;
mod normalize;
mod search;
mod sql;
pub mod work;
mod xss;

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
    pub const ALL: Enabled = Enabled { sql_injection: true, xss: true, command_injection: true };
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
    "sqli.quote_expression",
    "sqli.statement",
    "sqli.conditional",
    "xss.script_tag",
    "xss.dangerous_tag",
    "xss.namespace_tag",
    "xss.tag_breakout",
    "xss.script_uri",
    "xss.css_expression",
    "xss.event_handler",
    "xss.js_sink",
    "xss.tag_attribute",
    "xss.markup_declaration",
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
    s[st..].chars().take(80).map(|c| if c.is_control() { ' ' } else { c }).collect()
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
        out.push(Detection { kind, rule, field: field.to_string(), excerpt: excerpt(src, pos) });
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
    work::add(s.len() + 1);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() => {
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

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Scan a raw query string (`a=1&b=2`, optionally with a leading `?`): every value,
/// percent-decoded (`+` as space), reported as `query.<name>`.
pub fn scan_query(query: &str, enabled: Enabled) -> Vec<Detection> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for part in query.split('&') {
        work::add(part.len() + 1);
        if part.is_empty() || out.len() >= MAX_DETECTIONS {
            continue;
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        // The name only labels the field.
        let name = percent_decode_query(truncate(name, 256));
        let value = percent_decode_query(value);
        scan_into(&format!("query.{name}"), &value, enabled, &mut out);
    }
    out.truncate(MAX_DETECTIONS);
    out
}

/// Appends the segment that names `key` in an object to a field path
/// (`body.notes`, `body.custom["a b"]`).
fn push_key(path: &mut String, key: &str) {
    let plain =
        !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        let k: String = key.chars().take(32).collect();
        path.push('[');
        path.push_str(&serde_json::Value::String(k).to_string());
        path.push(']');
    }
}

/// Scan every string value and object key of a JSON body, recursively (iteratively, so any
/// depth is fine); fields are `body`, `body.notes`, `body.line_items[2].name`.
pub fn scan_json(value: &serde_json::Value, enabled: Enabled) -> Vec<Detection> {
    use serde_json::Value;
    use std::fmt::Write;
    /// A container being walked, and the length of its own path.
    enum Open<'a> {
        Array(std::iter::Enumerate<std::slice::Iter<'a, Value>>, usize),
        Object(serde_json::map::Iter<'a>, usize),
    }
    let mut out = Vec::new();
    // One path, extended on the way down and cut back on the way up (a path per pending
    // value would copy up to MAX_PATH bytes for every element of a long array). Past
    // MAX_PATH, children keep their parent's path.
    let mut path = String::from("body");
    let mut open: Vec<Open> = Vec::new();
    let mut next = Some(value);
    loop {
        if let Some(v) = next.take() {
            work::add(1);
            if out.len() >= MAX_DETECTIONS {
                break;
            }
            match v {
                Value::String(s) => scan_into(&path, s, enabled, &mut out),
                Value::Array(items) => open.push(Open::Array(items.iter().enumerate(), path.len())),
                Value::Object(map) => {
                    // Keys first, as fields of their own.
                    let base = path.len();
                    for k in map.keys() {
                        if base <= MAX_PATH {
                            push_key(&mut path, k);
                        }
                        work::add(path.len() - base + 1);
                        scan_into(&path, k, enabled, &mut out);
                        path.truncate(base);
                    }
                    open.push(Open::Object(map.iter(), base));
                }
                _ => {}
            }
        }
        let Some(container) = open.last_mut() else {
            break;
        };
        let base = match container {
            Open::Array(_, base) | Open::Object(_, base) => *base,
        };
        path.truncate(base);
        let child = match container {
            Open::Array(items, _) => items.next().map(|(i, item)| {
                if base <= MAX_PATH {
                    let _ = write!(path, "[{i}]");
                }
                item
            }),
            Open::Object(entries, _) => entries.next().map(|(k, item)| {
                if base <= MAX_PATH {
                    push_key(&mut path, k);
                }
                item
            }),
        };
        match child {
            Some(item) => {
                work::add(path.len() - base + 1);
                next = Some(item);
            }
            None => {
                open.pop();
            }
        }
    }
    out.truncate(MAX_DETECTIONS);
    out
}

#[cfg(test)]
mod linear_tests;
#[cfg(test)]
mod tests;
