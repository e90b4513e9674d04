//! The accept loop: HTTP/1 connections served with bounds, so clients that
//! hold connections can't starve the others.
//!
//! - **Headers in time.** A client has `header_timeout` to send a request's
//!   headers, counted from when the host starts waiting for them: a new
//!   connection, or the end of the previous response on a kept-alive one.
//!   So a connection that sends nothing, stops halfway through its headers,
//!   or idles between requests is closed after that long.
//! - **A cap on open connections** (`max_connections`, by default derived
//!   from the process's file limit). When the host is full, it closes its
//!   oldest idle connection (one with no request in flight: kept-alive, or
//!   not yet sent a whole request) to take the new one, as nginx does; with
//!   none idle, new connections wait in the listen queue.
//! - **Running out of file descriptors** (`EMFILE`, `ENFILE`) doesn't stop
//!   the loop: it closes an idle connection, waits a moment and goes on.
//! - **Graceful stop.** When `shutdown` resolves, accepting stops, idle
//!   connections close, and requests in flight are answered first (an
//!   execution ends by its deadline, so this is bounded).

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// Bounds on the connections a host keeps.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
}

/// File descriptors kept for everything but client connections: the
/// store's files and database connections, compiled code, logs.
pub const RESERVED_FILES: u64 = 64;

impl ConnectionLimits {
    /// The most connections a process whose soft file limit is `files` can
    /// hold, keeping `reserved` descriptors for the rest.
    pub fn connections_for(files: u64, reserved: u64) -> usize {
        usize::try_from(files.saturating_sub(reserved)).unwrap_or(usize::MAX).max(16)
    }
}

/// The open connections, oldest first, and whether each is idle.
#[derive(Default)]
struct Open {
    next_id: AtomicUsize,
    connections: Mutex<BTreeMap<usize, Arc<Connection>>>,
    /// Told whenever a connection closes.
    closed: Notify,
}

struct Connection {
    /// Requests being answered; 0 means idle.
    in_flight: AtomicUsize,
    /// Asks the connection to close once idle (at once if it is).
    close: Notify,
}

impl Open {
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Arc<Connection>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self) -> (usize, Arc<Connection>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection { in_flight: AtomicUsize::new(0), close: Notify::new() });
        self.lock().insert(id, connection.clone());
        (id, connection)
    }

    fn remove(&self, id: usize) {
        self.lock().remove(&id);
        self.closed.notify_waiters();
    }

    /// Asks the oldest idle connection to close; `false` if none is idle.
    fn shed_oldest_idle(&self) -> bool {
        let open = self.lock();
        let idle = open.values().find(|c| c.in_flight.load(Ordering::SeqCst) == 0);
        idle.inspect(|c| c.close.notify_one()).is_some()
    }

    fn close_all(&self) {
        self.lock().values().for_each(|c| c.close.notify_one());
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves,
/// then until the connections still open have closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let open = Arc::new(Open::default());
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // Room for one more first: shed an idle connection, or wait for one to close.
        while open.len() >= limits.max_connections {
            let closed = open.closed.notified();
            if !open.shed_oldest_idle() {
                tracing::warn!("{} connections open, none idle: new ones wait", limits.max_connections);
            }
            tokio::select! {
                _ = closed => {}
                _ = &mut shutdown => return drain(&open, stop).await,
            }
        }
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    out_of_files(&e, &open);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return drain(&open, stop).await,
        };
        let (id, connection) = open.add();
        let (app, open, stopping) = (app.clone(), open.clone(), stopping.clone());
        tokio::spawn(async move {
            serve_connection(stream, app, limits, &connection, stopping).await;
            open.remove(id);
        });
    }
}

/// Linux's "too many open files" in the process (`EMFILE`) and the system (`ENFILE`).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Logs a failed accept; when the process is out of file descriptors, frees one.
fn out_of_files(e: &io::Error, open: &Open) {
    let exhausted = matches!(e.raw_os_error(), Some(EMFILE | ENFILE));
    if exhausted && open.shed_oldest_idle() {
        tracing::warn!("out of file descriptors ({e}): closed an idle connection");
    } else {
        tracing::warn!("could not accept a connection: {e}");
    }
}

/// Stops accepting, closes what is idle, and waits for the rest.
async fn drain(open: &Open, stop: watch::Sender<bool>) {
    let _ = stop.send(true);
    open.close_all();
    while open.len() > 0 {
        let closed = open.closed.notified();
        if open.len() == 0 {
            break;
        }
        closed.await;
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    app: Router,
    limits: ConnectionLimits,
    connection: &Arc<Connection>,
    mut stopping: watch::Receiver<bool>,
) {
    let counted = connection.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = InFlight::enter(&counted);
        let answer = app.clone().oneshot(request.map(Body::new));
        async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = served.as_mut() => return,
            _ = connection.close.notified(), if !closing => closing = true,
            _ = stopping.changed(), if !closing => closing = true,
        }
        // Idle (kept-alive, or halfway through a request's headers): close
        // now. Else answer the request in flight, then close.
        if connection.in_flight.load(Ordering::SeqCst) == 0 {
            return;
        }
        served.as_mut().graceful_shutdown();
    }
}

/// Counts a request in flight on its connection while held.
struct InFlight(Arc<Connection>);

impl InFlight {
    fn enter(connection: &Arc<Connection>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(connection.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_descriptors_for_the_rest_and_never_falls_below_sixteen() {
        assert_eq!(ConnectionLimits::connections_for(1024, 80), 944);
        assert_eq!(ConnectionLimits::connections_for(256, 80), 176);
        assert_eq!(ConnectionLimits::connections_for(64, 80), 16);
    }

    #[test]
    fn the_oldest_idle_connection_is_shed_first() {
        let open = Open::default();
        let (_, busy) = open.add();
        busy.in_flight.fetch_add(1, Ordering::SeqCst);
        let (_, idle) = open.add();
        let (_, newer) = open.add();
        assert!(open.shed_oldest_idle());
        // A stored permit: the one asked to close sees it when it next waits.
        let asked = |c: &Arc<Connection>| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            rt.block_on(async { tokio::time::timeout(Duration::from_millis(10), c.close.notified()).await.is_ok() })
        };
        assert!(asked(&idle), "the oldest idle one was asked to close");
        assert!(!asked(&busy) && !asked(&newer), "not the busy one, nor a newer idle one");
    }
}
