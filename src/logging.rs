//! The library's log records, one macro per level: through `defmt` (feature `defmt`) and/or
//! the `log` crate (feature `log`), and nothing at all without them — the arguments are then
//! only borrowed, never formatted, so a firmware without the features pays nothing.
//!
//! Format strings use only `{}` (integers, `&str`) and `{:?}` (the crate's types: `Debug`
//! for `log`, `defmt::Format` for defmt), which both crates accept.

macro_rules! log_record {
    ($defmt:ident, $log:ident, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::$defmt!($fmt $(, $arg)*);
        #[cfg(feature = "log")]
        log::$log!(target: "umqtt", $fmt $(, $arg)*);
        #[cfg(not(any(feature = "defmt", feature = "log")))]
        let _ = ($(&$arg,)*);
    }};
}

/// Routine steps (a PINGREQ, a CONNECT queued).
macro_rules! debug {
    ($($t:tt)*) => { log_record!(debug, debug, $($t)*) };
}

/// What a user wants to see in a normal run: connected, session resumed, reconnecting.
macro_rules! info {
    ($($t:tt)*) => { log_record!(info, info, $($t)*) };
}

/// The connection ended or was refused, messages were lost.
macro_rules! warn {
    ($($t:tt)*) => { log_record!(warn, warn, $($t)*) };
}
