//! Builds a TypeScript workflow (a folder with a `package.json`) into a wasm
//! component: `build-ts.mjs`, carried in this binary, runs under the user's
//! Node.js with the tools of the project's own `node_modules` (tsc, esbuild,
//! componentize-js), installing them with npm the first time. The component
//! and its bundle go to `dist/` in the project.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The oldest Node.js the build supports (componentize-js needs it).
const NODE_MAJOR: u32 = 20;

const BUILD_SCRIPT: &str = include_str!("build-ts.mjs");

/// A TypeScript workflow package.
pub struct TsPackage {
    pub name: String,
    dir: PathBuf,
    entry: PathBuf,
}

#[derive(Deserialize)]
struct PackageJson {
    name: Option<String>,
    main: Option<String>,
}

impl TsPackage {
    /// Reads the package in `dir` (whose `package.json` is known to exist).
    pub fn inspect(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.canonicalize().with_context(|| format!("no folder {}", dir.display()))?;
        let manifest = dir.join("package.json");
        let text =
            std::fs::read_to_string(&manifest).with_context(|| format!("could not read {}", manifest.display()))?;
        let package: PackageJson =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", manifest.display()))?;
        let name = package.name.with_context(|| format!("{} has no \"name\"", manifest.display()))?;
        // A scoped name (`@team/orders`) is known by its last part.
        let name = name.rsplit('/').next().unwrap_or(&name).to_owned();
        let entry = dir.join(package.main.as_deref().unwrap_or("src/index.ts"));
        if !entry.is_file() {
            bail!(
                "{}: the workflow's entry {} does not exist (package.json \"main\" names it; the default is src/index.ts)",
                dir.display(),
                entry.display()
            );
        }
        Ok(Self { name, dir, entry })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Builds the component and returns its path.
    pub fn build(&self) -> anyhow::Result<PathBuf> {
        prepare(&self.dir)?;
        let wit = crate::commands::sdk::wit_dir()?;
        let wasm = self.dir.join("dist").join(format!("{}.wasm", self.name));
        eprintln!("Building {} (TypeScript)…", self.name);
        let mut child = Command::new("node")
            .args(["--input-type=module", "-"])
            .args([&self.dir, &self.entry, &wasm, &wit])
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .spawn()
            .context("could not run node")?;
        child.stdin.take().expect("piped stdin").write_all(BUILD_SCRIPT.as_bytes())?;
        if !child.wait()?.success() {
            bail!("building {} failed; the messages are above", self.name);
        }
        Ok(wasm)
    }
}

/// Checks for Node.js, and installs the npm packages of the package in
/// `dir` unless they are: in its `node_modules` or a folder's above (an npm
/// workspace installs its members' packages at its root).
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    check_node()?;
    if !has_node_modules(dir) {
        install_packages(dir)?;
    }
    Ok(())
}

fn has_node_modules(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join("node_modules").is_dir())
}

fn install_packages(dir: &Path) -> anyhow::Result<()> {
    eprintln!("Installing the workflow's npm packages (npm install, once)…");
    // Standard output stays the component path's (floww build prints it).
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdout(std::io::stderr())
        .status()
        .context("could not run npm, which comes with Node.js")?;
    if !status.success() {
        bail!("`npm install` failed in {}", dir.display());
    }
    Ok(())
}

/// Node.js must be on PATH and new enough; says how to get it otherwise.
fn check_node() -> anyhow::Result<()> {
    let need = format!("TypeScript workflows need Node.js {NODE_MAJOR} or later (https://nodejs.org)");
    let output =
        Command::new("node").arg("--version").output().with_context(|| format!("{need}: no `node` on PATH"))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    match node_major(&version) {
        Some(major) if major >= NODE_MAJOR => Ok(()),
        Some(_) => bail!("{need}; `node` on PATH is {version}"),
        None => bail!("{need}; `node --version` said {version:?}"),
    }
}

/// The major version of `node --version`'s `v20.11.1`.
fn node_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_versions_are_read_by_their_major() {
        assert_eq!(node_major("v20.20.2"), Some(20));
        assert_eq!(node_major("v18.0.0"), Some(18));
        assert_eq!(node_major("20.1"), None);
        assert_eq!(node_major(""), None);
    }

    #[test]
    fn a_package_names_its_workflow_and_entry() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), r#"{"name": "@team/orders"}"#).unwrap();
        let missing = TsPackage::inspect(dir.path()).err().unwrap().to_string();
        assert!(missing.contains("src/index.ts does not exist"), "{missing}");
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/index.ts"), "").unwrap();
        let package = TsPackage::inspect(dir.path()).unwrap();
        assert_eq!(package.name, "orders");
        assert!(package.entry.ends_with("src/index.ts"));

        std::fs::write(dir.path().join("package.json"), "{").unwrap();
        let bad = TsPackage::inspect(dir.path()).err().unwrap().to_string();
        assert!(bad.contains("is not valid JSON"), "{bad}");
    }
}
