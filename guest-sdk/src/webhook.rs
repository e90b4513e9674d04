//! The webhook request a handler receives and the response it returns.
//!
//! Both are plain data, converted from and to the generated
//! `floww:workflow/handler` records. The response a handler returns **is** the HTTP
//! response the caller gets.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::exports::floww::workflow::handler as wit;

/// An HTTP request that reached `/webhook/<path>`.
///
/// ```no_run
/// # fn handler(_ctx: &floww::Context, req: floww::Request) -> floww::Result<floww::Response> {
/// #[derive(serde::Deserialize)]
/// struct Body { name: String }
///
/// let body: Body = req.json()?;
/// let agent = req.header("User-Agent").unwrap_or("unknown");
/// Ok(floww::Response::text(200, format!("hello {} from {agent}", body.name)))
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Upper-case method, e.g. `POST`.
    pub method: String,
    /// The trigger's path, starting with `/`, without the `/webhook` prefix.
    pub path: String,
    /// Decoded query pairs, in the order they came.
    pub query: Vec<(String, String)>,
    /// Header pairs; the host gives the names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Request {
    /// Deserializes the JSON body into `T`.
    ///
    /// An empty body, a body that is not JSON, or JSON of the wrong shape (say, a
    /// missing field) is an [`Error`] with status 400 whose message says which.
    ///
    /// ```no_run
    /// # fn handler(_ctx: &floww::Context, req: floww::Request) -> floww::Result<floww::Response> {
    /// let body: serde_json::Value = req.json()?;
    /// Ok(floww::Response::json(200, &body))
    /// # }
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::bad_request("the request body is empty; send a JSON body"));
        }
        serde_json::from_slice(&self.body).map_err(|err| {
            use serde_json::error::Category;
            match err.classify() {
                Category::Data => Error::bad_request(format!("the request body has the wrong shape: {err}")),
                Category::Syntax | Category::Eof | Category::Io => {
                    Error::bad_request(format!("the request body is not valid JSON: {err}"))
                }
            }
        })
    }

    /// The value of the first header called `name`, compared without regard to
    /// ASCII case.
    ///
    /// ```no_run
    /// # fn handler(req: &floww::Request) {
    /// let is_json = req.header("Content-Type") == Some("application/json");
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of the first query parameter called `name` (case-sensitive).
    ///
    /// ```no_run
    /// # fn handler(req: &floww::Request) {
    /// let page: u32 = req.query("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    /// # }
    /// ```
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl From<wit::Request> for Request {
    fn from(req: wit::Request) -> Self {
        Request { method: req.method, path: req.path, query: req.query, headers: req.headers, body: req.body }
    }
}

/// The HTTP response a handler returns, sent to the caller as it is.
///
/// ```no_run
/// use floww::Response;
///
/// let created = Response::json(201, &serde_json::json!({"id": "user-123"}))
///     .with_header("location", "/webhook/users");
/// let plain = Response::text(200, "ok");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// Header pairs, sent in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response whose body is `value` as JSON, with
    /// `content-type: application/json`.
    ///
    /// If `value` cannot be serialized the response is instead a 500 with a JSON
    /// `{"error": …}` body, and the failure is logged.
    ///
    /// ```no_run
    /// #[derive(serde::Serialize)]
    /// struct Pong { ok: bool }
    ///
    /// let res = floww::Response::json(200, &Pong { ok: true });
    /// ```
    pub fn json(status: u16, value: &impl Serialize) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::json_bytes(status, body),
            Err(err) => {
                let message = format!("the response could not be serialized to JSON: {err}");
                crate::error!("{message}");
                Response::json_bytes(500, error_body(&message))
            }
        }
    }

    /// A response whose body is `text`, with `content-type: text/plain; charset=utf-8`.
    ///
    /// ```no_run
    /// let res = floww::Response::text(200, "pong");
    /// ```
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![("content-type".to_string(), "text/plain; charset=utf-8".to_string())],
            body: text.into().into_bytes(),
        }
    }

    /// Adds a header. It is appended, so a header may appear more than once (as
    /// `set-cookie` does); headers the constructor set are kept.
    ///
    /// ```no_run
    /// let res = floww::Response::text(200, "ok").with_header("cache-control", "no-store");
    /// ```
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON response from bytes already serialized.
    pub(crate) fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        Response { status, headers: vec![("content-type".to_string(), "application/json".to_string())], body }
    }
}

impl From<Response> for wit::Response {
    fn from(res: Response) -> Self {
        wit::Response { status: res.status, headers: res.headers, body: res.body }
    }
}

/// `{"error": message}` as JSON bytes.
pub(crate) fn error_body(message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message }).to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn request(body: &str) -> Request {
        Request {
            method: "POST".to_string(),
            path: "/users".to_string(),
            query: vec![("page".to_string(), "2".to_string()), ("page".to_string(), "3".to_string())],
            headers: vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("x-trace".to_string(), "abc".to_string()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct CreateUser {
        user_id: String,
    }

    #[test]
    fn json_reads_the_body() {
        let body: CreateUser = request(r#"{"userId": "u1"}"#).json().unwrap();
        assert_eq!(body, CreateUser { user_id: "u1".into() });
    }

    #[test]
    fn json_on_an_empty_body_is_a_400_that_says_so() {
        for body in ["", "  \n"] {
            let err = request(body).json::<CreateUser>().unwrap_err();
            assert_eq!(err.status(), 400);
            assert_eq!(err.message(), "the request body is empty; send a JSON body");
        }
    }

    #[test]
    fn json_on_broken_json_is_a_400_that_says_so() {
        let err = request("{not json").json::<CreateUser>().unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.message().starts_with("the request body is not valid JSON: "), "{}", err.message());
    }

    #[test]
    fn json_with_a_missing_field_is_a_400_naming_it() {
        let err = request(r#"{"name": "x"}"#).json::<CreateUser>().unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.message().starts_with("the request body has the wrong shape: missing field `userId`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn header_lookup_ignores_case() {
        let req = request("");
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        assert_eq!(req.header("X-TRACE"), Some("abc"));
        assert_eq!(req.header("accept"), None);
    }

    #[test]
    fn query_gives_the_first_value() {
        let req = request("");
        assert_eq!(req.query("page"), Some("2"));
        assert_eq!(req.query("Page"), None);
    }

    #[test]
    fn json_response_has_content_type_and_body() {
        let res = Response::json(201, &serde_json::json!({"id": 1}));
        assert_eq!(res.status, 201);
        assert_eq!(res.headers, [("content-type".to_string(), "application/json".to_string())]);
        assert_eq!(res.body, br#"{"id":1}"#);
    }

    #[test]
    fn json_response_that_cannot_serialize_is_a_500() {
        // A map with non-string keys has no JSON form.
        let value: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let res = Response::json(200, &value);
        assert_eq!(res.status, 500);
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert!(body["error"].as_str().unwrap().starts_with("the response could not be serialized to JSON"), "{body}");
    }

    #[test]
    fn text_response_and_extra_headers() {
        let res = Response::text(200, "ok").with_header("set-cookie", "a=1");
        assert_eq!(res.body, b"ok");
        assert_eq!(
            res.headers,
            [
                ("content-type".to_string(), "text/plain; charset=utf-8".to_string()),
                ("set-cookie".to_string(), "a=1".to_string()),
            ]
        );
    }
}
