//! Execution records in the sled database that holds the KV data.
//!
//! A sled insert per record cost a small webhook more than the rest of its
//! record keeping (BENCHMARKS.md §3), so records are written in batches: `put`
//! queues a record, and a thread of its own writes the queue every
//! [`WRITE_EVERY`] as one value of tree `execution-batches`, keyed by the
//! largest id in it. Batches hold disjoint, increasing ranges of ids, so the
//! first batch whose key is at or after an id is the only one that can hold
//! it. A record whose id is below a batch already written (its execution
//! started before one that ended earlier) would break that, so it goes alone
//! into tree `executions`, keyed by its id, where earlier versions of floww
//! kept every record. Reads first write what is queued, then merge the two
//! trees in id order.
//!
//! Nothing here waits for the disk: sled's periodic flush is enough for a
//! history, and [`RecordStore::flush`] runs at shutdown.

use std::collections::{HashMap, HashSet, VecDeque};
use std::iter::Peekable;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use super::{Record, RecordStore};
use crate::storage::{StorageError, StorageResult};

/// How often the queue is written: often, so that one write (a batch of
/// records and its encoding) never holds a core for long. Every 50 ms gave
/// reused webhooks on one busy core a p99 of 6 ms (BENCHMARKS.md §0000000).
const WRITE_EVERY: Duration = Duration::from_millis(10);
/// Records queued at most; beyond this `put` fails (the writer is failing).
const QUEUE: usize = 100_000;

pub struct SledRecords {
    inner: Arc<Inner>,
}

struct Inner {
    /// Records written on their own, by id.
    single: sled::Tree,
    /// Batches of records sorted by id, keyed by their largest id.
    batches: sled::Tree,
    queue: Mutex<Vec<Record>>,
    /// The largest id written in a batch; held while writing, so writes
    /// (of the queue, or of a removal) take turns.
    last_batched: Mutex<String>,
}

impl SledRecords {
    /// Opens the records in `db` and starts the writer thread, which ends
    /// when the store is dropped.
    pub fn new(db: &sled::Db) -> StorageResult<Self> {
        let batches = db.open_tree("execution-batches")?;
        let last_batched = match batches.last()? {
            Some((key, _)) => String::from_utf8_lossy(&key).into_owned(),
            None => String::new(),
        };
        let inner = Arc::new(Inner {
            single: db.open_tree("executions")?,
            batches,
            queue: Mutex::new(Vec::new()),
            last_batched: Mutex::new(last_batched),
        });
        let writer = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("floww-records".into())
            .spawn(move || write_every(&writer))
            .map_err(StorageError::failed)?;
        Ok(Self { inner })
    }
}

