//! Connection hygiene: how many connections the host keeps, in all and per client address,
//! and how long a connection may hold them without making progress. A client that opens
//! connections and never finishes a head, never reads an answer, or sits idle cannot exhaust
//! descriptors, memory or request slots.
//!
//! - A request head must arrive within `header_timeout` of the connection opening or of the
//!   previous answer (hyper's header timer, which also runs while a kept-alive connection is
//!   idle).
//! - A body must arrive within `body_timeout` and never fall below `min_body_rate` (the
//!   server reads it before the request takes a slot; see `server::read_body`).
//! - Written bytes must be taken by the client within `write_timeout` ([`Guarded`]).
//! - At a cap, the oldest idle connection of the address holding the most connections is
//!   closed to make room; only when none is idle is the new connection refused.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Sleep;

#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    pub max_total: usize,
    pub max_per_address: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Bytes per second a body must keep up after its first second.
    pub min_body_rate: u64,
    pub write_timeout: Duration,
    pub max_body_bytes: u64,
    pub body_budget_bytes: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_total: 16_384,
            max_per_address: 4_096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            min_body_rate: 1024,
            write_timeout: Duration::from_secs(15),
            max_body_bytes: 8 << 20,
            body_budget_bytes: 256 << 20,
        }
    }
}

impl ConnectionLimits {
    /// Fit the connection caps under the descriptor limit, keeping `reserve` descriptors for
    /// the database pool, outbound calls and files.
    pub fn fit_descriptors(&mut self, descriptors: u64, reserve: u64) {
        let room = descriptors.saturating_sub(reserve).max(16) as usize;
        self.max_total = self.max_total.min(room);
        self.max_per_address = self.max_per_address.min(self.max_total);
    }
}

/// Raise the soft limit on open files to the hard limit; the limit in effect.
pub fn raise_descriptor_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

#[derive(Default)]
pub struct ConnectionStats {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub evicted: AtomicU64,
    pub write_timeouts: AtomicU64,
    pub slow_bodies: AtomicU64,
}

/// One open connection, as the tracker sees it.
pub struct Connection {
    id: u64,
    address: IpAddr,
    /// Requests of this connection being served (head read, answer not yet fully written).
    busy: AtomicUsize,
    closing: AtomicBool,
    close: Notify,
}

impl Connection {
    /// Marks the connection busy until the guard is dropped (with the answer's body).
    pub fn busy(self: &Arc<Self>) -> BusyGuard {
        self.busy.fetch_add(1, Ordering::AcqRel);
        BusyGuard(self.clone())
    }

    /// Resolves when the tracker wants this connection closed to make room.
    pub async fn evicted(&self) {
        self.close.notified().await
    }
}

pub struct BusyGuard(Arc<Connection>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct Open {
    /// By id, which is also age order.
    all: BTreeMap<u64, Arc<Connection>>,
    per_address: HashMap<IpAddr, usize>,
}

pub struct Connections {
    pub limits: ConnectionLimits,
    next_id: AtomicU64,
    open: Mutex<Open>,
    pub stats: ConnectionStats,
}

/// A connection admitted by [`Connections::admit`]; leaves the count when dropped.
pub struct Admitted {
    pub connection: Arc<Connection>,
    connections: Arc<Connections>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap();
        open.all.remove(&self.connection.id);
        if let Some(n) = open.per_address.get_mut(&self.connection.address) {
            *n -= 1;
            if *n == 0 {
                open.per_address.remove(&self.connection.address);
            }
        }
    }
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
            stats: Default::default(),
        })
    }

    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap().all.len()
    }

    /// Admit a connection from `address`, closing an idle one to make room at a cap; `None`
    /// when every connection in the way is busy.
    pub fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap();
        let from_address = open.per_address.get(&address).copied().unwrap_or(0);
        let room = if from_address >= self.limits.max_per_address {
            Self::evict_idle(&open, address)
        } else if open.all.len() >= self.limits.max_total {
            let busiest = open.per_address.iter().max_by_key(|(_, n)| **n).map(|(a, _)| *a);
            busiest.is_some_and(|a| Self::evict_idle(&open, a))
        } else {
            true
        };
        if !room {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection {
            id,
            address,
            busy: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        });
        open.all.insert(id, connection.clone());
        *open.per_address.entry(address).or_insert(0) += 1;
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        Some(Admitted { connection, connections: self.clone() })
    }

    /// Close the oldest idle connection of `address`; whether there was one.
    fn evict_idle(open: &Open, address: IpAddr) -> bool {
        let victim = open.all.values().find(|c| {
            c.address == address && c.busy.load(Ordering::Acquire) == 0 && !c.closing.load(Ordering::Acquire)
        });
        match victim {
            Some(c) => {
                c.closing.store(true, Ordering::Release);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    pub fn note_eviction(&self) {
        self.stats.evicted.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream whose writes fail once the peer has taken nothing for `write_timeout`: a client
/// that never reads its answer loses the connection instead of holding it (and the memory of
/// the unsent answer) forever.
pub struct Guarded<S> {
    inner: S,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    connections: Arc<Connections>,
}

impl<S> Guarded<S> {
    pub fn new(inner: S, connections: Arc<Connections>) -> Guarded<S> {
        let write_timeout = connections.limits.write_timeout;
        Guarded { inner, write_timeout, stalled: None, connections }
    }

    /// Called when a write made no progress: fails once the stall has lasted too long.
    fn stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.write_timeout;
        let sleep = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.connections.stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "the client took nothing for too long"))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stall(cx).map(Err),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stall(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(r) => {
                self.stalled = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stall(cx).map(Err),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ConnectionLimits {
        ConnectionLimits { max_total: total, max_per_address: per_address, ..Default::default() }
    }

    #[test]
    fn an_address_at_its_cap_gives_up_its_oldest_idle_connection() {
        let tracker = Connections::new(limits(100, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = tracker.admit(a).unwrap();
        let second = tracker.admit(a).unwrap();
        let _busy = second.connection.busy();
        let third = tracker.admit(a).expect("room made by closing the idle one");
        assert!(first.connection.closing.load(Ordering::Acquire));
        assert!(!second.connection.closing.load(Ordering::Acquire));
        // Everything in the way is busy or already closing: refused.
        let _busy3 = third.connection.busy();
        assert!(tracker.admit(a).is_none());
        // Another address is not affected.
        assert!(tracker.admit("10.0.0.2".parse().unwrap()).is_some());
    }

    #[test]
    fn at_the_global_cap_the_busiest_address_makes_room() {
        let tracker = Connections::new(limits(3, 3));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = tracker.admit(a).unwrap();
        let _a2 = tracker.admit(a).unwrap();
        let b1 = tracker.admit(b).unwrap();
        let _b1_busy = b1.connection.busy();
        assert!(tracker.admit(b).is_some());
        assert!(a1.connection.closing.load(Ordering::Acquire), "the busiest address's oldest idle connection closes");
    }

    #[test]
    fn a_closed_connection_leaves_the_count() {
        let tracker = Connections::new(limits(1, 1));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = tracker.admit(a).unwrap();
        let _busy = first.connection.busy();
        assert!(tracker.admit(a).is_none());
        drop(_busy);
        drop(first);
        assert_eq!(tracker.open_count(), 0);
        assert!(tracker.admit(a).is_some());
    }

    #[test]
    fn descriptors_bound_the_connection_caps() {
        let mut l = ConnectionLimits::default();
        l.fit_descriptors(1024, 256);
        assert_eq!(l.max_total, 768);
        assert!(l.max_per_address <= 768);
    }
}
