//! Write Floww workflows in Rust.
//!
//! A workflow is a `cdylib` crate built for `wasm32-wasip2`. It lists its webhook
//! handlers with [`workflow!`]; the host reads that list when the workflow is
//! deployed and calls the handler for each request to `/webhook/<path>`. A handler
//! gets a [`Context`] (the [key-value store](Kv), acting as this workflow) and the
//! [`Request`], and returns the [`Response`] the caller receives, or an [`Error`].
//!
//! Besides webhooks, a workflow can declare **cron** triggers, run on a schedule
//! with a [`CronEvent`], **manual** triggers, run by an operator with JSON
//! input (checked against a JSON Schema) and answering JSON, and durable **run
//! functions** (below): see [`workflow!`].
//!
//! ```no_run
//! use floww::{Context, Request, Response, Result};
//! use serde::{Deserialize, Serialize};
//!
//! floww::workflow! {
//!     "/notes" => save_note,
//! }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Note {
//!     id: String,
//!     text: String,
//! }
//!
//! fn save_note(ctx: &Context, req: Request) -> Result<Response> {
//!     let note: Note = req.json()?; // a bad body is a 400
//!     ctx.kv.set("notes", &note.id, &note)?; // a KV failure keeps its status
//!     floww::info!("saved note {}", note.id);
//!     Ok(Response::json(201, &note))
//! }
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2`; the `.wasm` file
//! is the component to deploy.
//!
//! # Durable runs
//!
//! A **run function** (`run "name" => f` in [`workflow!`]) does work that must
//! finish even when it takes days, fails half-way or the host restarts. A
//! handler starts a run of it with [`Runs::start`]; the host runs it in the
//! background and journals each [step](RunContext::step) it completes, each
//! [sleep](RunContext::sleep) and each [event](RunContext::wait_for_event) it
//! waited for. A failing step is retried with back-off ([`Retry`]) unless its
//! error is [permanent](Error::permanent). After a sleep, a wait, a retry or
//! a restart, the host calls the function again from the top, and each step
//! that finished before returns its journaled result at once. So:
//!
//! - code **outside steps runs again on every replay**, and must be
//!   deterministic: the same steps, sleeps and waits, with the same names, in
//!   the same order (a run that strays fails as non-deterministic);
//! - a step's **KV writes commit atomically with its result, exactly once**;
//!   a failed attempt leaves none behind;
//! - KV **reads outside steps see the live data**;
//! - granting or revoking permissions and dropping tables are refused inside
//!   a step.
//!
//! ```no_run
//! use std::time::Duration;
//! use floww::{Context, Error, Request, Response, Result, Retry, RunContext};
//! use serde::{Deserialize, Serialize};
//! use serde_json::json;
//!
//! floww::workflow! {
//!     "/orders" => place_order,
//!     run "fulfil" => fulfil,
//! }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Order {
//!     id: String,
//!     cents: u64,
//! }
//!
//! fn place_order(ctx: &Context, req: Request) -> Result<Response> {
//!     let order: Order = req.json()?;
//!     // The order id as idempotency key: a retried request starts no second run.
//!     let run_id = ctx.runs.start("fulfil", &order, Some(&order.id))?;
//!     Ok(Response::json(202, &json!({ "runId": run_id })))
//! }
//!
//! fn fulfil(ctx: &RunContext, order: Order) -> Result<serde_json::Value> {
//!     ctx.step("reserve", || Ok(ctx.kv.increment("stock", "widgets", -1)?))?;
//!     let retry = Retry { attempts: 8, ..Retry::default() };
//!     let receipt: String = ctx.step_with("charge", retry, || charge(&order))?;
//!     ctx.sleep("cool-off", Duration::from_secs(60));
//!     let approved: Option<bool> = ctx.wait_for_event("approved", Some(Duration::from_secs(24 * 60 * 60)))?;
//!     if approved != Some(true) {
//!         return Err(Error::new(500, format!("order {} was not approved", order.id)));
//!     }
//!     ctx.step("ship", || Ok(ctx.kv.set("shipped", &order.id, &receipt)?))?;
//!     Ok(json!({ "receipt": receipt }))
//! }
//!
//! fn charge(order: &Order) -> Result<String> {
//!     if order.cents == 0 {
//!         return Err(Error::permanent("nothing to charge")); // no retries
//!     }
//!     Ok(format!("receipt-{}", order.id))
//! }
//! # fn main() {}
//! ```
#![deny(missing_docs)]

mod cors;
mod cron;
mod durable;
mod error;
pub mod http;
mod kv;
mod log;
mod manual;
mod named;
mod runs;
mod settings;
pub mod verify;
mod webhook;
mod workflow;

pub use cron::{CronEvent, CronHandler};
pub use durable::{Retry, RunContext, RunHandler};
pub use error::Error;
pub use kv::{Access, BatchError, Expected, Item, Kv, KvError, ListOptions, Page, Permission, Write, Written};
pub use manual::ManualHandler;
pub use runs::{RunError, RunInfo, Runs, StepInfo};
pub use webhook::{Request, Response};
pub use workflow::{Context, Handler};

/// A `Result` whose error is, unless told otherwise, the handler [`Error`].
///
/// ```no_run
/// fn ping(_ctx: &floww::Context, _req: floww::Request) -> floww::Result<floww::Response> {
///     Ok(floww::Response::text(200, "pong"))
/// }
/// ```
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// A duration in whole milliseconds, as the host takes times: rounded down,
/// saturating at `u64::MAX`. Ranges are the host's to check.
pub(crate) fn millis(duration: core::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The bindings generated from `wit/workflow.wit`. Not part of the API: the
/// [`workflow!`] macro reaches the generated export macro through here.
#[doc(hidden)]
#[allow(
    unsafe_code,
    reason = "wit-bindgen glue is unsafe by nature (the lint sees it when WIT_BINDGEN_DEBUG expands it from a file); the SDK's own code is safe"
)]
pub mod wit {
    wit_bindgen::generate!({
        world: "sdk",
        path: "../wit",
        pub_export_macro: true,
    });
}

/// What the SDK's macros expand to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cors::Cors;
    pub use crate::cron::{Cron, check_crons, handle_cron};
    pub use crate::durable::{Run, check_runs, handle_run, run_durable, run_names};
    pub use crate::log::{Level, log};
    pub use crate::manual::{Manual, check_manuals, handle_manual, run_manual};
    pub use crate::settings::{Setting, allow_http, cors};
    pub use crate::wit::exports::floww::workflow::durable::Guest as Durable;
    pub use crate::wit::exports::floww::workflow::egress::Guest as Egress;
    pub use crate::wit::exports::floww::workflow::handler::{
        CronEvent as WitCronEvent, Guest, Request as WitRequest, Response as WitResponse, Trigger,
    };
    pub use crate::workflow::{Route, check_routes, handle_webhook, triggers};
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    #[test]
    fn millis_are_whole_and_saturate() {
        assert_eq!(super::millis(Duration::from_secs(5 * 60)), 300_000);
        assert_eq!(super::millis(Duration::from_micros(1_999)), 1);
        assert_eq!(super::millis(Duration::from_micros(999)), 0);
        assert_eq!(super::millis(Duration::MAX), u64::MAX);
    }
}
