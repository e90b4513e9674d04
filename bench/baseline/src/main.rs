//! The native baseline of `bench/http.sh`: the kv-store example's
//! `POST /webhook/counter` and `POST /webhook/users` (`get-user`, and
//! `create-user` to seed) as a plain axum server, with the same JSON in and
//! out and the same KV work, but no wasm. Every store kind acknowledges a
//! write only once it is on disk.
//!
//! `--store kv` (the default) goes through `floww_host::kv::Kv` on the sled
//! backend, as the host does: same names checks, same owner lookup, same
//! durable write (the backend's blocking group commit). Its calls run where
//! the host runs a guest's: a read in place on the async worker, a request
//! that writes on tokio's blocking pool. Its `/counter` is a `get` then a
//! `set`, not one atomic step: concurrent requests can lose increments.
//!
//! `--store sled` is what a careful native server does with a bare sled tree:
//! `/counter` is one atomic `update_and_fetch`, in place on the async worker,
//! and durability comes from group commit. A flusher thread runs one `flush`
//! at a time; each flush makes durable every write made before it started,
//! and a writer awaits (without holding a worker) the first flush that starts
//! after its write, so concurrent writers share one fsync.
//!
//! `--store sled-flush-each` is the same tree and the same atomic add, but
//! every write request runs on the blocking pool and pays for its own
//! `flush`: what group commit saves.
//!
//! `POST /webhook/noop/noop` answers 200 with an empty body and does nothing
//! else: the floor of any axum server on this machine, for `bench/peer.sh`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use floww_host::kv::{Kv, KvError, SledBackend, WorkflowDirectory};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The caller the `kv` store acts as: the id the host benchmark deploys under.
const CALLER: &str = "kv-store";

/// The native reference for `bench/http.sh`: the kv-store example's /counter
/// and get-user as axum + sled, no wasm.
#[derive(clap::Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Folder of the sled database (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// Where the data goes and how a write is made durable.
    #[arg(long, value_enum, default_value_t = StoreKind::Kv)]
    store: StoreKind,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StoreKind {
    /// floww's KV rules over its sled backend, as the host runs them
    Kv,
    /// a bare sled tree: atomic update_and_fetch, group commit (one flush serves every waiting writer)
    Sled,
    /// a bare sled tree, the same atomic add, one flush per write request
    SledFlushEach,
}

/// Every workflow id counts as deployed: the baseline makes no grants.
struct Everyone;

impl WorkflowDirectory for Everyone {
    fn is_deployed(&self, _id: &str) -> bool {
        true
    }
}

/// The stores, behind the three calls the handlers make.
enum Store {
    Kv(Kv),
    Sled { db: sled::Db, durability: Durability },
}

/// How a bare sled tree makes a write durable.
enum Durability {
    GroupCommit(Arc<GroupCommit>),
    FlushEach,
}

