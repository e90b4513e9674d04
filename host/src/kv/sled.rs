//! The embedded backend: one sled database in the data dir.
//!
//! Trees: `tables` (table → owner), `grants` (table NUL workflow → rights),
//! `grantees` (workflow NUL table, an index for listing a workflow's tables),
//! `items` (table NUL key → header + JSON), `expiry` (expires-at as 8
//! big-endian bytes, then the item's key → nothing: the items that expire, in
//! time order, so the sweep reads only those due) and `meta` (marks that the
//! expiry index is whole). A table being dropped keeps its `tables` entry,
//! with an empty owner, until its items and grants are gone: no write or
//! grant can land in it meanwhile, and its name is not free before then. Names never hold NUL, so a prefix scan on
//! `table NUL` lists exactly one table, in name order.
//!
//! Writes go through sled transactions (all or nothing) and are made durable
//! by group commit: concurrent writers share one flush instead of each paying
//! for its own fsync. A guest's write is applied on its async worker and
//! waits for its flush there without holding a thread
//! ([`Backend::write_in_place`]); the flush runs on the blocking pool.

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::watch;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional, TransactionalTree};

use super::backend::{
    Access, Backend, Durable, Item, Listed, Range, Write, WriteError, WriteFailure, Written, already_durable,
};
use super::staging::{StepCommit, StepFailure};
use crate::storage::{RUN_JOURNAL_TREE, RUN_LEASES_TREE, StorageError, StorageResult};

const SEP: u8 = 0;

const META: &str = "meta";
/// In `meta` once the expiry index lists every expiring item: stores
/// written before the index have none.
const INDEXED: &[u8] = b"expiry-index";
/// The owner of a table being dropped: no workflow id is empty.
const DROPPING: &[u8] = b"";
/// Items removed per transaction while dropping a table.
const DROP_CHUNK: usize = 1024;

pub struct SledBackend {
    db: sled::Db,
    tables: sled::Tree,
    grants: sled::Tree,
    grantees: sled::Tree,
    items: sled::Tree,
    expiry: sled::Tree,
    /// Durable runs' journals and leases, which steps commit into.
    journal: sled::Tree,
    leases: sled::Tree,
    /// `None`: writes are acknowledged before they reach the disk.
    commits: Option<Arc<GroupCommit>>,
}

impl SledBackend {
    /// Opens (or creates) the database in `dir`. With `durable`, every
    /// acknowledged write is on disk; without, sled flushes every 500 ms.
    pub fn open(dir: &Path, durable: bool) -> StorageResult<Self> {
        Self::with_db(sled::Config::new().path(dir).open()?, durable)
    }

    /// The database, for other records kept beside the KV data.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// A database that lives only as long as the value: for tests.
    #[cfg(test)]
    pub fn temporary() -> StorageResult<Self> {
        Self::with_db(sled::Config::new().temporary(true).open()?, false)
    }

    fn with_db(db: sled::Db, durable: bool) -> StorageResult<Self> {
        let backend = Self {
            tables: db.open_tree("tables")?,
            grants: db.open_tree("grants")?,
            grantees: db.open_tree("grantees")?,
            items: db.open_tree("items")?,
            expiry: db.open_tree("expiry")?,
            journal: db.open_tree(RUN_JOURNAL_TREE)?,
            leases: db.open_tree(RUN_LEASES_TREE)?,
            commits: durable.then(|| {
                let db = db.clone();
                Arc::new(GroupCommit::new(move || db.flush().map(drop)))
            }),
            db,
        };
        backend.index_expiries()?;
        backend.finish_drops()?;
        Ok(backend)
    }

    /// Builds the expiry index from every item, unless it is built already.
    /// Runs before the store is shared, so no write races it.
    fn index_expiries(&self) -> StorageResult<()> {
        let meta = self.db.open_tree(META)?;
        if meta.contains_key(INDEXED)? {
            return Ok(());
        }
        // Entries from a build that a crash cut short.
        self.expiry.clear()?;
        for entry in self.items.iter() {
            let (k, bytes) = entry?;
            if let Some(due) = due(expires_at(&bytes), &k) {
                self.expiry.insert(due, &[])?;
            }
        }
        // The whole index reaches the disk before the mark that trusts it.
        self.db.flush()?;
        meta.insert(INDEXED, &[])?;
        self.db.flush()?;
        Ok(())
    }

