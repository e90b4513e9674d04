//! Events counted as they arrive, and reported on a schedule and on demand:
//! one workflow with all three kinds of trigger.
//!
//! | trigger                         | does                                                        |
//! |---------------------------------|-------------------------------------------------------------|
//! | webhook `POST /report/events`   | counts one event by its `type` (table `events`)             |
//! | webhook `GET /report/latest`    | the latest report (table `reports`, key `latest`)           |
//! | cron `"* * * * *"`              | every minute: writes a report, kept a day                   |
//! | manual `report-now`             | a report now, with a `note`, optionally resetting the counts |
//!
//! The counters use `increment`, so concurrent events are never lost, and a
//! reset subtracts exactly what the report counted: events that arrive while
//! it is written stay counted for the next one.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use floww::{Context, CronEvent, Error, KvError, Request, Response, Result, Write};
use serde::{Deserialize, Serialize};

floww::workflow! {
    "/report/events" => record_event,
    GET "/report/latest" => latest,
    cron "* * * * *" => every_minute,
    manual "report-now" (schema = include_str!("input.schema.json")) => report_now,
}

const EVENTS: &str = "events";
const REPORTS: &str = "reports";
/// Reports written by the cron stay this long; `latest` stays until replaced.
const KEEP_REPORTS: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// Milliseconds since the Unix epoch.
    generated_at: u64,
    /// `cron` or `manual`.
    trigger: String,
    /// Events counted so far (since the last reset), by type.
    counts: BTreeMap<String, i64>,
    total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    /// Whether the counts were reset after this report.
    reset: bool,
}

/// `POST /report/events` `{"type": "signup"}`: 202 with that type's new count.
fn record_event(ctx: &Context, req: Request) -> Result<Response> {
    let event: Event = req.json()?;
    // The type becomes a key: the KV store's key rules apply (400 otherwise).
    let count = ctx.kv.increment(EVENTS, &event.kind, 1)?;
    Ok(Response::json(202, &serde_json::json!({ "type": event.kind, "count": count })))
}

/// `GET /report/latest`: the latest report, or 404 before the first one.
fn latest(ctx: &Context, _req: Request) -> Result<Response> {
    match ctx.kv.get::<Report>(REPORTS, "latest") {
        Ok(report) => Ok(Response::json(200, &report)),
        Err(KvError::NotFound(_)) => Err(Error::not_found("no report yet: the first comes within a minute")),
        Err(e) => Err(e.into()),
    }
}

/// Every minute: a report under its tick's time, and as `latest`.
fn every_minute(ctx: &Context, event: CronEvent) -> Result<()> {
    let report = report(ctx, "cron", event.scheduled_at, None)?;
    ctx.kv.set_with_ttl(REPORTS, &event.scheduled_at.to_string(), &report, KEEP_REPORTS)?;
    ctx.kv.set(REPORTS, "latest", &report)?;
    floww::info!("report for {}: {} events", event.scheduled_at, report.total);
    Ok(())
}

#[derive(Deserialize)]
struct ReportNow {
    note: Option<String>,
    #[serde(default)]
    reset: bool,
}

/// `floww invoke scheduled-report report-now '{"note": "…", "reset": true}'`:
/// the report, now; with `reset`, the counts it reports are subtracted.
fn report_now(ctx: &Context, input: ReportNow) -> Result<Report> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut report = report(ctx, "manual", now, input.note)?;
    if input.reset && !report.counts.is_empty() {
        let writes: Vec<Write> = report.counts.iter().map(|(kind, n)| Write::increment(EVENTS, kind, -n)).collect();
        ctx.kv.batch(&writes)?;
        report.reset = true;
    }
    ctx.kv.set(REPORTS, "latest", &report)?;
    Ok(report)
}

fn report(ctx: &Context, trigger: &str, generated_at: u64, note: Option<String>) -> Result<Report> {
    let counts: BTreeMap<String, i64> = match ctx.kv.list_items::<i64>(EVENTS) {
        Ok(items) => items.into_iter().filter(|item| item.value != 0).map(|item| (item.key, item.value)).collect(),
        Err(KvError::NotFound(_)) => BTreeMap::new(), // no event yet
        Err(e) => return Err(e.into()),
    };
    let total = counts.values().sum();
    Ok(Report { generated_at, trigger: trigger.to_owned(), counts, total, note, reset: false })
}
