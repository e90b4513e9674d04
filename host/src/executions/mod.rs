//! Execution records: for every execution its id, workflow, trigger,
//! status, timing, error and the guest's log lines, kept for a number of
//! days and a number per workflow, and queried by the admin API. Storage is
//! a [`RecordStore`]; this module owns the queries and the retention rules.

mod postgres;
mod sled;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use self::postgres::PostgresRecords;
pub use self::sled::SledRecords;
use crate::egress::HttpCall;
use crate::runtime::LogLine;
use crate::storage::{StorageError, now_ms};

/// How an execution ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Completed,
    /// The guest trapped, returned an error, or gave an invalid response.
    Failed,
    Timeout,
    /// Turned away before it ran: the host was at capacity.
    Rejected,
    /// Turned away before it ran: its input could not be taken (a request
    /// body over the limit, or one that could not be read).
    Invalid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::Rejected => "rejected",
            Status::Invalid => "invalid",
        }
    }
}

/// One execution, as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// A UUIDv7: records sort by start time.
    pub id: String,
    pub workflow: String,
    /// What ran it, e.g. `webhook POST /users`.
    pub trigger: String,
    pub status: Status,
    /// Milliseconds since the Unix epoch.
    pub started_at: u64,
    pub duration_ms: f64,
    /// The HTTP status a webhook's guest answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// What went wrong: the host's account of a failure, or the error a
    /// guest answered a webhook with (for operators, never for callers).
    pub error: Option<String>,
    pub logs: Vec<LogLine>,
    /// The outgoing HTTP requests it made, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpCall>,
    /// The durable run it invoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// Storage for records, keyed by id (so in start order).
pub trait RecordStore: Send + Sync + 'static {
    fn put(&self, record: &Record) -> Result<(), StorageError>;
    fn get(&self, id: &str) -> Result<Option<Record>, StorageError>;
    /// Records after `cursor` (exclusive) in id order, or before it when `newest_first`.
    fn scan<'a>(
        &'a self,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Box<dyn Iterator<Item = Result<Record, StorageError>> + 'a>;
    /// Removes the records `ids`, as a scan listed them.
    fn remove(&self, ids: &[String]) -> Result<(), StorageError>;
    /// Writes whatever `put` still holds: at shutdown.
    fn flush(&self) -> Result<(), StorageError>;
}

/// Which records a query wants.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub workflow: Option<String>,
    pub status: Option<Status>,
    pub limit: usize,
    pub cursor: Option<String>,
    pub newest_first: bool,
}

/// How long records are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub per_workflow: usize,
}

pub struct Executions {
    store: Box<dyn RecordStore>,
    retention: Retention,
    /// Each record as it is kept, to whoever follows them.
    kept: broadcast::Sender<Arc<Record>>,
}

/// Records a follower may fall behind by before it misses some.
const FOLLOWER_BACKLOG: usize = 1024;

impl Executions {
    pub fn new(store: Box<dyn RecordStore>, retention: Retention) -> Self {
        Self { store, retention, kept: broadcast::Sender::new(FOLLOWER_BACKLOG) }
    }

    /// Keeps a record; a storage failure is logged, never passed on, so
    /// record keeping can't fail an execution.
    pub fn keep(&self, record: &Record) {
        if let Err(e) = self.store.put(record) {
            tracing::error!(execution = %record.id, "could not keep the execution record: {e}");
        }
        if self.kept.receiver_count() > 0 {
            let _ = self.kept.send(Arc::new(record.clone()));
        }
    }

