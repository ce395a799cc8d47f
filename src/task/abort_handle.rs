//! [`AbortHandle`]: stopping a task from anywhere, without its output.
//!
//! A `JoinHandle` is the one owner of a task's output, so it cannot be cloned, and it is
//! `Send` only when the output is. Stopping a task needs neither: the abort flag and the wake
//! that makes the loop look at it live in the task's header, which is the same for every
//! output type. So an `AbortHandle` is an `Arc` to the task seen as `dyn Abortable` (`task.rs`):
//! not generic, `Clone`, `Send` and `Sync` whatever the task returns.

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Abortable, TaskId};

/// Aborts a task without owning its output: get one from [`JoinHandle::abort_handle`]
/// (or [`JoinSet::spawn`](crate::JoinSet::spawn)), clone it, send it to any thread.
///
/// Aborting works as [`JoinHandle::abort`] does: the task's future is dropped on its loop's
/// thread, before its next poll, and its `JoinHandle` yields a cancelled [`JoinError`].
/// Dropping an `AbortHandle` does nothing to the task.
///
/// [`JoinHandle::abort_handle`]: crate::JoinHandle::abort_handle
/// [`JoinHandle::abort`]: crate::JoinHandle::abort
/// [`JoinError`]: crate::JoinError
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// miniloop::run(async {
///     let sleeper = miniloop::spawn(miniloop::sleep(Duration::from_secs(3600)));
///     let abort = sleeper.abort_handle();
///     // Another thread decides that the task is no longer needed.
///     std::thread::spawn(move || abort.abort()).join().unwrap();
///     assert!(sleeper.await.unwrap_err().is_cancelled());
/// });
/// ```
#[derive(Clone)]
pub struct AbortHandle {
    task: Arc<dyn Abortable>,
}

impl AbortHandle {
    pub(crate) fn new(task: Arc<dyn Abortable>) -> AbortHandle {
        AbortHandle { task }
    }

    /// Asks the task's loop to cancel it, as [`JoinHandle::abort`](crate::JoinHandle::abort)
    /// does. Aborting a task that already finished changes nothing. Works from any thread.
    pub fn abort(&self) {
        request_abort(&self.task);
    }

    /// Whether the task has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The id of the task, the same as its [`JoinHandle::id`](crate::JoinHandle::id).
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }
}

/// Sets the task's abort flag and, the first time, wakes the task so that its loop notices
/// the request even if nothing else would wake it (`JoinHandle::abort` and
/// `AbortHandle::abort`).
pub(super) fn request_abort(task: &Arc<dyn Abortable>) {
    let was_requested = task
        .header()
        .is_abort_requested
        .swap(true, Ordering::AcqRel);
    // The first request schedules the task, on this thread or from afar, through the task's
    // own waker (`Abortable::wake_for_abort`).
    if !was_requested && !task.is_finished() {
        Arc::clone(task).wake_for_abort();
    }
}

// Through an `AbortHandle` one can only set an atomic flag, send a wake and read two atomics:
// a panic in between leaves nothing half-done for a later use to misread (as tokio's).
impl UnwindSafe for AbortHandle {}
impl RefUnwindSafe for AbortHandle {}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("task", &self.id())
            .field("is_finished", &self.is_finished())
            .finish()
    }
}
