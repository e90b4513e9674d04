//! Outbound HTTP: call other services from a handler.
//!
//! A workflow reaches only the origins it lists in
//! [`workflow!`](crate::workflow!)'s `allow_http = [...]`; the host checks
//! every request, and where its name resolves, before it connects. Calls block
//! until the response's body is read, within the execution's deadline.
//!
//! ```no_run
//! use floww::{Context, Request, Response, Result};
//! use serde_json::{Value, json};
//!
//! floww::workflow! {
//!     allow_http = ["https://api.github.com", "https://hooks.slack.com"],
//!     "/notify" => notify,
//! }
//!
//! fn notify(_ctx: &Context, _req: Request) -> Result<Response> {
//!     let repo: Value = floww::http::Request::get("https://api.github.com/repos/rust-lang/rust")
//!         .header("user-agent", "floww")
//!         .send()?
//!         .json()?;
//!     let sent = floww::http::Request::post("https://hooks.slack.com/services/T000/B000/XXX")
//!         .json(&json!({ "text": format!("{} stars", repo["stargazers_count"]) }))?
//!         .send()?;
//!     Ok(Response::json(200, &json!({ "slack": sent.status })))
//! }
//! # fn main() {}
//! ```

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasip2::io::streams::StreamError;

/// What the host puts before the reason of a request it refused.
const DENIED_PREFIX: &str = "denied by floww: ";
/// Bytes written to the request body per call.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read of the response body.
const READ_CHUNK: u64 = 64 * 1024;

/// Sends a `GET` to `url`.
///
/// ```no_run
/// # fn run() -> Result<(), floww::http::HttpError> {
/// let page = floww::http::get("https://example.com/")?.text()?;
/// # Ok(()) }
/// ```
pub fn get(url: impl Into<String>) -> Result<HttpResponse, HttpError> {
    Request::get(url).send()
}

/// An outgoing request, built then [`send`](Request::send)t.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl Request {
    /// A request with any method, e.g. `"HEAD"`.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request { method: method.into(), url: url.into(), headers: Vec::new(), body: Vec::new(), timeout: None }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }

    /// A `POST`.
    pub fn post(url: impl Into<String>) -> Request {
        Request::new("POST", url)
    }

    /// A `PUT`.
    pub fn put(url: impl Into<String>) -> Request {
        Request::new("PUT", url)
    }

    /// A `PATCH`.
    pub fn patch(url: impl Into<String>) -> Request {
        Request::new("PATCH", url)
    }

    /// A `DELETE`.
    pub fn delete(url: impl Into<String>) -> Request {
        Request::new("DELETE", url)
    }

    /// Adds a header (appended: a name may repeat).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body's bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Request, HttpError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| HttpError::InvalidRequest(format!("the body cannot be serialized to JSON: {e}")))?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Gives up on connecting, on the response's first byte, and between
    /// its bytes after `timeout` each (the execution's deadline bounds them
    /// all anyway; the default is 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and reads the whole response.
    pub fn send(self) -> Result<HttpResponse, HttpError> {
        let target = Target::parse(&self.url)?;
        let invalid = |what: &str| HttpError::InvalidRequest(format!("{what} in the request to {}", self.url));
        let mut headers: Vec<(String, Vec<u8>)> =
            self.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec())).collect();
        // A body of known length goes with its length, which every server reads.
        if !self.body.is_empty() && !headers.iter().any(|(n, _)| n == "content-length" || n == "transfer-encoding") {
            headers.push(("content-length".into(), self.body.len().to_string().into_bytes()));
        }
        let fields = Fields::from_list(&headers).map_err(|e| invalid(&format!("a header the host refuses ({e:?})")))?;
        let request = OutgoingRequest::new(fields);
        request.set_method(&method(&self.method)).map_err(|()| invalid("a bad method"))?;
        request.set_scheme(Some(&target.scheme)).map_err(|()| invalid("a bad scheme"))?;
        request.set_authority(Some(target.authority)).map_err(|()| invalid("a bad host"))?;
        request.set_path_with_query(Some(target.path)).map_err(|()| invalid("a bad path"))?;
        let body = request.body().map_err(|()| invalid("no body"))?;
        let options = self.timeout.map(|t| {
            let options = RequestOptions::new();
            let ns = Some(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
            // Each setter fails only when the host doesn't support it: then the default holds.
            let _ = (options.set_connect_timeout(ns), options.set_first_byte_timeout(ns));
            let _ = options.set_between_bytes_timeout(ns);
            options
        });
        let origin = target.origin();
        let pending = outgoing_handler::handle(request, options).map_err(|e| HttpError::from_code(&origin, e))?;
        write_body(&body, &self.body).map_err(|why| HttpError::Connection(format!("{origin}: {why}")))?;
        OutgoingBody::finish(body, None).map_err(|e| HttpError::from_code(&origin, e))?;

        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(HttpError::from_code(&origin, code)),
            _ => return Err(HttpError::Connection(format!("{origin}: the host lost the response"))),
        };
        let status = response.status();
        let headers = {
            let fields = response.headers();
            fields.entries().into_iter().map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned())).collect()
        };
        let incoming = response.consume().map_err(|()| HttpError::Connection(format!("{origin}: no body")))?;
        let body = read_body(&origin, &incoming)?;
        drop(IncomingBody::finish(incoming));
        Ok(HttpResponse { status, headers, body })
    }
}

