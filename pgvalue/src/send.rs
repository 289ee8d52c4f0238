//! Sending one statement: prepared once per connection, and after a deferred `BEGIN` and the
//! statements held for it in the same round trip when the transaction state (`pgtransaction`)
//! says so.

use crate::Param;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// Connections to a database elsewhere, per pool, unless configured.
pub const REMOTE_POOL_SIZE: usize = 25;

/// How many connections a pool keeps to a database, unless configured. On this machine
/// (`on_this_machine`), two per core and one more: PostgreSQL then shares the cores with the
/// callers, and more connections than it can run at once cost it CPU rather than add
/// throughput. Measured on two cores with subscription-status's statements (pgbench), 25
/// connections cost 0.69–0.73 ms of the database's CPU per request against 0.27 ms with 4
/// (2,600 requests/s against 6,500); edge at 50 client connections answered 15–20 % more
/// requests with 5 than with 25. Elsewhere the server's cores are unknown and each statement
/// waits on the network: [`REMOTE_POOL_SIZE`].
pub fn pool_size(on_this_machine: bool) -> usize {
    if on_this_machine {
        2 * cores() + 1
    } else {
        REMOTE_POOL_SIZE
    }
}

/// The cores this process may use, read once: the standard library reads the cgroup's files
/// (`cpu.max`) at every call.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Prepared statements of one connection.
#[derive(Default)]
pub struct StatementCache(HashMap<String, Statement>);

impl StatementCache {
    /// A prepared statement for `sql` on `client` (the connection this cache belongs to),
    /// from the cache when possible.
    pub async fn prepare(&mut self, client: &Client, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let stmt = client.prepare(sql).await?;
        if self.0.len() >= STATEMENT_CACHE {
            self.0.clear();
        }
        self.0.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

/// What was asked of a statement: `execute` wants the rows affected, `query` the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Count,
    Rows,
}

/// The server's answer to a statement, as [`Asked`].
pub enum Answer {
    Count(u64),
    Rows(Statement, Vec<Row>),
}

/// A statement held for the next round trip (see `pgtransaction::Outgoing::Held`), with its
/// parameters converted.
pub type Held = (String, Vec<Param>);

/// What goes out ahead of a statement, in the same write: a deferred `BEGIN`, then the
/// statements held after it.
#[derive(Default)]
pub struct Ahead {
    pub begin: bool,
    pub held: Vec<Held>,
}

/// Prepare `statement`, convert its parameters (`params`, an error `E` when one is refused) and
/// run it, after what goes `ahead` of it; `query_error` says what a tokio-postgres error is.
/// `BEGIN` is written first, before the statement is even prepared, then the held statements,
/// in the same round trip: whatever then becomes of the
/// statement (refused by the server, or its parameters refused here) happens inside the
/// transaction, as it would had each been sent alone. The first error in that order is the
/// answer: a refused held statement is, and the statement after it is not run.
pub async fn send<E>(
    client: &Client,
    statements: &mut StatementCache,
    ahead: Ahead,
    statement: &str,
    params: impl FnOnce() -> Result<Vec<Param>, E>,
    asked: Asked,
    query_error: fn(tokio_postgres::Error) -> E,
) -> Result<Answer, E> {
    let Ahead { begin: begin_first, held } = ahead;
    let begin = if begin_first { Some(statements.prepare(client, "BEGIN").await.map_err(query_error)?) } else { None };
    // Prepared before anything is written (the same few texts each time: cached), so that each
    // goes out at its turn.
    let mut settings = Vec::with_capacity(held.len());
    for (sql, params) in &held {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        settings.push((statements.prepare(client, sql).await.map_err(query_error)?, refs));
    }
    let began = async {
        match &begin {
            Some(begin) => client.execute(begin, &[]).await.map(drop),
            None => Ok(()),
        }
    };
    let settled = futures::future::join_all(settings.iter().map(|(stmt, refs)| client.execute(stmt, refs)));
    let done = async {
        let stmt = statements.prepare(client, statement).await.map_err(query_error)?;
        let params = params()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect();
        match asked {
            Asked::Count => client.execute(&stmt, &refs).await.map(Answer::Count),
            Asked::Rows => client.query(&stmt, &refs).await.map(|rows| Answer::Rows(stmt, rows)),
        }
        .map_err(query_error)
    };
    // Polled in this order, `began` writes BEGIN, then `settled` the held statements (each
    // future of `join_all` in turn), before `done` writes anything.
    let (began, settled, done) = tokio::join!(began, settled, done);
    began.map_err(query_error)?;
    for answer in settled {
        answer.map_err(query_error)?;
    }
    done
}
