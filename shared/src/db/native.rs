//! `spin_sdk::pg4::Connection`'s interface on tokio-postgres, for the handlers compiled
//! natively (feature `native`, used by bench/native only). It does what the edge host does
//! for a component (host/src/postgres.rs, pool.rs): pooled clients, prepared statements cached
//! per client, transactions tracked by the same state machine (`pgtransaction`: a bare `BEGIN`
//! sent together with the statement that follows, a client given back inside a transaction
//! rolled back first), the same value mapping, the same connection strings (`pgtls`: sslmode,
//! sslrootcert, rustls). The native baseline thus does the same database work as the component
//! in edge; only the isolation differs.
//!
//! Calls block the calling thread (handlers run on tokio's blocking pool): each pooled client
//! has its own single-threaded runtime, driven by the thread that uses it, so a query's I/O
//! happens on that thread, as a synchronous client's would, without a hand-off per statement.

#![allow(
    clippy::result_large_err,
    reason = "the error is spin:postgres's own error type, whose shape the interface fixes"
)]

use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use pgtransaction::{Outgoing, Transaction};
use spin_sdk::pg4::{Column, DbDataType, DbError, DbValue, Interval, ParameterValue, PgError, QueryError, RowSet};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, Statement};

/// Per database address, as in edge (`pool::DEFAULT_MAX_CONNECTIONS`).
const MAX_CONNECTIONS: usize = 25;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STATEMENT_CACHE: usize = 256;

struct Pooled {
    runtime: Runtime,
    client: Client,
    connection: Pin<Box<pgtls::Connection>>,
    statements: HashMap<String, Statement>,
    closed: bool,
}

impl Pooled {
    fn connect(target: &pgtls::Target) -> Result<Pooled, PgError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PgError::ConnectionFailed(format!("no runtime for the connection: {e}")))?;
        let (client, connection) = runtime
            .block_on(async { tokio::time::timeout(CONNECT_TIMEOUT, target.connect()).await })
            .map_err(|_| PgError::ConnectionFailed("timed out connecting to the database".into()))?
            .map_err(PgError::ConnectionFailed)?;
        Ok(Pooled { runtime, client, connection: Box::pin(connection), statements: HashMap::new(), closed: false })
    }

    /// Run `work` with the client while driving the connection's I/O on this thread.
    fn run<T>(
        &mut self,
        work: impl AsyncFnOnce(&Client, &mut HashMap<String, Statement>) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let Pooled { runtime, client, connection, statements, closed } = self;
        let work = work(client, statements);
        runtime.block_on(async {
            tokio::select! {
                biased;
                done = work => done,
                ended = connection.as_mut() => {
                    *closed = true;
                    Err(PgError::ConnectionFailed(match ended {
                        Ok(()) => "database connection closed".to_string(),
                        Err(e) => format!("database connection lost: {e}"),
                    }))
                }
            }
        })
    }
}

async fn prepare(client: &Client, cache: &mut HashMap<String, Statement>, sql: &str) -> Result<Statement, PgError> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let stmt = client.prepare(sql).await.map_err(query_error)?;
    if cache.len() >= STATEMENT_CACHE {
        cache.clear();
    }
    cache.insert(sql.to_string(), stmt.clone());
    Ok(stmt)
}

struct Pool {
    /// The connection string's settings, TLS included (sslmode / sslrootcert, as edge reads them).
    target: pgtls::Target,
    idle: Mutex<Vec<Pooled>>,
    /// Clients lent out; at most MAX_CONNECTIONS.
    lent: Mutex<usize>,
    returned: Condvar,
}

impl Pool {
    /// One of the MAX_CONNECTIONS places for a client lent out, waited for up to ACQUIRE_TIMEOUT.
    fn lend(self: &Arc<Self>) -> Result<Loan, PgError> {
        let lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        let (mut lent, wait) = self
            .returned
            .wait_timeout_while(lent, ACQUIRE_TIMEOUT, |n| *n >= MAX_CONNECTIONS)
            .unwrap_or_else(|e| e.into_inner());
        if wait.timed_out() && *lent >= MAX_CONNECTIONS {
            return Err(PgError::ConnectionFailed("timed out waiting for a free database connection".into()));
        }
        *lent += 1;
        Ok(Loan { pool: self.clone() })
    }
}

/// A place among the clients lent out, given back when dropped, on every path (a failed
/// connect, a panic, the end of the request).
struct Loan {
    pool: Arc<Pool>,
}

impl Drop for Loan {
    fn drop(&mut self) {
        *self.pool.lent.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        self.pool.returned.notify_one();
    }
}

