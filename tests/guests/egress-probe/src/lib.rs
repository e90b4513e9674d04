//! Makes the outbound request a webhook call describes, and answers what came
//! back; and reads its secrets (`POST /<id>/secret` with `{"name"}`: logs the
//! value, answers it, and with `"fail": true` fails with it in the error). `POST /<id>/call` with `{"method", "url", "headers": [[name, value]],
//! "body", "timeoutMs"}` answers 200 `{"status", "headers", "body"}` or 200
//! `{"error": kind, "message"}`. Deployed under several ids (with the
//! operator removing entries), so its path names the id.

use std::time::Duration;

use floww::http::Request as Outgoing;
use floww::{Context, Request, Response, Result};
use serde::Deserialize;
use serde_json::json;

floww::workflow! {
    allow_http = ["http://127.0.0.1:*", "http://localhost:*", "http://127.0.0.2:8080"],
    "/{workflow}/call" => call,
    "/{workflow}/secret" => secret,
}

#[derive(Deserialize)]
struct Secret {
    name: String,
    #[serde(default)]
    fail: bool,
}

fn secret(ctx: &Context, req: Request) -> Result<Response> {
    let Secret { name, fail } = req.json()?;
    let value = ctx.secret(&name)?;
    floww::info!("{name} is {value}");
    if fail {
        return Err(floww::Error::new(500, format!("failed while holding {value}")));
    }
    Ok(Response::json(200, &json!({ "value": value })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Call {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
    timeout_ms: Option<u64>,
}

fn get() -> String {
    "GET".into()
}

fn call(_ctx: &Context, req: Request) -> Result<Response> {
    let call: Call = req.json()?;
    let mut outgoing = Outgoing::new(call.method, call.url).body(call.body);
    for (name, value) in call.headers {
        outgoing = outgoing.header(name, value);
    }
    if let Some(ms) = call.timeout_ms {
        outgoing = outgoing.timeout(Duration::from_millis(ms));
    }
    Ok(match outgoing.send() {
        Ok(answer) => Response::json(
            200,
            &json!({
                "status": answer.status,
                "headers": answer.headers,
                "body": String::from_utf8_lossy(&answer.body),
                "bytes": answer.body.len(),
            }),
        ),
        Err(e) => Response::json(200, &json!({ "error": e.kind(), "message": e.message() })),
    })
}