    /// Finishes the drops that a crash cut short.
    fn finish_drops(&self) -> StorageResult<()> {
        for entry in self.tables.iter() {
            let (name, owner) = entry?;
            if owner == DROPPING {
                self.remove_dropping(&text(&name)?)?;
            }
        }
        Ok(())
    }

    /// Removes the items, grants and entry of a table marked as dropping;
    /// nothing can be added to it meanwhile.
    fn remove_dropping(&self, table: &str) -> StorageResult<()> {
        loop {
            // Each item's key with its expiry index entry, if it expires.
            let chunk: Vec<(sled::IVec, Option<Vec<u8>>)> = self
                .items
                .scan_prefix(prefix(table))
                .take(DROP_CHUNK)
                .map(|entry| entry.map(|(k, bytes)| (k.clone(), due(expires_at(&bytes), &k))))
                .collect::<sled::Result<_>>()?;
            if chunk.is_empty() {
                break;
            }
            (&self.items, &self.expiry).transaction(|(items, expiry)| {
                for (k, due) in &chunk {
                    if let Some(due) = due {
                        expiry.remove(&due[..])?;
                    }
                    items.remove(k)?;
                }
                Ok(())
            })?;
        }
        let grantees: Vec<String> =
            self.grants.scan_prefix(prefix(table)).map(|entry| second(&entry?.0)).collect::<StorageResult<_>>()?;
        (&self.tables, &self.grants, &self.grantees).transaction(|(tables, grants, grantees_tree)| {
            for workflow in &grantees {
                grants.remove(pair(table, workflow))?;
                grantees_tree.remove(pair(workflow, table))?;
            }
            tables.remove(table.as_bytes())?;
            Ok(())
        })?;
        self.sync()
    }

    /// Makes every change so far durable before the caller acknowledges it.
    fn sync(&self) -> StorageResult<()> {
        match &self.commits {
            Some(commits) => commits.sync(),
            None => Ok(()),
        }
    }

    /// Applies `writes` (see [`Backend::write`]) without waiting for them to be durable.
    fn apply_writes(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<Vec<Written>, WriteError> {
        if let ([write], []) = (writes, new_tables)
            && let Some(written) = self.swap_one(write, now_ms)?
        {
            return Ok(vec![written]);
        }
        let done = (&self.tables, &self.items, &self.expiry).transaction(|(tables, items, expiry)| {
            for table in new_tables {
                if tables.insert(table.as_bytes(), owner.as_bytes())?.is_some() {
                    return fail(0, WriteFailure::TableTaken);
                }
            }
            // Read inside the transaction, so a drop that commits first makes it run again.
            for (index, write) in writes.iter().enumerate() {
                if tables.get(write.table())?.is_none_or(|o| o == DROPPING) {
                    return fail(index, WriteFailure::TableGone);
                }
            }
            writes.iter().enumerate().map(|(index, write)| apply(items, expiry, index, write, now_ms)).collect()
        });
        match done {
            Ok(written) => Ok(written),
            Err(TransactionError::Abort(Abort::Failed { index, failure })) => {
                Err(WriteError::Failed { index, failure })
            }
            Err(TransactionError::Storage(e)) => Err(StorageError::from(e).into()),
        }
    }
}

/// Group commit: a writer asks for a flush that starts after its write; one
/// flush serves every writer waiting when it starts. A blocking writer leads
/// the flush on its own thread; an async one has it run on the blocking pool.
struct GroupCommit {
    flush: Box<dyn Fn() -> sled::Result<()> + Send + Sync>,
    state: Mutex<CommitState>,
    /// Wakes blocking writers after each flush.
    flushed: Condvar,
    /// Wakes async writers after each flush.
    flushes: watch::Sender<()>,
}

#[derive(Default)]
struct CommitState {
    /// Tickets handed out, one per writer.
    issued: u64,
    /// Every ticket up to this one is durable.
    durable: u64,
    /// The last failed flush: the tickets it covered, and why it failed.
    failed: Option<(u64, String)>,
    flushing: bool,
}

impl CommitState {
    /// Whether `ticket` is durable, or its flush failed; `None` while neither.
    fn outcome(&self, ticket: u64) -> Option<StorageResult<()>> {
        match &self.failed {
            _ if self.durable >= ticket => Some(Ok(())),
            Some((covered, error)) if *covered >= ticket => {
                Some(Err(StorageError::failed(format!("the disk flush failed: {error}"))))
            }
            _ => None,
        }
    }
}

impl GroupCommit {
    fn new(flush: impl Fn() -> sled::Result<()> + Send + Sync + 'static) -> Self {
        Self {
            flush: Box::new(flush),
            state: Mutex::default(),
            flushed: Condvar::new(),
            flushes: watch::Sender::new(()),
        }
    }

