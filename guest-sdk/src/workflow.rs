//! Routing a webhook to its handler, and the [`workflow!`](crate::workflow!) macro
//! that exports a workflow.
//!
//! The macro only lists the routes and implements the generated `Guest` trait
//! with two one-line calls; the work (trigger list, dispatch, turning a handler's
//! error into a response) is done by the functions here, so it is tested natively.

use crate::wit::exports::floww::workflow::handler as wit;
use crate::{Error, Kv, Request, Response, Result};

/// What a handler receives besides the request: its access to the host.
///
/// ```no_run
/// use floww::{Context, Request, Response, Result};
///
/// fn handler(ctx: &Context, _req: Request) -> Result<Response> {
///     let tables = ctx.kv.list_tables()?;
///     Ok(Response::json(200, &tables))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Context {
    /// The key-value store, acting as the running workflow.
    pub kv: Kv,
}

impl Context {
    fn new() -> Self {
        Context { kv: Kv::new() }
    }
}

/// The signature of a webhook handler, as [`workflow!`](crate::workflow!) expects it.
///
/// ```no_run
/// fn health(_ctx: &floww::Context, _req: floww::Request) -> floww::Result<floww::Response> {
///     Ok(floww::Response::text(200, "ok"))
/// }
///
/// let handler: floww::Handler = health;
/// ```
pub type Handler = fn(&Context, Request) -> Result<Response>;

/// One entry of a [`workflow!`](crate::workflow!): a webhook trigger and its handler.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Route {
    method: &'static str,
    path: &'static str,
    handler: Handler,
}

impl Route {
    /// Checked at compile time, as the macro builds its routes in a `const`.
    pub const fn new(method: &'static str, path: &'static str, handler: Handler) -> Route {
        let bytes = path.as_bytes();
        assert!(!bytes.is_empty() && bytes[0] == b'/', "a webhook path must start with `/`, e.g. \"/users\"");
        Route { method, path, handler }
    }
}

