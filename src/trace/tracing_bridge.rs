//! The loop's events as `tracing` spans and events (the `tracing` feature), so that the tools
//! people use with tokio work here too: `tracing-subscriber`'s filters and formatters,
//! `tracing-chrome`'s traces for Perfetto (chapter: `docs/seeing-it-run.md`, "With `tracing`").
//!
//! What the loop emits, modelled on what tokio emits for its tasks:
//!
//! | what | `tracing` | target |
//! |---|---|---|
//! | spawn | a span named `task`, no parent, fields `task.id`, `task.name`, `loc.file`, `loc.line`, `loc.col` | `miniloop::task` |
//! | poll | that span entered for the poll; then an event `poll` with `outcome` and `took` inside it | `miniloop::task` |
//! | end | an event `end` with `how`, in the span; then the span closes | `miniloop::task` |
//! | wake | an event with `op = "waker.wake"`, `task.id` and `from` (which thread) | `miniloop::task::waker` |
//! | timers fired | an event with `count` | `miniloop::time` |
//! | sockets ready | an event with `count` | `miniloop::reactor` |
//! | idle | an event with `waited` | `miniloop::event_loop` |
//! | slow poll | a `WARN` event with the task's fields, `took` and `threshold` | `miniloop::slow_poll` |
//!
//! tokio (built with `--cfg tokio_unstable`) emits the same shape: a `TRACE` span per task with
//! target `tokio::task`, no parent, and fields `task.id`, `task.name`, `loc.file`, `loc.line`,
//! `loc.col`; it names the span `runtime.spawn` (older versions: `task`), and its wake events
//! (`tokio::task::waker`, `op = "waker.wake"`) carry the span's id where ours carry the task's.
//!
//! Everything but the warning is at `TRACE`, as tokio's task spans are: a filter such as
//! `info,miniloop=trace` shows them, `info` alone does not. Because the span is entered for
//! each poll, whatever a task logs (`tracing::info!`) is nested under its `task` span.
//!
//! # When the loop emits
//! Once, when a loop is built, it asks the current subscriber whether any of the targets above
//! interests it at `TRACE` (`is_wanted`). If so, the loop gets an observer (the same one the
//! trace uses), and every hook emits; if not, the loop has no observer, and each hook costs the
//! one branch it costs with the feature off. A subscriber set after the loop was built is not
//! seen: set it first, as with any tracing setup. The reason is the hot path: asking at every
//! poll would put `tracing`'s interest check (a load and a compare per callsite) into the one
//! function everything goes through, for every program built with the feature, traced or not.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use tracing::span::EnteredSpan;
use tracing::{Level, Span};

use super::{label, WakeOrigin, Warning};
use crate::task::{Header, TaskId};

/// Whether the current subscriber wants the loop's events (see the module docs).
pub(crate) fn is_wanted() -> bool {
    tracing::enabled!(target: "miniloop::task", Level::TRACE)
        || tracing::enabled!(target: "miniloop::task::waker", Level::TRACE)
        || tracing::enabled!(target: "miniloop::time", Level::TRACE)
        || tracing::enabled!(target: "miniloop::reactor", Level::TRACE)
        || tracing::enabled!(target: "miniloop::event_loop", Level::TRACE)
}

/// Whether this thread has a subscriber at all. Without one a warning sent to `tracing` would
/// be lost, so it goes to stderr instead (`super::warn`): a bad `MINILOOP_*` value must be
/// reported somewhere. With one, its filter decides, as for any other library's warning.
pub(crate) fn has_subscriber() -> bool {
    tracing::dispatcher::get_default(|dispatch| !dispatch.is::<tracing::subscriber::NoSubscriber>())
}

/// One of the library's warnings, through `tracing`, at `WARN`, with a target per source.
pub(crate) fn warn(kind: Warning, message: fmt::Arguments<'_>) {
    match kind {
        Warning::Environment => tracing::warn!(target: "miniloop::env", "{message}"),
        Warning::Shutdown => tracing::warn!(target: "miniloop::event_loop", "{message}"),
        Warning::SlowSitesServer => tracing::warn!(target: "miniloop::http", "{message}"),
    }
}

