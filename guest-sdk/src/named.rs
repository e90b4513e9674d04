//! Entries of a [`workflow!`](crate::workflow!) known by name, manual triggers
//! and run functions: their names are checked when the crate compiles, and
//! their handlers take and give JSON text.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A named entry: its name, checked, and what the kind of entry keeps with it.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Named<T> {
    pub(crate) name: &'static str,
    pub(crate) entry: T,
}

/// The longest name.
const MAX_NAME: usize = 63;

impl<T: Copy> Named<T> {
    /// Fails compilation (entries are built in `const`s) with `message` when
    /// `name` is not `[a-z0-9][a-z0-9-]*` of at most 63 characters.
    pub(crate) const fn checked(name: &'static str, entry: T, message: &'static str) -> Named<T> {
        assert!(is_name(name), "{}", message);
        Named { name, entry }
    }
}

/// Whether `name` matches `[a-z0-9][a-z0-9-]{0,62}`.
const fn is_name(name: &str) -> bool {
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

/// Fails compilation with `message` (the macro calls it in a `const`) when
/// two entries share a name.
pub(crate) const fn check_unique<T>(entries: &[Named<T>], message: &'static str) {
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() {
            assert!(!crate::workflow::str_eq(entries[i].name, entries[j].name), "{}", message);
            j += 1;
        }
        i += 1;
    }
}

/// What the entry called `name` keeps, if there is one.
pub(crate) fn find<'a, T>(entries: &'a [Named<T>], name: &str) -> Option<&'a T> {
    entries.iter().find(|named| named.name == name).map(|named| &named.entry)
}

/// Runs a typed handler on JSON text. Input that doesn't fit is a 400 whose
/// message starts with `input_error`.
pub(crate) fn call_json<C, I: DeserializeOwned, O: Serialize>(
    ctx: &C,
    input: &str,
    handler: fn(&C, I) -> Result<O>,
    input_error: &str,
) -> Result<String> {
    let input: I = serde_json::from_str(input).map_err(|e| Error::bad_request(format!("{input_error}: {e}")))?;
    let output = handler(ctx, input)?;
    serde_json::to_string(&output).map_err(|e| Error::new(500, format!("the output could not be made JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["a", "reindex", "re-index-2", "0", &"a".repeat(63)] {
            assert!(is_name(good), "{good:?}");
        }
        for bad in ["", "-a", "Reindex", "re index", "re_index", "é", &"a".repeat(64)] {
            assert!(!is_name(bad), "{bad:?}");
        }
        assert!(std::panic::catch_unwind(|| Named::checked("Bad", (), "bad name")).is_err());
    }

    #[test]
    fn duplicates_are_refused_and_entries_found_by_name() {
        const ENTRIES: &[Named<u8>] = &[Named::checked("a", 1, "bad"), Named::checked("b", 2, "bad")];
        const _: () = check_unique(ENTRIES, "twice");
        assert_eq!((find(ENTRIES, "b"), find(ENTRIES, "c")), (Some(&2), None));
        let dup = [Named::checked("a", 1, "bad"), Named::checked("a", 2, "bad")];
        assert!(std::panic::catch_unwind(|| check_unique(&dup, "twice")).is_err());
    }
}
