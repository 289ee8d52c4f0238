//! Sharing the cores between guests.
//!
//! Guest code runs on the server's async worker threads. Left alone, a guest that computes for
//! seconds holds its thread, and with one such guest per core nothing else runs: no accept, no
//! other connection, no timer, so not even the time limit. So every instance is interrupted at
//! each epoch tick and yields to the scheduler (its deadline is checked there too), and an
//! instance that has computed for more than [`HEAVY_AFTER`] in all computes only while it holds
//! a permit of the *heavy lane*, which has one permit fewer than there are cores (at least
//! one). Heavy requests take turns a tick at a time and never occupy every core, so accepts,
//! the host's own endpoints and ordinary requests keep a core.
//!
//! Computing time is measured, not guessed: [`Metered`] times each poll of the instance's
//! future (the guest's code and the host calls it makes synchronously), and the lane permit is
//! given back whenever the instance waits (for PostgreSQL, say), so a heavy request waiting on
//! I/O does not hold the lane.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// Computing time after which a request counts as heavy.
pub const HEAVY_AFTER: Duration = Duration::from_millis(10);

/// The heavy lane: permits to compute for requests past [`HEAVY_AFTER`].
#[derive(Clone)]
pub struct HeavyLane {
    permits: Arc<Semaphore>,
    size: usize,
}

impl HeavyLane {
    /// One permit fewer than the cores this process may use, at least one.
    pub fn for_this_machine() -> HeavyLane {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HeavyLane::new(cores.saturating_sub(1).max(1))
    }

    pub fn new(size: usize) -> HeavyLane {
        HeavyLane { permits: Arc::new(Semaphore::new(size)), size }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Heavy requests computing right now.
    pub fn in_use(&self) -> usize {
        self.size - self.permits.available_permits()
    }
}

/// The computing time of one instance, and its place in the heavy lane.
pub struct Meter {
    lane: HeavyLane,
    origin: Instant,
    /// Nanoseconds spent inside polls that have ended.
    busy_nanos: AtomicU64,
    /// When the current poll began (nanoseconds after `origin`, plus one); 0 between polls.
    poll_began: AtomicU64,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Meter {
    pub fn new(lane: HeavyLane) -> Arc<Meter> {
        Arc::new(Meter {
            lane,
            origin: Instant::now(),
            busy_nanos: AtomicU64::new(0),
            poll_began: AtomicU64::new(0),
            permit: Mutex::new(None),
        })
    }

    fn now_nanos(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Computing time so far, the current poll included.
    pub fn busy(&self) -> Duration {
        let mut nanos = self.busy_nanos.load(Ordering::Relaxed);
        let began = self.poll_began.load(Ordering::Relaxed);
        if began > 0 {
            nanos += self.now_nanos().saturating_sub(began - 1);
        }
        Duration::from_nanos(nanos)
    }

    fn release_lane(&self) {
        self.permit.lock().unwrap().take();
    }

    /// What an instance does at an epoch tick: yield, and once heavy, give its lane permit to
    /// the next heavy request in line and queue for one again.
    pub fn on_tick(self: &Arc<Self>) -> UpdateDeadline {
        if self.busy() < HEAVY_AFTER {
            return UpdateDeadline::Yield(1);
        }
        self.release_lane();
        let meter = self.clone();
        UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                tokio::task::yield_now().await;
                if let Ok(permit) = meter.lane.permits.clone().acquire_owned().await {
                    *meter.permit.lock().unwrap() = Some(permit);
                }
            }),
        )
    }
}

/// An instance's future, timed poll by poll into its [`Meter`].
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<Meter>,
}

impl<F: Future> Metered<F> {
    pub fn new(inner: F, meter: Arc<Meter>) -> Metered<F> {
        Metered { inner: Box::pin(inner), meter }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let began = self.meter.now_nanos();
        self.meter.poll_began.store(began + 1, Ordering::Relaxed);
        let result = self.inner.as_mut().poll(cx);
        let ended = self.meter.now_nanos();
        self.meter.poll_began.store(0, Ordering::Relaxed);
        self.meter.busy_nanos.fetch_add(ended.saturating_sub(began), Ordering::Relaxed);
        if result.is_pending() {
            // Waiting (on I/O, a timer, or the lane itself): the lane is for computing.
            self.meter.release_lane();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin_for(d: Duration) {
        let t = Instant::now();
        while t.elapsed() < d {
            std::hint::spin_loop();
        }
    }

    #[tokio::test]
    async fn computing_time_counts_polls_not_waits() {
        let meter = Meter::new(HeavyLane::new(1));
        let m = meter.clone();
        Metered::new(
            async move {
                spin_for(Duration::from_millis(5));
                tokio::time::sleep(Duration::from_millis(30)).await;
                spin_for(Duration::from_millis(5));
                m.busy()
            },
            meter.clone(),
        )
        .await;
        let busy = meter.busy();
        assert!(busy >= Duration::from_millis(10), "{busy:?}");
        assert!(busy < Duration::from_millis(30), "the sleep is not computing: {busy:?}");
    }

    #[tokio::test]
    async fn a_light_instance_just_yields() {
        let meter = Meter::new(HeavyLane::new(1));
        assert!(matches!(meter.on_tick(), UpdateDeadline::Yield(1)));
    }

    #[tokio::test]
    async fn heavy_instances_take_turns_in_the_lane() {
        let lane = HeavyLane::new(1);
        let (a, b) = (Meter::new(lane.clone()), Meter::new(lane.clone()));
        for m in [&a, &b] {
            m.busy_nanos.store(HEAVY_AFTER.as_nanos() as u64 + 1, Ordering::Relaxed);
        }
        // a takes the lane at its tick.
        let UpdateDeadline::YieldCustom(_, wait_a) = a.on_tick() else { panic!("a heavy instance queues") };
        wait_a.await;
        assert_eq!(lane.in_use(), 1);
        // b must wait while a holds it...
        let UpdateDeadline::YieldCustom(_, wait_b) = b.on_tick() else { panic!("a heavy instance queues") };
        let mut wait_b = tokio::spawn(wait_b);
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut wait_b).await.is_err());
        // ...until a's next tick hands the lane over.
        let UpdateDeadline::YieldCustom(_, wait_a_again) = a.on_tick() else { panic!() };
        tokio::time::timeout(Duration::from_secs(1), wait_b).await.expect("b gets the lane").unwrap();
        let mut wait_a_again = tokio::spawn(wait_a_again);
        assert!(tokio::time::timeout(Duration::from_millis(50), &mut wait_a_again).await.is_err(), "now a waits");
        b.release_lane();
        tokio::time::timeout(Duration::from_secs(1), wait_a_again).await.expect("a gets it back").unwrap();
    }
}