/// Fails compilation (the macro calls it in a `const`) when two routes share a
/// method and a path.
#[doc(hidden)]
pub const fn check_routes(routes: &[Route]) {
    let mut i = 0;
    while i < routes.len() {
        let mut j = i + 1;
        while j < routes.len() {
            assert!(
                !(str_eq(routes[i].method, routes[j].method) && str_eq(routes[i].path, routes[j].path)),
                "two handlers in `floww::workflow!` have the same method and path"
            );
            j += 1;
        }
        i += 1;
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The exported `triggers`: one webhook per route.
#[doc(hidden)]
pub fn triggers(routes: &[Route]) -> Vec<wit::Trigger> {
    routes
        .iter()
        .map(|route| {
            wit::Trigger::Webhook(wit::Webhook { path: route.path.to_string(), method: route.method.to_string() })
        })
        .collect()
}

/// The exported `handle-webhook`.
#[doc(hidden)]
pub fn handle_webhook(routes: &[Route], request: wit::Request) -> wit::Response {
    dispatch(routes, Request::from(request)).into()
}

/// Runs the handler for the request's method and path. A handler's error becomes
/// its JSON error response; a request no route matches is a 404.
fn dispatch(routes: &[Route], request: Request) -> Response {
    let Some(route) = routes
        .iter()
        .find(|route| route.method.eq_ignore_ascii_case(&request.method) && path_matches(route.path, &request.path))
    else {
        return Error::not_found(format!("this workflow has no handler for {} {}", request.method, request.path))
            .into();
    };
    let (method, path) = (route.method, route.path);
    match (route.handler)(&Context::new(), request) {
        Ok(response) => response,
        Err(error) => {
            if error.status() >= 500 {
                crate::error!("{method} {path} failed with {}: {error}", error.status());
            }
            error.into()
        }
    }
}

/// Whether a request path is the declared one, where a `{workflow}` segment
/// stands for the id the host deployed the workflow under.
fn path_matches(declared: &str, path: &str) -> bool {
    let (mut declared, mut path) = (declared.split('/'), path.split('/'));
    loop {
        match (declared.next(), path.next()) {
            (None, None) => return true,
            (Some(d), Some(p)) if d == p || (d == "{workflow}" && !p.is_empty()) => {}
            _ => return false,
        }
    }
}

/// Registers a workflow's webhook handlers and exports it as a component.
///
/// Each entry is `[METHOD] "/path" => handler`: the method is one of `GET`,
/// `POST`, `PUT`, `PATCH` or `DELETE` (`POST` when left out), the path starts with
/// `/` and is served at `/webhook/<path>`, and the handler is a [`Handler`]. Use
/// the macro once per crate, in a `cdylib` built for `wasm32-wasip2`.
///
/// A path segment `{workflow}` is replaced by the id the workflow is deployed
/// under, so one component can serve several ids: `"/{workflow}/visits"`
/// deployed as `shop-a` answers `/webhook/shop-a/visits`.
///
/// A handler's `Err(error)` becomes the response `error.status()` with the body
/// `{"error": "<message>"}`. Two entries with the same method and path, or a path
/// without a leading `/`, fail to compile.
///
/// ```no_run
/// use floww::{Context, Request, Response, Result};
///
/// floww::workflow! {
///     "/users" => users,
///     GET "/health" => health,
/// }
///
/// fn users(ctx: &Context, _req: Request) -> Result<Response> {
///     let keys = ctx.kv.list_keys("users")?;
///     Ok(Response::json(200, &keys))
/// }
///
/// fn health(_ctx: &Context, _req: Request) -> Result<Response> {
///     Ok(Response::text(200, "ok"))
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! workflow {
    ($($($method:ident)? $path:literal => $handler:path),+ $(,)?) => {
        const _: () = {
            const ROUTES: &[$crate::__private::Route] = &[$(
                $crate::__private::Route::new($crate::__workflow_method!($($method)?), $path, $handler)
            ),+];
            const _: () = $crate::__private::check_routes(ROUTES);

            struct Workflow;

            impl $crate::__private::Guest for Workflow {
                fn triggers() -> ::std::vec::Vec<$crate::__private::Trigger> {
                    $crate::__private::triggers(ROUTES)
                }

                fn handle_webhook(request: $crate::__private::WitRequest) -> $crate::__private::WitResponse {
                    $crate::__private::handle_webhook(ROUTES, request)
                }
            }

            $crate::wit::export!(Workflow with_types_in $crate::wit);
        };
    };
}

/// The method of a [`workflow!`](crate::workflow!) entry, as a string.
#[doc(hidden)]
#[macro_export]
macro_rules! __workflow_method {
    () => {
        "POST"
    };
    (GET) => {
        "GET"
    };
    (POST) => {
        "POST"
    };
    (PUT) => {
        "PUT"
    };
    (PATCH) => {
        "PATCH"
    };
    (DELETE) => {
        "DELETE"
    };
    ($other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unsupported method `",
            ::core::stringify!($other),
            "` in `floww::workflow!`: use GET, POST, PUT, PATCH or DELETE (POST if left out)"
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(_ctx: &Context, req: Request) -> Result<Response> {
        Ok(Response::text(200, format!("{} {}", req.method, req.path)))
    }

    fn teapot(_ctx: &Context, _req: Request) -> Result<Response> {
        Err(Error::new(418, "short and stout"))
    }

    const ROUTES: &[Route] =
        &[Route::new("POST", "/echo", echo), Route::new("GET", "/echo", echo), Route::new("POST", "/teapot", teapot)];
    const _: () = check_routes(ROUTES);

    fn request(method: &str, path: &str) -> Request {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn json(res: &Response) -> serde_json::Value {
        serde_json::from_slice(&res.body).unwrap()
    }

    #[test]
    fn a_workflow_segment_matches_any_one_segment() {
        assert!(path_matches("/{workflow}/visits", "/shop-a/visits"));
        assert!(path_matches("/a/{workflow}", "/a/b"));
        assert!(!path_matches("/{workflow}/visits", "/visits"));
        assert!(!path_matches("/{workflow}/visits", "//visits"));
        assert!(!path_matches("/{workflow}/visits", "/a/b/visits"));
        assert!(path_matches("/plain", "/plain") && !path_matches("/plain", "/plain/"));
    }

    #[test]
    fn triggers_list_every_route() {
        let listed: Vec<(String, String)> =
            triggers(ROUTES).into_iter().map(|wit::Trigger::Webhook(w)| (w.method, w.path)).collect();
        let expected =
            [("POST", "/echo"), ("GET", "/echo"), ("POST", "/teapot")].map(|(m, p)| (m.to_string(), p.to_string()));
        assert_eq!(listed, expected);
    }

    #[test]
    fn dispatch_picks_by_method_and_path() {
        let res = dispatch(ROUTES, request("GET", "/echo"));
        assert_eq!((res.status, res.body.as_slice()), (200, &b"GET /echo"[..]));
        let res = dispatch(ROUTES, request("POST", "/echo"));
        assert_eq!(res.body, b"POST /echo");
    }

    #[test]
    fn a_handler_error_becomes_a_json_error_response() {
        let res = dispatch(ROUTES, request("POST", "/teapot"));
        assert_eq!(res.status, 418);
        assert_eq!(json(&res), serde_json::json!({"error": "short and stout"}));
    }

    #[test]
    fn an_unknown_route_is_a_json_404() {
        for (method, path) in [("POST", "/nope"), ("DELETE", "/echo")] {
            let res = dispatch(ROUTES, request(method, path));
            assert_eq!(res.status, 404);
            assert_eq!(
                json(&res),
                serde_json::json!({
                    "error": format!("this workflow has no handler for {method} {path}")
                })
            );
        }
    }

    #[test]
    fn duplicate_detection() {
        assert!(str_eq("/a", "/a"));
        assert!(!str_eq("/a", "/b"));
        assert!(!str_eq("/a", "/ab"));
        let dup = [Route::new("POST", "/a", echo), Route::new("POST", "/a", echo)];
        let caught = std::panic::catch_unwind(|| check_routes(&dup));
        assert!(caught.is_err());
    }
}