/// The slow-poll warning with its facts as fields, so that a subscriber can filter on the task.
pub(crate) fn warn_slow_poll(header: &Header, took: Duration, threshold: Duration, message: &str) {
    let id = IdNumber(header.id);
    let location = header.spawned_at();
    // `event!`, not `warn!`: `warn!` cannot parse a dotted field name right after `target:`.
    tracing::event!(
        target: "miniloop::slow_poll",
        Level::WARN,
        task.id = %id,
        task.name = header.name().unwrap_or_default(),
        loc.file = location.map(|at| at.file()),
        loc.line = location.map(|at| at.line()),
        loc.col = location.map(|at| at.column()),
        took = ?took,
        threshold = ?threshold,
        "{}",
        message
    );
}

/// The `task` spans of one loop's live tasks, and the ones entered now.
#[derive(Debug, Default)]
pub(crate) struct TaskSpans {
    /// Created at spawn, removed (and so closed) when the task ends.
    spans: RefCell<HashMap<TaskId, Span>>,
    /// The spans of the polls under way, innermost last: a poll can contain another one
    /// (`spawn_eager` polls the new task inside its caller's poll).
    entered: RefCell<Vec<EnteredSpan>>,
}

impl TaskSpans {
    pub(crate) fn spawned(&self, header: &Header) {
        let location = header.spawned_at();
        let span = tracing::trace_span!(
            target: "miniloop::task",
            parent: None,
            "task",
            task.id = %IdNumber(header.id),
            task.name = header.name().unwrap_or_default(),
            loc.file = location.map(|at| at.file()),
            loc.line = location.map(|at| at.line()),
            loc.col = location.map(|at| at.column()),
        );
        self.spans.borrow_mut().insert(header.id, span);
    }

    /// Enters the task's span for the poll about to start; `polled` leaves it.
    pub(crate) fn poll_started(&self, header: &Header) {
        let span = self.span_of(header);
        self.entered.borrow_mut().push(span.entered());
    }

    /// After the poll, still inside the span: the `poll` event. Returns the entered span, for
    /// the caller to keep until it has said everything about the poll (a slow-poll warning is
    /// then nested under the task too).
    pub(crate) fn polled(&self, outcome: &'static str, took: Duration) -> Option<EnteredSpan> {
        tracing::trace!(target: "miniloop::task", outcome, ?took, "poll");
        self.entered.borrow_mut().pop()
    }

    pub(crate) fn ended(&self, header: &Header, how: &'static str) {
        let span = self.spans.borrow_mut().remove(&header.id);
        if let Some(span) = span {
            tracing::trace!(target: "miniloop::task", parent: &span, how, "end");
        }
    }

    pub(crate) fn woke(&self, header: &Header, from: &WakeOrigin) {
        tracing::trace!(
            target: "miniloop::task::waker",
            op = "waker.wake",
            task.id = %IdNumber(header.id),
            %from,
            "wake {}",
            label(header)
        );
    }

    pub(crate) fn timers_fired(&self, count: usize) {
        tracing::trace!(target: "miniloop::time", count, "timers fired");
    }

    pub(crate) fn io_ready(&self, count: usize) {
        tracing::trace!(target: "miniloop::reactor", count, "sockets ready");
    }

    pub(crate) fn idled(&self, waited: Duration) {
        tracing::trace!(target: "miniloop::event_loop", ?waited, "idle");
    }

    /// The task's span (a clone: `entered` takes it by value), or a disabled one for a task
    /// spawned before the loop had spans (none: the loop has them from its start).
    fn span_of(&self, header: &Header) -> Span {
        self.spans
            .borrow()
            .get(&header.id)
            .cloned()
            .unwrap_or_else(Span::none)
    }
}

/// A task id as `task.id` shows it: `3` for `task#3`, `r3` for `task#r3` (spawned through a
/// `Handle`), like tokio's plain number for the common case.
struct IdNumber(TaskId);

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0.to_string();
        f.write_str(text.strip_prefix("task#").unwrap_or(&text))
    }
}
