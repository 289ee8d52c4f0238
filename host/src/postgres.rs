//! `spin:postgres/postgres@4.0.0` for components, on tokio-postgres and the shared pool.
//!
//! Value mapping follows Spin's own implementation: parameters must match the statement's
//! parameter types (a `str` for a `uuid` parameter is a bad parameter, as on Spin), and
//! columns come back as the `db-value` of their type (`unsupported` with the raw bytes for
//! types outside the interface).

#![allow(
    clippy::result_large_err,
    reason = "the error is spin:postgres's own error type, whose shape the interface fixes"
)]

use crate::bindings::spin::postgres::postgres::{
    self as pg, Column, DbDataType, DbError, DbValue, Error as PgError, Interval, ParameterValue, QueryError,
    RangeBoundKind, RowSet,
};
use crate::pool::{AcquireError, Lease, PooledClient};
use crate::state::RequestState;
use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use pgtransaction::Outgoing;
use std::error::Error as StdError;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Statement;
use wasmtime::component::Resource;

/// The `connection` resource: a pooled client lent to the request.
pub struct Connection {
    lease: Lease,
}

impl pg::Host for RequestState {}

impl pg::HostConnection for RequestState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, PgError>> {
        let target = match pgtls::Target::parse(&address) {
            Ok(t) => t,
            Err(e) => return Ok(Err(PgError::ConnectionFailed(e.to_string()))),
        };
        let port = target.config.get_ports().first().copied().unwrap_or(5432);
        for host in target.config.get_hosts() {
            let name = match host {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            };
            if !self.component.outbound.allows("postgres", &name, Some(port)) {
                self.log(&format!("postgres://{name}:{port} refused: not in allowed_outbound_hosts"));
                return Ok(Err(PgError::ConnectionFailed(format!(
                    "address postgres://{name}:{port} is not permitted: add it to allowed_outbound_hosts"
                ))));
            }
        }
        let pool = self.shared.pools.get_or_create(&address, target);
        match pool.acquire(self.chained).await {
            Ok(lease) => Ok(Ok(self.table.push(Connection { lease })?)),
            Err(AcquireError::Timeout) => {
                Ok(Err(PgError::ConnectionFailed("timed out waiting for a free database connection".into())))
            }
            Err(AcquireError::Connect(msg)) => Ok(Err(PgError::ConnectionFailed(msg))),
        }
    }

    async fn query(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, PgError>> {
        let spin_compat = self.shared.spin_compat;
        let conn = self.table.get_mut(&conn)?;
        let result = run_query(&mut conn.lease, &statement, params, spin_compat).await;
        if let Err(PgError::QueryFailed(QueryError::Text(reason))) = &result {
            if reason.starts_with(SPIN_COMPAT) {
                self.log(reason);
            }
        }
        Ok(result)
    }

    async fn execute(
        &mut self,
        conn: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, PgError>> {
        let conn = self.table.get_mut(&conn)?;
        Ok(run_execute(&mut conn.lease, &statement, params).await)
    }

    async fn drop(&mut self, conn: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(conn)?;
        Ok(())
    }
}

/// What a component asked of a statement: `execute` wants the rows affected, `query` the rows.
enum Asked {
    Count,
    Rows,
}

enum Answer {
    Count(u64),
    Rows(Statement, Vec<tokio_postgres::Row>),
}

/// Run `statement` on the lease's client as its transaction state says (see `pgtransaction`:
/// a bare `BEGIN` waits for the next statement); `None` when nothing had to be sent. The state
/// moves on once the server has answered: a request stopped meanwhile leaves it where the
/// client is rolled back.
async fn run(
    lease: &mut Lease,
    statement: &str,
    params: Vec<ParameterValue>,
    asked: Asked,
) -> Result<Option<Answer>, PgError> {
    let step = lease.transaction.send(statement, params.len());
    let answer = match step.outgoing {
        Outgoing::Nothing => Ok(None),
        Outgoing::Statement => send(lease.client(), false, statement, params, asked).await.map(Some),
        Outgoing::BeginAndStatement => send(lease.client(), true, statement, params, asked).await.map(Some),
    };
    lease.transaction.answered(step);
    answer
}

/// Prepare `statement`, convert its parameters and run it, after `BEGIN` when `begin_first`.
/// `BEGIN` is written first, before the statement is even prepared, in the same round trip:
/// whatever then becomes of the statement (refused by the server, or its parameters refused
/// here) happens inside the transaction, as it would had each been sent alone.
async fn send(
    pooled: &mut PooledClient,
    begin_first: bool,
    statement: &str,
    params: Vec<ParameterValue>,
    asked: Asked,
) -> Result<Answer, PgError> {
    let PooledClient { client, statements } = pooled;
    let begin = if begin_first { Some(statements.prepare(client, "BEGIN").await.map_err(query_error)?) } else { None };
    let began = async {
        match &begin {
            Some(begin) => client.execute(begin, &[]).await.map(drop),
            None => Ok(()),
        }
    };
    let done = async {
        let stmt = statements.prepare(client, statement).await.map_err(query_error)?;
        let params = to_params(params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        match asked {
            Asked::Count => client.execute(&stmt, &refs).await.map(Answer::Count),
            Asked::Rows => client.query(&stmt, &refs).await.map(|rows| Answer::Rows(stmt, rows)),
        }
        .map_err(query_error)
    };
    // Polled in this order, `began` writes BEGIN before `done` writes anything.
    let (began, done) = tokio::join!(began, done);
    began.map_err(query_error)?;
    done
}

async fn run_execute(lease: &mut Lease, statement: &str, params: Vec<ParameterValue>) -> Result<u64, PgError> {
    match run(lease, statement, params, Asked::Count).await? {
        Some(Answer::Count(n)) => Ok(n),
        _ => Ok(0),
    }
}

/// How the Spin-compatibility check's refusals begin.
const SPIN_COMPAT: &str = "spin compatibility:";

/// What released Spin's PostgreSQL host (4.0.2) cannot do with a query's result, if anything:
/// it never answers a query that returns no rows, and it cannot read a `timestamptz` column.
/// With the check on (`EDGE_SPIN_COMPAT=1`, as in the tests) such a query fails here as it
/// would hang or fail there, naming the statement.
fn breaks_on_spin(stmt: &Statement, rows: usize) -> Option<String> {
    if rows == 0 {
        return Some("it returned no rows, and Spin 4.0.2 never answers such a query".into());
    }
    stmt.columns()
        .iter()
        .find(|c| *c.type_() == Type::TIMESTAMPTZ)
        .map(|c| format!("column `{}` is timestamptz, which Spin 4.0.2 cannot read", c.name()))
}

async fn run_query(
    lease: &mut Lease,
    statement: &str,
    params: Vec<ParameterValue>,
    spin_compat: bool,
) -> Result<RowSet, PgError> {
    let Some(Answer::Rows(stmt, rows)) = run(lease, statement, params, Asked::Rows).await? else {
        return Ok(RowSet { columns: Vec::new(), rows: Vec::new() });
    };
    if spin_compat {
        if let Some(reason) = breaks_on_spin(&stmt, rows.len()) {
            let shown: String = statement.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(300).collect();
            return Err(PgError::QueryFailed(QueryError::Text(format!("{SPIN_COMPAT} {reason}: {shown}"))));
        }
    }
    let columns: Vec<Column> =
        stmt.columns().iter().map(|c| Column { name: c.name().to_string(), data_type: data_type(c.type_()) }).collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut values = Vec::with_capacity(columns.len());
        for (i, col) in stmt.columns().iter().enumerate() {
            values.push(db_value(row, i, col.type_())?);
        }
        out.push(values);
    }
    Ok(RowSet { columns, rows: out })
}

fn query_error(e: tokio_postgres::Error) -> PgError {
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
        return PgError::QueryFailed(QueryError::DbError(DbError {
            as_text: db.to_string(),
            severity: db.severity().to_string(),
            code: db.code().code().to_string(),
            message: db.message().to_string(),
            detail: db.detail().map(str::to_string),
            extras,
        }));
    }
    if e.is_closed() {
        return PgError::ConnectionFailed(format!("database connection lost: {e}"));
    }
    let mut text = e.to_string();
    if let Some(source) = e.source() {
        text = format!("{text}: {source}");
    }
    PgError::QueryFailed(QueryError::Text(text))
}

