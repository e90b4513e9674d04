//! The peer reference for the no-op webhook: the same "answer 200, empty
//! body" as `bench/guests/noop`, written against `wasi:http/proxy` so that
//! `wasmtime serve` can run it.

use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

struct Noop;

impl wasip2::exports::http::incoming_handler::Guest for Noop {
    fn handle(_request: IncomingRequest, response_out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("the body of a new response");
        ResponseOutparam::set(response_out, Ok(response));
        OutgoingBody::finish(body, None).expect("finish an empty body");
    }
}

wasip2::http::proxy::export!(Noop);
