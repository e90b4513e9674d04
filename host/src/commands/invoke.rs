use std::io::Read;

use anyhow::Context;
use serde_json::Value;

use super::client::ClientOptions;

/// Run a workflow's manual trigger on a running host and print its output (JSON).
///
/// The input is checked against the trigger's JSON Schema first; a mismatch is
/// refused with the schema error and where in the input it is.
#[derive(clap::Args)]
pub struct InvokeCommand {
    /// The workflow id.
    id: String,

    /// The manual trigger's name.
    name: String,

    /// The input as JSON text, e.g. '{"table": "users"}'; `-` reads it from
    /// standard input [default: null].
    input: Option<String>,

    #[command(flatten)]
    client: ClientOptions,
}

impl InvokeCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let input = json_argument(self.input.as_deref(), "the input")?;
        let client = self.client.connect()?;
        let url = client.url(&["workflows", &self.id, "triggers", &self.name, "invoke"]);
        let answer = client.send(client.post(url).header("content-type", "application/json").body(input))?;
        println!("{}", serde_json::to_string_pretty(&answer["output"])?);
        Ok(())
    }
}

/// A JSON argument: the text given, `-` for standard input, or `null`.
pub(super) fn json_argument(given: Option<&str>, what: &str) -> anyhow::Result<String> {
    let text = match given {
        None => "null".to_owned(),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .with_context(|| format!("could not read {what} from standard input"))?;
            text
        }
        Some(text) => text.to_owned(),
    };
    serde_json::from_str::<Value>(&text).with_context(|| format!("{what} is not JSON"))?;
    Ok(text)
}
