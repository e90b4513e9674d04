//! Floww host: runs workflows compiled to WebAssembly components behind
//! webhooks, with a KV store whose tables are guarded per workflow.
//!
//! Data flows one way: request (`http`) → route (`registry`) → `runtime` →
//! host functions (`kv`, guest log) → storage (`kv` backends).

pub mod bindings;
pub mod commands;
pub mod database;
pub mod executions;
pub mod guest_build;
pub mod http;
pub mod kv;
pub mod metrics;
pub mod registry;
pub mod runtime;
pub mod scheduler;
