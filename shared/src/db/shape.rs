//! Every query is sent shaped so that its result is exactly one row with one `text` column:
//! the rows as a JSON array of objects (`[{"id": "…", "total": 12.50, …}, …]`).
//!
//! Why: released Spin (4.0.2) has two defects in its PostgreSQL host that no component can
//! work around by itself. A query that returns no rows never returns (the host waits for
//! column metadata that only a first row would bring), and a `timestamptz` column fails to
//! convert. Shaped, every result has a row, and its only column is text, which every Spin
//! reads. Values keep their meaning: numbers stay exact (numeric is written with all its
//! digits), timestamps are ISO 8601, JSON stays JSON. The rows are read back by
//! [`super::Rows`].
//!
//! A statement is wrapped as the body of a common table expression:
//! `WITH __rows AS (<statement>) SELECT coalesce(json_agg(__rows), '[]')::text FROM __rows`.
//! That takes `SELECT`, `VALUES` and data-modifying statements with `RETURNING` alike. A
//! statement that itself begins with `WITH` has its main part moved into the same list
//! (`WITH a AS (…), __rows AS (<main part>) …`), because a data-modifying `WITH` must stay
//! at the top level.

/// The shaped form of `sql` (see the module documentation).
pub fn as_json(sql: &str) -> String {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    const TAIL: &str = " SELECT coalesce(json_agg(__rows), '[]')::text AS rows FROM __rows";
    match split_with(sql) {
        Some((ctes, main)) => format!("{ctes}, __rows AS ({main}){TAIL}"),
        None => format!("WITH __rows AS ({sql}){TAIL}"),
    }
}

/// A statement beginning with `WITH`, split after its last common table expression:
/// (`WITH [RECURSIVE] a AS (…), b AS (…)`, the main statement).
fn split_with(sql: &str) -> Option<(&str, &str)> {
    let b = sql.as_bytes();
    let mut i = keyword(b, 0, "with")?;
    if let Some(after) = keyword(b, skip_space(b, i), "recursive") {
        i = after;
    }
    loop {
        // name [ ( columns ) ] AS [ [ NOT ] MATERIALIZED ] ( body )
        i = skip_space(b, i);
        i = identifier(b, i)?;
        i = skip_space(b, i);
        if b.get(i) == Some(&b'(') {
            i = skip_space(b, closing(b, i)?);
        }
        i = keyword(b, i, "as")?;
        i = skip_space(b, i);
        if let Some(after) = keyword(b, i, "not") {
            i = skip_space(b, after);
        }
        if let Some(after) = keyword(b, i, "materialized") {
            i = skip_space(b, after);
        }
        if b.get(i) != Some(&b'(') {
            return None;
        }
        i = closing(b, i)?;
        let next = skip_space(b, i);
        if b.get(next) == Some(&b',') {
            i = next + 1;
            continue;
        }
        return Some((&sql[..i], sql[i..].trim()));
    }
}

/// Past `word` (case-insensitive, whole word) at `i`.
fn keyword(b: &[u8], i: usize, word: &str) -> Option<usize> {
    let end = i + word.len();
    let matches = b.get(i..end)?.eq_ignore_ascii_case(word.as_bytes());
    let whole = b.get(end).is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
    (matches && whole).then_some(end)
}

/// Past a plain or double-quoted identifier at `i`.
fn identifier(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'"') {
        return quoted(b, i, b'"');
    }
    let len = b[i..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    (len > 0).then_some(i + len)
}

/// Past whitespace and comments.
fn skip_space(b: &[u8], mut i: usize) -> usize {
    loop {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        if b[i..].starts_with(b"--") {
            i += b[i..].iter().position(|&c| c == b'\n').map_or(b.len() - i, |p| p + 1);
        } else if b[i..].starts_with(b"/*") {
            i = b[i + 2..].windows(2).position(|w| w == b"*/").map_or(b.len(), |p| i + 2 + p + 2);
        } else {
            return i;
        }
    }
}

/// Past a quoted token opened at `i` by `quote` (doubled quotes stay inside).
fn quoted(b: &[u8], i: usize, quote: u8) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + b.get(j..)?.iter().position(|&c| c == quote)?;
        if b.get(k + 1) == Some(&quote) {
            j = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

/// Past a dollar-quoted string (`$$…$$`, `$tag$…$tag$`) opened at `i`, if there is one.
fn dollar_quoted(b: &[u8], i: usize) -> Option<usize> {
    let tag_len = b[i + 1..].iter().position(|&c| c == b'$')?;
    let tag = &b[i..i + tag_len + 2];
    if !tag[1..tag.len() - 1].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return None;
    }
    let body = i + tag.len();
    let end = b[body..].windows(tag.len()).position(|w| w == tag)?;
    Some(body + end + tag.len())
}

/// Past the parenthesis that closes the one at `i`, skipping strings, identifiers and comments.
fn closing(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            b'\'' | b'"' => {
                j = quoted(b, j, b[j])?;
                continue;
            }
            b'$' => {
                if let Some(end) = dollar_quoted(b, j) {
                    j = end;
                    continue;
                }
            }
            b'-' | b'/' => {
                let after = skip_space(b, j);
                if after > j {
                    j = after;
                    continue;
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAIL: &str = " SELECT coalesce(json_agg(__rows), '[]')::text AS rows FROM __rows";

    #[test]
    fn a_plain_statement_becomes_the_body() {
        assert_eq!(as_json("SELECT 1 AS one;"), format!("WITH __rows AS (SELECT 1 AS one){TAIL}"));
        assert_eq!(
            as_json("INSERT INTO t (a) VALUES ($1) RETURNING id"),
            format!("WITH __rows AS (INSERT INTO t (a) VALUES ($1) RETURNING id){TAIL}")
        );
        // A word that only starts with `with` is not a WITH clause.
        assert_eq!(as_json("withdraw()"), format!("WITH __rows AS (withdraw()){TAIL}"));
    }

    #[test]
    fn a_with_statement_keeps_its_expressions_at_the_top_level() {
        let sql = "WITH moved AS (UPDATE t SET a = 1 WHERE b = ')' RETURNING id), \"odd name\" (x) AS MATERIALIZED (SELECT 1)\n SELECT * FROM moved";
        assert_eq!(
            as_json(sql),
            format!(
                "WITH moved AS (UPDATE t SET a = 1 WHERE b = ')' RETURNING id), \"odd name\" (x) AS MATERIALIZED (SELECT 1), \
                 __rows AS (SELECT * FROM moved){TAIL}"
            )
        );
        let recursive = "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) select i from n";
        assert!(as_json(recursive).starts_with(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3), __rows AS (select i from n)"
        ));
    }

    #[test]
    fn strings_comments_and_dollar_quotes_do_not_confuse_the_split() {
        let sql = "WITH a AS (SELECT '(' AS p, $$)$$ AS q, $t$ ) $t$ AS r -- )\n /* ( */ FROM x) SELECT * FROM a";
        let shaped = as_json(sql);
        assert!(shaped.ends_with(&format!("__rows AS (SELECT * FROM a){TAIL}")), "{shaped}");
    }

    #[test]
    fn a_with_clause_that_does_not_parse_is_wrapped_whole() {
        // Not a statement this code writes; PostgreSQL will say what is wrong with it.
        assert_eq!(as_json("WITH broken"), format!("WITH __rows AS (WITH broken){TAIL}"));
    }
}
