//! A Postgres connection pool shared by every request of every component.
//!
//! Components open a "connection" per request (`spin:postgres` `connection.open`); the host
//! hands out a pooled client instead of dialing, and takes it back when the component drops
//! the resource. A client returned inside an open transaction is rolled back first, and a
//! closed client (database restart) is discarded, so a request never inherits another's state.

use crate::bindings::spin::postgres::postgres::ParameterValue;
use pgtransaction::Transaction;
use pgvalue::StatementCache;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

/// How long a request waits for a free connection before the open fails.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long dialing a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct PooledClient {
    pub client: Client,
    /// Prepared statements of this connection.
    pub statements: StatementCache,
}

#[derive(Default)]
pub struct PoolStats {
    pub created: AtomicU64,
    pub acquired: AtomicU64,
    pub reused: AtomicU64,
    pub waited: AtomicU64,
    pub timeouts: AtomicU64,
    pub connect_errors: AtomicU64,
    pub discarded: AtomicU64,
    pub rolled_back: AtomicU64,
    pub acquire_micros_total: AtomicU64,
}

pub struct Pool {
    /// Where and how to connect: tokio-postgres's settings and the TLS ones (`pgtls`).
    target: pgtls::Target,
    idle: Mutex<Vec<PooledClient>>,
    permits: Arc<Semaphore>,
    /// Connections requests from clients may hold together: the rest is kept for calls between
    /// components, so a chained call never waits for a connection its own caller holds (a
    /// quote created with its PDF holds one while quote-pdf-generator needs another).
    client_permits: Arc<Semaphore>,
    max: usize,
    pub stats: PoolStats,
}

/// Connections of a pool kept for calls between components: a fifth, at least one.
pub fn reserved_for_chaining(max: usize) -> usize {
    (max / 5).max(1).min(max.saturating_sub(1))
}

/// A client on loan to one request; goes back to the pool on drop, rolled back first when the
/// request left a transaction open on it.
pub struct Lease {
    loan: Option<Loan>,
    pool: Arc<Pool>,
    /// Where the request's statements left the client's transaction.
    pub transaction: Transaction,
    /// Statements held for the next one (`pgtransaction::Outgoing::Held`); dropped with the lease.
    pub held: Vec<(String, Vec<ParameterValue>)>,
}