fn method(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body.write().map_err(|()| "the request body can't be written".to_owned())?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream.blocking_write_and_flush(chunk).map_err(|e| format!("sending the body failed: {e:?}"))?;
    }
    Ok(())
}

fn read_body(origin: &str, incoming: &IncomingBody) -> Result<Vec<u8>, HttpError> {
    let stream = incoming.stream().map_err(|()| HttpError::Connection(format!("{origin}: no body stream")))?;
    let mut body = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(body),
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasip2::http::types::http_error_code(&e) {
                    Some(code) => HttpError::from_code(origin, code),
                    None => HttpError::from_text(origin, &e.to_debug_string()),
                });
            }
        }
    }
}

/// A URL taken apart as `wasi:http` wants it.
#[derive(Debug)]
struct Target<'a> {
    scheme: Scheme,
    authority: &'a str,
    path: &'a str,
}

impl<'a> Target<'a> {
    fn parse(url: &'a str) -> Result<Target<'a>, HttpError> {
        let bad = |why: &str| HttpError::InvalidRequest(format!("{url:?} is not a URL the host can call: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected http://… or https://…"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(bad("the scheme is http or https")),
        };
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected a host, with no user name"));
        }
        let path = if path.is_empty() { "/" } else { path };
        if path.starts_with('?') {
            return Err(bad("a query needs a path before it, e.g. /?q=1"));
        }
        // The fragment never leaves the client.
        let path = path.split('#').next().unwrap_or("/");
        Ok(Target { scheme, authority, path })
    }

    fn origin(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            _ => "https",
        };
        format!("{scheme}://{}", self.authority)
    }
}

/// The response to an outgoing request, read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header pairs in the order they came; names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first header called `name`, compared without regard to ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<String, HttpError> {
        String::from_utf8(self.body.clone())
            .map_err(|e| HttpError::Decode(format!("the response body is not UTF-8 text: {e}")))
    }

    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HttpError::Decode(format!("the response body is not the JSON expected: {e}")))
    }
}

/// Why an outgoing request failed. Each case carries a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The host refused it: its origin, or an address it resolves to, is not
    /// in the workflow's `allow_http`. The message names the rule.
    Denied(String),
    /// Connecting, the first byte, or the next bytes took too long.
    Timeout(String),
    /// The name did not resolve, the connection or TLS failed, or the server
    /// broke off.
    Connection(String),
    /// The response is larger than the host reads for one request (16 MiB).
    TooLarge(String),
    /// The request can't be sent as it is: a bad URL, method or header.
    InvalidRequest(String),
    /// The response arrived but is not the text or JSON asked for.
    Decode(String),
}

