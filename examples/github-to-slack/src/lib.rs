//! GitHub → Slack: a GitHub webhook, checked against its signature, becomes
//! a Slack message for every opened issue; events are counted per
//! repository in KV.
//!
//! Secrets (`floww secret set github-to-slack NAME`):
//! - `GITHUB_WEBHOOK_SECRET`: the secret configured on the GitHub webhook;
//! - `SLACK_WEBHOOK_URL`: a Slack incoming-webhook URL, which is also the
//!   only place this workflow may send HTTP to (`{{ SLACK_WEBHOOK_URL }}`).

use floww::http::Request as Outgoing;
use floww::{Context, Error, Request, Response, Result};
use serde::Deserialize;
use serde_json::json;

floww::workflow! {
    allow_http = ["{{ SLACK_WEBHOOK_URL }}"],
    "/github" => github,
    GET "/github/stats" => stats,
}

const COUNTS: &str = "github_events";

/// The parts of an `issues` event this workflow reads.
#[derive(Deserialize)]
struct IssuesEvent {
    action: String,
    issue: Issue,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    title: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

/// Any event names its repository.
#[derive(Deserialize)]
struct AnyEvent {
    repository: Option<Repository>,
}

fn github(ctx: &Context, req: Request) -> Result<Response> {
    floww::verify::github(&req, &ctx.secret("GITHUB_WEBHOOK_SECRET")?)?;
    let event = req.header("x-github-event").unwrap_or("unknown").to_owned();
    let repo = req.json::<AnyEvent>()?.repository.map_or_else(|| "(none)".to_owned(), |r| r.full_name);
    // Keys allow letters, digits and _-.:@ only: `owner/name` becomes `owner:name`.
    let count = ctx.kv.increment(COUNTS, &repo.replace('/', ":"), 1)?;

    let mut posted = false;
    if event == "issues" {
        let issues: IssuesEvent = req.json()?;
        if issues.action == "opened" {
            let text = format!("New issue #{}: {}", issues.issue.number, issues.issue.title);
            let answer = Outgoing::post(ctx.secret("SLACK_WEBHOOK_URL")?).json(&json!({ "text": text }))?.send()?;
            if !answer.is_success() {
                return Err(Error::new(502, format!("Slack answered {}", answer.status)));
            }
            floww::info!("posted issue #{} of {} to Slack", issues.issue.number, issues.repository.full_name);
            posted = true;
        }
    }
    Ok(Response::json(200, &json!({ "event": event, "repository": repo, "count": count, "posted": posted })))
}

/// Events counted so far, by repository.
fn stats(ctx: &Context, _req: Request) -> Result<Response> {
    let counts: serde_json::Map<String, serde_json::Value> = ctx
        .kv
        .list_items::<i64>(COUNTS)
        .or_else(|e| if e.status_code() == 404 { Ok(Vec::new()) } else { Err(e) })?
        .into_iter()
        .map(|item| (item.key.replacen(':', "/", 1), json!(item.value)))
        .collect();
    Ok(Response::json(200, &counts))
}
