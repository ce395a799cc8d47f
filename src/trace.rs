//! Seeing it run: an event trace, a slow-poll detector, and a timeline of task activity.
//!
//! The lessons ask you to picture what the loop does; this module shows it (chapter:
//! `docs/seeing-it-run.md`). Three switches, all off by default:
//!
//! - **Trace** (`MINILOOP_TRACE=1`, or [`Builder::trace`](crate::event_loop::Builder::trace)):
//!   one line on stderr per event: spawn, poll (and how long it took), wake (from which
//!   thread), timers fired, sockets ready, task finished, idle wait. `1`, `true`, `on` and
//!   `yes` switch it on; `0`, `false`, `off`, `no` and empty leave it off; any other value
//!   gets a one-line warning and leaves it off.
//! - **Slow-poll detector** (`MINILOOP_SLOW_POLL_MS=50`, or
//!   [`Builder::slow_poll_threshold`](crate::event_loop::Builder::slow_poll_threshold)): a
//!   warning when one poll holds the loop longer than the threshold, naming the task and where
//!   it was spawned. This is asyncio's debug mode ("Executing `<Task …>` took 0.2 seconds").
//! - **Timeline** ([`Builder::record_timeline`](crate::event_loop::Builder::record_timeline)):
//!   when each task was running and waiting, drawn as text or SVG ([`Timeline`]).
//!
//! With the `tracing` feature, the same events are also `tracing` spans and events, for
//! `tracing-subscriber` and Perfetto (`trace/tracing_bridge.rs`), and the library's warnings go
//! to the thread's subscriber when it has one (`trace/warnings.rs`).
//!
//! # Rules this module keeps
//! - When every switch is off, the loop holds no `Observer` and pays one branch per poll. A
//!   `tracing` subscriber counts as a switch only if it wants the loop's events when the loop
//!   is built (`tracing_bridge::is_wanted`).
//! - Events are recorded on the loop's thread only; a wake from another thread is traced
//!   when the loop collects it, with the name of the thread that woke.

mod timeline;
#[cfg(feature = "tracing")]
mod tracing_bridge;
mod warnings;

use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::task::{Header, TaskId};
use crate::waker::TaskKey;
pub use timeline::{Timeline, TimelineRow};
use warnings::warn_slow_poll;
pub(crate) use warnings::{warn, Warning};

/// One thing the loop did, as the trace prints it. Tasks appear as `task#3` or
/// `task#3 "name"`; the `run_until_complete` future appears as `main`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A task was spawned.
    Spawn {
        /// The task.
        task: String,
        /// The `file:line:column` of the `spawn` call.
        at: String,
    },
    /// A task was polled once.
    Poll {
        /// The task.
        task: String,
        /// `ready`, `pending` or `panicked`.
        outcome: &'static str,
        /// How long the poll held the loop.
        took: Duration,
    },
    /// A task was woken.
    Wake {
        /// The task (or `main`).
        task: String,
        /// `the loop's thread`, `thread "name"` (another thread, with its name) or
        /// `another thread` (one without a name).
        from: String,
    },
    /// Timers came due and woke their tasks.
    TimersFired {
        /// How many.
        count: usize,
    },
    /// Sockets became ready and woke their tasks.
    IoReady {
        /// How many wakers the ready sockets woke.
        count: usize,
    },
    /// A task ended.
    End {
        /// The task.
        task: String,
        /// `finished`, `cancelled` or `panicked`.
        how: &'static str,
    },
    /// Nothing was runnable, and the loop blocked.
    Idle {
        /// For how long.
        waited: Duration,
    },
}

impl Event {
    /// The event without its timings, for tests and diffs: `poll task#1 -> pending`.
    pub fn describe(&self) -> String {
        match self {
            Event::Spawn { task, .. } => format!("spawn {task}"),
            Event::Poll { task, outcome, .. } => format!("poll {task} -> {outcome}"),
            Event::Wake { task, from } => format!("wake {task} from {from}"),
            Event::TimersFired { count } => format!("timers fired: {count}"),
            Event::IoReady { count } => format!("sockets ready: {count}"),
            Event::End { task, how } => format!("{how} {task}"),
            Event::Idle { .. } => "idle".to_string(),
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Spawn { task, at } => write!(f, "spawn {task} at {at}"),
            Event::Poll {
                task,
                outcome,
                took,
            } => write!(f, "poll {task} -> {outcome} in {took:.1?}"),
            Event::Idle { waited } => write!(f, "idle for {waited:.2?}"),
            other => f.write_str(&other.describe()),
        }
    }
}

