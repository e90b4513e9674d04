//! Durable runs for the tests of the runs API, deployed as `runs`.
//!
//! Webhooks:
//! - `POST /start` `{"name", "input", "key": string | null}`: starts run
//!   function `name` with `input` (idempotency key `key`); 202 `{"runId"}`,
//!   or a run error's status with `{"error"}`;
//! - `POST /event` `{"runId", "name", "payload"}`: sends the event; 202 `{}`;
//! - `GET /progress`: table `progress` as `{key: integer}` (`{}` without it);
//! - `POST /mode` `{"mode"}`: sets `config`/`mode`, which `fickle` reads;
//! - `GET /run?id=RUN`: the run as `ctx.runs.get` finds it, or its error.
//!
//! Run functions (each step's KV writes go to table `progress`):
//! - `steps` `{"tag", "steps": n, "stepMs"}`: steps `step-0`…`step-{n-1}`,
//!   each adding 1 to `{tag}:{i}` and `{tag}:total`, then taking `stepMs`;
//!   output `{"done": n}`;
//! - `flaky` `{"tag", "failures": n, "permanent", "attempts"}`: step `charge`
//!   adds 1 to `{tag}:tries` and fails its first `n` attempts (with
//!   `Error::permanent` if `permanent`, else a 502), retried `attempts` times
//!   200 ms, 400 ms… apart (at most 1 s); output `{"attempt": k}`. As failed
//!   attempts keep no writes, `{tag}:tries` ends at 1;
//! - `sleepy` `{"tag", "ms"}`: step `before` (`{tag}:before`), sleep `nap` of
//!   `ms`, step `after` (`{tag}:after`); output `{"slept": ms}`;
//! - `approval` `{"timeoutMs"}`: waits for event `approved`; output
//!   `{"event": <its payload, or null on timeout>}`;
//! - `fickle` `{"ms"}`: reads `config`/`mode` outside any step (default `a`),
//!   then step `first-{mode}`, sleep `pause` of `ms`, step `last`; output
//!   `{"mode"}`. Changing the mode during the sleep makes the replay meet
//!   another step than the journal has: non-deterministic;
//! - `fail`: step `only` succeeds, then the run fails with "the run gave up";
//! - `hostile` `{"how": "spin" | "panic", "inStep"}`: loops forever or
//!   panics, inside step `bad` (2 attempts, 100 ms apart) or outside any step;
//! - `grant`: step `share` writes an item, then grants `probe-reader` a read
//!   on its table, which a step may not (one attempt).

use std::time::Duration;

use floww::{Context, Error, Request, Response, Result, Retry, RunContext};
use serde::Deserialize;
use serde_json::{Map, Value, json};

floww::workflow! {
    "/start" => start,
    "/event" => event,
    GET "/progress" => progress,
    "/mode" => mode,
    GET "/run" => run_info,
    run "steps" => steps,
    run "flaky" => flaky,
    run "sleepy" => sleepy,
    run "approval" => approval,
    run "fickle" => fickle,
    run "fail" => fail,
    run "hostile" => hostile,
    run "grant" => grant,
}

const PROGRESS: &str = "progress";

#[derive(Deserialize)]
struct Start {
    name: String,
    #[serde(default)]
    input: Value,
    key: Option<String>,
}