    /// A ticket for every write made so far.
    fn ticket(&self) -> u64 {
        let mut state = self.lock();
        state.issued += 1;
        state.issued
    }

    /// Blocks until every write made so far is durable.
    fn sync(&self) -> StorageResult<()> {
        let ticket = self.ticket();
        let mut state = self.lock();
        loop {
            if let Some(outcome) = state.outcome(ticket) {
                return outcome;
            }
            if state.flushing {
                state = self.flushed.wait(state).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            state.flushing = true;
            drop(state);
            self.flush_now();
            state = self.lock();
        }
    }

    /// Waits, without holding a thread, until every write made so far is durable.
    fn durable(self: &Arc<Self>) -> Durable {
        let (commits, ticket) = (self.clone(), self.ticket());
        Box::pin(async move {
            let mut flushes = commits.flushes.subscribe();
            loop {
                {
                    let mut state = commits.lock();
                    if let Some(outcome) = state.outcome(ticket) {
                        return outcome;
                    }
                    if !state.flushing {
                        state.flushing = true;
                        let leader = commits.clone();
                        tokio::task::spawn_blocking(move || {
                            // Lets the writers that are about to ask join this flush.
                            std::thread::yield_now();
                            leader.flush_now();
                        });
                    }
                }
                // The sender lives as long as `commits`, so this only returns on a send.
                let _ = flushes.changed().await;
            }
        })
    }

    /// Runs the flush this thread leads: it covers every ticket issued
    /// before it starts (each write is made before its ticket). Then wakes
    /// every writer.
    fn flush_now(&self) {
        let covers = self.lock().issued;
        let result = (self.flush)();
        let mut state = self.lock();
        state.flushing = false;
        match result {
            Ok(()) => state.durable = state.durable.max(covers),
            Err(e) => state.failed = Some((covers, e.to_string())),
        }
        drop(state);
        self.flushed.notify_all();
        self.flushes.send_replace(());
    }

    fn lock(&self) -> MutexGuard<'_, CommitState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl From<sled::Error> for StorageError {
    fn from(e: sled::Error) -> Self {
        StorageError::failed(e)
    }
}

impl From<TransactionError<()>> for StorageError {
    fn from(e: TransactionError<()>) -> Self {
        match e {
            TransactionError::Storage(e) => e.into(),
            TransactionError::Abort(()) => corrupt("transaction aborted"),
        }
    }
}

fn corrupt(what: &str) -> StorageError {
    StorageError::failed(format!("corrupt KV data: {what}"))
}

fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + 1 + b.len());
    k.extend_from_slice(a.as_bytes());
    k.push(SEP);
    k.extend_from_slice(b.as_bytes());
    k
}

fn prefix(a: &str) -> Vec<u8> {
    pair(a, "")
}

/// The second half of a `a NUL b` key.
fn second(key: &[u8]) -> StorageResult<String> {
    let at = key.iter().position(|&b| b == SEP).ok_or_else(|| corrupt("key without separator"))?;
    text(&key[at + 1..])
}

fn text(bytes: &[u8]) -> StorageResult<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("name is not UTF-8"))
}

fn encode_access(a: Access) -> [u8; 2] {
    [a.read as u8, a.write as u8]
}

fn decode_access(bytes: &[u8]) -> StorageResult<Access> {
    match bytes {
        [r, w] => Ok(Access { read: *r == 1, write: *w == 1 }),
        _ => Err(corrupt("grant record")),
    }
}

/// Item records: created-at, updated-at, version and expires-at (0: never)
/// as big-endian u64s, then the JSON text.
const HEADER: usize = 32;

fn encode_item(item: &Item) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + item.value.len());
    for n in [item.created_at, item.updated_at, item.version, item.expires_at.unwrap_or(0)] {
        v.extend_from_slice(&n.to_be_bytes());
    }
    v.extend_from_slice(item.value.as_bytes());
    v
}

/// The expiry field of an item record's header (0: never), if it has a header.
fn expires_at(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(24..HEADER)?.try_into().expect("8 bytes")))
}

/// The expiry index key of the item under `k`, if it expires.
fn due(expires_at: Option<u64>, k: &[u8]) -> Option<Vec<u8>> {
    // 0 is stored as "never".
    let at = expires_at.filter(|&at| at != 0)?;
    let mut due = Vec::with_capacity(8 + k.len());
    due.extend_from_slice(&at.to_be_bytes());
    due.extend_from_slice(k);
    Some(due)
}

