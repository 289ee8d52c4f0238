//! SQL injection: a small SQL lexer over the normalised input and structural rules on the
//! token stream (no keyword lists of whole payloads).

use super::search::Next;
use super::work;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Word,
    Num,
    Quote(u8),
    Op,
    LParen,
    RParen,
    Comma,
    Semi,
    Dot,
    Var,
    /// `--`, `#` or an unterminated `/*` up to the end; `trivial` when its body is empty-ish.
    Comment {
        trivial: bool,
    },
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
    /// Whitespace (or an inline comment) before the token.
    space_before: bool,
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn lex(s: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    // Start of the trailing run of comment-ish bytes: a comment is "trivial" (nothing but
    // `-- -`, `#`, `--+`, quotes after it) when its body starts there. O(n) once.
    let tail = s.len() - s.iter().rev().take_while(|&&c| trivial_byte(c)).count();
    let trivial_body = |from: usize| from >= tail;
    // The `*/` after a `/*`: remembered for every `/*` before it (an unterminated `/* /* /*`
    // used to be read to its end once per `/*`).
    let mut comment_end = Next::new(s, b"*/");
    let mut i = 0;
    let mut space = false;
    while i < s.len() {
        let c = s[i];
        let start = i;
        let kind = match c {
            b' ' => {
                space = true;
                i += 1;
                continue;
            }
            // `union+select`, `'+or+1=1`: a `+` next to a keyword stands for the space a URL
            // encodes as `+` (`1+1` and `char(65)+char(66)` stay additions).
            b'+' if plus_is_space(s, i) => {
                space = true;
                i += 1;
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                if s.get(i + 2) == Some(&b'!') {
                    // MySQL executable comment: keep its content.
                    i += 3;
                    while i < s.len() && s[i].is_ascii_digit() {
                        i += 1;
                    }
                    space = true;
                    continue;
                }
                match comment_end.at_or_after(i + 2) {
                    Some(end) => {
                        i = end + 2;
                        space = true;
                        continue;
                    }
                    None => {
                        let trivial = trivial_body(i + 2);
                        i += 2;
                        Kind::Comment { trivial }
                    }
                }
            }
            b'*' if s.get(i + 1) == Some(&b'/') => {
                i += 2;
                space = true;
                continue;
            }
            // Comments do not hide what follows: the quote context is unknown, so a `#` or
            // `--` may well sit inside the application's string literal.
            b'-' if s.get(i + 1) == Some(&b'-') => {
                let trivial = trivial_body(i + 2);
                i += 2;
                Kind::Comment { trivial }
            }
            b'#' => {
                let trivial = trivial_body(i + 1);
                i += 1;
                Kind::Comment { trivial }
            }
            b'\'' | b'"' | b'`' => {
                i += 1;
                Kind::Quote(c)
            }
            b'(' => {
                i += 1;
                Kind::LParen
            }
            b')' => {
                i += 1;
                Kind::RParen
            }
            b',' => {
                i += 1;
                Kind::Comma
            }
            b';' => {
                i += 1;
                Kind::Semi
            }
            b'.' if !s.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                i += 1;
                Kind::Dot
            }
            b'@' if s.get(i + 1).is_some_and(|&c| c == b'@' || is_word_byte(c)) => {
                i += 1;
                while i < s.len() && (s[i] == b'@' || is_word_byte(s[i])) {
                    i += 1;
                }
                Kind::Var
            }
            b'0'..=b'9' | b'.' => {
                i = number_end(s, i);
                Kind::Num
            }
            c if is_word_byte(c) => {
                while i < s.len() && is_word_byte(s[i]) {
                    i += 1;
                }
                Kind::Word
            }
            _ => {
                i += 1;
                while i < s.len()
                    && i - start < 3
                    && matches!(s[i], b'=' | b'<' | b'>' | b'!' | b'|' | b'&' | b':' | b'^' | b'~')
                {
                    i += 1;
                }
                Kind::Op
            }
        };
        tokens.push(Token { kind, start, end: i, space_before: space });
        space = false;
    }
    // The trailing comment-ish run, then each byte once (a token or a skipped space).
    work::add(s.len() - tail + 1 + s.len());
    tokens
}