/// Where trace lines go: stderr, or a log you can read back (for tests and tools).
#[derive(Clone, Debug, Default)]
pub struct TraceLog {
    events: Arc<Mutex<Vec<Event>>>,
}

impl TraceLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The events recorded so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// The events without timings (see [`Event::describe`]).
    pub fn describe(&self) -> Vec<String> {
        self.lock().iter().map(Event::describe).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the builder (or the environment) switched on.
#[derive(Clone, Debug, Default)]
pub(crate) struct ObserveConfig {
    pub(crate) trace_to_stderr: bool,
    pub(crate) trace_log: Option<TraceLog>,
    pub(crate) slow_poll: Option<Duration>,
    pub(crate) record_timeline: bool,
}

impl ObserveConfig {
    /// `MINILOOP_TRACE` and `MINILOOP_SLOW_POLL_MS`, read once per process.
    pub(crate) fn from_env() -> ObserveConfig {
        static FROM_ENV: OnceLock<ObserveConfig> = OnceLock::new();
        FROM_ENV
            .get_or_init(|| ObserveConfig {
                trace_to_stderr: trace_from_env(),
                slow_poll: slow_poll_from_env(),
                ..ObserveConfig::default()
            })
            .clone()
    }

    fn is_off(&self) -> bool {
        !self.trace_to_stderr
            && self.trace_log.is_none()
            && self.slow_poll.is_none()
            && !self.record_timeline
    }

    /// The observer for a new loop, or `None` when every switch is off.
    #[cfg_attr(not(feature = "observe"), allow(dead_code))]
    pub(crate) fn build(self) -> Option<Box<Observer>> {
        // Asked here, once per loop, so that a loop that nobody listens to has no observer
        // (see `trace/tracing_bridge.rs`, "When the loop emits").
        #[cfg(feature = "tracing")]
        let spans = tracing_bridge::is_wanted().then(tracing_bridge::TaskSpans::default);
        #[cfg(feature = "tracing")]
        let is_off = self.is_off() && spans.is_none();
        #[cfg(not(feature = "tracing"))]
        let is_off = self.is_off();
        if is_off {
            return None;
        }
        let timeline = self
            .record_timeline
            .then(|| RefCell::new(Timeline::default()));
        Some(Box::new(Observer {
            started_at: Instant::now(),
            config: self,
            timeline,
            held_during_polls: RefCell::new(Vec::new()),
            #[cfg(feature = "tracing")]
            spans,
        }))
    }
}

/// `MINILOOP_TRACE`: `1`, `true`, `on` or `yes` switch the trace on; unset, empty, `0`,
/// `false`, `off` or `no` leave it off (in any case, spaces around ignored).
///
/// Anything else is a one-line warning on stderr, and the trace stays off. Not a panic:
/// `EventLoop::new` and `miniloop::run` read the variable and cannot fail, so a panic there is
/// one the user cannot catch, for a typo in a debugging switch. Not an error from the builder
/// either, for the same reason: `new` and `run` have no way to return one. Off, like the other
/// variables' bad values (`MINILOOP_SLOW_POLL_MS`, `MINILOOP_BLOCKING_THREADS`): a program
/// runs as if the variable were unset, and the warning says why. Once per process, because
/// `ObserveConfig::from_env` reads the environment once.
fn trace_from_env() -> bool {
    let Some(raw) = std::env::var_os("MINILOOP_TRACE") else {
        return false;
    };
    let word = raw.to_string_lossy().trim().to_ascii_lowercase();
    match word.as_str() {
        "1" | "true" | "on" | "yes" => true,
        "" | "0" | "false" | "off" | "no" => false,
        _ => {
            warn(
                Warning::Environment,
                format_args!(
                    "ignoring MINILOOP_TRACE={raw:?}, the trace stays off; use \
                     MINILOOP_TRACE=1 (or true, on, yes) to switch it on, or 0 (false, off, \
                     no) to leave it off"
                ),
            );
            false
        }
    }
}

fn slow_poll_from_env() -> Option<Duration> {
    let raw = std::env::var("MINILOOP_SLOW_POLL_MS").ok()?;
    match raw.trim().parse::<u64>() {
        Ok(millis) if millis > 0 => Some(Duration::from_millis(millis)),
        _ => {
            warn(
                Warning::Environment,
                format_args!(
                    "ignoring MINILOOP_SLOW_POLL_MS={raw:?}; it must be a whole number of \
                     milliseconds above 0, like 50"
                ),
            );
            None
        }
    }
}

/// Where a loop keeps its observer.
///
/// With the `observe` feature (on by default) it holds one when a switch is on. Without the
/// feature (`--no-default-features`) it is always empty, `get` returns a constant `None`, and
/// the compiler removes every hook: that build is the "plain" row the benchmarks compare the
/// default build against, to show that the hooks cost nothing measurable while switched off.
#[derive(Debug)]
pub(crate) struct ObserverSlot {
    #[cfg(feature = "observe")]
    observer: Option<Box<Observer>>,
}

impl ObserverSlot {
    pub(crate) fn new(config: ObserveConfig) -> ObserverSlot {
        #[cfg(feature = "observe")]
        return ObserverSlot {
            observer: config.build(),
        };
        #[cfg(not(feature = "observe"))]
        {
            drop(config);
            ObserverSlot {}
        }
    }

    /// The observer, if one is recording.
    #[inline]
    pub(crate) fn get(&self) -> Option<&Observer> {
        #[cfg(feature = "observe")]
        return self.observer.as_deref();
        #[cfg(not(feature = "observe"))]
        None
    }
}

/// A task's name for humans: `task#3`, or `task#3 "fetch google"`.
pub(crate) fn label(header: &Header) -> String {
    if header.id == TaskId(0) {
        return "main".to_string(); // the `run_until_complete` future
    }
    match header.name() {
        Some(name) => format!("{} {name:?}", header.id),
        None => header.id.to_string(),
    }
}

/// The loop's recorder. Exists only when something is switched on.
#[derive(Debug)]
pub(crate) struct Observer {
    started_at: Instant,
    config: ObserveConfig,
    timeline: Option<RefCell<Timeline>>,
    /// Events that happen during a poll (a wake, a spawn) are held back and printed after
    /// the poll's own line, so the trace reads in cause-and-effect order. A stack, because a
    /// poll can contain another one (`spawn_eager` polls the new task inside the caller's).
    held_during_polls: RefCell<Vec<Vec<Event>>>,
    /// The `tracing` spans of the tasks, if a subscriber wanted them when the loop was built.
    /// Not held back like the trace's events: a subscriber orders events by when they happen
    /// and by the span they happen in.
    #[cfg(feature = "tracing")]
    spans: Option<tracing_bridge::TaskSpans>,
}

impl Observer {
    /// Before a poll: holds back the trace's events until `polled` (see
    /// `held_during_polls`), and enters the task's `tracing` span.
    pub(crate) fn poll_started(&self, header: &Header) {
        self.held_during_polls.borrow_mut().push(Vec::new());
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.poll_started(header);
        }
        #[cfg(not(feature = "tracing"))]
        let _ = header;
    }

    fn emit(&self, event: Event) {
        if let Some(held) = self.held_during_polls.borrow_mut().last_mut() {
            held.push(event);
            return;
        }
        self.print(event);
    }

    fn print(&self, event: Event) {
        if self.config.trace_to_stderr {
            let since_start = self.started_at.elapsed();
            eprintln!(
                "[miniloop {:>10.3}ms] {event}",
                since_start.as_secs_f64() * 1000.0
            );
        }
        if let Some(log) = &self.config.trace_log {
            log.lock().push(event);
        }
    }

    /// Whether events are wanted, by the trace or by `tracing` (then the loop also notes the
    /// names of the threads that wake its tasks: `RemoteWakers`).
    pub(crate) fn is_tracing(&self) -> bool {
        #[cfg(feature = "tracing")]
        if self.spans.is_some() {
            return true;
        }
        self.is_writing_trace()
    }

    /// Whether the built-in trace is on (to stderr, or into a `TraceLog`).
    fn is_writing_trace(&self) -> bool {
        self.config.trace_to_stderr || self.config.trace_log.is_some()
    }

    pub(crate) fn spawned(&self, header: &Header) {
        if let Some(timeline) = &self.timeline {
            timeline
                .borrow_mut()
                .spawned(header.id, label(header), Instant::now());
        }
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.spawned(header);
        }
        if self.is_writing_trace() {
            let at = header
                .spawned_at()
                .map(ToString::to_string)
                .unwrap_or_else(|| "?".into());
            self.emit(Event::Spawn {
                task: label(header),
                at,
            });
        }
    }

    /// After one poll: trace it (then its end if it ended, then what happened during it),
    /// warn if it was slow, draw it on the timeline.
    pub(crate) fn polled(
        &self,
        header: &Header,
        started: Instant,
        outcome: &'static str,
        ended_how: Option<&'static str>,
    ) {
        let held = self
            .held_during_polls
            .borrow_mut()
            .pop()
            .unwrap_or_default();
        let ended = Instant::now();
        let took = ended - started;
        // Kept until the end of this function: the end of the task and a slow-poll warning
        // are then inside the task's span too.
        #[cfg(feature = "tracing")]
        let _entered = self
            .spans
            .as_ref()
            .and_then(|spans| spans.polled(outcome, took));
        if let Some(timeline) = &self.timeline {
            timeline.borrow_mut().ran(header.id, started, ended);
        }
        if self.is_writing_trace() {
            self.emit(Event::Poll {
                task: label(header),
                outcome,
                took,
            });
        }
        if let Some(how) = ended_how {
            self.ended(header, how);
        }
        for event in held {
            self.emit(event); // into the enclosing poll's list, if this poll was nested
        }
        if let Some(threshold) = self.config.slow_poll {
            if took >= threshold {
                warn_slow_poll(header, took, threshold);
            }
        }
    }

    /// After a poll of the `run_until_complete` future: only the slow-poll check (the trace
    /// and the timeline show tasks, and the main future is not one).
    pub(crate) fn main_polled(&self, header: &Header, started: Instant) {
        if let Some(threshold) = self.config.slow_poll {
            let took = started.elapsed();
            if took >= threshold {
                warn_slow_poll(header, took, threshold);
            }
        }
    }

    pub(crate) fn woke(&self, header: &Header, from: WakeOrigin) {
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.woke(header, &from);
        }
        if self.is_writing_trace() {
            let task = label(header);
            let from = from.to_string();
            self.emit(Event::Wake { task, from });
        }
    }

    pub(crate) fn timers_fired(&self, count: usize) {
        if count == 0 {
            return;
        }
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.timers_fired(count);
        }
        if self.is_writing_trace() {
            self.emit(Event::TimersFired { count });
        }
    }

    pub(crate) fn io_ready(&self, count: usize) {
        if count == 0 {
            return;
        }
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.io_ready(count);
        }
        if self.is_writing_trace() {
            self.emit(Event::IoReady { count });
        }
    }

    pub(crate) fn ended(&self, header: &Header, how: &'static str) {
        if let Some(timeline) = &self.timeline {
            timeline.borrow_mut().ended(header.id, Instant::now());
        }
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.ended(header, how);
        }
        if self.is_writing_trace() {
            self.emit(Event::End {
                task: label(header),
                how,
            });
        }
    }

    pub(crate) fn idled(&self, waited: Duration) {
        #[cfg(feature = "tracing")]
        if let Some(spans) = &self.spans {
            spans.idled(waited);
        }
        if self.is_writing_trace() {
            self.emit(Event::Idle { waited });
        }
    }

    /// A copy of the timeline so far (empty unless recording was switched on).
    pub(crate) fn timeline(&self) -> Timeline {
        self.timeline
            .as_ref()
            .map(|timeline| timeline.borrow().clone())
            .unwrap_or_default()
    }
}

