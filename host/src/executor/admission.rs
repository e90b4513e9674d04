//! Back-pressure: at most `max_running` executions run at once and at most
//! `max_waiting` wait for a slot; beyond that callers are turned away at
//! once, so a flood can't grow the host's memory without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Admission {
    running: Arc<Semaphore>,
    max_running: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The host is at capacity: every slot is taken and the queue is full.
#[derive(Debug, thiserror::Error)]
#[error("the host is at capacity: {running} executions running and {waiting} waiting")]
pub struct Busy {
    pub running: usize,
    pub waiting: usize,
}

/// Held for the length of one execution.
pub type Slot = OwnedSemaphorePermit;

/// Counts a caller in the queue until dropped, even if its request is cancelled.
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    pub fn new(max_running: usize, max_waiting: usize) -> Self {
        Self { running: Arc::new(Semaphore::new(max_running)), max_running, waiting: AtomicUsize::new(0), max_waiting }
    }

    /// A slot to run in: at once, after waiting in the queue, or `Busy`.
    pub async fn enter(&self) -> Result<Slot, Busy> {
        if let Ok(slot) = self.running.clone().try_acquire_owned() {
            return Ok(slot);
        }
        // Take a place only if one is free: a refused caller must not count
        // as waiting, even for a moment, or callers refused at once would
        // crowd out one that finds a free place.
        let taken = self.waiting.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |waiting| {
            (waiting < self.max_waiting).then_some(waiting + 1)
        });
        if let Err(waiting) = taken {
            return Err(Busy { running: self.max_running, waiting });
        }
        let queued = InQueue(&self.waiting);
        let slot = self.running.clone().acquire_owned().await.expect("the semaphore is never closed");
        drop(queued);
        Ok(slot)
    }

    /// Executions waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Executions running now.
    pub fn running(&self) -> usize {
        self.max_running - self.running.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller that waits in the queue until it gets a slot, once it waits.
    async fn queue_one(admission: &Arc<Admission>) -> tokio::task::JoinHandle<Result<(), Busy>> {
        let queued = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter().await.map(drop) }
        });
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        queued
    }

    #[tokio::test]
    async fn callers_beyond_the_slots_and_the_queue_are_turned_away() {
        let admission = Arc::new(Admission::new(1, 1));
        let first = admission.enter().await.unwrap();
        let queued = queue_one(&admission).await;
        let busy = admission.enter().await.unwrap_err();
        assert_eq!((busy.running, busy.waiting), (1, 1));
        assert_eq!(admission.waiting(), 1, "a refused caller leaves the queue as it was");
        drop(first);
        queued.await.unwrap().unwrap();
        assert_eq!((admission.running(), admission.waiting()), (0, 0));
    }

    #[tokio::test]
    async fn a_cancelled_waiter_leaves_the_queue() {
        let admission = Arc::new(Admission::new(1, 1));
        let first = admission.enter().await.unwrap();
        let queued = queue_one(&admission).await;
        queued.abort();
        assert!(queued.await.unwrap_err().is_cancelled());
        assert_eq!(admission.waiting(), 0, "the cancelled caller gave its place back");
        let next = queue_one(&admission).await;
        drop(first);
        next.await.unwrap().unwrap();
        assert_eq!((admission.running(), admission.waiting()), (0, 0));
    }

    /// Starts a caller and lets it run until it holds a slot, waits in the
    /// queue, or was turned away.
    async fn arrive(admission: &Arc<Admission>) -> tokio::task::JoinHandle<Result<Slot, Busy>> {
        let waiting = admission.waiting();
        let caller = tokio::spawn({
            let admission = admission.clone();
            async move { admission.enter().await }
        });
        for _ in 0..1000 {
            if caller.is_finished() || admission.waiting() > waiting {
                break;
            }
            tokio::task::yield_now().await;
        }
        caller
    }

    #[test]
    fn any_burst_fills_the_slots_then_the_queue_and_turns_away_the_rest() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let config = Config { cases: 128, failure_persistence: None, ..Config::default() };
        TestRunner::new(config)
            .run(&(1usize..4, 0usize..4, 0usize..12), |(slots, queue, callers)| {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                rt.block_on(async {
                    let admission = Arc::new(Admission::new(slots, queue));
                    let (mut running, mut waiting, mut refused) = (Vec::new(), Vec::new(), 0);
                    for _ in 0..callers {
                        let caller = arrive(&admission).await;
                        if !caller.is_finished() {
                            waiting.push(caller);
                        } else if let Ok(slot) = caller.await.unwrap() {
                            running.push(slot);
                        } else {
                            refused += 1;
                        }
                    }
                    let admitted = callers.min(slots);
                    let queued = (callers - admitted).min(queue);
                    prop_assert_eq!((running.len(), waiting.len()), (admitted, queued));
                    prop_assert_eq!(refused, callers - admitted - queued);
                    prop_assert_eq!((admission.running(), admission.waiting()), (admitted, queued));

                    // Each slot given back goes to the one who waited longest.
                    for waiter in waiting {
                        drop(running.remove(0));
                        for _ in 0..1000 {
                            if waiter.is_finished() {
                                break;
                            }
                            tokio::task::yield_now().await;
                        }
                        prop_assert!(waiter.is_finished(), "the longest waiter got the slot");
                        running.push(waiter.await.unwrap().expect("a waiter gets a slot"));
                    }
                    drop(running);
                    prop_assert_eq!((admission.running(), admission.waiting()), (0, 0));
                    Ok(())
                })
            })
            .unwrap();
    }

    /// Callers refused at the same moment from many threads: each sees a
    /// full queue of exactly `max_waiting`, never more, and leaves it as it was.
    #[test]
    fn concurrent_refusals_never_count_more_waiters_than_the_queue_holds() {
        const THREADS: usize = 4;
        const TRIES: usize = 20_000;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
        rt.block_on(async {
            let admission = Arc::new(Admission::new(1, 1));
            let _running = admission.enter().await.unwrap();
            let queued = tokio::spawn({
                let admission = admission.clone();
                async move { admission.enter().await.map(drop) }
            });
            while admission.waiting() == 0 {
                tokio::task::yield_now().await;
            }
            let refusals: Vec<_> = (0..THREADS)
                .map(|_| {
                    let admission = admission.clone();
                    std::thread::spawn(move || {
                        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                        (0..TRIES).map(|_| rt.block_on(admission.enter()).map(drop).unwrap_err().waiting).max().unwrap()
                    })
                })
                .collect();
            for refusals in refusals {
                assert_eq!(refusals.join().unwrap(), 1, "the most waiters a refused caller saw");
            }
            assert_eq!(admission.waiting(), 1);
            queued.abort();
        });
    }
}