/// The end of the number at `start`: `0x`/`0b` literals, digits with dots (`1.5`, `1.2.3`) and
/// an exponent (`1e1`). Letters glued on after it are a word of their own, so that `86union`,
/// `1.union` and `1e1and` read as the number and the keyword MySQL reads there.
fn number_end(s: &[u8], start: usize) -> usize {
    let mut i = start;
    if s[i] == b'0' && matches!(s.get(i + 1), Some(b'x' | b'b')) {
        let hex = s[i + 1] == b'x';
        let mut j = i + 2;
        while j < s.len() && (if hex { s[j].is_ascii_hexdigit() } else { matches!(s[j], b'0' | b'1') }) {
            j += 1;
        }
        if j > i + 2 {
            return j;
        }
    }
    while i < s.len() && (s[i].is_ascii_digit() || s[i] == b'.') {
        i += 1;
    }
    if i < s.len() && s[i] == b'e' && s.get(i + 1).is_some_and(|c| c.is_ascii_digit() || *c == b'-' || *c == b'+') {
        i += 2;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

fn plus_is_space(s: &[u8], i: usize) -> bool {
    let before = if i == 0 { b' ' } else { s[i - 1] };
    let after = s.get(i + 1).copied().unwrap_or(b' ');
    let letter = |c: u8| c.is_ascii_alphabetic();
    // `')+or+`: after a bracket only before a keyword (`char(65)+char(66)` adds)
    let keyword_after = || {
        let w: Vec<u8> = s[i + 1..].iter().take(9).take_while(|c| c.is_ascii_alphabetic()).copied().collect();
        [&b"or"[..], b"and", b"xor", b"union", b"order", b"group", b"limit", b"having", b"procedure", b"into"]
            .contains(&&w[..])
    };
    (letter(after)
        && (letter(before)
            || before.is_ascii_digit()
            || matches!(before, b'\'' | b'"' | b' ')
            || (before == b')' && keyword_after())))
        || (letter(before) && (after.is_ascii_digit() || matches!(after, b'\'' | b'"' | b'(' | b' ')))
}

fn trivial_byte(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b'+' | b'#' | b'*' | b'/' | b'"' | b'\'' | b';')
}

/// The input and its tokens, which the rules read.
struct Tokens<'a> {
    input: &'a [u8],
    list: &'a [Token],
}

const STRONG: &[&str] = &[
    "select",
    "union",
    "binary",
    "null",
    "sleep",
    "benchmark",
    "char",
    "chr",
    "concat",
    "version",
    "database",
    "substring",
    "substr",
    "ascii",
    "cast",
    "convert",
    "hex",
    "unhex",
    "waitfor",
    "having",
    "cos",
    "sin",
    "information_schema",
    "exec",
    "md5",
    "elt",
    "xor",
    "rlike",
    "regexp",
    "pg_sleep",
    "group_concat",
    "concat_ws",
];
const SCHEMA: &[&str] = &[
    "information_schema",
    "sysobjects",
    "syscolumns",
    "sysibm",
    "sqlite_master",
    "pg_catalog",
    "pg_shadow",
    "msysobjects",
    "xp_cmdshell",
    "sp_executesql",
    "sysdatabases",
    "sysusers",
    "all_tables",
    "user_objects",
    "load_file",
    "group_concat",
    "concat_ws",
    "extractvalue",
    "updatexml",
    "utl_http",
    "utl_inaddr",
    // PostgreSQL settings and files, MSSQL's log-hiding and out-of-band procedures
    "current_setting",
    "pg_read_file",
    "pg_ls_dir",
    "sp_password",
    "xp_dirtree",
    "sp_oacreate",
    "openrowset",
];
/// What `drop` / `create` / `alter` name.
const OBJECTS: &[&str] = &["table", "database", "procedure", "view", "function", "user", "schema", "index", "trigger"];
/// Operators only SQL spells as words (`or`, `and`, `like`, `not`, `mod`, `div` are English or
/// search words too).
const SQL_ONLY_OPS: &[&str] = &["xor", "rlike", "regexp", "sounds"];
const BOOL: &[&str] = &["or", "and", "xor", "div", "mod", "like", "rlike", "regexp", "having", "not"];

