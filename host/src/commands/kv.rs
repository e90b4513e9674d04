use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::client::ClientOptions;

/// Inspect and repair the KV store of a running host, acting as a workflow
/// (under the same permission rules that workflow meets).
#[derive(clap::Args)]
pub struct KvCommand {
    /// The workflow to act as.
    #[arg(long = "as", value_name = "WORKFLOW_ID")]
    as_workflow: String,

    #[command(subcommand)]
    action: KvAction,

    #[command(flatten)]
    client: ClientOptions,
}

#[derive(Subcommand)]
enum KvAction {
    /// List the tables the workflow owns or was granted, with their owners.
    Tables,
    /// List a table's keys (or, with --values, its items).
    Keys {
        table: String,
        #[arg(long)]
        values: bool,
    },
    /// Print one item.
    Get { table: String, key: String },
    /// Store a JSON value.
    Set {
        table: String,
        key: String,
        /// The value as JSON text, e.g. '{"name": "Ann"}' or '"text"'.
        json: String,
    },
    /// Delete one item.
    Rm { table: String, key: String },
    /// List who may use a table.
    Perms { table: String },
    /// Grant another workflow rights on a table the acting workflow owns.
    Grant {
        table: String,
        workflow: String,
        #[arg(long)]
        read: bool,
        #[arg(long)]
        write: bool,
    },
    /// Revoke another workflow's grant on a table the acting workflow owns.
    Revoke { table: String, workflow: String },
}

impl KvCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        let me = self.as_workflow.as_str();
        let answer = match &self.action {
            KvAction::Tables => client.get(client.url(&["kv", me]))?,
            KvAction::Keys { table, values } => {
                let mut url = client.url(&["kv", me, table]);
                if *values {
                    url.query_pairs_mut().append_pair("values", "true");
                }
                client.get(url)?
            }
            KvAction::Get { table, key } => client.get(client.url(&["kv", me, table, key]))?,
            KvAction::Set { table, key, json } => {
                let value: Value = serde_json::from_str(json).context("the value must be JSON text")?;
                client.send(client.put(client.url(&["kv", me, table, key])).json(&json!({ "value": value })))?
            }
            KvAction::Rm { table, key } => client.delete(client.url(&["kv", me, table, key]))?,
            KvAction::Perms { table } => client.get(client.url(&["kv", me, "permissions", table]))?,
            KvAction::Grant { table, workflow, read, write } => client.send(
                client
                    .put(client.url(&["kv", me, "permissions", table]))
                    .json(&json!({ "workflowId": workflow, "canRead": read, "canWrite": write })),
            )?,
            KvAction::Revoke { table, workflow } => {
                client.delete(client.url(&["kv", me, "permissions", table, workflow]))?
            }
        };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        Ok(())
    }
}
