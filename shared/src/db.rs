//! PostgreSQL through Spin's `spin:postgres@4` interface.
//!
//! Work done for a user runs in a transaction that takes the `authenticated` role and the
//! caller's JWT claims (`request.jwt.claims`), exactly as Supabase's API does, so Row Level
//! Security holds even if a handler forgets an ownership filter. A request whose work is one
//! SQL function takes the same role and claims inside that function's own statement instead
//! ([`Db::query_as_user`]): one round trip rather than four. Work done by the system
//! (webhooks, admin views, metrics) runs as `service_role`.

use crate::http::Problem;
use serde_json::value::RawValue;
use spin_sdk::pg4::{self, DbValue, ParameterValue};

mod shape;
mod time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_error_reported_as_text_keeps_its_sqlstate() {
        // As released Spin words an error raised while rows stream back.
        let text = r#"Error::QueryFailed(QueryError::DbError(DbError { as-text: "Error { kind: Db, cause: Some(DbError { severity: \"ERROR\", code: SqlState(Other(\"QK402\")), message: \"quote limit reached: 5 of 5 this month\", constraint: None }) }", severity: "ERROR", code: "QK402", message: "quote limit reached: 5 of 5 this month", detail: Some("limit=5 used=5"), extras: [("routine", "exec_stmt_raise"), ("constraint", "quotes_user_fk")] }))"#;
        let e = DbError::from(pg4::PgError::QueryFailed(pg4::QueryError::Text(text.into())));
        assert_eq!(e.sqlstate(), Some("QK402"));
        assert_eq!(e.constraint(), Some("quotes_user_fk"));
        assert_eq!(Problem::from(e).status, 402);
        let restart = r#"DbError { as-text: "x", severity: "FATAL", code: "57P01", message: "terminating connection", extras: [] }"#;
        assert!(matches!(
            DbError::from(pg4::PgError::QueryFailed(pg4::QueryError::Text(restart.into()))),
            DbError::Unavailable(_)
        ));
        let plain = DbError::from(pg4::PgError::QueryFailed(pg4::QueryError::Text("something else".into())));
        assert_eq!(plain.sqlstate(), None);
    }
}

// Natively compiled (bench/native): the same interface on tokio-postgres.
#[cfg(feature = "native")]
mod native;
#[cfg(feature = "native")]
use native::Connection;
#[cfg(not(feature = "native"))]
use spin_sdk::pg4::Connection;

pub use spin_sdk::pg4::ParameterValue as Param;

/// An open database connection (a pooled one in the host).
pub struct Db {
    conn: Connection,
}

/// A failed database call, classified for the answer the caller gets.
#[derive(Debug, Clone)]
pub enum DbError {
    /// The database cannot be reached: the caller should retry later (503).
    Unavailable(String),
    /// A query failed; `code` is the SQLSTATE when the database gave one.
    Query { code: Option<String>, message: String, constraint: Option<String> },
    /// A value could not be read as the expected type.
    Decode(String),
}

impl DbError {
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    pub fn constraint(&self) -> Option<&str> {
        match self {
            DbError::Query { constraint, .. } => constraint.as_deref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            DbError::Query { code, message, .. } => {
                write!(f, "query failed [{}]: {message}", code.as_deref().unwrap_or("?"))
            }
            DbError::Decode(m) => write!(f, "cannot decode value: {m}"),
        }
    }
}

/// The SQLSTATE, message and constraint of a database error that reached us as text. Released
/// Spin (4.0.2) reports an error raised while a query's rows stream back (a trigger's
/// exception, a violated constraint in `INSERT … RETURNING`) as the debug text of the
/// structured error: `…DbError { as-text: "…", severity: "ERROR", code: "QK402", message: "…",
/// …, extras: [("constraint", "…"), …] }`. Read back, the caller still gets the right answer
/// (402 for the quota, 400 for a bad reference, 503 to retry) rather than a 500.
fn reported_db_error(text: &str) -> Option<(String, String, Option<String>)> {
    // The first unescaped `code: "` is the error's own: inside `as-text` quotes are escaped.
    let quoted_after = |key: &str| -> Option<String> {
        let start = text.find(key)? + key.len();
        let mut value = String::new();
        let mut chars = text[start..].chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?),
                '"' => return Some(value),
                c => value.push(c),
            }
        }
        None
    };
    let code = quoted_after("code: \"")?;
    if code.len() != 5 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let message = quoted_after("message: \"").unwrap_or_default();
    let constraint = quoted_after("(\"constraint\", \"");
    Some((code, message, constraint))
}

