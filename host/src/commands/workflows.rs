use super::client::ClientOptions;
use super::deploy::print_triggers;

/// List the workflows deployed on a running host, with their webhooks.
#[derive(clap::Args)]
pub struct WorkflowsCommand {
    #[command(flatten)]
    client: ClientOptions,
}

impl WorkflowsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        let list = client.get(client.url(&["workflows"]))?;
        let workflows = list["workflows"].as_array().cloned().unwrap_or_default();
        if workflows.is_empty() {
            println!("No workflows deployed.");
        }
        for workflow in &workflows {
            println!("{}  ({} bytes, sha256 {})", workflow["id"].as_str().unwrap_or("?"), workflow["size"], {
                let sha = workflow["sha256"].as_str().unwrap_or("?");
                &sha[..sha.len().min(12)]
            });
            print_triggers(workflow);
        }
        Ok(())
    }
}
