//! `spin:postgres/postgres@4.0.0` statements on tokio-postgres, for both places of this project
//! that implement the interface: `edge`'s host (host/src/postgres.rs, over wasmtime's bindings)
//! and bench/native's connection (shared/src/db/native.rs, over spin-sdk's `pg4` types). It owns
//! what a statement becomes on the wire and what comes back:
//! - parameters: a `parameter-value` becomes a value tokio-postgres checks against the
//!   statement's parameter types, as Spin's own host does (a `str` for a `uuid` parameter is
//!   refused by tokio-postgres, a malformed `uuid`, `decimal` or date by the conversion here);
//! - results: each column's `db-data-type` and each value's `db-value` (`unsupported` with the
//!   raw bytes for types outside the interface, enums as `str`);
//! - errors: a tokio-postgres error as the interface's `error` (the server's fields included);
//! - sending: how many connections a pool keeps ([`pool_size`]), prepared statements cached
//!   per connection, and a deferred bare `BEGIN` (and the transaction-local settings held after
//!   it) written in the same round trip as the statement after it (the state machine that
//!   defers them is `pgtransaction`'s).
//!
//! The value logic is plain code ([`Range`], [`Interval`], [`decimal`], [`send`], ...). The
//! mapping to the generated types is [`spin_postgres!`]: both sides' bindings come from the same
//! WIT (`wit/deps/spin-postgres@4.0.0`) with the same names and the same Rust shapes (tuples,
//! `Vec`, `Option`, `String`), but they are two sets of types, wasmtime's and wit-bindgen's, so
//! the macro expands the one mapping over each.
//!
//! Depends on tokio-postgres and the value crates it reads and writes (chrono, uuid,
//! rust_decimal, serde_json, bytes), and tokio for `join!`: never on `shared`, the host,
//! spin-sdk or wasmtime, so that both sides can use it.

mod send;
mod values;

pub use send::{pool_size, send, Ahead, Answer, Asked, Held, StatementCache, REMOTE_POOL_SIZE};
pub use values::{
    date, date_parts, datetime, datetime_parts, decimal, decimals, time, time_parts, uuid, BoundKind, Interval,
    JsonBytes, Null, Param, Range, RangeElement, Raw, UtcDateTime,
};

/// The crates [`spin_postgres!`] expands to code over, whatever the user depends on.
#[doc(hidden)]
pub mod __deps {
    pub use {chrono, rust_decimal, serde_json, tokio_postgres, uuid};
}

