//! A spawned future: its body, the state it shares with wakers and its `JoinHandle`.
//!
//! Lesson 12 wraps each coroutine in a `Task` that the loop resumes; this module is the real
//! version of that idea (chapter: `docs/tasks-and-wakers.md`). A task is two allocations:
//!
//! - the **body** (`TaskBody<F>`, boxed): the future itself. Only the loop's thread touches it,
//!   so it needs no lock. The loop keeps it in its task table (`event_loop/scheduler.rs`) and
//!   moves it out while polling it.
//! - the **shared part** (`TaskShared<T>`, in an `Arc`): what other owners need to see. Wakers
//!   point at it (it implements `ArcWake`), and the `JoinHandle` reads the output from it.
//!
//! # Rules this module keeps
//! - The future is polled, dropped and cancelled only on the loop's thread.
//! - The output is written once, under the `join` lock, and read once by the `JoinHandle`.
//! - A task's future is dropped before its `JoinHandle` hears that it finished, so whatever
//!   the future held (sockets, locks) is released by the time the awaiting task runs.
//!
//! # Why not one allocation
//! Putting the future inside the `Arc` that wakers share would need a lock (or `unsafe`) around
//! it, because `Waker` must be `Send + Sync`. Two allocations cost one extra malloc per spawn;
//! in exchange a wake and a poll touch no atomic at all on the loop's thread. The trade is
//! measured in `docs/benchmarks.md`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_task::{waker_ref, ArcWake};
use pin_project_lite::pin_project;

use crate::sync_first::{is_suspend_allowed, note_suspend};
use crate::waker::{wake_task, LoopId, TaskKey};

/// A task's number, unique within its loop; prints as `task#7`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// Marks ids of `spawn_blocking` jobs, which count separately from a loop's tasks.
    const BLOCKING_BIT: u64 = 1 << 63;

    /// The id of the `number`th `spawn_blocking` job; prints as `blocking#7`.
    pub(crate) fn blocking(number: u64) -> TaskId {
        TaskId(number | Self::BLOCKING_BIT)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 & Self::BLOCKING_BIT != 0 {
            write!(f, "blocking#{}", self.0 & !Self::BLOCKING_BIT)
        } else {
            write!(f, "task#{}", self.0)
        }
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What every waker of a task needs to find it again: which loop, which slot.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) id: TaskId,
    pub(crate) home: LoopId,
    pub(crate) key: TaskKey,
    /// Set while the task's key sits in its loop's remote queue, so that a thread waking the
    /// task a million times between two loop turns queues it once. The loop clears it before
    /// it polls the task: a wake that finds it set is covered by that coming poll.
    pub(crate) is_remote_queued: AtomicBool,
    /// Set by `JoinHandle::abort`; the loop checks it before each poll.
    pub(crate) is_abort_requested: AtomicBool,
    /// The task's name and spawn location, kept only when someone will read them: when the
    /// task was given a name, or when the loop records a trace or watches for slow polls.
    /// Boxed, so that an ordinary task pays 8 bytes for it rather than 24 (bytes per task are
    /// a benchmark target: `docs/benchmarks.md`).
    origin: Option<Box<Origin>>,
}

impl Header {
    /// A header; `origin` is kept if `keep_origin` or if it carries a name.
    pub(crate) fn new(
        id: TaskId,
        home: LoopId,
        key: TaskKey,
        origin: Origin,
        keep_origin: bool,
    ) -> Header {
        let is_wanted = keep_origin || origin.name.is_some();
        Header {
            id,
            home,
            key,
            is_remote_queued: AtomicBool::new(false),
            is_abort_requested: AtomicBool::new(false),
            origin: is_wanted.then(|| Box::new(origin)),
        }
    }

    /// The name given with `task::Builder::name`.
    pub(crate) fn name(&self) -> Option<&str> {
        self.origin.as_ref()?.name.as_deref()
    }

    /// Where the task was spawned, if it was kept (see `origin`).
    pub(crate) fn spawned_at(&self) -> Option<&'static Location<'static>> {
        self.origin.as_ref()?.spawned_at
    }
}

/// Where a task comes from, for humans: its name and the line that spawned it.
#[derive(Debug, Default)]
pub(crate) struct Origin {
    pub(crate) name: Option<Box<str>>,
    pub(crate) spawned_at: Option<&'static Location<'static>>,
}

