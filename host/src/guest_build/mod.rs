//! Builds a workflow's source folder into a wasm component, for `floww
//! build`, `floww deploy` and `floww dev`: a Rust crate (a `Cargo.toml`) with
//! cargo, a TypeScript package (a `package.json`) with Node.js.

mod rust;
mod typescript;

use std::path::{Path, PathBuf};

use anyhow::bail;

pub use typescript::prepare as prepare_typescript;

/// A workflow's source folder, in the language it is written in.
pub enum Guest {
    Rust(rust::RustCrate),
    TypeScript(typescript::TsPackage),
}

impl Guest {
    /// The workflow `path` names, if it names one: a folder, or the
    /// `Cargo.toml` or `package.json` in one. `None` for anything else (a
    /// component file).
    pub fn named_by(path: &Path) -> anyhow::Result<Option<Self>> {
        let dir = match path.file_name() {
            Some(name) if name == "Cargo.toml" || name == "package.json" => path.parent().unwrap_or(path),
            _ if path.is_dir() => path,
            _ => return Ok(None),
        };
        Self::inspect(dir).map(Some)
    }

    /// Reads the workflow in `dir`: a crate if it holds a `Cargo.toml`, else
    /// a TypeScript package if it holds a `package.json`.
    pub fn inspect(dir: &Path) -> anyhow::Result<Self> {
        if dir.join("Cargo.toml").is_file() {
            Ok(Self::Rust(rust::RustCrate::inspect(dir)?))
        } else if dir.join("package.json").is_file() {
            Ok(Self::TypeScript(typescript::TsPackage::inspect(dir)?))
        } else if dir.is_dir() {
            bail!("{} holds no workflow: neither a Cargo.toml (Rust) nor a package.json (TypeScript)", dir.display())
        } else {
            bail!("{} is not a folder with a workflow in it", dir.display())
        }
    }

    /// Its name: the crate's or the package's, and so its default workflow id.
    pub fn name(&self) -> &str {
        match self {
            Self::Rust(krate) => &krate.name,
            Self::TypeScript(package) => &package.name,
        }
    }

    /// The folder it lives in, watched by `floww dev`.
    pub fn dir(&self) -> &Path {
        match self {
            Self::Rust(krate) => krate.dir(),
            Self::TypeScript(package) => package.dir(),
        }
    }

    /// Builds it and returns the component's path.
    pub fn build(&self) -> anyhow::Result<PathBuf> {
        match self {
            Self::Rust(krate) => krate.build(),
            Self::TypeScript(package) => package.build(),
        }
    }
}
