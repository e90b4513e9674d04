//! Routing a webhook to its handler, and the [`workflow!`](crate::workflow!) macro
//! that exports a workflow.
//!
//! The macro only lists the entries and implements the generated `Guest` trait
//! with one-line calls; the work (trigger list, dispatch, turning a handler's
//! error into a response) is done by the functions here and in `cron` and
//! `manual`, so it is tested natively.

use crate::cors::Cors;
use crate::cron::Cron;
use crate::manual::Manual;
use crate::wit::exports::floww::workflow::handler as wit;
use crate::{Error, Kv, Request, Response, Result, Runs};

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
    /// Starts this workflow's durable runs and sends them events.
    pub runs: Runs,
}

impl Context {
    pub(crate) fn new() -> Self {
        Context { kv: Kv::new(), runs: Runs::new() }
    }

    /// The value of this workflow's secret `name`, which the operator sets
    /// with `floww secret set ID NAME`. A workflow reads only its own. An
    /// unset secret is an [`Error`] (500) that names it; the host redacts the
    /// values from the workflow's log lines and errors.
    ///
    /// ```no_run
    /// # fn run(ctx: &floww::Context) -> floww::Result<()> {
    /// let token = ctx.secret("SLACK_TOKEN")?;
    /// # Ok(()) }
    /// ```
    pub fn secret(&self, name: &str) -> Result<String> {
        secret(name)
    }
}

