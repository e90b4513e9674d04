//! Owns table `announcements` and decides who else may use it.
//!
//! The first `set` on a table makes the workflow that did it the table's owner.
//! The owner always reads and writes; no other workflow can do either until the
//! owner grants it, and a grant lasts until the owner revokes it. The
//! `shared-table-reader` example is the other side.

use floww::{Access, Context, Request, Response, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

floww::workflow! {
    "/owner/announce" => announce,
    "/owner/grant" => grant,
    "/owner/revoke" => revoke,
    "/owner/permissions" => permissions,
}

/// The table this workflow shares.
const ANNOUNCEMENTS: &str = "announcements";

/// One announcement, stored under its id.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    id: String,
    text: String,
}

/// `{"id": "welcome", "text": "Hello!"}`: writes an announcement (the first one
/// creates the table, owned by this workflow).
fn announce(ctx: &Context, req: Request) -> Result<Response> {
    let announcement: Announcement = req.json()?;
    ctx.kv.set(ANNOUNCEMENTS, &announcement.id, &announcement)?;
    Ok(Response::json(201, &json!({ "stored": true, "announcement": announcement })))
}

/// `{"workflowId": "reader", "read": true, "write": false}`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Grant {
    workflow_id: String,
    read: bool,
    write: bool,
}

/// Gives another deployed workflow exactly these rights on the table, replacing
/// any earlier grant. Only the owner may do this.
fn grant(ctx: &Context, req: Request) -> Result<Response> {
    let Grant { workflow_id, read, write } = req.json()?;
    ctx.kv.grant_permission(ANNOUNCEMENTS, &workflow_id, Access { read, write })?;
    Ok(Response::json(
        200,
        &json!({
            "granted": true,
            "table": ANNOUNCEMENTS,
            "workflowId": workflow_id,
            "read": read,
            "write": write,
        }),
    ))
}

/// `{"workflowId": "reader"}`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Revoke {
    workflow_id: String,
}

/// Takes a grant away. The owner's own rights cannot be revoked.
fn revoke(ctx: &Context, req: Request) -> Result<Response> {
    let Revoke { workflow_id } = req.json()?;
    ctx.kv.revoke_permission(ANNOUNCEMENTS, &workflow_id)?;
    Ok(Response::json(200, &json!({ "revoked": true, "table": ANNOUNCEMENTS, "workflowId": workflow_id })))
}

/// Lists who may use the table: this workflow first (as owner), then each grant.
fn permissions(ctx: &Context, _req: Request) -> Result<Response> {
    let permissions = ctx.kv.list_permissions(ANNOUNCEMENTS)?;
    Ok(Response::json(200, &json!({ "table": ANNOUNCEMENTS, "permissions": permissions })))
}