fn pool_for(url: &str) -> Result<Arc<Pool>, PgError> {
    static POOLS: OnceLock<Mutex<HashMap<String, Arc<Pool>>>> = OnceLock::new();
    let mut pools = POOLS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(url) {
        return Ok(p.clone());
    }
    let target = pgtls::Target::parse(url).map_err(|e| PgError::ConnectionFailed(e.to_string()))?;
    let pool = Arc::new(Pool { target, idle: Mutex::new(Vec::new()), lent: Mutex::new(0), returned: Condvar::new() });
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}

struct State {
    client: Option<Pooled>,
    transaction: Transaction,
}

/// A pooled client lent to one request; back to the pool on drop (rolled back first if a
/// transaction is still open; discarded if closed).
pub struct Connection {
    state: RefCell<State>,
    /// Dropped after the client is back in the pool (fields drop after `Drop::drop`).
    loan: Loan,
}

impl Connection {
    pub fn open(url: &str) -> Result<Connection, PgError> {
        let pool = pool_for(url)?;
        let loan = pool.lend()?;
        let idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let client = match idle.filter(|c| !c.closed && !c.client.is_closed()) {
            Some(c) => c,
            None => Pooled::connect(&pool.target)?,
        };
        let state = RefCell::new(State { client: Some(client), transaction: Transaction::Idle });
        Ok(Connection { state, loan })
    }

