//! Memory of the instances: each one limited on its own, and all of them together held to one
//! budget. Without the budget the per-instance limit multiplies by the request slots (200 ×
//! 128 MiB is 25 GiB); with it, a burst of memory-hungry requests gets clear 503 answers while
//! the host stays under its ceiling.
//!
//! Growth past either limit traps the instance with an [`OutOfMemory`] error, which the server
//! turns into an answer: 503 with Retry-After for the shared budget (it frees up as other
//! requests end), 500 for an instance past its own limit (no retry will help).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wasmtime::ResourceLimiter;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfMemory {
    /// All instances together hold the whole budget.
    Budget,
    /// This instance reached its own limit.
    Instance,
}

impl std::fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutOfMemory::Budget => f.write_str("the host's memory budget for instances is spent"),
            OutOfMemory::Instance => f.write_str("the instance reached its memory limit"),
        }
    }
}

impl std::error::Error for OutOfMemory {}

/// Linear memory granted to all live instances together.
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

impl MemoryBudget {
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget { limit, used: AtomicUsize::new(0) })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_charge(&self, bytes: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    fn refund(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
    }
}

/// One store's limiter: its own limit, and its share of the budget, given back on drop.
pub struct MemoryLimiter {
    per_instance: usize,
    budget: Arc<MemoryBudget>,
    charged: usize,
}

impl MemoryLimiter {
    pub fn new(per_instance: usize, budget: Arc<MemoryBudget>) -> MemoryLimiter {
        MemoryLimiter { per_instance, budget, charged: 0 }
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.refund(self.charged);
    }
}

/// Instances, tables and memories one store may create (a component is a handful of core
/// instances).
const MAX_INSTANCES: usize = 64;
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        // Counted against this store's own total, across its memories.
        let growth = desired.saturating_sub(current);
        if self.charged + growth > self.per_instance {
            return Err(OutOfMemory::Instance.into());
        }
        if !self.budget.try_charge(growth) {
            return Err(OutOfMemory::Budget.into());
        }
        self.charged += growth;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|max| desired <= max))
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = MemoryBudget::new(10 << 20);
        let mut a = MemoryLimiter::new(8 << 20, budget.clone());
        let mut b = MemoryLimiter::new(8 << 20, budget.clone());
        assert!(a.memory_growing(0, 6 << 20, None).unwrap());
        let err = b.memory_growing(0, 6 << 20, None).unwrap_err();
        assert_eq!(err.downcast_ref::<OutOfMemory>(), Some(&OutOfMemory::Budget));
        assert!(b.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(budget.used(), 10 << 20);
        drop(a);
        assert_eq!(budget.used(), 4 << 20);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_instance_past_its_own_limit_is_told_so() {
        let budget = MemoryBudget::new(1 << 30);
        let mut a = MemoryLimiter::new(8 << 20, budget.clone());
        assert!(a.memory_growing(0, 4 << 20, None).unwrap());
        let err = a.memory_growing(4 << 20, 9 << 20, None).unwrap_err();
        assert_eq!(err.downcast_ref::<OutOfMemory>(), Some(&OutOfMemory::Instance));
        assert_eq!(budget.used(), 4 << 20, "a refused growth charges nothing");
    }
}
