//! A guest that misbehaves on purpose, so tests can check that the host contains
//! it: it traps, loops, sleeps, eats memory, answers with a body far over the host's
//! limit, floods the KV store, and tries to reach files, the environment, the
//! network and other workflows' tables. `/hostile/remember` keeps state in
//! globals to see whether any survives an execution. `/hostile/echo` and
//! `/hostile/tables` behave, so tests can see what reaches a guest and what
//! it owns. Its paths start with its workflow id (`/hostile/…` deployed as
//! `hostile`), so tests can deploy it under several ids.

use std::hint::black_box;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use floww::{Access, Context, KvError, Request, Response, Result};
use serde_json::{Value, json};

floww::workflow! {
    "/{workflow}/panic" => panic,
    "/{workflow}/unreachable" => unreachable,
    "/{workflow}/loop" => endless_loop,
    "/{workflow}/sleep" => sleep,
    "/{workflow}/naps" => naps,
    "/{workflow}/memory" => memory,
    "/{workflow}/recurse" => recurse,
    "/{workflow}/escape" => escape,
    "/{workflow}/huge-response" => huge_response,
    "/{workflow}/kv-storm" => kv_storm,
    "/{workflow}/steal" => steal,
    "/{workflow}/remember" => remember,
    GET "/{workflow}/echo" => echo,
    OPTIONS "/{workflow}/echo" => echo,
    GET "/{workflow}/tables" => tables,
    cors ["https://app.example.com"],
}

/// A Rust panic: a trap once it unwinds to the component boundary.
fn panic(_ctx: &Context, _req: Request) -> Result<Response> {
    panic!("the hostile guest panics on purpose");
}

/// Aborts, which is the wasm `unreachable` instruction.
fn unreachable(_ctx: &Context, _req: Request) -> Result<Response> {
    std::process::abort();
}

/// Spins forever: only the host's timeout stops it.
fn endless_loop(_ctx: &Context, _req: Request) -> Result<Response> {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Sleeps for a minute: a host call, not wasm, so no epoch tick sees it.
fn sleep(_ctx: &Context, _req: Request) -> Result<Response> {
    std::thread::sleep(std::time::Duration::from_secs(60));
    Ok(Response::json(200, &json!({ "slept": 60 })))
}

/// Naps 100 ms at a time, forever: barely runs, never ends.
fn naps(_ctx: &Context, _req: Request) -> Result<Response> {
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Allocates and touches 16 MiB at a time until the memory limit stops it.
fn memory(_ctx: &Context, _req: Request) -> Result<Response> {
    const STEP: usize = 16 << 20;
    const PAGE: usize = 4096;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; STEP];
        for byte in block.iter_mut().step_by(PAGE) {
            *byte = 1;
        }
        hoard.push(black_box(block));
    }
}

/// Recurses until the stack runs out.
fn recurse(_ctx: &Context, _req: Request) -> Result<Response> {
    let depth = dive(0);
    Ok(Response::json(200, &json!({ "depth": depth })))
}

fn dive(depth: u64) -> u64 {
    // A frame with data in memory, and work after the call so it is not a loop.
    let frame = black_box([depth; 32]);
    if black_box(true) { dive(depth + 1).wrapping_add(frame[31]) } else { depth }
}

/// Tries to reach what a workflow must not: files, the environment, the
/// network. Reports each attempt as `"ok: …"` or `"error: …"`; `env` lists the
/// names of the environment variables it saw and `args` its arguments.
///
/// With a body `{"port": N}` the network attempts aim at that port of the
/// loopback address (the test host's own port), else at port 3000.
fn escape(_ctx: &Context, req: Request) -> Result<Response> {
    let port = req.json::<Value>().ok().and_then(|body| body["port"].as_u64()).unwrap_or(3000);
    let target = format!("127.0.0.1:{port}");
    let read_file = std::fs::read_to_string("/etc/passwd").map(|text| format!("read {} bytes", text.len()));
    let read_relative = std::fs::read_to_string("../../../../etc/hostname").map(|text| format!("read {text:?}"));
    let read_dir = std::fs::read_dir("/").map(|dir| format!("{} entries", dir.count()));
    let write_file = std::fs::write("/tmp/floww-hostile-was-here", b"x").map(|()| "wrote /tmp".to_owned());
    let create_dir = std::fs::create_dir("floww-hostile-dir").map(|()| "created a dir".to_owned());
    let env: Vec<String> = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
    let args: Vec<String> = std::env::args_os().map(|arg| arg.to_string_lossy().into_owned()).collect();
    let home = std::env::var("HOME").map_err(io::Error::other);
    let path = std::env::var("PATH").map_err(io::Error::other);
    let tcp =
        std::net::TcpStream::connect(target.as_str()).map(|stream| format!("connected from {:?}", stream.local_addr()));
    let listen = std::net::TcpListener::bind("127.0.0.1:0").map(|l| format!("listening on {:?}", l.local_addr()));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|socket| socket.send_to(b"x", target.as_str()))
        .map(|sent| format!("sent {sent} bytes"));
    let resolve = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80))
        .map(|addrs| format!("resolved {:?}", addrs.collect::<Vec<_>>()));
    Ok(Response::json(
        200,
        &json!({
            "readFile": outcome(read_file),
            "readRelative": outcome(read_relative),
            "readDir": outcome(read_dir),
            "writeFile": outcome(write_file),
            "createDir": outcome(create_dir),
            "env": env,
            "args": args,
            "home": outcome(home),
            "path": outcome(path),
            "tcp": outcome(tcp),
            "listen": outcome(listen),
            "udp": outcome(udp),
            "resolve": outcome(resolve),
        }),
    ))
}

