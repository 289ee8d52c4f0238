//! `spin:postgres/postgres@4.0.0` for components, on tokio-postgres and the shared pool.
//!
//! The values, errors and the sending of a statement are `pgvalue`'s (shared with
//! bench/native), which maps them as Spin's own implementation does: parameters must match the
//! statement's parameter types (a `str` for a `uuid` parameter is a bad parameter, as on Spin),
//! and columns come back as the `db-value` of their type (`unsupported` with the raw bytes for
//! types outside the interface). Here: the pool, allowed_outbound_hosts, the transaction state
//! of a lease, and the Spin-compatibility check.

#![allow(
    clippy::result_large_err,
    reason = "the error is spin:postgres's own error type, whose shape the interface fixes"
)]

use crate::bindings::spin::postgres::postgres::{self as pg, Error as PgError, ParameterValue, QueryError, RowSet};
use crate::pool::{AcquireError, Lease, PooledClient};
use crate::state::RequestState;
use pgtransaction::Outgoing;
use pgvalue::{Answer, Asked};
use tokio_postgres::types::Type;
use tokio_postgres::Statement;
use wasmtime::component::Resource;

/// The `connection` resource: a pooled client lent to the request.
pub struct Connection {
    lease: Lease,
}

impl pg::Host for RequestState {}

impl RequestState {
    /// Whether this component may connect where `config` points (`allowed_outbound_hosts`).
    fn permitted(&self, config: &tokio_postgres::Config) -> Result<(), PgError> {
        let port = config.get_ports().first().copied().unwrap_or(5432);
        for host in config.get_hosts() {
            let name = match host {
                tokio_postgres::config::Host::Tcp(h) => std::borrow::Cow::Borrowed(h.as_str()),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => std::borrow::Cow::Owned(p.display().to_string()),
            };
            if !self.component.outbound.allows("postgres", &name, Some(port)) {
                self.log(&format!("postgres://{name}:{port} refused: not in allowed_outbound_hosts"));
                return Err(PgError::ConnectionFailed(format!(
                    "address postgres://{name}:{port} is not permitted: add it to allowed_outbound_hosts"
                )));
            }
        }
        Ok(())
    }
}

impl pg::HostConnection for RequestState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<Connection>, PgError>> {
        let pool = match self.shared.pools.get(&address) {
            Some(pool) => pool,
            None => {
                let target = match pgtls::Target::parse(&address) {
                    Ok(target) => target,
                    Err(e) => return Ok(Err(PgError::ConnectionFailed(e.to_string()))),
                };
                if let Err(refused) = self.permitted(&target.config) {
                    return Ok(Err(refused));
                }
                self.shared.pools.create(&address, target)
            }
        };
        // Components share the pools: each must be allowed the address itself.
        if let Err(refused) = self.permitted(&pool.target().config) {
            return Ok(Err(refused));
        }
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

pgvalue::spin_postgres! {
    /// The interface's values, errors and statements over wasmtime's bindings.
    mod values {
        types: crate::bindings::spin::postgres::postgres,
        error: crate::bindings::spin::postgres::postgres::Error,
    }
}

/// Run `statement` on the lease's client as its transaction state says (see `pgtransaction`:
/// a bare `BEGIN`, and the transaction-local settings after it, wait for the next statement);
/// `None` when nothing had to be sent. The state
/// moves on once the server has answered: a request stopped meanwhile leaves it where the
/// client is rolled back.
async fn run(
    lease: &mut Lease,
    statement: &str,
    params: Vec<ParameterValue>,
    asked: Asked,
) -> Result<Option<Answer>, PgError> {
    let step = lease.transaction.send(statement, params.len(), asked == Asked::Rows);
    let answer = match step.outgoing {
        Outgoing::Nothing => Ok(None),
        // A transaction-local setting after BEGIN: one row, as the server will answer it.
        Outgoing::Held => {
            lease.held.push((statement.to_string(), params));
            Ok(Some(Answer::Count(1)))
        }
        outgoing => {
            let begin_first = outgoing == Outgoing::BeginAndStatement;
            let held = std::mem::take(&mut lease.held);
            let PooledClient { client, statements } = lease.client();
            values::send(client, statements, begin_first, held, statement, params, asked).await.map(Some)
        }
    };
    lease.transaction.answered(step);
    answer
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
    values::row_set(&stmt, &rows)
}

#[cfg(test)]
mod tests {
    //! A pool of one connection against the cluster `EDGE_TEST_PG` names (scripts/test sets
    //! it); skipped without it.

    use super::*;
    use crate::bindings::spin::postgres::postgres::DbValue;
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
