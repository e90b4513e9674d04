use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::serve::{Deploy, ServeOptions};
use crate::guest_build::Guest;
use crate::registry::{DeployOptions, Registry};
use crate::storage::WorkflowId;

/// Build a workflow (Rust or TypeScript), deploy it under its name, and serve it;
/// on every saved change, rebuild and swap the new version in.
///
/// Requests in flight finish on the old version; a build error is printed and
/// the last good version keeps serving. KV data persists in the data dir.
#[derive(clap::Args)]
pub struct DevCommand {
    /// The workflow's folder: a Rust crate's (with its Cargo.toml) or a
    /// TypeScript package's (with its package.json).
    #[arg(value_name = "WORKFLOW_DIR")]
    dir: PathBuf,

    /// The workflow id to deploy under [default: the crate's or package's name].
    #[arg(long)]
    id: Option<String>,

    #[command(flatten)]
    serve: ServeOptions,
}

/// How often the workflow's files are checked for changes.
const POLL: Duration = Duration::from_millis(300);

impl DevCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let guest = Guest::inspect(&self.dir)?;
        let id = self.id.unwrap_or_else(|| guest.name().to_owned());
        let id = WorkflowId::parse(&id).context("the crate name can't be a workflow id; pass --id")?;
        let listener = self.serve.bind()?;
        let wasm = guest.build()?;
        // Taken after the build, which may write the crate's Cargo.lock.
        let mut sources = fingerprint(guest.dir());
        let host = self.serve.open()?;
        Deploy::read(id.clone(), wasm)?.to(&host)?;

        let registry = host.registry.clone();
        std::thread::Builder::new().name("floww-dev-watch".into()).spawn(move || {
            loop {
                std::thread::sleep(POLL);
                let now = fingerprint(guest.dir());
                if now != sources {
                    sources = now;
                    reload(&guest, &id, &registry);
                }
            }
        })?;
        self.serve.serve(host, listener)
    }
}

/// Rebuilds and swaps the new version in, or keeps the old one on any error.
fn reload(guest: &Guest, id: &str, registry: &Registry) {
    eprintln!("Change detected in {}; rebuilding…", guest.dir().display());
    let deployed = guest.build().and_then(|wasm| {
        let bytes = std::fs::read(&wasm).with_context(|| format!("could not read {}", wasm.display()))?;
        Ok(registry.deploy(id, &bytes, DeployOptions::default())?)
    });
    match deployed {
        Ok(d) => eprintln!("Reloaded {id} (sha256 {}): new requests run the new version", &d.manifest.sha256[..12]),
        Err(e) => eprintln!("error: {e:#}\nStill serving the last good version of {id}."),
    }
}

/// Names, sizes and modification times of the workflow's files (not build
/// output or packages, `target/`, `dist/` and `node_modules/`, nor hidden
/// folders): a change in any means a rebuild.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                let skipped = ["target", "dist", "node_modules"].iter().any(|skip| name == *skip);
                if !skipped && !name.to_string_lossy().starts_with('.') {
                    pending.push(path);
                }
            } else {
                files.push((path, meta.len(), meta.modified().ok()));
            }
        }
    }
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_sees_edits_but_not_build_output() {
        let dir = tempfile::TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "a").unwrap();
        let before = fingerprint(dir.path());
        std::fs::write(dir.path().join("target/out.wasm"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        std::fs::write(dir.path().join("dist/out.wasm"), "x").unwrap();
        assert_eq!(fingerprint(dir.path()), before);
        std::fs::write(dir.path().join("src/lib.rs"), "ab").unwrap();
        assert_ne!(fingerprint(dir.path()), before);
    }
}
