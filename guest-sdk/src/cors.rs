//! Calls from web pages of other origins. A workflow that declares
//! `cors ["https://app.example.com"]` in [`workflow!`](crate::workflow!) answers
//! the browser's preflight (`OPTIONS`) on each of its webhook paths and marks its
//! answers to allowed origins, so a page served elsewhere may read them.

use crate::{Error, Request, Response};

/// How long a browser may keep a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The origins of a `cors [...]` entry: `"*"` (any) or `scheme://host[:port]`.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Cors {
    origins: &'static [&'static str],
}

impl Cors {
    /// Checked at compile time, as the macro builds it in a `const`.
    pub const fn new(origins: &'static [&'static str]) -> Cors {
        assert!(
            !origins.is_empty(),
            "`cors [...]` needs at least one origin, e.g. \"https://app.example.com\" or \"*\""
        );
        let mut i = 0;
        while i < origins.len() {
            assert!(is_origin(origins[i]), "a `cors` origin is \"*\" or scheme://host[:port], with no path");
            i += 1;
        }
        Cors { origins }
    }

    /// The `access-control-allow-origin` for a request from `origin`, if allowed.
    fn allow(&self, origin: Option<&str>) -> Option<String> {
        if self.origins.contains(&"*") {
            return Some("*".into());
        }
        let origin = origin?;
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin)).then(|| origin.to_string())
    }

    /// The answer to a preflight for a path that `methods` serve.
    pub(crate) fn preflight(&self, request: &Request, methods: &[&str]) -> Response {
        let origin = request.header("origin");
        let Some(allowed) = self.allow(origin) else {
            return Error::new(
                403,
                format!(
                    "origin {} may not call this workflow: it allows {}",
                    origin.unwrap_or("(none)"),
                    self.origins.join(", ")
                ),
            )
            .into();
        };
        let mut response = Response { status: 204, headers: Vec::new(), body: Vec::new() }
            .with_header("access-control-allow-origin", allowed)
            .with_header("access-control-allow-methods", methods.join(", "))
            .with_header("access-control-max-age", PREFLIGHT_MAX_AGE)
            .with_header("vary", "origin");
        if let Some(asked) = request.header("access-control-request-headers") {
            response = response.with_header("access-control-allow-headers", asked);
        }
        response
    }

    /// Marks a handler's answer as readable by `origin`, if it is allowed and
    /// the handler did not say otherwise.
    pub(crate) fn mark(&self, origin: Option<&str>, response: Response) -> Response {
        let has = |name: &str| response.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        match self.allow(origin) {
            Some(allowed) if !has("access-control-allow-origin") => {
                response.with_header("access-control-allow-origin", allowed).with_header("vary", "origin")
            }
            _ => response,
        }
    }
}

/// `*`, or `http(s)://host[:port]` with no path, query or trailing slash.
const fn is_origin(origin: &str) -> bool {
    let bytes = origin.as_bytes();
    if bytes.len() == 1 && bytes[0] == b'*' {
        return true;
    }
    let rest = if starts_with(bytes, b"https://") {
        8
    } else if starts_with(bytes, b"http://") {
        7
    } else {
        return false;
    };
    if bytes.len() == rest {
        return false;
    }
    let mut i = rest;
    while i < bytes.len() {
        if matches!(bytes[i], b'/' | b'?' | b'#' | b' ') {
            return false;
        }
        i += 1;
    }
    true
}

const fn starts_with(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && crate::workflow::bytes_eq(bytes.split_at(prefix.len()).0, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>) -> Request {
        let mut headers = vec![("access-control-request-headers".to_string(), "content-type".to_string())];
        headers.extend(origin.map(|o| ("origin".to_string(), o.to_string())));
        Request { method: "OPTIONS".into(), path: "/p".into(), query: vec![], headers, body: vec![] }
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn origins_are_a_star_or_a_scheme_and_host() {
        for good in ["*", "https://app.example.com", "http://localhost:5173"] {
            assert!(is_origin(good), "{good}");
        }
        for bad in ["", "app.example.com", "https://", "https://a.example/", "https://a.example/x", "ftp://a"] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn a_preflight_from_an_allowed_origin_names_the_methods_and_headers() {
        let cors = Cors::new(&["https://app.example.com"]);
        let answer = cors.preflight(&request(Some("https://app.example.com")), &["GET", "POST"]);
        assert_eq!(answer.status, 204);
        assert_eq!(header(&answer, "access-control-allow-origin"), Some("https://app.example.com"));
        assert_eq!(header(&answer, "access-control-allow-methods"), Some("GET, POST"));
        assert_eq!(header(&answer, "access-control-allow-headers"), Some("content-type"));
        assert_eq!(header(&answer, "vary"), Some("origin"));
    }

    #[test]
    fn a_preflight_from_another_origin_is_refused_with_the_allowed_ones() {
        let cors = Cors::new(&["https://app.example.com"]);
        let answer = cors.preflight(&request(Some("https://evil.example")), &["GET"]);
        assert_eq!(answer.status, 403);
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(
            body["error"],
            "origin https://evil.example may not call this workflow: it allows https://app.example.com"
        );
        assert!(header(&answer, "access-control-allow-origin").is_none());
    }

    #[test]
    fn answers_are_marked_for_allowed_origins_only_unless_the_handler_did() {
        let cors = Cors::new(&["https://app.example.com"]);
        let marked = cors.mark(Some("https://app.example.com"), Response::text(200, "hi"));
        assert_eq!(header(&marked, "access-control-allow-origin"), Some("https://app.example.com"));
        let unmarked = cors.mark(Some("https://evil.example"), Response::text(200, "hi"));
        assert!(header(&unmarked, "access-control-allow-origin").is_none());
        let own = Response::text(200, "hi").with_header("Access-Control-Allow-Origin", "https://x.example");
        assert_eq!(cors.mark(Some("https://app.example.com"), own).headers.len(), 2, "the handler's own stays alone");
        let any = Cors::new(&["*"]).mark(None, Response::text(200, "hi"));
        assert_eq!(header(&any, "access-control-allow-origin"), Some("*"));
    }
}