fn outcome(result: io::Result<String>) -> String {
    match result {
        Ok(what) => format!("ok: {what}"),
        Err(err) => format!("error: {err}"),
    }
}

/// Describes the request it got, so tests can see what reaches a guest.
fn echo(_ctx: &Context, req: Request) -> Result<Response> {
    Ok(Response::json(
        200,
        &json!({
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "headers": req.headers,
            "bodyLength": req.body.len(),
        }),
    ))
}

/// The size of the body `/hostile/huge-response` answers with: ten times the
/// host's default response limit.
const HUGE_RESPONSE_BYTES: usize = 100 << 20;

/// Answers 200 with a 100 MiB body, which the host must refuse to pass on.
fn huge_response(_ctx: &Context, _req: Request) -> Result<Response> {
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "application/octet-stream".into())],
        body: vec![b'x'; HUGE_RESPONSE_BYTES],
    })
}

/// The table `/hostile/kv-storm` floods, its keys and how much it writes.
const STORM_TABLE: &str = "storm";
const STORM_KEYS: usize = 10;
const STORM_WRITES: usize = 1000;
/// Each value is a JSON string this long (quotes included): just under the
/// host's 1 MiB limit.
const STORM_VALUE_BYTES: usize = (1 << 20) - 16;

/// Writes [`STORM_WRITES`] values of nearly 1 MiB, cycling over
/// [`STORM_KEYS`] keys (`storm-0` …) of table `storm`. Each value is a JSON
/// string: the write's number in 8 digits, then `x` up to the full length, so
/// a test can check that every stored value is whole. Answers
/// `{"writes": N}` unless the host stops it first.
fn kv_storm(ctx: &Context, _req: Request) -> Result<Response> {
    let mut value = format!("\"{}\"", "x".repeat(STORM_VALUE_BYTES - 2));
    for n in 0..STORM_WRITES {
        value.replace_range(1..9, &format!("{n:08}"));
        ctx.kv.set_json(STORM_TABLE, &format!("storm-{}", n % STORM_KEYS), &value)?;
    }
    Ok(Response::json(200, &json!({ "writes": STORM_WRITES })))
}

/// Tries every KV operation on another workflow's table. Body:
/// `{"table": …, "key": …, "owner": <the owner's workflow id>}`. Answers 200
/// with, per operation, `"ok"` or the error's kind, and the tables it can list.
fn steal(ctx: &Context, req: Request) -> Result<Response> {
    let body: Value = req.json()?;
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let (table, key, owner) = (field("table"), field("key"), field("owner"));
    let kv = &ctx.kv;
    let both = Access { read: true, write: true };
    let attempts = json!({
        "get": kind(kv.get_json(&table, &key)),
        "set": kind(kv.set_json(&table, &key, "\"stolen\"")),
        "setNewKey": kind(kv.set_json(&table, "planted-by-hostile", "1")),
        "delete": kind(kv.delete(&table, &key)),
        "listKeys": kind(kv.list_keys(&table)),
        "listItems": kind(kv.list_items::<Value>(&table)),
        "listPermissions": kind(kv.list_permissions(&table)),
        "grantSelf": kind(kv.grant_permission(&table, "hostile", both)),
        "revokeOwner": kind(kv.revoke_permission(&table, &owner)),
    });
    Ok(Response::json(200, &json!({ "attempts": attempts, "tables": kv.list_tables()? })))
}

fn kind<T>(result: std::result::Result<T, KvError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(err) => err.kind(),
    }
}

/// The tables this workflow owns or holds a grant on.
fn tables(ctx: &Context, _req: Request) -> Result<Response> {
    Ok(Response::json(200, &json!({ "tables": ctx.kv.list_tables()? })))
}

/// Executions this instance has served, and the body the last one left.
static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
static LEFT_BEHIND: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Keeps the request body in a global and answers with how many executions
/// this instance has seen and what the previous one left behind. In a fresh
/// instance that is always `{"executionsSeen": 1, "leftBehind": null}`.
fn remember(_ctx: &Context, req: Request) -> Result<Response> {
    let seen = EXECUTIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let left = LEFT_BEHIND.lock().unwrap_or_else(|e| e.into_inner()).replace(req.body);
    let left = left.map(|body| String::from_utf8_lossy(&body).into_owned());
    Ok(Response::json(200, &json!({ "executionsSeen": seen, "leftBehind": left })))
}
