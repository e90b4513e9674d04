//! Sending one guest request: check, resolve, check each address, connect to
//! a checked one, TLS for `https`, then HTTP/1 with every wait bounded.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Sleep, sleep_until, timeout_at};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::allowlist::{Host, Scheme};
use super::{Call, Egress, MAX_CONCURRENT_REQUESTS, MAX_RESPONSE_BYTES};

/// What wasmtime awaits once the response's head is back: the connection is
/// driven by a task of its own, so nothing is left to do.
pub type IoDone = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

/// The guest's error for a request the host refused: `wasi:http` has no code
/// that carries a reason, so the reason rides in `internal-error`, after
/// this prefix, which the SDK reads as "denied".
pub const DENIED_PREFIX: &str = "denied by floww: ";

/// Why a request failed, and its result label in `/metrics`.
struct Failure {
    result: &'static str,
    message: String,
    error: Error,
}

impl Failure {
    fn denied(message: String) -> Failure {
        Failure { result: "denied", error: Error::InternalError(Some(format!("{DENIED_PREFIX}{message}"))), message }
    }

    fn timeout(what: &str, error: Error) -> Failure {
        Failure { result: "timeout", message: format!("no {what} in time"), error }
    }

    fn other(message: String, error: Error) -> Failure {
        Failure { result: "error", message, error }
    }
}

pub(super) async fn send(
    egress: Egress,
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoDone)> {
    let uri = request.uri().clone();
    let scheme = match uri.scheme_str() {
        Some("http") => Scheme::Http,
        Some("https") => Scheme::Https,
        _ => return Err(Error::HttpProtocolError),
    };
    let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
    let host = Host::parse(authority.host());
    let port = authority.port_u16().unwrap_or(scheme.default_port());
    let mut call = Call::start(&egress, request.method().as_str(), format!("{}://{host}:{port}", scheme.as_str()));
    let sent = async {
        let permit = egress.in_flight.clone().try_acquire_owned().map_err(|_| {
            Failure::other(
                format!("more than {MAX_CONCURRENT_REQUESTS} requests at once from one execution"),
                Error::ConnectionLimitReached,
            )
        })?;
        egress.allowlist.admit(scheme, &host, port, &egress.secrets).map_err(|d| Failure::denied(d.0))?;
        let connect_by = egress.within_deadline(options.and_then(|o| o.connect_timeout));
        let stream = connect(&egress, scheme, &host, port, connect_by).await?;
        let response = exchange(stream, scheme, &host, request, connect_by, &egress, options).await?;
        Ok::<_, Failure>((response, permit))
    };
    match sent.await {
        Ok((response, permit)) => {
            call.answered(response.status().as_u16());
            let between = options.and_then(|o| o.between_bytes_timeout);
            Ok((
                response.map(|body| Counted::new(body, call, permit, &egress, between).boxed_unsync()),
                Box::new(async { Ok(()) }),
            ))
        }
        Err(failure) => {
            call.failed(failure.result, failure.message);
            Err(failure.error)
        }
    }
}

/// Resolves `host` (unless it is an address), checks every address, and
/// connects to the first allowed one that answers.
async fn connect(egress: &Egress, scheme: Scheme, host: &Host, port: u16, by: Instant) -> Result<TcpStream, Failure> {
    let addresses: Vec<IpAddr> = match host {
        Host::Ip(ip) => vec![*ip],
        Host::Name(name) => match timeout_at(by.into(), tokio::net::lookup_host((name.as_str(), port))).await {
            Err(_) => return Err(Failure::timeout("DNS answer", Error::DnsTimeout)),
            Ok(Err(e)) => {
                return Err(Failure::other(format!("could not resolve {name}: {e}"), Error::DestinationNotFound));
            }
            Ok(Ok(found)) => found.map(|a| a.ip()).collect(),
        },
    };
    let mut refused = None;
    let mut last_error = None;
    for ip in addresses {
        if let Err(denied) = egress.allowlist.check_address(scheme, host, ip, port, egress.private_ok, &egress.secrets)
        {
            refused.get_or_insert(denied);
            continue;
        }
        match timeout_at(by.into(), TcpStream::connect(SocketAddr::new(ip, port))).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last_error = Some(e),
            Err(_) => return Err(Failure::timeout("connection", Error::ConnectionTimeout)),
        }
    }
    Err(match (last_error, refused) {
        (Some(e), _) => Failure::other(format!("could not connect: {e}"), Error::ConnectionRefused),
        (None, Some(denied)) => Failure::denied(denied.0),
        (None, None) => Failure::other(format!("{host} has no address"), Error::DestinationNotFound),
    })
}

