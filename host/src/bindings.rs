//! The host side of the WIT contract in `wit/`: the one `bindgen!` of the
//! crate. Everything else imports the generated types from here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "workflow",
});

pub use self::exports::floww::workflow::handler::{Cron, CronEvent, Manual, Request, Response, Trigger, Webhook};
pub use self::floww::workflow::{kv, log};
