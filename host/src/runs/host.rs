//! The guest-facing `runs` interface: starting runs of the calling workflow
//! and sending them events, from any handler. A [`RunError`] becomes the
//! WIT `run-error`.

use std::sync::Arc;

use super::{Entry, Run, RunError, Runs, Start};
use crate::bindings::runs as wit;
use crate::storage::StorageError;

/// What one execution needs to serve `runs` calls.
pub struct RunsCtx {
    pub runs: Arc<Runs>,
    /// Bound by the host when the execution starts.
    pub caller: Arc<str>,
}

impl RunsCtx {
    /// Wires the `runs` import of every instance in `linker` to `get(state)`.
    pub fn add_to_linker<T: Send + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
        get: fn(&mut T) -> &mut RunsCtx,
    ) -> wasmtime::Result<()> {
        wit::add_to_linker::<T, wasmtime::component::HasSelf<RunsCtx>>(linker, get)
    }

    /// Runs `call` on the blocking pool: every call reads or writes the store.
    async fn blocking<R: Send + 'static>(&self, call: impl FnOnce(&Runs, &str) -> R + Send + 'static) -> R {
        let (runs, caller) = (self.runs.clone(), self.caller.clone());
        tokio::task::spawn_blocking(move || call(&runs, &caller)).await.expect("a runs call panicked")
    }
}

fn to_wit(e: RunError) -> wit::RunError {
    match e {
        RunError::NotFound(m) => wit::RunError::NotFound(m),
        RunError::Invalid(m) => wit::RunError::InvalidInput(m),
        RunError::TooLarge(m) => wit::RunError::TooLarge(m),
        RunError::Conflict(m) => wit::RunError::Conflict(m),
        RunError::Storage(StorageError::Unavailable(why)) => {
            tracing::warn!("run store unavailable: {why}");
            wit::RunError::Unavailable("the run store is unavailable; retry later".into())
        }
        RunError::Storage(e) => {
            tracing::error!(error = %e, "run storage failed");
            wit::RunError::Internal("the run store failed; the host's log has the details".into())
        }
    }
}

/// A run and its journal as the guest sees them.
fn run_info(run: Run, journal: Vec<Entry>) -> wit::RunInfo {
    let mut steps: Vec<wit::StepInfo> = journal
        .into_iter()
        .map(|e| wit::StepInfo {
            kind: e.kind.as_str().into(),
            name: e.name,
            status: if e.error.is_some() { "failed" } else { "completed" }.into(),
            attempts: e.attempts.len() as u32,
            error: e.error,
        })
        .collect();
    if let Some(p) = run.pending {
        let error = p.attempts.last().and_then(|a| a.error.clone());
        steps.push(wit::StepInfo {
            kind: p.kind.as_str().into(),
            name: p.name,
            status: run.status.as_str().into(),
            attempts: p.attempts.len() as u32,
            error,
        });
    }
    wit::RunInfo { status: run.status.as_str().into(), output: run.output, error: run.error, steps }
}

impl wit::Host for RunsCtx {
    async fn get(&mut self, run_id: String) -> Result<wit::RunInfo, wit::RunError> {
        let found = self.blocking(move |runs, caller| runs.with_journal(Some(caller), &run_id)).await;
        found.map(|(run, journal)| run_info(run, journal)).map_err(to_wit)
    }

    async fn start(
        &mut self,
        name: String,
        input: String,
        idempotency_key: Option<String>,
    ) -> Result<String, wit::RunError> {
        self.blocking(move |runs, caller| {
            let start =
                Start { workflow: caller, name: &name, input: &input, idempotency_key: idempotency_key.as_deref() };
            runs.start(&start).map(|(id, _)| id)
        })
        .await
        .map_err(to_wit)
    }

    async fn send_event(&mut self, run_id: String, name: String, payload: String) -> Result<(), wit::RunError> {
        self.blocking(move |runs, caller| runs.send_event(Some(caller), &run_id, &name, &payload)).await.map_err(to_wit)
    }
}
