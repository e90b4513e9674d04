//! The native baseline of `bench/http.sh`: the kv-store example's
//! `POST /webhook/counter` and `POST /webhook/users` (`get-user`, and
//! `create-user` to seed) as a plain axum server, with the same JSON in and
//! out and the same KV work, but no wasm.
//!
//! `--store kv` (the default) goes through `floww_host::kv::Kv` on the sled
//! backend, as the host does: same names checks, same owner lookup, same
//! durable write. `--store sled` is barer still: one sled tree, `get`,
//! `insert` and `flush`. Store calls run where the host runs a guest's: a
//! read in place on the async worker, a request that writes (and so waits
//! for the flush) on tokio's blocking pool.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use floww_host::kv::{Kv, KvError, SledBackend, WorkflowDirectory};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The caller the `kv` store acts as: the id the host benchmark deploys under.
const CALLER: &str = "kv-store";

#[derive(clap::Parser)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Folder of the sled database (created if missing).
    #[arg(long)]
    data_dir: PathBuf,
    /// `kv`: floww's KV rules over its sled backend; `sled`: a bare sled tree.
    #[arg(long, default_value = "kv")]
    store: StoreKind,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StoreKind {
    Kv,
    Sled,
}

/// Every workflow id counts as deployed: the baseline makes no grants.
struct Everyone;

impl WorkflowDirectory for Everyone {
    fn is_deployed(&self, _id: &str) -> bool {
        true
    }
}

/// The two stores, behind the three calls the handlers make.
enum Store {
    Kv(Kv),
    Sled(sled::Db),
}

impl Store {
    fn get(&self, table: &str, key: &str) -> anyhow::Result<Option<String>> {
        match self {
            Store::Kv(kv) => match kv.get(CALLER, table, key) {
                Ok(item) => Ok(Some(item.value)),
                Err(KvError::NotFound(_)) => Ok(None),
                Err(e) => Err(e.into()),
            },
            Store::Sled(db) => {
                let value = db.get(sled_key(table, key))?;
                Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
            }
        }
    }

    /// Stores and makes durable, like the host's `set`.
    fn set(&self, table: &str, key: &str, value: &str) -> anyhow::Result<()> {
        match self {
            Store::Kv(kv) => Ok(kv.set(CALLER, table, key, value).map(drop)?),
            Store::Sled(db) => {
                db.insert(sled_key(table, key), value.as_bytes())?;
                db.flush()?;
                Ok(())
            }
        }
    }
}

fn sled_key(table: &str, key: &str) -> Vec<u8> {
    [table.as_bytes(), &[0], key.as_bytes()].concat()
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
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<Result<Value, Response>> {
        let previous: i64 = match store.get("counters", "page-views")? {
            Some(text) => serde_json::from_str(&text)?,
            None => 0,
        };
        let Some(value) = previous.checked_add(by) else {
            return Ok(Err(error(StatusCode::BAD_REQUEST, "the counter would overflow")));
        };
        store.set("counters", "page-views", &value.to_string())?;
        Ok(Ok(json!({ "counter": "page-views", "previous": previous, "value": value })))
    });
    match work.await {
        Ok(Ok(Ok(value))) => json_response(StatusCode::OK, value),
        Ok(Ok(Err(response))) => response,
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn users(State(store): State<AppState>, body: axum::body::Bytes) -> Response {
    let body: UsersBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let Some(id) = body.user_id else {
        return error(StatusCode::BAD_REQUEST, "missing field `userId`");
    };
    let action = body.action.unwrap_or_default();
    let reads_only = action == "get-user";
    let work = move || -> anyhow::Result<Response> {
        match action.as_str() {
            "get-user" => Ok(match store.get("users", &id)? {
                Some(text) => {
                    let user: User = serde_json::from_str(&text)?;
                    json_response(StatusCode::OK, json!({ "user": user }))
                }
                None => error(StatusCode::NOT_FOUND, format!("user `{id}` not found")),
            }),
            "create-user" => {
                let user = User {
                    id,
                    name: body.name.unwrap_or_default(),
                    email: body.email.unwrap_or_default(),
                    created_at: 0,
                    updated_at: None,
                };
                store.set("users", &user.id, &serde_json::to_string(&user)?)?;
                Ok(json_response(StatusCode::CREATED, json!({ "created": true, "user": user })))
            }
            other => Ok(error(StatusCode::BAD_REQUEST, format!("unknown action `{other}`"))),
        }
    };
    let done = if reads_only { Ok(work()) } else { tokio::task::spawn_blocking(work).await };
    match done {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn router(store: Store) -> Router {
    Router::new()
        .route("/webhook/counter", post(counter))
        .route("/webhook/users", post(users))
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
        StoreKind::Sled => Store::Sled(sled::open(&args.data_dir).context("open sled")?),
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("Serving http://{}", listener.local_addr()?);
        axum::serve(listener, router(store)).await?;
        anyhow::Ok(())
    })
}