/// The mapping between `spin:postgres@4.0.0`'s generated types and tokio-postgres, expanded as
/// a module over the types of `types` (the module the generator put the interface in) and
/// `error` (its `error` variant: `Error` there, re-exported by spin-sdk as `pg4::PgError`):
///
/// ```ignore
/// pgvalue::spin_postgres! {
///     mod values {
///         types: crate::bindings::spin::postgres::postgres,
///         error: crate::bindings::spin::postgres::postgres::Error,
///     }
/// }
/// ```
///
/// The module has `send` (the statement, its parameters and what is asked: [`send`] with the
/// parameters converted by `to_params`), `row_set` (the rows of an answer as the interface's
/// `row-set`) and `query_error` (a tokio-postgres error as the interface's).
#[macro_export]
macro_rules! spin_postgres {
    ($(#[$attr:meta])* $vis:vis mod $name:ident { types: $types:path, error: $error:ty $(,)? }) => {
        $(#[$attr])*
        #[allow(
            clippy::result_large_err,
            reason = "the error is spin:postgres's own error type, whose shape the interface fixes"
        )]
        $vis mod $name {
            use $types as pg;
            use pg::{Column, DbDataType, DbError, DbValue, ParameterValue, QueryError, RangeBoundKind, RowSet};
            use $crate::__deps::chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
            use $crate::__deps::rust_decimal::Decimal;
            use $crate::__deps::tokio_postgres::types::{FromSql, Kind, Type};
            use $crate::__deps::tokio_postgres::{Client, Row, Statement};
            use $crate::__deps::{serde_json, tokio_postgres, uuid};
            use $crate::{Answer, Asked, BoundKind, Param, Range, Raw, StatementCache};

            type Error = $error;

            /// `statement` with `params`, after `BEGIN` when `begin_first` and after the `held`
            /// statements (the crate's `send`).
            pub async fn send(
                client: &Client,
                statements: &mut StatementCache,
                begin_first: bool,
                held: Vec<(String, Vec<ParameterValue>)>,
                statement: &str,
                params: Vec<ParameterValue>,
                asked: Asked,
            ) -> Result<Answer, Error> {
                let held = held
                    .into_iter()
                    .map(|(sql, params)| Ok((sql, to_params(params)?)))
                    .collect::<Result<Vec<_>, Error>>()?;
                let ahead = $crate::Ahead { begin: begin_first, held };
                $crate::send(client, statements, ahead, statement, move || to_params(params), asked, query_error).await
            }

            /// The rows a statement answered, with its columns.
            pub fn row_set(stmt: &Statement, rows: &[Row]) -> Result<RowSet, Error> {
                let columns: Vec<Column> = stmt
                    .columns()
                    .iter()
                    .map(|c| Column { name: c.name().to_string(), data_type: data_type(c.type_()) })
                    .collect();
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut values = Vec::with_capacity(columns.len());
                    for (i, col) in stmt.columns().iter().enumerate() {
                        values.push(db_value(row, i, col.type_())?);
                    }
                    out.push(values);
                }
                Ok(RowSet { columns, rows: out })
            }

            /// The server's error with its fields, a lost connection, or tokio-postgres's text
            /// (a parameter of the wrong type among them).
            pub fn query_error(e: tokio_postgres::Error) -> Error {
                if let Some(db) = e.as_db_error() {
                    let mut extras = Vec::new();
                    if let Some(c) = db.constraint() {
                        extras.push(("constraint".to_string(), c.to_string()));
                    }
                    if let Some(t) = db.table() {
                        extras.push(("table".to_string(), t.to_string()));
                    }
                    if let Some(c) = db.column() {
                        extras.push(("column".to_string(), c.to_string()));
                    }
                    if let Some(h) = db.hint() {
                        extras.push(("hint".to_string(), h.to_string()));
                    }
                    return Error::QueryFailed(QueryError::DbError(DbError {
                        as_text: db.to_string(),
                        severity: db.severity().to_string(),
                        code: db.code().code().to_string(),
                        message: db.message().to_string(),
                        detail: db.detail().map(str::to_string),
                        extras,
                    }));
                }
                if e.is_closed() {
                    return Error::ConnectionFailed(format!("database connection lost: {e}"));
                }
                let mut text = e.to_string();
                if let Some(source) = ::std::error::Error::source(&e) {
                    text = format!("{text}: {source}");
                }
                Error::QueryFailed(QueryError::Text(text))
            }

            /// The parameters as tokio-postgres writes them; the first malformed one refuses them.
            pub fn to_params(params: Vec<ParameterValue>) -> Result<Vec<Param>, Error> {
                params.into_iter().map(to_param).collect()
            }

            fn to_param(p: ParameterValue) -> Result<Param, Error> {
                let bad = Error::BadParameter;
                Ok(match p {
                    ParameterValue::Boolean(v) => Box::new(v),
                    ParameterValue::Int8(v) => Box::new(v),
                    ParameterValue::Int16(v) => Box::new(v),
                    ParameterValue::Int32(v) => Box::new(v),
                    ParameterValue::Int64(v) => Box::new(v),
                    ParameterValue::Floating32(v) => Box::new(v),
                    ParameterValue::Floating64(v) => Box::new(v),
                    ParameterValue::Str(v) => Box::new(v),
                    ParameterValue::Binary(v) => Box::new(v),
                    ParameterValue::Date(v) => Box::new($crate::date(v).map_err(bad)?),
                    ParameterValue::Time(v) => Box::new($crate::time(v).map_err(bad)?),
                    ParameterValue::Datetime(v) => Box::new($crate::datetime(v).map_err(bad)?),
                    ParameterValue::Timestamp(v) => Box::new(v),
                    ParameterValue::Uuid(v) => Box::new($crate::uuid(&v).map_err(bad)?),
                    ParameterValue::Jsonb(v) => Box::new($crate::JsonBytes(v)),
                    ParameterValue::Decimal(v) => Box::new($crate::decimal(&v).map_err(bad)?),
                    ParameterValue::ArrayInt32(v) => Box::new(v),
                    ParameterValue::ArrayInt64(v) => Box::new(v),
                    ParameterValue::ArrayStr(v) => Box::new(v),
                    ParameterValue::ArrayDecimal(v) => Box::new($crate::decimals(&v).map_err(bad)?),
                    ParameterValue::Interval(i) => {
                        Box::new($crate::Interval { micros: i.micros, days: i.days, months: i.months })
                    }
                    ParameterValue::DbNull => Box::new($crate::Null),
                    ParameterValue::RangeInt32((lower, upper)) => Box::new(Range(bound(lower), bound(upper))),
                    ParameterValue::RangeInt64((lower, upper)) => Box::new(Range(bound(lower), bound(upper))),
                    ParameterValue::RangeDecimal((lower, upper)) => {
                        let decimal = |b: Option<(String, RangeBoundKind)>| {
                            bound(b).map(|(v, k)| Ok(($crate::decimal(&v).map_err(bad)?, k))).transpose()
                        };
                        Box::new(Range(decimal(lower)?, decimal(upper)?))
                    }
                })
            }

            fn bound<T>(b: Option<(T, RangeBoundKind)>) -> Option<(T, BoundKind)> {
                b.map(|(v, k)| match k {
                    RangeBoundKind::Inclusive => (v, BoundKind::Inclusive),
                    RangeBoundKind::Exclusive => (v, BoundKind::Exclusive),
                })
            }

            fn range_bound<T>(b: Option<(T, BoundKind)>) -> Option<(T, RangeBoundKind)> {
                b.map(|(v, k)| match k {
                    BoundKind::Inclusive => (v, RangeBoundKind::Inclusive),
                    BoundKind::Exclusive => (v, RangeBoundKind::Exclusive),
                })
            }

            fn data_type(ty: &Type) -> DbDataType {
                match *ty {
                    Type::BOOL => DbDataType::Boolean,
                    Type::CHAR => DbDataType::Int8,
                    Type::INT2 => DbDataType::Int16,
                    Type::INT4 => DbDataType::Int32,
                    Type::INT8 => DbDataType::Int64,
                    Type::FLOAT4 => DbDataType::Floating32,
                    Type::FLOAT8 => DbDataType::Floating64,
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => DbDataType::Str,
                    Type::BYTEA => DbDataType::Binary,
                    Type::DATE => DbDataType::Date,
                    Type::TIME => DbDataType::Time,
                    Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
                    Type::UUID => DbDataType::Uuid,
                    Type::JSONB | Type::JSON => DbDataType::Jsonb,
                    Type::NUMERIC => DbDataType::Decimal,
                    Type::INT4_ARRAY => DbDataType::ArrayInt32,
                    Type::INT8_ARRAY => DbDataType::ArrayInt64,
                    Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
                    Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => DbDataType::ArrayStr,
                    Type::INTERVAL => DbDataType::Interval,
                    Type::INT4_RANGE => DbDataType::RangeInt32,
                    Type::INT8_RANGE => DbDataType::RangeInt64,
                    Type::NUM_RANGE => DbDataType::RangeDecimal,
                    _ if matches!(ty.kind(), Kind::Enum(_)) => DbDataType::Str,
                    _ => DbDataType::Other(ty.name().to_string()),
                }
            }

            fn conversion(e: tokio_postgres::Error) -> Error {
                Error::ValueConversionFailed(e.to_string())
            }

            /// Column `i` of `row` read as `T`, then made a value by `value` (NULL: `db-null`).
            fn get<'a, T: FromSql<'a>>(
                row: &'a Row,
                i: usize,
                value: impl FnOnce(T) -> DbValue,
            ) -> Result<DbValue, Error> {
                Ok(row.try_get::<_, Option<T>>(i).map_err(conversion)?.map_or(DbValue::DbNull, value))
            }

            fn db_value(row: &Row, i: usize, ty: &Type) -> Result<DbValue, Error> {
                match *ty {
                    Type::BOOL => get(row, i, DbValue::Boolean),
                    Type::CHAR => get(row, i, DbValue::Int8),
                    Type::INT2 => get(row, i, DbValue::Int16),
                    Type::INT4 => get(row, i, DbValue::Int32),
                    Type::INT8 => get(row, i, DbValue::Int64),
                    Type::FLOAT4 => get(row, i, DbValue::Floating32),
                    Type::FLOAT8 => get(row, i, DbValue::Floating64),
                    Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get(row, i, DbValue::Str),
                    Type::BYTEA => get(row, i, DbValue::Binary),
                    Type::DATE => get(row, i, |d: NaiveDate| DbValue::Date($crate::date_parts(d))),
                    Type::TIME => get(row, i, |t: NaiveTime| DbValue::Time($crate::time_parts(t))),
                    Type::TIMESTAMP => get(row, i, |d: NaiveDateTime| DbValue::Datetime($crate::datetime_parts(d))),
                    Type::TIMESTAMPTZ => {
                        get(row, i, |d: DateTime<Utc>| DbValue::Datetime($crate::datetime_parts(d.naive_utc())))
                    }
                    Type::UUID => get(row, i, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
                    Type::JSONB | Type::JSON => get(row, i, |v: serde_json::Value| {
                        DbValue::Jsonb(serde_json::to_vec(&v).unwrap_or_default())
                    }),
                    Type::NUMERIC => match row.try_get::<_, Option<Decimal>>(i) {
                        Ok(Some(d)) => Ok(DbValue::Decimal(d.to_string())),
                        Ok(None) => Ok(DbValue::DbNull),
                        // Outside rust_decimal's range (or NaN): hand over the wire bytes rather than fail.
                        Err(_) => get(row, i, |r: Raw| DbValue::Unsupported(r.0)),
                    },
                    Type::INT4_ARRAY => get(row, i, DbValue::ArrayInt32),
                    Type::INT8_ARRAY => get(row, i, DbValue::ArrayInt64),
                    Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
                        DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
                    }),
                    Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get(row, i, DbValue::ArrayStr),
                    Type::INTERVAL => get(row, i, |v: $crate::Interval| {
                        DbValue::Interval(pg::Interval { micros: v.micros, days: v.days, months: v.months })
                    }),
                    Type::INT4_RANGE => {
                        get(row, i, |r: Range<i32>| DbValue::RangeInt32((range_bound(r.0), range_bound(r.1))))
                    }
                    Type::INT8_RANGE => {
                        get(row, i, |r: Range<i64>| DbValue::RangeInt64((range_bound(r.0), range_bound(r.1))))
                    }
                    Type::NUM_RANGE => get(row, i, |r: Range<Decimal>| {
                        let text = |b: Option<(Decimal, BoundKind)>| range_bound(b.map(|(d, k)| (d.to_string(), k)));
                        DbValue::RangeDecimal((text(r.0), text(r.1)))
                    }),
                    _ if matches!(ty.kind(), Kind::Enum(_)) => {
                        get(row, i, |r: Raw| DbValue::Str(String::from_utf8_lossy(&r.0).into_owned()))
                    }
                    _ => get(row, i, |r: Raw| DbValue::Unsupported(r.0)),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests;