/// SQLSTATEs meaning "the database went away or is restarting": retryable, not a bug.
fn is_unavailable_state(code: &str) -> bool {
    matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "08000" | "08001" | "08003" | "08004" | "08006")
}

impl From<pg4::PgError> for DbError {
    fn from(e: pg4::PgError) -> DbError {
        match e {
            pg4::PgError::ConnectionFailed(m) => DbError::Unavailable(m),
            pg4::PgError::QueryFailed(pg4::QueryError::DbError(d)) => {
                if is_unavailable_state(&d.code) {
                    return DbError::Unavailable(d.message);
                }
                let constraint = d.extras.iter().find(|(k, _)| k == "constraint").map(|(_, v)| v.clone());
                DbError::Query { code: Some(d.code), message: d.message, constraint }
            }
            pg4::PgError::QueryFailed(pg4::QueryError::Text(m)) => {
                if m.contains("connection closed") || m.contains("connection lost") {
                    return DbError::Unavailable(m);
                }
                match reported_db_error(&m) {
                    Some((code, message, _)) if is_unavailable_state(&code) => DbError::Unavailable(message),
                    Some((code, message, constraint)) => DbError::Query { code: Some(code), message, constraint },
                    None => DbError::Query { code: None, message: m, constraint: None },
                }
            }
            pg4::PgError::BadParameter(m) => {
                DbError::Query { code: None, message: format!("bad parameter: {m}"), constraint: None }
            }
            pg4::PgError::ValueConversionFailed(m) => DbError::Decode(m),
            pg4::PgError::Other(m) => DbError::Query { code: None, message: m, constraint: None },
        }
    }
}

impl From<DbError> for Problem {
    /// The caller learns what kind of failure it was, never the SQL or the database's text.
    fn from(e: DbError) -> Problem {
        match &e {
            DbError::Unavailable(_) => {
                eprintln!("database unavailable: {e}");
                Problem::unavailable("database_unavailable", "the database is unavailable; retry shortly")
            }
            DbError::Query { code: Some(code), .. } if code == "40001" || code == "40P01" => {
                Problem::unavailable("conflict_retry", "the request conflicted with another; retry it")
            }
            DbError::Query { code: Some(code), .. } if code == "QK402" => {
                Problem::new(402, "quota_exceeded", "Plan limit reached")
                    .detail("your plan's monthly quote limit is reached; upgrade your plan to create more quotes")
            }
            DbError::Query { code: Some(code), .. } if code == "23503" => {
                Problem::new(400, "invalid_reference", "A referenced record does not exist")
                    .detail("a referenced record (for example client_id) does not exist or is not yours")
            }
            // Text PostgreSQL cannot store (a NUL character, invalid UTF-8) can only have come
            // from the caller: bad input, not a server fault.
            DbError::Query { code: Some(code), .. } if code == "22021" || code == "22P05" => {
                Problem::new(400, "invalid_text", "The request contains text that cannot be stored")
                    .detail("text values must be valid UTF-8 without NUL characters")
            }
            DbError::Query { code: Some(code), .. } if code == "42501" => {
                eprintln!("permission denied: {e}");
                Problem::forbidden("permission_denied", "you may not access this resource")
            }
            _ => {
                eprintln!("database error: {e}");
                Problem::internal()
            }
        }
    }
}

/// Rows of a query with access by column name, read from the shaped result (see [`shape`]).
pub struct Rows {
    rows: Vec<Cells>,
}

/// One row: its columns, in order, each with its JSON value as written by PostgreSQL.
struct Cells(Vec<(String, Box<RawValue>)>);

impl<'de> serde::Deserialize<'de> for Cells {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Cells, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Cells;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row as a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Cells, A::Error> {
                let mut cells = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(cell) = map.next_entry::<String, Box<RawValue>>()? {
                    cells.push(cell);
                }
                Ok(Cells(cells))
            }
        }
        d.deserialize_map(Visitor)
    }
}

