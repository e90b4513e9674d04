//! Uses table `announcements`, which the `shared-table-owner` workflow owns.
//!
//! Nothing here asks for access: the host knows which workflow is running and
//! checks the owner's grants on every call. Without a read grant, listing is
//! `KvError::PermissionDenied` (403); without a write grant, so is writing. If
//! the owner has not created the table yet, listing is `KvError::NotFound` (404).
//! `?` hands each error back to the caller with its status and message.

use floww::{Context, Item, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

floww::workflow! {
    "/reader/announcements" => list,
    "/reader/announce" => announce,
}

/// The table the owner shares.
const ANNOUNCEMENTS: &str = "announcements";

/// The owner's announcement type: both workflows agree on the JSON shape.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    id: String,
    text: String,
}

/// Lists every announcement with its metadata: timestamps, version, expiry
/// (needs read access).
fn list(ctx: &Context, _req: Request) -> Result<Response> {
    let items: Vec<Item<Announcement>> = ctx.kv.list_items(ANNOUNCEMENTS)?;
    Ok(Response::json(200, &json!({ "count": items.len(), "announcements": items })))
}

/// `{"id": "from-reader", "text": "…"}`: writes into the owner's table (needs
/// write access).
fn announce(ctx: &Context, req: Request) -> Result<Response> {
    let announcement: Announcement = req.json()?;
    ctx.kv.set(ANNOUNCEMENTS, &announcement.id, &announcement)?;
    Ok(Response::json(201, &json!({ "stored": true, "announcement": announcement })))
}
