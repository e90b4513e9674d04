//! Floww host: runs workflows compiled to WebAssembly components behind
//! webhooks, with a KV store whose tables are guarded per workflow.
//!
//! Data flows one way, and each layer imports only those below it:
//!
//! - `commands`: the CLI; flags become a [`host::Config`];
//! - `host`: opens the stores and assembles the rest;
//! - `http` (webhooks, admin API) and `scheduler` (cron ticks and due
//!   runs): the callers;
//! - `executor`: runs an execution for any trigger, and records it
//!   (`executions`);
//! - `registry` (deployed workflows) over `triggers` (what starts them);
//! - `runtime`: wasm instances and their host functions;
//! - `kv`: the guarded KV store, over its backends; `runs`: durable runs,
//!   their journals and events, whose steps commit with their KV writes;
//!   `egress`: guests' outbound HTTP under their allowlists; `secrets`:
//!   per-workflow secrets, sealed at rest;
//! - `storage`: the ground floor (storage errors, PostgreSQL, files, ids).
//!
//! `bindings` (the WIT types), `metrics` and `guest_build` (for `floww
//! build`) stand beside these and import none of them.

pub mod bindings;
pub mod commands;
pub mod egress;
pub mod executions;
pub mod executor;
pub mod guest_build;
pub mod host;
pub mod http;
pub mod kv;
pub mod metrics;
pub mod registry;
pub mod runs;
pub mod runtime;
pub mod scheduler;
pub mod secrets;
pub mod storage;
pub mod triggers;
