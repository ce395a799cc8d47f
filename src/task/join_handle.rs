//! [`JoinHandle`]: awaiting a task's output, aborting it, or letting it go.
//!
//! A handle is the task's one "handle side" of its join cell (`join_cell.rs`): it is not
//! `Clone`, it is polled through `&mut`, and dropping it detaches the task. It is `Send` and
//! `Sync` exactly when the output is `Send`, as tokio's: a `spawn_local` task's output may be
//! an `Rc`, and the handle is what carries it out.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures_core::future::FusedFuture;

use super::abort_handle::request_abort;
use super::{AbortHandle, JoinError, Joinable, TaskId};
use crate::event_loop::note_join_waker;
use crate::sync_first::{is_suspend_allowed, note_suspend};

/// An owned permission to await a spawned task's result; `.await` it to get
/// `Result<T, JoinError>`.
///
/// Dropping a `JoinHandle` **detaches** the task: it keeps running and its result is
/// dropped when it finishes, as in tokio. Use [`JoinHandle::abort`] to stop it.
///
/// It is `Send` and `Sync` when `T` is `Send`, and always `Unpin` and `UnwindSafe`. It
/// implements `FusedFuture`, so `futures::select!` takes it as it is, without `.fuse()`.
///
/// # Errors
/// The `.await` gives `Err(JoinError)` when the task did not finish: it panicked
/// ([`JoinError::is_panic`], the payload is in the error) or was aborted
/// ([`JoinError::is_cancelled`]).
///
/// # Examples
/// ```
/// let answer = miniloop::run(async {
///     let handle = miniloop::spawn(async { 6 * 7 });
///     handle.await.expect("the task should not panic")
/// });
/// assert_eq!(answer, 42);
/// ```
/// The handle of a task whose output is not `Send` (from
/// [`spawn_local`](crate::spawn_local)) stays on its thread:
/// ```compile_fail
/// let event_loop = miniloop::EventLoop::new();
/// let handle = event_loop.spawn_local(async { std::rc::Rc::new(1_u8) });
/// std::thread::spawn(move || drop(handle)); // `JoinHandle<Rc<u8>>` is not `Send`
/// ```
pub struct JoinHandle<T> {
    task: Arc<dyn Joinable<T>>,
    /// Makes the handle `Send` and `Sync` exactly when `T: Send`: a `Mutex<T>` is both then,
    /// and neither otherwise. (The `Arc` above is always both: it must be, to be shared with
    /// wakers, so it cannot tell the compiler about `T`.) A `Mutex` is not `Unpin` for every
    /// `T`; the handle is, by the `impl` below.
    _output: PhantomData<Mutex<T>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Arc<dyn Joinable<T>>) -> Self {
        JoinHandle {
            task,
            _output: PhantomData,
        }
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
        if !self.is_finished() {
            request_abort(&Arc::clone(&self.task).into_abortable());
        }
    }

    /// Whether the task has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.shared().join.is_complete()
    }

    /// A handle that can abort the task from anywhere, without owning its output: `Clone`,
    /// `Send` and `Sync` whatever `T` is.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// miniloop::run(async {
    ///     let handle = miniloop::spawn(miniloop::sleep(Duration::from_secs(3600)));
    ///     let abort = handle.abort_handle();
    ///     assert_eq!(abort.id(), handle.id());
    ///     abort.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    ///     assert!(abort.is_finished());
    /// });
    /// ```
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle::new(Arc::clone(&self.task).into_abortable())
    }

    /// `poll` with a waker of the caller's choosing, which is always left in the cell: for a
    /// [`JoinSet`](super::JoinSet), whose member wakers belong to the set, not to the task
    /// that awaits it (so the `run_now` rule in `poll` does not apply to them; the set follows
    /// it for its own waker). Kept apart from `poll`, whose body stays as it was: every awaited
    /// handle goes through it.
    #[allow(unsafe_code)]
    pub(crate) fn poll_with_waker(&mut self, waker: &Waker) -> Poll<Result<T, JoinError>> {
        let shared = self.task.shared();
        let note_awaiter = || note_join_waker(&shared.header, waker);
        // SAFETY: the one handle side, by `&mut`, before `Drop` (as in `poll`).
        let answer = unsafe { shared.join.poll_take(waker, note_awaiter) };
        let task_id = shared.header.id;
        answer.map(|result| result.map_err(|cause| JoinError::new(task_id, cause)))
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

/// `select!` skips a branch whose future `is_terminated`: a handle that has returned its
/// result (polling it again would panic) needs no `.fuse()`.
///
/// Read from the join cell (its output is there and taken), not kept in a flag of the
/// handle's: a `bool` beside the `Arc` made every `JoinHandle` 24 bytes instead of 16, too big
/// to come back from `spawn` in two registers, which cost `spawn_many` about 40 instructions
/// per task (`scripts/callgrind_per_op.py`).
impl<T> FusedFuture for JoinHandle<T> {
    #[allow(unsafe_code)]
    fn is_terminated(&self) -> bool {
        // SAFETY: the one handle side (see `poll`), before `Drop`; the only handle-side calls
        // that write the cell take `&mut self`, so none runs while this `&self` exists.
        unsafe { self.task.shared().join.is_taken() }
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

// The output is never pinned: it is handed out by value. (The `PhantomData<Mutex<T>>` would
// make the handle `Unpin` only for an `Unpin` `T`.)
impl<T> Unpin for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("task", &self.task.shared().header.id)
            .field("is_finished", &self.task.shared().join.is_complete())
            .finish()
    }
}