impl Tokens<'_> {
    fn text(&self, i: usize) -> &[u8] {
        self.list.get(i).map_or(&[][..], |t| &self.input[t.start..t.end])
    }
    fn kind(&self, i: usize) -> Option<Kind> {
        self.list.get(i).map(|t| t.kind)
    }
    fn word(&self, i: usize) -> Option<&[u8]> {
        (self.kind(i) == Some(Kind::Word)).then(|| self.text(i))
    }
    fn kw(&self, i: usize, w: &str) -> bool {
        self.word(i) == Some(w.as_bytes())
    }
    fn kw_in(&self, i: usize, ws: &[&str]) -> bool {
        self.word(i).is_some_and(|x| ws.iter().any(|w| w.as_bytes() == x))
    }
    fn op(&self, i: usize) -> Option<&[u8]> {
        (self.kind(i) == Some(Kind::Op)).then(|| self.text(i))
    }
    fn is_cmp(&self, i: usize) -> bool {
        if let Some(o) = self.op(i) {
            return matches!(o[0], b'=' | b'<' | b'>') || o.starts_with(b"!=") || o == b":=";
        }
        self.kw_in(i, &["like", "rlike", "regexp", "is", "between", "in", "sounds"])
    }
    /// `||`, `&&` (also as the end of a run of operators: `+||`).
    fn is_bool_op(&self, i: usize) -> bool {
        self.op(i).is_some_and(|o| o.ends_with(b"||") || o.ends_with(b"&&"))
    }
    fn is_comment(&self, i: usize) -> bool {
        matches!(self.kind(i), Some(Kind::Comment { .. }))
    }
    /// A call `name(` (space allowed).
    fn is_call(&self, i: usize) -> bool {
        self.kind(i) == Some(Kind::Word) && self.kind(i + 1) == Some(Kind::LParen)
    }
    fn skip(&self, mut i: usize, kind: Kind) -> usize {
        let from = i;
        while self.kind(i) == Some(kind) {
            i += 1;
        }
        work::add(i - from + 1);
        i
    }
    /// A literal starting at `i`: end index.
    fn literal(&self, i: usize) -> Option<usize> {
        match self.kind(i)? {
            Kind::Num | Kind::Var => Some(i + 1),
            Kind::Word if self.kw_in(i, &["null", "true", "false"]) => Some(i + 1),
            Kind::Op if self.text(i) == b"-" && self.kind(i + 1) == Some(Kind::Num) => Some(i + 2),
            Kind::Quote(q) => {
                for j in i + 1..(i + 8).min(self.list.len()) {
                    if self.kind(j) == Some(Kind::Quote(q)) {
                        return Some(j + 1);
                    }
                }
                // unterminated (the application's own quote closes it)
                (self.list.len() - i <= 4).then_some(self.list.len())
            }
            _ => None,
        }
    }

    /// A SQL statement starting at word `i` (stacked query).
    fn statement(&self, i: usize) -> bool {
        let Some(w) = self.word(i) else { return false };
        match w {
            b"drop" | b"create" | b"alter" | b"truncate" => {
                self.kw_in(i + 1, OBJECTS)
                    // `;drop members --`: a name, then nothing more
                    || (self.word(i + 1).is_some()
                        && matches!(
                            self.kind(i + 2),
                            None | Some(Kind::Semi | Kind::Comment { .. })
                        ))
            }
            b"insert" => self.kw(i + 1, "into"),
            // `delete ignore from`, `delete quick from`
            b"delete" => {
                let j = if self.kw_in(i + 1, &["ignore", "quick", "low_priority"]) { i + 2 } else { i + 1 };
                self.kw(j, "from")
            }
            b"load" => self.kw_in(i + 1, &["data", "xml"]),
            b"backup" => self.kw(i + 1, "database"),
            b"grant" => (i + 2..(i + 8).min(self.list.len())).any(|j| self.kw(j, "to")),
            // `; begin declare @v ...`, `; while 1=1 shutdown`
            b"begin" => self.word(i + 1) != Some(b"begin") && self.statement(i + 1),
            b"while" => self.literal(i + 1).is_some_and(|e| self.is_cmp(e)),
            b"update" => self.kw(i + 2, "set"),
            b"exec" | b"execute" => {
                // `exec(...)`, not the mention `exec()`
                (self.kind(i + 1) == Some(Kind::LParen) && self.kind(i + 2) != Some(Kind::RParen))
                    || self.kind(i + 1) == Some(Kind::Var)
                    || self
                        .word(i + 1)
                        .is_some_and(|x| x.starts_with(b"xp_") || x.starts_with(b"sp_") || x.starts_with(b"master"))
            }
            b"declare" | b"set" => self.kind(i + 1) == Some(Kind::Var),
            b"shutdown" => matches!(self.kind(i + 1), None | Some(Kind::Semi | Kind::Comment { .. })),
            b"waitfor" => self.kw_in(i + 1, &["delay", "time"]),
            // `if exists`, `if not exists`, `if(` (not the English "if not")
            b"if" => {
                self.kw(i + 1, "exists")
                    || (self.kw(i + 1, "not") && self.kw(i + 2, "exists"))
                    || self.kind(i + 1) == Some(Kind::LParen)
            }
            b"select" => {
                matches!(self.kind(i + 1), Some(Kind::LParen | Kind::Var))
                    || (self.literal(i + 1).is_some_and(|e| {
                        // a number or a closed string, then `,` / `;` / comment / end / from
                        (self.kind(i + 1) == Some(Kind::Num)
                            || matches!(self.kind(e - 1), Some(Kind::Quote(_))) && e - 1 > i + 1)
                            && (e == self.list.len()
                                || matches!(self.kind(e), Some(Kind::Comma | Kind::Semi | Kind::Comment { .. }))
                                || self.kw(e, "from"))
                    }))
                    || self.op(i + 1) == Some(b"*")
                    || self.is_call(i + 1)
                    || self.select_from(i)
            }
            b"union" => self.union_select(i),
            _ => false,
        }
    }

    fn union_select(&self, i: usize) -> bool {
        if !self.kw(i, "union") {
            return false;
        }
        let mut j = i + 1;
        if self.kw_in(j, &["all", "distinct"]) {
            j += 1;
        }
        j = self.skip(j, Kind::LParen);
        // `select`, or `select` with digits glued on (`select1,2`); not `selected`.
        self.word(j).is_some_and(|w| w.strip_prefix(b"select").is_some_and(|rest| rest.iter().all(u8::is_ascii_digit)))
    }

    fn select_from(&self, i: usize) -> bool {
        if !self.kw(i, "select") {
            return false;
        }
        let end = (i + 24).min(self.list.len());
        let Some(f) = (i + 1..end).find(|&j| self.kw(j, "from")) else {
            return false;
        };
        if (i + 1..f).any(|j| self.kind(j) == Some(Kind::Semi)) {
            return false;
        }
        let col = (i + 1..f).any(|j| {
            matches!(self.kind(j), Some(Kind::Var | Kind::Quote(_)))
                || self.op(j).is_some_and(|o| o == b"*" || o == b"||")
                || (self.kind(j) == Some(Kind::LParen) && j > i + 1 && self.kind(j - 1) == Some(Kind::Word))
        });
        let tab = self.kind(f + 1) == Some(Kind::Word)
            && (self.kind(f + 2) == Some(Kind::Dot)
                || self.kw_in(f + 1, &["dual", "information_schema"])
                // `select x from y where` and nothing more is a sentence about SQL
                || self.kind(f + 3).is_some() && self.kw_in(
                    f + 2,
                    &[
                        "where",
                        "limit",
                        "order",
                        "group",
                        "union",
                        "into",
                        "procedure",
                        "having",
                    ],
                )
                || matches!(
                    self.kind(f + 2),
                    Some(Kind::Semi | Kind::Comment { .. } | Kind::RParen)
                ));
        tab || (col && matches!(self.kind(f + 1), Some(Kind::Word | Kind::LParen)))
    }

    /// An operand after a boolean operator that only SQL would put there.
    fn sql_operand(&self, k: usize, q: u8) -> bool {
        match self.kind(k) {
            Some(Kind::Num) => {
                let n = k + 1;
                self.is_cmp(n) || matches!(self.kind(n), None | Some(Kind::LParen | Kind::Comment { .. } | Kind::Semi))
            }
            Some(Kind::LParen | Kind::Var) => true,
            Some(Kind::Word) => {
                self.kw_in(k, &["null", "true", "false", "sleep", "benchmark", "exists"])
                    || (self.is_call(k) && !self.list[k + 1].space_before)
                    || self.is_cmp(k + 1)
            }
            Some(Kind::Quote(q2)) => {
                if q2 != q && k + 1 == self.list.len() {
                    return true;
                }
                // `' or ''-'`, `" or ""^"`: an empty string in an arithmetic expression.
                if q2 == q && self.kind(k + 1) == Some(Kind::Quote(q)) && self.op(k + 2).is_some() {
                    return true;
                }
                // `' and '1`: a short string left open for the application's quote.
                if q2 == q
                    && k + 2 == self.list.len()
                    && (self.kind(k + 1) == Some(Kind::Num) || self.word(k + 1).is_some_and(|w| w.len() <= 2))
                {
                    return true;
                }
                // a comparison soon after (not a URL's next `&name=value`; after a double quote,
                // a symbol: `"in" and "not in" test` is a sentence)
                (k + 1..(k + 7).min(self.list.len()))
                    .take_while(|&j| !(self.op(j) == Some(b"&") && self.query_pair(j)))
                    .any(|j| self.is_cmp(j) && (q != b'"' || q2 != q || self.op(j).is_some()))
            }
            _ => false,
        }
    }

    /// `&name=value` at `j` with no space around either: a query string's next pair.
    fn query_pair(&self, j: usize) -> bool {
        self.kind(j + 1) == Some(Kind::Word)
            && self.op(j + 2).is_some_and(|o| o.starts_with(b"="))
            && !self.list[j + 1].space_before
            && !self.list[j + 2].space_before
            && self.list.get(j + 3).is_none_or(|t| !t.space_before)
    }

    /// `name(...)` at `i`, its `(` attached and its `)` within 16 tokens: the token after.
    fn call_end(&self, mut i: usize) -> Option<usize> {
        // `ctxsys.drithsx.sn(...)`: a function named with its schema
        for _ in 0..2 {
            if self.kind(i) == Some(Kind::Word)
                && self.kind(i + 1) == Some(Kind::Dot)
                && self.kind(i + 2) == Some(Kind::Word)
            {
                i += 2;
            }
        }
        if self.kind(i) != Some(Kind::Word) || self.kind(i + 1) != Some(Kind::LParen) || self.list[i + 1].space_before {
            return None;
        }
        let mut depth = 0;
        for j in i + 1..(i + 18).min(self.list.len()) {
            match self.kind(j) {
                Some(Kind::LParen) => depth += 1,
                Some(Kind::RParen) => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(j + 1);
                    }
                }
                Some(Kind::Semi | Kind::Comment { .. }) => return None,
                _ => {}
            }
        }
        None
    }

    /// An operand of a comparison at `i`: brackets and signs, a literal or a call, and up to
    /// three more joined by arithmetic (`31337-31337`, `ascii(2)`, `(1)`): its end, and
    /// whether it holds a call.
    fn operand(&self, i: usize) -> Option<(usize, bool)> {
        let mut j = i;
        while j < i + 4 && (self.kind(j) == Some(Kind::LParen) || matches!(self.op(j), Some(b"+" | b"!" | b"~"))) {
            j += 1;
        }
        let mut call = false;
        let mut end = None;
        for _ in 0..4 {
            let e = match self.literal(j) {
                Some(e) => e,
                None => {
                    let e = self.call_end(j)?;
                    call = true;
                    e
                }
            };
            end = Some(e);
            match self.op(e) {
                Some(b"+" | b"-" | b"*" | b"/" | b"%") => j = e + 1,
                _ if self.kw_in(e, &["div", "mod"]) => j = e + 1,
                _ => break,
            }
        }
        let e = end?;
        let mut k = e;
        while k < e + 4 && self.kind(k) == Some(Kind::RParen) {
            k += 1;
        }
        Some((k, call))
    }

    /// `A' <=> 'B`, `aa'or column*0='0`, `' xor '`, `'NOT LIKE'`: a quote that ends the
    /// application's string, an expression, and a quote that opens a string for the
    /// application's own closing quote. A double quote must be glued to what it closes (`15"`
    /// and `"phrase searches"` are ordinary text).
    fn quote_expression(&self, i: usize, q: u8) -> bool {
        let n = self.list.len();
        let glued = i == 0
            || (!self.list[i].space_before && matches!(self.kind(i - 1), Some(Kind::Word | Kind::Num | Kind::RParen)));
        if q != b'\'' && !glued {
            return false;
        }
        let Some(k) = (i + 2..(i + 13).min(n)).find(|&k| self.kind(k) == Some(Kind::Quote(q))) else {
            return false;
        };
        let mut symbolic = false;
        let mut compares = false;
        let mut sql_word = false;
        let mut spaced = false;
        for j in i + 1..=k {
            spaced |= self.list[j].space_before;
            match self.kind(j) {
                // `"a": "b"` is JSON and `c['red'] += 1` a program, not SQL
                Some(Kind::Op) if matches!(self.text(j)[0], b':' | b'[' | b']' | b'{' | b'}') => return false,
                Some(Kind::Op) => {
                    symbolic = true;
                    compares |= self.is_cmp(j) || self.text(j).starts_with(b"!");
                }
                Some(Kind::Word) => sql_word |= self.kw_in(j, SQL_ONLY_OPS),
                Some(Kind::Num | Kind::LParen | Kind::RParen | Kind::Var | Kind::Quote(_)) => {}
                _ => return false,
            }
        }
        let ends_in_operator = self.op(k - 1).is_some() || self.kw_in(k - 1, BOOL);
        if q == b'"' {
            // Double quotes are inches and phrase searches (`"white" + "plate"`, `36"+x+48+"`)
            // and HTML attributes (`w="1" h="2"`): only a tight, comparing expression counts
            // (`1"or!"0`, `asd"or!1="!1`).
            let attribute = self.word(k - 2).is_some() && self.op(k - 1) == Some(b"=");
            return ends_in_operator && !spaced && (compares || sql_word) && !attribute;
        }
        // After a space a quote more likely opens a quotation (`of 'Visual This++' and`):
        // only operators may stand between it and the next (`A '>>' B`).
        if !glued && (i + 1..k).any(|j| self.kind(j) == Some(Kind::Word)) {
            return false;
        }
        // The whole input is `' <operators> '`.
        let whole = i == 0 && k == n - 1;
        ends_in_operator && (symbolic || sql_word || whole)
    }

    /// A statement that only SQL starts an input with (`declare @s`, `exec(@s)`,
    /// `select current_setting('port')`, `insert into t (a) values`): stricter than after a
    /// `;`, since ordinary text starts with "Select", "Create", "Drop" too.
    fn leading_statement(&self) -> bool {
        match self.word(0) {
            Some(b"declare" | b"exec" | b"execute" | b"backup" | b"load" | b"waitfor") => self.statement(0),
            Some(b"select") => {
                self.kind(1) == Some(Kind::Var)
                    || self.call_end(1).is_some()
                    || (self.word(1).is_some_and(|w| w.contains(&b'_'))
                        && matches!(self.kind(2), None | Some(Kind::Semi | Kind::Comment { .. })))
            }
            Some(b"insert") => {
                self.kw(1, "into")
                    && (3..(8).min(self.list.len()))
                        .any(|j| self.kw_in(j, &["values", "select"]) || self.kind(j) == Some(Kind::LParen))
            }
            Some(b"delete") => {
                self.statement(0)
                    && (2..4).any(|j| {
                        self.kw(j, "from")
                            && self.word(j + 1).is_some()
                            && (matches!(self.kind(j + 2), None | Some(Kind::Semi | Kind::Comment { .. }))
                                || self.kw(j + 2, "where"))
                    })
            }
            Some(b"drop" | b"create") => {
                self.kw_in(1, OBJECTS)
                    && self.word(2).is_some()
                    && (matches!(self.kind(3), None | Some(Kind::Semi | Kind::LParen | Kind::Comment { .. }))
                        || self.kw(3, "identified"))
            }
            _ => false,
        }
    }

    fn order_by(&self, i: usize) -> bool {
        self.kw_in(i, &["order", "group"]) && self.kw(i + 1, "by") && {
            let mut j = i + 2;
            if self.call_end(j).is_some() {
                // `1 order by if(1<2 ,uname,uid)`: a condition to sort by
                return i > 0 && matches!(self.kind(i - 1), Some(Kind::Num | Kind::Quote(_) | Kind::RParen));
            }
            if self.kind(j) != Some(Kind::Num) {
                return false;
            }
            while self.kind(j) == Some(Kind::Num) && self.kind(j + 1) == Some(Kind::Comma) {
                j += 2;
            }
            work::add(j - i);
            let prev = i.checked_sub(1).and_then(|p| self.kind(p));
            matches!(prev, Some(Kind::Quote(_) | Kind::RParen))
                || (j..(j + 2).min(self.list.len() + 1)).any(|x| self.is_comment(x))
                || (self.kind(j + 1) == Some(Kind::Semi) && self.is_comment(j + 2))
                // `-1 order by 1,2,3`, `group by 1,9`: a column list to the end
                || (matches!(prev, None | Some(Kind::Num)) && j + 1 == self.list.len())
        }
    }

    /// `1 limit 1 offset 5--`, `' limit 1,1#`: paging the application's query from outside.
    fn limit_probe(&self, i: usize) -> bool {
        if !self.kw(i, "limit") || self.kind(i + 1) != Some(Kind::Num) {
            return false;
        }
        let mut j = i + 2;
        let paged = (self.kind(j) == Some(Kind::Comma) || self.kw(j, "offset")) && self.kind(j + 1) == Some(Kind::Num);
        if paged {
            j += 2;
        }
        let prev = i.checked_sub(1).and_then(|p| self.kind(p));
        let commented = self.is_comment(j) || (self.kind(j) == Some(Kind::Semi) && self.is_comment(j + 1));
        matches!(prev, None | Some(Kind::Num | Kind::Quote(_) | Kind::RParen))
            && (commented || (paged && j == self.list.len()))
    }

    fn run(&self) -> Option<(&'static str, usize)> {
        let n = self.list.len();
        // Input that is (or starts with) a SQL comment.
        if self.input.starts_with(b"/*") || self.input.starts_with(b" /*") {
            return Some(("sqli.comment", 0));
        }
        if n == 0 {
            return None;
        }
        let at = |i: usize| self.list[i.min(n - 1)].start;
        if let (Some(Kind::Comment { .. }), true) = (self.kind(0), self.input.starts_with(b"--")) {
            // What follows the `--`: lexing starts afresh after a comment, so these are the
            // tokens the rest of the input would lex to on its own.
            let c = Tokens { input: self.input, list: &self.list[1..] };
            let mut words = 0;
            work::add(c.list.len());
            let only_sql = (0..c.list.len()).all(|j| match c.kind(j) {
                Some(Kind::Word) => {
                    words += 1;
                    c.kw_in(j, BOOL) || c.kw_in(j, &["union", "select", "true", "false", "null"])
                }
                Some(Kind::Comment { .. } | Kind::Op | Kind::Num | Kind::Quote(_)) => true,
                _ => false,
            });
            if only_sql && words > 0 {
                return Some(("sqli.comment", 0));
            }
        }
        if self.leading_statement() {
            return Some(("sqli.statement", 0));
        }
        // `'-'`, `'||'`: the whole input is an operator between quotes.
        if n == 3
            && self.kind(0) == Some(Kind::Quote(b'\''))
            && self.kind(1) == Some(Kind::Op)
            && self.kind(2) == Some(Kind::Quote(b'\''))
        {
            return Some(("sqli.quote_break", 0));
        }
        // Each token once; what each rule reads around it is bounded (a few tokens, at most
        // 24 ahead or 16 behind) except runs of brackets and `order by` lists, counted where
        // they are read.
        work::add(n);
        for i in 0..n {
            match self.list[i].kind {
                Kind::Word => {
                    let w = self.text(i);
                    if self.union_select(i) {
                        return Some(("sqli.union_select", at(i)));
                    }
                    if self.select_from(i) {
                        return Some(("sqli.select_from", at(i)));
                    }
                    if SCHEMA.iter().any(|s| s.as_bytes() == w) {
                        return Some(("sqli.schema_probe", at(i)));
                    }
                    if (w.starts_with(b"dbms_") || w.starts_with(b"utl_")) && self.kind(i + 1) == Some(Kind::Dot) {
                        return Some(("sqli.schema_probe", at(i)));
                    }
                    if self.time_based(i) {
                        return Some(("sqli.time_based", at(i)));
                    }
                    if self.kw_in(i, &["exec", "execute"])
                        && self.word(i + 1).is_some_and(|x| x.starts_with(b"xp_") || x.starts_with(b"sp_"))
                    {
                        return Some(("sqli.stacked_query", at(i)));
                    }
                    // `exec(@s)`: running a statement built in a variable (`0x...` hex text)
                    if self.kw_in(i, &["exec", "execute"])
                        && self.kind(i + 1) == Some(Kind::LParen)
                        && self.kind(i + 2) == Some(Kind::Var)
                    {
                        return Some(("sqli.stacked_query", at(i)));
                    }
                    if self.case_expression(i) {
                        return Some(("sqli.conditional", at(i)));
                    }
                    if self.kw(i, "into") && self.kw_in(i + 1, &["outfile", "dumpfile"]) {
                        return Some(("sqli.file_access", at(i)));
                    }
                    if self.kw_in(
                        i,
                        &[
                            "version",
                            "database",
                            "user",
                            "current_user",
                            "system_user",
                            "schema",
                            "session_user",
                            "db_name",
                            "user_name",
                        ],
                    ) && self.kind(i + 1) == Some(Kind::LParen)
                        && self.kind(i + 2) == Some(Kind::RParen)
                        && (i == 0
                            || matches!(self.kind(i - 1), Some(Kind::Comma | Kind::LParen | Kind::Op))
                            || self.kw_in(i - 1, &["and", "or", "xor", "select", "union", "not"]))
                    {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw_in(i, &["char", "chr", "nchar"])
                        && self.kind(i + 1) == Some(Kind::LParen)
                        && self.kind(i + 2) == Some(Kind::Num)
                        && self.kind(i + 3) == Some(Kind::RParen)
                        && matches!(self.op(i + 4), Some(b"+" | b"||"))
                    {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw(i, "procedure") && self.kw(i + 1, "analyse") {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw_in(i, &["and", "or", "xor", "having"])
                        && (i == 0 || matches!(self.kind(i - 1), Some(Kind::Num | Kind::Quote(_) | Kind::RParen)))
                        && ({
                            // `or true`, `or not false`
                            let v = if self.kw(i + 1, "not") { i + 2 } else { i + 1 };
                            self.kw_in(v, &["true", "false", "null"])
                                && matches!(self.kind(v + 1), None | Some(Kind::Comment { .. } | Kind::Semi))
                        } || (!matches!(self.kind(i + 1), Some(Kind::Quote(_)))
                            && self.operand(i + 1).is_some_and(|(e, _)| {
                                // `or 1 --`, `or ((1 or 1)))--`, `( 1 or @a ) --`
                                let after = self.kind(self.skip(e, Kind::RParen));
                                matches!(after, Some(Kind::Comment { trivial: true } | Kind::Semi))
                                    // `) or isnull(null)`: a call needs no comment after it
                                    || (after.is_none() && self.call_end(self.skip(i + 1, Kind::LParen)).is_some())
                            })))
                    {
                        return Some(("sqli.tautology", at(i)));
                    }
                    if self.order_by(i) || self.limit_probe(i) {
                        return Some(("sqli.order_by_probe", at(i)));
                    }
                    if self.tautology(i) {
                        return Some(("sqli.tautology", at(i)));
                    }
                }
                Kind::Num if i == 0 || matches!(self.kind(i - 1), Some(Kind::Quote(_) | Kind::RParen | Kind::Op)) => {
                    // `1 - ord('a')`, `456 + ascii(substring(passwd,1,1))`: a number the
                    // application expects, turned into arithmetic over a SQL function.
                    if (i == 0 || (i == 1 && self.op(0) == Some(b"-")))
                        && matches!(self.op(i + 1), Some(b"+" | b"-" | b"*" | b"/"))
                        && self.call_end(self.skip(i + 2, Kind::LParen)).is_some()
                    {
                        return Some(("sqli.tautology", at(i)));
                    }
                    // `1 rlike 1`, `1 is null`, `1 div 0`: a number then a SQL-only operator.
                    let k = if self.kw(i + 2, "not") { i + 3 } else { i + 2 };
                    if (self.kw_in(i + 1, &["rlike", "regexp", "sounds", "div", "xor"])
                        && (self.literal(i + 2).is_some() || self.kind(i + 2) == Some(Kind::LParen)))
                        || (self.kw(i + 1, "is") && self.kw_in(k, &["null", "true", "false", "unknown"]))
                    {
                        return Some(("sqli.tautology", at(i)));
                    }
                }
                Kind::Op if self.is_bool_op(i) && self.tautology(i) => {
                    return Some(("sqli.tautology", at(i)));
                }
                Kind::Var => {
                    let v = self.text(i);
                    if v.starts_with(b"@@")
                        || matches!(v, b"@version" | b"@datadir" | b"@basedir" | b"@hostname" | b"@tmpdir")
                        || self.op(i + 1) == Some(b":=")
                    {
                        return Some(("sqli.system_variable", at(i)));
                    }
                }
                Kind::Semi if self.statement(i + 1) => {
                    return Some(("sqli.stacked_query", at(i)));
                }
                Kind::LParen
                    if self.kw(i + 1, "select")
                        && (matches!(self.kind(i + 2), Some(Kind::LParen | Kind::Var | Kind::Quote(_)))
                            || self.op(i + 2) == Some(b"*")
                            || self.is_call(i + 2)
                            || self.select_num(i + 2)
                            || (i > 0 && self.kw_in(i - 1, &["in", "exists"]) && self.word(i + 2).is_some())) =>
                {
                    return Some(("sqli.subquery", at(i)));
                }
                Kind::Quote(q) if q != b'`' && self.quote_break(i, q) => {
                    return Some(("sqli.quote_break", at(i)));
                }
                Kind::Quote(q) if q != b'`' && self.quote_expression(i, q) => {
                    return Some(("sqli.quote_expression", at(i)));
                }
                // `1 /*`, `1) /*`: the rest of the application's query commented out.
                Kind::Comment { trivial: true }
                    if i >= 1
                        && self.input[self.list[i].start..].starts_with(b"/*")
                        && matches!(self.kind(i - 1), Some(Kind::Num | Kind::RParen)) =>
                {
                    return Some(("sqli.comment_truncation", at(i)));
                }
                Kind::Comment { trivial: true } if i >= 2 => {
                    // `( BINARY ( 1) ) --`: an expression closed and the rest commented out.
                    let w = i.saturating_sub(16);
                    if matches!(self.kind(i - 1), Some(Kind::RParen | Kind::Num | Kind::Quote(_)))
                        && (w..i).any(|j| self.kw_in(j, STRONG))
                        && (w..i).any(|j| {
                            matches!(self.kind(j), Some(Kind::LParen | Kind::Quote(_)))
                                || (self.is_cmp(j) && self.kind(j) == Some(Kind::Op))
                        })
                    {
                        return Some(("sqli.comment_truncation", at(i)));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// `case when 2 then 3 end`, `case 1 when 2 then 2 end`: SQL's conditional, whole.
    fn case_expression(&self, i: usize) -> bool {
        if !self.kw(i, "case") {
            return false;
        }
        let end = (i + 24).min(self.list.len());
        let Some(w) = (i + 1..end).find(|&j| self.kw(j, "when")) else {
            return false;
        };
        let Some(t) = (w + 2..end).find(|&j| self.kw(j, "then")) else {
            return false;
        };
        (t + 2..end).any(|j| self.kw(j, "end"))
    }

    /// `(select 1)=1`, `(select 1,2`, `in (select 1)`: a numeric sub-select.
    fn select_num(&self, j: usize) -> bool {
        if self.kind(j) != Some(Kind::Num) {
            return false;
        }
        let i = j - 2; // the `(`
        self.kind(j + 1) == Some(Kind::Comma)
            || self.kw(j + 1, "from")
            || (self.kind(j + 1) == Some(Kind::RParen)
                && (self.is_cmp(j + 2) || (i > 0 && self.kw_in(i - 1, &["in", "exists", "and", "or"]))))
    }

    fn time_based(&self, i: usize) -> bool {
        match self.word(i) {
            Some(b"sleep") => {
                let j = i + 1;
                self.kind(j) == Some(Kind::LParen)
                    && (matches!(self.kind(j + 1), Some(Kind::Var | Kind::LParen))
                        || self.is_call(j + 1)
                        || (self.kind(j + 1) == Some(Kind::Num) && self.kind(j + 2) == Some(Kind::RParen)))
            }
            Some(b"benchmark" | b"pg_sleep" | b"randomblob" | b"sys_sleep") => self.kind(i + 1) == Some(Kind::LParen),
            Some(b"waitfor") => self.kw_in(i + 1, &["delay", "time"]),
            _ => false,
        }
    }

    /// `or 1=1`, `and 'a'='a`, `|| 2>1`: boolean operator then literal-compare-literal.
    fn tautology(&self, i: usize) -> bool {
        let is_bool = self.kw_in(i, &["or", "and", "xor", "not", "having", "where", "when"]) || self.is_bool_op(i);
        if !is_bool {
            return false;
        }
        let j = self.skip(i + 1, Kind::LParen);
        // `or a=a`, `or x=x--`: a name compared with itself
        if self.word(j).is_some() && self.op(j + 1) == Some(b"=") && self.word(j + 2) == self.word(j) {
            return true;
        }
        // `|| user_id is not null`
        if self.word(j).is_some() && self.kw(j + 1, "is") {
            let k = if self.kw(j + 2, "not") { j + 3 } else { j + 2 };
            return self.kw(k, "null");
        }
        let Some((l, left_call)) = self.operand(i + 1) else {
            return false;
        };
        // `or 4821 is not null`
        if self.kw(l, "is") {
            let k = if self.kw(l + 1, "not") { l + 2 } else { l + 1 };
            return self.kw_in(k, &["null", "true", "false", "unknown"]);
        }
        // `1 and 1 not like 0`
        let l = if self.kw(l, "not") { l + 1 } else { l };
        if !self.is_cmp(l) {
            return false;
        }
        if self.operand(l + 1).is_some() {
            return true;
        }
        let r = self.skip(l + 1, Kind::LParen);
        // `and "a"=a`; not `"except*" in the same`, where `in` is English
        let double_quoted = self.kind(self.skip(i + 1, Kind::LParen)) == Some(Kind::Quote(b'"'));
        self.word(r).is_some()
            && !left_call
            && !(double_quoted && self.op(l).is_none())
            && self.kind(j) != Some(Kind::Num)
            && self.kind(j) != Some(Kind::Var)
    }

    /// A quote that closes the application's string, followed by SQL.
    fn quote_break(&self, i: usize, q: u8) -> bool {
        // A double quote after a space opens a quotation (`is defined as "-(x+1)"`).
        if q == b'"' && i > 0 && self.list[i].space_before {
            return false;
        }
        let j = self.skip(i + 1, Kind::RParen);
        match self.kind(j) {
            Some(Kind::Semi) => self.statement(j + 1),
            Some(Kind::Comment { trivial }) => trivial,
            Some(Kind::Word) => {
                if self.kw_in(j, BOOL) {
                    return self.sql_operand(j + 1, q);
                }
                if self.kw_in(j, &["order", "group"]) && self.kw(j + 1, "by") {
                    return self.kind(j + 2) == Some(Kind::Num) || self.is_call(j + 2);
                }
                self.statement(j)
                    || (self.kw_in(j, &["limit", "procedure", "into"]) && self.kind(j + 1) != Some(Kind::Word))
            }
            Some(Kind::Op) => match self.text(j) {
                b"+" | b"||" if q == b'\'' && self.kind(j + 1) == Some(Kind::Quote(q)) => true,
                // `15"&page=2`: a URL's query string (no space around the `&` or the `=`).
                b"&" if self.query_pair(j) => false,
                b"||" | b"&&" | b"*" | b"|" | b"^" | b"&" => self.sql_operand(j + 1, q),
                b"+" | b"-" => {
                    self.kind(j + 1) == Some(Kind::LParen) || (self.is_call(j + 1) && !self.list[j + 2].space_before)
                }
                o if self.is_cmp(j) && o != b"<" && o != b">" => {
                    self.literal(j + 1).is_some_and(|e| matches!(self.kind(e), Some(Kind::Comment { trivial: true })))
                }
                _ => false,
            },
            _ => false,
        }
    }
}

pub(crate) fn scan(lower: &str) -> Option<(&'static str, usize)> {
    let s = lower.as_bytes();
    let list = lex(s);
    let tokens = Tokens { input: s, list: &list };
    tokens.run()
}
