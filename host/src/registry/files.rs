//! Deployments in the data dir, for one host:
//! - `components/<sha256>.wasm`: component bytes, content-addressed, written first;
//! - `workflows/<id>.json`: the manifest, renamed into place last.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{DeployError, DeploymentStore, Manifest};
use crate::storage::{StorageError, StorageResult, write_atomically};

pub struct FileDeployments {
    components_dir: PathBuf,
    workflows_dir: PathBuf,
}

impl FileDeployments {
    /// Opens the folders under `data_dir`, creating them.
    pub fn open(data_dir: &Path) -> StorageResult<Self> {
        let store = Self { components_dir: data_dir.join("components"), workflows_dir: data_dir.join("workflows") };
        for dir in [&store.components_dir, &store.workflows_dir] {
            fs::create_dir_all(dir)?;
        }
        Ok(store)
    }

    fn component_path(&self, sha256: &str) -> PathBuf {
        self.components_dir.join(format!("{sha256}.wasm"))
    }

    fn manifest_path(&self, id: &str) -> PathBuf {
        self.workflows_dir.join(format!("{id}.json"))
    }
}

fn unreadable(path: &Path, e: impl std::fmt::Display) -> StorageError {
    StorageError::corrupt(path.display(), e)
}

impl DeploymentStore for FileDeployments {
    fn manifests(&self) -> StorageResult<Vec<Manifest>> {
        let mut paths: Vec<PathBuf> =
            fs::read_dir(&self.workflows_dir)?.map(|e| e.map(|e| e.path())).collect::<io::Result<_>>()?;
        paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
        paths.sort();
        paths.iter().map(|path| serde_json::from_slice(&fs::read(path)?).map_err(|e| unreadable(path, e))).collect()
    }

    fn manifest(&self, id: &str) -> StorageResult<Option<Manifest>> {
        let path = self.manifest_path(id);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| unreadable(&path, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn component(&self, sha256: &str) -> StorageResult<Vec<u8>> {
        Ok(fs::read(self.component_path(sha256))?)
    }

    /// One host owns the folder, so the registry's own route check is the
    /// only one needed.
    fn save(&self, manifest: &Manifest, bytes: &[u8]) -> Result<(), DeployError> {
        write_atomically(&self.component_path(&manifest.sha256), bytes).map_err(StorageError::from)?;
        let json = serde_json::to_vec_pretty(manifest).map_err(StorageError::failed)?;
        write_atomically(&self.manifest_path(&manifest.id), &json).map_err(StorageError::from)?;
        Ok(())
    }

    fn remove(&self, id: &str) -> StorageResult<bool> {
        match fs::remove_file(self.manifest_path(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn remove_unused(&self) -> StorageResult<()> {
        let used: HashSet<String> = self.manifests()?.into_iter().map(|m| format!("{}.wasm", m.sha256)).collect();
        for entry in fs::read_dir(&self.components_dir)? {
            let path = entry?.path();
            if path.file_name().and_then(|n| n.to_str()).is_none_or(|name| !used.contains(name)) {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }
}
