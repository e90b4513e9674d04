//! Where executions get their instances' memory: wasmtime's pooling
//! allocator, sized once from the host's limits, and the slots that keep the
//! runtime within that size.
//!
//! Pooling turns the per-execution `mmap`/`munmap` of a 4 GiB linear-memory
//! reservation (and the page faults after it) into taking a slot from a free
//! list; a slot last used by the same component keeps that component's
//! copy-on-write memory image mapped, and its first pages stay resident,
//! reset by `memset` instead of `madvise` (see BENCHMARKS.md for the figures).
//!
//! The pool has a fixed number of instance slots: `concurrency` for webhooks
//! (which `Admission` already bounds), as many for instances waiting warm
//! between executions ([`warm_slots`]), plus [`DEPLOY_SLOTS`] for the
//! `triggers` call of deploys. [`Slots`] makes a caller wait for a free slot
//! rather than fail, so nothing outside the runtime has to know the pool's
//! size.

use tokio::sync::{Semaphore, SemaphorePermit};
use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::{Limits, MAX_INSTANCES, MAX_TABLE_ELEMENTS};

/// Executions of deploy-time `triggers` calls that may run at once.
pub const DEPLOY_SLOTS: usize = 4;

/// Per component instance: Rust components built for wasm32-wasip2 define one
/// memory and two tables; these leave room for components built otherwise.
/// A component needing more fails to instantiate (as it would fail on the
/// per-store caps of `StoreLimits`).
const MEMORIES_PER_COMPONENT: u32 = 4;
const TABLES_PER_COMPONENT: u32 = 8;

/// Linear-memory bytes kept resident in a free slot and reset with `memset`
/// rather than `madvise`. With `PAGEMAP_SCAN` (Linux 6.7+) only the pages the
/// execution dirtied are reset, up to this many bytes: that is where most of
/// the pool's gain comes from (BENCHMARKS.md). Without it, wasmtime resets
/// this many bytes from the start of memory, so it is kept small: a Rust
/// guest's stack and data sit around its first MiB.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Address space the pool may reserve (it is reserved, not used: the pages are
/// `PROT_NONE` until an instance grows into them). Each memory slot reserves
/// 4 GiB plus guard pages, so that wasm bounds checks compile away; beyond this
/// budget (a `--max-concurrency` around 1,000 and more: each may also keep an
/// instance warm) instances are allocated on
/// demand instead.
const MAX_RESERVED_BYTES: u64 = 32 << 40;
/// The reservation of one memory slot: the 4 GiB default of 64-bit hosts,
/// and a 32 MiB guard region on each side.
const MEMORY_SLOT_BYTES: u64 = (4 << 30) + 2 * (32 << 20);

/// Instances that may wait warm for their workflow's next execution, over
/// all workflows: as many as may run at once.
pub fn warm_slots(limits: &Limits) -> usize {
    limits.concurrency.max(1)
}

/// The instance allocator for an engine serving `limits`.
pub fn allocation_strategy(limits: &Limits) -> InstanceAllocationStrategy {
    let instances = limits.concurrency.max(1) + warm_slots(limits) + DEPLOY_SLOTS;
    let memories = instances as u64 * u64::from(MEMORIES_PER_COMPONENT);
    let tables = instances as u64 * u64::from(TABLES_PER_COMPONENT);
    let reserved = memories * MEMORY_SLOT_BYTES + tables * (MAX_TABLE_ELEMENTS as u64 * 8);
    let (Ok(instances), true) = (u32::try_from(instances), reserved <= MAX_RESERVED_BYTES) else {
        tracing::info!(concurrency = limits.concurrency, "too many slots to pool: allocating instances on demand");
        return InstanceAllocationStrategy::OnDemand;
    };

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_core_instances(instances * MAX_INSTANCES as u32)
        .max_core_instances_per_component(MAX_INSTANCES as u32)
        .total_memories(instances * MEMORIES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_memories_per_module(MEMORIES_PER_COMPONENT)
        // Each execution runs on a fiber whose stack comes from the pool; a
        // stack is reused as it is (not zeroed), so it stays resident.
        .total_stacks(instances)
        .total_tables(instances * TABLES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_tables_per_module(TABLES_PER_COMPONENT)
        .table_elements(MAX_TABLE_ELEMENTS)
        // The same cap as the store limiter's, so a guest that outgrows it
        // fails the same way: `memory.grow` returns -1.
        .max_memory_size(limits.memory_bytes)
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    InstanceAllocationStrategy::Pooling(pool)
}

/// At most `n` executions hold an instance slot at once; more wait their turn.
pub struct Slots(Semaphore);

/// One slot, given back on drop.
pub type Slot<'a> = SemaphorePermit<'a>;

impl Slots {
    pub fn new(n: usize) -> Self {
        Self(Semaphore::new(n))
    }

    /// Takes a slot, waiting for one to be given back if none is free.
    pub async fn take(&self) -> Slot<'_> {
        self.0.acquire().await.expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slots_let_at_most_n_holders_in_and_the_rest_wait() {
        let slots = Arc::new(Slots::new(2));
        let (inside, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let holders: Vec<_> = (0..6)
            .map(|_| {
                let (slots, inside, most) = (slots.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _slot = slots.take().await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for holder in holders {
            holder.await.unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "never more holders than slots");
        assert_eq!(slots.0.available_permits(), 2, "every slot was given back");
    }

    #[test]
    fn the_default_limits_are_pooled_and_huge_concurrency_is_not() {
        assert!(matches!(allocation_strategy(&Limits::default()), InstanceAllocationStrategy::Pooling(_)));
        let huge = Limits { concurrency: 4096, ..Limits::default() };
        assert!(matches!(allocation_strategy(&huge), InstanceAllocationStrategy::OnDemand));
    }
}
