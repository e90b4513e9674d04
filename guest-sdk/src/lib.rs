//! Write Floww workflows in Rust.
//!
//! A workflow is a `cdylib` crate built for `wasm32-wasip2`. It lists its webhook
//! handlers with [`workflow!`]; the host reads that list when the workflow is
//! deployed and calls the handler for each request to `/webhook/<path>`. A handler
//! gets a [`Context`] (the [key-value store](Kv), acting as this workflow) and the
//! [`Request`], and returns the [`Response`] the caller receives, or an [`Error`].
//!
//! Besides webhooks, a workflow can declare **cron** triggers, run on a schedule
//! with a [`CronEvent`], and **manual** triggers, run by an operator with JSON
//! input (checked against a JSON Schema) and answering JSON: see [`workflow!`].
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
#![deny(missing_docs)]

mod cors;
mod cron;
mod error;
pub mod http;
mod kv;
mod log;
mod manual;
mod settings;
pub mod verify;
mod webhook;
mod workflow;

pub use cron::{CronEvent, CronHandler};
pub use error::Error;
pub use kv::{Access, BatchError, Expected, Item, Kv, KvError, ListOptions, Page, Permission, Write, Written};
pub use manual::ManualHandler;
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
    pub use crate::log::{Level, log};
    pub use crate::manual::{Manual, check_manuals, handle_manual, run_manual};
    pub use crate::settings::{Setting, allow_http, cors};
    pub use crate::wit::exports::floww::workflow::egress::Guest as Egress;
    pub use crate::wit::exports::floww::workflow::handler::{
        CronEvent as WitCronEvent, Guest, Request as WitRequest, Response as WitResponse, Trigger,
    };
    pub use crate::workflow::{Route, check_routes, handle_webhook, triggers};
}
