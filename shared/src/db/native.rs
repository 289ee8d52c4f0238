//! `spin_sdk::pg4::Connection`'s interface on tokio-postgres, for the handlers compiled
//! natively (feature `native`, used by bench/native only). It does what the edge host does
//! for a component (host/src/postgres.rs, pool.rs): pooled clients, prepared statements cached
//! per client, transactions tracked by the same state machine (`pgtransaction`: a bare `BEGIN`
//! sent together with the statement that follows, a client given back inside a transaction
//! rolled back first), the same values, errors and sending of a statement (`pgvalue`, here
//! over spin-sdk's `pg4` types), the same connection strings (`pgtls`: sslmode, sslrootcert,
//! rustls). The native baseline thus does the same database work as the component in edge;
//! only the isolation differs.
//!
//! Calls block the calling thread (handlers run on tokio's blocking pool): each pooled client
//! has its own single-threaded runtime, driven by the thread that uses it, so a query's I/O
//! happens on that thread, as a synchronous client's would, without a hand-off per statement.

#![allow(
    clippy::result_large_err,
    reason = "the error is spin:postgres's own error type, whose shape the interface fixes"
)]

use pgtransaction::{Outgoing, Transaction};
use pgvalue::{Answer, Asked, StatementCache};
use spin_sdk::pg4::{ParameterValue, PgError, RowSet};
use std::cell::RefCell;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio_postgres::Client;

pgvalue::spin_postgres! {
    /// The interface's values, errors and statements over spin-sdk's `pg4` types.
    mod values {
        types: spin_sdk::pg4,
        error: spin_sdk::pg4::PgError,
    }
}

const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Pooled {
    runtime: Runtime,
    client: Client,
    connection: Pin<Box<pgtls::Connection>>,
    statements: StatementCache,
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
        Ok(Pooled {
            runtime,
            client,
            connection: Box::pin(connection),
            statements: StatementCache::default(),
            closed: false,
        })
    }

    /// Run `work` with the client while driving the connection's I/O on this thread.
    fn run<T>(
        &mut self,
        work: impl AsyncFnOnce(&Client, &mut StatementCache) -> Result<T, PgError>,
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

struct Pool {
    /// The connection string's settings, TLS included (sslmode / sslrootcert, as edge reads them).
    target: pgtls::Target,
    idle: Mutex<Vec<Pooled>>,
    /// Clients lent at once, at most: as edge sizes its pool (`pgvalue::pool_size`).
    max: usize,
    /// Clients lent out; at most `max`.
    lent: Mutex<usize>,
    returned: Condvar,
}

impl Pool {
    /// One of the `max` places for a client lent out, waited for up to ACQUIRE_TIMEOUT.
    fn lend(self: &Arc<Self>) -> Result<Loan, PgError> {
        let lent = self.lent.lock().unwrap_or_else(|e| e.into_inner());
        let (mut lent, wait) = self
            .returned
            .wait_timeout_while(lent, ACQUIRE_TIMEOUT, |n| *n >= self.max)
            .unwrap_or_else(|e| e.into_inner());
        if wait.timed_out() && *lent >= self.max {
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
    let max = pgvalue::pool_size(target.on_this_machine());
    let pool =
        Arc::new(Pool { target, idle: Mutex::new(Vec::new()), max, lent: Mutex::new(0), returned: Condvar::new() });
    pools.insert(url.to_string(), pool.clone());
    Ok(pool)
}

struct State {
    client: Option<Pooled>,
    transaction: Transaction,
    /// Statements held for the next one (`pgtransaction::Outgoing::Held`).
    held: Vec<(String, Vec<ParameterValue>)>,
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
        let state = RefCell::new(State { client: Some(client), transaction: Transaction::Idle, held: Vec::new() });
        Ok(Connection { state, loan })
    }

    pub fn query(&self, statement: &str, params: &[ParameterValue]) -> Result<RowSet, PgError> {
        let Some(Answer::Rows(stmt, rows)) = self.run(statement, params, Asked::Rows)? else {
            return Ok(RowSet { columns: Vec::new(), rows: Vec::new() });
        };
        values::row_set(&stmt, &rows)
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
        let State { client, transaction, held } = &mut *state;
        let step = transaction.send(statement, params.len(), asked == Asked::Rows);
        let answer = match step.outgoing {
            Outgoing::Nothing => Ok(None),
            Outgoing::Held => {
                held.push((statement.to_string(), params.to_vec()));
                Ok(Some(Answer::Count(1)))
            }
            outgoing => {
                let begin_first = outgoing == Outgoing::BeginAndStatement;
                let held = std::mem::take(held);
                let pooled = client.as_mut().expect("a connection holds a client until dropped");
                let params = params.to_vec();
                pooled
                    .run(async |client, statements| {
                        values::send(client, statements, begin_first, held, statement, params, asked).await
                    })
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
                || c.run(async |client, _| client.batch_execute("ROLLBACK").await.map_err(values::query_error)).is_ok();
            if clean && !c.closed && !c.client.is_closed() {
                self.loan.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against the cluster `EDGE_TEST_PG` names (`cargo test -p shared --features native`);
    //! skipped without it.

    use super::*;
    use spin_sdk::pg4::DbValue;

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
