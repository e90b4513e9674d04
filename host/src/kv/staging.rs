//! KV inside a durable run's step: writes are staged in memory and commit
//! with the step's journal entry, in one transaction, or not at all.
//!
//! A step reads committed data overlaid with its own staged writes. Every
//! item it reads or writes is remembered with the version it had when the
//! step first saw it; the commit checks each is still at that version
//! (optimistic concurrency), so a step whose view went stale commits
//! nothing and runs again. Versions are reserved when a write is staged, so
//! the version a staged write answers is the one the item gets.

use std::collections::{BTreeMap, BTreeSet};

use super::backend::{Item, Listed, Write, Written};
use super::{BatchError, Kv, KvError, KvResult, ListOptions, MAX_BATCH, Need, Page, check_write, failure_error};
use crate::storage::{StorageError, now_ms};

/// What one step has read and staged so far.
#[derive(Debug, Default, Clone)]
pub struct Staging {
    /// Tables the step's writes create.
    new_tables: BTreeSet<String>,
    /// (table, key) → the version the step first saw (none: absent).
    seen: BTreeMap<(String, String), Option<u64>>,
    /// (table, key) → the item as the step leaves it (none: deleted).
    staged: BTreeMap<(String, String), Option<Item>>,
}

/// Where a step's journal entry goes, and the lease it commits under.
#[derive(Debug, Clone, Copy)]
pub struct Journaled<'a> {
    pub run: &'a str,
    pub lease: &'a str,
    pub index: u32,
    /// The entry, as JSON text.
    pub entry: &'a str,
}

/// What a backend commits for a step: a check of every item it saw, its
/// staged items, the tables they create, and its journal entry.
pub struct StepCommit<'a> {
    pub owner: &'a str,
    pub new_tables: Vec<&'a str>,
    /// (table, key, version seen).
    pub seen: Vec<(&'a str, &'a str, Option<u64>)>,
    /// (table, key, item; none: delete).
    pub staged: Vec<(&'a str, &'a str, Option<&'a Item>)>,
    pub journal: Journaled<'a>,
}

/// Why a backend did not commit a step; nothing of it was kept.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error("key {key:?} of table {table:?} changed after the step read it")]
    Changed { table: String, key: String },
    #[error("table {0:?} was created by another workflow meanwhile")]
    TableTaken(String),
    #[error("table {0:?} was dropped meanwhile")]
    TableGone(String),
    /// The invocation no longer holds the run, or the entry is journaled already.
    #[error("the run's lease was lost")]
    LeaseLost,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a step did not commit.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The step's view went stale (or a table changed hands): run it again.
    #[error("{0}")]
    Conflict(String),
    #[error("the run's lease was lost")]
    LeaseLost,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

type Key = (String, String);

fn key(table: &str, key: &str) -> Key {
    (table.to_owned(), key.to_owned())
}

impl Staging {
    fn staged_in<'a>(&'a self, table: &'a str) -> impl Iterator<Item = (&'a str, &'a Option<Item>)> + 'a {
        self.staged.range(key(table, "")..).take_while(move |((t, _), _)| t == table).map(|((_, k), v)| (&**k, v))
    }
}

impl Kv {
    /// The item under `key` as the step sees it.
    pub fn get_staged(&self, caller: &str, st: &mut Staging, table: &str, key: &str) -> KvResult<Item> {
        super::check_table_name(table)?;
        super::check_key(key)?;
        self.authorize_staged(caller, st, table, Need::Read)?;
        self.read_staged(st, table, key)?.ok_or_else(|| super::missing_key(table, key))
    }

