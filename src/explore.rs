//! Running one test body under many task orders: the explorer behind `#[miniloop::test]`.
//!
//! A test that passes once on the default first-in, first-out order says little about an
//! order bug: that order is the same on every run. [`Explorer`] runs the body on a fresh loop
//! per *schedule*, each loop built with its own seed ([`Builder::seed`]), stops at the first
//! schedule that fails, and says which seed it was. Replaying that seed (`seed = 0x…` in the
//! attribute, `Explorer::seed`, or `MINILOOP_SEED=0x…`) runs the same order again, and fails
//! the same way, as long as the body waits only on the loop's own tasks (what a seed does and
//! does not decide: `src/event_loop/seeded.rs`). Lesson 36 (`docs/36-seeded-schedules.md`)
//! finds an order bug with it.
//!
//! It explores the order of *tasks*, one poll at a time: what happens between two threads
//! inside one poll (an atomic, a lock) is loom's to explore, not this.
//!
//! # The watchdog
//! [`Explorer::timeout`] bounds each schedule by the wall clock: a thread of the watchdog's
//! own wakes the main future when the time is up, and the schedule fails with a list of the
//! tasks still pending, named and located, instead of hanging CI. If the loop does not come
//! back to the main future within the same time again (a poll that blocks the thread, lesson
//! 25), nothing on the loop's thread can report: the watchdog prints what it knows and ends
//! the process with exit code 101, a test failure. While a watchdog is armed it holds a waker
//! of the main future, so the loop's stuck check (`event_loop/stuck.rs`) counts a possible
//! wake and stays silent; the watchdog's report names the waiting tasks instead.
//!
//! # Rules this module keeps
//! - Each schedule gets a fresh loop; nothing the body leaves behind reaches the next one.
//! - The seeds are a fixed sequence (`schedule_seed`): `schedules = 500` tries the same 500
//!   orders on every machine and every run, so CI and a laptop agree.

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::event_loop::{pending_tasks, Builder, SeededOrder};
use crate::{select, EventLoop};

/// The environment variable that replays one seed: `MINILOOP_SEED=0x2a cargo test name`.
pub const SEED_VAR: &str = "MINILOOP_SEED";

/// Runs a test body under one or many task orders; see the [module docs](self).
///
/// # Examples
/// An order bug: two tasks each read a shared count, wait, and write it back plus one; the
/// second starts after two round trips. In the default order the first has written before the
/// second reads, on every run; some seeded orders let the second read in between, and one
/// increment is lost.
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use miniloop::explore::Explorer;
///
/// async fn bump(count: Arc<AtomicU32>) {
///     let seen = count.load(Ordering::Relaxed);
///     miniloop::yield_now().await;
///     count.store(seen + 1, Ordering::Relaxed);
/// }
/// let two_bumps = || async {
///     let count = Arc::new(AtomicU32::new(0));
///     let first = miniloop::spawn(bump(Arc::clone(&count)));
///     let late = Arc::clone(&count);
///     let second = miniloop::spawn(async move {
///         miniloop::yield_now().await;
///         miniloop::yield_now().await;
///         bump(late).await;
///     });
///     first.await.unwrap();
///     second.await.unwrap();
///     match count.load(Ordering::Relaxed) {
///         2 => Ok(()),
///         lost => Err(format!("two increments made {lost}")),
///     }
/// };
/// assert!(Explorer::new().run(two_bumps).is_ok(), "the default order hides it");
/// let failure = Explorer::new().schedules(200).run(two_bumps).unwrap_err();
/// assert!(failure.message.contains("two increments made 1"));
/// // Its seed replays it.
/// let seed = failure.seed.unwrap();
/// let replay = Explorer::new().seed(seed).run(two_bumps).unwrap_err();
/// assert_eq!(replay.message, failure.message);
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "an explorer does nothing until `run`"]
pub struct Explorer {
    schedules: Option<u64>,
    seed: Option<u64>,
    timeout: Option<Duration>,
    is_paused: bool,
}

/// All schedules passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explored {
    /// How many schedules ran.
    pub schedules: u64,
    /// The seed of each, in order; empty for a single run in the default order.
    pub seeds: Vec<u64>,
    /// The wall time they took, together.
    pub elapsed: Duration,
}

