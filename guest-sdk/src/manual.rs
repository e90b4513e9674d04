//! Manual triggers: named entry points that an operator runs with JSON input
//! (`floww invoke ID NAME '{…}'`) and that answer with JSON output.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Context, Error, Result};

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

/// One `manual` entry of a [`workflow!`](crate::workflow!).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Manual {
    pub(crate) name: &'static str,
    pub(crate) input_schema: Option<&'static str>,
    run: RawManualHandler,
}

/// The longest manual trigger name.
const MAX_NAME: usize = 63;

impl Manual {
    /// Checked at compile time, as the macro builds its entries in a `const`.
    /// The host checks that the schema is a JSON Schema when the workflow is deployed.
    pub const fn new(name: &'static str, input_schema: Option<&'static str>, run: RawManualHandler) -> Manual {
        assert!(
            is_manual_name(name),
            "a manual trigger name must match [a-z0-9][a-z0-9-]* and be at most 63 characters, e.g. \"reindex\""
        );
        Manual { name, input_schema, run }
    }
}

/// Whether `name` matches `[a-z0-9][a-z0-9-]{0,62}`.
const fn is_manual_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME || bytes[0] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit() || bytes[i] == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// Fails compilation (the macro calls it in a `const`) when two manual
/// entries share a name.
#[doc(hidden)]
pub const fn check_manuals(manuals: &[Manual]) {
    let mut i = 0;
    while i < manuals.len() {
        let mut j = i + 1;
        while j < manuals.len() {
            assert!(
                !crate::workflow::str_eq(manuals[i].name, manuals[j].name),
                "two manual triggers in `floww::workflow!` have the same name"
            );
            j += 1;
        }
        i += 1;
    }
}

/// Runs a typed handler on JSON text: what the macro wraps each manual handler in.
#[doc(hidden)]
pub fn run_manual<I: DeserializeOwned, O: Serialize>(
    ctx: &Context,
    input: &str,
    handler: ManualHandler<I, O>,
) -> Result<String> {
    let input: I = serde_json::from_str(input)
        .map_err(|e| Error::bad_request(format!("the input does not fit the handler's input type: {e}")))?;
    let output = handler(ctx, input)?;
    serde_json::to_string(&output).map_err(|e| Error::new(500, format!("the output could not be made JSON: {e}")))
}

/// The exported `handle-manual`.
#[doc(hidden)]
pub fn handle_manual(manuals: &[Manual], name: &str, input: &str) -> core::result::Result<String, String> {
    crate::log::report_panics();
    let Some(manual) = manuals.iter().find(|manual| manual.name == name) else {
        return Err(format!("this workflow has no manual trigger named {name:?}"));
    };
    (manual.run)(&Context::new(), input).map_err(|error| error.message().to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::{Value, json};

    use super::*;

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
        for good in ["a", "reindex", "re-index-2", "0", &"a".repeat(63)] {
            assert!(is_manual_name(good), "{good:?}");
        }
        for bad in ["", "-a", "Reindex", "re index", "re_index", "é", &"a".repeat(64)] {
            assert!(!is_manual_name(bad), "{bad:?}");
        }
        let dup = [Manual::new("a", None, |ctx, i| run_manual(ctx, i, echo)); 2];
        assert!(std::panic::catch_unwind(|| check_manuals(&dup)).is_err());
    }
}
