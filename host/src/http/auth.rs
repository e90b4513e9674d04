//! The admin token: a bearer token that guards `/api/`. Generated on first
//! start into `<data-dir>/admin-token` (readable by its owner only), so
//! `floww` commands on the same machine find it; `--token` overrides it.
//! A dashboard session (signed in with the token, see `ui`) stands for it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ui::Sessions;
use crate::storage::{create_private_file, random_hex};

const TOKEN_FILE: &str = "admin-token";

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// The token in `data_dir`, created if there is none yet.
pub fn load_or_create_token(data_dir: &Path) -> io::Result<String> {
    match read_token(data_dir) {
        Ok(token) => Ok(token),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let token = random_hex(32)?;
            create_private_file(&token_path(data_dir), &token)?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

/// The token a host on `data_dir` uses.
pub fn read_token(data_dir: &Path) -> io::Result<String> {
    Ok(fs::read_to_string(token_path(data_dir))?.trim().to_owned())
}

/// Lets a request through only with `Authorization: Bearer <token>`.
/// Who may use the admin API: the bearer of the token, or a dashboard session.
#[derive(Clone)]
pub struct Guard {
    pub token: Arc<str>,
    pub sessions: Arc<Sessions>,
}

pub async fn require_token(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if same(presented.as_bytes(), guard.token.as_bytes()) {
        return next.run(request).await;
    }
    // A read is safe to take on the cookie alone (another site can't read
    // the answer); a change needs the session's CSRF token too.
    let change = !matches!(*request.method(), Method::GET | Method::HEAD);
    match guard.sessions.check(request.headers(), change) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

/// Compares in time that depends only on the lengths, not on where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_created_once_and_readable_by_its_owner_only() {
        let dir = tempfile::TempDir::new().unwrap();
        let token = load_or_create_token(dir.path()).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(load_or_create_token(dir.path()).unwrap(), token);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(token_path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b"a"));
    }
}