fn decode_item(key: String, bytes: &[u8]) -> StorageResult<Item> {
    if bytes.len() < HEADER {
        return Err(corrupt("item record"));
    }
    let n = |i: usize| u64::from_be_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok(Item {
        key,
        value: text(&bytes[HEADER..])?,
        created_at: n(0),
        updated_at: n(1),
        version: n(2),
        expires_at: Some(n(3)).filter(|&at| at != 0),
    })
}

/// Why a transaction stopped: a write that can't apply, or sled itself.
enum Abort {
    Failed { index: usize, failure: WriteFailure },
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn fail<T>(index: usize, failure: WriteFailure) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Failed { index, failure }))
}

/// The item stored under `k` inside a transaction, expired or not.
fn stored<E>(items: &TransactionalTree, key: &str, k: &[u8]) -> Result<Option<Item>, ConflictableTransactionError<E>> {
    let Some(bytes) = items.get(k)? else { return Ok(None) };
    let item = decode_item(key.to_owned(), &bytes)
        .map_err(|e| ConflictableTransactionError::Storage(sled::Error::Unsupported(e.to_string())))?;
    Ok(Some(item))
}

fn apply(
    items: &TransactionalTree,
    expiry: &TransactionalTree,
    index: usize,
    write: &Write<'_>,
    now_ms: u64,
) -> TxResult<Written> {
    let (key, k) = (write.key(), pair(write.table(), write.key()));
    let stored = stored(items, key, &k)?;
    let old = stored.as_ref().filter(|item| item.is_live(now_ms));
    let change = match write.change(old, now_ms) {
        Ok(change) => change,
        Err(failure) => return fail(index, failure),
    };
    let item = match change.stored() {
        Some((value, expires_at)) => {
            let version = items.generate_id()? + 1;
            let created_at = old.map_or(now_ms, |o| o.created_at);
            Some(Item { key: key.to_owned(), value, created_at, updated_at: now_ms, version, expires_at })
        }
        None => None,
    };
    replace(items, expiry, &k, stored.as_ref(), item.as_ref())?;
    Ok(write.written(&change, item.map_or(0, |i| i.version)))
}

/// Replaces the item `stored` under `k` (expired or not) with `item`, or
/// removes it, keeping the expiry index in step.
fn replace<E>(
    items: &TransactionalTree,
    expiry: &TransactionalTree,
    k: &[u8],
    stored: Option<&Item>,
    item: Option<&Item>,
) -> Result<(), ConflictableTransactionError<E>> {
    // An expired item not yet swept is replaced too: its entry goes with it.
    if let Some(due) = due(stored.and_then(|s| s.expires_at), k) {
        expiry.remove(due)?;
    }
    match item {
        Some(item) => {
            if let Some(due) = due(item.expires_at, k) {
                expiry.insert(due, &[])?;
            }
            items.insert(k, encode_item(item))?;
        }
        None => {
            items.remove(k)?;
        }
    }
    Ok(())
}

/// The journal key of entry `index` of `run`.
fn journal_key(run: &str, index: u32) -> Vec<u8> {
    let mut k = prefix(run);
    k.extend_from_slice(&index.to_be_bytes());
    k
}