fn write_every(inner: &Weak<Inner>) {
    loop {
        std::thread::sleep(WRITE_EVERY);
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.write_queue() {
            tracing::error!("could not keep execution records: {e}");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> StorageResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(StorageError::failed)
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> StorageResult<T> {
    serde_json::from_slice(bytes).map_err(StorageError::failed)
}

impl Inner {
    /// Writes the queued records: as one batch, but for those that sort
    /// before a batch already written, which are written one by one.
    fn write_queue(&self) -> StorageResult<()> {
        let mut last_batched = lock(&self.last_batched);
        let mut records = std::mem::take(&mut *lock(&self.queue));
        records.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        let batch = records.split_off(records.partition_point(|r| r.id <= *last_batched));
        for record in &records {
            self.single.insert(record.id.as_bytes(), encode(record)?)?;
        }
        if let Some(largest) = batch.last() {
            self.batches.insert(largest.id.as_bytes(), encode(&batch)?)?;
            largest.id.clone_into(&mut last_batched);
        }
        Ok(())
    }

    /// The records of the one batch that can hold `id`.
    fn batch_of(&self, id: &str) -> StorageResult<Option<Vec<Record>>> {
        match self.batches.range(id.as_bytes()..).next().transpose()? {
            Some((_, bytes)) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }
}

impl RecordStore for SledRecords {
    fn put(&self, record: &Record) -> StorageResult<()> {
        let record = record.clone();
        let mut queue = lock(&self.inner.queue);
        if queue.len() >= QUEUE {
            return Err(StorageError::Unavailable(format!("{QUEUE} execution records are waiting already")));
        }
        queue.push(record);
        Ok(())
    }

    fn get(&self, id: &str) -> StorageResult<Option<Record>> {
        self.inner.write_queue()?;
        if let Some(bytes) = self.inner.single.get(id)? {
            return decode(&bytes).map(Some);
        }
        let Some(records) = self.inner.batch_of(id)? else { return Ok(None) };
        Ok(records.binary_search_by(|r| r.id.as_str().cmp(id)).ok().map(|at| records[at].clone()))
    }

    fn scan<'a>(
        &'a self,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = StorageResult<Record>> + 'a> {
        if let Err(e) = self.inner.write_queue() {
            return Box::new(std::iter::once(Err(e)));
        }
        let (single, batches) = (&self.inner.single, &self.inner.batches);
        let past = |key: &[u8]| Bound::Excluded(key.to_vec());
        let single = match (cursor, newest_first) {
            (None, _) => single.range::<Vec<u8>, _>(..),
            (Some(c), false) => single.range((past(c.as_bytes()), Bound::Unbounded)),
            (Some(c), true) => single.range((Bound::Unbounded, past(c.as_bytes()))),
        };
        let single = single.map(|entry| decode(&entry?.1));
        // The batches from the one that can hold the cursor on: its records
        // at or beyond the cursor are skipped below.
        let batches = match (cursor, newest_first) {
            (None, _) => batches.range::<Vec<u8>, _>(..),
            (Some(c), false) => batches.range(c.as_bytes()..),
            (Some(c), true) => match batches.range(c.as_bytes()..).next() {
                Some(Ok((key, _))) => batches.range(..=key),
                _ => batches.range::<Vec<u8>, _>(..),
            },
        };
        let cursor = cursor.map(str::to_owned);
        let beyond = move |record: &StorageResult<Record>| match (record, &cursor) {
            (Ok(r), Some(c)) => {
                if newest_first {
                    r.id < *c
                } else {
                    r.id > *c
                }
            }
            _ => true,
        };
        if newest_first {
            let batched = Batched { batches: batches.rev(), records: VecDeque::new(), newest_first };
            Box::new(Merge { a: single.rev().peekable(), b: batched.filter(beyond).peekable(), newest_first })
        } else {
            let batched = Batched { batches, records: VecDeque::new(), newest_first };
            Box::new(Merge { a: single.peekable(), b: batched.filter(beyond).peekable(), newest_first })
        }
    }

    fn remove(&self, ids: &[String]) -> StorageResult<()> {
        let _turn = lock(&self.inner.last_batched);
        // The ids to remove from each batch, so each batch is rewritten once.
        let mut doomed: HashMap<sled::IVec, HashSet<&str>> = HashMap::new();
        for id in ids {
            if self.inner.single.remove(id.as_bytes())?.is_some() {
                continue;
            }
            if let Some((key, _)) = self.inner.batches.range(id.as_bytes()..).next().transpose()? {
                doomed.entry(key).or_default().insert(id);
            }
        }
        for (key, ids) in doomed {
            let Some(bytes) = self.inner.batches.get(&key)? else { continue };
            let mut left: Vec<Record> = decode(&bytes)?;
            left.retain(|r| !ids.contains(r.id.as_str()));
            // The key stays even if its largest record went: it still bounds the batch's range.
            match left.is_empty() {
                true => self.inner.batches.remove(key)?,
                false => self.inner.batches.insert(key, encode(&left)?)?,
            };
        }
        Ok(())
    }

    fn flush(&self) -> StorageResult<()> {
        self.inner.write_queue()?;
        self.inner.batches.flush()?;
        Ok(())
    }
}

/// The records of batches, one by one, in the batches' order.
struct Batched<I> {
    batches: I,
    records: VecDeque<Record>,
    newest_first: bool,
}

impl<I: Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> Iterator for Batched<I> {
    type Item = StorageResult<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.records.is_empty() {
            let records =
                self.batches.next()?.map_err(StorageError::from).and_then(|(_, bytes)| decode::<Vec<Record>>(&bytes));
            match records {
                Ok(records) => self.records = records.into(),
                Err(e) => return Some(Err(e)),
            }
        }
        if self.newest_first { self.records.pop_back() } else { self.records.pop_front() }.map(Ok)
    }
}

/// Two iterators sorted by id, merged in the same order. Errors come first.
struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
    newest_first: bool,
}

impl<A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = StorageResult<Record>>,
    B: Iterator<Item = StorageResult<Record>>,
{
    type Item = StorageResult<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        let a_first = match (self.a.peek(), self.b.peek()) {
            (None, None) => return None,
            (Some(_), None) | (Some(Err(_)), _) => true,
            (None, Some(_)) | (_, Some(Err(_))) => false,
            (Some(Ok(a)), Some(Ok(b))) => (a.id < b.id) != self.newest_first,
        };
        if a_first { self.a.next() } else { self.b.next() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::Status;

    fn record(id: &str) -> Record {
        Record {
            id: id.into(),
            workflow: "w".into(),
            trigger: "webhook POST /x".into(),
            status: Status::Completed,
            started_at: 0,
            duration_ms: 1.0,
            http_status: None,
            error: None,
            logs: vec![],
            http: vec![],
            run: None,
        }
    }

    fn ids(records: impl Iterator<Item = StorageResult<Record>>) -> Vec<String> {
        records.map(|r| r.unwrap().id).collect()
    }

    /// Records that end out of order, across several writes of the queue,
    /// some of them alone: every read sees them in id order.
    #[test]
    fn batched_and_late_records_read_back_in_id_order() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledRecords::new(&db).unwrap();
        for round in [["b", "d", "a"], ["f", "c", "e"], ["h", "g", "0"]] {
            for id in round {
                store.put(&record(id)).unwrap();
            }
            store.inner.write_queue().unwrap();
        }
        // c and 0 came after a batch with larger ids was written: alone.
        assert_eq!(ids(store.inner.single.iter().map(|e| decode(&e.unwrap().1))), ["0", "c"]);
        let all = ["0", "a", "b", "c", "d", "e", "f", "g", "h"];
        assert_eq!(ids(store.scan(None, false)), all);
        assert_eq!(ids(store.scan(None, true)), all.iter().rev().copied().collect::<Vec<_>>());
        for (at, id) in all.iter().enumerate() {
            assert_eq!(store.get(id).unwrap().unwrap().id, *id);
            assert_eq!(ids(store.scan(Some(id), false)), all[at + 1..]);
            assert_eq!(ids(store.scan(Some(id), true)), all[..at].iter().rev().copied().collect::<Vec<_>>());
        }
        assert_eq!(store.get("cc").unwrap(), None);

        store.remove(&["a".into(), "c".into(), "d".into(), "h".into()]).unwrap();
        assert_eq!(ids(store.scan(None, false)), ["0", "b", "e", "f", "g"]);
        assert_eq!(store.get("h").unwrap(), None);
        // Batches [a b d], [e f], [g h]: none is empty yet.
        assert_eq!(store.inner.batches.len(), 3);
        store.remove(&["b".into()]).unwrap();
        assert_eq!(store.inner.batches.len(), 2, "the emptied batch is gone");
        assert_eq!(ids(store.scan(Some("0"), false)), ["e", "f", "g"]);
    }

    /// A queue the writer can't empty stops growing at its bound; nothing
    /// queued before is lost.
    #[test]
    fn a_full_queue_refuses_more_records_and_loses_none_it_holds() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledRecords::new(&db).unwrap();
        let writing = lock(&store.inner.last_batched);
        for n in 0..QUEUE {
            store.put(&record(&format!("{n:06}"))).unwrap();
        }
        let refused = store.put(&record("late")).unwrap_err();
        assert!(matches!(refused, StorageError::Unavailable(_)), "{refused:?}");
        assert_eq!(refused.to_string(), "the store is unavailable: 100000 execution records are waiting already");
        drop(writing);
        assert_eq!(store.scan(None, false).count(), QUEUE);
        assert_eq!(store.get("late").unwrap(), None);
    }

    #[test]
    fn records_kept_one_per_key_by_earlier_versions_are_read_too() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let old = db.open_tree("executions").unwrap();
        old.insert("a", encode(&record("a")).unwrap()).unwrap();
        let store = SledRecords::new(&db).unwrap();
        store.put(&record("b")).unwrap();
        assert_eq!(ids(store.scan(None, false)), ["a", "b"]);
        assert_eq!(store.get("a").unwrap().unwrap().id, "a");
    }

    #[test]
    fn a_reopened_store_keeps_batching_after_what_it_wrote() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let store = SledRecords::new(&db).unwrap();
        store.put(&record("m")).unwrap();
        store.flush().unwrap();
        drop(store);
        let store = SledRecords::new(&db).unwrap();
        store.put(&record("a")).unwrap();
        store.put(&record("z")).unwrap();
        assert_eq!(ids(store.scan(None, false)), ["a", "m", "z"]);
        assert!(store.inner.single.contains_key("a").unwrap(), "a sorts before the batch written before");
    }

    /// Any order of puts, queue writes and removals reads back as a sorted
    /// set would: both ways, from any cursor, and one by one.
    #[test]
    fn any_history_reads_back_like_a_sorted_set() {
        use std::collections::BTreeSet;

        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        #[derive(Debug, Clone)]
        enum Step {
            Put(u8),
            Write,
            Remove(Vec<u8>),
        }
        let step = prop_oneof![
            4 => any::<u8>().prop_map(Step::Put),
            1 => Just(Step::Write),
            1 => proptest::collection::vec(any::<u8>(), 0..4).prop_map(Step::Remove),
        ];
        let config = Config { cases: 64, failure_persistence: None, ..Config::default() };
        TestRunner::new(config)
            .run(&proptest::collection::vec(step, 0..40), |steps| {
                let db = sled::Config::new().temporary(true).open().unwrap();
                let store = SledRecords::new(&db).unwrap();
                let mut model = BTreeSet::new();
                let id = |n: u8| format!("{n:03}");
                for step in steps {
                    match step {
                        Step::Put(n) if model.insert(id(n)) => store.put(&record(&id(n))).unwrap(),
                        Step::Put(_) => {}
                        Step::Write => store.inner.write_queue().unwrap(),
                        Step::Remove(ns) => {
                            let gone: Vec<String> = ns.into_iter().map(id).filter(|i| model.remove(i)).collect();
                            store.inner.write_queue().unwrap();
                            store.remove(&gone).unwrap();
                        }
                    }
                }
                let all: Vec<String> = model.iter().cloned().collect();
                prop_assert_eq!(ids(store.scan(None, false)), all.clone());
                for n in [0u8, 7, 100, 255] {
                    let c = id(n);
                    let after: Vec<String> = model.range(c.clone()..).filter(|i| **i != c).cloned().collect();
                    let before: Vec<String> = model.range(..c.clone()).rev().cloned().collect();
                    prop_assert_eq!(ids(store.scan(Some(&c), false)), after);
                    prop_assert_eq!(ids(store.scan(Some(&c), true)), before);
                    prop_assert_eq!(store.get(&c).unwrap().is_some(), model.contains(&c));
                }
                Ok(())
            })
            .unwrap();
    }
}
