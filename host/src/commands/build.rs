use std::path::PathBuf;

use crate::guest_build::GuestCrate;

/// Build a workflow crate into a wasm component and print the component's path.
///
/// Installs the wasm32-wasip2 target with rustup when it is missing.
#[derive(clap::Args)]
pub struct BuildCommand {
    /// The workflow crate's folder (the one holding its Cargo.toml).
    #[arg(value_name = "CRATE_DIR")]
    crate_dir: PathBuf,
}

impl BuildCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let wasm = GuestCrate::inspect(&self.crate_dir)?.build()?;
        println!("{}", wasm.display());
        Ok(())
    }
}