// ---- parameters -------------------------------------------------------------------------

type Param = Box<dyn ToSql + Sync + Send>;

fn to_params(params: Vec<ParameterValue>) -> Result<Vec<Param>, PgError> {
    params.into_iter().map(to_param).collect()
}

fn to_param(p: ParameterValue) -> Result<Param, PgError> {
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
        ParameterValue::Date((y, m, d)) => Box::new(
            NaiveDate::from_ymd_opt(y, m.into(), d.into())
                .ok_or_else(|| PgError::BadParameter(format!("invalid date {y}-{m}-{d}")))?,
        ),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(
            NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns)
                .ok_or_else(|| PgError::BadParameter("invalid time".into()))?,
        ),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date = NaiveDate::from_ymd_opt(y, mo.into(), d.into());
            let time = NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns);
            match (date, time) {
                (Some(date), Some(time)) => Box::new(UtcDateTime(NaiveDateTime::new(date, time))),
                _ => return Err(PgError::BadParameter("invalid datetime".into())),
            }
        }
        ParameterValue::Timestamp(v) => Box::new(v),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(&v).map_err(|e| PgError::BadParameter(format!("invalid uuid: {e}")))?)
        }
        ParameterValue::Jsonb(v) => Box::new(JsonBytes(v)),
        ParameterValue::Decimal(v) => Box::new(parse_decimal(&v)?),
        ParameterValue::ArrayInt32(v) => Box::new(v),
        ParameterValue::ArrayInt64(v) => Box::new(v),
        ParameterValue::ArrayStr(v) => Box::new(v),
        ParameterValue::ArrayDecimal(v) => {
            let parsed: Result<Vec<Option<rust_decimal::Decimal>>, PgError> =
                v.iter().map(|d| d.as_deref().map(parse_decimal).transpose()).collect();
            Box::new(parsed?)
        }
        ParameterValue::Interval(i) => Box::new(IntervalValue(i)),
        ParameterValue::DbNull => Box::new(Null),
        ParameterValue::RangeInt32((lower, upper)) => Box::new(RangeValue(lower, upper)),
        ParameterValue::RangeInt64((lower, upper)) => Box::new(RangeValue(lower, upper)),
        ParameterValue::RangeDecimal((lower, upper)) => {
            let bound = |b: Option<(String, RangeBoundKind)>| b.map(|(v, k)| Ok((parse_decimal(&v)?, k))).transpose();
            Box::new(RangeValue(bound(lower)?, bound(upper)?))
        }
    })
}

