//! A guest that misbehaves on purpose, so tests can check that the host contains
//! it: every route but `/hostile/escape` and `/hostile/echo` ends in a trap, a
//! timeout or a memory limit. The host must answer with an error and keep serving.

use std::hint::black_box;
use std::io;

use floww::{Context, Request, Response, Result};
use serde_json::json;

floww::workflow! {
    "/hostile/panic" => panic,
    "/hostile/unreachable" => unreachable,
    "/hostile/loop" => endless_loop,
    "/hostile/memory" => memory,
    "/hostile/recurse" => recurse,
    "/hostile/escape" => escape,
    GET "/hostile/echo" => echo,
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
/// names of the environment variables it saw.
fn escape(_ctx: &Context, _req: Request) -> Result<Response> {
    let read_file = std::fs::read_to_string("/etc/passwd").map(|text| format!("read {} bytes", text.len()));
    let read_dir = std::fs::read_dir("/").map(|dir| format!("{} entries", dir.count()));
    let env: Vec<String> = std::env::vars_os().map(|(name, _)| name.to_string_lossy().into_owned()).collect();
    let home = std::env::var("HOME").map_err(io::Error::other);
    let path = std::env::var("PATH").map_err(io::Error::other);
    let tcp = std::net::TcpStream::connect("127.0.0.1:3000")
        .map(|stream| format!("connected from {:?}", stream.local_addr()));
    Ok(Response::json(
        200,
        &json!({
            "readFile": outcome(read_file),
            "readDir": outcome(read_dir),
            "env": env,
            "home": outcome(home),
            "path": outcome(path),
            "tcp": outcome(tcp),
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