/// The first schedule that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Its seed; `None` when the body ran once in the default order.
    pub seed: Option<u64>,
    /// Which schedule it was, counted from 1.
    pub schedule: u64,
    /// How many schedules were to run.
    pub of: u64,
    /// The panic message, the `Err` the body returned, or the watchdog's report.
    pub message: String,
    /// The wall time up to and including the failure.
    pub elapsed: Duration,
}

impl Failure {
    /// The line that replays this failure: the attribute, or the environment variable with
    /// `cargo test` and the test's name.
    pub fn replay_hint(&self, test_name: &str) -> String {
        match self.seed {
            Some(seed) => format!(
                "replay it: #[miniloop::test(seed = {seed:#x})], or \
                 {SEED_VAR}={seed:#x} cargo test {test_name} -- --exact"
            ),
            None => "it failed in the default order, on every run".to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seed {
            Some(seed) => write!(
                f,
                "schedule {} of {} (seed {seed:#x}) failed after {:.2?}: {}",
                self.schedule, self.of, self.elapsed, self.message
            ),
            None => write!(f, "failed in the default order: {}", self.message),
        }
    }
}

/// What a test body may return: `()`, or a `Result` whose `Err` fails the schedule.
pub trait Outcome {
    /// `Err` with a message if the schedule failed.
    fn into_result(self) -> Result<(), String>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: fmt::Debug> Outcome for Result<T, E> {
    fn into_result(self) -> Result<(), String> {
        self.map(drop)
            .map_err(|error| format!("returned Err({error:?})"))
    }
}

/// The seed of schedule `index` (from 0): the first number of the loop's own SplitMix64
/// stream started at `index`, so that the seeds look unrelated and no two schedules share one.
pub fn schedule_seed(index: u64) -> u64 {
    SeededOrder::new(index).next_u64()
}

/// Reads a seed as `0x…` hex or decimal, with a message that says how to write one.
pub fn parse_seed(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => text.replace('_', "").parse(),
    };
    parsed.map_err(|_| {
        format!(
            "{text:?} is not a seed: write it as the explorer printed it, in hex (0x1f2e) \
             or decimal, at most 64 bits"
        )
    })
}

impl Explorer {
    /// One run, in the default first-in, first-out order (what a plain test does), unless
    /// `MINILOOP_SEED` is set.
    pub fn new() -> Explorer {
        Explorer::default()
    }

    /// Runs the body under `schedules` seeded orders (see [`schedule_seed`]), stopping at the
    /// first failure.
    ///
    /// # Panics
    /// If `schedules` is 0: a run of nothing would pass without checking anything.
    #[track_caller]
    pub fn schedules(mut self, schedules: u64) -> Explorer {
        assert!(
            schedules > 0,
            "`Explorer::schedules(0)` would run nothing and pass; ask for 100 or more"
        );
        self.schedules = Some(schedules);
        self
    }

    /// Runs the body once, in the order of `seed`: the replay of a failure.
    pub fn seed(mut self, seed: u64) -> Explorer {
        self.seed = Some(seed);
        self
    }

    /// Fails a schedule that has not finished after `timeout` of wall time, naming the tasks
    /// still pending (module docs, "The watchdog").
    pub fn timeout(mut self, timeout: Duration) -> Explorer {
        self.timeout = Some(timeout);
        self
    }

    /// Gives each schedule's loop a virtual clock that starts paused
    /// ([`Builder::start_paused`]): sleeps end as soon as every task waits. The watchdog's
    /// `timeout` stays on the wall clock.
    pub fn start_paused(mut self, is_paused: bool) -> Explorer {
        self.is_paused = is_paused;
        self
    }

