//! SQL injection: a small SQL lexer over the normalised input and structural rules on the
//! token stream (no keyword lists of whole payloads).

use super::search::Next;
use super::work;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum T {
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
struct Tok {
    t: T,
    s: usize,
    e: usize,
    /// Whitespace (or an inline comment) before the token.
    sp: bool,
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn lex(s: &[u8]) -> Vec<Tok> {
    let mut v: Vec<Tok> = Vec::new();
    // Start of the trailing run of comment-ish bytes: a comment is "trivial" (nothing but
    // `-- -`, `#`, `--+`, quotes after it) when its body starts there. O(n) once.
    let tail = s.len() - s.iter().rev().take_while(|&&c| trivial_byte(c)).count();
    let trivial_body = |from: usize| from >= tail;
    // The `*/` after a `/*`: remembered for every `/*` before it (an unterminated `/* /* /*`
    // used to be read to its end once per `/*`).
    let mut comment_end = Next::new(s, b"*/");
    let mut i = 0;
    let mut sp = false;
    while i < s.len() {
        let c = s[i];
        let start = i;
        let t = match c {
            b' ' => {
                sp = true;
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
                    sp = true;
                    continue;
                }
                match comment_end.at_or_after(i + 2) {
                    Some(end) => {
                        i = end + 2;
                        sp = true;
                        continue;
                    }
                    None => {
                        let trivial = trivial_body(i + 2);
                        i += 2;
                        T::Comment { trivial }
                    }
                }
            }
            b'*' if s.get(i + 1) == Some(&b'/') => {
                i += 2;
                sp = true;
                continue;
            }
            // Comments do not hide what follows: the quote context is unknown, so a `#` or
            // `--` may well sit inside the application's string literal.
            b'-' if s.get(i + 1) == Some(&b'-') => {
                let trivial = trivial_body(i + 2);
                i += 2;
                T::Comment { trivial }
            }
            b'#' => {
                let trivial = trivial_body(i + 1);
                i += 1;
                T::Comment { trivial }
            }
            b'\'' | b'"' | b'`' => {
                i += 1;
                T::Quote(c)
            }
            b'(' => {
                i += 1;
                T::LParen
            }
            b')' => {
                i += 1;
                T::RParen
            }
            b',' => {
                i += 1;
                T::Comma
            }
            b';' => {
                i += 1;
                T::Semi
            }
            b'.' if !s.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                i += 1;
                T::Dot
            }
            b'@' if s.get(i + 1).is_some_and(|&c| c == b'@' || is_word_byte(c)) => {
                i += 1;
                while i < s.len() && (s[i] == b'@' || is_word_byte(s[i])) {
                    i += 1;
                }
                T::Var
            }
            b'0'..=b'9' | b'.' => {
                i += 1;
                while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
                    i += 1;
                }
                T::Num
            }
            c if is_word_byte(c) => {
                while i < s.len() && is_word_byte(s[i]) {
                    i += 1;
                }
                T::Word
            }
            _ => {
                i += 1;
                while i < s.len()
                    && i - start < 3
                    && matches!(
                        s[i],
                        b'=' | b'<' | b'>' | b'!' | b'|' | b'&' | b':' | b'^' | b'~'
                    )
                {
                    i += 1;
                }
                T::Op
            }
        };
        v.push(Tok {
            t,
            s: start,
            e: i,
            sp,
        });
        sp = false;
    }
    // The trailing comment-ish run, then each byte once (a token or a skipped space).
    work::add(s.len() - tail + 1 + s.len());
    v
}

fn trivial_byte(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'-' | b'+' | b'#' | b'*' | b'/' | b'"' | b'\'' | b';'
    )
}

struct Ctx<'a> {
    s: &'a [u8],
    t: Vec<Tok>,
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
];
const BOOL: &[&str] = &[
    "or", "and", "xor", "div", "mod", "like", "rlike", "regexp", "having", "not",
];

