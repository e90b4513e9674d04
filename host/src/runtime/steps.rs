//! The guest-facing `steps` interface: the journal of the run being
//! invoked. Each call goes to the execution's [`Invocation`], with the KV
//! context whose staged writes a step commits and the log whose lines an
//! attempt keeps. A call the invocation can't answer (the run suspends, or
//! fails, or was taken away) traps, which stops the guest; outside
//! `handle-run` every call traps.

use wasmtime::component::HasData;

use super::ExecutionState;
use super::log::GuestLog;
use crate::bindings::steps as wit;
use crate::kv::{KvCtx, Staging};
use crate::runs::{Answer, Began, Invocation, Retry};

/// What a `steps` call reaches of the execution's state.
pub struct Steps<'a> {
    kv: &'a mut KvCtx,
    log: &'a GuestLog,
    run: &'a mut Option<Invocation>,
}

struct StepsView;

impl HasData for StepsView {
    type Data<'a> = Steps<'a>;
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<ExecutionState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<ExecutionState, StepsView>(linker, |s| Steps {
        kv: &mut s.now.kv,
        log: &s.now.log,
        run: &mut s.now.run,
    })
}

fn outside() -> wasmtime::Error {
    wasmtime::Error::msg("steps can only be used inside a run function")
}

/// Why a guest stops: the message of the trap (the record has the run's own account).
fn stopped() -> wasmtime::Error {
    wasmtime::Error::msg("the run stopped here (suspended, failed or taken over: see the run)")
}

impl Steps<'_> {
    fn invocation(&mut self) -> wasmtime::Result<&mut Invocation> {
        self.run.as_mut().ok_or_else(outside)
    }

    /// Runs `call` on the invocation off the async workers (it reads and
    /// writes the store), handing it the step's staged writes: the step is
    /// over after, and the caller says what is staged next.
    async fn blocking<T: Send + 'static>(
        &mut self,
        call: impl FnOnce(&mut Invocation, &Staging) -> Answer<T> + Send + 'static,
    ) -> wasmtime::Result<T> {
        let Some(mut invocation) = self.run.take() else { return Err(outside()) };
        let staging = self.kv.staging.take().unwrap_or_default();
        let (answer, invocation) = tokio::task::spawn_blocking(move || {
            let answer = call(&mut invocation, &staging);
            (answer, invocation)
        })
        .await
        .expect("a steps call panicked");
        *self.run = Some(invocation);
        answer.map_err(|_| stopped())
    }

    /// The lines logged since the open step's attempt began.
    fn attempt_logs(&mut self) -> Vec<crate::runtime::LogLine> {
        let mark = self.run.as_ref().and_then(Invocation::log_mark).unwrap_or(usize::MAX);
        self.log.lines_since(mark)
    }
}

impl wit::Host for Steps<'_> {
    async fn run_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.invocation()?.run.id.clone())
    }

    async fn begin(&mut self, name: String, retry: wit::Retry) -> wasmtime::Result<wit::Began> {
        let mark = self.log.len();
        let retry = Retry {
            attempts: retry.attempts,
            initial_ms: retry.initial_ms,
            factor: retry.factor,
            max_ms: retry.max_ms,
        };
        let began = self.invocation()?.begin(&name, retry, mark).map_err(|_| stopped())?;
        Ok(match began {
            Began::Done(result) => wit::Began::Done(result),
            Began::Run(attempt) => {
                self.kv.staging = Some(Staging::default());
                wit::Began::Run(attempt)
            }
        })
    }

    async fn succeed(&mut self, output: String) -> wasmtime::Result<Result<(), String>> {
        let logs = self.attempt_logs();
        let committed = self.blocking(move |inv, staging| inv.succeed(output, staging, logs)).await?;
        // Committed: the step is over. Stale: it runs again from nothing.
        self.kv.staging = if committed.is_ok() { None } else { Some(Staging::default()) };
        Ok(committed)
    }

    async fn fail(&mut self, error: String, permanent: bool) -> wasmtime::Result<String> {
        let logs = self.attempt_logs();
        self.kv.staging = None;
        self.blocking(move |inv, _| inv.fail(error, permanent, logs)).await
    }

    async fn sleep_until(&mut self, name: String, at: u64) -> wasmtime::Result<()> {
        self.blocking(move |inv, _| inv.sleep_until(&name, at)).await
    }

    async fn wait_event(&mut self, name: String, timeout_ms: Option<u64>) -> wasmtime::Result<Option<String>> {
        self.blocking(move |inv, _| inv.wait_event(&name, timeout_ms)).await
    }
}
