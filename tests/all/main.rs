//! Integration tests: the real `floww` binary, real HTTP, real components
//! built from `examples/` and `tests/guests/`.

mod harness;
mod kv_store_example;
mod lifecycle;
mod permissions;
mod shared_tables;
mod validation;
mod webhooks;
