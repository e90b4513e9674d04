//! The last tick each cron trigger fired, kept durably so that no tick ever
//! runs twice, across restarts and crashes included.
//!
//! [`FileTicks`] keeps one small JSON file per workflow,
//! `DATA_DIR/cron/<workflow>.json`, mapping each schedule to the last tick
//! fired (ms since the Unix epoch). A tick is [claimed](Ticks::claim) before it
//! runs: the file is replaced (synced temporary, rename, synced folder) and
//! only then does the execution start. A crash between the two loses that one
//! run rather than repeating it. Files, not the KV store: these are the host's
//! records, not a workflow's data, and a write per tick is a few hundred bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::storage::{StorageError, StorageResult, write_atomically};

/// Where claimed ticks are kept.
pub trait Ticks: Send + Sync {
    /// The last tick of `schedule` that `workflow` fired, if any.
    fn last(&self, workflow: &str, schedule: &str) -> StorageResult<Option<u64>>;
    /// Records `tick` as fired, durably, unless it (or a later tick) was
    /// fired already: true means the caller may run it, and is the only one.
    fn claim(&self, workflow: &str, schedule: &str, tick: u64) -> StorageResult<bool>;
    /// Keeps only the records of the schedules `keep(workflow, schedule)`
    /// accepts: those of crons no longer deployed go.
    fn retain(&self, keep: &dyn Fn(&str, &str) -> bool) -> StorageResult<()>;
}

/// Schedule → last tick fired, for one workflow.
type Fired = BTreeMap<String, u64>;

pub struct FileTicks {
    dir: PathBuf,
    /// What each workflow's file holds, read on first use. The lock also
    /// makes a claim's check and write one step.
    files: Mutex<HashMap<String, Fired>>,
}

impl FileTicks {
    /// Opens (creating) `DATA_DIR/cron`.
    pub fn open(data_dir: &Path) -> StorageResult<FileTicks> {
        let dir = data_dir.join("cron");
        fs::create_dir_all(&dir)?;
        Ok(FileTicks { dir, files: Mutex::default() })
    }
}

impl Ticks for FileTicks {
    fn last(&self, workflow: &str, schedule: &str) -> StorageResult<Option<u64>> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.fired(&mut files, workflow)?.get(schedule).copied())
    }

    fn claim(&self, workflow: &str, schedule: &str, tick: u64) -> StorageResult<bool> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let fired = self.fired(&mut files, workflow)?;
        if fired.get(schedule).is_some_and(|&last| last >= tick) {
            return Ok(false);
        }
        let mut updated = fired.clone();
        updated.insert(schedule.to_owned(), tick);
        self.write(workflow, &updated)?;
        files.insert(workflow.to_owned(), updated);
        Ok(true)
    }

    fn retain(&self, keep: &dyn Fn(&str, &str) -> bool) -> StorageResult<()> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for workflow in self.workflows_on_disk()? {
            let fired = self.fired(&mut files, &workflow)?;
            let kept: Fired = fired.iter().filter(|(s, _)| keep(&workflow, s)).map(|(s, t)| (s.clone(), *t)).collect();
            if kept.len() == fired.len() {
                continue;
            }
            if kept.is_empty() {
                fs::remove_file(self.path(&workflow))?;
            } else {
                self.write(&workflow, &kept)?;
            }
            files.insert(workflow, kept);
        }
        Ok(())
    }
}

impl FileTicks {
    fn fired<'a>(&self, files: &'a mut HashMap<String, Fired>, workflow: &str) -> StorageResult<&'a Fired> {
        if !files.contains_key(workflow) {
            let fired = match fs::read(self.path(workflow)) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| StorageError::corrupt(self.path(workflow).display(), e))?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Fired::new(),
                Err(e) => return Err(e.into()),
            };
            files.insert(workflow.to_owned(), fired);
        }
        Ok(&files[workflow])
    }

    fn write(&self, workflow: &str, fired: &Fired) -> StorageResult<()> {
        let json = serde_json::to_vec_pretty(fired).map_err(StorageError::failed)?;
        Ok(write_atomically(&self.path(workflow), &json)?)
    }

    fn workflows_on_disk(&self) -> StorageResult<Vec<String>> {
        let mut workflows = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            {
                workflows.push(stem.to_owned());
            }
        }
        Ok(workflows)
    }

    fn path(&self, workflow: &str) -> PathBuf {
        self.dir.join(format!("{workflow}.json"))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// What every [`Ticks`] must do; `open` opens the same records again.
    pub(in crate::scheduler) fn a_tick_is_claimed_once_and_the_claim_survives_a_reopen(
        open: &dyn Fn() -> Box<dyn Ticks>,
    ) {
        let ticks = open();
        assert_eq!(ticks.last("w", "* * * * * *").unwrap(), None);
        assert!(ticks.claim("w", "* * * * * *", 1000).unwrap());
        assert!(!ticks.claim("w", "* * * * * *", 1000).unwrap(), "the same tick again");
        assert!(!ticks.claim("w", "* * * * * *", 999).unwrap(), "an earlier tick");
        assert!(ticks.claim("w", "0 * * * *", 500).unwrap(), "another schedule keeps its own record");

        let reopened = open();
        assert_eq!(reopened.last("w", "* * * * * *").unwrap(), Some(1000));
        assert!(!reopened.claim("w", "* * * * * *", 1000).unwrap());
        assert!(reopened.claim("w", "* * * * * *", 2000).unwrap());
    }

    #[test]
    fn file_ticks_are_claimed_once_and_survive_a_reopen() {
        let dir = tempfile::TempDir::new().unwrap();
        a_tick_is_claimed_once_and_the_claim_survives_a_reopen(&|| Box::new(FileTicks::open(dir.path()).unwrap()));
    }

    #[test]
    fn forgotten_schedules_leave_no_record() {
        let dir = tempfile::TempDir::new().unwrap();
        let ticks = FileTicks::open(dir.path()).unwrap();
        ticks.claim("a", "s1", 1).unwrap();
        ticks.claim("a", "s2", 1).unwrap();
        ticks.claim("b", "s1", 1).unwrap();
        ticks.retain(&|workflow, schedule| (workflow, schedule) != ("a", "s1")).unwrap();
        assert_eq!(ticks.last("a", "s1").unwrap(), None);
        assert_eq!((ticks.last("a", "s2").unwrap(), ticks.last("b", "s1").unwrap()), (Some(1), Some(1)));
        ticks.retain(&|workflow, _| workflow == "a").unwrap();
        assert!(!dir.path().join("cron/b.json").exists());
        let reopened = FileTicks::open(dir.path()).unwrap();
        assert_eq!((reopened.last("a", "s2").unwrap(), reopened.last("b", "s1").unwrap()), (Some(1), None));
    }
}
