//! The smallest workflow: one webhook that answers 200 with an empty body.
//! Its path holds `{workflow}`, so one component deploys under many ids
//! without path conflicts (bench/scale.sh deploys it 1,000 times).

use floww::{Context, Request, Response, Result};

floww::workflow! {
    "/{workflow}/noop" => noop,
    GET "/{workflow}/noop" => noop,
}

fn noop(_ctx: &Context, _req: Request) -> Result<Response> {
    Ok(Response::text(200, ""))
}
