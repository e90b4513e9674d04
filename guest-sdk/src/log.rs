//! Logging macros that send messages to the host's logs.
//!
//! The host writes each message with the workflow id and the execution id, so a
//! message needs to say only what happened. Outside WebAssembly (in unit tests)
//! the messages go to standard error instead.

use core::fmt;

use crate::wit::floww::workflow::log as wit;

/// The level of a log message. The macros pick it; use them rather than this.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Sends one message to the host. Called by the logging macros.
#[doc(hidden)]
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    let message = match args.as_str() {
        Some(text) => std::borrow::Cow::Borrowed(text),
        None => std::borrow::Cow::Owned(args.to_string()),
    };
    if cfg!(target_arch = "wasm32") {
        wit::log(level.into(), &message);
    } else {
        eprintln!("[{level:?}] {message}");
    }
}

/// Reports a panic to the host as an error line, `panicked at FILE:LINE:COL:
/// MESSAGE` (the form std prints), before the panic ends the execution: the
/// host keeps it in the execution's record and writes it to its log, where a
/// trap alone would say only `unreachable`. Called as each export starts;
/// outside WebAssembly the default hook (the test harness's) is kept.
#[doc(hidden)]
pub fn report_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    if cfg!(target_arch = "wasm32") {
        INSTALLED.call_once(|| {
            std::panic::set_hook(Box::new(|info| log(Level::Error, format_args!("{}", panic_line(info)))))
        });
    }
}

/// `panicked at FILE:LINE:COL: MESSAGE` for a panic.
fn panic_line(info: &std::panic::PanicHookInfo<'_>) -> String {
    let place = info.location().map_or_else(|| "an unknown place".to_owned(), |l| l.to_string());
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    format!("panicked at {place}: {message}")
}

impl From<Level> for wit::Level {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        }
    }
}

/// Logs a message at the `trace` level, with `format!` arguments.
///
/// ```no_run
/// let key = "user-123";
/// floww::trace!("looking up {key}");
/// ```
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::__private::log($crate::__private::Level::Trace, ::core::format_args!($($arg)+))
    };
}

/// Logs a message at the `debug` level, with `format!` arguments.
///
/// ```no_run
/// let previous = 41;
/// floww::debug!("counter was {previous}");
/// ```
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::__private::log($crate::__private::Level::Debug, ::core::format_args!($($arg)+))
    };
}

/// Logs a message at the `info` level, with `format!` arguments.
///
/// ```no_run
/// let user_id = "user-123";
/// floww::info!("created user {user_id}");
/// ```
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::__private::log($crate::__private::Level::Info, ::core::format_args!($($arg)+))
    };
}

/// Logs a message at the `warn` level, with `format!` arguments.
///
/// ```no_run
/// let key = "api-response";
/// floww::warn!("cache entry {key} was not JSON; recomputing");
/// ```
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::__private::log($crate::__private::Level::Warn, ::core::format_args!($($arg)+))
    };
}

/// Logs a message at the `error` level, with `format!` arguments.
///
/// ```no_run
/// let status = 500;
/// floww::error!("handler failed with {status}");
/// ```
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::__private::log($crate::__private::Level::Error, ::core::format_args!($($arg)+))
    };
}