impl SledBackend {
    /// One write to an existing table as a compare-and-swap of its item,
    /// retried while other writes of the same item come first. sled commits
    /// a transaction by writing out its log buffer (a `pwrite` and a
    /// `sync_file_range` each, whatever the durability), a single-key swap
    /// does not: that is most of what a write costs (BENCHMARKS.md). `None`
    /// when the write needs a transaction: the item expires, or would.
    fn swap_one(&self, write: &Write<'_>, now_ms: u64) -> Result<Option<Written>, WriteError> {
        let (table, key) = (write.table(), write.key());
        let k = pair(table, key);
        let gone = || WriteError::Failed { index: 0, failure: WriteFailure::TableGone };
        loop {
            let owner = self.tables.get(table).map_err(StorageError::from)?;
            if owner.as_deref().is_none_or(|o| o == DROPPING) {
                return Err(gone());
            }
            let bytes = self.items.get(&k).map_err(StorageError::from)?;
            if bytes.as_deref().and_then(|b| due(expires_at(b), &k)).is_some() {
                return Ok(None);
            }
            let old = bytes.as_deref().map(|b| decode_item(key.to_owned(), b)).transpose()?;
            let change =
                write.change(old.as_ref(), now_ms).map_err(|failure| WriteError::Failed { index: 0, failure })?;
            let item = match change.stored() {
                Some((_, Some(_))) => return Ok(None),
                Some((value, None)) => {
                    let version = self.db.generate_id().map_err(StorageError::from)? + 1;
                    let created_at = old.as_ref().map_or(now_ms, |o| o.created_at);
                    Some(Item { key: key.to_owned(), value, created_at, updated_at: now_ms, version, expires_at: None })
                }
                None => None,
            };
            let new = item.as_ref().map(encode_item);
            if self.items.compare_and_swap(&k, bytes, new.as_deref()).map_err(StorageError::from)?.is_err() {
                continue;
            }
            // A drop (and maybe a new table of the same name) that began
            // meanwhile may have passed this key: the item goes, if it is
            // still this one, as if the drop had come first.
            if self.tables.get(table).map_err(StorageError::from)? != owner {
                if let Some(new) = new {
                    let _ = self.items.compare_and_swap(&k, Some(new), None::<&[u8]>).map_err(StorageError::from)?;
                }
                return Err(gone());
            }
            return Ok(Some(write.written(&change, item.map_or(0, |i| i.version))));
        }
    }

    /// Walks one table's live items in key order from `range`, calling
    /// `take` on each until `limit` are taken.
    fn scan<T>(
        &self,
        table: &str,
        range: Range<'_>,
        now_ms: u64,
        take: impl Fn(String, &[u8]) -> StorageResult<Option<T>>,
    ) -> StorageResult<Listed<T>> {
        let start = pair(table, range.prefix);
        let from = match range.after {
            Some(after) if after.as_bytes() >= range.prefix.as_bytes() => Bound::Excluded(pair(table, after)),
            _ => Bound::Included(start.clone()),
        };
        let (mut entries, mut carried) = (Vec::new(), 0usize);
        for entry in self.items.range::<Vec<u8>, _>((from, Bound::Unbounded)) {
            let (k, bytes) = entry?;
            if !k.starts_with(&start) {
                break;
            }
            if bytes.len() >= HEADER && !decode_item(String::new(), &bytes[..HEADER])?.is_live(now_ms) {
                continue;
            }
            carried = carried.saturating_add(k.len() + bytes.len());
            if entries.len() == range.limit || (!entries.is_empty() && carried > range.max_bytes) {
                return Ok(Listed { entries, more: true });
            }
            if let Some(entry) = take(second(&k)?, &bytes)? {
                entries.push(entry);
            }
        }
        Ok(Listed { entries, more: false })
    }
}

impl Backend for SledBackend {
    /// Reads come from sled's page cache.
    fn reads_wait(&self) -> bool {
        false
    }

    fn table_owner(&self, table: &str) -> StorageResult<Option<String>> {
        self.tables.get(table)?.filter(|o| o != DROPPING).map(|o| text(&o)).transpose()
    }

    fn tables(&self) -> StorageResult<Vec<(String, String)>> {
        self.tables
            .iter()
            .filter(|entry| entry.as_ref().map_or(true, |(_, owner)| owner != DROPPING))
            .map(|entry| {
                let (name, owner) = entry?;
                Ok((text(&name)?, text(&owner)?))
            })
            .collect()
    }

    fn grant(&self, table: &str, workflow: &str) -> StorageResult<Option<Access>> {
        self.grants.get(pair(table, workflow))?.map(|a| decode_access(&a)).transpose()
    }

    fn grants(&self, table: &str) -> StorageResult<Vec<(String, Access)>> {
        self.grants
            .scan_prefix(prefix(table))
            .map(|entry| {
                let (key, access) = entry?;
                Ok((second(&key)?, decode_access(&access)?))
            })
            .collect()
    }

    fn granted_tables(&self, workflow: &str) -> StorageResult<Vec<String>> {
        self.grantees.scan_prefix(prefix(workflow)).map(|entry| second(&entry?.0)).collect()
    }

    fn put_grant(&self, table: &str, owner: &str, workflow: &str, access: Access) -> StorageResult<bool> {
        let granted = (&self.tables, &self.grants, &self.grantees).transaction(|(tables, grants, grantees)| {
            // Read inside the transaction, so a drop that commits first makes it run again.
            if tables.get(table)?.is_none_or(|o| o != owner.as_bytes()) {
                return Ok(false);
            }
            grants.insert(pair(table, workflow), &encode_access(access))?;
            grantees.insert(pair(workflow, table), &[])?;
            Ok(true)
        })?;
        self.sync()?;
        Ok(granted)
    }

