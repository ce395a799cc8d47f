//! [`JoinHandle`]: awaiting a task's output, aborting it, or letting it go.
//!
//! A handle is the task's one "handle side" of its join cell (`join_cell.rs`): it is not
//! `Clone`, it is polled through `&mut`, and dropping it detaches the task.

use std::fmt;
use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{JoinError, Joinable, TaskId};
use crate::event_loop::note_join_waker;
use crate::sync_first::{is_suspend_allowed, note_suspend};
use crate::waker::{wake_remote, wake_task};

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
    task: Arc<dyn Joinable<T>>,
}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new(task: Arc<dyn Joinable<T>>) -> Self {
        JoinHandle { task }
    }

    /// The id of the task this handle points at.
    pub fn id(&self) -> TaskId {
        self.task.shared().header.id
    }

    /// Asks the loop to cancel the task: its future is dropped on the loop's thread, before
    /// its next poll, and the handle then yields a cancelled [`JoinError`]. Aborting a task
    /// that already finished changes nothing. Works from any thread, and from inside the task.
    ///
    /// For a [`spawn_blocking`](crate::spawn_blocking) job: if the closure has not started, it
    /// never runs, but the handle yields the cancellation only when a pool thread frees up and
    /// takes the job off the queue (with every thread busy, that is when the job would have
    /// started). A closure that is running already runs to the end, and the handle yields its
    /// output as if `abort` had not been called.
    pub fn abort(&self) {
        let header = &self.task.shared().header;
        let was_requested = header.is_abort_requested.swap(true, Ordering::AcqRel);
        if !was_requested && !self.is_finished() {
            // Schedule it, so the loop notices the request even if nothing else would wake it.
            if !wake_task(header) {
                wake_remote(header);
            }
        }
    }

    /// Whether the task has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.shared().join.is_complete()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    #[allow(unsafe_code)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self.task.shared();
        // A `JoinHandle` is its task's one handle side: it is not `Clone`, `poll` takes it by
        // `&mut`, and `detach` runs only in its `Drop`. That is what `JoinCell` asks of the
        // callers of `poll_take` and `try_take`.
        let answer = if is_suspend_allowed() {
            // Leaves only the latest waker: the awaiting task may have moved to another waker
            // since its last poll, and only that one may be woken (the stale-waker rule).
            // When a new waker goes in, the loop notes whose it is, before the old one is
            // dropped: the stuck-loop check counts on that order (`event_loop/stuck.rs`).
            let note_awaiter = || note_join_waker(&shared.header, cx.waker());
            // SAFETY: the one handle side, by `&mut`, before `Drop` (above).
            unsafe { shared.join.poll_take(cx.waker(), note_awaiter) }
        } else {
            // Inside `run_now`: say "not yet" without replacing the waker of a task that
            // really awaits this handle (the section's no-op waker would steal its wake).
            // SAFETY: the one handle side, by `&mut`, before `Drop` (above).
            unsafe { shared.join.try_take() }.map_or(Poll::Pending, Poll::Ready)
        };
        let task_id = shared.header.id;
        if answer.is_pending() {
            note_suspend(|| format!("{task_id} to finish"));
        }
        answer.map(|result| result.map_err(|cause| JoinError::new(task_id, cause)))
    }
}

impl<T> Drop for JoinHandle<T> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: the one handle side, once, calling nothing after (see `poll`). An output
        // that came already is dropped here; one that comes later, by the task side. Either
        // way a panic in its `Drop` is contained: dropping a handle never panics.
        unsafe { self.task.shared().join.detach() }
    }
}

// A panic cannot leave a handle in a state that a later use would misread, whatever `T` is,
// so the handle is `UnwindSafe` and `RefUnwindSafe`, as tokio's is (the compiler cannot see it
// through the `dyn Joinable` inside). Through `&JoinHandle` one can only read the task's id
// and whether it finished, and ask for an abort: an atomic flag each. What a handle shares
// with its task is the join cell, whose every step is a whole atomic transition that leaves
// the cell consistent if a waker's `clone` or `drop` panics between two of them (the cell's
// protocol, `join_cell.rs`). And the output is handed out by value, only once the task side
// is done with it: no half-written `T` is ever reachable, which is why `T` needs no bound.
impl<T> UnwindSafe for JoinHandle<T> {}
impl<T> RefUnwindSafe for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task.shared().header.id)
            .field("is_finished", &self.task.shared().join.is_complete())
            .finish()
    }
}