/// The running workflow's secret `name`, or a 500 that says how to set it.
pub(crate) fn secret(name: &str) -> Result<String> {
    crate::wit::floww::workflow::secrets::get(name).ok_or_else(|| {
        Error::new(500, format!("secret {name} is not set for this workflow (floww secret set <id> {name})"))
    })
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

pub(crate) const fn str_eq(a: &str, b: &str) -> bool {
    bytes_eq(a.as_bytes(), b.as_bytes())
}

/// `a == b`, in a `const fn`.
pub(crate) const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
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

/// The exported `triggers`: the webhooks (with `cors`, an `OPTIONS` for each
/// path that has none of its own), then the crons, then the manual triggers.
#[doc(hidden)]
pub fn triggers(routes: &[Route], cors: Option<Cors>, crons: &[Cron], manuals: &[Manual]) -> Vec<wit::Trigger> {
    let mut webhooks: Vec<(&str, &str)> = routes.iter().map(|route| (route.method, route.path)).collect();
    if cors.is_some() {
        for route in routes {
            if !webhooks.contains(&("OPTIONS", route.path)) {
                webhooks.push(("OPTIONS", route.path));
            }
        }
    }
    let webhooks = webhooks.into_iter().map(|(method, path)| {
        wit::Trigger::Webhook(wit::Webhook { path: path.to_string(), method: method.to_string() })
    });
    let crons = crons.iter().map(|cron| wit::Trigger::Cron(wit::Cron { schedule: cron.schedule.to_string() }));
    let manuals = manuals.iter().map(|manual| {
        wit::Trigger::Manual(wit::Manual {
            name: manual.name.to_string(),
            input_schema: manual.entry.input_schema.map(str::to_string),
        })
    });
    webhooks.chain(crons).chain(manuals).collect()
}

/// The exported `handle-webhook`.
#[doc(hidden)]
pub fn handle_webhook(routes: &[Route], cors: Option<Cors>, request: wit::Request) -> wit::Response {
    crate::log::report_panics();
    let request = Request::from(request);
    match cors {
        Some(cors) => {
            let origin = request.header("origin").map(str::to_owned);
            cors.mark(origin.as_deref(), dispatch(routes, Some(cors), request)).into()
        }
        None => dispatch(routes, None, request).into(),
    }
}

/// Runs the handler for the request's method and path. A handler's error becomes
/// its JSON error response; a request no route matches is a 404. With `cors`,
/// an `OPTIONS` that no handler takes is answered as a preflight.
fn dispatch(routes: &[Route], cors: Option<Cors>, request: Request) -> Response {
    let on_path = || routes.iter().filter(|route| path_matches(route.path, &request.path));
    let Some(route) = on_path().find(|route| route.method.eq_ignore_ascii_case(&request.method)) else {
        let methods: Vec<&str> = on_path().map(|route| route.method).collect();
        return match cors {
            Some(cors) if request.method == "OPTIONS" && !methods.is_empty() => cors.preflight(&request, &methods),
            _ => {
                Error::not_found(format!("this workflow has no handler for {} {}", request.method, request.path)).into()
            }
        };
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

/// Registers a workflow's triggers and their handlers, and exports it as a component.
///
/// Use the macro once per crate, in a `cdylib` built for `wasm32-wasip2`. Entries
/// are separated by commas, in any order, and come in these kinds:
///
/// - **Webhook**: `[METHOD] "/path" => handler`. The method is one of `GET`,
///   `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD` or `OPTIONS` (`POST` when left out), the path starts
///   with `/` and is served at `/webhook/<path>`, and the handler is a
///   [`Handler`]. `HEAD` and `OPTIONS` may be declared too (the host runs a
///   `GET` handler for `HEAD` when there is no `HEAD` one). A path segment `{workflow}` is replaced by the id the workflow
///   is deployed under, so one component can serve several ids:
///   `"/{workflow}/visits"` deployed as `shop-a` answers `/webhook/shop-a/visits`.
///   A handler's `Err(error)` becomes the response `error.status()` with the body
///   `{"error": "<message>"}`.
/// - **Cron**: `cron "<expression>" => handler`, with a [`CronHandler`](crate::CronHandler). The
///   expression is read in UTC and has five fields (minute, hour, day of month,
///   month, day of week: `"*/15 * * * *"` runs every quarter hour) or six, seconds
///   first (`"*/5 * * * * *"` runs every five seconds); `@hourly`, `@daily`,
///   `@weekly`, `@monthly` and `@yearly` work too. As in Vixie cron, when both
///   day of month and day of week are restricted, a day matching either fires.
///   The host checks the expression at deploy and refuses the workflow, naming
///   the problem, if it is not valid. Each tick runs at most once; ticks missed
///   while the host was down are skipped, not made up.
/// - **Manual**: `manual "<name>" => handler` or
///   `manual "<name>" (schema = <JSON Schema text>) => handler`, with a
///   [`ManualHandler`](crate::ManualHandler). An operator runs it with `floww invoke ID NAME '<json>'`
///   or `POST /api/workflows/<id>/triggers/<name>/invoke`. With a schema, the
///   host checks the input against it and answers 400 before the workflow runs.
///   The schema is any constant string: a literal, or
///   `include_str!("input.schema.json")`. Names match `[a-z0-9][a-z0-9-]*`.
/// - **Run**: `run "<name>" => function`, with a [`RunHandler`](crate::RunHandler):
///   a durable function, which may take days. A handler starts a run of it
///   with [`ctx.runs.start`](crate::Runs::start), an operator with
///   `floww run start ID NAME '<json>'` or `POST /api/workflows/<id>/runs/<name>`;
///   the host runs it in the background and journals its
///   [steps](crate::RunContext::step), sleeps and waits for events, so it
///   survives failures and restarts: see [`RunContext`](crate::RunContext).
///   Names match `[a-z0-9][a-z0-9-]*`, at most 63 characters.
///
/// - **CORS**: `cors ["https://app.example.com", "http://localhost:5173"]` (or
///   `cors ["*"]` for any origin) lets web pages of those origins call the
///   webhooks from a browser: each webhook path answers the browser's preflight
///   (`OPTIONS`, unless the workflow declares its own) with the methods it
///   serves, and answers to an allowed `Origin` carry
///   `access-control-allow-origin`. A preflight from another origin is a 403
///   naming the allowed ones. Origins are `scheme://host[:port]`, checked when
///   the crate compiles; one `cors` entry per workflow.
///
/// - **Outbound HTTP**: `allow_http = ["https://api.github.com", "https://*.slack.com"]`
///   lets the workflow call those origins with [`http`](crate::http); without it the
///   workflow has no network. Entries are `scheme://host[:port]`: scheme `http`,
///   `https` or `*`; host a name, `*.domain` (subdomains only), `*`, an IP address
///   or a CIDR range; port a number, a range `8000-8999` or `*` (none: the
///   scheme's own). The host checks them at deploy, and also checks where each
///   name resolves: loopback, private and link-local addresses need an entry that
///   names them literally, e.g. `"http://127.0.0.1:8080"`.
///
/// Two webhooks with the same method and path, two crons with the same
/// expression, two manual triggers or two run functions with the same name, a
/// path without a leading `/` or a bad manual or run name fail to compile.
///
/// ```no_run
/// use floww::{Context, CronEvent, Request, Response, Result};
/// use serde_json::{Value, json};
///
/// floww::workflow! {
///     "/users" => users,
///     GET "/health" => health,
///     cron "0 */5 * * * *" => every_five_minutes,
///     manual "reindex" => reindex,
///     manual "greet" (schema = r#"{
///         "type": "object",
///         "properties": { "name": { "type": "string", "minLength": 1 } },
///         "required": ["name"]
///     }"#) => greet,
///     run "import" => import,
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
///
/// fn every_five_minutes(ctx: &Context, event: CronEvent) -> Result<()> {
///     ctx.kv.set("runs", "last", &event.scheduled_at)?;
///     Ok(())
/// }
///
/// fn reindex(ctx: &Context, _input: Value) -> Result<Value> {
///     Ok(json!({ "users": ctx.kv.list_keys("users")?.len() }))
/// }
///
/// fn greet(_ctx: &Context, input: Value) -> Result<Value> {
///     Ok(json!({ "greeting": format!("hello {}", input["name"].as_str().unwrap_or_default()) }))
/// }
///
/// fn import(ctx: &floww::RunContext, input: Value) -> Result<Value> {
///     let count = ctx.step("import", || Ok(ctx.kv.increment("imports", "count", 1)?))?;
///     Ok(json!({ "imports": count, "input": input }))
/// }
/// # fn main() {}
/// ```
///
/// A manual trigger's name is checked when the crate compiles:
///
/// ```compile_fail
/// fn run(_ctx: &floww::Context, input: serde_json::Value) -> floww::Result<serde_json::Value> {
///     Ok(input)
/// }
///
/// floww::workflow! {
///     manual "Re Index" => run, // not [a-z0-9][a-z0-9-]*
/// }
/// # fn main() {}
/// ```
///
/// as is a run function's:
///
/// ```compile_fail
/// fn run(_ctx: &floww::RunContext, input: serde_json::Value) -> floww::Result<serde_json::Value> {
///     Ok(input)
/// }
///
/// floww::workflow! {
///     run "fulfil_order" => run, // not [a-z0-9][a-z0-9-]*
/// }
/// # fn main() {}
/// ```
///
/// and so is a schedule declared twice:
///
/// ```compile_fail
/// fn tick(_ctx: &floww::Context, _event: floww::CronEvent) -> floww::Result<()> {
///     Ok(())
/// }
///
/// floww::workflow! {
///     cron "0 * * * *" => tick,
///     cron "0 * * * *" => tick,
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! workflow {
    ($($entries:tt)*) => {
        $crate::__workflow_entries! { [] [] [] [] [] $($entries)* }
    };
}

/// Reads the entries of a [`workflow!`](crate::workflow!) one at a time into
/// five lists (webhooks, crons, manual triggers, run functions, settings), then
/// exports the workflow.
#[doc(hidden)]
#[macro_export]
macro_rules! __workflow_entries {
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]) => {
        const _: () = {
            const ROUTES: &[$crate::__private::Route] = &[$($route)*];
            const SETTINGS: &[$crate::__private::Setting] = &[$($cors)*];
            const CORS: ::core::option::Option<$crate::__private::Cors> = $crate::__private::cors(SETTINGS);
            const ALLOW_HTTP: &[&str] = $crate::__private::allow_http(SETTINGS);
            const CRONS: &[$crate::__private::Cron] = &[$($cron)*];
            const MANUALS: &[$crate::__private::Manual] = &[$($manual)*];
            const RUNS: &[$crate::__private::Run] = &[$($run)*];
            const _: () = $crate::__private::check_routes(ROUTES);
            const _: () = $crate::__private::check_crons(CRONS);
            const _: () = $crate::__private::check_manuals(MANUALS);
            const _: () = $crate::__private::check_runs(RUNS);

            struct Workflow;

            impl $crate::__private::Guest for Workflow {
                fn triggers() -> ::std::vec::Vec<$crate::__private::Trigger> {
                    $crate::__private::triggers(ROUTES, CORS, CRONS, MANUALS)
                }

                fn handle_webhook(request: $crate::__private::WitRequest) -> $crate::__private::WitResponse {
                    $crate::__private::handle_webhook(ROUTES, CORS, request)
                }

                fn handle_cron(
                    event: $crate::__private::WitCronEvent,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::__private::handle_cron(CRONS, event)
                }

                fn handle_manual(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::handle_manual(MANUALS, &name, &input)
                }
            }

            impl $crate::__private::Egress for Workflow {
                fn allow_http() -> ::std::vec::Vec<::std::string::String> {
                    ALLOW_HTTP.iter().map(|entry| ::std::string::ToString::to_string(entry)).collect()
                }
            }

            impl $crate::__private::Durable for Workflow {
                fn run_names() -> ::std::vec::Vec<::std::string::String> {
                    $crate::__private::run_names(RUNS)
                }

                fn handle_run(
                    name: ::std::string::String,
                    input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::std::string::String> {
                    $crate::__private::handle_run(RUNS, &name, &input)
                }
            }

            $crate::wit::export!(Workflow with_types_in $crate::wit);
        };
    };
    // cron "<expression>" => handler
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        cron $schedule:literal => $handler:path $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)* $crate::__private::Cron::new($schedule, $handler),]
            [$($manual)*]
            [$($run)*]
            [$($cors)*]
            $($($rest)*)?
        }
    };
    // manual "<name>" (schema = <text>) => handler
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        manual $name:literal (schema = $schema:expr) => $handler:path $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)*]
            [$($manual)* $crate::__private::Manual::new(
                $name,
                ::core::option::Option::Some($schema),
                |ctx, input| $crate::__private::run_manual(ctx, input, $handler),
            ),]
            [$($run)*]
            [$($cors)*]
            $($($rest)*)?
        }
    };
    // manual "<name>" => handler
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        manual $name:literal => $handler:path $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)*]
            [$($manual)* $crate::__private::Manual::new(
                $name,
                ::core::option::Option::None,
                |ctx, input| $crate::__private::run_manual(ctx, input, $handler),
            ),]
            [$($run)*]
            [$($cors)*]
            $($($rest)*)?
        }
    };
    // run "<name>" => handler
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        run $name:literal => $handler:path $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)*]
            [$($manual)*]
            [$($run)* $crate::__private::Run::new(
                $name,
                |ctx, input| $crate::__private::run_durable(ctx, input, $handler),
            ),]
            [$($cors)*]
            $($($rest)*)?
        }
    };
    // cors ["<origin>", …]
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        cors [$($origin:literal),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)*]
            [$($manual)*]
            [$($run)*]
            [$($cors)* $crate::__private::Setting::Cors($crate::__private::Cors::new(&[$($origin),*])),]
            $($($rest)*)?
        }
    };
    // allow_http = ["<scheme://host[:port]>", …]
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        allow_http = [$($entry:literal),* $(,)?] $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)*]
            [$($cron)*]
            [$($manual)*]
            [$($run)*]
            [$($cors)* $crate::__private::Setting::AllowHttp(&[$($entry),*]),]
            $($($rest)*)?
        }
    };
    // [METHOD] "/path" => handler
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*]
        $($method:ident)? $path:literal => $handler:path $(, $($rest:tt)*)?) => {
        $crate::__workflow_entries! {
            [$($route)* $crate::__private::Route::new($crate::__workflow_method!($($method)?), $path, $handler),]
            [$($cron)*]
            [$($manual)*]
            [$($run)*]
            [$($cors)*]
            $($($rest)*)?
        }
    };
    ([$($route:tt)*] [$($cron:tt)*] [$($manual:tt)*] [$($run:tt)*] [$($cors:tt)*] $($other:tt)+) => {
        ::core::compile_error!(::core::concat!(
            "could not read this entry of `floww::workflow!`: `",
            ::core::stringify!($($other)+),
            "`; expected `[METHOD] \"/path\" => handler`, `cron \"<expression>\" => handler`, ",
            "`manual \"<name>\" => handler`, `manual \"<name>\" (schema = \"<JSON Schema>\") => handler`, ",
            "`run \"<name>\" => handler`, ",
            "`cors [\"https://origin.example\"]` or `allow_http = [\"https://api.example.com\"]`, ",
            "separated by commas"
        ));
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
    (HEAD) => {
        "HEAD"
    };
    (OPTIONS) => {
        "OPTIONS"
    };
    ($other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unsupported method `",
            ::core::stringify!($other),
            "` in `floww::workflow!`: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS (POST if left out)"
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

    fn tick(_ctx: &Context, _event: crate::CronEvent) -> Result<()> {
        Ok(())
    }

    fn noop(_ctx: &Context, input: serde_json::Value) -> Result<serde_json::Value> {
        Ok(input)
    }

    #[test]
    fn triggers_list_every_entry() {
        let crons = [Cron::new("*/5 * * * * *", tick)];
        let manuals = [
            Manual::new("plain", None, |ctx, input| crate::manual::run_manual(ctx, input, noop)),
            Manual::new("typed", Some("{}"), |ctx, input| crate::manual::run_manual(ctx, input, noop)),
        ];
        let listed: Vec<String> = triggers(ROUTES, None, &crons, &manuals)
            .into_iter()
            .map(|trigger| match trigger {
                wit::Trigger::Webhook(w) => format!("{} {}", w.method, w.path),
                wit::Trigger::Cron(c) => format!("cron {}", c.schedule),
                wit::Trigger::Manual(m) => format!("manual {} {:?}", m.name, m.input_schema),
            })
            .collect();
        let expected = [
            "POST /echo",
            "GET /echo",
            "POST /teapot",
            "cron */5 * * * * *",
            "manual plain None",
            "manual typed Some(\"{}\")",
        ];
        assert_eq!(listed, expected);
    }

    #[test]
    fn dispatch_picks_by_method_and_path() {
        let res = dispatch(ROUTES, None, request("GET", "/echo"));
        assert_eq!((res.status, res.body.as_slice()), (200, &b"GET /echo"[..]));
        let res = dispatch(ROUTES, None, request("POST", "/echo"));
        assert_eq!(res.body, b"POST /echo");
    }

    #[test]
    fn a_handler_error_becomes_a_json_error_response() {
        let res = dispatch(ROUTES, None, request("POST", "/teapot"));
        assert_eq!(res.status, 418);
        assert_eq!(json(&res), serde_json::json!({"error": "short and stout"}));
    }

    #[test]
    fn an_unknown_route_is_a_json_404() {
        for (method, path) in [("POST", "/nope"), ("DELETE", "/echo")] {
            let res = dispatch(ROUTES, None, request(method, path));
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
    fn with_cors_every_path_gets_a_preflight_and_answers_are_marked() {
        const CORS: Cors = Cors::new(&["https://app.example.com"]);
        let listed: Vec<String> = triggers(ROUTES, Some(CORS), &[], &[])
            .into_iter()
            .map(|trigger| match trigger {
                wit::Trigger::Webhook(w) => format!("{} {}", w.method, w.path),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(listed, ["POST /echo", "GET /echo", "POST /teapot", "OPTIONS /echo", "OPTIONS /teapot"]);

        let mut preflight = request("OPTIONS", "/echo");
        preflight.headers.push(("origin".into(), "https://app.example.com".into()));
        let res = dispatch(ROUTES, Some(CORS), preflight.clone());
        assert_eq!(res.body, b"");
        assert_eq!(res.status, 204);
        assert!(res.headers.contains(&("access-control-allow-methods".into(), "POST, GET".into())));
        let get = wit::Request {
            method: "GET".into(),
            path: "/echo".into(),
            query: vec![],
            headers: preflight.headers,
            body: vec![],
        };
        let answer = handle_webhook(ROUTES, Some(CORS), get);
        assert!(answer.headers.contains(&("access-control-allow-origin".into(), "https://app.example.com".into())));
        let res = dispatch(ROUTES, None, request("OPTIONS", "/echo"));
        assert_eq!(res.status, 404, "no cors, no preflight");
        let res = dispatch(ROUTES, Some(CORS), request("OPTIONS", "/nope"));
        assert_eq!(res.status, 404, "a preflight for a path the workflow doesn't serve");
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
