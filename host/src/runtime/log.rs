//! The guest-facing `log` interface: guest log lines become host `tracing`
//! events tagged with the workflow id and execution id, and are kept, in
//! order, for the execution's record.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bindings::log::{self as wit, Level};
use crate::storage::now_ms;

/// One line a guest logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub level: String,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub message: String,
}

/// Who is logging, bound by the host per execution, and what it logged.
pub struct GuestLog {
    workflow: Arc<str>,
    execution: Box<str>,
    lines: Vec<LogLine>,
    dropped: usize,
}

/// The longest guest log line kept; the rest is cut so a guest can't flood the log.
const MAX_LINE_BYTES: usize = 16 * 1024;
/// Lines kept for an execution's record; later ones are counted, not kept.
const MAX_LINES: usize = 1000;

impl GuestLog {
    pub fn new(workflow: Arc<str>, execution: &str) -> Self {
        Self { workflow, execution: execution.into(), lines: Vec::new(), dropped: 0 }
    }

    /// The lines kept, in order, with a last one saying how many were not.
    pub fn into_lines(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            let message = format!("{} more lines were not kept (the limit is {MAX_LINES})", self.dropped);
            self.lines.push(LogLine { level: "warn".into(), at: now_ms(), message });
        }
        self.lines
    }

    pub fn add_to_linker<T: 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut GuestLog,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, wasmtime::component::HasSelf<GuestLog>>(linker, get)
    }
}

impl wit::Host for GuestLog {
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > MAX_LINE_BYTES {
            let cut = (0..=MAX_LINE_BYTES).rev().find(|&i| message.is_char_boundary(i)).unwrap_or(0);
            message.truncate(cut);
            message.push_str("… (cut)");
        }
        let (workflow, execution) = (&*self.workflow, &*self.execution);
        let level_name = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        match level {
            Level::Trace => tracing::trace!(target: "guest", workflow, execution, "{message}"),
            Level::Debug => tracing::debug!(target: "guest", workflow, execution, "{message}"),
            Level::Info => tracing::info!(target: "guest", workflow, execution, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", workflow, execution, "{message}"),
            Level::Error => tracing::error!(target: "guest", workflow, execution, "{message}"),
        }
        if self.lines.len() < MAX_LINES {
            self.lines.push(LogLine { level: level_name.into(), at: now_ms(), message });
        } else {
            self.dropped += 1;
        }
    }
}
