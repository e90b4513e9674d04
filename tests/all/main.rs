//! Integration tests: the real `floww` binary, real HTTP, real components
//! built from `examples/` and `tests/guests/`.

mod admin;
mod adversarial;
mod cli;
mod connections;
mod dashboard;
mod dev;
mod durability;
mod egress;
mod harness;
mod instance_reuse;
mod kv_api;
mod kv_ops;
mod kv_store_example;
mod lifecycle;
mod multi_host;
mod observability;
mod order_pipeline_example;
mod permissions;
mod properties;
mod runs;
mod secrets;
mod shared_tables;
mod triggers;
mod typescript;
mod validation;
mod webdriver;
mod webhooks;
