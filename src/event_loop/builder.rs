//! [`Builder`]: an event loop with the "see it run" switches set in code rather than through
//! environment variables.

use std::time::Duration;

use super::EventLoop;
use crate::trace::{ObserveConfig, TraceLog};

/// Configures an [`EventLoop`] before it is created.
///
/// Starts from the environment (`MINILOOP_TRACE`, `MINILOOP_SLOW_POLL_MS`), so a program that
/// uses a builder still honours them; each method overrides one switch.
///
/// # Examples
/// ```
/// use miniloop::trace::TraceLog;
///
/// let log = TraceLog::new();
/// let event_loop = miniloop::EventLoop::builder().trace_into(log.clone()).build();
/// event_loop.run_until_complete(async {
///     miniloop::task::Builder::new().name("greeter").spawn(async {}).await.unwrap();
/// });
/// assert_eq!(
///     log.describe(),
///     [
///         "spawn task#1 \"greeter\"",
///         "poll task#1 \"greeter\" -> ready",
///         "finished task#1 \"greeter\"",
///         "wake main from the loop's thread",
///     ]
/// );
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()` makes the loop"]
pub struct Builder {
    config: ObserveConfig,
}

impl Builder {
    /// A builder with the environment's settings.
    pub fn new() -> Builder {
        Builder {
            config: ObserveConfig::from_env(),
        }
    }

    /// Prints one line per loop event on stderr (what `MINILOOP_TRACE=1` does).
    pub fn trace(mut self, is_on: bool) -> Builder {
        self.config.trace_to_stderr = is_on;
        self
    }

    /// Records every loop event into `log`, to read back with [`TraceLog::events`].
    pub fn trace_into(mut self, log: TraceLog) -> Builder {
        self.config.trace_log = Some(log);
        self
    }

    /// Warns on stderr when one poll of a task holds the loop for `threshold` or longer
    /// (what `MINILOOP_SLOW_POLL_MS` does). `None` switches the detector off.
    pub fn slow_poll_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.config.slow_poll = threshold.filter(|threshold| !threshold.is_zero());
        self
    }

    /// Records when each task runs and waits; read it with [`EventLoop::timeline`].
    pub fn record_timeline(mut self, is_on: bool) -> Builder {
        self.config.record_timeline = is_on;
        self
    }

    /// Creates the loop.
    pub fn build(self) -> EventLoop {
        EventLoop::with_config(self.config)
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
