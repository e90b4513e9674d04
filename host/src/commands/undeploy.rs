use super::client::ClientOptions;

/// Remove a workflow from a running host: its webhooks stop at once; its
/// KV tables stay, still owned by its id.
#[derive(clap::Args)]
pub struct UndeployCommand {
    /// The workflow id.
    id: String,

    #[command(flatten)]
    client: ClientOptions,
}

impl UndeployCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        client.delete(client.url(&["workflows", &self.id]))?;
        println!("Undeployed {}", self.id);
        Ok(())
    }
}