fn start(ctx: &Context, req: Request) -> Result<Response> {
    let body: Start = req.json()?;
    let run_id = ctx.runs.start(&body.name, &body.input, body.key.as_deref())?;
    Ok(Response::json(202, &json!({ "runId": run_id })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    run_id: String,
    name: String,
    #[serde(default)]
    payload: Value,
}

fn event(ctx: &Context, req: Request) -> Result<Response> {
    let body: Event = req.json()?;
    ctx.runs.send_event(&body.run_id, &body.name, &body.payload)?;
    Ok(Response::json(202, &json!({})))
}

fn progress(ctx: &Context, _req: Request) -> Result<Response> {
    let items = match ctx.kv.list_items::<i64>(PROGRESS) {
        Err(e) if e.status_code() == 404 => Vec::new(),
        items => items?,
    };
    let counts: Map<String, Value> = items.into_iter().map(|item| (item.key, json!(item.value))).collect();
    Ok(Response::json(200, &counts))
}

fn run_info(ctx: &Context, req: Request) -> Result<Response> {
    let id = req.query("id").ok_or_else(|| Error::bad_request("?id= names the run"))?;
    Ok(Response::json(200, &ctx.runs.get(id)?))
}

#[derive(Deserialize)]
struct Mode {
    mode: String,
}

fn mode(ctx: &Context, req: Request) -> Result<Response> {
    let body: Mode = req.json()?;
    ctx.kv.set("config", "mode", &body.mode)?;
    Ok(Response::json(200, &json!({ "mode": body.mode })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Steps {
    tag: String,
    steps: u32,
    step_ms: u64,
}

fn steps(ctx: &RunContext, input: Steps) -> Result<Value> {
    for i in 0..input.steps {
        ctx.step(&format!("step-{i}"), || {
            ctx.kv.increment(PROGRESS, &format!("{}:{i}", input.tag), 1)?;
            ctx.kv.increment(PROGRESS, &format!("{}:total", input.tag), 1)?;
            std::thread::sleep(Duration::from_millis(input.step_ms));
            Ok(i)
        })?;
    }
    Ok(json!({ "done": input.steps }))
}

#[derive(Deserialize)]
struct Flaky {
    tag: String,
    failures: u32,
    permanent: bool,
    attempts: u32,
}

fn flaky(ctx: &RunContext, input: Flaky) -> Result<Value> {
    let retry = Retry {
        attempts: input.attempts,
        initial: Duration::from_millis(200),
        factor: 2.0,
        max: Duration::from_secs(1),
    };
    let attempt = ctx.step_with("charge", retry, || {
        floww::info!("charging, attempt {}", ctx.attempt());
        ctx.kv.increment(PROGRESS, &format!("{}:tries", input.tag), 1)?;
        if ctx.attempt() > input.failures {
            Ok(ctx.attempt())
        } else if input.permanent {
            Err(Error::permanent("card declined"))
        } else {
            Err(Error::new(502, format!("gateway timeout on attempt {}", ctx.attempt())))
        }
    })?;
    Ok(json!({ "attempt": attempt }))
}

#[derive(Deserialize)]
struct Sleepy {
    tag: String,
    ms: u64,
}

fn sleepy(ctx: &RunContext, input: Sleepy) -> Result<Value> {
    ctx.step("before", || Ok(ctx.kv.increment(PROGRESS, &format!("{}:before", input.tag), 1)?))?;
    ctx.sleep("nap", Duration::from_millis(input.ms));
    ctx.step("after", || Ok(ctx.kv.increment(PROGRESS, &format!("{}:after", input.tag), 1)?))?;
    Ok(json!({ "slept": input.ms }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Approval {
    timeout_ms: u64,
}

fn approval(ctx: &RunContext, input: Approval) -> Result<Value> {
    let event: Option<Value> = ctx.wait_for_event("approved", Some(Duration::from_millis(input.timeout_ms)))?;
    Ok(json!({ "event": event }))
}

#[derive(Deserialize)]
struct Fickle {
    ms: u64,
}

fn fickle(ctx: &RunContext, input: Fickle) -> Result<Value> {
    // Outside any step, on purpose: a replay may read another mode.
    let mode: String = ctx.kv.get_optional("config", "mode")?.unwrap_or_else(|| "a".to_owned());
    ctx.step(&format!("first-{mode}"), || Ok(mode.clone()))?;
    ctx.sleep("pause", Duration::from_millis(input.ms));
    ctx.step("last", || Ok(1))?;
    Ok(json!({ "mode": mode }))
}

fn fail(ctx: &RunContext, _input: Value) -> Result<Value> {
    ctx.step("only", || Ok(()))?;
    Err(Error::new(500, "the run gave up"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Hostile {
    how: String,
    in_step: bool,
}

fn hostile(ctx: &RunContext, input: Hostile) -> Result<Value> {
    let misbehave = || -> Result<()> {
        if input.how == "panic" {
            panic!("the hostile run panics");
        }
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    };
    if !input.in_step {
        misbehave()?;
    }
    let retry =
        Retry { attempts: 2, initial: Duration::from_millis(100), factor: 1.0, max: Duration::from_millis(100) };
    ctx.step_with("bad", retry, misbehave)?;
    Ok(Value::Null)
}

fn grant(ctx: &RunContext, _input: Value) -> Result<Value> {
    ctx.step_with("share", Retry::none(), || {
        ctx.kv.set("shared", "k", &1)?;
        ctx.kv.grant_permission("shared", "probe-reader", floww::Access { read: true, write: false })?;
        Ok(())
    })?;
    Ok(Value::Null)
}