    fn remove_grant(&self, table: &str, workflow: &str) -> StorageResult<bool> {
        let removed = (&self.grants, &self.grantees).transaction(|(grants, grantees)| {
            grantees.remove(pair(workflow, table))?;
            Ok(grants.remove(pair(table, workflow))?.is_some())
        })?;
        self.sync()?;
        Ok(removed)
    }

    fn get(&self, table: &str, key: &str, now_ms: u64) -> StorageResult<Option<Item>> {
        let Some(bytes) = self.items.get(pair(table, key))? else { return Ok(None) };
        Ok(Some(decode_item(key.to_owned(), &bytes)?).filter(|item| item.is_live(now_ms)))
    }

    fn write(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<Vec<Written>, WriteError> {
        let written = self.apply_writes(owner, new_tables, writes, now_ms)?;
        self.sync()?;
        Ok(written)
    }

    fn write_in_place(
        &self,
        owner: &str,
        new_tables: &[&str],
        writes: &[Write<'_>],
        now_ms: u64,
    ) -> Result<(Vec<Written>, Durable), WriteError> {
        let written = self.apply_writes(owner, new_tables, writes, now_ms)?;
        let durable = match &self.commits {
            Some(commits) => commits.durable(),
            None => already_durable(),
        };
        Ok((written, durable))
    }

    fn keys(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<String>> {
        self.scan(table, range, now_ms, |key, _| Ok(Some(key)))
    }

    fn items(&self, table: &str, range: Range<'_>, now_ms: u64) -> StorageResult<Listed<Item>> {
        self.scan(table, range, now_ms, |key, bytes| decode_item(key, bytes).map(Some))
    }

    fn drop_table(&self, table: &str, owner: &str) -> StorageResult<bool> {
        let marked = self.tables.compare_and_swap(table, Some(owner.as_bytes()), Some(DROPPING))?.is_ok();
        if marked {
            self.remove_dropping(table)?;
        }
        Ok(marked)
    }

    fn reserve_version(&self) -> StorageResult<u64> {
        // The counter `apply` takes versions from.
        Ok(self.db.generate_id()? + 1)
    }

    fn commit_step(&self, commit: &StepCommit<'_>, now_ms: u64) -> Result<(), StepFailure> {
        let j = commit.journal;
        let trees = (&self.tables, &self.items, &self.expiry, &self.journal, &self.leases);
        let done = trees.transaction(|(tables, items, expiry, journal, leases)| {
            let abort = |failure| Err(ConflictableTransactionError::Abort(failure));
            let journal_key = journal_key(j.run, j.index);
            if leases.get(j.run)?.is_none_or(|lease| lease != j.lease.as_bytes())
                || journal.get(&journal_key)?.is_some()
            {
                return abort(StepFailure::LeaseLost);
            }
            for table in &commit.new_tables {
                if tables.insert(table.as_bytes(), commit.owner.as_bytes())?.is_some() {
                    return abort(StepFailure::TableTaken((*table).to_owned()));
                }
            }
            for (table, _, _) in &commit.staged {
                if tables.get(table)?.is_none_or(|o| o == DROPPING) {
                    return abort(StepFailure::TableGone((*table).to_owned()));
                }
            }
            for (table, key, version) in &commit.seen {
                let live = stored(items, key, &pair(table, key))?.filter(|item| item.is_live(now_ms));
                if live.map(|item| item.version) != *version {
                    return abort(StepFailure::Changed { table: (*table).to_owned(), key: (*key).to_owned() });
                }
            }
            for (table, key, item) in &commit.staged {
                let k = pair(table, key);
                let old = stored(items, key, &k)?;
                replace(items, expiry, &k, old.as_ref(), *item)?;
            }
            journal.insert(journal_key, j.entry.as_bytes())?;
            Ok(())
        });
        match done {
            Ok(()) => {}
            Err(TransactionError::Abort(failure)) => return Err(failure),
            Err(TransactionError::Storage(e)) => return Err(StorageError::from(e).into()),
        }
        self.sync()?;
        Ok(())
    }

    fn remove_expired(&self, now_ms: u64) -> StorageResult<usize> {
        // Items expire at or before `now_ms`.
        let end = match now_ms.checked_add(1) {
            Some(after) => Bound::Excluded(after.to_be_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut removed = 0;
        for entry in self.expiry.range::<Vec<u8>, _>((Bound::Unbounded, end)) {
            let (due, _) = entry?;
            let (at, k) = due.split_first_chunk::<8>().ok_or_else(|| corrupt("expiry entry"))?;
            let at = u64::from_be_bytes(*at);
            let gone = (&self.items, &self.expiry).transaction(|(items, expiry)| {
                expiry.remove(&due)?;
                // Only if it still expires then: a concurrent write may have renewed it.
                let expired = items.get(k)?.is_some_and(|bytes| expires_at(&bytes) == Some(at));
                if expired {
                    items.remove(k)?;
                }
                Ok(expired)
            })?;
            removed += usize::from(gone);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn set<'a>(key: &'a str, ttl_ms: Option<u64>) -> Write<'a> {
        Write::Set { table: "t", key, value: "1", ttl_ms }
    }

    /// The expiry index as (expires-at, key), in order.
    fn index(db: &SledBackend) -> Vec<(u64, String)> {
        let entry = |e: sled::Result<(sled::IVec, sled::IVec)>| {
            let (due, _) = e.unwrap();
            let (at, k) = due.split_first_chunk::<8>().unwrap();
            (u64::from_be_bytes(*at), second(k).unwrap())
        };
        db.expiry.iter().map(entry).collect()
    }

    #[test]
    fn expired_items_leave_the_disk_when_swept() {
        let db = SledBackend::temporary().unwrap();
        db.write("o", &["t"], &[set("k", Some(40))], 10).unwrap();
        assert_eq!(db.remove_expired(50).unwrap(), 1);
        assert_eq!(db.items.len(), 0);
        assert_eq!(db.expiry.len(), 0);
    }

    #[test]
    fn the_sweep_removes_due_items_and_leaves_later_and_lasting_ones() {
        let db = SledBackend::temporary().unwrap();
        db.write("o", &["t"], &[set("soon", Some(40)), set("later", Some(100)), set("ever", None)], 10).unwrap();
        assert_eq!(index(&db), [(50, "soon".into()), (110, "later".into())]);
        assert_eq!(db.remove_expired(49).unwrap(), 0);
        assert_eq!(db.remove_expired(50).unwrap(), 1);
        assert!(db.get("t", "soon", 0).unwrap().is_none());
        assert_eq!(index(&db), [(110, "later".into())]);
        assert_eq!(db.remove_expired(200).unwrap(), 1);
        assert_eq!(
            db.keys("t", Range { prefix: "", after: None, limit: 10, max_bytes: usize::MAX }, 0).unwrap().entries,
            ["ever"]
        );
        assert!(index(&db).is_empty());
    }

    #[test]
    fn a_renewed_item_is_not_swept_at_its_old_expiry() {
        let db = SledBackend::temporary().unwrap();
        let first = ["later", "lasting", "counted", "deleted"].map(|k| set(k, Some(40)));
        db.write("o", &["t"], &first, 10).unwrap();
        let renew = [
            set("later", Some(100)),
            set("lasting", None),
            Write::Increment { table: "t", key: "counted", delta: 1 },
            Write::Delete { table: "t", key: "deleted" },
        ];
        db.write("o", &[], &renew, 20).unwrap();
        assert_eq!(index(&db), [(50, "counted".into()), (120, "later".into())], "an increment keeps the expiry");
        assert_eq!(db.remove_expired(50).unwrap(), 1);
        assert!(db.get("t", "later", 50).unwrap().is_some());
        assert!(db.get("t", "lasting", 50).unwrap().is_some());
        // Rewriting an expired item that the sweep has not reached drops its entry too.
        db.write("o", &[], &[set("later", None)], 130).unwrap();
        assert!(index(&db).is_empty());
    }

    #[test]
    fn an_entry_left_by_a_renewal_removes_nothing() {
        let db = SledBackend::temporary().unwrap();
        db.write("o", &["t"], &[set("k", Some(100))], 10).unwrap();
        // As if the sweep read the entry of an expiry that a write has since replaced.
        db.expiry.insert(due(Some(50), &pair("t", "k")).unwrap(), &[]).unwrap();
        assert_eq!(db.remove_expired(50).unwrap(), 0);
        assert!(db.get("t", "k", 50).unwrap().is_some());
        assert_eq!(index(&db), [(110, "k".into())]);
    }

    #[test]
    fn the_index_is_built_once_for_a_store_written_without_one() {
        let db = SledBackend::temporary().unwrap();
        db.write("o", &["t"], &[set("b", Some(40)), set("a", Some(90)), set("c", None)], 10).unwrap();
        let built = index(&db);
        // A store of an earlier version: items, but neither index nor mark.
        db.expiry.clear().unwrap();
        db.db.open_tree(META).unwrap().remove(INDEXED).unwrap();
        let sled = db.db.clone();
        drop(db);
        let db = SledBackend::with_db(sled.clone(), false).unwrap();
        assert_eq!(index(&db), built);
        assert_eq!(built, [(50, "b".into()), (100, "a".into())]);
        assert_eq!(db.remove_expired(50).unwrap(), 1);
        // The mark holds: opening again trusts the index as it is.
        db.expiry.clear().unwrap();
        drop(db);
        assert!(index(&SledBackend::with_db(sled, false).unwrap()).is_empty());
    }

    #[test]
    fn the_sweep_reads_the_index_not_the_items() {
        let db = SledBackend::temporary().unwrap();
        let lasting: Vec<String> = (0..1000).map(|n| format!("k{n:04}")).collect();
        let writes: Vec<Write> = lasting.iter().map(|k| set(k, None)).collect();
        db.write("o", &["t"], &writes, 10).unwrap();
        db.write("o", &[], &[set("due", Some(40))], 10).unwrap();
        assert_eq!(index(&db), [(50, "due".into())]);
        // An expired record that the index does not list stays: the sweep never looks at items.
        let unlisted = Item {
            key: "unlisted".into(),
            value: "1".into(),
            created_at: 1,
            updated_at: 1,
            version: 1,
            expires_at: Some(2),
        };
        db.items.insert(pair("t", "unlisted"), encode_item(&unlisted)).unwrap();
        assert_eq!(db.remove_expired(50).unwrap(), 1);
        assert_eq!(db.items.len(), 1001);
        assert!(db.items.contains_key(pair("t", "unlisted")).unwrap());
    }

    /// A group commit whose flushes are counted, and wait while `hold` is set.
    fn held_commits() -> (Arc<GroupCommit>, Arc<AtomicUsize>, Arc<AtomicBool>) {
        let (flushes, hold) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(true)));
        let (counted, held) = (flushes.clone(), hold.clone());
        let commits = Arc::new(GroupCommit::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            while held.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(())
        }));
        (commits, flushes, hold)
    }

    /// Waits (at most 10 s) until `done` holds.
    fn until(done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn group_commit_flushes_once_for_writers_waiting_together() {
        let (commits, flushes, hold) = held_commits();
        let writer = |commits: &Arc<GroupCommit>| {
            let commits = commits.clone();
            std::thread::spawn(move || commits.sync())
        };
        let mut writers = vec![writer(&commits)];
        until(|| flushes.load(Ordering::SeqCst) == 1);
        writers.extend((0..7).map(|_| writer(&commits)));
        until(|| commits.lock().issued == 8);
        hold.store(false, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap().unwrap();
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 2, "one flush for the first writer, one for the seven waiting");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_writers_share_flushes_with_blocking_ones_and_hold_no_thread() {
        let (commits, flushes, hold) = held_commits();
        let first = tokio::spawn(commits.durable());
        until(|| flushes.load(Ordering::SeqCst) == 1);
        // Many more waits than threads: none of them holds one.
        let waiting: Vec<_> = (0..100).map(|_| tokio::spawn(commits.durable())).collect();
        let blocking = {
            let commits = commits.clone();
            std::thread::spawn(move || commits.sync())
        };
        until(|| commits.lock().issued == 102);
        hold.store(false, Ordering::SeqCst);
        first.await.unwrap().unwrap();
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        blocking.join().unwrap().unwrap();
        assert_eq!(flushes.load(Ordering::SeqCst), 2, "one flush for the first, one for the 101 that waited");
    }

    #[test]
    fn a_failed_flush_fails_the_writers_it_covered_and_the_next_can_succeed() {
        let failing = Arc::new(AtomicBool::new(true));
        let fails = failing.clone();
        let commits = GroupCommit::new(move || {
            if fails.load(Ordering::SeqCst) { Err(sled::Error::Unsupported("no disk".into())) } else { Ok(()) }
        });
        let error = commits.sync().unwrap_err().to_string();
        assert!(error.contains("the disk flush failed") && error.contains("no disk"), "{error}");
        failing.store(false, Ordering::SeqCst);
        commits.sync().unwrap();
    }
}
