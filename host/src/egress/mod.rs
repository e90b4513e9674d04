//! Guests' outbound HTTP (`wasi:http/outgoing-handler`). The host sends every
//! request itself: it checks the URL against the workflow's allowlist,
//! resolves the name, checks each address, and connects to an address it
//! checked, so no rebinding slips between the check and the connection. Each
//! request is bounded (timeouts within the execution's deadline, response
//! bytes, requests at once) and recorded for the execution and `/metrics`.

mod allowlist;
mod client;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

pub use self::allowlist::{Allowlist, Denied};
use crate::secrets::SecretValues;

/// Requests one execution may have in flight at once.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;
/// Response body bytes one request may read.
pub const MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Connect, first-byte and between-bytes timeouts when the guest sets none;
/// each is cut to what is left of the execution's deadline.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Outgoing requests an execution's record lists; later ones are counted only.
const MAX_RECORDED: usize = 100;

/// One outgoing request, as the execution's record shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpCall {
    pub method: String,
    /// `scheme://host:port`: never the path or query, which may hold secrets.
    pub origin: String,
    /// The response's status, once its head arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it failed, or was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// From the call to the response's head (or the failure).
    pub duration_ms: f64,
    /// Response body bytes the guest read.
    pub bytes: u64,
}

/// One execution's outbound HTTP: its rules, its deadline, and the record of
/// its requests, shared with the requests in flight.
#[derive(Clone)]
pub struct Egress {
    workflow: Arc<str>,
    allowlist: Allowlist,
    /// What `{{ NAME }}` entries read.
    secrets: Arc<SecretValues>,
    /// The operator allows addresses that are not public (`--allow-private-egress`).
    private_ok: bool,
    deadline: Instant,
    calls: Arc<Mutex<Vec<HttpCall>>>,
    in_flight: Arc<Semaphore>,
}

impl Egress {
    pub fn new(
        workflow: Arc<str>,
        allowlist: Allowlist,
        secrets: Arc<SecretValues>,
        private_ok: bool,
        deadline: Instant,
    ) -> Self {
        Self {
            workflow,
            allowlist,
            secrets,
            private_ok,
            deadline,
            calls: Arc::default(),
            in_flight: Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS)),
        }
    }

    /// The requests made so far, for the execution's record.
    pub fn calls(&self) -> Vec<HttpCall> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `timeout`, or the default, cut to what is left before the deadline.
    fn within_deadline(&self, timeout: Option<Duration>) -> Instant {
        (Instant::now() + timeout.unwrap_or(DEFAULT_TIMEOUT)).min(self.deadline)
    }
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _body_written: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, client::IoDone)>> + Send> {
        Box::new(client::send(self.clone(), request, options))
    }
}

/// The record of one request in flight: updated as it goes, and counted in
/// `/metrics` with its final result when dropped.
struct Call {
    egress: Egress,
    /// Its place in the record, if it has one.
    index: Option<usize>,
    origin: String,
    started: Instant,
    result: &'static str,
}

impl Call {
    fn start(egress: &Egress, method: &str, origin: String) -> Call {
        let mut calls = egress.calls.lock().unwrap_or_else(|e| e.into_inner());
        let index = (calls.len() < MAX_RECORDED).then(|| {
            calls.push(HttpCall {
                method: method.to_owned(),
                origin: origin.clone(),
                status: None,
                error: None,
                duration_ms: 0.0,
                bytes: 0,
            });
            calls.len() - 1
        });
        drop(calls);
        Call { egress: egress.clone(), index, origin, started: Instant::now(), result: "error" }
    }

    fn update(&self, change: impl FnOnce(&mut HttpCall)) {
        if let Some(index) = self.index {
            change(&mut self.egress.calls.lock().unwrap_or_else(|e| e.into_inner())[index]);
        }
    }

    fn answered(&mut self, status: u16) {
        self.result = "ok";
        let took = self.started.elapsed().as_secs_f64() * 1000.0;
        self.update(|call| {
            call.status = Some(status);
            call.duration_ms = took;
        });
    }

    fn failed(&mut self, result: &'static str, error: String) {
        self.result = result;
        let took = self.started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(workflow = %self.egress.workflow, origin = %self.origin, "outgoing request {result}: {error}");
        self.update(|call| {
            call.error = Some(error);
            if call.status.is_none() {
                call.duration_ms = took;
            }
        });
    }

    fn read(&self, bytes: u64) {
        self.update(|call| call.bytes += bytes);
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        crate::metrics::global().http_request(&self.egress.workflow, &self.origin, self.result);
    }
}