impl Ctx<'_> {
    fn txt(&self, i: usize) -> &[u8] {
        self.t.get(i).map_or(&[][..], |t| &self.s[t.s..t.e])
    }
    fn ty(&self, i: usize) -> Option<T> {
        self.t.get(i).map(|t| t.t)
    }
    fn word(&self, i: usize) -> Option<&[u8]> {
        (self.ty(i) == Some(T::Word)).then(|| self.txt(i))
    }
    fn kw(&self, i: usize, w: &str) -> bool {
        self.word(i) == Some(w.as_bytes())
    }
    fn kw_in(&self, i: usize, ws: &[&str]) -> bool {
        self.word(i)
            .is_some_and(|x| ws.iter().any(|w| w.as_bytes() == x))
    }
    fn op(&self, i: usize) -> Option<&[u8]> {
        (self.ty(i) == Some(T::Op)).then(|| self.txt(i))
    }
    fn is_cmp(&self, i: usize) -> bool {
        if let Some(o) = self.op(i) {
            return matches!(o[0], b'=' | b'<' | b'>') || o.starts_with(b"!=") || o == b":=";
        }
        self.kw_in(
            i,
            &["like", "rlike", "regexp", "is", "between", "in", "sounds"],
        )
    }
    fn is_comment(&self, i: usize) -> bool {
        matches!(self.ty(i), Some(T::Comment { .. }))
    }
    /// A call `name(` (space allowed).
    fn is_call(&self, i: usize) -> bool {
        self.ty(i) == Some(T::Word) && self.ty(i + 1) == Some(T::LParen)
    }
    fn skip(&self, mut i: usize, ty: T) -> usize {
        let from = i;
        while self.ty(i) == Some(ty) {
            i += 1;
        }
        work::add(i - from + 1);
        i
    }
    /// A literal starting at `i`: end index.
    fn literal(&self, i: usize) -> Option<usize> {
        match self.ty(i)? {
            T::Num | T::Var => Some(i + 1),
            T::Word if self.kw_in(i, &["null", "true", "false"]) => Some(i + 1),
            T::Op if self.txt(i) == b"-" && self.ty(i + 1) == Some(T::Num) => Some(i + 2),
            T::Quote(q) => {
                for j in i + 1..(i + 8).min(self.t.len()) {
                    if self.ty(j) == Some(T::Quote(q)) {
                        return Some(j + 1);
                    }
                }
                // unterminated (the application's own quote closes it)
                (self.t.len() - i <= 4).then_some(self.t.len())
            }
            _ => None,
        }
    }

    /// A SQL statement starting at word `i` (stacked query).
    fn statement(&self, i: usize) -> bool {
        let Some(w) = self.word(i) else { return false };
        match w {
            b"drop" | b"create" | b"alter" | b"truncate" => self.kw_in(
                i + 1,
                &[
                    "table",
                    "database",
                    "procedure",
                    "view",
                    "function",
                    "user",
                    "schema",
                    "index",
                    "trigger",
                ],
            ),
            b"insert" => self.kw(i + 1, "into"),
            b"delete" => self.kw(i + 1, "from"),
            b"update" => self.kw(i + 2, "set"),
            b"exec" | b"execute" => {
                self.ty(i + 1) == Some(T::LParen)
                    || self.ty(i + 1) == Some(T::Var)
                    || self.word(i + 1).is_some_and(|x| {
                        x.starts_with(b"xp_") || x.starts_with(b"sp_") || x.starts_with(b"master")
                    })
            }
            b"declare" | b"set" => self.ty(i + 1) == Some(T::Var),
            b"shutdown" => matches!(self.ty(i + 1), None | Some(T::Semi | T::Comment { .. })),
            b"waitfor" => self.kw_in(i + 1, &["delay", "time"]),
            b"if" => self.kw_in(i + 1, &["exists", "not"]) || self.ty(i + 1) == Some(T::LParen),
            b"select" => {
                matches!(self.ty(i + 1), Some(T::LParen | T::Var))
                    || (self.literal(i + 1).is_some_and(|e| {
                        // a number or a closed string, then `,` / `;` / comment / end / from
                        (self.ty(i + 1) == Some(T::Num)
                            || matches!(self.ty(e - 1), Some(T::Quote(_))) && e - 1 > i + 1)
                            && (e == self.t.len()
                                || matches!(
                                    self.ty(e),
                                    Some(T::Comma | T::Semi | T::Comment { .. })
                                )
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
        j = self.skip(j, T::LParen);
        self.word(j).is_some_and(|w| w.starts_with(b"select"))
    }

    fn select_from(&self, i: usize) -> bool {
        if !self.kw(i, "select") {
            return false;
        }
        let end = (i + 24).min(self.t.len());
        let Some(f) = (i + 1..end).find(|&j| self.kw(j, "from")) else {
            return false;
        };
        if (i + 1..f).any(|j| self.ty(j) == Some(T::Semi)) {
            return false;
        }
        let col = (i + 1..f).any(|j| {
            matches!(self.ty(j), Some(T::Var | T::Quote(_)))
                || self.op(j).is_some_and(|o| o == b"*" || o == b"||")
                || (self.ty(j) == Some(T::LParen) && j > i + 1 && self.ty(j - 1) == Some(T::Word))
        });
        let tab = self.ty(f + 1) == Some(T::Word)
            && (self.ty(f + 2) == Some(T::Dot)
                || self.kw_in(f + 1, &["dual", "information_schema"])
                || self.kw_in(
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
                    self.ty(f + 2),
                    Some(T::Semi | T::Comment { .. } | T::RParen)
                ));
        tab || (col && matches!(self.ty(f + 1), Some(T::Word | T::LParen)))
    }

    /// An operand after a boolean operator that only SQL would put there.
    fn sql_operand(&self, k: usize, q: u8) -> bool {
        match self.ty(k) {
            Some(T::Num) => {
                let n = k + 1;
                self.is_cmp(n)
                    || matches!(
                        self.ty(n),
                        None | Some(T::LParen | T::Comment { .. } | T::Semi)
                    )
            }
            Some(T::LParen | T::Var) => true,
            Some(T::Word) => {
                self.kw_in(
                    k,
                    &["null", "true", "false", "sleep", "benchmark", "exists"],
                ) || (self.is_call(k) && !self.t[k + 1].sp)
                    || self.is_cmp(k + 1)
            }
            Some(T::Quote(q2)) => {
                if q2 != q && k + 1 == self.t.len() {
                    return true;
                }
                // `' and '1`: a short string left open for the application's quote.
                if q2 == q
                    && k + 2 == self.t.len()
                    && (self.ty(k + 1) == Some(T::Num)
                        || self.word(k + 1).is_some_and(|w| w.len() <= 2))
                {
                    return true;
                }
                (k + 1..(k + 7).min(self.t.len())).any(|j| self.is_cmp(j))
            }
            _ => false,
        }
    }

    fn order_by(&self, i: usize) -> bool {
        self.kw_in(i, &["order", "group"]) && self.kw(i + 1, "by") && {
            let mut j = i + 2;
            if self.ty(j) != Some(T::Num) {
                return false;
            }
            while self.ty(j) == Some(T::Num) && self.ty(j + 1) == Some(T::Comma) {
                j += 2;
            }
            work::add(j - i);
            let prev = i.checked_sub(1).and_then(|p| self.ty(p));
            matches!(prev, Some(T::Quote(_) | T::RParen))
                || (j..(j + 2).min(self.t.len() + 1)).any(|x| self.is_comment(x))
        }
    }

    fn run(&self) -> Option<(&'static str, usize)> {
        let n = self.t.len();
        // Input that is (or starts with) a SQL comment.
        if self.s.starts_with(b"/*") || self.s.starts_with(b" /*") {
            return Some(("sqli.comment", 0));
        }
        if n == 0 {
            return None;
        }
        let at = |i: usize| self.t[i.min(n - 1)].s;
        if let (Some(T::Comment { .. }), true) = (self.ty(0), self.s.starts_with(b"--")) {
            let body = lex(&self.s[2..]);
            let c = Ctx {
                s: &self.s[2..],
                t: body,
            };
            let mut words = 0;
            work::add(c.t.len());
            let only_sql = (0..c.t.len()).all(|j| match c.ty(j) {
                Some(T::Word) => {
                    words += 1;
                    c.kw_in(j, BOOL) || c.kw_in(j, &["union", "select", "true", "false", "null"])
                }
                Some(T::Comment { .. } | T::Op | T::Num | T::Quote(_)) => true,
                _ => false,
            });
            if only_sql && words > 0 {
                return Some(("sqli.comment", 0));
            }
        }
        // `'-'`, `'||'`: the whole input is an operator between quotes.
        if n == 3
            && self.ty(0) == Some(T::Quote(b'\''))
            && self.ty(1) == Some(T::Op)
            && self.ty(2) == Some(T::Quote(b'\''))
        {
            return Some(("sqli.quote_break", 0));
        }
        // Each token once; what each rule reads around it is bounded (a few tokens, at most
        // 24 ahead or 16 behind) except runs of brackets and `order by` lists, counted where
        // they are read.
        work::add(n);
        for i in 0..n {
            let tok = self.t[i];
            match tok.t {
                T::Word => {
                    let w = self.txt(i);
                    if self.union_select(i) {
                        return Some(("sqli.union_select", at(i)));
                    }
                    if self.select_from(i) {
                        return Some(("sqli.select_from", at(i)));
                    }
                    if SCHEMA.iter().any(|s| s.as_bytes() == w) {
                        return Some(("sqli.schema_probe", at(i)));
                    }
                    if (w.starts_with(b"dbms_") || w.starts_with(b"utl_"))
                        && self.ty(i + 1) == Some(T::Dot)
                    {
                        return Some(("sqli.schema_probe", at(i)));
                    }
                    if self.time_based(i) {
                        return Some(("sqli.time_based", at(i)));
                    }
                    if self.kw_in(i, &["exec", "execute"])
                        && self
                            .word(i + 1)
                            .is_some_and(|x| x.starts_with(b"xp_") || x.starts_with(b"sp_"))
                    {
                        return Some(("sqli.stacked_query", at(i)));
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
                    ) && self.ty(i + 1) == Some(T::LParen)
                        && self.ty(i + 2) == Some(T::RParen)
                        && (i == 0
                            || matches!(self.ty(i - 1), Some(T::Comma | T::LParen | T::Op))
                            || self.kw_in(i - 1, &["and", "or", "xor", "select", "union", "not"]))
                    {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw_in(i, &["char", "chr", "nchar"])
                        && self.ty(i + 1) == Some(T::LParen)
                        && self.ty(i + 2) == Some(T::Num)
                        && self.ty(i + 3) == Some(T::RParen)
                        && matches!(self.op(i + 4), Some(b"+" | b"||"))
                    {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw(i, "procedure") && self.kw(i + 1, "analyse") {
                        return Some(("sqli.fingerprint_function", at(i)));
                    }
                    if self.kw_in(i, &["and", "or", "xor", "having"])
                        && i > 0
                        && matches!(self.ty(i - 1), Some(T::Num | T::Quote(_) | T::RParen))
                        && ((self.kw_in(i + 1, &["true", "false", "null"])
                            && matches!(self.ty(i + 2), None | Some(T::Comment { .. } | T::Semi)))
                            || (self.ty(i + 1) == Some(T::Num)
                                && matches!(
                                    self.ty(i + 2),
                                    Some(T::Comment { trivial: true } | T::Semi)
                                )))
                    {
                        return Some(("sqli.tautology", at(i)));
                    }
                    if self.order_by(i) {
                        return Some(("sqli.order_by_probe", at(i)));
                    }
                    if self.tautology(i) {
                        return Some(("sqli.tautology", at(i)));
                    }
                }
                T::Num
                    if i == 0
                        || matches!(self.ty(i - 1), Some(T::Quote(_) | T::RParen | T::Op)) =>
                {
                    // `1 rlike 1`, `1 is null`, `1 div 0`: a number then a SQL-only operator.
                    let k = if self.kw(i + 2, "not") { i + 3 } else { i + 2 };
                    if (self.kw_in(i + 1, &["rlike", "regexp", "sounds", "div", "xor"])
                        && (self.literal(i + 2).is_some() || self.ty(i + 2) == Some(T::LParen)))
                        || (self.kw(i + 1, "is")
                            && self.kw_in(k, &["null", "true", "false", "unknown"]))
                    {
                        return Some(("sqli.tautology", at(i)));
                    }
                }
                T::Op if matches!(self.txt(i), b"||" | b"&&") && self.tautology(i) => {
                    return Some(("sqli.tautology", at(i)));
                }
                T::Var => {
                    let v = self.txt(i);
                    if v.starts_with(b"@@")
                        || matches!(
                            v,
                            b"@version" | b"@datadir" | b"@basedir" | b"@hostname" | b"@tmpdir"
                        )
                        || self.op(i + 1) == Some(b":=")
                    {
                        return Some(("sqli.system_variable", at(i)));
                    }
                }
                T::Semi if self.statement(i + 1) => {
                    return Some(("sqli.stacked_query", at(i)));
                }
                T::LParen
                    if self.kw(i + 1, "select")
                        && (matches!(self.ty(i + 2), Some(T::LParen | T::Var | T::Quote(_)))
                            || self.op(i + 2) == Some(b"*")
                            || self.is_call(i + 2)
                            || self.select_num(i + 2)
                            || (i > 0
                                && self.kw_in(i - 1, &["in", "exists"])
                                && self.word(i + 2).is_some())) =>
                {
                    return Some(("sqli.subquery", at(i)));
                }
                T::Quote(q) if q != b'`' && self.quote_break(i, q) => {
                    return Some(("sqli.quote_break", at(i)));
                }
                T::Comment { trivial: true } if i >= 2 => {
                    // `( BINARY ( 1) ) --`: an expression closed and the rest commented out.
                    let w = i.saturating_sub(16);
                    if matches!(self.ty(i - 1), Some(T::RParen | T::Num | T::Quote(_)))
                        && (w..i).any(|j| self.kw_in(j, STRONG))
                        && (w..i).any(|j| {
                            matches!(self.ty(j), Some(T::LParen | T::Quote(_)))
                                || (self.is_cmp(j) && self.ty(j) == Some(T::Op))
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

    /// `(select 1)=1`, `(select 1,2`, `in (select 1)`: a numeric sub-select.
    fn select_num(&self, j: usize) -> bool {
        if self.ty(j) != Some(T::Num) {
            return false;
        }
        let i = j - 2; // the `(`
        self.ty(j + 1) == Some(T::Comma)
            || self.kw(j + 1, "from")
            || (self.ty(j + 1) == Some(T::RParen)
                && (self.is_cmp(j + 2)
                    || (i > 0 && self.kw_in(i - 1, &["in", "exists", "and", "or"]))))
    }

    fn time_based(&self, i: usize) -> bool {
        match self.word(i) {
            Some(b"sleep") => {
                let j = i + 1;
                self.ty(j) == Some(T::LParen)
                    && (matches!(self.ty(j + 1), Some(T::Var | T::LParen))
                        || self.is_call(j + 1)
                        || (self.ty(j + 1) == Some(T::Num) && self.ty(j + 2) == Some(T::RParen)))
            }
            Some(b"benchmark" | b"pg_sleep" | b"randomblob" | b"sys_sleep") => {
                self.ty(i + 1) == Some(T::LParen)
            }
            Some(b"waitfor") => self.kw_in(i + 1, &["delay", "time"]),
            _ => false,
        }
    }

    /// `or 1=1`, `and 'a'='a`, `|| 2>1`: boolean operator then literal-compare-literal.
    fn tautology(&self, i: usize) -> bool {
        let is_bool = self.kw_in(i, &["or", "and", "xor", "not", "having", "where", "when"])
            || matches!(self.op(i), Some(b"||" | b"&&"));
        if !is_bool {
            return false;
        }
        let j = self.skip(i + 1, T::LParen);
        let Some(l) = self.literal(j) else {
            return false;
        };
        let l = self.skip(l, T::RParen);
        if !self.is_cmp(l) {
            return false;
        }
        let r = self.skip(l + 1, T::LParen);
        self.literal(r).is_some()
            || (self.word(r).is_some() && self.ty(j) != Some(T::Num) && self.ty(j) != Some(T::Var))
    }

    /// A quote that closes the application's string, followed by SQL.
    fn quote_break(&self, i: usize, q: u8) -> bool {
        let j = self.skip(i + 1, T::RParen);
        match self.ty(j) {
            Some(T::Semi) => self.statement(j + 1),
            Some(T::Comment { trivial }) => trivial,
            Some(T::Word) => {
                if self.kw_in(j, BOOL) {
                    return self.sql_operand(j + 1, q);
                }
                if self.kw_in(j, &["order", "group"]) && self.kw(j + 1, "by") {
                    return self.ty(j + 2) == Some(T::Num) || self.is_call(j + 2);
                }
                self.statement(j)
                    || (self.kw_in(j, &["limit", "procedure", "into"])
                        && self.ty(j + 1) != Some(T::Word))
            }
            Some(T::Op) => match self.txt(j) {
                b"+" | b"||" if q == b'\'' && self.ty(j + 1) == Some(T::Quote(q)) => true,
                b"||" | b"&&" | b"*" | b"|" | b"^" | b"&" => self.sql_operand(j + 1, q),
                b"+" | b"-" => {
                    self.ty(j + 1) == Some(T::LParen) || (self.is_call(j + 1) && !self.t[j + 2].sp)
                }
                o if self.is_cmp(j) && o != b"<" && o != b">" => self
                    .literal(j + 1)
                    .is_some_and(|e| matches!(self.ty(e), Some(T::Comment { trivial: true }))),
                _ => false,
            },
            _ => false,
        }
    }
}

pub(crate) fn scan(lower: &str) -> Option<(&'static str, usize)> {
    let s = lower.as_bytes();
    let ctx = Ctx { s, t: lex(s) };
    ctx.run()
}
