//! The settings entries of a [`workflow!`](crate::workflow!): `cors [...]` and
//! `allow_http = [...]`, each at most once, read by the generated code in `const`s.

use crate::cors::Cors;

/// One settings entry of a [`workflow!`](crate::workflow!).
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum Setting {
    Cors(Cors),
    AllowHttp(&'static [&'static str]),
}

/// The workflow's `cors` entry, if it has one. Fails compilation on two.
pub const fn cors(settings: &[Setting]) -> Option<Cors> {
    let mut found = None;
    let mut i = 0;
    while i < settings.len() {
        if let Setting::Cors(cors) = settings[i] {
            assert!(found.is_none(), "`floww::workflow!` takes one `cors [...]` entry at most");
            found = Some(cors);
        }
        i += 1;
    }
    found
}

/// The workflow's `allow_http` entries (none without the entry). Fails
/// compilation on two entries, or on one that is neither `scheme://…` nor
/// `{{ SECRET_NAME }}`.
pub const fn allow_http(settings: &[Setting]) -> &'static [&'static str] {
    let mut found: Option<&'static [&'static str]> = None;
    let mut i = 0;
    while i < settings.len() {
        if let Setting::AllowHttp(entries) = settings[i] {
            assert!(found.is_none(), "`floww::workflow!` takes one `allow_http = [...]` entry at most");
            let mut j = 0;
            while j < entries.len() {
                assert!(
                    has_scheme(entries[j]) || names_secret(entries[j]),
                    "an `allow_http` entry is scheme://host[:port] or {{ SECRET_NAME }}, e.g. \"https://api.github.com\""
                );
                j += 1;
            }
            found = Some(entries);
        }
        i += 1;
    }
    match found {
        Some(entries) => entries,
        None => &[],
    }
}

/// Whether `entry` has a `scheme://` before anything else (the host checks the rest).
const fn has_scheme(entry: &str) -> bool {
    let bytes = entry.as_bytes();
    let mut i = 0;
    while i + 2 < bytes.len() {
        if bytes[i] == b':' && bytes[i + 1] == b'/' && bytes[i + 2] == b'/' {
            return i > 0;
        }
        i += 1;
    }
    false
}

/// Whether `entry` starts with `{{` (the host checks the rest).
const fn names_secret(entry: &str) -> bool {
    let bytes = entry.as_bytes();
    bytes.len() >= 2 && bytes[0] == b'{' && bytes[1] == b'{'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_found_by_kind() {
        const SETTINGS: &[Setting] =
            &[Setting::AllowHttp(&["https://api.github.com"]), Setting::Cors(Cors::new(&["*"]))];
        assert_eq!(allow_http(SETTINGS), ["https://api.github.com"]);
        assert!(cors(SETTINGS).is_some());
        assert!(allow_http(&[]).is_empty() && cors(&[]).is_none());
        assert!(has_scheme("http://127.0.0.1:8080") && !has_scheme("api.github.com") && !has_scheme("://x"));
        assert!(names_secret("{{ SLACK_WEBHOOK_URL }}") && !names_secret("{ x }"));
        let twice = [Setting::AllowHttp(&[]), Setting::AllowHttp(&[])];
        assert!(std::panic::catch_unwind(|| allow_http(&twice)).is_err());
    }
}
