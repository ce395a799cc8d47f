//! Sync-first execution: run a task inline until it really has to wait, and sections of code
//! where waiting is not allowed at all.
//!
//! Two ideas from outside Python's asyncio (chapter: `docs/sync-first.md`):
//! - **Eager tasks** (Python 3.12's `eager_task_factory`, RedisGears' synchronous execution):
//!   [`spawn_eager`] polls the new task once, right away, on the caller's stack. A task that
//!   finishes in that first poll (a cache hit) never goes through the run queue.
//! - **No-suspend sections** (RedisGears' `MULTI`/`EXEC`, where nothing may wait):
//!   [`run_now`] polls a future once and gives `Err(WouldSuspend)` if it would have to wait.
//!   miniloop's own leaf futures (timers, sockets, join handles, `yield_now`) check
//!   [`is_suspend_allowed`] and name what they were about to wait for.
//!
//! # Rules this module keeps
//! - Inside `run_now`, `is_suspend_allowed()` is `false`; everywhere else it is `true`,
//!   including inside the first poll of an eager task started from a section, and inside
//!   an event loop started from one (those may wait: they are not the section's code).
//! - A future that would suspend inside `run_now` is dropped before `run_now` returns: it is
//!   never left half-run, and nothing it registered stays behind.
//! - At most `MAX_EAGER_DEPTH` (16) eager first polls nest on a thread's stack; an eager spawn
//!   past that is a plain spawn, so a chain of eager spawns cannot overflow the stack.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::event_loop::with_current_core;
use crate::task::{JoinHandle, Origin};

thread_local! {
    /// How many `run_now` sections enclose the code running on this thread right now.
    static FORBIDDEN_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// What the innermost section's future was about to wait for, if a miniloop leaf said so.
    static SUSPEND_REASON: RefCell<Option<String>> = const { RefCell::new(None) };
    /// How many eager first polls are on this thread's stack right now (`EagerDepth`).
    static EAGER_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// How many eager first polls may nest on one thread's stack. An eager spawn made from inside
/// the innermost of them is a plain spawn: the task is polled at the loop's next turn, from the
/// loop's own stack. Without a bound, a task that eagerly spawns a task that eagerly spawns ...
/// nests one poll per link and overflows the stack (about 800 links in a debug build's 2 MiB).
pub(crate) const MAX_EAGER_DEPTH: u32 = 16;

/// One eager first poll on this thread's stack; the count goes down again when it is dropped
/// (also on unwind).
pub(crate) struct EagerDepth(());

impl EagerDepth {
    /// Counts one more eager poll, or `None` if `MAX_EAGER_DEPTH` of them are on the stack
    /// already (the caller then spawns the task normally).
    pub(crate) fn enter() -> Option<EagerDepth> {
        let depth = EAGER_DEPTH.with(Cell::get);
        if depth >= MAX_EAGER_DEPTH {
            return None;
        }
        EAGER_DEPTH.with(|current| current.set(depth + 1));
        Some(EagerDepth(()))
    }
}

impl Drop for EagerDepth {
    fn drop(&mut self) {
        let _ = EAGER_DEPTH.try_with(|current| current.set(current.get() - 1));
    }
}

/// Whether the code running now may suspend (return `Pending` and wait to be woken).
/// `false` only inside [`run_now`].
///
/// # Examples
/// ```
/// assert!(miniloop::is_suspend_allowed());
/// let inside = miniloop::run_now(async { miniloop::is_suspend_allowed() });
/// assert_eq!(inside, Ok(false));
/// ```
#[inline] // every `JoinHandle` poll asks; a thread-local read, not worth a call
pub fn is_suspend_allowed() -> bool {
    FORBIDDEN_DEPTH.try_with(Cell::get).unwrap_or(0) == 0
}

/// Called by miniloop's leaf futures just before they return `Pending`: inside a no-suspend
/// section, records what they were waiting for (the first reason wins: it is the innermost).
pub(crate) fn note_suspend(reason: impl FnOnce() -> String) {
    if is_suspend_allowed() {
        return;
    }
    let _ = SUSPEND_REASON.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(reason());
        }
    });
}

