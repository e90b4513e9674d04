//! [`KvError`]: why a KV call failed, and its HTTP status.

use core::fmt;

use crate::wit::floww::workflow::kv as wit;

/// Why a KV call failed. Each case carries a message meant for people.
///
/// [`status_code`](KvError::status_code) gives the matching HTTP status, and `?`
/// in a handler turns a `KvError` into a [`floww::Error`](crate::Error) with that
/// status and message.
///
/// ```no_run
/// # fn run(ctx: &floww::Context) {
/// use floww::KvError;
///
/// match ctx.kv.get::<String>("table", "key") {
///     Ok(value) => floww::info!("found {value}"),
///     Err(KvError::NotFound(_)) => floww::info!("key not found"),
///     Err(KvError::PermissionDenied(msg)) => floww::warn!("not allowed: {msg}"),
///     Err(other) => floww::error!("{} ({})", other, other.status_code()),
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    /// The table or key does not exist (404).
    NotFound(String),
    /// The table exists but the running workflow lacks the right (403).
    PermissionDenied(String),
    /// A bad table name, key, workflow id, value or listing option (400).
    InvalidInput(String),
    /// The value is larger than 1 MiB (413).
    ValueTooLarge(String),
    /// The operation conflicts with the current state (409): a
    /// [`set_if`](crate::Kv::set_if) whose expected version doesn't match, an
    /// [`increment`](crate::Kv::increment) of a value that isn't an integer or
    /// would overflow, a grant to the table's owner.
    Conflict(String),
    /// The host failed (500).
    Internal(String),
    /// The store can't be reached just now, e.g. its database is down (503):
    /// retrying later may succeed.
    Unavailable(String),
    /// A stored value did not deserialize into the requested type (500). The host
    /// never sends this one: the SDK makes it.
    Decode(String),
}

impl KvError {
    /// The HTTP status matching the error: 404, 403, 400, 413, 409, 500, 503, or
    /// 500 for [`Decode`](KvError::Decode).
    ///
    /// ```no_run
    /// let err = floww::KvError::NotFound("no key `a` in table `t`".into());
    /// assert_eq!(err.status_code(), 404);
    /// ```
    pub fn status_code(&self) -> u16 {
        match self {
            KvError::NotFound(_) => 404,
            KvError::PermissionDenied(_) => 403,
            KvError::InvalidInput(_) => 400,
            KvError::ValueTooLarge(_) => 413,
            KvError::Conflict(_) => 409,
            KvError::Internal(_) | KvError::Decode(_) => 500,
            KvError::Unavailable(_) => 503,
        }
    }

    /// The case as a kebab-case word, as the WIT names it: `"not-found"`,
    /// `"permission-denied"`, `"invalid-input"`, `"value-too-large"`,
    /// `"conflict"`, `"internal"`, `"unavailable"`, or `"decode"`.
    ///
    /// ```no_run
    /// let err = floww::KvError::PermissionDenied("no read access".into());
    /// assert_eq!(err.kind(), "permission-denied");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            KvError::NotFound(_) => "not-found",
            KvError::PermissionDenied(_) => "permission-denied",
            KvError::InvalidInput(_) => "invalid-input",
            KvError::ValueTooLarge(_) => "value-too-large",
            KvError::Conflict(_) => "conflict",
            KvError::Internal(_) => "internal",
            KvError::Unavailable(_) => "unavailable",
            KvError::Decode(_) => "decode",
        }
    }

    /// The message, as the host (or, for [`Decode`](KvError::Decode), the SDK)
    /// wrote it.
    ///
    /// ```no_run
    /// let err = floww::KvError::Conflict("already exists".into());
    /// assert_eq!(err.message(), "already exists");
    /// ```
    pub fn message(&self) -> &str {
        match self {
            KvError::NotFound(msg)
            | KvError::PermissionDenied(msg)
            | KvError::InvalidInput(msg)
            | KvError::ValueTooLarge(msg)
            | KvError::Conflict(msg)
            | KvError::Internal(msg)
            | KvError::Unavailable(msg)
            | KvError::Decode(msg) => msg,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for KvError {}

impl From<wit::KvError> for KvError {
    fn from(err: wit::KvError) -> Self {
        match err {
            wit::KvError::NotFound(msg) => KvError::NotFound(msg),
            wit::KvError::PermissionDenied(msg) => KvError::PermissionDenied(msg),
            wit::KvError::InvalidInput(msg) => KvError::InvalidInput(msg),
            wit::KvError::ValueTooLarge(msg) => KvError::ValueTooLarge(msg),
            wit::KvError::Conflict(msg) => KvError::Conflict(msg),
            wit::KvError::Internal(msg) => KvError::Internal(msg),
            wit::KvError::Unavailable(msg) => KvError::Unavailable(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_case() -> Vec<KvError> {
        vec![
            KvError::NotFound("a".into()),
            KvError::PermissionDenied("b".into()),
            KvError::InvalidInput("c".into()),
            KvError::ValueTooLarge("d".into()),
            KvError::Conflict("e".into()),
            KvError::Internal("f".into()),
            KvError::Unavailable("u".into()),
            KvError::Decode("g".into()),
        ]
    }

    #[test]
    fn status_codes_follow_the_platform() {
        let codes: Vec<u16> = every_case().iter().map(KvError::status_code).collect();
        assert_eq!(codes, [404, 403, 400, 413, 409, 500, 503, 500]);
    }

    #[test]
    fn kinds_are_the_wit_case_names() {
        let kinds: Vec<&str> = every_case().iter().map(KvError::kind).collect();
        assert_eq!(
            kinds,
            [
                "not-found",
                "permission-denied",
                "invalid-input",
                "value-too-large",
                "conflict",
                "internal",
                "unavailable",
                "decode"
            ]
        );
    }

    #[test]
    fn display_is_the_message_alone() {
        let err = KvError::NotFound("no key `user-1` in table `users`".into());
        assert_eq!(err.to_string(), "no key `user-1` in table `users`");
        assert_eq!(err.message(), "no key `user-1` in table `users`");
    }

    #[test]
    fn every_wit_case_maps_to_the_same_case() {
        let cases = [
            (wit::KvError::NotFound("m".into()), "not-found"),
            (wit::KvError::PermissionDenied("m".into()), "permission-denied"),
            (wit::KvError::InvalidInput("m".into()), "invalid-input"),
            (wit::KvError::ValueTooLarge("m".into()), "value-too-large"),
            (wit::KvError::Conflict("m".into()), "conflict"),
            (wit::KvError::Internal("m".into()), "internal"),
            (wit::KvError::Unavailable("m".into()), "unavailable"),
        ];
        for (from, kind) in cases {
            let err = KvError::from(from);
            assert_eq!((err.kind(), err.message()), (kind, "m"));
        }
    }
}
