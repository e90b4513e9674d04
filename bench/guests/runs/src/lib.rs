//! What `bench/runs.sh` measures:
//! - `POST /writes?n=N`: N increments of one key, each its own durable write;
//! - run `steps` `{"n"}`: the same N increments, one per step, so each is
//!   committed with its step's journal entry;
//! - run `three`: three steps of one increment each;
//! - run `nap` `{"ms"}`: a durable sleep of `ms`, then a step.

use std::time::Duration;

use floww::{Context, Error, Request, Response, Result, RunContext};
use serde_json::{Value, json};

floww::workflow! {
    "/writes" => writes,
    run "steps" => steps,
    run "three" => three,
    run "nap" => nap,
}

fn count(input: &Value, field: &str) -> Result<u64> {
    input[field].as_u64().ok_or_else(|| Error::bad_request(format!("`{field}` must be a count")))
}

fn writes(ctx: &Context, req: Request) -> Result<Response> {
    let n: u64 =
        req.query("n").and_then(|n| n.parse().ok()).ok_or_else(|| Error::bad_request("`n` must be a count"))?;
    for _ in 0..n {
        ctx.kv.increment("bench", "writes", 1)?;
    }
    Ok(Response::json(200, &json!({ "writes": n })))
}

fn steps(ctx: &RunContext, input: Value) -> Result<Value> {
    let n = count(&input, "n")?;
    for i in 0..n {
        ctx.step(&format!("step-{i}"), || Ok(ctx.kv.increment("bench", "steps", 1)?))?;
    }
    Ok(json!({ "steps": n }))
}

fn three(ctx: &RunContext, _input: Value) -> Result<Value> {
    for name in ["one", "two", "three"] {
        ctx.step(name, || Ok(ctx.kv.increment("bench", name, 1)?))?;
    }
    Ok(Value::Null)
}

fn nap(ctx: &RunContext, input: Value) -> Result<Value> {
    ctx.sleep("nap", Duration::from_millis(count(&input, "ms")?));
    ctx.step("woke", || Ok(ctx.kv.increment("bench", "woke", 1)?))?;
    Ok(Value::Null)
}
