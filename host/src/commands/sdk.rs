//! The guest SDKs this `floww` was built with, Rust and TypeScript, carried in
//! the binary, so `floww new` makes workflows that build wherever the binary
//! is, with no checkout: they are written once to the user's cache,
//! `$XDG_CACHE_HOME/floww/sdk-VERSION-HASH` (or `~/.cache/…`; the hash of its
//! files, so builds of one version with different SDKs never share a
//! folder), laid out as in the repository (`guest-sdk/`, `ts-sdk/`, `wit/`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The SDK's files, by their path in the repository.
const FILES: &[(&str, &str)] = &[
    ("guest-sdk/src/lib.rs", include_str!("../../../guest-sdk/src/lib.rs")),
    ("guest-sdk/src/cors.rs", include_str!("../../../guest-sdk/src/cors.rs")),
    ("guest-sdk/src/settings.rs", include_str!("../../../guest-sdk/src/settings.rs")),
    ("guest-sdk/src/verify.rs", include_str!("../../../guest-sdk/src/verify.rs")),
    ("guest-sdk/src/webhook.rs", include_str!("../../../guest-sdk/src/webhook.rs")),
    ("guest-sdk/src/cron.rs", include_str!("../../../guest-sdk/src/cron.rs")),
    ("guest-sdk/src/durable.rs", include_str!("../../../guest-sdk/src/durable.rs")),
    ("guest-sdk/src/error.rs", include_str!("../../../guest-sdk/src/error.rs")),
    ("guest-sdk/src/http.rs", include_str!("../../../guest-sdk/src/http.rs")),
    ("guest-sdk/src/log.rs", include_str!("../../../guest-sdk/src/log.rs")),
    ("guest-sdk/src/manual.rs", include_str!("../../../guest-sdk/src/manual.rs")),
    ("guest-sdk/src/named.rs", include_str!("../../../guest-sdk/src/named.rs")),
    ("guest-sdk/src/runs.rs", include_str!("../../../guest-sdk/src/runs.rs")),
    ("guest-sdk/src/workflow.rs", include_str!("../../../guest-sdk/src/workflow.rs")),
    ("guest-sdk/src/kv/mod.rs", include_str!("../../../guest-sdk/src/kv/mod.rs")),
    ("guest-sdk/src/kv/error.rs", include_str!("../../../guest-sdk/src/kv/error.rs")),
    ("guest-sdk/src/kv/list.rs", include_str!("../../../guest-sdk/src/kv/list.rs")),
    ("guest-sdk/src/kv/write.rs", include_str!("../../../guest-sdk/src/kv/write.rs")),
    ("ts-sdk/package.json", include_str!("../../../ts-sdk/package.json")),
    ("ts-sdk/README.md", include_str!("../../../ts-sdk/README.md")),
    ("ts-sdk/index.js", include_str!("../../../ts-sdk/index.js")),
    ("ts-sdk/index.d.ts", include_str!("../../../ts-sdk/index.d.ts")),
    ("ts-sdk/src/context.js", include_str!("../../../ts-sdk/src/context.js")),
    ("ts-sdk/src/errors.js", include_str!("../../../ts-sdk/src/errors.js")),
    ("ts-sdk/src/http.js", include_str!("../../../ts-sdk/src/http.js")),
    ("ts-sdk/src/json.js", include_str!("../../../ts-sdk/src/json.js")),
    ("ts-sdk/src/kv.js", include_str!("../../../ts-sdk/src/kv.js")),
    ("ts-sdk/src/workflow.js", include_str!("../../../ts-sdk/src/workflow.js")),
    ("wit/workflow.wit", include_str!("../../../wit/workflow.wit")),
];

/// The SDK's manifest outside the workspace: its own versions, no lints.
const MANIFEST: &str = r#"[package]
name = "floww-sdk"
description = "Guest SDK for Floww workflows (written by floww {version})"
version = "{version}"
edition = "2024"
license = "Apache-2.0"
publish = false

[lib]
name = "floww"