impl Store {
    /// A read, in place on the async worker.
    fn get(&self, table: &str, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Store::Kv(kv) => match kv.get(CALLER, table, key) {
                Ok(item) => Ok(Some(item.value)),
                Err(KvError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
            Store::Sled { db, .. } => {
                let value = db.get(sled_key(table, key))?;
                Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
            }
        }
    }

    /// Stores `value` and returns once it is durable, like the host's `set`.
    async fn set(self: Arc<Self>, table: &'static str, key: String, value: String) -> anyhow::Result<()> {
        if let Store::Sled { db, durability: Durability::GroupCommit(commit) } = &*self {
            db.insert(sled_key(table, &key), value.as_bytes())?;
            return commit.durable().await;
        }
        blocking(move || match &*self {
            Store::Kv(kv) => Ok(kv.set(CALLER, table, &key, &value).map(drop)?),
            Store::Sled { db, .. } => {
                db.insert(sled_key(table, &key), value.as_bytes())?;
                db.flush()?;
                Ok(())
            }
        })
        .await
    }

    /// Adds `by` to the integer at `key` (0 if missing) and returns once the
    /// sum is durable: `Some((previous, value))`, or `None`, with nothing
    /// changed, if the sum would overflow.
    async fn add(
        self: Arc<Self>,
        table: &'static str,
        key: &'static str,
        by: i64,
    ) -> anyhow::Result<Option<(i64, i64)>> {
        if let Store::Sled { db, durability: Durability::GroupCommit(commit) } = &*self {
            let sum = sled_add(db, &sled_key(table, key), by)?;
            if sum.is_some() {
                commit.durable().await?;
            }
            return Ok(sum);
        }
        blocking(move || match &*self {
            // A read, then a durable write: not one atomic step, so
            // concurrent requests can lose increments.
            Store::Kv(kv) => {
                let previous: i64 = match self.get(table, key)? {
                    Some(text) => serde_json::from_str(&text)?,
                    None => 0,
                };
                let Some(value) = previous.checked_add(by) else { return Ok(None) };
                kv.set(CALLER, table, key, &value.to_string())?;
                Ok(Some((previous, value)))
            }
            Store::Sled { db, .. } => {
                let sum = sled_add(db, &sled_key(table, key), by)?;
                if sum.is_some() {
                    db.flush()?;
                }
                Ok(sum)
            }
        })
        .await
    }
}

fn sled_key(table: &str, key: &str) -> Vec<u8> {
    [table.as_bytes(), &[0], key.as_bytes()].concat()
}

/// The atomic add on a bare sled tree, which keeps the integer as decimal
/// text: `Some((previous, value))`, or `None` on overflow (the value stays).
fn sled_add(tree: &sled::Tree, key: &[u8], by: i64) -> anyhow::Result<Option<(i64, i64)>> {
    // sled may call the closure more than once (it retries a lost
    // compare-and-swap); the outcome is that of the call that won.
    let mut outcome = Ok(None);
    tree.update_and_fetch(key, |old| {
        outcome = match old.map(parse_integer).transpose() {
            Ok(previous) => {
                let previous = previous.unwrap_or(0);
                Ok(previous.checked_add(by).map(|value| (previous, value)))
            }
            Err(e) => Err(e),
        };
        match &outcome {
            Ok(Some((_, value))) => Some(value.to_string().into_bytes()),
            _ => old.map(<[u8]>::to_vec),
        }
    })?;
    outcome
}

fn parse_integer(bytes: &[u8]) -> anyhow::Result<i64> {
    std::str::from_utf8(bytes).ok().and_then(|text| text.parse().ok()).context("the stored counter is not an integer")
}

/// Runs `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work).await?
}

/// Group commit for a sled database: a writer, once its write is in the
/// tree, awaits [`GroupCommit::durable`], which returns after the first
/// `flush` that started after the call. A thread of its own runs the flushes
/// one after the other, so one flush serves every writer that asked before it
/// started, and writers that ask during a flush share the next one.
struct GroupCommit {
    asks: Mutex<Asks>,
    asked: Condvar,
    /// The last flush done; only the flusher thread sends.
    flushed: watch::Sender<Flushed>,
}

struct Asks {
    /// The generation of the next flush to start; flushes are numbered from 1.
    next: u64,
    /// A writer waits for generation `next`.
    pending: bool,
}

#[derive(Clone)]
struct Flushed {
    /// 0 before the first flush.
    generation: u64,
    result: Result<(), Arc<str>>,
}

impl GroupCommit {
    /// Starts the flusher thread of `db`; it runs for the life of the process.
    fn start(db: sled::Db) -> anyhow::Result<Arc<Self>> {
        let commit = Arc::new(GroupCommit {
            asks: Mutex::new(Asks { next: 1, pending: false }),
            asked: Condvar::new(),
            flushed: watch::Sender::new(Flushed { generation: 0, result: Ok(()) }),
        });
        let flusher = Arc::clone(&commit);
        std::thread::Builder::new()
            .name("sled-group-commit".into())
            .spawn(move || flusher.run(&db))
            .context("start the flusher thread")?;
        Ok(commit)
    }

    /// Returns once every write made before the call is on disk.
    async fn durable(&self) -> anyhow::Result<()> {
        let generation = {
            let mut asks = self.asks.lock().unwrap_or_else(PoisonError::into_inner);
            asks.pending = true;
            asks.next
        };
        self.asked.notify_one();
        let mut flushed = self.flushed.subscribe();
        // A later generation serves too: it also started after the write.
        let result = flushed.wait_for(|flushed| flushed.generation >= generation).await?.result.clone();
        result.map_err(|e| anyhow::anyhow!("flush: {e}"))
    }