/// Sets the section depth for as long as it lives; restores it on drop (also on unwind).
pub(crate) struct SuspendScope {
    previous_depth: u32,
}

impl SuspendScope {
    /// Code that may suspend again: an eager task's first poll, or a whole event loop.
    pub(crate) fn allow() -> SuspendScope {
        Self::set(0)
    }

    fn forbid() -> SuspendScope {
        let depth = FORBIDDEN_DEPTH.with(Cell::get);
        Self::set(depth + 1)
    }

    fn set(depth: u32) -> SuspendScope {
        let previous_depth = FORBIDDEN_DEPTH.with(|current| current.replace(depth));
        SuspendScope { previous_depth }
    }
}

impl Drop for SuspendScope {
    fn drop(&mut self) {
        let _ = FORBIDDEN_DEPTH.try_with(|current| current.set(self.previous_depth));
    }
}

/// Runs `future` to completion *without suspending*: polls it once, and if it is not done,
/// drops it and returns [`WouldSuspend`], which says what it was waiting for.
///
/// Works inside a task and outside any loop alike. Use it for a section that must finish in
/// one go, such as a cache lookup that must not wait for the network.
///
/// # Errors
/// [`WouldSuspend`] if the first poll returns `Pending`; the future has been dropped by then.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// let hit = miniloop::run_now(async { 42 });
/// assert_eq!(hit, Ok(42));
///
/// let miss = miniloop::run_now(miniloop::sleep(Duration::from_millis(10)));
/// let error = miss.unwrap_err();
/// assert!(error.to_string().contains("a timer"), "{error}");
/// ```
pub fn run_now<F: Future>(future: F) -> Result<F::Output, WouldSuspend> {
    let section = SuspendScope::forbid();
    let _ = SUSPEND_REASON.try_with(|slot| slot.borrow_mut().take());
    let outcome = {
        let mut future = pin!(future);
        let mut cx = Context::from_waker(Waker::noop());
        future.as_mut().poll(&mut cx)
        // `future` is dropped here, inside the section: its `Drop` may not wait either.
    };
    let reason = SUSPEND_REASON
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    drop(section);
    match outcome {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(WouldSuspend { reason }),
    }
}

/// The error of [`run_now`]: the future would have had to wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WouldSuspend {
    reason: Option<String>,
}

impl WouldSuspend {
    /// What the future was about to wait for, when a miniloop future said so.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for WouldSuspend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = match self.reason.as_deref() {
            Some(reason) => format!("waiting for {reason}"),
            None => "a future outside miniloop returned `Pending`".to_string(),
        };
        write!(
            f,
            "the future would suspend inside `run_now` ({waiting}); suspending is not allowed in \
             this section; make that step synchronous, or move it out of `run_now` and `.await` it"
        )
    }
}

impl std::error::Error for WouldSuspend {}

/// Spawns `future` on the loop running on this thread and polls it once right away, on this
/// stack. If it finishes in that poll, the handle is ready at once and the task never enters
/// the run queue; otherwise it waits for its wake like any task.
///
/// Eager polls nest: a task may eagerly spawn a task from inside its own eager poll. At most
/// 16 of them nest on one thread: an eager spawn made from inside the 16th is a plain
/// [`spawn`](crate::spawn), polled at the loop's next turn (where its own eager spawns may
/// nest 16 deep again). That keeps the stack a chain of eager spawns uses bounded, however
/// long the chain.
///
/// # Panics
/// If no event loop is running on this thread.
///
/// # Examples
/// ```
/// miniloop::run(async {
///     let cached = miniloop::spawn_eager(async { "from the cache" });
///     assert!(cached.is_finished()); // done before `spawn_eager` returned
///     assert_eq!(cached.await.unwrap(), "from the cache");
/// });
/// ```
#[track_caller]
pub fn spawn_eager<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Some(future);
    let origin = Origin::here();
    let handle =
        with_current_core(|core| core.spawn_eager(future.take().expect("taken once"), origin));
    match handle {
        Some(handle) => handle,
        None => panic!("{}", crate::event_loop::SPAWN_OUTSIDE_LOOP),
    }
}