impl HttpError {
    /// The kind, as a word: `denied`, `timeout`, `connection`, `too-large`,
    /// `invalid-request` or `decode`.
    pub fn kind(&self) -> &'static str {
        match self {
            HttpError::Denied(_) => "denied",
            HttpError::Timeout(_) => "timeout",
            HttpError::Connection(_) => "connection",
            HttpError::TooLarge(_) => "too-large",
            HttpError::InvalidRequest(_) => "invalid-request",
            HttpError::Decode(_) => "decode",
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            HttpError::Denied(m)
            | HttpError::Timeout(m)
            | HttpError::Connection(m)
            | HttpError::TooLarge(m)
            | HttpError::InvalidRequest(m)
            | HttpError::Decode(m) => m,
        }
    }

    fn from_code(origin: &str, code: ErrorCode) -> HttpError {
        match code {
            ErrorCode::InternalError(Some(m)) if m.starts_with(DENIED_PREFIX) => {
                HttpError::Denied(m[DENIED_PREFIX.len()..].to_owned())
            }
            ErrorCode::DnsTimeout
            | ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout
            | ErrorCode::HttpResponseTimeout => HttpError::Timeout(format!("{origin}: timed out ({code:?})")),
            ErrorCode::HttpResponseBodySize(limit) => HttpError::TooLarge(format!(
                "{origin}: the response is larger than the host reads ({} bytes)",
                limit.map_or("its limit".to_owned(), |l| l.to_string())
            )),
            ErrorCode::HttpRequestMethodInvalid | ErrorCode::HttpRequestUriInvalid | ErrorCode::HttpProtocolError => {
                HttpError::InvalidRequest(format!("{origin}: {code:?}"))
            }
            other => HttpError::Connection(format!("{origin}: {other:?}")),
        }
    }
}

impl HttpError {
    /// A body error the host gave as text only (wasmtime 48 hands the guest
    /// a body's error without its code), by the words the host uses.
    fn from_text(origin: &str, text: &str) -> HttpError {
        let message = format!("{origin}: reading the response failed: {text}");
        if text.contains("size exceeds limit") {
            HttpError::TooLarge(message)
        } else if text.contains("timeout") {
            HttpError::Timeout(message)
        } else {
            HttpError::Connection(message)
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "outbound HTTP {}: {}", self.kind(), self.message())
    }
}

impl std::error::Error for HttpError {}

/// A failed outgoing request fails the handler with 502 Bad Gateway, with
/// the reason as its message.
impl From<HttpError> for crate::Error {
    fn from(e: HttpError) -> Self {
        crate::Error::new(502, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let t = Target::parse("https://api.github.com/repos/a/b?page=2#top").unwrap();
        assert!(matches!(t.scheme, Scheme::Https));
        assert_eq!((t.authority, t.path), ("api.github.com", "/repos/a/b?page=2"));
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((t.authority, t.path, t.origin().as_str()), ("127.0.0.1:8080", "/", "http://127.0.0.1:8080"));
        for (bad, why) in [
            ("api.github.com/x", "expected http://"),
            ("ftp://a.example/", "the scheme is http or https"),
            ("https:///x", "expected a host"),
            ("https://user@a.example/", "no user name"),
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert!(matches!(&e, HttpError::InvalidRequest(m) if m.contains(why)), "{bad}: {e}");
        }
    }

    #[test]
    fn host_error_codes_become_kinds_a_handler_can_tell_apart() {
        let denied =
            HttpError::from_code("https://x", ErrorCode::InternalError(Some(format!("{DENIED_PREFIX}no entry"))));
        assert_eq!(denied, HttpError::Denied("no entry".into()));
        assert_eq!(HttpError::from_code("o", ErrorCode::ConnectionReadTimeout).kind(), "timeout");
        assert_eq!(HttpError::from_code("o", ErrorCode::HttpResponseBodySize(Some(16))).kind(), "too-large");
        assert_eq!(HttpError::from_code("o", ErrorCode::ConnectionRefused).kind(), "connection");
        let cut = HttpError::from_text("o", "HTTP response body size exceeds limit: 16777216 bytes");
        assert_eq!(cut.kind(), "too-large");
        assert_eq!(HttpError::from_text("o", "connection read timeout").kind(), "timeout");
        assert_eq!(HttpError::from_text("o", "connection reset").kind(), "connection");
        let as_handler_error = crate::Error::from(denied);
        assert_eq!(as_handler_error.status(), 502);
    }

    #[test]
    fn responses_read_as_text_or_json() {
        let response = HttpResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"ok": true}"#.to_vec(),
        };
        assert!(response.is_success());
        assert_eq!(response.header("Content-Type"), Some("application/json"));
        assert_eq!(response.json::<serde_json::Value>().unwrap()["ok"], true);
        assert_eq!(response.json::<Vec<u8>>().unwrap_err().kind(), "decode");
        let bad = HttpResponse { status: 200, headers: vec![], body: vec![0xff] };
        assert_eq!(bad.text().unwrap_err().kind(), "decode");
    }
}
