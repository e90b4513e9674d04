use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;

use super::client::ClientOptions;

/// Set, list and remove a workflow's secrets on a running host. Values are
/// sealed at rest and never shown again; the workflow reads them with
/// `ctx.secret("NAME")`.
#[derive(clap::Args)]
pub struct SecretCommand {
    #[command(subcommand)]
    action: SecretAction,

    #[command(flatten)]
    client: ClientOptions,
}

#[derive(Subcommand)]
enum SecretAction {
    /// Set a secret. The value comes from stdin (piped), or from a prompt
    /// that doesn't echo it: never from an argument, which would end up in
    /// the shell's history.
    Set {
        /// The workflow id.
        id: String,
        /// The secret's name, e.g. SLACK_TOKEN.
        name: String,
    },
    /// List a workflow's secret names and when each was set.
    List {
        /// The workflow id.
        id: String,
    },
    /// Remove a secret.
    Rm {
        /// The workflow id.
        id: String,
        /// The secret's name.
        name: String,
    },
}

impl SecretCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let client = self.client.connect()?;
        match self.action {
            SecretAction::Set { id, name } => {
                let value = read_value(&name)?;
                client.send(client.put(client.url(&["workflows", &id, "secrets", &name])).body(value))?;
                println!("Set secret {name} of {id}");
            }
            SecretAction::List { id } => {
                let answer = client.get(client.url(&["workflows", &id, "secrets"]))?;
                let secrets = answer["secrets"].as_array().cloned().unwrap_or_default();
                if secrets.is_empty() {
                    println!("Workflow {id} has no secrets.");
                }
                for secret in secrets {
                    let at = secret["updatedAt"].as_u64().unwrap_or_default();
                    println!("{}  (set {})", secret["name"].as_str().unwrap_or("?"), super::logs::utc(at));
                }
            }
            SecretAction::Rm { id, name } => {
                client.delete(client.url(&["workflows", &id, "secrets", &name]))?;
                println!("Removed secret {name} of {id}");
            }
        }
        Ok(())
    }
}

/// The value: a prompt without echo on a terminal, else all of stdin (one
/// trailing newline dropped, as `echo` adds one).
fn read_value(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut value = String::new();
        std::io::Read::read_to_string(&mut stdin.lock(), &mut value).context("could not read the value from stdin")?;
        let value = value.strip_suffix('\n').map(|v| v.strip_suffix('\r').unwrap_or(v)).unwrap_or(&value);
        if value.is_empty() {
            bail!("no value on stdin: pipe it in, e.g. `printf %s \"$TOKEN\" | floww secret set ID {name}`");
        }
        return Ok(value.to_owned());
    }
    eprint!("Value of {name} (not shown): ");
    let value = without_echo(|| {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).map(|_| line)
    })?;
    eprintln!();
    let value = value.trim_end_matches(['\r', '\n']);
    if value.is_empty() {
        bail!("no value given");
    }
    Ok(value.to_owned())
}

/// Runs `read` with the terminal's echo off, and turns it back on.
fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> anyhow::Result<T> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("could not read the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("could not turn the terminal's echo off")?;
    let result = read();
    tcsetattr(&stdin, OptionalActions::Now, &saved).context("could not turn the terminal's echo back on")?;
    Ok(result?)
}
