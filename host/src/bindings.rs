//! The host side of the WIT contract in `wit/`: the one `bindgen!` of the
//! crate. Everything else imports the generated types from here.
//!
//! Executions run on the async workers: exports are called with `call_async`
//! (a fiber per execution), and `kv` imports are async so that a call that
//! waits (a durable write, a database round trip) leaves the worker free.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "workflow",
    imports: {
        "floww:workflow/kv": async,
        "floww:workflow/runs": async,
        // A step call that suspends the run traps, to stop the guest.
        "floww:workflow/steps": async | trappable,
    },
    exports: { default: async },
});

/// A workflow instance's exports, found in it.
pub use self::Workflow as WorkflowExports;
pub use self::exports::floww::workflow::handler::{
    Cron, CronEvent, Guest as Handler, Manual, Request, Response, Trigger, Webhook,
};
pub use self::floww::workflow::{kv, log, runs, secrets, steps};
