//! Builds a Rust workflow crate into a wasm component with cargo. Guests go
//! to a target dir of their own (`floww-guests` inside the crate's cargo
//! target dir) so they never wait on the host's build lock or churn its
//! artifacts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde::Deserialize;

const WASM_TARGET: &str = "wasm32-wasip2";

/// A guest crate as cargo describes it.
pub struct RustCrate {
    pub name: String,
    manifest: PathBuf,
    target_dir: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    target_directory: PathBuf,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
    source: Option<String>,
}

/// The crates.io package named `floww` is an unrelated crate: the SDK is
/// `floww-sdk`. Says what to write instead when a crate depends on the other.
fn check_sdk(package: &Package) -> anyhow::Result<()> {
    let registry_floww = package
        .dependencies
        .iter()
        .any(|d| d.name == "floww" && d.source.as_deref().is_some_and(|s| s.starts_with("registry+")));
    if registry_floww {
        bail!(
            "{} depends on the crates.io package `floww`, which is not the Floww SDK (that crate is unrelated). \
             Depend on the SDK instead: `floww = {{ package = \"floww-sdk\", path = \"…/guest-sdk\" }}` \
             (`floww new` writes this line)",
            package.name
        );
    }
    Ok(())
}

/// The lines of `cargo build --message-format json` that we read.
#[derive(Deserialize)]
struct Message {
    reason: String,
    #[serde(default)]
    manifest_path: PathBuf,
    #[serde(default)]
    filenames: Vec<PathBuf>,
}

fn cargo() -> Command {
    // Under `cargo run` this is the cargo that started us.
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

impl RustCrate {
    /// Reads the crate in `dir` with `cargo metadata`.
    pub fn inspect(dir: &Path) -> anyhow::Result<Self> {
        let manifest = dir.join("Cargo.toml");
        let manifest = manifest
            .canonicalize()
            .with_context(|| format!("{} is not a crate: no Cargo.toml there", dir.display()))?;
        let output = cargo()
            .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
            .arg(&manifest)
            .stderr(Stdio::inherit())
            .output()
            .context("could not run cargo; is the Rust toolchain installed?")?;
        if !output.status.success() {
            bail!("cargo could not read {}", manifest.display());
        }
        let metadata: Metadata =
            serde_json::from_slice(&output.stdout).context("unexpected `cargo metadata` output")?;
        let package = metadata
            .packages
            .into_iter()
            .find(|p| p.manifest_path == manifest)
            .with_context(|| format!("{} is a workspace, not a crate: name one of its members", dir.display()))?;
        check_sdk(&package)?;
        Ok(Self { name: package.name, manifest, target_dir: metadata.target_directory.join("floww-guests") })
    }

    /// The crate's folder.
    pub fn dir(&self) -> &Path {
        self.manifest.parent().expect("a manifest path has a folder")
    }

    /// Builds the crate in release mode and returns the component's path.
    pub fn build(&self) -> anyhow::Result<PathBuf> {
        ensure_wasm_target()?;
        eprintln!("Building {} for {WASM_TARGET}…", self.name);
        let mut child = cargo()
            .args(["build", "--release", "--target", WASM_TARGET, "--message-format", "json-render-diagnostics"])
            .arg("--manifest-path")
            .arg(&self.manifest)
            .arg("--target-dir")
            .arg(&self.target_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("could not run cargo build")?;
        let mut wasm = None;
        for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
            let Ok(message) = serde_json::from_str::<Message>(&line?) else {
                continue;
            };
            if message.reason == "compiler-artifact" && message.manifest_path == self.manifest {
                wasm = message.filenames.into_iter().find(|f| f.extension().is_some_and(|e| e == "wasm"));
            }
        }
        if !child.wait()?.success() {
            bail!("building {} failed; cargo's messages are above", self.name);
        }
        wasm.with_context(|| {
            format!("{} built no .wasm: a workflow crate needs `[lib] crate-type = [\"cdylib\"]`", self.name)
        })
    }
}

/// Installs the wasm target with rustup when it is missing.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) => Ok(()),
        Ok(_) => {
            eprintln!("Installing the {WASM_TARGET} target with rustup (once)…");
            let status = Command::new("rustup").args(["target", "add", WASM_TARGET]).status()?;
            if !status.success() {
                bail!("`rustup target add {WASM_TARGET}` failed");
            }
            Ok(())
        }
        // No rustup: the toolchain may still have the target; cargo will say if not.
        Err(_) => Ok(()),
    }
}
