//! `POST /sessions/create`: store a session that expires after 24 hours.
//!
//! The session is written with a 24-hour time-to-live, so the store drops it by
//! itself: a day later `get` finds nothing and listings skip it. The value also
//! carries `expiresAt`, for whoever reads it to show.

use std::time::Duration;

use floww::{Context, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::now_ms;

const SESSIONS: &str = "sessions";
const SESSION_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

/// The request body. Every field is required: `req.json()` answers a missing
/// one with a 400 that names it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSession {
    session_id: String,
    user_id: String,
    ip_address: String,
}

/// A session, as stored under its id in table `sessions`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    session_id: String,
    user_id: String,
    ip_address: String,
    created_at: u64,
    /// When the store drops the session (the TTL ends then, give or take the
    /// moment between our clock reading and the write).
    expires_at: u64,
}

pub fn create(ctx: &Context, req: Request) -> Result<Response> {
    let new: NewSession = req.json()?;
    let created_at = now_ms();
    let session = Session {
        session_id: new.session_id,
        user_id: new.user_id,
        ip_address: new.ip_address,
        created_at,
        expires_at: created_at + SESSION_LIFETIME_MS,
    };
    ctx.kv.set_with_ttl(SESSIONS, &session.session_id, &session, Duration::from_millis(SESSION_LIFETIME_MS))?;
    Ok(Response::json(201, &json!({ "created": true, "session": session })))
}
