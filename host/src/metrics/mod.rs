//! Host metrics in the Prometheus text format: executions by workflow,
//! trigger and status, their durations, and KV operations by kind and
//! result. Counted process-wide; `render` writes them with the gauges the
//! caller reads at scrape time (pool use, queue depth, workflows). The last
//! hour of them, in samples, is kept for the dashboard's charts (`history`).

mod history;

use self::history::History;
pub use self::history::{SAMPLE_EVERY, Sample};

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the duration histogram's buckets, in seconds.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    executions: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    kv_operations: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    http_requests: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    /// Durable runs started and ended, by workflow and status.
    runs: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Step attempts by workflow and how they ended (ok, retrying, failed).
    steps: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Seconds runs spent suspended (sleeping, waiting, retrying), by workflow.
    suspended: Mutex<BTreeMap<String, f64>>,
    history: Mutex<History>,
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);
    &METRICS
}

impl Metrics {
    pub fn execution(&self, workflow: &str, trigger: &str, status: &'static str, took: Duration) {
        let key = (workflow.to_owned(), trigger.to_owned(), status);
        *self.executions.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = durations.entry(workflow.to_owned()).or_default();
        let seconds = took.as_secs_f64();
        for (count, bound) in histogram.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
        drop(durations);
        self.history().execution(workflow, status, took);
    }

    /// Closes the sample of the history under way, with the `queue` and
    /// the executions `running` now.
    pub fn close_sample(&self, queue: usize, running: usize) {
        self.history().close(queue, running);
    }

    /// The last hour's samples, oldest first, then the one under way (with
    /// the `queue` and the executions `running` now).
    pub fn samples(&self, queue: usize, running: usize) -> Vec<Sample> {
        self.history().samples(queue, running)
    }

    fn history(&self) -> std::sync::MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn kv_operation(&self, operation: &'static str, result: &'static str) {
        *self.kv_operations.lock().unwrap_or_else(|e| e.into_inner()).entry((operation, result)).or_default() += 1;
        self.history().kv_operation();
    }

    /// A guest's outgoing HTTP request to `origin` (`scheme://host:port`), by
    /// how it ended: ok, denied, timeout, too-large or error.
    pub fn http_request(&self, workflow: &str, origin: &str, result: &'static str) {
        let key = (workflow.to_owned(), origin.to_owned(), result);
        *self.http_requests.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
    }

    /// A run started (`started`) or ended (its status).
    pub fn run_started(&self, workflow: &str) {
        self.run_ended(workflow, "started");
    }

    pub fn run_ended(&self, workflow: &str, status: &'static str) {
        *self.runs.lock().unwrap_or_else(|e| e.into_inner()).entry((workflow.to_owned(), status)).or_default() += 1;
    }

    pub fn step_attempt(&self, workflow: &str, result: &'static str) {
        *self.steps.lock().unwrap_or_else(|e| e.into_inner()).entry((workflow.to_owned(), result)).or_default() += 1;
    }

    pub fn run_suspended(&self, workflow: &str, took: Duration) {
        *self.suspended.lock().unwrap_or_else(|e| e.into_inner()).entry(workflow.to_owned()).or_default() +=
            took.as_secs_f64();
    }

    /// The text exposition, with `gauges` as (name, help, value).
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP floww_executions_total Executions by workflow, trigger and how they ended.\n\
             # TYPE floww_executions_total counter"
        );
        for ((workflow, trigger, status), n) in self.executions.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "floww_executions_total{{workflow=\"{}\",trigger=\"{}\",status=\"{status}\"}} {n}",
                escape(workflow),
                escape(trigger)
            );
        }
        let _ = writeln!(
            out,
            "# HELP floww_execution_duration_seconds How long executions took.\n\
             # TYPE floww_execution_duration_seconds histogram"
        );
        for (workflow, h) in self.durations.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let workflow = escape(workflow);
            for (bound, count) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "floww_execution_duration_seconds_bucket{{workflow=\"{workflow}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "floww_execution_duration_seconds_bucket{{workflow=\"{workflow}\",le=\"+Inf\"}} {}\n\
                 floww_execution_duration_seconds_sum{{workflow=\"{workflow}\"}} {}\n\
                 floww_execution_duration_seconds_count{{workflow=\"{workflow}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP floww_kv_operations_total KV operations by guests, by kind and result.\n\
             # TYPE floww_kv_operations_total counter"
        );
        for ((operation, result), n) in self.kv_operations.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "floww_kv_operations_total{{operation=\"{operation}\",result=\"{result}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP floww_http_requests_total Guests' outgoing HTTP requests, by workflow, origin and result.\n\
             # TYPE floww_http_requests_total counter"
        );
        for ((workflow, host, result), n) in self.http_requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "floww_http_requests_total{{workflow=\"{}\",host=\"{}\",result=\"{result}\"}} {n}",
                escape(workflow),
                escape(host)
            );
        }
        let _ = writeln!(
            out,
            "# HELP floww_runs_total Durable runs started (status=\"started\") and ended, by workflow and status.\n\
             # TYPE floww_runs_total counter"
        );
        for ((workflow, status), n) in self.runs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "floww_runs_total{{workflow=\"{}\",status=\"{status}\"}} {n}", escape(workflow));
        }
        let _ = writeln!(
            out,
            "# HELP floww_run_step_attempts_total Attempts of durable runs' steps, by workflow and result.\n\
             # TYPE floww_run_step_attempts_total counter"
        );
        for ((workflow, result), n) in self.steps.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "floww_run_step_attempts_total{{workflow=\"{}\",result=\"{result}\"}} {n}",
                escape(workflow)
            );
        }
        let _ = writeln!(
            out,
            "# HELP floww_run_suspended_seconds_total Time durable runs spent sleeping, waiting and retrying.\n\
             # TYPE floww_run_suspended_seconds_total counter"
        );
        for (workflow, seconds) in self.suspended.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "floww_run_suspended_seconds_total{{workflow=\"{}\"}} {seconds}", escape(workflow));
        }
        for (name, help, value) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_histograms_render_as_prometheus_text() {
        let m = Metrics::default();
        m.execution("kv-store", "webhook POST /users", "completed", Duration::from_millis(3));
        m.execution("kv-store", "webhook POST /users", "completed", Duration::from_millis(300));
        m.kv_operation("get", "ok");
        let text = m.render(&[("floww_queue_depth", "Waiting.", 2.0)]);
        assert!(text.contains(
            "floww_executions_total{workflow=\"kv-store\",trigger=\"webhook POST /users\",status=\"completed\"} 2"
        ));
        assert!(text.contains("floww_execution_duration_seconds_bucket{workflow=\"kv-store\",le=\"0.005\"} 1"));
        assert!(text.contains("floww_execution_duration_seconds_bucket{workflow=\"kv-store\",le=\"+Inf\"} 2"));
        assert!(text.contains("floww_kv_operations_total{operation=\"get\",result=\"ok\"} 1"));
        assert!(text.contains("# TYPE floww_queue_depth gauge\nfloww_queue_depth 2"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