    /// Stages `writes`, all or none, answering as [`Kv::write`] would.
    pub fn write_staged(
        &self,
        caller: &str,
        st: &mut Staging,
        writes: &[Write<'_>],
    ) -> Result<Vec<Written>, BatchError> {
        if writes.len() > MAX_BATCH {
            let error =
                KvError::InvalidInput(format!("a batch holds at most {MAX_BATCH} writes, not {}", writes.len()));
            return Err(BatchError { index: MAX_BATCH, error });
        }
        let mut draft = st.clone();
        let now = now_ms();
        let mut written = Vec::with_capacity(writes.len());
        for (index, write) in writes.iter().enumerate() {
            let at = |error| BatchError { index, error };
            check_write(write).map_err(at)?;
            let table = write.table();
            if !draft.new_tables.contains(table) {
                match self.backend.table_owner(table).map_err(|e| at(e.into()))? {
                    Some(_) => self.authorize(caller, table, Need::Write).map(drop).map_err(at)?,
                    None if matches!(write, Write::Delete { .. }) => return Err(at(super::missing_table(table))),
                    None => {
                        draft.new_tables.insert(table.to_owned());
                    }
                }
            }
            let old = self.read_staged(&mut draft, table, write.key()).map_err(|e| at(e.into()))?;
            let change = write.change(old.as_ref(), now).map_err(|failure| at(failure_error(write, failure)))?;
            let (item, version) = match change.stored() {
                Some((value, expires_at)) => {
                    let version = self.backend.reserve_version().map_err(|e| at(e.into()))?;
                    let created_at = old.as_ref().map_or(now, |o| o.created_at);
                    let item =
                        Item { key: write.key().to_owned(), value, created_at, updated_at: now, version, expires_at };
                    (Some(item), version)
                }
                None => (None, 0),
            };
            draft.staged.insert(key(table, write.key()), item);
            written.push(write.written(&change, version));
        }
        *st = draft;
        Ok(written)
    }

    /// A page of a table's items as the step sees them.
    pub fn list_items_staged(
        &self,
        caller: &str,
        st: &mut Staging,
        table: &str,
        options: &ListOptions,
    ) -> KvResult<Page<Item>> {
        if st.staged_in(table).next().is_none() {
            return self.list_items(caller, table, options);
        }
        self.authorize_staged(caller, st, table, Need::Read)?;
        // The committed page (none for a table the step creates), then the
        // staged items over the part of the key space it covers.
        let committed = if st.new_tables.contains(table) {
            Listed { entries: Vec::new(), more: false }
        } else {
            let range = self.check_listing(caller, table, options)?;
            self.backend.items(table, range, now_ms())?
        };
        let limit = options.limit.unwrap_or(super::DEFAULT_LIMIT) as usize;
        let prefix = options.prefix.as_deref().unwrap_or_default();
        let after = options.cursor.as_deref();
        let until = committed.more.then(|| committed.entries.last().map(|i| i.key.clone())).flatten();
        let mut merged: BTreeMap<String, Item> = committed.entries.into_iter().map(|i| (i.key.clone(), i)).collect();
        let now = now_ms();
        for (k, item) in st.staged_in(table) {
            let in_range =
                k.starts_with(prefix) && after.is_none_or(|a| k > a) && until.as_deref().is_none_or(|u| k <= u);
            if !in_range {
                continue;
            }
            match item {
                Some(item) if item.is_live(now) => merged.insert(k.to_owned(), item.clone()),
                _ => merged.remove(k),
            };
        }
        let more = until.is_some() || merged.len() > limit;
        let entries: Vec<Item> = merged.into_values().take(limit).collect();
        let cursor = more.then(|| entries.last().map(|i| i.key.clone())).flatten();
        Ok(Page { entries, cursor })
    }

    /// A page of a table's keys as the step sees them.
    pub fn list_keys_staged(
        &self,
        caller: &str,
        st: &mut Staging,
        table: &str,
        options: &ListOptions,
    ) -> KvResult<Page<String>> {
        if st.staged_in(table).next().is_none() {
            return self.list_keys(caller, table, options);
        }
        let page = self.list_items_staged(caller, st, table, options)?;
        Ok(Page { entries: page.entries.into_iter().map(|i| i.key).collect(), cursor: page.cursor })
    }

    /// The tables `caller` may use, with those the step creates.
    pub fn list_tables_staged(&self, caller: &str, st: &Staging) -> KvResult<Vec<String>> {
        let mut names: BTreeSet<String> = self.list_tables(caller)?.into_iter().map(|t| t.name).collect();
        names.extend(st.new_tables.iter().cloned());
        Ok(names.into_iter().collect())
    }

    /// Commits what the step staged with its journal entry, in one
    /// transaction, if every item it saw is unchanged and the lease holds.
    pub fn commit_step(&self, caller: &str, st: &Staging, journal: Journaled<'_>) -> Result<(), CommitError> {
        let commit = StepCommit {
            owner: caller,
            new_tables: st.new_tables.iter().map(String::as_str).collect(),
            seen: st.seen.iter().map(|((t, k), v)| (t.as_str(), k.as_str(), *v)).collect(),
            staged: st.staged.iter().map(|((t, k), item)| (t.as_str(), k.as_str(), item.as_ref())).collect(),
            journal,
        };
        match self.backend.commit_step(&commit, now_ms()) {
            Ok(()) => Ok(()),
            Err(StepFailure::LeaseLost) => Err(CommitError::LeaseLost),
            Err(StepFailure::Storage(e)) => Err(CommitError::Storage(e)),
            Err(conflict) => Err(CommitError::Conflict(format!("the step's writes were not kept: {conflict}"))),
        }
    }

    /// The live item as the step sees it, remembering the version it had.
    fn read_staged(&self, st: &mut Staging, table: &str, k: &str) -> Result<Option<Item>, StorageError> {
        let now = now_ms();
        if let Some(item) = st.staged.get(&key(table, k)) {
            return Ok(item.clone().filter(|i| i.is_live(now)));
        }
        let item = if st.new_tables.contains(table) { None } else { self.backend.get(table, k, now)? };
        st.seen.entry(key(table, k)).or_insert(item.as_ref().map(|i| i.version));
        Ok(item)
    }

    /// [`Kv::authorize`], where the step owns the tables it creates.
    fn authorize_staged(&self, caller: &str, st: &Staging, table: &str, need: Need) -> KvResult<()> {
        if st.new_tables.contains(table) { Ok(()) } else { self.authorize(caller, table, need).map(drop) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kv::{SledBackend, WorkflowDirectory};

    struct Everyone;
    impl WorkflowDirectory for Everyone {
        fn is_deployed(&self, _: &str) -> bool {
            true
        }
    }

    /// A store where run `r` is held under `lease`.
    fn kv_leased(lease: &str) -> Kv {
        let backend = SledBackend::temporary().unwrap();
        backend.db().open_tree(crate::storage::RUN_LEASES_TREE).unwrap().insert("r", lease).unwrap();
        Kv::new(Arc::new(backend), Arc::new(Everyone))
    }

    fn journal(index: u32) -> Journaled<'static> {
        Journaled { run: "r", lease: "l", index, entry: "{}" }
    }

    #[test]
    fn staged_writes_are_seen_by_the_step_only_until_they_commit() {
        let kv = kv_leased("l");
        kv.set("w", "t", "a", "1").unwrap();
        let mut st = Staging::default();
        let written = kv.write_staged("w", &mut st, &[Write::Increment { table: "t", key: "a", delta: 2 }]).unwrap();
        assert_eq!(written, vec![Written::Incremented(3)]);
        kv.write_staged("w", &mut st, &[Write::Set { table: "new", key: "k", value: "\"v\"", ttl_ms: None }]).unwrap();
        assert_eq!(kv.get_staged("w", &mut st, "t", "a").unwrap().value, "3");
        assert_eq!(kv.get("w", "t", "a").unwrap().value, "1");
        assert!(kv.get("w", "new", "k").is_err());
        let page = kv.list_keys_staged("w", &mut st, "new", &ListOptions::default()).unwrap();
        assert_eq!(page.entries, vec!["k".to_owned()]);

        kv.commit_step("w", &st, journal(0)).unwrap();
        assert_eq!(kv.get("w", "t", "a").unwrap().value, "3");
        let staged_version = st.staged[&key("new", "k")].as_ref().unwrap().version;
        assert_eq!(kv.get("w", "new", "k").unwrap().version, staged_version);
        // The same entry twice: the second commit keeps nothing.
        assert!(matches!(kv.commit_step("w", &st, journal(0)), Err(CommitError::LeaseLost)));
        assert_eq!(kv.get("w", "t", "a").unwrap().value, "3");
    }

    #[test]
    fn a_step_whose_reads_went_stale_commits_nothing() {
        let kv = kv_leased("l");
        kv.set("w", "t", "a", "1").unwrap();
        let mut st = Staging::default();
        kv.get_staged("w", &mut st, "t", "a").unwrap();
        kv.write_staged("w", &mut st, &[Write::Set { table: "t", key: "b", value: "2", ttl_ms: None }]).unwrap();
        kv.set("w", "t", "a", "5").unwrap();
        let err = kv.commit_step("w", &st, journal(0)).unwrap_err();
        assert!(matches!(&err, CommitError::Conflict(m) if m.contains("key \"a\" of table \"t\" changed")), "{err}");
        assert!(kv.get("w", "t", "b").is_err());
    }

    #[test]
    fn a_commit_under_another_lease_keeps_nothing() {
        let kv = kv_leased("other");
        let mut st = Staging::default();
        kv.write_staged("w", &mut st, &[Write::Set { table: "t", key: "a", value: "1", ttl_ms: None }]).unwrap();
        assert!(matches!(kv.commit_step("w", &st, journal(0)), Err(CommitError::LeaseLost)));
        assert!(kv.get("w", "t", "a").is_err());
    }

    #[test]
    fn a_staged_listing_merges_committed_and_staged_items() {
        let kv = kv_leased("l");
        for k in ["a", "c", "e"] {
            kv.set("w", "t", k, "0").unwrap();
        }
        let mut st = Staging::default();
        kv.write_staged(
            "w",
            &mut st,
            &[Write::Set { table: "t", key: "b", value: "1", ttl_ms: None }, Write::Delete { table: "t", key: "c" }],
        )
        .unwrap();
        let page =
            kv.list_keys_staged("w", &mut st, "t", &ListOptions { limit: Some(2), ..Default::default() }).unwrap();
        assert_eq!(page.entries, vec!["a", "b"]);
        let next = ListOptions { cursor: page.cursor, ..Default::default() };
        assert_eq!(kv.list_keys_staged("w", &mut st, "t", &next).unwrap().entries, vec!["e"]);
    }
}
