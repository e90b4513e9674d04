//! The guest-facing `log` interface: guest log lines become host `tracing`
//! events tagged with the workflow id and execution id.

use std::sync::Arc;

use crate::bindings::log::{self as wit, Level};

/// Who is logging: bound by the host per execution.
pub struct GuestLog {
    workflow: Arc<str>,
    execution: Box<str>,
}

/// The longest guest log line kept; the rest is cut so a guest can't flood the log.
const MAX_LINE_BYTES: usize = 16 * 1024;

impl GuestLog {
    pub fn new(workflow: Arc<str>, execution: &str) -> Self {
        Self { workflow, execution: execution.into() }
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
        match level {
            Level::Trace => tracing::trace!(target: "guest", workflow, execution, "{message}"),
            Level::Debug => tracing::debug!(target: "guest", workflow, execution, "{message}"),
            Level::Info => tracing::info!(target: "guest", workflow, execution, "{message}"),
            Level::Warn => tracing::warn!(target: "guest", workflow, execution, "{message}"),
            Level::Error => tracing::error!(target: "guest", workflow, execution, "{message}"),
        }
    }
}
