//! Reads key `k` of table `t` (which the benchmark seeds) `?n=` times
//! (default 10,000) through the `kv` import, keeping the JSON text as it
//! arrives: the cost measured is the host call, not JSON parsing.

use floww::{Context, Error, Request, Response, Result};

floww::workflow! {
    "/{workflow}/gets" => gets,
}

fn gets(ctx: &Context, req: Request) -> Result<Response> {
    let n: usize = match req.query("n") {
        Some(n) => n.parse().map_err(|_| Error::bad_request("`n` must be a count"))?,
        None => 10_000,
    };
    let mut bytes = 0;
    for _ in 0..n {
        bytes += ctx.kv.get_json("t", "k")?.len();
    }
    Ok(Response::text(200, bytes.to_string()))
}
