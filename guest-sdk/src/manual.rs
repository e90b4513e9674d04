//! Manual triggers: named entry points that an operator runs with JSON input
//! (`floww invoke ID NAME '{…}'`) and that answer with JSON output.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::named::{self, Named};
use crate::{Context, Result};

/// The signature of a manual handler, as [`workflow!`](crate::workflow!) expects it.
///
/// The input is deserialized from the JSON the trigger was invoked with (after
/// the host checked it against the trigger's schema, if it declares one), and
/// the output is serialized to JSON for the caller. Both default to
/// [`serde_json::Value`]; any `Deserialize` input and `Serialize` output work.
///
/// An `Err(error)` reaches the caller as `{"error": "<message>"}` with status 500
/// (the error's own status is not used): the message is for the operator.
///
/// ```no_run
/// use floww::{Context, ManualHandler, Result};
/// use serde::{Deserialize, Serialize};
/// use serde_json::{Value, json};
///
/// // Untyped: JSON in, JSON out.
/// fn ping(_ctx: &Context, input: Value) -> Result<Value> {
///     Ok(json!({ "pong": input }))
/// }
///
/// // Typed: serde does the conversions.
/// #[derive(Deserialize)]
/// struct Reindex { table: String }
///
/// #[derive(Serialize)]
/// struct Reindexed { keys: usize }
///
/// fn reindex(ctx: &Context, input: Reindex) -> Result<Reindexed> {
///     Ok(Reindexed { keys: ctx.kv.list_keys(&input.table)?.len() })
/// }
///
/// let untyped: ManualHandler = ping;
/// let typed: ManualHandler<Reindex, Reindexed> = reindex;
/// ```
pub type ManualHandler<I = serde_json::Value, O = serde_json::Value> = fn(&Context, I) -> Result<O>;

/// A manual entry's handler once the macro has wrapped it: JSON text in and out.
#[doc(hidden)]
pub type RawManualHandler = fn(&Context, &str) -> Result<String>;

/// One `manual` entry of a [`workflow!`](crate::workflow!): its name, input
/// schema and wrapped handler.
#[doc(hidden)]
pub type Manual = Named<ManualEntry>;

/// What a `manual` entry keeps besides its name.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ManualEntry {
    pub(crate) input_schema: Option<&'static str>,
    run: RawManualHandler,
}

impl Manual {
    /// Checked at compile time, as the macro builds its entries in a `const`.
    /// The host checks that the schema is a JSON Schema when the workflow is deployed.
    pub const fn new(name: &'static str, input_schema: Option<&'static str>, run: RawManualHandler) -> Manual {
        Named::checked(
            name,
            ManualEntry { input_schema, run },
            "a manual trigger name must match [a-z0-9][a-z0-9-]* and be at most 63 characters, e.g. \"reindex\"",
        )
    }
}

/// Fails compilation (the macro calls it in a `const`) when two manual
/// entries share a name.
#[doc(hidden)]
pub const fn check_manuals(manuals: &[Manual]) {
    named::check_unique(manuals, "two manual triggers in `floww::workflow!` have the same name");
}

/// Runs a typed handler on JSON text: what the macro wraps each manual handler in.
#[doc(hidden)]
pub fn run_manual<I: DeserializeOwned, O: Serialize>(
    ctx: &Context,
    input: &str,
    handler: ManualHandler<I, O>,
) -> Result<String> {
    named::call_json(ctx, input, handler, "the input does not fit the handler's input type")
}

/// The exported `handle-manual`.
#[doc(hidden)]
pub fn handle_manual(manuals: &[Manual], name: &str, input: &str) -> core::result::Result<String, String> {
    crate::log::report_panics();
    let Some(manual) = named::find(manuals, name) else {
        return Err(format!("this workflow has no manual trigger named {name:?}"));
    };
    (manual.run)(&Context::new(), input).map_err(|error| error.message().to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;
    use crate::Error;

    fn echo(_ctx: &Context, input: Value) -> Result<Value> {
        Ok(json!({ "echo": input }))
    }

    #[derive(Deserialize)]
    struct Add {
        a: i64,
        b: i64,
    }

    fn add(_ctx: &Context, input: Add) -> Result<i64> {
        input.a.checked_add(input.b).ok_or_else(|| Error::bad_request("the sum overflows"))
    }

    const MANUALS: &[Manual] = &[
        Manual::new("echo", None, |ctx, input| run_manual(ctx, input, echo)),
        Manual::new("add", Some(r#"{"type": "object"}"#), |ctx, input| run_manual(ctx, input, add)),
    ];
    const _: () = check_manuals(MANUALS);

    #[test]
    fn json_goes_in_and_comes_out() {
        assert_eq!(handle_manual(MANUALS, "echo", r#"{"x": [1, 2]}"#).unwrap(), r#"{"echo":{"x":[1,2]}}"#);
        assert_eq!(handle_manual(MANUALS, "add", r#"{"a": 2, "b": 3}"#).unwrap(), "5");
    }

    #[test]
    fn errors_become_their_messages() {
        let overflow = format!(r#"{{"a": {}, "b": 1}}"#, i64::MAX);
        assert_eq!(handle_manual(MANUALS, "add", &overflow).unwrap_err(), "the sum overflows");
        let shape = handle_manual(MANUALS, "add", r#"{"a": 1}"#).unwrap_err();
        assert!(shape.starts_with("the input does not fit the handler's input type: missing field `b`"), "{shape}");
        let unknown = handle_manual(MANUALS, "nope", "{}").unwrap_err();
        assert_eq!(unknown, "this workflow has no manual trigger named \"nope\"");
    }

    #[test]
    fn names_are_checked() {
        let bad = || Manual::new("Re Index", None, |ctx, i| run_manual(ctx, i, echo));
        assert!(std::panic::catch_unwind(bad).is_err());
        let dup = [Manual::new("a", None, |ctx, i| run_manual(ctx, i, echo)); 2];
        assert!(std::panic::catch_unwind(|| check_manuals(&dup)).is_err());
    }
}