fn parse_decimal(s: &str) -> Result<rust_decimal::Decimal, PgError> {
    s.parse().map_err(|e| PgError::BadParameter(format!("invalid decimal `{s}`: {e}")))
}

#[derive(Debug)]
struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        Ok(IsNull::Yes)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// JSON bytes for a `jsonb` or `json` parameter.
#[derive(Debug)]
struct JsonBytes(Vec<u8>);

impl ToSql for JsonBytes {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(1);
        }
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
    to_sql_checked!();
}

/// A UTC instant, accepted for both `timestamp` and `timestamptz` (the interface's
/// `datetime` is documented as UTC without zone).
#[derive(Debug)]
struct UtcDateTime(NaiveDateTime);

impl ToSql for UtcDateTime {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::TIMESTAMPTZ {
            self.0.and_utc().to_sql(ty, out)
        } else {
            self.0.to_sql(ty, out)
        }
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }
    to_sql_checked!();
}

#[derive(Debug)]
struct IntervalValue(Interval);

impl ToSql for IntervalValue {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for IntervalValue {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        if raw.len() != 16 {
            return Err("bad interval".into());
        }
        Ok(IntervalValue(Interval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        }))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// The raw wire bytes of any value (for `unsupported`, enums and JSON).
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

// ---- columns ----------------------------------------------------------------------------

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

fn conversion(e: tokio_postgres::Error) -> PgError {
    PgError::ValueConversionFailed(e.to_string())
}

fn db_value(row: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<DbValue, PgError> {
    macro_rules! get {
        ($t:ty, $variant:expr) => {
            match row.try_get::<_, Option<$t>>(i).map_err(conversion)? {
                Some(v) => $variant(v),
                None => DbValue::DbNull,
            }
        };
    }
    Ok(match *ty {
        Type::BOOL => get!(bool, DbValue::Boolean),
        Type::CHAR => get!(i8, DbValue::Int8),
        Type::INT2 => get!(i16, DbValue::Int16),
        Type::INT4 => get!(i32, DbValue::Int32),
        Type::INT8 => get!(i64, DbValue::Int64),
        Type::FLOAT4 => get!(f32, DbValue::Floating32),
        Type::FLOAT8 => get!(f64, DbValue::Floating64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => get!(String, DbValue::Str),
        Type::BYTEA => get!(Vec<u8>, DbValue::Binary),
        Type::DATE => get!(NaiveDate, |d: NaiveDate| DbValue::Date((d.year(), d.month() as u8, d.day() as u8))),
        Type::TIME => get!(NaiveTime, |t: NaiveTime| DbValue::Time((
            t.hour() as u8,
            t.minute() as u8,
            t.second() as u8,
            t.nanosecond()
        ))),
        Type::TIMESTAMP => get!(NaiveDateTime, datetime),
        Type::TIMESTAMPTZ => {
            get!(chrono::DateTime<chrono::Utc>, |d: chrono::DateTime<chrono::Utc>| datetime(d.naive_utc()))
        }
        Type::UUID => get!(uuid::Uuid, |u: uuid::Uuid| DbValue::Uuid(u.to_string())),
        Type::JSONB | Type::JSON => {
            get!(serde_json::Value, |v: serde_json::Value| DbValue::Jsonb(serde_json::to_vec(&v).unwrap_or_default()))
        }
        Type::NUMERIC => match row.try_get::<_, Option<rust_decimal::Decimal>>(i) {
            Ok(Some(d)) => DbValue::Decimal(d.to_string()),
            Ok(None) => DbValue::DbNull,
            // Outside rust_decimal's range (or NaN): hand over the wire bytes rather than fail.
            Err(_) => get!(Raw, |r: Raw| DbValue::Unsupported(r.0)),
        },
        Type::INT4_ARRAY => get!(Vec<Option<i32>>, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get!(Vec<Option<i64>>, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get!(Vec<Option<rust_decimal::Decimal>>, |v: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get!(Vec<Option<String>>, DbValue::ArrayStr),
        Type::INTERVAL => get!(IntervalValue, |v: IntervalValue| DbValue::Interval(v.0)),
        Type::INT4_RANGE => get!(RangeValue<i32>, |r: RangeValue<i32>| DbValue::RangeInt32((r.0, r.1))),
        Type::INT8_RANGE => get!(RangeValue<i64>, |r: RangeValue<i64>| DbValue::RangeInt64((r.0, r.1))),
        Type::NUM_RANGE => get!(RangeValue<rust_decimal::Decimal>, |r: RangeValue<rust_decimal::Decimal>| {
            let text = |b: Option<(rust_decimal::Decimal, RangeBoundKind)>| b.map(|(d, k)| (d.to_string(), k));
            DbValue::RangeDecimal((text(r.0), text(r.1)))
        }),
        _ if matches!(ty.kind(), Kind::Enum(_)) => {
            get!(Raw, |r: Raw| DbValue::Str(String::from_utf8_lossy(&r.0).into_owned()))
        }
        _ => get!(Raw, |r: Raw| DbValue::Unsupported(r.0)),
    })
}

fn datetime(d: NaiveDateTime) -> DbValue {
    DbValue::Datetime((
        d.year(),
        d.month() as u8,
        d.day() as u8,
        d.hour() as u8,
        d.minute() as u8,
        d.second() as u8,
        d.nanosecond(),
    ))
}

// ---- ranges (int4range, int8range, numrange) ---------------------------------------------

/// A range in the interface's terms: each bound absent (unbounded) or a value with its kind.
/// An empty range reads as two absent bounds.
#[derive(Debug)]
struct RangeValue<T>(Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

/// A value that can be the bound of a range, with the range type it belongs to.
trait RangeElement: Sized + std::fmt::Debug + Sync {
    const RANGE: Type;
    fn encode(&self, out: &mut BytesMut) -> Result<(), Box<dyn StdError + Sync + Send>>;
    fn decode(raw: &[u8]) -> Result<Self, Box<dyn StdError + Sync + Send>>;
}

impl RangeElement for i32 {
    const RANGE: Type = Type::INT4_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), Box<dyn StdError + Sync + Send>> {
        out.put_i32(*self);
        Ok(())
    }
    fn decode(raw: &[u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(i32::from_be_bytes(raw.try_into()?))
    }
}

impl RangeElement for i64 {
    const RANGE: Type = Type::INT8_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), Box<dyn StdError + Sync + Send>> {
        out.put_i64(*self);
        Ok(())
    }
    fn decode(raw: &[u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(i64::from_be_bytes(raw.try_into()?))
    }
}

impl RangeElement for rust_decimal::Decimal {
    const RANGE: Type = Type::NUM_RANGE;
    fn encode(&self, out: &mut BytesMut) -> Result<(), Box<dyn StdError + Sync + Send>> {
        self.to_sql(&Type::NUMERIC, out).map(drop)
    }
    fn decode(raw: &[u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        rust_decimal::Decimal::from_sql(&Type::NUMERIC, raw)
    }
}

// The flags byte of PostgreSQL's binary range format.
const RANGE_EMPTY: u8 = 0x01;
const RANGE_LOWER_INCLUSIVE: u8 = 0x02;
const RANGE_UPPER_INCLUSIVE: u8 = 0x04;
const RANGE_LOWER_UNBOUNDED: u8 = 0x08;
const RANGE_UPPER_UNBOUNDED: u8 = 0x10;

impl<T: RangeElement> ToSql for RangeValue<T> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if *ty != T::RANGE {
            return Err(format!("a {} parameter cannot be written as {ty}", T::RANGE).into());
        }
        let flag = |b: &Option<(T, RangeBoundKind)>, unbounded: u8, inclusive: u8| match b {
            None => unbounded,
            Some((_, RangeBoundKind::Inclusive)) => inclusive,
            Some((_, RangeBoundKind::Exclusive)) => 0,
        };
        out.put_u8(
            flag(&self.0, RANGE_LOWER_UNBOUNDED, RANGE_LOWER_INCLUSIVE)
                | flag(&self.1, RANGE_UPPER_UNBOUNDED, RANGE_UPPER_INCLUSIVE),
        );
        for (value, _) in self.0.iter().chain(self.1.iter()) {
            let at = out.len();
            out.put_i32(0);
            value.encode(out)?;
            let len = i32::try_from(out.len() - at - 4)?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::INT4_RANGE || *ty == Type::INT8_RANGE || *ty == Type::NUM_RANGE
    }
    to_sql_checked!();
}

impl<'a, T: RangeElement> FromSql<'a> for RangeValue<T> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let (&flags, mut rest) = raw.split_first().ok_or("empty range value")?;
        if flags & RANGE_EMPTY != 0 {
            return Ok(RangeValue(None, None));
        }
        let mut bound = |unbounded: u8, inclusive: u8| -> Result<_, Box<dyn StdError + Sync + Send>> {
            if flags & unbounded != 0 {
                return Ok(None);
            }
            let len = i32::from_be_bytes(rest.get(..4).ok_or("short range value")?.try_into()?) as usize;
            let value = T::decode(rest.get(4..4 + len).ok_or("short range value")?)?;
            rest = &rest[4 + len..];
            let kind = if flags & inclusive != 0 { RangeBoundKind::Inclusive } else { RangeBoundKind::Exclusive };
            Ok(Some((value, kind)))
        };
        let lower = bound(RANGE_LOWER_UNBOUNDED, RANGE_LOWER_INCLUSIVE)?;
        let upper = bound(RANGE_UPPER_UNBOUNDED, RANGE_UPPER_INCLUSIVE)?;
        Ok(RangeValue(lower, upper))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == T::RANGE
    }
}

#[cfg(test)]
mod tests {
    //! A pool of one connection against the cluster `EDGE_TEST_PG` names (scripts/test sets
    //! it); skipped without it.

    use super::*;
    use crate::pool::Pool;
    use pgtransaction::Transaction;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    fn pool_of_one(test: &str) -> Option<Arc<Pool>> {
        let Ok(url) = std::env::var("EDGE_TEST_PG") else {
            eprintln!("{test}: skipped, EDGE_TEST_PG names no PostgreSQL cluster");
            return None;
        };
        Some(Pool::new(pgtls::Target::parse(&url).unwrap(), 1))
    }

    /// The first column of the first row, as text (`None` for NULL).
    async fn value(lease: &mut Lease, sql: &str) -> Option<String> {
        let rows = run_query(lease, sql, Vec::new(), false).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        match &rows.rows[0][0] {
            DbValue::DbNull => None,
            DbValue::Int32(n) => Some(n.to_string()),
            DbValue::Int64(n) => Some(n.to_string()),
            DbValue::Str(s) => Some(s.clone()),
            other => panic!("{sql}: {other:?}"),
        }
    }

    async fn execute(lease: &mut Lease, sql: &str) {
        run_execute(lease, sql, Vec::new()).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }

    /// Whether the lease's session is inside a transaction: two statements see the same
    /// transaction id only inside one.
    async fn in_transaction(lease: &mut Lease) -> bool {
        let first = value(lease, "SELECT txid_current()").await;
        value(lease, "SELECT txid_current_if_assigned()").await == first
    }

    #[tokio::test]
    async fn a_committed_transaction_gives_the_client_straight_back() {
        let Some(pool) = pool_of_one("a_committed_transaction_gives_the_client_straight_back") else { return };
        let mut lease = pool.acquire(false).await.unwrap();
        execute(&mut lease, "BEGIN").await;
        assert_eq!(lease.transaction, Transaction::BeginPending);
        execute(&mut lease, "SELECT pg_advisory_xact_lock(7248)").await;
        assert_eq!(lease.transaction, Transaction::Open);
        assert!(in_transaction(&mut lease).await, "BEGIN went out with the statement after it");
        execute(&mut lease, "COMMIT").await;
        assert_eq!(lease.transaction, Transaction::Idle);
        assert!(!in_transaction(&mut lease).await);
        drop(lease);
        let _again = pool.acquire(false).await.unwrap();
        assert_eq!(pool.stats.rolled_back.load(Ordering::Relaxed), 0);
        assert_eq!(pool.stats.reused.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_rolled_back_transaction_leaves_nothing_open() {
        let Some(pool) = pool_of_one("a_rolled_back_transaction_leaves_nothing_open") else { return };
        let mut lease = pool.acquire(false).await.unwrap();
        execute(&mut lease, "BEGIN").await;
        execute(&mut lease, "SELECT set_config('application_name', 'inside', false)").await;
        execute(&mut lease, "ROLLBACK").await;
        assert_eq!(lease.transaction, Transaction::Idle);
        assert!(!in_transaction(&mut lease).await);
        assert_eq!(value(&mut lease, "SELECT current_setting('application_name')").await.as_deref(), Some(""));
    }

    #[tokio::test]
    async fn a_client_given_back_inside_a_transaction_is_rolled_back_before_anyone_gets_it() {
        let Some(pool) = pool_of_one("a_client_given_back_inside_a_transaction_is_rolled_back_before_anyone_gets_it")
        else {
            return;
        };
        let mut lease = pool.acquire(false).await.unwrap();
        let backend = value(&mut lease, "SELECT pg_backend_pid()").await;
        execute(&mut lease, "BEGIN").await;
        execute(&mut lease, "SELECT set_config('role', 'pg_monitor', true), pg_advisory_xact_lock(7249)").await;
        execute(&mut lease, "SAVEPOINT item").await;
        execute(&mut lease, "ROLLBACK TO SAVEPOINT item").await;
        assert_eq!(lease.transaction, Transaction::Open, "still inside after ROLLBACK TO SAVEPOINT");
        drop(lease);

        // One connection: this waits until the rollback has given it back.
        let mut lease = pool.acquire(false).await.unwrap();
        assert_eq!(value(&mut lease, "SELECT pg_backend_pid()").await, backend, "the same connection");
        assert!(!in_transaction(&mut lease).await);
        assert_eq!(value(&mut lease, "SELECT current_setting('role')").await.as_deref(), Some("none"));
        let locks = "SELECT count(*)::int4 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'";
        assert_eq!(value(&mut lease, locks).await.as_deref(), Some("0"));
        assert_eq!(pool.stats.rolled_back.load(Ordering::Relaxed), 1);
        assert_eq!(pool.stats.created.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_client_whose_connection_died_is_discarded() {
        let Some(pool) = pool_of_one("a_client_whose_connection_died_is_discarded") else { return };
        let mut lease = pool.acquire(false).await.unwrap();
        let backend = value(&mut lease, "SELECT pg_backend_pid()").await;
        execute(&mut lease, "BEGIN").await;
        let _ = run_execute(&mut lease, "SELECT pg_terminate_backend(pg_backend_pid())", Vec::new()).await;
        while !lease.client().client.is_closed() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        drop(lease);
        let mut lease = pool.acquire(false).await.unwrap();
        assert_ne!(value(&mut lease, "SELECT pg_backend_pid()").await, backend, "a new connection");
        assert_eq!(pool.stats.discarded.load(Ordering::Relaxed), 1);
        assert_eq!(pool.stats.rolled_back.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_deferred_begin_goes_out_even_when_the_next_statement_is_refused() {
        let Some(pool) = pool_of_one("a_deferred_begin_goes_out_even_when_the_next_statement_is_refused") else {
            return;
        };
        let mut lease = pool.acquire(false).await.unwrap();
        execute(&mut lease, "BEGIN").await;
        // Refused here, before it reaches the server: as if BEGIN had been sent alone, the
        // transaction is open and goes on.
        let refused = run_execute(&mut lease, "SELECT $1::uuid", vec![ParameterValue::Uuid("not a uuid".into())]).await;
        assert!(matches!(refused, Err(PgError::BadParameter(_))), "{refused:?}");
        assert_eq!(lease.transaction, Transaction::Open);
        assert!(in_transaction(&mut lease).await);
        execute(&mut lease, "ROLLBACK").await;
    }
}