    /// Runs `body` (called once per schedule, for a fresh future) under each schedule.
    ///
    /// The seeds come from, first to last that is set: `MINILOOP_SEED` (one seed),
    /// [`seed`](Explorer::seed) (one seed), [`schedules`](Explorer::schedules) (that many);
    /// with none, one run in the default order.
    ///
    /// # Panics
    /// If `MINILOOP_SEED` is set but is not a seed (the message says how to write one).
    pub fn run<F, Fut>(&self, body: F) -> Result<Explored, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future,
        Fut::Output: Outcome,
    {
        let seeds: Vec<Option<u64>> = match (seed_from_env(), self.seed, self.schedules) {
            (Some(seed), _, _) | (None, Some(seed), _) => vec![Some(seed)],
            (None, None, Some(schedules)) => (0..schedules).map(schedule_seed).map(Some).collect(),
            (None, None, None) => vec![None],
        };
        let of = seeds.len() as u64;
        let started = Instant::now();
        for (index, &seed) in seeds.iter().enumerate() {
            let builder = EventLoop::builder().start_paused(self.is_paused);
            let builder = match seed {
                Some(seed) => builder.seed(seed),
                None => builder,
            };
            if let Err(message) = self.run_one(builder, &body) {
                return Err(Failure {
                    seed,
                    schedule: index as u64 + 1,
                    of,
                    message,
                    elapsed: started.elapsed(),
                });
            }
        }
        Ok(Explored {
            schedules: of,
            seeds: seeds.into_iter().flatten().collect(),
            elapsed: started.elapsed(),
        })
    }

    /// One schedule on a fresh loop: `Err` with the panic message, the body's `Err`, or the
    /// watchdog's report.
    fn run_one<F, Fut>(&self, builder: Builder, body: &F) -> Result<(), String>
    where
        F: Fn() -> Fut,
        Fut: Future,
        Fut::Output: Outcome,
    {
        let event_loop = builder.build();
        let watchdog = self.timeout.map(Watchdog::start);
        let alarm = watchdog.as_ref().map(Watchdog::alarm);
        let ran = catch_unwind(AssertUnwindSafe(|| {
            event_loop.run_until_complete(async {
                let Some(alarm) = alarm else {
                    return body().await.into_result();
                };
                match select(body(), alarm).await {
                    crate::Either::Left(outcome) => outcome.into_result(),
                    crate::Either::Right(timeout) => Err(timed_out(timeout)),
                }
            })
        }));
        if let Some(watchdog) = watchdog {
            watchdog.stop();
        }
        // The loop goes here, on this thread, with its unfinished tasks: a panic in one of
        // their `Drop`s fails this schedule too.
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(event_loop)));
        match (ran, dropped) {
            (Ok(outcome), Ok(())) => outcome,
            (Err(payload), _) => Err(format!("panicked: {}", panic_message(&*payload))),
            (Ok(_), Err(payload)) => Err(format!(
                "panicked while the loop dropped its unfinished tasks: {}",
                panic_message(&*payload)
            )),
        }
    }
}

/// What `#[miniloop::test]` expands to: runs `body` with `explorer`, and panics (failing the
/// test) with the failure and the line that replays it. Not for calling by hand: use
/// [`Explorer::run`].
#[doc(hidden)]
#[track_caller]
pub fn __run_test<F, Fut>(explorer: Explorer, module_path: &str, name: &str, body: F)
where
    F: Fn() -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    // libtest names a test by its path without the crate: `tests::name`, or `name`.
    let test_name = match module_path.split_once("::") {
        Some((_, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    };
    if let Err(failure) = explorer.run(body) {
        panic!("{failure}\n{}", failure.replay_hint(&test_name));
    }
}

/// The watchdog's report, made inside the main future, where the loop's table can be read.
fn timed_out(timeout: Duration) -> String {
    let pending = pending_tasks();
    let mut report = format!(
        "timed out: not finished after {timeout:?} (the watchdog's `timeout`); \
         {} task(s) still pending",
        pending.len()
    );
    for task in &pending {
        report.push_str("\n  ");
        report.push_str(task);
    }
    report
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(a panic whose payload is not a string)".to_string()
    }
}

/// `MINILOOP_SEED`, read: `None` when unset or empty.
fn seed_from_env() -> Option<u64> {
    let text = std::env::var(SEED_VAR).ok()?;
    if text.trim().is_empty() {
        return None;
    }
    match parse_seed(&text) {
        Ok(seed) => Some(seed),
        Err(message) => panic!("{SEED_VAR}: {message}"),
    }
}

