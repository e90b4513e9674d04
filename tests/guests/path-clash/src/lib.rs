//! Declares `/users`, which the kv-store example serves too: deploying both must
//! be refused.

use floww::{Context, Request, Response};

floww::workflow! { "/users" => clash }

fn clash(_ctx: &Context, _req: Request) -> floww::Result<Response> {
    Ok(Response::json(200, &serde_json::json!({ "clash": true })))
}
