//! Cross-site scripting: HTML tag / attribute structure, script-capable URL schemes, CSS
//! expressions and JavaScript sinks, on the normalised input.

use super::search::{find, Needles, Next};
use super::work;

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
    // forms that collect what a user types, and media and images that load from elsewhere
    "form",
    "input",
    "button",
    "textarea",
    "img",
    "image",
    "feimage",
    "video",
    "audio",
    "source",
    "marquee",
    "template",
];
/// Attributes that load, link or style: `<a href=…>`, `<img src=…>`, `<div style=…>`.
const REFERENCE_ATTRIBUTES: Needles<11> = Needles::new([
    "href",
    "action",
    "formaction",
    "src",
    "background",
    "dynsrc",
    "lowsrc",
    "data",
    "poster",
    "style",
    "datasrc",
]);
/// `REFERENCE_ATTRIBUTES` before this one are links.
const LINKS: usize = 3;

/// A value (after the `=`) that starts with a scheme (`http:`) or `//`.
fn absolute_url(value: &[u8]) -> bool {
    let v: Vec<u8> = value.iter().copied().skip_while(|&c| matches!(c, b' ' | b'"' | b'\'' | b'`')).take(16).collect();
    v.starts_with(b"//")
        || v.starts_with(b"\\\\")
        || v.iter()
            .position(|&c| matches!(c, b':' | b'/' | b'?' | b'#' | b'"' | b'\'' | b' ' | b'>'))
            .is_some_and(|p| p > 0 && v[p] == b':')
}

/// `<!doctype`, `<!entity` (XML entities), `<?xml`, `<?import`, `<![cdata[`, `<!--`.
const DECLARATIONS: Needles<9> =
    Needles::new(["<!--", "<!doctype", "<!entity", "<!element", "<!attlist", "<![cdata[", "<?xml", "<?import", "<%@"]);
/// Event handlers no ordinary word is named like: found with or without a tag around them.
const HANDLERS: &[&str] = &[
    "onerror",
    "onload",
    "onclick",
    "onmouseover",
    "onmouseout",
    "onmousedown",
    "onmouseup",
    "onfocus",
    "onblur",
    "onchange",
    "onsubmit",
    "onkeyup",
    "onkeydown",
    "onkeypress",
    "oninput",
    "ontoggle",
    "onbegin",
    "onanimationstart",
    "onpointerover",
    "oncut",
    "oncopy",
    "onpaste",
    "onscroll",
    "onresize",
    "onunload",
    "onbeforeunload",
    "onhashchange",
    "onmessage",
    "onpageshow",
    "onstart",
];
/// The global object indexed and called, `top['al'+'ert'](1)`, `window[...](1)`.
const GLOBALS: Needles<7> = Needles::new(["top[", "window[", "self[", "parent[", "this[", "frames[", "globalthis["]);
const SCHEMES: Needles<9> = Needles::new([
    "javascript:",
    "vbscript:",
    "livescript:",
    "mocha:",
    "data:text/html",
    "data:image/svg",
    "data:application/",
    "data:text/xml",
    "data:text/javascript",
]);
/// JavaScript sinks: calls (`alert(1)`, ``confirm`1` ``), then properties (`document.cookie`).
const SINKS: Needles<22> = Needles::new([
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
    "document.cookie",
    "document.domain",
    "document.location",
    "window.location",
    "location.href",
    ".innerhtml",
    "location.hash",
]);
/// Sinks that are also passed as values.
const VALUE_SINKS: Needles<4> = Needles::new(["eval", "alert", "prompt", "confirm"]);
/// `SINKS` before this one are calls, from it on properties.
const SINK_CALLS: usize = 15;
const CSS: Needles<4> = Needles::new(["expression(", "-moz-binding", "behavior:url(", "behaviour:url("]);

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
    work::add(j - i);
    Some((st, j))
}