impl Origin {
    /// The caller's line, no name (`#[track_caller]` passes the caller through).
    #[track_caller]
    pub(crate) fn here() -> Origin {
        Origin {
            name: None,
            spawned_at: Some(Location::caller()),
        }
    }
}

/// The part of a task that wakers and the `JoinHandle` share.
#[derive(Debug)]
pub(crate) struct TaskShared<T> {
    pub(crate) header: Header,
    /// std `Mutex`: taken twice in a task's life (when it finishes, when the handle reads),
    /// never on the poll path, and never held across a call into user code.
    join: Mutex<JoinSlot<T>>,
}

/// Where a task's result waits for its `JoinHandle`.
enum JoinSlot<T> {
    /// Still running; the waker of whoever awaits the handle, if anyone does yet.
    Running { join_waker: Option<Waker> },
    /// Finished; the result has not been collected.
    Finished(Result<T, JoinError>),
    /// The handle took the result.
    Collected,
    /// The handle was dropped: nobody will collect the result, so it is dropped at once.
    Detached,
}

impl<T> fmt::Debug for JoinSlot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self {
            JoinSlot::Running { .. } => "Running",
            JoinSlot::Finished(Ok(_)) => "Finished",
            JoinSlot::Finished(Err(error)) if error.is_cancelled() => "Cancelled",
            JoinSlot::Finished(Err(_)) => "Panicked",
            JoinSlot::Collected => "Collected",
            JoinSlot::Detached => "Detached",
        };
        f.write_str(state)
    }
}

impl<T> TaskShared<T> {
    pub(crate) fn new(header: Header) -> Self {
        TaskShared {
            header,
            join: Mutex::new(JoinSlot::Running { join_waker: None }),
        }
    }

    fn lock_join(&self) -> MutexGuard<'_, JoinSlot<T>> {
        // A panic never happens while the lock is held (no user code runs under it), but if
        // one did, the slot is still consistent: take it anyway rather than panic again.
        self.join
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores the task's result and wakes whoever awaits the handle.
    pub(crate) fn finish(&self, result: Result<T, JoinError>) {
        let mut slot = self.lock_join();
        let (join_waker, unwanted) = match &mut *slot {
            JoinSlot::Running { join_waker } => {
                let join_waker = join_waker.take();
                *slot = JoinSlot::Finished(result);
                (join_waker, None)
            }
            // Detached: nobody will read it, so it is dropped below, outside the lock (its
            // `Drop` is user code). Finished: a second report, after a join waker panicked
            // during the first; the first one stands.
            JoinSlot::Detached | JoinSlot::Finished(_) | JoinSlot::Collected => {
                (None, Some(result))
            }
        };
        drop(slot);
        if let Some(unwanted) = unwanted {
            // A panic in the output's `Drop` belongs to nobody: contain it so the loop goes on.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(unwanted)));
        }
        if let Some(waker) = join_waker {
            // A waker is someone else's code. If it panics, the result is stored already and
            // the awaiting task can still collect it; the loop must not go down with it
            // (`finish` also runs outside any poll: on abort, on a panic, at shutdown).
            let _ = catch_unwind(AssertUnwindSafe(move || waker.wake()));
        }
    }
}

impl<T: Send> ArcWake for TaskShared<T> {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        wake_task(&arc_self.header);
    }
}

pin_project! {
    /// The boxed part of a task: the future, and a pointer to what it shares.
    pub(crate) struct TaskBody<F: Future> {
        // `None` once the future returned `Ready`: it is dropped in place, before the
        // `JoinHandle` hears about the output.
        #[pin]
        future: Option<F>,
        shared: Arc<TaskShared<F::Output>>,
    }
}

impl<F: Future> TaskBody<F> {
    pub(crate) fn new(future: F, shared: Arc<TaskShared<F::Output>>) -> Self {
        TaskBody {
            future: Some(future),
            shared,
        }
    }
}

/// What the loop can do with a task's body without knowing its future's type.
pub(crate) trait RunTask {
    /// Polls the future once with a waker that points at this task. On `Ready` the future
    /// has been dropped and its output handed to the `JoinHandle` when this returns.
    fn poll_body(self: Pin<&mut Self>) -> Poll<()>;
    /// Reads the header shared with this task's wakers. Through `Pin<&mut Self>` and a pin
    /// projection, never `&self`: a shared reference to the whole body would also cover the
    /// future, and a suspended `async` block may hold a `&mut` into itself that such a
    /// reference would invalidate (miri reports it as undefined behaviour).
    fn header(self: Pin<&mut Self>) -> &Header;
    /// Drops the future, then tells the `JoinHandle` why the task ended.
    fn fail(self: Pin<Box<Self>>, error: JoinError);
}

