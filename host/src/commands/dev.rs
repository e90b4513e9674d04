use std::path::PathBuf;

use anyhow::Context;

use super::serve::{Deploy, ServeOptions};
use crate::guest_build::GuestCrate;
use crate::kv::check_workflow_id;

/// Build a workflow crate, deploy it under the crate's name, and serve it.
///
/// The KV data and deployments persist in the data dir between runs.
#[derive(clap::Args)]
pub struct DevCommand {
    /// The workflow crate's folder (the one holding its Cargo.toml).
    #[arg(value_name = "CRATE_DIR")]
    crate_dir: PathBuf,

    /// The workflow id to deploy under [default: the crate's name].
    #[arg(long)]
    id: Option<String>,

    #[command(flatten)]
    serve: ServeOptions,
}

impl DevCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let krate = GuestCrate::inspect(&self.crate_dir)?;
        let id = self.id.unwrap_or_else(|| krate.name.clone());
        check_workflow_id(&id).context("the crate name can't be a workflow id; pass --id")?;
        let wasm = krate.build()?;
        let deploy = Deploy::read(id, wasm)?;
        self.serve.serve(vec![deploy])
    }
}
