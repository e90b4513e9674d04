//! The last hour of the host's activity in 10-second samples, for the
//! dashboard's charts: executions by status, their durations by workflow,
//! KV operations, and the queue. Counted as executions end; a housekeeping
//! thread closes a sample every [`SAMPLE_EVERY`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::storage::now_ms;

/// The length of one sample.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Samples kept: an hour.
const SAMPLES: usize = 360;
/// Durations kept per workflow and sample for its percentiles; beyond it,
/// executions are counted but their durations are not.
const DURATIONS_KEPT: usize = 4096;

#[derive(Default)]
pub struct History {
    samples: VecDeque<Sample>,
    current: Current,
}

/// The sample under way.
#[derive(Default)]
struct Current {
    since_ms: u64,
    executions: BTreeMap<&'static str, u64>,
    durations_ms: BTreeMap<String, Vec<f64>>,
    kv_operations: u64,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When it began, in ms since the epoch.
    pub at: u64,
    pub seconds: f64,
    /// Executions that ended in it, by status.
    pub executions: BTreeMap<&'static str, u64>,
    pub durations: BTreeMap<String, Percentiles>,
    pub kv_operations: u64,
    /// Requests waiting for a slot, and executions running, when it ended.
    pub queue: usize,
    pub running: usize,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl History {
    pub fn execution(&mut self, workflow: &str, status: &'static str, took: Duration) {
        let current = self.current();
        *current.executions.entry(status).or_default() += 1;
        // A workflow's entry is made once per sample, not a key string per execution.
        if !current.durations_ms.contains_key(workflow) {
            current.durations_ms.insert(workflow.to_owned(), Vec::new());
        }
        let kept = current.durations_ms.get_mut(workflow).expect("inserted above");
        if kept.len() < DURATIONS_KEPT {
            kept.push(took.as_secs_f64() * 1000.0);
        }
    }

    pub fn kv_operation(&mut self) {
        self.current().kv_operations += 1;
    }

    /// Closes the sample under way, with the queue and the running executions now.
    pub fn close(&mut self, queue: usize, running: usize) {
        // The first close, at start-up, only starts the clock.
        if self.current.since_ms == 0 {
            self.current.since_ms = now_ms();
            return;
        }
        let sample = self.sample(queue, running);
        self.current = Current { since_ms: now_ms(), ..Current::default() };
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The samples, oldest first, then the one under way.
    pub fn samples(&mut self, queue: usize, running: usize) -> Vec<Sample> {
        let mut samples: Vec<Sample> = self.samples.iter().cloned().collect();
        samples.push(self.sample(queue, running));
        samples
    }

    fn current(&mut self) -> &mut Current {
        if self.current.since_ms == 0 {
            self.current.since_ms = now_ms();
        }
        &mut self.current
    }

    fn sample(&mut self, queue: usize, running: usize) -> Sample {
        let now = now_ms();
        let current = self.current();
        let durations = current
            .durations_ms
            .iter_mut()
            .map(|(workflow, took)| {
                took.sort_by(f64::total_cmp);
                let at = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
                (workflow.clone(), Percentiles { p50_ms: at(0.5), p99_ms: at(0.99) })
            })
            .collect();
        Sample {
            at: current.since_ms,
            seconds: now.saturating_sub(current.since_ms) as f64 / 1000.0,
            executions: current.executions.clone(),
            durations,
            kv_operations: current.kv_operations,
            queue,
            running,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_counts_by_status_and_takes_percentiles_per_workflow() {
        let mut history = History::default();
        for ms in 1..=100 {
            history.execution("a", "completed", Duration::from_millis(ms));
        }
        history.execution("b", "failed", Duration::from_millis(7));
        history.kv_operation();
        history.close(3, 1);
        history.execution("a", "timeout", Duration::from_secs(1));
        let samples = history.samples(0, 2);
        assert_eq!(samples.len(), 2, "one closed, one under way");
        let first = &samples[0];
        assert_eq!(first.executions, BTreeMap::from([("completed", 100), ("failed", 1)]));
        assert_eq!((first.durations["a"].p50_ms, first.durations["a"].p99_ms), (51.0, 99.0));
        assert_eq!(first.durations["b"].p50_ms, 7.0);
        assert_eq!((first.kv_operations, first.queue, first.running), (1, 3, 1));
        assert_eq!(samples[1].executions, BTreeMap::from([("timeout", 1)]));
        assert_eq!(samples[1].running, 2);
    }

    #[test]
    fn an_hour_of_samples_is_kept() {
        let mut history = History::default();
        for _ in 0..SAMPLES + 5 {
            history.close(0, 0);
        }
        assert_eq!(history.samples(0, 0).len(), SAMPLES + 1);
    }
}
