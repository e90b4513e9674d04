use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::storage::WorkflowId;

/// Create a workflow that builds and serves as it is.
///
/// It has one webhook that counts visits in the KV store, a unit test (Rust:
/// `cargo test`), and a README saying what to edit next.
#[derive(clap::Args)]
pub struct NewCommand {
    /// The workflow's name: its crate or package name and default workflow id (a-z 0-9 -).
    name: String,

    /// The language to write it in. TypeScript needs Node.js 20 or later.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,

    /// Where to create the workflow's folder.
    #[arg(long, default_value = ".")]
    dir: PathBuf,

    /// The folder of the floww SDK to depend on: the Rust crate's, or with
    /// `--lang ts` the npm package's [default: the SDK this floww carries,
    /// written once to ~/.cache/floww].
    #[arg(long, env = "FLOWW_SDK")]
    sdk: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Lang {
    Rust,
    #[value(alias = "typescript")]
    Ts,
}

impl NewCommand {
    pub fn run(self) -> anyhow::Result<()> {
        WorkflowId::parse(&self.name).context("the name becomes the workflow id")?;
        if self.lang == Lang::Rust {
            check_crate_name(&self.name)?;
        } else if self.name == "floww" {
            bail!("\"floww\" can't name the package: the SDK it depends on is called so; pick another name");
        }
        let sdk = match (self.sdk, self.lang) {
            (Some(sdk), _) => sdk,
            (None, Lang::Rust) => super::sdk::installed()?,
            (None, Lang::Ts) => super::sdk::ts_sdk()?,
        };
        let sdk = sdk.canonicalize().with_context(|| format!("no floww SDK at {}: pass --sdk PATH", sdk.display()))?;
        if self.lang == Lang::Ts && !sdk.join("package.json").is_file() {
            bail!("{} is not the TypeScript SDK (it has no package.json): pass --sdk PATH", sdk.display());
        }
        let root = self.dir.join(&self.name);
        if root.exists() {
            bail!("{} already exists; pick another name or --dir", root.display());
        }
        fs::create_dir_all(root.join("src")).with_context(|| format!("could not create {}", root.display()))?;
        let files: &[(&str, &str)] = match self.lang {
            Lang::Rust => &[
                ("Cargo.toml", CARGO_TOML),
                ("src/lib.rs", LIB_RS),
                ("README.md", README),
                (".gitignore", "/target\n/.floww/\n"),
            ],
            Lang::Ts => &[
                ("package.json", PACKAGE_JSON),
                ("tsconfig.json", TSCONFIG_JSON),
                ("src/index.ts", INDEX_TS),
                ("README.md", README_TS),
                (".gitignore", "/node_modules\n/dist\n/.floww/\n"),
            ],
        };
        let escaped = sdk.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
        let tools = ts_tools();
        for (file, text) in files {
            let text =
                text.replace("{name}", &self.name).replace("{sdk}", &escaped).replace("{dev_dependencies}", &tools);
            fs::write(root.join(file), text).with_context(|| format!("could not write {file}"))?;
        }
        println!("Created {}", root.display());
        if self.lang == Lang::Ts {
            install_packages(&root);
        }
        println!(
            "Next: `floww dev {}`, then `curl -X POST localhost:3000/webhook/{}/visits -d '{{\"page\": \"home\"}}'`",
            root.display(),
            self.name
        );
        Ok(())
    }
}

/// Installs a new TypeScript workflow's packages now, so an editor finds the
/// SDK's types at once; if that fails, says why and leaves it to the first build.
fn install_packages(root: &Path) {
    if let Err(e) = crate::guest_build::prepare_typescript(root) {
        eprintln!("warning: {e:#}; `floww build` will try again");
    }
}

/// The build tools a new TypeScript workflow pins: the versions this
/// repository's tests use (its package.json), as package.json lines.
fn ts_tools() -> String {
    let repo: serde_json::Value =
        serde_json::from_str(include_str!("../../../package.json")).expect("the repository's package.json is JSON");
    let tools = repo["devDependencies"].as_object().expect("the repository's package.json lists devDependencies");
    tools.iter().map(|(name, version)| format!("    \"{name}\": {version}")).collect::<Vec<_>>().join(",\n")
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

const PACKAGE_JSON: &str = r#"{
  "name": "{name}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {
    "build": "floww build .",
    "dev": "floww dev .",
    "check": "tsc --noEmit"
  },
  "dependencies": {
    "floww": "file:{sdk}"
  },
  "devDependencies": {
{dev_dependencies}
  }
}
"#;

const TSCONFIG_JSON: &str = r#"{
  "compilerOptions": {
    "target": "es2022",
    "lib": ["es2022"],
    "module": "esnext",
    "moduleResolution": "bundler",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
"#;

const INDEX_TS: &str = r#"// {name}: a Floww workflow. Its webhooks are the keys of `webhooks` below.

import { type Context, type Request, json, workflow, HttpError } from "floww";

interface Visit {
  page: string;
}

/** Plain logic lives in plain functions, easy to test and reuse. */
export function pageKey(page: string): string | undefined {
  const key = page.trim().toLowerCase();
  return key === "" ? undefined : key;
}

/**
 * Counts visits per page in the KV table `visits`. `increment` adds in one
 * step, so visits at the same moment are each counted (reading the count and
 * then writing it back would lose some).
 */
async function visit(ctx: Context, req: Request) {
  const { page } = req.json<Visit>(); // a body that isn't JSON answers 400
  const key = pageKey(String(page ?? ""));
  if (key === undefined) {
    throw new HttpError(422, 'page must name a page, e.g. "home"'); // your own error
  }
  const visits = await ctx.kv.increment("visits", key, 1);
  ctx.log.info(`${key} has ${visits} visits`);
  return json(200, { page: key, visits });
}

export default workflow({
  webhooks: {
    "POST /{name}/visits": visit,
  },
});
"#;

const README_TS: &str = r#"# {name}

A Floww workflow in TypeScript. Serve it with live reload: `floww dev .` — then

    curl -X POST localhost:3000/webhook/{name}/visits -d '{"page": "home"}'

Next: add a handler in `src/index.ts` and list it in `webhooks`
(`"GET /{name}/report": report,`). `npm run check` checks the types; `floww
build .` checks them too and writes the component to `dist/`. Deploy to a
running host with `floww deploy .`. Needs Node.js 20 or later.
"#;