    fn run(&self, db: &sled::Db) {
        loop {
            let generation = {
                let mut asks = self.asks.lock().unwrap_or_else(PoisonError::into_inner);
                while !asks.pending {
                    asks = self.asked.wait(asks).unwrap_or_else(PoisonError::into_inner);
                }
                asks.pending = false;
                asks.next += 1;
                asks.next - 1
            };
            let result = db.flush().map(drop).map_err(|e| Arc::from(e.to_string()));
            self.flushed.send_replace(Flushed { generation, result });
        }
    }
}

type AppState = Arc<Store>;

#[derive(Deserialize, Default)]
struct CounterBody {
    increment: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsersBody {
    action: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
    email: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    name: String,
    email: String,
    created_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    updated_at: Option<u64>,
}

fn json_response(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(value)).into_response()
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json_response(status, json!({ "error": message.to_string() }))
}

async fn counter(State(store): State<AppState>, body: axum::body::Bytes) -> Response {
    let body: CounterBody = if body.is_empty() {
        CounterBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    };
    let by = match body.increment {
        None => 1,
        Some(value) => match value.as_i64() {
            Some(by) => by,
            None => return error(StatusCode::BAD_REQUEST, "`increment` must be an integer"),
        },
    };
    match store.add("counters", "page-views", by).await {
        Ok(Some((previous, value))) => {
            json_response(StatusCode::OK, json!({ "counter": "page-views", "previous": previous, "value": value }))
        }
        Ok(None) => error(StatusCode::BAD_REQUEST, "the counter would overflow"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn users(State(store): State<AppState>, body: axum::body::Bytes) -> Response {
    let body: UsersBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match user_action(store, body).await {
        Ok(response) => response,
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn user_action(store: AppState, body: UsersBody) -> anyhow::Result<Response> {
    let Some(id) = body.user_id else {
        return Ok(error(StatusCode::BAD_REQUEST, "missing field `userId`"));
    };
    match body.action.unwrap_or_default().as_str() {
        "get-user" => Ok(match store.get("users", &id)? {
            Some(text) => {
                let user: User = serde_json::from_str(&text)?;
                json_response(StatusCode::OK, json!({ "user": user }))
            }
            None => error(StatusCode::NOT_FOUND, format!("user `{id}` not found")),
        }),
        "create-user" => {
            let user = User {
                id: id.clone(),
                name: body.name.unwrap_or_default(),
                email: body.email.unwrap_or_default(),
                created_at: 0,
                updated_at: None,
            };
            store.set("users", id, serde_json::to_string(&user)?).await?;
            Ok(json_response(StatusCode::CREATED, json!({ "created": true, "user": user })))
        }
        other => Ok(error(StatusCode::BAD_REQUEST, format!("unknown action `{other}`"))),
    }
}

fn router(store: Store) -> Router {
    Router::new()
        .route("/webhook/counter", post(counter))
        .route("/webhook/users", post(users))
        .route("/webhook/noop/noop", post(|| async {}))
        .with_state(Arc::new(store))
}

fn main() -> anyhow::Result<()> {
    let args: Args = clap::Parser::parse();
    std::fs::create_dir_all(&args.data_dir).context("create the data dir")?;
    let store = match args.store {
        StoreKind::Kv => {
            let backend = SledBackend::open(&args.data_dir, true).context("open the sled backend")?;
            Store::Kv(Kv::new(Arc::new(backend), Arc::new(Everyone)))
        }
        StoreKind::Sled => {
            let db = sled::open(&args.data_dir).context("open sled")?;
            Store::Sled { durability: Durability::GroupCommit(GroupCommit::start(db.clone())?), db }
        }
        StoreKind::SledFlushEach => {
            Store::Sled { db: sled::open(&args.data_dir).context("open sled")?, durability: Durability::FlushEach }
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("Serving http://{}", listener.local_addr()?);
        axum::serve(listener, router(store)).await?;
        anyhow::Ok(())
    })
}
