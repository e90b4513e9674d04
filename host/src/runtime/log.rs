//! The guest-facing `log` interface: guest log lines become host `tracing`
//! events tagged with the workflow id and execution id, and are kept, in
//! order, for the execution's record, within bounds: every text a guest
//! hands the host (a log line, an error message) is [cut](cut) to
//! [`MAX_TEXT_BYTES`], and a record keeps at most [`MAX_LINES`] lines and
//! [`MAX_KEPT_BYTES`] of them. The workflow's secret values are redacted
//! from each line before it is logged or kept.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bindings::log::{self as wit, Level};
use crate::secrets::SecretValues;
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
#[derive(Default)]
pub struct GuestLog {
    workflow: Arc<str>,
    execution: Box<str>,
    secrets: Arc<SecretValues>,
    lines: Vec<LogLine>,
    kept_bytes: usize,
    dropped: usize,
}

/// The longest text from a guest that the host keeps or logs: a log line,
/// an error message. The rest is cut.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Lines kept for an execution's record, and their bytes at most; later
/// lines are counted, not kept.
pub const MAX_LINES: usize = 1000;
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

/// Cuts `text` to at most [`MAX_TEXT_BYTES`] (on a character boundary), saying so.
pub fn cut(mut text: String) -> String {
    if text.len() > MAX_TEXT_BYTES {
        let end = (0..=MAX_TEXT_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let total = text.len();
        text.truncate(end);
        text.push_str(&format!("… (cut: {total} bytes in all)"));
    }
    text
}

impl GuestLog {
    pub fn new(workflow: Arc<str>, execution: &str, secrets: Arc<SecretValues>) -> Self {
        Self { workflow, execution: execution.into(), secrets, lines: Vec::new(), kept_bytes: 0, dropped: 0 }
    }

    /// The lines kept, in order, with a last one saying how many were not.
    pub fn into_lines(mut self) -> Vec<LogLine> {
        if self.dropped > 0 {
            let message = format!(
                "{} more lines were not kept (a record keeps {MAX_LINES} lines and {MAX_KEPT_BYTES} bytes of them)",
                self.dropped
            );
            self.lines.push(LogLine { level: "warn".into(), at: now_ms(), message });
        }
        self.lines
    }

    /// Lines kept so far.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// The lines kept from the `mark`-th on (a [`len`](Self::len) taken before).
    pub fn lines_since(&self, mark: usize) -> Vec<LogLine> {
        self.lines.get(mark..).unwrap_or_default().to_vec()
    }

    pub fn add_to_linker<T: 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut GuestLog,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, wasmtime::component::HasSelf<GuestLog>>(linker, get)
    }
}

impl wit::Host for GuestLog {
    fn log(&mut self, level: Level, message: String) {
        // Redacted before it is cut, so no cut leaves part of a secret.
        let message = cut(self.secrets.redact(&message).into_owned());
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
        if self.lines.len() < MAX_LINES && self.kept_bytes + message.len() <= MAX_KEPT_BYTES {
            self.kept_bytes += message.len();
            self.lines.push(LogLine { level: level_name.into(), at: now_ms(), message });
        } else {
            self.dropped += 1;
        }
    }
}