/// Who called `wake`.
#[derive(Debug)]
pub(crate) enum WakeOrigin {
    LoopThread,
    /// With the waking thread's name, if it has one (see [`RemoteWakers`]).
    OtherThread(Option<String>),
}

/// As the trace and `tracing`'s `from` field say it: `the loop's thread`, `thread "name"`
/// or `another thread`.
impl fmt::Display for WakeOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WakeOrigin::LoopThread => f.write_str("the loop's thread"),
            WakeOrigin::OtherThread(Some(name)) => write!(f, "thread {name:?}"),
            WakeOrigin::OtherThread(None) => f.write_str("another thread"),
        }
    }
}

/// The names of the threads that woke a loop's tasks from afar, kept from the wake until the
/// loop collects it: by then the waking thread may be gone, so the name is read at the wake.
///
/// Only a loop that traces has one (`Shared::remote_wakers` is `None` otherwise), so a loop
/// that does not trace never looks a thread's name up. At most one name per task key is
/// waiting at a time: a task is pushed to the remote queue once until the loop collects it,
/// and the loop takes the name before it lets the task be pushed again.
#[derive(Debug, Default)]
pub(crate) struct RemoteWakers {
    names: Mutex<Vec<(TaskKey, String)>>,
}

impl RemoteWakers {
    /// Notes the calling thread as the waker of `key`, if the thread has a name. Called before
    /// the key is pushed, so the loop finds the name when it collects the key.
    pub(crate) fn note(&self, key: TaskKey) {
        if let Some(name) = std::thread::current().name() {
            self.lock().push((key, name.to_owned()));
        }
    }

    /// The name of the thread that woke `key`, if it had one; forgotten once taken.
    pub(crate) fn take(&self, key: TaskKey) -> Option<String> {
        let mut names = self.lock();
        let position = names.iter().position(|(noted, _)| *noted == key)?;
        Some(names.swap_remove(position).1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(TaskKey, String)>> {
        // Nothing that can panic runs under this lock; recover the data if something did.
        self.names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
