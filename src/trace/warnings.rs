//! The library's warnings (a slow poll, a bad `MINILOOP_*` value, a shutdown that had to leak,
//! the slow-sites server failing to accept), and where they go: to the thread's `tracing`
//! subscriber when the `tracing` feature is on and there is one, on stderr otherwise
//! (chapter: `docs/seeing-it-run.md`, "With `tracing`").

use std::fmt;
use std::time::Duration;

use super::label;
#[cfg(feature = "tracing")]
use super::tracing_bridge;
use crate::task::{Header, TaskId};

/// Where one of the library's warnings comes from: it decides the `tracing` target and the
/// stderr prefix (see [`warn`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Warning {
    /// A `MINILOOP_*` variable with a value that means nothing (`miniloop::env`).
    Environment,
    /// The loop's shutdown had to leak tasks (`miniloop::event_loop`).
    Shutdown,
    /// The slow-sites server could not accept a connection (`miniloop::http`).
    #[cfg_attr(not(feature = "lessons"), allow(dead_code))] // the server needs `lessons`
    SlowSitesServer,
}

/// Reports one of the library's warnings: to the thread's `tracing` subscriber, at `WARN`,
/// when the `tracing` feature is on and there is a subscriber (its filter decides the rest);
/// on stderr otherwise, as `miniloop: ...` (or `slow-sites server: ...`). Without a
/// subscriber a `tracing` event would go nowhere, and a warning about bad input must be seen.
pub(crate) fn warn(kind: Warning, message: fmt::Arguments<'_>) {
    #[cfg(feature = "tracing")]
    if tracing_bridge::has_subscriber() {
        return tracing_bridge::warn(kind, message);
    }
    let prefix = match kind {
        Warning::Environment | Warning::Shutdown => "miniloop",
        Warning::SlowSitesServer => "slow-sites server",
    };
    eprintln!("{prefix}: {message}");
}

/// The slow-poll warning: which task, where it came from, how long, and what to do.
pub(super) fn warn_slow_poll(header: &Header, took: Duration, threshold: Duration) {
    let at = header
        .spawned_at()
        .map(|location| format!(" (spawned at {location})"))
        .unwrap_or_default();
    let who = if header.id == TaskId(0) {
        "the main future (the one given to `run` or `run_until_complete`)".to_string()
    } else {
        label(header)
    };
    let message = format!(
        "{who}{at} held the event loop for {took:.1?} in one poll (threshold {threshold:?}); \
         every other task waited that long; a blocking call in async code does this: move it \
         into `miniloop::spawn_blocking`, or make it async"
    );
    #[cfg(feature = "tracing")]
    if tracing_bridge::has_subscriber() {
        return tracing_bridge::warn_slow_poll(header, took, threshold, &message);
    }
    eprintln!("miniloop: warning: {message}");
}