/// A client and the pool's permits for it. They go everywhere together, so the permits are
/// released (by drop) only once the client is back in the pool or gone, on every path: given
/// back, rolled back first in a task of its own, or discarded.
struct Loan {
    client: PooledClient,
    _permit: OwnedSemaphorePermit,
    /// A client request's share (none for a call between components).
    _client_permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    pub fn client(&mut self) -> &mut PooledClient {
        &mut self.loan.as_mut().expect("a lease holds its loan until dropped").client
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(loan) = self.loan.take() else { return };
        let pool = self.pool.clone();
        if loan.client.client.is_closed() {
            pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !self.transaction.must_roll_back() {
            pool.take_back(loan);
            return;
        }
        // Rolled back off the request path: the loan moves into the task, so the next request
        // waits for a permit until the client is back, clean.
        pool.stats.rolled_back.fetch_add(1, Ordering::Relaxed);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if loan.client.client.batch_execute("ROLLBACK").await.is_ok() {
                    pool.take_back(loan);
                } else {
                    pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
}

#[derive(Debug)]
pub enum AcquireError {
    Timeout,
    Connect(String),
}

impl Pool {
    pub fn new(target: pgtls::Target, max: usize) -> Arc<Pool> {
        Arc::new(Pool {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            client_permits: Arc::new(Semaphore::new(max - reserved_for_chaining(max))),
            max,
            stats: PoolStats::default(),
        })
    }

    /// A connection for a request; `chained` for a call from another component, which may
    /// also use the connections kept for such calls.
    pub async fn acquire(self: &Arc<Self>, chained: bool) -> Result<Lease, AcquireError> {
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + ACQUIRE_TIMEOUT;
        let client_permit = if chained { None } else { Some(self.wait_for(&self.client_permits, deadline).await?) };
        let permit = self.wait_for(&self.permits, deadline).await?;
        let reused = loop {
            let candidate = self.idle.lock().unwrap().pop();
            match candidate {
                Some(c) if c.client.is_closed() => {
                    self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
                other => break other,
            }
        };
        let client = match reused {
            Some(c) => {
                self.stats.reused.fetch_add(1, Ordering::Relaxed);
                c
            }
            None => self.connect().await?,
        };
        self.stats.acquired.fetch_add(1, Ordering::Relaxed);
        self.stats.acquire_micros_total.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(Lease {
            loan: Some(Loan { client, _permit: permit, _client_permit: client_permit }),
            pool: self.clone(),
            transaction: Transaction::Idle,
            held: Vec::new(),
        })
    }

    /// Put a loan's client back among the idle ones. Its permits are released after that, as
    /// the loan ends, so whoever they go to finds the client there.
    fn take_back(&self, loan: Loan) {
        let Loan { client, _permit, _client_permit } = loan;
        self.idle.lock().unwrap().push(client);
    }

    /// A permit of `permits`, waited for until `deadline`.
    async fn wait_for(
        &self,
        permits: &Arc<Semaphore>,
        deadline: tokio::time::Instant,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        if let Ok(p) = permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        self.stats.waited.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout_at(deadline, permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => {
                self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                Err(AcquireError::Timeout)
            }
        }
    }

    async fn connect(&self) -> Result<PooledClient, AcquireError> {
        let connecting = self.target.connect();
        let (client, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(why)) => {
                self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                return Err(AcquireError::Connect(why));
            }
            Err(_) => {
                self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                return Err(AcquireError::Connect("timed out connecting to the database".into()));
            }
        };
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.stats.created.fetch_add(1, Ordering::Relaxed);
        Ok(PooledClient { client, statements: StatementCache::default() })
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().len()
    }

    pub fn in_use(&self) -> usize {
        self.max - self.permits.available_permits()
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Where the pool connects.
    pub fn target(&self) -> &pgtls::Target {
        &self.target
    }
}

/// Pools by connection string, created on first use.
pub struct Pools {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    /// Connections per database address (`pg_pool_size` in `[application.tool.edge]`); unset,
    /// as `pgvalue::pool_size` sizes it for where the database is.
    max_connections: Option<usize>,
}

impl Pools {
    pub fn new(max_connections: Option<usize>) -> Pools {
        Pools { pools: Mutex::new(HashMap::new()), max_connections: max_connections.map(|n| n.max(1)) }
    }

    /// The pool of `address`, if it has been used. Every request opens its connection through
    /// here, so the address is parsed (and TLS set up, which may read a CA file) only once, by
    /// [`Pools::create`].
    pub fn get(&self, address: &str) -> Option<Arc<Pool>> {
        self.pools.lock().unwrap().get(address).cloned()
    }

    /// The pool of `address`, sized for where the database is unless `pg_pool_size` is set.
    pub fn create(&self, address: &str, target: pgtls::Target) -> Arc<Pool> {
        let mut pools = self.pools.lock().unwrap();
        let max = self.max_connections.unwrap_or_else(|| pgvalue::pool_size(target.on_this_machine()));
        pools.entry(address.to_string()).or_insert_with(|| Pool::new(target, max)).clone()
    }

    pub fn all(&self) -> Vec<(String, Arc<Pool>)> {
        self.pools.lock().unwrap().iter().map(|(k, v)| (redact(k), v.clone())).collect()
    }
}

/// How a pool is named where anyone may read it (`/.well-known/edge/metrics`): a label that
/// tells the pools of this process apart and says nothing else (not even the database name). The label is an HMAC of the address
/// under a key drawn at random when the process starts: a plain hash of
/// `postgres://USER@HOST:PORT/DB` can be recovered by hashing likely addresses (a few hundred
/// guesses for a default setup), a keyed one cannot. It stays the same while the process
/// runs and changes with a restart, as the counters themselves do. Where the database is
/// stays in the service-role figures (`/.well-known/edge/pool`). `redacted` comes from
/// [`redact`].
pub fn public_label(redacted: &str) -> String {
    use hmac::{Hmac, Mac};
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(process_key);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(redacted.as_bytes());
    credentials::encoding::hex(&mac.finalize().into_bytes()[..4])
}

/// 32 random bytes from the operating system, for [`public_label`]'s key. Nothing is stored;
/// a new process draws a new key.
fn process_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    // SAFETY: getrandom writes at most `key.len()` bytes into `key`.
    let n = unsafe { libc::getrandom(key.as_mut_ptr().cast(), key.len(), 0) };
    assert_eq!(n, key.len() as isize, "the operating system gives random bytes");
    key
}

/// A connection string with its password removed, for logs and the administrators' figures
/// (its `sslmode` kept: whether the pool's connections are encrypted and checked).
pub fn redact(address: &str) -> String {
    match pgtls::settings(address) {
        Ok((c, sslmode)) => {
            let host = c.get_hosts().first().map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            });
            format!(
                "postgres://{}@{}:{}/{}{}",
                c.get_user().unwrap_or(""),
                host.unwrap_or_default(),
                c.get_ports().first().copied().unwrap_or(5432),
                c.get_dbname().unwrap_or(""),
                if sslmode == pgtls::SslMode::Prefer {
                    String::new()
                } else {
                    format!("?sslmode={}", sslmode.as_str())
                }
            )
        }
        Err(_) => "postgres://(unparsable)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_label_reveals_nothing_guessable() {
        let redacted = redact("postgres://app:s3cret@db.internal:6543/quotekit");
        assert_eq!(redacted, "postgres://app@db.internal:6543/quotekit");
        assert_eq!(
            redact("postgres://app:s3cret@db.internal:6543/quotekit?sslmode=verify-full&sslrootcert=/etc/ca.pem"),
            "postgres://app@db.internal:6543/quotekit?sslmode=verify-full"
        );
        let label = public_label(&redacted);
        assert_eq!(label.len(), 8);
        assert!(label.bytes().all(|b| b.is_ascii_hexdigit()));
        // Not the unkeyed fingerprint, which anyone can compute from a guessed address.
        use sha2::{Digest, Sha256};
        let unkeyed = credentials::encoding::hex(&Sha256::digest(redacted.as_bytes())[..4]);
        assert_ne!(label, unkeyed);
        // Stable within the process; two addresses of one database name stay apart.
        assert_eq!(public_label(&redacted), label);
        let other = public_label(&redact("postgres://app@db-2.internal:6543/quotekit"));
        assert_ne!(label, other);
        // Another process (another key) labels the same address differently.
        assert_ne!(process_key(), process_key());
    }
}
