//! `POST /sessions/create`: store a session that expires after 24 hours.

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
    /// The store does not expire values by itself: whoever reads a session
    /// compares this with the clock.
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
    ctx.kv.set(SESSIONS, &session.session_id, &session)?;
    Ok(Response::json(201, &json!({ "created": true, "session": session })))
}
