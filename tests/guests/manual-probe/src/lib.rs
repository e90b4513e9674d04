//! Manual triggers for the tests of `POST /api/workflows/{id}/triggers/{name}/invoke`:
//! - `double` (schema: `{"n": integer ≥ 0, "label"?: string}`): stores `n` in
//!   `doubled/last` and answers `{"doubled": 2n, "label"}`;
//! - `echo` (no schema): answers `{"input": <the input>}`;
//! - `fail`: returns an error with the message `"nothing to do: <input>"`;
//! - `trap`: panics; `spin`: loops until the host's deadline.
//!
//! It also declares a daily cron (at 03:00 UTC, so it does not run during
//! tests), to show in listings, and a webhook.

use floww::{Context, CronEvent, Error, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

floww::workflow! {
    manual "double" (schema = r#"{
        "type": "object",
        "properties": {
            "n": { "type": "integer", "minimum": 0 },
            "label": { "type": "string" }
        },
        "required": ["n"],
        "additionalProperties": false
    }"#) => double,
    manual "echo" => echo,
    manual "fail" => fail,
    manual "trap" => trap,
    manual "spin" => spin,
    cron "0 3 * * *" => nightly,
    GET "/manual-probe/last" => last,
}

#[derive(Deserialize)]
struct Double {
    n: u64,
    label: Option<String>,
}

#[derive(Serialize)]
struct Doubled {
    doubled: u64,
    label: Option<String>,
}

fn double(ctx: &Context, input: Double) -> Result<Doubled> {
    ctx.kv.set("doubled", "last", &input.n)?;
    Ok(Doubled { doubled: input.n * 2, label: input.label })
}

fn echo(_ctx: &Context, input: Value) -> Result<Value> {
    Ok(json!({ "input": input }))
}

fn fail(_ctx: &Context, input: Value) -> Result<Value> {
    Err(Error::bad_request(format!("nothing to do: {input}")))
}

fn trap(_ctx: &Context, _input: Value) -> Result<Value> {
    panic!("the manual probe traps on purpose");
}

fn spin(_ctx: &Context, _input: Value) -> Result<Value> {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn nightly(_ctx: &Context, _event: CronEvent) -> Result<()> {
    Ok(())
}

fn last(ctx: &Context, _req: Request) -> Result<Response> {
    let last: Option<u64> = ctx.kv.get_optional("doubled", "last")?;
    Ok(Response::json(200, &json!({ "last": last })))
}