    pub fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, PgError> {
        let Some(Answer::Rows(stmt, rows)) = self.run(statement, params, Asked::Rows)? else {
            return Ok(RowSet { columns: Vec::new(), rows: Vec::new() });
        };
        let columns: Vec<Column> = stmt
            .columns()
            .iter()
            .map(|c| Column { name: c.name().to_string(), data_type: data_type(c.type_()) })
            .collect();
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

    pub fn execute(&self, statement: &str, params: &[ParameterValue]) -> Result<u64, PgError> {
        match self.run(statement, params, Asked::Count)? {
            Some(Answer::Count(n)) => Ok(n),
            _ => Ok(0),
        }
    }

    /// Run `statement` as the transaction state says; `None` when nothing had to be sent.
    fn run(&self, statement: &str, params: &[ParameterValue], asked: Asked) -> Result<Option<Answer>, PgError> {
        let mut state = self.state.borrow_mut();
        let State { client, transaction } = &mut *state;
        let step = transaction.send(statement, params.len());
        let answer = match step.outgoing {
            Outgoing::Nothing => Ok(None),
            outgoing => {
                let begin_first = outgoing == Outgoing::BeginAndStatement;
                let pooled = client.as_mut().expect("a connection holds a client until dropped");
                pooled
                    .run(async |client, cache| send(client, cache, begin_first, statement, params, asked).await)
                    .map(Some)
            }
        };
        transaction.answered(step);
        answer
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Some(mut c) = state.client.take() {
            let clean = !state.transaction.must_roll_back()
                || c.run(async |client, _| client.batch_execute("ROLLBACK").await.map_err(query_error)).is_ok();
            if clean && !c.closed && !c.client.is_closed() {
                self.loan.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
            }
        }
    }
}

// ---- statements (as host/src/postgres.rs) ---------------------------------------------------

/// What a handler asked of a statement: `execute` wants the rows affected, `query` the rows.
enum Asked {
    Count,
    Rows,
}

enum Answer {
    Count(u64),
    Rows(Statement, Vec<tokio_postgres::Row>),
}

/// Prepare `statement`, convert its parameters and run it, after `BEGIN` when `begin_first`.
/// `BEGIN` is written first, before the statement is even prepared, in the same round trip:
/// whatever then becomes of the statement happens inside the transaction, as it would had
/// each been sent alone.
async fn send(
    client: &Client,
    cache: &mut HashMap<String, Statement>,
    begin_first: bool,
    statement: &str,
    params: &[ParameterValue],
    asked: Asked,
) -> Result<Answer, PgError> {
    let begin = if begin_first { Some(prepare(client, cache, "BEGIN").await?) } else { None };
    let began = async {
        match &begin {
            Some(begin) => client.execute(begin, &[]).await.map(drop),
            None => Ok(()),
        }
    };
    let done = async {
        let stmt = prepare(client, cache, statement).await?;
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

fn query_error(e: tokio_postgres::Error) -> PgError {
    if let Some(db) = e.as_db_error() {
        let mut extras = Vec::new();
        if let Some(c) = db.constraint() {
            extras.push(("constraint".to_string(), c.to_string()));
        }
        if let Some(t) = db.table() {
            extras.push(("table".to_string(), t.to_string()));
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

// ---- parameters ---------------------------------------------------------------------------

type Param = Box<dyn ToSql + Sync + Send>;

fn to_params(params: &[ParameterValue]) -> Result<Vec<Param>, PgError> {
    params.iter().cloned().map(to_param).collect()
}

fn bad(what: impl Into<String>) -> PgError {
    PgError::BadParameter(what.into())
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
            NaiveDate::from_ymd_opt(y, m.into(), d.into()).ok_or_else(|| bad(format!("invalid date {y}-{m}-{d}")))?,
        ),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(
            NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns).ok_or_else(|| bad("invalid time"))?,
        ),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date = NaiveDate::from_ymd_opt(y, mo.into(), d.into());
            let time = NaiveTime::from_hms_nano_opt(h.into(), mi.into(), s.into(), ns);
            match (date, time) {
                (Some(date), Some(time)) => Box::new(UtcDateTime(NaiveDateTime::new(date, time))),
                _ => return Err(bad("invalid datetime")),
            }
        }
        ParameterValue::Timestamp(v) => Box::new(v),
        ParameterValue::Uuid(v) => Box::new(uuid::Uuid::parse_str(&v).map_err(|e| bad(format!("invalid uuid: {e}")))?),
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
        ParameterValue::RangeInt32(_) | ParameterValue::RangeInt64(_) | ParameterValue::RangeDecimal(_) => {
            return Err(bad("range parameters are not supported"))
        }
    })
}

fn parse_decimal(s: &str) -> Result<rust_decimal::Decimal, PgError> {
    s.parse().map_err(|e| bad(format!("invalid decimal `{s}`: {e}")))
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

struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

// ---- columns ------------------------------------------------------------------------------

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
            Err(_) => get!(Raw, |r: Raw| DbValue::Unsupported(r.0)),
        },
        Type::INT4_ARRAY => get!(Vec<Option<i32>>, DbValue::ArrayInt32),
        Type::INT8_ARRAY => get!(Vec<Option<i64>>, DbValue::ArrayInt64),
        Type::NUMERIC_ARRAY => get!(Vec<Option<rust_decimal::Decimal>>, |v: Vec<Option<rust_decimal::Decimal>>| {
            DbValue::ArrayDecimal(v.into_iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => get!(Vec<Option<String>>, DbValue::ArrayStr),
        Type::INTERVAL => get!(IntervalValue, |v: IntervalValue| DbValue::Interval(v.0)),
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

#[cfg(test)]
mod tests {
    //! Against the cluster `EDGE_TEST_PG` names (`cargo test -p shared --features native`);
    //! skipped without it.

    use super::*;

    fn value(c: &Connection, sql: &str) -> Option<String> {
        let rows = c.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        match &rows.rows[0][0] {
            DbValue::DbNull => None,
            DbValue::Int32(n) => Some(n.to_string()),
            DbValue::Int64(n) => Some(n.to_string()),
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// Two statements see the same transaction id only inside a transaction.
    fn in_transaction(c: &Connection) -> bool {
        let first = value(c, "SELECT txid_current()");
        value(c, "SELECT txid_current_if_assigned()") == first
    }

    #[test]
    fn a_connection_dropped_inside_a_transaction_is_rolled_back_before_reuse() {
        let Ok(url) = std::env::var("EDGE_TEST_PG") else {
            eprintln!("skipped: EDGE_TEST_PG names no PostgreSQL cluster");
            return;
        };
        let c = Connection::open(&url).unwrap();
        c.execute("BEGIN", &[]).unwrap();
        c.execute("SELECT pg_advisory_xact_lock(7250)", &[]).unwrap();
        assert!(in_transaction(&c), "BEGIN went out with the statement after it");
        c.execute("SAVEPOINT item", &[]).unwrap();
        c.execute("ROLLBACK TO SAVEPOINT item", &[]).unwrap();
        let backend = value(&c, "SELECT pg_backend_pid()");
        drop(c);
        let c = Connection::open(&url).unwrap();
        assert_eq!(value(&c, "SELECT pg_backend_pid()"), backend, "the same connection");
        assert!(!in_transaction(&c));
        let locks = "SELECT count(*)::int4 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'";
        assert_eq!(value(&c, locks).as_deref(), Some("0"));
        c.execute("BEGIN", &[]).unwrap();
        c.execute("COMMIT", &[]).unwrap();
        assert!(!in_transaction(&c));
    }
}
