//! A cron trigger every second that leaves a trace of each run in the KV
//! store, so tests can count runs and catch a tick that ran twice:
//! - `runs/count`: incremented once per run;
//! - `ticks/<scheduled-at>`: incremented once per run of that tick, so a value
//!   above 1 is a tick that ran twice;
//! - `late/<scheduled-at>`: `fired-at − scheduled-at`, in ms.
//!
//! `GET /webhook/cron-probe/runs` answers `{"runs": n}`.

use floww::{Context, CronEvent, Request, Response, Result, Write};

floww::workflow! {
    cron "* * * * * *" => tick,
    GET "/cron-probe/runs" => runs,
}

fn tick(ctx: &Context, event: CronEvent) -> Result<()> {
    let key = event.scheduled_at.to_string();
    ctx.kv.batch(&[
        Write::increment("runs", "count", 1),
        Write::increment("ticks", &key, 1),
        Write::set("late", &key, &event.fired_at.saturating_sub(event.scheduled_at))?,
    ])?;
    Ok(())
}

fn runs(ctx: &Context, _req: Request) -> Result<Response> {
    let runs: i64 = ctx.kv.get_optional("runs", "count")?.unwrap_or(0);
    Ok(Response::json(200, &serde_json::json!({ "runs": runs })))
}
