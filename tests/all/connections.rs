//! Connections that are held open can't starve the host: a header timeout
//! closes idle and half-sent ones, and a cap derived from the file limit
//! sheds the oldest idle connection when the host is full.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::harness::Host;

/// Whether the host has closed `stream` (end of file or reset), waiting at
/// most a moment for its answer.
fn closed(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn idle_and_half_sent_connections_neither_starve_the_host_nor_outlive_the_header_timeout() {
    let (host, _data) = Host::start_with_file_limit(256, &[], &["--header-timeout", "2"]);
    let address = host.url.trim_start_matches("http://").to_owned();
    let mut held: Vec<TcpStream> = (0..300).map(|_| TcpStream::connect(&address).expect("connect")).collect();
    for _ in 0..100 {
        let mut half = TcpStream::connect(&address).expect("connect");
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: floww\r\nX-Slow: ").expect("half a request");
        held.push(half);
    }

    let started = Instant::now();
    let health = host.request("GET", "/healthz").send().expect("the host answers");
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "answered after {:?}", started.elapsed());

    // All of them are closed by the header timeout (2 s), or shed before.
    std::thread::sleep(Duration::from_secs(3));
    let open = held.iter_mut().map(closed).filter(|&closed| !closed).count();
    assert_eq!(open, 0, "{open} of 400 idle or half-sent connections are still open after the header timeout");
    assert!(!host.logged("connections open, none idle"), "{}", host.logs());
    assert_eq!(host.request("GET", "/healthz").send().expect("the host answers").status(), 200);
}

#[test]
fn a_kept_alive_connection_is_closed_once_idle_for_the_header_timeout() {
    let (host, _data) = Host::start_with_file_limit(256, &[], &["--header-timeout", "1"]);
    let address = host.url.trim_start_matches("http://").to_owned();
    let mut kept = TcpStream::connect(&address).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: floww\r\n\r\n").unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 512];
    let n = kept.read(&mut answer).unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..n]));
    assert!(!closed(&mut kept), "kept alive after its answer");
    std::thread::sleep(Duration::from_secs(2));
    assert!(closed(&mut kept), "closed after a second of idling");
}
