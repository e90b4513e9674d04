use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::client::ClientOptions;
use crate::guest_build::Guest;
use crate::storage::WorkflowId;

/// Deploy a workflow to a running host (building it first if given a crate).
///
/// Redeploying an id swaps the new version in without dropping requests.
#[derive(clap::Args)]
pub struct DeployCommand {
    /// A workflow crate's folder, or a built component (.wasm).
    #[arg(value_name = "CRATE_DIR|FILE.wasm")]
    source: PathBuf,

    /// The workflow id [default: the crate's name, or the file's name with `_` as `-`].
    #[arg(long)]
    id: Option<String>,

    /// Seconds one execution of this workflow may run [default: the host's --timeout].
    #[arg(long)]
    timeout: Option<f64>,

    /// Remove this entry of the workflow's allow_http list, so it may not
    /// call there (repeatable; the entry as the workflow declares it, e.g.
    /// "https://*.slack.com").
    #[arg(long, value_name = "ENTRY")]
    deny_http: Vec<String>,

    /// Executions one instance of this workflow serves before it is dropped
    /// [default: the host's --instance-reuse, normally 1: a fresh instance
    /// per execution]. More keeps an instance warm between executions, with
    /// its memory and globals (see SECURITY.md).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    instance_reuse: Option<u32>,

    #[command(flatten)]
    client: ClientOptions,
}

impl DeployCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        let source = &self.source;
        let (wasm, default_id) = match Guest::named_by(source)? {
            Some(guest) => (guest.build()?, guest.name().to_owned()),
            None => {
                let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
                (source.clone(), stem.replace('_', "-"))
            }
        };
        let id = match self.id {
            Some(id) => id,
            None => {
                WorkflowId::parse(&default_id).with_context(|| {
                    format!("{} gives no workflow id of its own: name one with --id", source.display())
                })?;
                default_id
            }
        };
        let bytes = std::fs::read(&wasm).with_context(|| format!("could not read {}", wasm.display()))?;
        let mut url = client.url(&["workflows", &id]);
        if let Some(timeout) = self.timeout {
            url.query_pairs_mut().append_pair("timeout", &timeout.to_string());
        }
        if !self.deny_http.is_empty() {
            url.query_pairs_mut().append_pair("denyHttp", &self.deny_http.join(","));
        }
        if let Some(n) = self.instance_reuse {
            url.query_pairs_mut().append_pair("instanceReuse", &n.to_string());
        }
        let workflow = client.send(client.put(url).body(bytes))?;
        println!("Deployed {id} ({} bytes, sha256 {})", workflow["size"], workflow["sha256"].as_str().unwrap_or("?"));
        print_triggers(&workflow);
        Ok(())
    }
}

/// One line per trigger: a webhook's method and full URL, a cron's schedule,
/// a manual trigger's `floww invoke` command line, a run function's `floww
/// run start` one; then where its outbound HTTP may go.
pub fn print_triggers(workflow: &Value) {
    let id = workflow["id"].as_str().unwrap_or("?");
    for trigger in workflow["triggers"].as_array().into_iter().flatten() {
        let text = |field: &str| trigger[field].as_str().unwrap_or("?").to_owned();
        match trigger["type"].as_str() {
            Some("cron") => println!("  CRON   {} (UTC)", text("schedule")),
            Some("manual") => {
                let schema = if trigger["inputSchema"].is_null() { "" } else { "  (input checked by a JSON Schema)" };
                println!("  MANUAL floww invoke {id} {} '<json>'{schema}", text("name"));
            }
            Some("run") => println!("  RUN    floww run start {id} {} '<json>' [--key KEY]", text("name")),
            _ => println!("  {:<6} {}", text("method"), text("url")),
        }
    }
    let list =
        |field: &str| workflow[field].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>();
    let (allowed, denied) = (list("allowHttp"), list("deniedHttp"));
    if !allowed.is_empty() {
        println!("  HTTP   may call {}", allowed.join(", "));
    }
    if !denied.is_empty() {
        println!("  HTTP   removed by the operator: {}", denied.join(", "));
    }
    match workflow["instanceReuse"].as_u64() {
        Some(n) if n > 1 => {
            println!("  REUSE  one instance serves up to {n} executions (memory and globals carry over)")
        }
        _ => {}
    }
}
