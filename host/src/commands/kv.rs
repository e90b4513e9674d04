use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use super::client::{AdminClient, ClientOptions, Refused};

/// Inspect and repair the KV store of a running host, acting as a workflow
/// (under the same permission rules that workflow meets).
#[derive(clap::Args)]
pub struct KvCommand {
    /// The workflow to act as (before or after the subcommand).
    #[arg(long = "as", value_name = "WORKFLOW_ID", global = true)]
    as_workflow: Option<String>,

    #[command(subcommand)]
    action: KvAction,

    #[command(flatten)]
    client: ClientOptions,
}

#[derive(Subcommand)]
enum KvAction {
    /// List the tables the workflow owns or was granted, with their owners.
    Tables,
    /// List a table's keys (or, with --values, its items), a page at a time.
    Keys {
        /// The table to list.
        table: String,
        /// Print each item (value, version, expiry), not only its key.
        #[arg(long)]
        values: bool,
        /// Only keys starting with this.
        #[arg(long)]
        prefix: Option<String>,
        /// At most this many (default 1000, at most 10000).
        #[arg(long)]
        limit: Option<u32>,
        /// Continue after the `cursor` a previous page printed.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Print one item.
    Get {
        /// The table it is in.
        table: String,
        /// Its key.
        key: String,
    },
    /// Store a JSON value.
    Set {
        /// The table (created, owned by the acting workflow, if missing).
        table: String,
        /// The key.
        key: String,
        /// The value as JSON text, e.g. '{"name": "Ann"}' or '"text"'.
        json: String,
        /// Expire the item after this many milliseconds.
        #[arg(long)]
        ttl_ms: Option<u64>,
    },
    /// Add to an integer atomically (a missing key counts as 0).
    Incr {
        /// The table.
        table: String,
        /// The key holding the integer.
        key: String,
        /// What to add (negative to subtract).
        #[arg(allow_negative_numbers = true, default_value_t = 1)]
        delta: i64,
    },
    /// Delete one item.
    Rm {
        /// The table it is in.
        table: String,
        /// Its key.
        key: String,
    },
    /// List who may use a table.
    Perms {
        /// The table.
        table: String,
    },
    /// Grant another workflow rights on a table the acting workflow owns.
    Grant {
        /// The table, owned by the acting workflow.
        table: String,
        /// The workflow given the rights.
        workflow: String,
        /// It may read the table.
        #[arg(long)]
        read: bool,
        /// It may write the table.
        #[arg(long)]
        write: bool,
    },
    /// Revoke another workflow's grant on a table the acting workflow owns.
    Revoke {
        /// The table, owned by the acting workflow.
        table: String,
        /// The workflow whose grant goes.
        workflow: String,
    },
    /// Drop a table the acting workflow owns, with every item and grant in
    /// it. Asks for the table's name on stdin to confirm, unless --yes.
    Drop {
        /// The table, owned by the acting workflow.
        table: String,
        /// Don't ask: drop it.
        #[arg(long)]
        yes: bool,
    },
}

/// Asks on the terminal (or reads stdin) for `table`'s name before a drop,
/// which can't be undone.
fn confirm_drop(table: &str, me: &str) -> anyhow::Result<()> {
    eprint!(
        "Drop table {table:?} of workflow {me:?} with every item and grant in it? This can't be undone.\nType the table's name to confirm: "
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).context("could not read the confirmation from stdin")?;
    if answer.trim() != table {
        bail!("not dropped: the answer was not {table:?} (pass --yes to drop without asking)");
    }
    Ok(())
}

fn is_forbidden(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Refused>().is_some_and(|r| r.status == reqwest::StatusCode::FORBIDDEN)
}

/// Whether `id` is deployed or owns a table.
fn known(client: &AdminClient, id: &str) -> bool {
    let owns = |tables: Value| tables["tables"].as_array().is_some_and(|t| t.iter().any(|t| t["owner"] == id));
    client.get(client.url(&["workflows", id])).is_ok() || client.get(client.url(&["kv", id])).is_ok_and(owns)
}

impl KvCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        let me = self.as_workflow.as_deref().context("say which workflow to act as: --as WORKFLOW_ID")?;
        if let KvAction::Drop { table, yes: false } = &self.action {
            confirm_drop(table, me)?;
        }
        let answer = match self.action.send(&client, me) {
            // A typo in --as meets the permission rules first: say what it is.
            Err(e) if is_forbidden(&e) && !known(&client, me) => {
                bail!("no workflow {me:?} is deployed or owns a table: check --as ({e:#})")
            }
            answer => answer?,
        };
        println!("{}", serde_json::to_string_pretty(&answer)?);
        Ok(())
    }
}

impl KvAction {
    /// Sends the action's request, acting as `me`; the host's answer.
    fn send(&self, client: &AdminClient, me: &str) -> anyhow::Result<Value> {
        Ok(match self {
            KvAction::Tables => client.get(client.url(&["kv", me]))?,
            KvAction::Keys { table, values, prefix, limit, cursor } => {
                let mut url = client.url(&["kv", me, table]);
                {
                    let mut query = url.query_pairs_mut();
                    query.append_pair("values", &values.to_string());
                    prefix.as_ref().map(|p| query.append_pair("prefix", p));
                    limit.map(|l| query.append_pair("limit", &l.to_string()));
                    cursor.as_ref().map(|c| query.append_pair("cursor", c));
                }
                client.get(url)?
            }
            KvAction::Get { table, key } => client.get(client.url(&["kv", me, table, key]))?,
            KvAction::Set { table, key, json, ttl_ms } => {
                let value: Value = serde_json::from_str(json).context("the value must be JSON text")?;
                let body = json!({ "value": value, "ttlMs": ttl_ms });
                client.send(client.put(client.url(&["kv", me, table, key])).json(&body))?
            }
            KvAction::Incr { table, key, delta } => {
                client.send(client.patch(client.url(&["kv", me, table, key])).json(&json!({ "increment": delta })))?
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
            KvAction::Drop { table, .. } => client.delete(client.url(&["kv", me, table]))?,
        })
    }
}