impl<F> RunTask for TaskBody<F>
where
    F: Future,
    F::Output: Send + 'static,
{
    fn poll_body(self: Pin<&mut Self>) -> Poll<()> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            return Poll::Ready(()); // finished already; the loop never polls it again
        };
        // `waker_ref` lends a waker that points at `shared` without touching its reference
        // count; only a leaf future that keeps the waker pays for a clone.
        let waker = waker_ref(this.shared);
        let mut cx = Context::from_waker(&waker);
        match future.poll(&mut cx) {
            Poll::Ready(output) => {
                this.future.set(None);
                this.shared.finish(Ok(output));
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn header(self: Pin<&mut Self>) -> &Header {
        &self.project().shared.header
    }

    fn fail(self: Pin<Box<Self>>, error: JoinError) {
        let shared = Arc::clone(&self.shared);
        // The future's `Drop` is user code and may panic; the handle still hears about it.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(self)));
        shared.finish(Err(error));
    }
}

/// An owned permission to await a spawned task's result; `.await` it to get
/// `Result<T, JoinError>`.
///
/// Dropping a `JoinHandle` **detaches** the task: it keeps running and its result is
/// dropped when it finishes, as in tokio. Use [`JoinHandle::abort`] to stop it.
///
/// # Examples
/// ```
/// let answer = miniloop::run(async {
///     let handle = miniloop::spawn(async { 6 * 7 });
///     handle.await.expect("the task should not panic")
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct JoinHandle<T> {
    shared: Arc<TaskShared<T>>,
}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new(shared: Arc<TaskShared<T>>) -> Self {
        JoinHandle { shared }
    }

    /// The id of the task this handle points at.
    pub fn id(&self) -> TaskId {
        self.shared.header.id
    }

    /// Asks the loop to cancel the task: its future is dropped on the loop's thread, before
    /// its next poll, and the handle then yields a cancelled [`JoinError`]. Aborting a task
    /// that already finished changes nothing. Works from any thread, and from inside the task.
    pub fn abort(&self) {
        let was_requested = self
            .shared
            .header
            .is_abort_requested
            .swap(true, Ordering::AcqRel);
        if !was_requested && !self.is_finished() {
            // Schedule it, so the loop notices the request even if nothing else would wake it.
            ArcWake::wake_by_ref(&self.shared);
        }
    }

    /// Whether the task has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        !matches!(*self.shared.lock_join(), JoinSlot::Running { .. })
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.shared.lock_join();
        match &mut *slot {
            JoinSlot::Running { .. } if !is_suspend_allowed() => {
                // Inside `run_now`: say "not yet" without replacing the waker of a task that
                // really awaits this handle (the section's no-op waker would steal its wake).
                let task_id = self.shared.header.id;
                note_suspend(|| format!("{task_id} to finish"));
                Poll::Pending
            }
            JoinSlot::Running { join_waker } => {
                // Keep only the latest waker: the task may have moved to another waker since
                // its last poll, and only that one may be woken (the stale-waker rule).
                match join_waker {
                    Some(stored) if stored.will_wake(cx.waker()) => {}
                    _ => *join_waker = Some(cx.waker().clone()),
                }
                let task_id = self.shared.header.id;
                note_suspend(|| format!("{task_id} to finish"));
                Poll::Pending
            }
            JoinSlot::Finished(_) => match std::mem::replace(&mut *slot, JoinSlot::Collected) {
                JoinSlot::Finished(result) => Poll::Ready(result),
                _ => unreachable!("matched `Finished` just above"),
            },
            JoinSlot::Collected | JoinSlot::Detached => {
                panic!("`JoinHandle` polled after it returned its result; await it once")
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let mut slot = self.shared.lock_join();
        let previous = std::mem::replace(&mut *slot, JoinSlot::Detached);
        drop(slot);
        // An uncollected output (or a stored waker) is dropped here, outside the lock.
        drop(previous);
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.shared.header.id)
            .field("state", &*self.shared.lock_join())
            .finish()
    }
}

