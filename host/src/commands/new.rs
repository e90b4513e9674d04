use std::fs;
use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::storage::WorkflowId;

/// Create a workflow crate that builds and serves as it is.
///
/// It has one webhook that counts visits in the KV store, a unit test
/// (`cargo test`), and a README saying what to edit next.
#[derive(clap::Args)]
pub struct NewCommand {
    /// The workflow's name: its crate name and default workflow id (a-z 0-9 -).
    name: String,

    /// Where to create the crate's folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,

    /// The folder of the floww guest SDK to depend on [default: the SDK this
    /// floww carries, written once to ~/.cache/floww].
    #[arg(long, env = "FLOWW_SDK")]
    sdk: Option<PathBuf>,
}

impl NewCommand {
    pub fn run(self) -> anyhow::Result<()> {
        WorkflowId::parse(&self.name).context("the name becomes the workflow id")?;
        check_crate_name(&self.name)?;
        let sdk = match self.sdk {
            Some(sdk) => sdk,
            None => super::sdk::installed()?,
        };
        let sdk = sdk.canonicalize().with_context(|| format!("no guest SDK at {}: pass --sdk PATH", sdk.display()))?;
        let root = self.dir.join(&self.name);
        if root.exists() {
            bail!("{} already exists; pick another name or --dir", root.display());
        }
        fs::create_dir_all(root.join("src")).with_context(|| format!("could not create {}", root.display()))?;
        let sdk = sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
        for (file, text) in [
            ("Cargo.toml", CARGO_TOML),
            ("src/lib.rs", LIB_RS),
            ("README.md", README),
            (".gitignore", "/target\n/.floww/\n"),
        ] {
            let text = text.replace("{name}", &self.name).replace("{sdk}", &sdk);
            fs::write(root.join(file), text).with_context(|| format!("could not write {file}"))?;
        }
        println!("Created {}", root.display());
        println!(
            "Next: `floww dev {}`, then `curl -X POST localhost:3000/webhook/{}/visits -d '{{\"page\": \"home\"}}'`",
            root.display(),
            self.name
        );
        Ok(())
    }
}

/// Names cargo refuses for a package, or that clash with the crate's own
/// dependencies, said before anything is written.
fn check_crate_name(name: &str) -> anyhow::Result<()> {
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("{name:?} can't name a crate: cargo wants a name that starts with a letter");
    }
    const TAKEN: [&str; 9] =
        ["floww", "floww-sdk", "serde", "serde-json", "test", "core", "std", "alloc", "proc-macro"];
    if TAKEN.contains(&name) {
        bail!("{name:?} can't name a crate: the crate or its dependencies use it; pick another name");
    }
    Ok(())
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
floww = { package = "floww-sdk", path = "{sdk}" }
serde = { version = "1", features = ["derive"] }
serde_json = "1"

# A workspace of its own, so the crate builds wherever it lives.
[workspace]
"#;

const LIB_RS: &str = r#"//! {name}: a Floww workflow. Its webhooks are listed in `floww::workflow!`.

use floww::{Context, Request, Response, Result};
use serde::Deserialize;
use serde_json::json;

floww::workflow! {
    "/{name}/visits" => visit,
}

#[derive(Deserialize)]
struct Visit {
    page: String,
}

/// Counts visits per page in the KV table `visits`. `increment` adds in one
/// step, so visits at the same moment are each counted (reading the count
/// and then writing it back would lose some).
fn visit(ctx: &Context, req: Request) -> Result<Response> {
    let Visit { page } = req.json()?; // a bad body answers 400
    let Some(page) = page_key(&page) else {
        return Err(floww::Error::new(422, "page must name a page, e.g. \"home\"")); // your own error
    };
    let visits = ctx.kv.increment("visits", &page, 1)?;
    floww::info!("{page} has {visits} visits");
    Ok(Response::json(200, &json!({ "page": page, "visits": visits })))
}

/// Plain logic lives in plain functions, so `cargo test` can check it.
fn page_key(page: &str) -> Option<String> {
    let page = page.trim();
    (!page.is_empty()).then(|| page.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_by_their_trimmed_lower_case_name() {
        assert_eq!(page_key(" Home "), Some("home".to_owned()));
        assert_eq!(page_key("  "), None);
    }
}
"#;

const README: &str = r#"# {name}

A Floww workflow. Serve it with live reload: `floww dev .` — then

    curl -X POST localhost:3000/webhook/{name}/visits -d '{"page": "home"}'

Next: add a handler in `src/lib.rs` and list it in `floww::workflow!`
(`GET "/{name}/report" => report,`); keep logic in plain functions and test
them with `cargo test`. Deploy to a running host with `floww deploy .`.
"#;
