//! The dashboard's sessions, in memory: signing in again after a restart is
//! the price of keeping no session on disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header;

use super::{COOKIE, CSRF_HEADER};
use crate::http::api_error::ApiError;
use crate::storage::random_hex;

/// How long a session lasts from sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 1000;

#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Session>>,
}

struct Session {
    csrf: String,
    until: Instant,
}

impl Sessions {
    /// A new session; returns its id, for the cookie.
    pub fn open(&self) -> std::io::Result<String> {
        let (id, csrf) = (random_hex(32)?, random_hex(32)?);
        let mut open = self.lock();
        let now = Instant::now();
        open.retain(|_, s| s.until > now);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open.iter().min_by_key(|(_, s)| s.until).map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), Session { csrf, until: now + LIFETIME });
        Ok(id)
    }

    /// The CSRF token of the live session `headers` carry a cookie for.
    pub fn csrf(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers)?;
        let open = self.lock();
        open.get(id).filter(|s| s.until > Instant::now()).map(|s| s.csrf.clone())
    }

    /// Whether `headers` carry a live session (401 if not) and, for a
    /// `change`, its CSRF token (403 if not).
    pub fn check(&self, headers: &HeaderMap, change: bool) -> Result<(), ApiError> {
        let csrf = self.csrf(headers).ok_or(ApiError::Unauthorized)?;
        let sent = headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if change && !crate::http::auth::same(sent, csrf.as_bytes()) {
            return Err(ApiError::Forbidden(
                "cross-site request refused: a dashboard request that changes something must carry the session's \
                 X-Floww-Csrf header"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Ends the session `headers` carry a cookie for.
    pub fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.lock().remove(id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session id in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with(cookie: &str, csrf: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        if let Some(csrf) = csrf {
            headers.insert(CSRF_HEADER, HeaderValue::from_str(csrf).unwrap());
        }
        headers
    }

    #[test]
    fn a_session_is_found_among_other_cookies_and_guards_changes_with_its_csrf_token() {
        let sessions = Sessions::default();
        let id = sessions.open().unwrap();
        let cookie = format!("theme=dark; {COOKIE}={id}; other=1");
        let csrf = sessions.csrf(&with(&cookie, None)).expect("the session");
        assert_eq!(csrf.len(), 64);

        assert!(sessions.check(&with(&cookie, None), false).is_ok(), "a read needs no CSRF token");
        assert!(matches!(sessions.check(&with(&cookie, None), true), Err(ApiError::Forbidden(_))));
        assert!(matches!(sessions.check(&with(&cookie, Some("wrong")), true), Err(ApiError::Forbidden(_))));
        assert!(sessions.check(&with(&cookie, Some(&csrf)), true).is_ok());

        let stranger = with(&format!("{COOKIE}=0123"), Some(&csrf));
        assert!(matches!(sessions.check(&stranger, false), Err(ApiError::Unauthorized)));
        assert!(sessions.csrf(&with(&format!("x{COOKIE}={id}"), None)).is_none(), "only the exact cookie name");

        sessions.close(&with(&cookie, None));
        assert!(matches!(sessions.check(&with(&cookie, Some(&csrf)), true), Err(ApiError::Unauthorized)));
    }

    #[test]
    fn sessions_are_capped_by_ending_the_oldest() {
        let sessions = Sessions::default();
        let first = sessions.open().unwrap();
        for _ in 0..MAX_SESSIONS {
            sessions.open().unwrap();
        }
        assert_eq!(sessions.lock().len(), MAX_SESSIONS);
        assert!(sessions.csrf(&with(&format!("{COOKIE}={first}"), None)).is_none());
    }
}
