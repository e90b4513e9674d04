use clap::Subcommand;
use serde_json::Value;

use super::client::{AdminClient, ClientOptions};
use super::invoke::json_argument;
use super::logs::utc;

/// List a workflow's durable runs on a running host, newest first.
#[derive(clap::Args)]
pub struct RunsCommand {
    /// The workflow id.
    id: String,

    /// Only runs with this status: queued, running, sleeping, waiting,
    /// retrying, completed, failed or cancelled.
    #[arg(long)]
    status: Option<String>,

    /// How many to show.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    last: u32,

    #[command(flatten)]
    client: ClientOptions,
}

/// Start, show, cancel and rerun a durable run, or send it an event, on a
/// running host.
#[derive(clap::Args)]
pub struct RunCommand {
    #[command(subcommand)]
    action: RunAction,

    #[command(flatten)]
    client: ClientOptions,
}

#[derive(Subcommand)]
enum RunAction {
    /// Start run function NAME of workflow ID and print the run's id.
    Start {
        /// The workflow id.
        id: String,
        /// The run function's name.
        name: String,
        /// The input as JSON text; `-` reads it from standard input [default: null].
        input: Option<String>,
        /// An idempotency key: a second start with the same key starts
        /// nothing and prints the first run's id.
        #[arg(long)]
        key: Option<String>,
    },
    /// Show a run: its status, input, output or error, and each step with
    /// its attempts, errors and log lines.
    Show {
        /// The run id.
        run: String,
    },
    /// Cancel a run that has not ended; nothing it does after is kept.
    Cancel {
        /// The run id.
        run: String,
    },
    /// Run an ended run again on the workflow's current version, from the
    /// start or from a step on (the journal before it is kept).
    Rerun {
        /// The run id.
        run: String,
        /// The position of the first step to run again (0: the first).
        #[arg(long, default_value_t = 0)]
        from_step: u32,
    },
    /// Send event NAME to a run; a run that waits for it, now or later, receives it.
    Event {
        /// The run id.
        run: String,
        /// The event's name.
        name: String,
        /// The payload as JSON text; `-` reads it from standard input [default: null].
        payload: Option<String>,
    },
}

impl RunsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        // A typo in the id is an error, not an empty list.
        client.get(client.url(&["workflows", &self.id]))?;
        let mut url = client.url(&["runs"]);
        url.query_pairs_mut().append_pair("workflow", &self.id).append_pair("limit", &self.last.to_string());
        if let Some(status) = &self.status {
            url.query_pairs_mut().append_pair("status", status);
        }
        let runs = client.get(url)?["runs"].as_array().cloned().unwrap_or_default();
        if runs.is_empty() {
            println!("no runs of {} yet", self.id);
        }
        for run in runs.iter().rev() {
            println!("{}", summary_line(run));
        }
        Ok(())
    }
}

impl RunCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        match self.action {
            RunAction::Start { id, name, input, key } => {
                let input = json_argument(input.as_deref(), "the input")?;
                let mut url = client.url(&["workflows", &id, "runs", &name]);
                if let Some(key) = &key {
                    url.query_pairs_mut().append_pair("key", key);
                }
                let answer = client.send(client.post(url).header("content-type", "application/json").body(input))?;
                let run = answer["runId"].as_str().unwrap_or("?");
                if answer["started"] == Value::Bool(false) {
                    eprintln!("key {:?} started run {run} before; nothing new started", key.unwrap_or_default());
                }
                println!("{run}");
            }
            RunAction::Show { run } => show(&client, &run)?,
            RunAction::Cancel { run } => {
                let answer = client.send(client.post(client.url(&["runs", &run, "cancel"])))?;
                println!("{}", summary_line(&answer));
            }
            RunAction::Rerun { run, from_step } => {
                let mut url = client.url(&["runs", &run, "rerun"]);
                url.query_pairs_mut().append_pair("fromStep", &from_step.to_string());
                let answer = client.send(client.post(url))?;
                println!("{}", summary_line(&answer));
            }
            RunAction::Event { run, name, payload } => {
                let payload = json_argument(payload.as_deref(), "the payload")?;
                let url = client.url(&["runs", &run, "events", &name]);
                client.send(client.post(url).header("content-type", "application/json").body(payload))?;
                println!("Sent event {name} to run {run}");
            }
        }
        Ok(())
    }
}

/// `ID  NAME  STATUS  started …  [error]`
fn summary_line(run: &Value) -> String {
    let text = |key: &str| run[key].as_str().unwrap_or("?").to_owned();
    let mut line = format!(
        "{}  {}  {}  started {}",
        text("id"),
        text("name"),
        text("status"),
        utc(run["createdAt"].as_u64().unwrap_or_default())
    );
    if let Some(error) = run["error"].as_str() {
        line.push_str(&format!("  error: {error}"));
    }
    line
}

fn show(client: &AdminClient, id: &str) -> anyhow::Result<()> {
    let run = client.get(client.url(&["runs", id]))?;
    println!("{}", summary_line(&run));
    println!("  input: {}", run["input"]);
    if !run["output"].is_null() {
        println!("  output: {}", run["output"]);
    }
    for step in run["steps"].as_array().into_iter().flatten() {
        let mut line = format!(
            "  #{} {} {:?}: {}",
            step["index"],
            step["kind"].as_str().unwrap_or("?"),
            step["name"].as_str().unwrap_or("?"),
            step["status"].as_str().unwrap_or("?")
        );
        if let Some(at) = step["wakeAt"].as_u64() {
            line.push_str(&format!(" until {}", utc(at)));
        }
        if let Some(error) = step["error"].as_str() {
            line.push_str(&format!(": {error}"));
        }
        println!("{line}");
        for (n, attempt) in step["attempts"].as_array().into_iter().flatten().enumerate() {
            let outcome = attempt["error"].as_str().map_or("ok".to_owned(), |e| format!("failed: {e}"));
            println!("    attempt {} at {}: {outcome}", n + 1, utc(attempt["startedAt"].as_u64().unwrap_or_default()));
            for log in attempt["logs"].as_array().into_iter().flatten() {
                println!("      {} {}", log["level"].as_str().unwrap_or("?"), log["message"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(())
}