impl Rows {
    /// The rows of a shaped result: a JSON array of objects.
    fn parse(json: &str) -> Result<Rows, DbError> {
        let rows = serde_json::from_str(json).map_err(|e| DbError::Decode(format!("shaped result: {e}")))?;
        Ok(Rows { rows })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|cells| Row { cells: &cells.0 })
    }

    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// The only row, or a decode error naming what was expected.
    pub fn one(&self) -> Result<Row<'_>, DbError> {
        self.first().ok_or_else(|| DbError::Decode("expected one row, got none".into()))
    }
}

pub struct Row<'a> {
    cells: &'a [(String, Box<RawValue>)],
}

/// What a JSON value written by PostgreSQL is, by its first character.
#[derive(PartialEq)]
enum Json {
    Null,
    Text,
    Number,
    Boolean,
    Structure,
}

fn kind(raw: &RawValue) -> Json {
    match raw.get().as_bytes().first() {
        Some(b'n') => Json::Null,
        Some(b'"') => Json::Text,
        Some(b't' | b'f') => Json::Boolean,
        Some(b'{' | b'[') => Json::Structure,
        _ => Json::Number,
    }
}

impl<'a> Row<'a> {
    fn value(&self, name: &str) -> Result<&'a RawValue, DbError> {
        self.cells
            .iter()
            .find(|(c, _)| c == name)
            .map(|(_, v)| &**v)
            .ok_or_else(|| DbError::Decode(format!("no column `{name}`")))
    }

    fn mismatch(name: &str, v: &RawValue, want: &str) -> DbError {
        let shown: String = v.get().chars().take(40).collect();
        DbError::Decode(format!("column `{name}` is {shown}, expected {want}"))
    }

    fn decode<T: serde::de::DeserializeOwned>(name: &str, v: &RawValue) -> Result<T, DbError> {
        serde_json::from_str(v.get()).map_err(|e| DbError::Decode(format!("column `{name}`: {e}")))
    }

    pub fn is_null(&self, name: &str) -> Result<bool, DbError> {
        Ok(kind(self.value(name)?) == Json::Null)
    }

    /// Text-like values (text, uuid, enum) as a string, and numeric values with every digit
    /// PostgreSQL wrote (`12.50` stays `12.50`); `None` for NULL.
    pub fn text(&self, name: &str) -> Result<Option<String>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            Json::Text => Some(Self::decode(name, v)?),
            Json::Number => Some(v.get().to_string()),
            _ => return Err(Self::mismatch(name, v, "text")),
        })
    }

    pub fn string(&self, name: &str) -> Result<String, DbError> {
        self.text(name)?.ok_or_else(|| DbError::Decode(format!("column `{name}` is NULL")))
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            Json::Number => Some(v.get().parse().map_err(|_| Self::mismatch(name, v, "an integer"))?),
            _ => return Err(Self::mismatch(name, v, "an integer")),
        })
    }

    pub fn i64(&self, name: &str) -> Result<i64, DbError> {
        self.int(name)?.ok_or_else(|| DbError::Decode(format!("column `{name}` is NULL")))
    }

    pub fn float(&self, name: &str) -> Result<Option<f64>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            Json::Number => Some(v.get().parse().map_err(|_| Self::mismatch(name, v, "a number"))?),
            // float8's NaN and infinities are written as strings.
            Json::Text => {
                Some(Self::decode::<String>(name, v)?.parse().map_err(|_| Self::mismatch(name, v, "a number"))?)
            }
            _ => return Err(Self::mismatch(name, v, "a number")),
        })
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            Json::Boolean => Some(v.get() == "true"),
            _ => return Err(Self::mismatch(name, v, "a boolean")),
        })
    }

    pub fn flag(&self, name: &str) -> Result<bool, DbError> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    /// A `json`/`jsonb` value (or any value, as JSON); `None` for NULL.
    pub fn json(&self, name: &str) -> Result<Option<serde_json::Value>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            _ => Some(Self::decode(name, v)?),
        })
    }

    /// A timestamp as RFC 3339 UTC (`2026-11-28T17:00:00Z`, microseconds when there are
    /// any); a date as `2026-11-28`.
    pub fn timestamp(&self, name: &str) -> Result<Option<String>, DbError> {
        let v = self.value(name)?;
        Ok(match kind(v) {
            Json::Null => None,
            Json::Text => {
                let text: String = Self::decode(name, v)?;
                Some(time::utc(&text).ok_or_else(|| Self::mismatch(name, v, "a timestamp"))?)
            }
            _ => return Err(Self::mismatch(name, v, "a timestamp")),
        })
    }
}