/// TLS for `https`, checked against the Mozilla roots that come with the host.
static TLS: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.into() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
});

/// A connection the request can go over, plain or TLS.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Sends `request` over `stream` and waits for the response's head.
async fn exchange(
    stream: TcpStream,
    scheme: Scheme,
    host: &Host,
    mut request: http::Request<WasiBody>,
    connect_by: Instant,
    egress: &Egress,
    options: Option<RequestOptions>,
) -> Result<http::Response<hyper::body::Incoming>, Failure> {
    let stream: Box<dyn Stream> = match scheme {
        Scheme::Http => Box::new(stream),
        Scheme::Https => {
            let name = match host {
                Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                Host::Name(name) => rustls::pki_types::ServerName::try_from(name.clone()).map_err(|e| {
                    Failure::other(format!("{name} is no TLS server name: {e}"), Error::TlsProtocolError)
                })?,
            };
            match timeout_at(connect_by.into(), TLS.connect(name, stream)).await {
                Err(_) => return Err(Failure::timeout("TLS handshake", Error::ConnectionTimeout)),
                Ok(Err(e)) => return Err(Failure::other(format!("TLS failed: {e}"), Error::TlsCertificateError)),
                Ok(Ok(tls)) => Box::new(tls),
            }
        }
    };
    let handshake = hyper::client::conn::http1::handshake::<_, WasiBody>(TokioIo::new(stream));
    let (mut sender, connection) = match timeout_at(connect_by.into(), handshake).await {
        Err(_) => return Err(Failure::timeout("connection", Error::ConnectionTimeout)),
        Ok(Err(e)) => return Err(Failure::other(format!("HTTP failed: {e}"), Error::from(e))),
        Ok(Ok(pair)) => pair,
    };
    // The connection lives no longer than the execution.
    tokio::spawn(timeout_at(egress.deadline.into(), connection));
    // On the wire the request names its path only; the host header names the host.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    *request.uri_mut() = path.parse().map_err(|_| Failure::other("bad path".into(), Error::HttpRequestUriInvalid))?;
    let first_byte_by = egress.within_deadline(options.and_then(|o| o.first_byte_timeout));
    match timeout_at(first_byte_by.into(), sender.send_request(request)).await {
        Err(_) => Err(Failure::timeout("response", Error::ConnectionReadTimeout)),
        Ok(Err(e)) => Err(Failure::other(format!("HTTP failed: {e}"), Error::from(e))),
        Ok(Ok(response)) => Ok(response),
    }
}

/// A response body that counts what the guest reads, stops at
/// [`MAX_RESPONSE_BYTES`], and fails when the next bytes are late.
struct Counted {
    body: hyper::body::Incoming,
    call: Call,
    read: u64,
    between: Duration,
    deadline: Instant,
    late: Pin<Box<Sleep>>,
    _permit: OwnedSemaphorePermit,
}

impl Counted {
    fn new(
        body: hyper::body::Incoming,
        call: Call,
        permit: OwnedSemaphorePermit,
        egress: &Egress,
        between: Option<Duration>,
    ) -> Counted {
        let between = between.unwrap_or(super::DEFAULT_TIMEOUT);
        let deadline = egress.deadline;
        let late = Box::pin(sleep_until((Instant::now() + between).min(deadline).into()));
        Counted { body, call, read: 0, between, deadline, late, _permit: permit }
    }

    fn fail(
        &mut self,
        result: &'static str,
        message: String,
        error: Error,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.call.failed(result, message);
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for Counted {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                this.read += len;
                this.call.read(len);
                if this.read > MAX_RESPONSE_BYTES {
                    let message = format!("the response is larger than {MAX_RESPONSE_BYTES} bytes");
                    return this.fail("too-large", message, Error::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES)));
                }
                let next = (Instant::now() + this.between).min(this.deadline);
                this.late.as_mut().reset(next.into());
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => this.fail("error", format!("the response broke off: {e}"), Error::from(e)),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(this.late.as_mut().poll(cx));
                this.fail("timeout", "the response's next bytes came too late".into(), Error::ConnectionReadTimeout)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
}
