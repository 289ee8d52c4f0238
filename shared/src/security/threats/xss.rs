//! Cross-site scripting: HTML tag / attribute structure, script-capable URL schemes, CSS
//! expressions and JavaScript sinks, on the normalised input.

use super::sql::find;

const TAGS: &[&str] = &[
    "script",
    "iframe",
    "frame",
    "frameset",
    "embed",
    "object",
    "applet",
    "meta",
    "link",
    "style",
    "base",
    "svg",
    "math",
    "isindex",
    "xml",
    "import",
    "set",
    "animate",
    "animatetransform",
    "animatemotion",
    "handler",
    "listener",
    "xss",
    "html",
    "body",
    "plaintext",
    "bgsound",
    "layer",
    "ilayer",
    "portal",
    "xmp",
    "noscript",
    "foreignobject",
];
const SCHEMES: &[&str] = &[
    "javascript:",
    "vbscript:",
    "livescript:",
    "mocha:",
    "data:text/html",
    "data:image/svg",
    "data:application/",
    "data:text/xml",
    "data:text/javascript",
];
const SINKS: &[&str] = &[
    "alert",
    "prompt",
    "confirm",
    "eval",
    "fromcharcode",
    "settimeout",
    "setinterval",
    "execscript",
    "atob",
    "document.write",
    "document.writeln",
    "window.open",
    "unescape",
    "constructor",
    "importscripts",
];
const SINK_PROPS: &[&str] = &[
    "document.cookie",
    "document.domain",
    "document.location",
    "window.location",
    "location.href",
    ".innerhtml",
    "location.hash",
];

fn name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b':' || c == b'_'
}

/// `<name` at `i` (optionally `</name`): (name start, name end).
fn tag_at(s: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i + 1;
    if s.get(j) == Some(&b'/') {
        j += 1;
    }
    if !s.get(j)?.is_ascii_alphabetic() {
        return None;
    }
    let st = j;
    while j < s.len() && name_byte(s[j]) {
        j += 1;
    }
    Some((st, j))
}

pub(crate) fn scan(lower: &str) -> Option<(&'static str, usize)> {
    let s = lower.as_bytes();
    let mut any_tag = false;
    // Tags.
    let mut i = 0;
    while let Some(p) = s[i..].iter().position(|&c| c == b'<') {
        let at = i + p;
        i = at + 1;
        let Some((st, en)) = tag_at(s, at) else {
            if matches!(s.get(at + 1), Some(b'!' | b'?')) {
                any_tag = true;
            }
            continue;
        };
        any_tag = true;
        let name = &s[st..en];
        // `"><h1>`: breaking out of an attribute value into new markup.
        if at >= 2 && s[at - 1] == b'>' && matches!(s[at - 2], b'"' | b'\'') {
            return Some(("xss.tag_breakout", at - 2));
        }
        if name.starts_with(b"script") && (name.len() == 6 || !name[6].is_ascii_alphabetic()) {
            return Some(("xss.script_tag", at));
        }
        if TAGS.iter().any(|t| t.as_bytes() == name) {
            return Some(("xss.dangerous_tag", at));
        }
        if name.contains(&b':') || find(&s[en..(en + 200).min(s.len())], b"xmlns").is_some() {
            return Some(("xss.namespace_tag", at));
        }
    }
    // Compact form: whitespace removed (`jav ascript:`), and CSS comments removed.
    let compact: Vec<u8> = s.iter().copied().filter(|&c| c != b' ').collect();
    for sc in SCHEMES {
        if let Some(p) = find(&compact, sc.as_bytes()) {
            return Some(("xss.script_uri", p.min(s.len())));
        }
    }
    let css = strip_c_comments(&compact);
    for pat in [
        &b"expression("[..],
        b"-moz-binding",
        b"behavior:url(",
        b"behaviour:url(",
    ] {
        if let Some(p) = find(&css, pat) {
            return Some(("xss.css_expression", p.min(s.len())));
        }
    }
    if any_tag && find(&css, b"style=").is_some() && find(&css, b"url(").is_some() {
        return Some(("xss.css_expression", 0));
    }
    // Event-handler attributes: `on<event>=`.
    let mut i = 0;
    while let Some(p) = find(&s[i..], b"on") {
        let at = i + p;
        i = at + 2;
        let before = if at == 0 { b' ' } else { s[at - 1] };
        if !matches!(
            before,
            b' ' | b'"' | b'\'' | b'/' | b'`' | b';' | b'<' | b',' | b'>'
        ) {
            continue;
        }
        let mut j = at + 2;
        while j < s.len() && s[j].is_ascii_alphabetic() {
            j += 1;
        }
        if j - at < 5 || j - at > 30 {
            continue;
        }
        while s.get(j) == Some(&b' ') {
            j += 1;
        }
        if s.get(j) != Some(&b'=') {
            continue;
        }
        let val = &s[j + 1..(j + 60).min(s.len())];
        if any_tag
            || matches!(before, b'"' | b'\'' | b'`')
            || val.iter().any(|&c| matches!(c, b'(' | b'`'))
        {
            return Some(("xss.event_handler", at));
        }
    }
    // JavaScript sinks: `alert(1)`, ``confirm`1` ``, `document.cookie`.
    for (list, call) in [(SINKS, true), (SINK_PROPS, false)] {
        for name in list {
            let n = name.as_bytes();
            let mut i = 0;
            while let Some(p) = find(&s[i..], n) {
                let at = i + p;
                i = at + 1;
                let ok_before = at == 0
                    || n[0] == b'.'
                    || !{
                        let c = s[at - 1];
                        c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
                    };
                let next = s.get(at + n.len()).copied();
                let ok_after = if call {
                    matches!(next, Some(b'(' | b'`'))
                } else {
                    !next.is_some_and(|c| c.is_ascii_alphanumeric())
                };
                if ok_before && ok_after {
                    return Some(("xss.js_sink", at));
                }
            }
        }
    }
    None
}

fn strip_c_comments(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'/' && s.get(i + 1) == Some(&b'*') {
            match find(&s[i + 2..], b"*/") {
                Some(p) => i += p + 4,
                None => break,
            }
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}