impl Db {
    /// Connect to the database named by the `db_url` variable.
    pub fn connect() -> Result<Db, DbError> {
        let url = crate::settings::current()
            .db_url()
            .ok_or_else(|| DbError::Unavailable("db_url is not configured".into()))?;
        Db::open(url)
    }

    pub fn open(url: &str) -> Result<Db, DbError> {
        Ok(Db { conn: Connection::open(url)? })
    }

    /// The rows `sql` returns. Sent shaped (see [`shape`]): one row, one text column, on
    /// every host.
    pub fn query(&self, sql: &str, params: &[ParameterValue]) -> Result<Rows, DbError> {
        self.query_shaped(&shape::as_json(sql), params)
    }

    /// The rows of a statement that is already shaped: one row, one text value.
    fn query_shaped(&self, sql: &str, params: &[ParameterValue]) -> Result<Rows, DbError> {
        let set = self.conn.query(sql, params)?;
        match set.rows.into_iter().next().and_then(|row| row.into_iter().next()) {
            Some(DbValue::Str(json)) => Rows::parse(&json),
            other => Err(DbError::Decode(format!("a shaped query answers one text value, not {other:?}"))),
        }
    }

    /// The rows of `function`, a SQL function that does a request's work as the user in one
    /// statement (see `migrations/0019_requests_in_one_statement.sql`): called with the caller's
    /// claims first, then `params`; it takes the `authenticated` role and those claims for its
    /// own statement (RLS applies as in [`Db::as_user`]) and answers its rows shaped. One round
    /// trip where a transaction costs four (BEGIN, role, query, COMMIT); so not inside one.
    pub fn query_as_user(&self, claims_json: &str, function: &str, params: &[Param]) -> Result<Rows, DbError> {
        let arguments: Vec<String> = (1..=params.len() + 1).map(|i| format!("${i}")).collect();
        let mut values = Vec::with_capacity(params.len() + 1);
        values.push(Param::Str(claims_json.to_string()));
        values.extend_from_slice(params);
        self.query_shaped(&format!("SELECT {function}({})", arguments.join(", ")), &values)
    }

    pub fn execute(&self, sql: &str, params: &[ParameterValue]) -> Result<u64, DbError> {
        Ok(self.conn.execute(sql, params)?)
    }

    /// Run `work` in a transaction as the given user: role `authenticated`, `auth.uid()` =
    /// the token's `sub`, so RLS applies. Commits on `Ok`, rolls back on `Err`.
    pub fn as_user<T, E: From<DbError>>(
        &self,
        claims_json: &str,
        work: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        self.transaction("authenticated", claims_json, work)
    }

    /// Run `work` in a transaction as `service_role` (bypasses RLS: system work only).
    pub fn as_service<T, E: From<DbError>>(&self, work: impl FnOnce(&Db) -> Result<T, E>) -> Result<T, E> {
        self.transaction("service_role", r#"{"role":"service_role"}"#, work)
    }

    fn transaction<T, E: From<DbError>>(
        &self,
        role: &str,
        claims_json: &str,
        work: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        self.execute("BEGIN", &[])?;
        // One round trip: the role and the claims, both local to this transaction
        // (PostgREST's way of doing SET LOCAL ROLE with a parameter).
        let setup = self.execute(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            &[Param::Str(role.to_string()), Param::Str(claims_json.to_string())],
        );
        if let Err(e) = setup {
            let _ = self.execute("ROLLBACK", &[]);
            return Err(e.into());
        }
        match work(self) {
            Ok(v) => {
                self.execute("COMMIT", &[])?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.execute("ROLLBACK", &[]);
                Err(e)
            }
        }
    }
}

/// Parameter helpers for the common cases.
pub fn uuid(s: &str) -> Param {
    Param::Uuid(s.to_string())
}

pub fn text(s: impl Into<String>) -> Param {
    Param::Str(s.into())
}

pub fn opt_text(s: Option<impl Into<String>>) -> Param {
    s.map(|s| Param::Str(s.into())).unwrap_or(Param::DbNull)
}

pub fn int(v: i64) -> Param {
    Param::Int64(v)
}