/// Spawns a task with options: for now, a name that traces, warnings and timelines show.
///
/// # Examples
/// ```
/// miniloop::run(async {
///     let handle = miniloop::task::Builder::new().name("fetch google").spawn(async { 200 });
///     assert_eq!(handle.await.unwrap(), 200);
/// });
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<Box<str>>,
}

impl Builder {
    /// A builder with no options set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task: traces print it as `task#3 "fetch google"`.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Spawns `future` on the loop running on this thread, like [`crate::spawn`].
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::event_loop::spawn_with_origin(future, self.into_origin())
    }

    /// Spawns `future` on `event_loop`, like [`EventLoop::spawn`](crate::EventLoop::spawn).
    #[track_caller]
    pub fn spawn_on<F>(self, event_loop: &crate::EventLoop, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        event_loop.spawn_with_origin(future, self.into_origin())
    }

    /// The name, and the caller's line (`#[track_caller]` passes the user's line through).
    #[track_caller]
    fn into_origin(self) -> Origin {
        Origin {
            name: self.name,
            spawned_at: Some(Location::caller()),
        }
    }
}

/// Why a task ended without an output: it panicked, or it was cancelled.
pub struct JoinError {
    task_id: TaskId,
    cause: Cause,
}

enum Cause {
    Cancelled,
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled(task_id: TaskId) -> Self {
        JoinError {
            task_id,
            cause: Cause::Cancelled,
        }
    }

    pub(crate) fn panicked(task_id: TaskId, payload: Box<dyn Any + Send + 'static>) -> Self {
        JoinError {
            task_id,
            cause: Cause::Panicked(payload),
        }
    }

    /// The task that ended this way.
    pub fn id(&self) -> TaskId {
        self.task_id
    }

    /// Whether the task was cancelled (aborted, or dropped with its loop).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.cause, Cause::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, Cause::Panicked(_))
    }

    /// The panic's payload, to inspect it or to resume it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked; check [`JoinError::is_panic`] first,
    /// or use [`JoinError::try_into_panic`].
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(error) => panic!("`JoinError::into_panic` called on an error that is not a panic ({error}); check `is_panic()` first"),
        }
    }

    /// The panic's payload, or the error itself if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.cause {
            Cause::Panicked(payload) => Ok(payload),
            Cause::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string (as `panic!("...")` makes it).
    fn panic_message(&self) -> Option<&str> {
        match &self.cause {
            Cause::Panicked(payload) => payload
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
            Cause::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.cause, self.panic_message()) {
            (Cause::Cancelled, _) => write!(f, "{} was cancelled", self.task_id),
            (Cause::Panicked(_), Some(message)) => {
                write!(f, "{} panicked with message {message:?}", self.task_id)
            }
            (Cause::Panicked(_), None) => write!(f, "{} panicked", self.task_id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Cancelled => write!(f, "JoinError::Cancelled({})", self.task_id),
            Cause::Panicked(_) => write!(
                f,
                "JoinError::Panic({}, {:?})",
                self.task_id,
                self.panic_message()
            ),
        }
    }
}

impl std::error::Error for JoinError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_print_as_task_hash_number() {
        assert_eq!(TaskId(7).to_string(), "task#7");
        assert_eq!(format!("{:?}", TaskId(7)), "task#7");
        assert_eq!(TaskId::blocking(7).to_string(), "blocking#7");
    }

    #[test]
    fn join_errors_read_like_tokio_with_our_task_id() {
        let cancelled = JoinError::cancelled(TaskId(3));
        assert_eq!(cancelled.to_string(), "task#3 was cancelled");
        assert!(cancelled.is_cancelled() && !cancelled.is_panic());

        let panicked = JoinError::panicked(TaskId(7), Box::new("boom"));
        assert_eq!(
            panicked.to_string(),
            "task#7 panicked with message \"boom\""
        );
        let payload = panicked.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));

        let formatted = JoinError::panicked(TaskId(8), Box::new(String::from("bad 8")));
        assert_eq!(
            formatted.to_string(),
            "task#8 panicked with message \"bad 8\""
        );
    }

    #[test]
    #[should_panic(expected = "not a panic")]
    fn into_panic_on_a_cancellation_says_what_to_check() {
        let _ = JoinError::cancelled(TaskId(1)).into_panic();
    }
}