pub(crate) fn scan(lower: &str) -> Option<(&'static str, usize)> {
    let s = lower.as_bytes();
    let mut any_tag = false;
    // Tags. Tag names end before the next `<`, so each tag's name ends after the previous
    // one's: the next `xmlns` is remembered, not searched for again from every tag.
    let mut xmlns = Next::new(s, b"xmlns");
    let mut i = 0;
    while let Some(p) = s[i..].iter().position(|&c| c == b'<') {
        let at = i + p;
        work::add(p + 1);
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
        // An attribute that loads, links or styles, before the next `<` (so each byte is
        // read for one tag only) and within 256 bytes.
        let region_end = s[en..].iter().take(256).position(|&c| c == b'<').map_or((en + 256).min(s.len()), |p| en + p);
        work::add(region_end - en + 1);
        let region = &s[en..region_end];
        let attribute = |i: usize, at: usize| {
            let after = at + REFERENCE_ATTRIBUTES.get(i).len();
            let Some(eq) = region[after..].iter().take(4).position(|&c| c != b' ') else {
                return false;
            };
            if at == 0 || !matches!(region[at - 1], b' ' | b'/' | b'"' | b'\'') || region[after + eq] != b'=' {
                return false;
            }
            // A link (`href`, `action`) counts when it leaves the site (`http://`, `//host`):
            // `<a href="/faq.html">` is a page's own markup pasted in.
            i >= LINKS || absolute_url(&region[after + eq + 1..])
        };
        if REFERENCE_ATTRIBUTES.first(region, attribute).is_some() {
            return Some(("xss.tag_attribute", at));
        }
        // An `xmlns` within the 200 bytes after the name.
        if name.contains(&b':') || xmlns.at_or_after(en).is_some_and(|x| x + 5 <= en + 200) {
            return Some(("xss.namespace_tag", at));
        }
    }
    work::add(s.len() - i);
    if any_tag {
        if let Some((_, p)) = DECLARATIONS.first(s, |_, _| true) {
            return Some(("xss.markup_declaration", p));
        }
    }
    // Compact form: whitespace removed (`jav ascript:`), and CSS comments removed.
    let compact: Vec<u8> = s.iter().copied().filter(|&c| c != b' ').collect();
    work::add(s.len());
    if let Some((_, p)) = SCHEMES.first(&compact, |_, _| true) {
        return Some(("xss.script_uri", p.min(s.len())));
    }
    let css = strip_c_comments(&compact);
    // `width:expression(`, not a sentence's "the expression (x)"
    let css_value = |_, at: usize| at == 0 || !css[at - 1].is_ascii_alphanumeric();
    if let Some((_, p)) = CSS.first(&css, css_value) {
        return Some(("xss.css_expression", p.min(s.len())));
    }
    if any_tag && find(&css, b"style=").is_some() && find(&css, b"url(").is_some() {
        return Some(("xss.css_expression", 0));
    }
    // Event-handler attributes: `on<event>=`. Each one's value starts after the previous
    // one's, so the next `(` and backtick are remembered rather than looked for in every value.
    let mut paren = Next::new(s, b"(");
    let mut backtick = Next::new(s, b"`");
    let mut i = 0;
    while let Some(p) = find(&s[i..], b"on") {
        let at = i + p;
        i = at + 2;
        let before = if at == 0 { b' ' } else { s[at - 1] };
        if !matches!(before, b' ' | b'"' | b'\'' | b'/' | b'`' | b';' | b'<' | b',' | b'>') {
            continue;
        }
        let mut j = at + 2;
        while j < s.len() && s[j].is_ascii_alphabetic() {
            j += 1;
        }
        work::add(j - at);
        if j - at < 5 || j - at > 30 {
            continue;
        }
        let name_end = j;
        while s.get(j) == Some(&b' ') {
            j += 1;
        }
        work::add(j - name_end);
        if s.get(j) != Some(&b'=') {
            continue;
        }
        // A `(` or backtick in the value's first 59 bytes.
        let val_end = (j + 60).min(s.len());
        let call_in_value = |next: &mut Next| next.at_or_after(j + 1).is_some_and(|p| p < val_end);
        if any_tag
            || HANDLERS.iter().any(|h| h.as_bytes() == &s[at..name_end])
            || matches!(before, b'"' | b'\'' | b'`')
            || call_in_value(&mut paren)
            || call_in_value(&mut backtick)
        {
            return Some(("xss.event_handler", at));
        }
    }
    // JavaScript sinks: `alert(1)`, ``confirm`1` ``, `document.cookie`.
    let sink = |i: usize, at: usize| {
        let n = SINKS.get(i);
        let ok_before = at == 0
            || n[0] == b'.'
            || !{
                let c = s[at - 1];
                c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
            };
        let next = s.get(at + n.len()).copied();
        // `eval()` with nothing to run is a mention (a manual's "the eval() function"), while
        // `alert()` and `prompt()` still open a dialog.
        let runs_nothing = i >= 3 && s.get(at + n.len() + 1) == Some(&b')');
        let ok_after = if i < SINK_CALLS {
            matches!(next, Some(b'(' | b'`')) && !runs_nothing
        } else {
            !next.is_some_and(|c| c.is_ascii_alphanumeric())
        };
        ok_before && ok_after
    };
    if let Some((_, at)) = SINKS.first(s, sink) {
        return Some(("xss.js_sink", at));
    }
    // A sink passed around as a value: `a=eval;b=alert;a(b(1))`, `(alert)(1)`,
    // `[1].find(alert)`, `eval.call(this, ...)`.
    let sink_value = |i: usize, at: usize| {
        let n = VALUE_SINKS.get(i);
        let before = if at == 0 { b' ' } else { s[at - 1] };
        let after = s.get(at + n.len()).copied();
        let argument = before == b'(' && at >= 2 && s[at - 2].is_ascii_alphabetic();
        let wrapped = before == b'(' && s[at + n.len()..].starts_with(b")(");
        (before == b'=' && matches!(after, Some(b';' | b',')))
            || (argument && after == Some(b')'))
            || wrapped
            || s[at + n.len()..].starts_with(b".call(")
            || s[at + n.len()..].starts_with(b".apply(")
    };
    if let Some((_, at)) = VALUE_SINKS.first(s, sink_value) {
        return Some(("xss.js_sink", at));
    }
    // `top['al'+'ert'](1)`: the global object indexed by a computed name, then called (a
    // `](` within 64 bytes; the next one is remembered, not looked for from every `top[`).
    let mut index_call = Next::new(s, b"](");
    let computed_call = |i: usize, at: usize| {
        let from = at + GLOBALS.get(i).len();
        index_call.at_or_after(from).is_some_and(|p| p < from + 64)
    };
    GLOBALS.first(s, computed_call).map(|(_, at)| ("xss.js_sink", at))
}

fn strip_c_comments(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'/' && s.get(i + 1) == Some(&b'*') {
            // Reads up to the comment's end, which the loop then continues from.
            match find(&s[i + 2..], b"*/") {
                Some(p) => i += p + 4,
                None => break,
            }
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    work::add(out.len());
    out
}
