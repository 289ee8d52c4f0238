//! One pass over genpdf's output that fixes how the text is written.
//!
//! printpdf 0.3 writes every character of a built-in (single-byte, WinAnsi) font as a
//! two-byte hex string `<00XX>`: each visible character is preceded by a code 0 that viewers
//! must skip (poppler does; copy, search and accessibility tools may not), every character is
//! a string of its own, and page content is never compressed. This pass writes the codes as
//! single bytes, one literal string per run between kerning adjustments, and compresses the
//! page content: a file several times smaller, and the same text for every reader.
//!
//! It works on the file as lopdf 0.26 writes it (objects back to back, one classic xref
//! table) without parsing the whole document, which would cost more than the rendering. Any
//! file not in exactly that shape is left alone ([`tidy`] answers `None`), so the worst case
//! is the untidied, still valid PDF.

use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

/// The tidied file, or `None` when `pdf` is not shaped as expected.
pub fn tidy(pdf: &[u8]) -> Option<Vec<u8>> {
    let startxref = rfind(pdf, b"startxref\n")?;
    let xref_at: usize = number(&pdf[startxref + 10..])?.0;
    let xref = pdf.get(xref_at..startxref)?.strip_prefix(b"xref\n")?;
    let trailer_at = find(xref, b"trailer\n")?;
    let (table, trailer) = xref.split_at(trailer_at);
    let entries = xref_entries(table)?;

    // Objects lie back to back: each one ends where the next begins, the last at the xref.
    let mut offsets: Vec<usize> = entries.iter().filter(|e| e.in_use).map(|e| e.offset).collect();
    offsets.sort_unstable();
    offsets.dedup();
    let first = *offsets.first()?;
    if offsets.iter().any(|&o| o >= xref_at) {
        return None;
    }

    let mut out = Vec::with_capacity(pdf.len() / 3);
    out.extend_from_slice(&pdf[..first]);
    let mut moved = Vec::with_capacity(offsets.len());
    for (i, &start) in offsets.iter().enumerate() {
        let end = offsets.get(i + 1).copied().unwrap_or(xref_at);
        moved.push(out.len());
        let object = &pdf[start..end];
        match content_stream(object) {
            Some((head, content)) => {
                let text = rewrite_text(content)?;
                let mut z = ZlibEncoder::new(Vec::with_capacity(text.len() / 4), Compression::fast());
                z.write_all(&text).ok()?;
                let packed = z.finish().ok()?;
                out.extend_from_slice(head);
                writeln!(out, "<</Filter/FlateDecode/Length {}>>stream", packed.len()).ok()?;
                out.extend_from_slice(&packed);
                out.extend_from_slice(b"\nendstream endobj\n");
            }
            None => out.extend_from_slice(object),
        }
    }

    let xref_new = out.len();
    out.extend_from_slice(b"xref\n");
    for entry in &entries {
        match entry {
            XrefEntry { header: Some((from, count)), .. } => writeln!(out, "{from} {count}").ok()?,
            XrefEntry { in_use: true, offset, generation, .. } => {
                let at = moved[offsets.binary_search(offset).ok()?];
                writeln!(out, "{at:>010} {generation:>05} n ").ok()?
            }
            XrefEntry { offset, generation, .. } => writeln!(out, "{offset:>010} {generation:>05} f ").ok()?,
        }
    }
    out.extend_from_slice(trailer);
    write!(out, "startxref\n{xref_new}\n%%EOF").ok()?;
    Some(out)
}

/// A line of the xref table: a subsection header or an entry.
struct XrefEntry {
    header: Option<(usize, usize)>,
    in_use: bool,
    offset: usize,
    generation: usize,
}

fn xref_entries(table: &[u8]) -> Option<Vec<XrefEntry>> {
    let mut entries = Vec::new();
    let mut lines = table.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    while let Some(header) = lines.next() {
        let (from, rest) = number(header)?;
        let (count, _) = number(rest.strip_prefix(b" ")?)?;
        entries.push(XrefEntry { header: Some((from, count)), in_use: false, offset: 0, generation: 0 });
        for _ in 0..count {
            let line = lines.next()?;
            let (offset, rest) = number(line)?;
            let (generation, rest) = number(rest.strip_prefix(b" ")?)?;
            let in_use = match rest.trim_ascii() {
                b"n" => true,
                b"f" => false,
                _ => return None,
            };
            entries.push(XrefEntry { header: None, in_use, offset, generation });
        }
    }
    Some(entries)
}

/// `(b"13 0 obj", content)` for a page content stream as printpdf writes it
/// (`N G obj<</Length L>>stream\n...endstream endobj\n`); `None` for any other object.
fn content_stream(object: &[u8]) -> Option<(&[u8], &[u8])> {
    let head_end = find(object, b"obj")? + 3;
    let (head, rest) = object.split_at(head_end);
    let rest = rest.strip_prefix(b"<</Length ")?;
    let (length, rest) = number(rest)?;
    let rest = rest.strip_prefix(b">>stream\n")?;
    let content = rest.get(..length)?;
    let tail = rest.get(length..)?;
    (tail == b"endstream endobj\n" || tail == b"\nendstream endobj\n").then_some((head, content))
}

/// The content with every run of `<00XX>` codes as one literal string of single bytes.
/// `None` if the content holds anything else in angle brackets.
fn rewrite_text(content: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(content.len() / 3);
    let mut run: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < content.len() {
        let b = content[i];
        if b == b'<' {
            let close = i + find(&content[i..], b">")?;
            match &content[i + 1..close] {
                [b'0', b'0', hi, lo] => run.push(hex(*hi)? << 4 | hex(*lo)?),
                _ => return None,
            }
            i = close + 1;
            continue;
        }
        if !run.is_empty() {
            // Whitespace between two codes is only a separator inside the TJ array.
            let next = content[i..].iter().position(|c| !c.is_ascii_whitespace()).map(|p| content[i + p]);
            if b.is_ascii_whitespace() && next == Some(b'<') {
                i += 1;
                continue;
            }
            literal(&mut out, &run);
            run.clear();
        }
        out.push(b);
        i += 1;
    }
    if !run.is_empty() {
        literal(&mut out, &run);
    }
    Some(out)
}

/// `bytes` as a PDF literal string, `(`, `)` and `\` escaped.
fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'(');
    for &b in bytes {
        match b {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.push(b')');
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A leading decimal number and what follows it (the PDF byte helpers `logo` uses too).
pub(super) fn number(s: &[u8]) -> Option<(usize, &[u8])> {
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let n = std::str::from_utf8(&s[..digits]).ok()?.parse().ok()?;
    Some((n, &s[digits..]))
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub(super) fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_become_single_bytes_in_runs_between_kerning() {
        let content = b"BT\n/Helvetica 9.00 Tf\n[<0057> 37<0061><0079><0028><005C>] TJ\n[<0041> <0042>] TJ\nET\n";
        let out = rewrite_text(content).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "BT\n/Helvetica 9.00 Tf\n[(W) 37(ay\\(\\\\)] TJ\n[(AB)] TJ\nET\n");
    }

    #[test]
    fn anything_unexpected_in_angle_brackets_is_refused() {
        assert!(rewrite_text(b"[<0141>] TJ").is_none());
        assert!(rewrite_text(b"<</A 1>> BDC").is_none());
        assert!(rewrite_text(b"[<00").is_none());
    }

    #[test]
    fn a_file_of_another_shape_is_left_alone() {
        assert!(tidy(b"%PDF-1.4\nnot really a pdf\n%%EOF").is_none());
        assert!(tidy(b"").is_none());
    }
}
