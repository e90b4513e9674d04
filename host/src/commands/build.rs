use std::path::PathBuf;

use crate::guest_build::Guest;

/// Build a workflow into a wasm component and print the component's path.
///
/// A Rust crate builds with cargo (installing the wasm32-wasip2 target with
/// rustup when it is missing); a TypeScript package with Node.js 20+ (tsc,
/// esbuild and componentize-js from its node_modules, installed with npm the
/// first time), into its dist/ folder.
#[derive(clap::Args)]
pub struct BuildCommand {
    /// The workflow's folder: a Rust crate's (with its Cargo.toml) or a
    /// TypeScript package's (with its package.json).
    #[arg(value_name = "WORKFLOW_DIR")]
    dir: PathBuf,
}

impl BuildCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let wasm = Guest::inspect(&self.dir)?.build()?;
        println!("{}", wasm.display());
        Ok(())
    }
}
