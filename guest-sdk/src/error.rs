//! The error a handler returns, and how it becomes an HTTP response.

use core::fmt;

use crate::{BatchError, KvError, Response, RunError};

/// A handler's failure: an HTTP status and a message for the caller.
///
/// When a handler returns `Err(error)`, the caller gets `error.status()` with the
/// JSON body `{"error": "<message>"}`. `?` converts a [`KvError`] (keeping its
/// status and message), a [`BatchError`] (keeping its write's status), a
/// [`RunError`] (keeping its status and message) and the errors of
/// [`Request::json`](crate::Request::json).
///
/// In a [step](crate::RunContext::step) of a durable run, an error is retried
/// unless it is [permanent](Error::permanent).
///
/// ```no_run
/// use floww::{Context, Error, Request, Response, Result};
///
/// fn greet(_ctx: &Context, req: Request) -> Result<Response> {
///     let name = req.query("name").ok_or_else(|| Error::bad_request("missing `name`"))?;
///     if name == "teapot" {
///         return Err(Error::new(418, "I'm a teapot"));
///     }
///     Ok(Response::text(200, format!("hello {name}")))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: u16,
    message: String,
    permanent: bool,
}

impl Error {
    /// An error with any status.
    ///
    /// ```no_run
    /// let err = floww::Error::new(422, "the email is not an email address");
    /// ```
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Error { status, message: message.into(), permanent: false }
    }

    /// A 500 that retrying won't mend: returned from a
    /// [step](crate::RunContext::step), it stops the step's retries at once,
    /// and the step fails for good. Every other error is retried while the
    /// step's [`Retry`](crate::Retry) has attempts left.
    ///
    /// ```no_run
    /// let err = floww::Error::permanent("card declined");
    /// assert!(err.is_permanent());
    /// ```
    pub fn permanent(message: impl Into<String>) -> Self {
        Error { permanent: true, ..Error::new(500, message) }
    }

    /// A 400: the request is wrong.
    ///
    /// ```no_run
    /// let err = floww::Error::bad_request("missing field `userId`");
    /// ```
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(400, message)
    }

    /// A 404: the thing asked for does not exist.
    ///
    /// ```no_run
    /// let err = floww::Error::not_found("user `user-123` not found");
    /// ```
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(404, message)
    }

    /// A 409: the request conflicts with what is stored.
    ///
    /// ```no_run
    /// let err = floww::Error::conflict("user `user-123` already exists");
    /// ```
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::new(409, message)
    }

    /// The HTTP status the caller gets.
    ///
    /// ```no_run
    /// assert_eq!(floww::Error::not_found("gone").status(), 404);
    /// ```
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The message the caller gets.
    ///
    /// ```no_run
    /// assert_eq!(floww::Error::not_found("gone").message(), "gone");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether it was made with [`Error::permanent`]: a step that fails with
    /// it is not retried.
    ///
    /// ```no_run
    /// assert!(!floww::Error::new(502, "gateway timeout").is_permanent());
    /// ```
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<KvError> for Error {
    fn from(err: KvError) -> Self {
        Error::new(err.status_code(), err.to_string())
    }
}

impl From<RunError> for Error {
    fn from(err: RunError) -> Self {
        Error::new(err.status_code(), err.to_string())
    }
}

/// A failed batch keeps its write's status; the message names the write
/// (`write #1 failed: …`).
impl From<BatchError> for Error {
    fn from(err: BatchError) -> Self {
        Error::new(err.status_code(), err.to_string())
    }
}

/// The response for a failed handler: `status` and `{"error": message}`.
impl From<Error> for Response {
    fn from(err: Error) -> Self {
        Response::json_bytes(err.status, crate::webhook::error_body(&err.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_errors_keep_their_status_and_message() {
        let cases = [
            (KvError::NotFound("nf".into()), 404),
            (KvError::PermissionDenied("pd".into()), 403),
            (KvError::InvalidInput("ii".into()), 400),
            (KvError::ValueTooLarge("vl".into()), 413),
            (KvError::Conflict("c".into()), 409),
            (KvError::Internal("i".into()), 500),
            (KvError::Unavailable("u".into()), 503),
            (KvError::Decode("d".into()), 500),
        ];
        for (kv, status) in cases {
            let message = kv.message().to_string();
            let err = Error::from(kv);
            assert_eq!((err.status(), err.message()), (status, message.as_str()));
        }
    }

    #[test]
    fn run_errors_keep_their_status_and_message() {
        let err = Error::from(RunError::Conflict("the run has ended".into()));
        assert_eq!((err.status(), err.message(), err.is_permanent()), (409, "the run has ended", false));
    }

    #[test]
    fn batch_errors_keep_their_status_and_name_the_write() {
        let err = Error::from(BatchError { index: 1, error: KvError::NotFound("no key `k` in table `t`".into()) });
        assert_eq!((err.status(), err.message()), (404, "write #1 failed: no key `k` in table `t`"));
    }

    #[test]
    fn constructors_set_the_status() {
        assert_eq!(Error::bad_request("x").status(), 400);
        assert_eq!(Error::not_found("x").status(), 404);
        assert_eq!(Error::conflict("x").status(), 409);
        assert_eq!(Error::new(418, "tea").to_string(), "tea");
        let permanent = Error::permanent("card declined");
        assert_eq!((permanent.status(), permanent.is_permanent()), (500, true));
        assert!(!Error::bad_request("x").is_permanent());
    }

    #[test]
    fn an_error_becomes_a_json_error_response() {
        let res = Response::from(Error::not_found(r#"user "u" not found"#));
        assert_eq!(res.status, 404);
        assert_eq!(res.headers, [("content-type".to_string(), "application/json".to_string())]);
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(body, serde_json::json!({"error": r#"user "u" not found"#}));
    }
}