[dependencies]
wit-bindgen = { version = "0.46", default-features = false, features = ["macros", "realloc"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
wasip2 = "1"
hmac = "0.13"
sha2 = "0.11"
"#;

/// The folder of this version's Rust SDK in the user's cache, written if missing.
pub fn installed() -> anyhow::Result<PathBuf> {
    Ok(root()?.join("guest-sdk"))
}

/// The folder of this version's TypeScript SDK (npm package `floww`) in the
/// user's cache, written if missing.
pub fn ts_sdk() -> anyhow::Result<PathBuf> {
    Ok(root()?.join("ts-sdk"))
}

/// The folder of the WIT contract this floww serves, for componentize-js.
pub fn wit_dir() -> anyhow::Result<PathBuf> {
    Ok(root()?.join("wit"))
}

/// This version's SDK folder in the user's cache, written if missing.
fn root() -> anyhow::Result<PathBuf> {
    let cache = match (std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")) {
        (Some(cache), _) if !cache.is_empty() => PathBuf::from(cache),
        (_, Some(home)) if !home.is_empty() => Path::new(&home).join(".cache"),
        _ => bail!("no cache folder for the guest SDK (neither XDG_CACHE_HOME nor HOME is set): set one of them"),
    };
    let root = cache.join("floww").join(format!("sdk-{}-{}", env!("CARGO_PKG_VERSION"), &content_hash()[..12]));
    if !root.join("guest-sdk/Cargo.toml").is_file() {
        write(&root).with_context(|| format!("could not write the guest SDK to {}", root.display()))?;
    }
    Ok(root)
}

/// The SHA-256 of the SDK's files, in hex.
fn content_hash() -> String {
    let mut hasher = Sha256::new();
    for (path, text) in FILES {
        hasher.update(path.as_bytes());
        hasher.update(text.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Writes the SDK into `root` through a folder of its own, renamed into
/// place, so a crash or a second `floww new` never sees half of it.
fn write(root: &Path) -> std::io::Result<()> {
    let staging = root.with_extension(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&staging);
    for (path, text) in FILES {
        let path = staging.join(path);
        fs::create_dir_all(path.parent().expect("SDK files sit in folders"))?;
        fs::write(path, text)?;
    }
    fs::write(staging.join("guest-sdk/Cargo.toml"), MANIFEST.replace("{version}", env!("CARGO_PKG_VERSION")))?;
    fs::create_dir_all(root.parent().expect("the cache has a parent"))?;
    match fs::rename(&staging, root) {
        // Another `floww new` put it there first: the same files.
        Err(_) if root.join("guest-sdk/Cargo.toml").is_file() => fs::remove_dir_all(&staging),
        renamed => renamed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the SDK's source is carried, so a new one can't be forgotten.
    #[test]
    fn every_sdk_source_file_is_carried() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut on_disk = Vec::new();
        let mut pending = vec![repo.join("guest-sdk/src"), repo.join("ts-sdk")];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                // The TypeScript SDK's own tests stay in the repository.
                if path.ends_with("ts-sdk/test") || path.ends_with("ts-sdk/node_modules") {
                    continue;
                }
                if path.is_dir() {
                    pending.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&repo).unwrap().display().to_string());
                }
            }
        }
        on_disk.push("wit/workflow.wit".into());
        on_disk.sort();
        let mut carried: Vec<String> = FILES.iter().map(|(path, _)| path.to_string()).collect();
        carried.sort();
        assert_eq!(carried, on_disk);
    }

    #[test]
    fn the_sdk_is_written_once_whole() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("sdk");
        write(&root).unwrap();
        let wit = FILES.iter().find(|(path, _)| *path == "wit/workflow.wit").unwrap().1;
        assert_eq!(fs::read_to_string(root.join("wit/workflow.wit")).unwrap(), wit);
        let manifest = fs::read_to_string(root.join("guest-sdk/Cargo.toml")).unwrap();
        assert!(manifest.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))), "{manifest}");
        // A second writer finds it there and leaves it.
        write(&root).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no staging folder left behind");
    }
}
