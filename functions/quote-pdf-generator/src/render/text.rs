//! Text as the PDF can show it: the built-in Helvetica speaks WinAnsi (Windows-1252) only, so
//! every other character becomes a visible placeholder instead of breaking the file, and
//! amounts are written the one way the document writes them.

use quotekit::money::Money;

/// What stands in for a character Helvetica cannot show.
pub const PLACEHOLDER: char = '?';

/// Whether `c` is one of the characters of the WinAnsi encoding that prints (the encoding
/// table genpdf itself checks against, so the two can never disagree).
fn printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    if c.is_control() {
        return false;
    }
    let mut buf = [0u8; 4];
    lopdf::Document::encode_text(Some("WinAnsiEncoding"), c.encode_utf8(&mut buf)).len() == 1
}

/// One line of user text: tabs become spaces, anything Helvetica cannot show becomes
/// [`PLACEHOLDER`] (one per character), line breaks become spaces.
pub fn line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => ' ',
            c if printable(c) => c,
            _ => PLACEHOLDER,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Multi-line user text as lines: `\r\n` and `\r` count as line breaks, trailing blanks go,
/// and runs of blank lines collapse into one, so text can only lengthen its own block.
pub fn lines(s: &str) -> Vec<String> {
    let normalised = s.replace("\r\n", "\n").replace('\r', "\n");
    let mut out: Vec<String> = Vec::new();
    for raw in normalised.split('\n') {
        let l = line(raw);
        if l.is_empty() && out.last().is_none_or(|prev| prev.is_empty()) {
            continue;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

/// An amount as the document prints it: thousands grouped, two decimals (`1,234.50`).
pub fn amount(m: Money) -> String {
    let plain = m.to_string();
    let (sign, digits) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_1_and_windows_1252_extras_stay() {
        assert_eq!(line("Café Müller, 5 € – “ok” …"), "Café Müller, 5 € – “ok” …");
        assert_eq!(line("O'Brien <b>&amp;</b> (x) \\ %"), "O'Brien <b>&amp;</b> (x) \\ %");
    }

    #[test]
    fn other_characters_become_one_placeholder_each() {
        assert_eq!(line("Łódź 東京 😀"), "?ód? ?? ?");
        assert_eq!(line("a\u{0}b\u{7f}c\u{200b}d"), "a?b?c?d");
    }

    #[test]
    fn line_breaks_and_tabs_never_reach_a_line() {
        assert_eq!(line("a\tb\nc\r\nd"), "a b c  d");
    }

    #[test]
    fn blank_line_runs_collapse() {
        assert_eq!(lines("one\r\n\r\n\n\ntwo\rthree\n\n"), ["one", "", "two", "three"]);
        assert!(lines("\n\n \n").is_empty());
    }

    #[test]
    fn amounts_are_grouped_with_two_decimals() {
        let m = |s: &str| Money::parse(s).unwrap();
        assert_eq!(amount(m("0")), "0.00");
        assert_eq!(amount(m("999.5")), "999.50");
        assert_eq!(amount(m("1234.5")), "1,234.50");
        assert_eq!(amount(m("1234567.89")), "1,234,567.89");
        assert_eq!(amount(m("-1000")), "-1,000.00");
        assert_eq!(amount(Money::MAX), "9,999,999,999.99");
    }
}