/// A thread that wakes the main future when a schedule runs out of time, and ends the process
/// if even that wake goes unanswered.
struct Watchdog {
    shared: Arc<WatchdogShared>,
    thread: std::thread::JoinHandle<()>,
}

struct WatchdogShared {
    timeout: Duration,
    state: Mutex<WatchdogState>,
    changed: Condvar,
}

#[derive(Default)]
struct WatchdogState {
    /// Set by the thread when the time is up.
    has_fired: bool,
    /// Set by the loop's thread when the schedule ended, either way.
    is_stopped: bool,
    /// The main future's waker, left by `Alarm::poll`.
    waker: Option<Waker>,
}

impl Watchdog {
    fn start(timeout: Duration) -> Watchdog {
        let shared = Arc::new(WatchdogShared {
            timeout,
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let watching = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("miniloop-watchdog".to_string())
            .spawn(move || watching.watch())
            .expect("the watchdog's thread could not start");
        Watchdog { shared, thread }
    }

    fn alarm(&self) -> Alarm {
        Alarm {
            shared: Arc::clone(&self.shared),
        }
    }

    fn stop(self) {
        let mut state = self.shared.lock();
        state.is_stopped = true;
        let waker = state.waker.take();
        drop(state);
        drop(waker);
        self.shared.changed.notify_all();
        // The thread only waits on the condition variable, so it ends at once.
        let _ = self.thread.join();
    }
}

impl WatchdogShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, WatchdogState> {
        // The lock is never held across user code, so a poisoned one holds a sound state.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `until` or until the schedule stops; `true` if it stopped.
    fn wait_for_stop(&self, until: Instant) -> bool {
        let mut state = self.lock();
        loop {
            if state.is_stopped {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, until - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// The watchdog thread: fire at `timeout`, and give up on the process at twice that.
    fn watch(&self) {
        let started = Instant::now();
        if self.wait_for_stop(started + self.timeout) {
            return;
        }
        let waker = {
            let mut state = self.lock();
            state.has_fired = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        if self.wait_for_stop(started + 2 * self.timeout) {
            return;
        }
        // The loop's thread did not come back to the main future: a poll is blocking it, and
        // nothing on that thread can report. A hung CI job says nothing at all; this says why.
        eprintln!(
            "miniloop: a test did not finish within its timeout ({:?}), and its loop did not \
             answer the watchdog within {:?} more: a poll is blocking the loop's thread (a \
             blocking call or an endless loop inside a task, lesson 25). Run the test alone \
             with MINILOOP_SLOW_POLL_MS=100 to name the task. Ending the process.",
            self.timeout, self.timeout
        );
        std::process::exit(101);
    }
}

/// The main future's side of the watchdog: ready with the timeout once the thread fired.
struct Alarm {
    shared: Arc<WatchdogShared>,
}

impl Future for Alarm {
    type Output = Duration;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Duration> {
        let mut state = self.shared.lock();
        if state.has_fired {
            return Poll::Ready(self.shared.timeout);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_read_in_hex_or_decimal_and_bad_ones_are_named() {
        assert_eq!(parse_seed("0x2a"), Ok(42));
        assert_eq!(parse_seed(" 0XFF_FF "), Ok(0xffff));
        assert_eq!(parse_seed("42"), Ok(42));
        let error = parse_seed("0xzz").unwrap_err();
        assert!(error.contains("\"0xzz\" is not a seed"), "{error}");
        assert!(error.contains("hex (0x1f2e) or decimal"), "{error}");
        assert!(parse_seed("0x1_0000_0000_0000_0000").is_err(), "65 bits");
    }

    #[test]
    #[should_panic(expected = "`Explorer::schedules(0)` would run nothing and pass")]
    fn zero_schedules_are_refused() {
        let _ = Explorer::new().schedules(0);
    }

    #[test]
    fn the_schedule_seeds_are_distinct() {
        let seeds: std::collections::HashSet<u64> = (0..10_000).map(schedule_seed).collect();
        assert_eq!(seeds.len(), 10_000);
    }
}
