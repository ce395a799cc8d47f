//! [`Builder`]: an event loop with the "see it run" switches set in code rather than through
//! environment variables, and with a virtual clock for tests (`start_paused`).

use std::time::Duration;

use super::seeded::SeededOrder;
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
/// # #[cfg(feature = "observe")] // the trace is `observe`'s
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
    /// The seed of the loop's task order (`seed`); `None` is first in, first out.
    seed: Option<u64>,
    /// Whether the loop gets a virtual clock, paused (`start_paused`).
    is_paused: bool,
}

impl Builder {
    /// A builder with the environment's settings.
    pub fn new() -> Builder {
        Builder {
            config: ObserveConfig::from_env(),
            seed: None,
            is_paused: false,
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

    /// Polls the ready tasks of each turn in an order drawn from `seed`, holding some back
    /// to the next turn, instead of first in, first out: one seed is one interleaving of the
    /// tasks' steps, the same on every run. [`explore`](crate::explore) tries many seeds;
    /// what a seed does and does not decide: `src/event_loop/seeded.rs`, lesson 36.
    ///
    /// Without it (the default) the order is first in, first out, at no cost.
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let order_for = |seed| {
    ///     let order = Arc::new(Mutex::new(Vec::new()));
    ///     let event_loop = miniloop::EventLoop::builder().seed(seed).build();
    ///     event_loop.run_until_complete(async {
    ///         let tasks: Vec<_> = (0..5)
    ///             .map(|n| {
    ///                 let order = Arc::clone(&order);
    ///                 miniloop::spawn(async move { order.lock().unwrap().push(n) })
    ///             })
    ///             .collect();
    ///         miniloop::join_all(tasks).await;
    ///     });
    ///     Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    /// };
    /// assert_eq!(order_for(0x2a), order_for(0x2a)); // a seed replays
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.seed = Some(seed);
        self
    }

    /// Gives the loop a virtual clock that starts paused (what tokio's `start_paused` does):
    /// time stands still while tasks run, and when every task waits and the next thing that
    /// can happen is a timer, the clock jumps to it at once, so a test of an hour-long
    /// timeout takes microseconds. [`time::now`](crate::time::now) reads the clock;
    /// [`time::advance`](crate::time::advance), [`pause`](crate::time::pause) and
    /// [`resume`](crate::time::resume) move it by hand. The clock does not jump while a task
    /// waits for a socket or a `spawn_blocking` job started on this loop runs: then it follows
    /// the real clock (the chapter on timers, "Virtual time", says what else it cannot see).
    ///
    /// # Examples
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let event_loop = miniloop::EventLoop::builder().start_paused(true).build();
    /// let wall = Instant::now();
    /// let waited = event_loop.run_until_complete(async {
    ///     let start = miniloop::time::now();
    ///     miniloop::sleep(Duration::from_secs(24 * 3600)).await;
    ///     miniloop::time::now() - start
    /// });
    /// assert_eq!(waited, Duration::from_secs(24 * 3600));
    /// assert!(wall.elapsed() < Duration::from_secs(3600));
    /// ```
    pub fn start_paused(mut self, is_paused: bool) -> Builder {
        self.is_paused = is_paused;
        self
    }

    /// Creates the loop.
    pub fn build(self) -> EventLoop {
        let mut event_loop = EventLoop::with_config(self.config);
        if self.is_paused {
            super::Core::start_paused(&mut event_loop.core);
        }
        event_loop.core.seeded.set(self.seed.map(SeededOrder::new));
        event_loop
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}
