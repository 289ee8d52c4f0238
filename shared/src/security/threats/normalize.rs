//! Input normalisation: linear-time decoding of the encodings attackers use to hide payloads
//! (percent, `%uXXXX`, HTML entities, `\xNN` / `\uNNNN` / `\n` escapes).

use super::work;
use std::borrow::Cow;

/// Decoding passes (double / triple encoding). Each pass reads its input once and never
/// lengthens it (every escape is at least as long as what it decodes to), so the whole is at
/// most three reads of the value.
const ROUNDS: usize = 3;

pub(crate) struct Normalized {
    /// Decoded, case kept; `\n` / `\r` / `\t` kept, other controls → space, NUL removed.
    pub raw: String,
    /// `raw`, ASCII-lower-cased, every whitespace run folded to one space.
    pub lower: String,
}

pub(crate) fn normalize(input: &str) -> Normalized {
    let mut s: Cow<str> = Cow::Borrowed(input);
    for _ in 0..ROUNDS {
        work::add(s.len());
        match decode_once(s.as_bytes()) {
            Some(v) => s = Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
            None => break,
        }
    }
    // `raw` and `lower`: one read each.
    work::add(2 * s.len());
    let mut raw = String::with_capacity(s.len());
    for c in s.chars() {
        let c = match c {
            '\0' | '\u{AD}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => continue,
            '\n' | '\r' | '\t' => c,
            // Full-width ASCII forms (＜ｓｃｒｉｐｔ＞) → ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c if c.is_control() || c.is_whitespace() => ' ',
            c => c,
        };
        raw.push(c);
    }
    let mut lower = String::with_capacity(raw.len());
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            if !space {
                lower.push(' ');
            }
            space = true;
        } else {
            space = false;
            lower.push(c.to_ascii_lowercase());
        }
    }
    Normalized { raw, lower }
}

fn hexv(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u32),
        b'a'..=b'f' => Some((b - b'a' + 10) as u32),
        b'A'..=b'F' => Some((b - b'A' + 10) as u32),
        _ => None,
    }
}

fn hex_n(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0;
    for i in 0..n {
        v = v * 16 + hexv(*b.get(at + i)?)?;
    }
    Some(v)
}

fn push_cp(out: &mut Vec<u8>, cp: u32) {
    let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

const ENTITIES: &[(&str, char)] = &[
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("amp", '&'),
    ("apos", '\''),
    ("lpar", '('),
    ("rpar", ')'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("colon", ':'),
    ("semi", ';'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("nbsp", ' '),
    ("grave", '`'),
    ("equals", '='),
    ("lsqb", '['),
    ("rsqb", ']'),
    ("lbrack", '['),
    ("rbrack", ']'),
    ("lcub", '{'),
    ("rcub", '}'),
    ("lbrace", '{'),
    ("rbrace", '}'),
    ("comma", ','),
    ("period", '.'),
    ("excl", '!'),
    ("num", '#'),
    ("dollar", '$'),
    ("percnt", '%'),
    ("ast", '*'),
    ("plus", '+'),
    ("quest", '?'),
    ("vert", '|'),
    ("verbar", '|'),
    ("hyphen", '-'),
    ("dash", '-'),
    ("lowbar", '_'),
    ("commat", '@'),
    ("hat", '^'),
];

/// `&...` at `i`: (code point, bytes consumed).
fn entity(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'#') {
        j += 1;
        let hex = matches!(b.get(j), Some(b'x' | b'X'));
        if hex {
            j += 1;
        }
        let start = j;
        let mut v: u32 = 0;
        while let Some(&c) = b.get(j) {
            let d = if hex { hexv(c) } else { (c as char).to_digit(10) };
            match d {
                Some(d) => v = v.saturating_mul(if hex { 16 } else { 10 }).saturating_add(d),
                None => break,
            }
            j += 1;
            if j - start > 10 {
                break;
            }
        }
        if j == start {
            return None;
        }
        if b.get(j) == Some(&b';') {
            j += 1;
        }
        return Some((v.min(0x11_0000), j - i));
    }
    let start = j;
    while j < b.len() && j - start < 8 && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    if b.get(j) != Some(&b';') || j == start {
        return None;
    }
    let name = &b[start..j];
    ENTITIES.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name)).map(|&(_, c)| (c as u32, j + 1 - i))
}

/// One decoding pass; `None` when nothing was decoded.
fn decode_once(b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                if let Some(v) = hex_n(b, i + 1, 2) {
                    out.push(v as u8);
                    i += 3;
                    changed = true;
                    continue;
                }
                if matches!(b.get(i + 1), Some(b'u' | b'U')) {
                    if let Some(v) = hex_n(b, i + 2, 4) {
                        push_cp(&mut out, v);
                        i += 6;
                        changed = true;
                        continue;
                    }
                }
            }
            b'\\' => match b.get(i + 1) {
                Some(b'x' | b'X') => {
                    if let Some(v) = hex_n(b, i + 2, 2) {
                        out.push(v as u8);
                        i += 4;
                        changed = true;
                        continue;
                    }
                }
                Some(b'u' | b'U') => {
                    if let Some(v) = hex_n(b, i + 2, 4) {
                        push_cp(&mut out, v);
                        i += 6;
                        changed = true;
                        continue;
                    }
                }
                // `\n` only when not the start of a word (keeps `C:\new\repair` intact).
                Some(&e @ (b'n' | b'r' | b't')) if !b.get(i + 2).is_some_and(|c| c.is_ascii_alphanumeric()) => {
                    out.push(match e {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        _ => b'\t',
                    });
                    i += 2;
                    changed = true;
                    continue;
                }
                Some(&q @ (b'\'' | b'"' | b'`' | b'/')) => {
                    out.push(q);
                    i += 2;
                    changed = true;
                    continue;
                }
                _ => {}
            },
            b'&' => {
                if let Some((cp, len)) = entity(b, i) {
                    push_cp(&mut out, cp);
                    i += len;
                    changed = true;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_layers() {
        assert_eq!(normalize("%253Cscript%253E").lower, "<script>");
        assert_eq!(normalize("&#x3C;&#60;&lt;&quot;&#0000060").lower, "<<<\"<");
        assert_eq!(normalize("\\x3cA\\u003E").raw, "<A>");
        assert_eq!(normalize("jav%00ascript").lower, "javascript");
        assert_eq!(normalize("C:\\Windows\\repair").raw, "C:\\Windows\\repair");
        assert_eq!(normalize("a \t\n b").lower, "a b");
        assert_eq!(normalize("Tom & Jerry's; 50% off").raw, "Tom & Jerry's; 50% off");
    }
}
