//! [`Handle`]: spawning onto a loop from any thread.
//!
//! An `EventLoop` stays on the thread that made it (it is not `Send`), and `spawn` works only
//! on that thread, inside the loop. A `Handle` is the part other threads may hold: a thread
//! that does blocking work, a `spawn_blocking` closure, or code that runs before the loop
//! starts can hand the loop new tasks through it (chapter: `docs/two-worlds.md`).
//!
//! # How a task gets in
//! The spawning thread builds the whole task (its one allocation, `src/task.rs`) and its
//! `JoinHandle`, then pushes the task onto the loop's remote spawn queue and wakes the loop,
//! exactly as a remote wake does (`src/waker.rs`). On its next turn the loop takes the task
//! in: it gives it a slot (until then its key is `TaskKey::UNASSIGNED`) and queues its first
//! poll. The task's number comes from a counter of the loop's own, kept apart from the tasks
//! spawned inside the loop, so it prints as `task#r1`, `task#r2`, ...
//!
//! # Rules this module keeps
//! - A spawn onto a loop that has shut down does not hang: the task is cancelled on the spot
//!   (its future dropped on the spawning thread) and its `JoinHandle` says so.
//! - Tasks still in the queue when the loop shuts down are cancelled with the loop's others.

use std::future::Future;
use std::sync::Arc;

use super::with_current_core;
use crate::task::{new_task, Header, JoinError, JoinHandle, Origin, TaskId};
use crate::waker::{LoopId, Shared, TaskKey};

/// The message of `Handle::current` outside a loop (tested in `tests/remote_spawn.rs`).
pub(crate) const NO_CURRENT_HANDLE: &str = "`miniloop::Handle::current` called outside an \
     event loop; there is no loop on this thread to hand out; call it inside \
     `miniloop::run(async { ... })`, or take `event_loop.handle()` on the loop's thread and \
     move that `Handle` to this thread";

/// A loop's address for other threads: spawn tasks on it from anywhere.
///
/// Get one from [`EventLoop::handle`](crate::EventLoop::handle), or with
/// [`Handle::current`] inside a running loop. It is `Send`, `Sync` and cheap to clone.
///
/// # Examples
/// ```
/// let event_loop = miniloop::EventLoop::new();
/// let handle = event_loop.handle();
/// // Another thread spawns a task; the loop runs it when it runs.
/// let join = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
///     .join()
///     .unwrap();
/// let answer = event_loop.run_until_complete(async { join.await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
pub struct Handle {
    home: LoopId,
    shared: Arc<Shared>,
}

impl Handle {
    pub(super) fn new(home: LoopId, shared: Arc<Shared>) -> Handle {
        shared.add_handle(); // the loop counts its handles (see `Drop` below)
        Handle { home, shared }
    }

    /// The handle of the loop running on this thread.
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    #[track_caller]
    pub fn current() -> Handle {
        match with_current_core(|core| core.handle()) {
            Some(handle) => handle,
            None => panic!("{NO_CURRENT_HANDLE}"),
        }
    }

    /// Spawns `future` on this handle's loop, from any thread. The task starts at the loop's
    /// next turn (or when the loop starts running).
    ///
    /// If the loop has shut down, the task is cancelled at once: its future is dropped here,
    /// and awaiting the returned handle gives a cancelled [`JoinError`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = TaskId::remote(self.shared.next_remote_id());
        let keep_origin = self.shared.keeps_origins;
        let header = Header::new(
            id,
            self.home,
            TaskKey::UNASSIGNED,
            Origin::here(),
            keep_origin,
        );
        let (task, handle) = new_task(header, future);
        if let Err(task) = self.shared.push_spawn(task) {
            task.fail(JoinError::cancelled(id));
        }
        handle
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        Handle::new(self.home, Arc::clone(&self.shared))
    }
}

/// A loop with a `Handle` somewhere is never reported stuck: the handle can spawn. So the loop
/// counts its handles (`event_loop/stuck.rs`).
impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.remove_handle();
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("loop", &self.home).finish()
    }
}