    /// Every record kept from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.kept.subscribe()
    }

    pub fn get(&self, id: &str) -> Result<Option<Record>, StorageError> {
        self.store.get(id)
    }

    /// A page of records that match, and the cursor for the next page.
    pub fn list(&self, query: &Query) -> Result<(Vec<Record>, Option<String>), StorageError> {
        let mut page = Vec::new();
        for record in self.store.scan(query.cursor.as_deref(), query.newest_first) {
            let record = record?;
            let wanted = query.workflow.as_ref().is_none_or(|w| *w == record.workflow)
                && query.status.is_none_or(|s| s == record.status);
            if !wanted {
                continue;
            }
            if page.len() == query.limit {
                let cursor = page.last().map(|r: &Record| r.id.clone());
                return Ok((page, cursor));
            }
            page.push(record);
        }
        Ok((page, None))
    }

    /// Removes records older than the retention age or beyond the number
    /// kept per workflow; returns how many.
    pub fn prune(&self) -> Result<usize, StorageError> {
        let oldest_kept = now_ms().saturating_sub(self.retention.max_age.as_millis() as u64);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut doomed = Vec::new();
        for record in self.store.scan(None, true) {
            let record = record?;
            let count = seen.entry(record.workflow.clone()).or_default();
            *count += 1;
            if *count > self.retention.per_workflow || record.started_at < oldest_kept {
                doomed.push(record.id);
            }
        }
        self.store.remove(&doomed)?;
        Ok(doomed.len())
    }

    /// Writes the records kept so far; see [`RecordStore::flush`].
    pub fn flush(&self) -> Result<(), StorageError> {
        self.store.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, workflow: &str, status: Status, started_at: u64) -> Record {
        Record {
            id: id.into(),
            workflow: workflow.into(),
            trigger: "webhook POST /x".into(),
            status,
            started_at,
            duration_ms: 1.0,
            http_status: None,
            error: None,
            logs: vec![],
            http: vec![],
            run: None,
        }
    }

    const KEEP_ALL: Retention = Retention { max_age: Duration::from_secs(3600), per_workflow: 100 };

    fn queries_filter_and_page_in_either_order(store: Box<dyn RecordStore>) {
        let ex = Executions::new(store, KEEP_ALL);
        let now = now_ms();
        for (i, wf) in ["a", "b", "a", "a"].iter().enumerate() {
            let status = if i == 2 { Status::Failed } else { Status::Completed };
            ex.keep(&record(&format!("id{i}"), wf, status, now));
        }
        let q = Query { workflow: Some("a".into()), limit: 2, ..Query::default() };
        let (page, cursor) = ex.list(&q).unwrap();
        assert_eq!(page.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["id0", "id2"]);
        let (rest, end) = ex.list(&Query { cursor, ..q.clone() }).unwrap();
        assert_eq!((rest.len(), end), (1, None));
        let newest = ex.list(&Query { limit: 1, newest_first: true, ..q.clone() }).unwrap().0;
        assert_eq!(newest[0].id, "id3");
        let failed = ex.list(&Query { status: Some(Status::Failed), limit: 10, ..Query::default() }).unwrap().0;
        assert_eq!(failed.len(), 1);
    }

    fn pruning_keeps_the_newest_per_workflow_and_drops_old_ones(store: Box<dyn RecordStore>) {
        let ex = Executions::new(store, Retention { max_age: Duration::from_secs(60), per_workflow: 2 });
        let now = now_ms();
        for i in 0..4 {
            ex.keep(&record(&format!("a{i}"), "a", Status::Completed, now));
        }
        ex.keep(&record("b0", "b", Status::Completed, now - 120_000));
        assert_eq!(ex.prune().unwrap(), 3);
        let left = ex.list(&Query { limit: 10, ..Query::default() }).unwrap().0;
        assert_eq!(left.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["a2", "a3"]);
    }

    macro_rules! on_every_store {
        ($($test:ident),* $(,)?) => {
            mod sled {
                $(#[test]
                fn $test() {
                    let db = ::sled::Config::new().temporary(true).open().unwrap();
                    super::$test(Box::new(super::SledRecords::new(&db).unwrap()));
                })*
            }
            mod postgres {
                $(#[test]
                fn $test() {
                    let scratch = crate::storage::ScratchDatabase::create();
                    let db = crate::storage::Database::connect(&scratch.url(), 2).unwrap();
                    super::$test(Box::new(super::PostgresRecords::new(std::sync::Arc::new(db))));
                })*
            }
        };
    }

    on_every_store!(queries_filter_and_page_in_either_order, pruning_keeps_the_newest_per_workflow_and_drops_old_ones);
}
