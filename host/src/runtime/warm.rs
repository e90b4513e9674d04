//! Instances kept warm between executions, for workflows that opt in to
//! instance reuse (`--instance-reuse N` with N > 1; 1, a fresh instance per
//! execution, is the default).
//!
//! Each deployed version of a workflow has a pool of its own (in its
//! `Workflow`), so a warm instance only ever serves the workflow id and the
//! version it was made for: a redeploy makes a new `Workflow` with an empty
//! pool, and dropping the old version drops its warm instances. An instance
//! serves one execution at a time: it is taken out of the pool while it runs.
//!
//! The pool's caller decides what may come back (not after a trap, a
//! timeout or a refused memory growth, not past N executions); the pool
//! drops what has waited longer than [`IDLE_TIMEOUT`], and a runtime-wide
//! budget caps how many instances wait warm at once, so the instance
//! allocator is sized for executions plus waiting instances.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a warm instance may wait for its next execution.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often waiting instances are checked against [`IDLE_TIMEOUT`].
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The warm pools of one runtime, and the budget they share.
pub struct WarmInstances<T> {
    budget: Arc<Semaphore>,
    pools: Mutex<Vec<Weak<WarmPool<T>>>>,
}

/// The instances waiting warm for one deployed version of one workflow.
pub struct WarmPool<T> {
    budget: Arc<Semaphore>,
    waiting: Mutex<Vec<Waiting<T>>>,
}

struct Waiting<T> {
    instance: T,
    /// Executions it has served.
    uses: u32,
    since: Instant,
    /// Its share of the budget, given back when it leaves the pool.
    _budget: OwnedSemaphorePermit,
}

impl<T: Send + 'static> WarmInstances<T> {
    /// At most `budget` instances wait warm at once, over all pools; a
    /// thread drops those that wait too long while this lives.
    pub fn new(budget: usize) -> Arc<Self> {
        let warm = Arc::new(Self { budget: Arc::new(Semaphore::new(budget)), pools: Mutex::default() });
        let weak = Arc::downgrade(&warm);
        std::thread::Builder::new()
            .name("floww-warm".into())
            .spawn(move || {
                while let Some(warm) = weak.upgrade() {
                    warm.sweep(Instant::now());
                    drop(warm);
                    std::thread::sleep(SWEEP_EVERY);
                }
            })
            .expect("spawn the warm-instance thread");
        warm
    }

    /// A new, empty pool sharing this budget.
    pub fn pool(&self) -> Arc<WarmPool<T>> {
        let pool = Arc::new(WarmPool { budget: self.budget.clone(), waiting: Mutex::default() });
        let mut pools = lock(&self.pools);
        pools.retain(|p| p.strong_count() > 0);
        pools.push(Arc::downgrade(&pool));
        pool
    }

    fn sweep(&self, now: Instant) {
        let pools: Vec<_> = lock(&self.pools).iter().filter_map(Weak::upgrade).collect();
        for pool in pools {
            pool.sweep(now);
        }
    }
}

impl<T> WarmPool<T> {
    /// The instance that waited least, with the executions it has served,
    /// if one waits.
    pub fn take(&self) -> Option<(T, u32)> {
        lock(&self.waiting).pop().map(|w| (w.instance, w.uses))
    }

    /// Puts `instance` back to wait for its next execution, if the budget
    /// has room; otherwise it is dropped.
    pub fn put(&self, instance: T, uses: u32) {
        let Ok(budget) = self.budget.clone().try_acquire_owned() else { return };
        lock(&self.waiting).push(Waiting { instance, uses, since: Instant::now(), _budget: budget });
    }

    /// Drops the instances that have waited since before `now - IDLE_TIMEOUT`.
    fn sweep(&self, now: Instant) {
        let expired: Vec<Waiting<T>> = {
            let mut waiting = lock(&self.waiting);
            let fresh = waiting.partition_point(|w| now.duration_since(w.since) >= IDLE_TIMEOUT);
            waiting.drain(..fresh).collect()
        };
        // Dropped outside the lock: giving an instance back to the allocator
        // takes a while.
        drop(expired);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_instance_put_back_is_taken_first() {
        let warm = WarmInstances::new(4);
        let pool = warm.pool();
        assert!(pool.take().is_none());
        pool.put("a", 1);
        pool.put("b", 3);
        assert_eq!(pool.take(), Some(("b", 3)));
        assert_eq!(pool.take(), Some(("a", 1)));
        assert!(pool.take().is_none());
    }

    #[test]
    fn the_budget_is_shared_and_given_back_when_an_instance_leaves() {
        let warm = WarmInstances::new(2);
        let (one, other) = (warm.pool(), warm.pool());
        one.put(1, 1);
        other.put(2, 1);
        other.put(3, 1);
        assert_eq!(other.take(), Some((2, 1)), "3 found no room and was dropped");
        other.put(4, 1);
        assert_eq!((one.take(), other.take()), (Some((1, 1)), Some((4, 1))));
    }

    #[test]
    fn instances_that_waited_too_long_are_dropped() {
        let warm = WarmInstances::new(4);
        let pool = warm.pool();
        pool.put("old", 1);
        std::thread::sleep(Duration::from_millis(20));
        pool.put("new", 1);
        let sweep_at = lock(&pool.waiting)[1].since + IDLE_TIMEOUT - Duration::from_millis(10);
        warm.sweep(sweep_at);
        assert_eq!(pool.take(), Some(("new", 1)));
        assert!(pool.take().is_none(), "the older one idled out");
        assert_eq!(warm.budget.available_permits(), 4);
    }

    #[test]
    fn a_dropped_pool_gives_its_budget_back() {
        let warm = WarmInstances::new(1);
        let pool = warm.pool();
        pool.put(1, 1);
        drop(pool);
        let next = warm.pool();
        next.put(2, 1);
        assert_eq!(next.take(), Some((2, 1)), "there was room for it");
        assert_eq!(lock(&warm.pools).len(), 1, "the dropped pool is forgotten");
    }
}
