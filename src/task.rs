//! A spawned future: the task that holds it, the state it shares with wakers, and its
//! `JoinHandle`.
//!
//! Lesson 12 wraps each coroutine in a `Task` that the loop resumes; this module is the real
//! version of that idea (chapter: `docs/tasks-and-wakers.md`). A task is **one allocation**, an
//! `Arc<Task<F>>` holding:
//!
//! - the **shared part** (`TaskShared<T>`): the header (which loop, which slot, the abort
//!   flag) and the join slot where the output waits for the `JoinHandle`. Wakers and the
//!   handle use only this.
//! - the **future**, in an `UnsafeCell`. Only the loop touches it, through the task's one
//!   `TaskRef`, which it keeps in its task table (`event_loop/scheduler.rs`).
//!
//! Around it, one file each: the join cell (`task/join_cell.rs`), the [`JoinHandle`]
//! (`task/join_handle.rs`), [`AbortHandle`] (`task/abort_handle.rs`), [`JoinError`]
//! (`task/join_error.rs`), [`Builder`] (`task/builder.rs`), the wrapper that makes a task of a
//! future that is not `Send` (`task/local.rs`, for `spawn_local`), and [`JoinSet`], a group of
//! tasks awaited in the order they finish (`task/join_set.rs`).
//!
//! # Rules this module keeps
//! - There is one `TaskRef` per task, it cannot be cloned, and it is the only way to
//!   reach the future: the future is polled and dropped only by its holder, on its thread.
//!   Dropping a `TaskRef` whose task has not finished drops the future there and then, and
//!   tells the `JoinHandle` the task was cancelled: the future never outlives its `TaskRef`,
//!   whoever holds the task's last `Arc` (a waker on another thread, say).
//! - The output is written once, into the join cell (`task/join_cell.rs`), and read once by
//!   the `JoinHandle`.
//! - A task's future is dropped (in place: it is pinned) before its `JoinHandle` hears that it
//!   finished, so whatever the future held (sockets, locks) is released by the time the
//!   awaiting task runs.
//! - A future whose poll panics is dropped while that panic unwinds, as tokio and async-task
//!   drop theirs: a guard inside it (a scopeguard-style rollback) sees
//!   `std::thread::panicking()`. A panic in that `Drop` is contained, since escaping a `Drop`
//!   during an unwind would abort the process.
//! - A **local task** (`spawn_local`: its future, and its output, need not be `Send`) never
//!   leaves its loop's thread. Its `TaskRef` is made there, goes straight into that loop's
//!   table and stays on that thread until it is dropped: the loop is not `Send`, and the only
//!   path that carries a `TaskRef` between threads, `Handle::spawn`, makes its tasks with
//!   `new_task`, which requires `Send`. So, by the first rule, its future is polled and dropped
//!   only there. (`Task`'s `Drop` checks the thread anyway, as a last line of defence, if a
//!   local task is ever freed with its future still in it: `task/local.rs`.)
//! - **Who touches a local task's output**, which may be `!Send` (say an `Rc`): the poll that
//!   returns it writes it into the join cell, on the loop's thread. The `JoinHandle` takes it,
//!   or drops it when the handle is dropped first; that handle is `Send` only if the output
//!   is (its `PhantomData`), so it too is on the loop's thread unless the output may travel. If
//!   the handle was dropped before the task finished, the task side drops the output at once
//!   (`JoinCell::complete`), on the loop's thread. So the allocation, which a waker or an
//!   `AbortHandle` may free on any thread, is never freed holding an output; the one exception
//!   is a handle that was `mem::forget`-ed, whose `Arc` then keeps the task from ever being
//!   freed.
//!
//! # Why one allocation, and the `unsafe` it takes
//! A `Waker` must be `Send + Sync`, so whatever it points at must be safe to share between
//! threads, and a future is not `Sync`. Until the one-allocation rung of the benchmark ladder
//! (`docs/benchmarks.md`), the future lived in a second, boxed allocation that only the loop
//! saw, which kept the crate free of `unsafe` at the price of a second `malloc` and `free` per
//! task. Now it sits in the `Arc` beside what wakers share, and the promise "only the holder of
//! the `TaskRef` touches it" is made with small `unsafe` items here (the `Send` and `Sync`
//! impls, a `&mut` to the future in `poll_future`, in `fail`, in `abandon` and in the guard
//! that drops it when a poll unwinds, `DropFutureOnUnwind`, and the move of the `Arc` out of a
//! `TaskRef`, `TaskRef::into_task`), each with its `// SAFETY:` reason and covered by the miri
//! tests (`scripts/miri.sh`). A same-thread wake and poll still touch no atomic.

use std::any::Any;
use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_task::{waker_ref, ArcWake};

mod abort_handle;
mod builder;
mod join_cell;
mod join_error;
mod join_handle;
mod join_set;
mod local;

pub use abort_handle::AbortHandle;
pub use builder::Builder;
pub(crate) use join_cell::JoinView;
pub(crate) use join_error::Cause;
pub use join_error::JoinError;
pub use join_handle::JoinHandle;
pub use join_set::JoinSet;
pub(crate) use local::{new_local_task, HomeThread};

use crate::waker::{claim_remote_wake, wake_remote, wake_task, LoopId, TaskKey};
use join_cell::JoinCell;

/// A task's number, unique within its loop; prints as `task#7`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// Marks ids of `spawn_blocking` jobs, which count separately from a loop's tasks.
    const BLOCKING_BIT: u64 = 1 << 63;
    /// Marks ids of tasks spawned through a [`Handle`](crate::Handle): the thread that spawns
    /// them cannot take a number from the loop's own counter (only the loop's thread touches
    /// it, without an atomic), so they count separately, per loop.
    const REMOTE_BIT: u64 = 1 << 62;

    /// The id of the `number`th `spawn_blocking` job; prints as `blocking#7`.
    pub(crate) fn blocking(number: u64) -> TaskId {
        TaskId(number | Self::BLOCKING_BIT)
    }

    /// The id of the `number`th task spawned through a loop's `Handle`; prints as `task#r7`.
    pub(crate) fn remote(number: u64) -> TaskId {
        TaskId(number | Self::REMOTE_BIT)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 & Self::BLOCKING_BIT != 0 {
            write!(f, "blocking#{}", self.0 & !Self::BLOCKING_BIT)
        } else if self.0 & Self::REMOTE_BIT != 0 {
            write!(f, "task#r{}", self.0 & !Self::REMOTE_BIT)
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

/// A 32-bit name for the main future or for a task of a loop, which the stuck-loop check
/// (`event_loop/stuck.rs`) uses to say who left a waker in which join cell; and the two marks
/// that `Header::awaited_by` holds for it (`NOTED`, `UNKNOWN`).
///
/// 32 bits, so that the marks fit in the padding `Header` already had (names were kept there
/// too, before the check learnt to name waiters itself): a task's 64-bit `TaskId` is named
/// only while its number fits (the first 2^31 - 3 tasks spawned on the loop's thread, and
/// the first 2^31 - 1 spawned through a `Handle`). A later task is `UNKNOWN`, which never
/// names anyone: the check then counts its waker as held outside the loop, so it can only miss
/// a stuck loop, never report one that is not. Names are never reused, since ids are not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Awaiter(pub(crate) u32);

impl Awaiter {
    /// Nobody the loop can name: another thread's waker, a waker made inside a combinator,
    /// or the cell never had one.
    pub(crate) const UNKNOWN: Awaiter = Awaiter(0);
    /// A `JoinHandle` poll on the loop's thread left the cell's waker, and filed a note of
    /// it: the check names its owner from that note (`Core::waiters_by_note`).
    pub(crate) const NOTED: Awaiter = Awaiter(1);
    /// The future given to `run_until_complete`.
    pub(crate) const MAIN: Awaiter = Awaiter(2);

    /// Names of tasks spawned on the loop's thread are `number + 2`, up to this.
    const LAST_LOCAL: u32 = (1 << 31) - 1;
    /// Names of tasks spawned through a `Handle` are `REMOTE_BASE + number`.
    const REMOTE_BASE: u32 = 1 << 31;

    /// The name of the task (or main) with id `id`: never the same for two tasks of a loop.
    pub(crate) fn of(id: TaskId) -> Awaiter {
        if id == TaskId(0) {
            return Awaiter::MAIN;
        }
        let number = id.0 & !(TaskId::BLOCKING_BIT | TaskId::REMOTE_BIT);
        let named = if id.0 & TaskId::BLOCKING_BIT != 0 {
            None // a `spawn_blocking` job is never polled, so it never awaits anything
        } else if id.0 & TaskId::REMOTE_BIT != 0 {
            u32::try_from(number)
                .ok()
                .filter(|number| *number < Self::REMOTE_BASE)
                .map(|number| Self::REMOTE_BASE + number)
        } else {
            u32::try_from(number + 2)
                .ok()
                .filter(|name| *name <= Self::LAST_LOCAL)
        };
        named.map_or(Awaiter::UNKNOWN, Awaiter)
    }

    /// Whether this names the main future or a task (not `UNKNOWN` or `NOTED`).
    pub(crate) fn is_named(self) -> bool {
        self.0 >= Awaiter::MAIN.0
    }
}

/// What every waker of a task needs to find it again: which loop, which slot.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) id: TaskId,
    pub(crate) home: LoopId,
    /// The task's slot in its loop's table, a `TaskKey` packed in a word (`Header::key`). Set
    /// once, before the task's first poll: when it is spawned on the loop's thread, or when the
    /// loop takes in a task spawned through a `Handle` (until then it is
    /// `TaskKey::UNASSIGNED`, which schedules nothing).
    key: AtomicU64,
    /// Set while the task's key sits in its loop's remote queue, so that a thread waking the
    /// task a million times between two loop turns queues it once. The loop clears it before
    /// it polls the task: a wake that finds it set is covered by that coming poll.
    pub(crate) is_remote_queued: AtomicBool,
    /// Set by `JoinHandle::abort`; checked before each poll (by the task's own poll, which
    /// then answers `Polled::Aborted` instead of polling).
    pub(crate) is_abort_requested: AtomicBool,
    /// `Awaiter::NOTED` if the waker in this task's join cell was left by a `JoinHandle` poll
    /// on its loop's thread (the loop kept a note of whose it is), else `Awaiter::UNKNOWN`:
    /// for the stuck-loop check (`event_loop/stuck.rs`). It fits in padding that `Header` had
    /// anyway (40 bytes with it or without it).
    pub(crate) awaited_by: AtomicU32,
    /// For a local task (`spawn_local`), the number of the thread that spawned it, which is
    /// its loop's (`task/local.rs`); `0` for every other task. Two bytes that `Header` had as
    /// padding: checked only if the task is freed with its future still in it, which the
    /// rules above rule out (`Task`'s `Drop`).
    home_thread: u16,
    /// The task's name and spawn location, kept only when someone will read them: when the
    /// task was given a name, or when the loop records a trace or watches for slow polls.
    /// Boxed, so that an ordinary task pays 8 bytes for it rather than 24 (bytes per task are
    /// a benchmark target: `docs/benchmarks.md`).
    origin: Option<Box<Origin>>,
}

impl Header {
    /// A header; `origin` is kept if `keep_origin` or if it carries a name.
    #[inline]
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
            key: AtomicU64::new(key.pack()),
            is_remote_queued: AtomicBool::new(false),
            is_abort_requested: AtomicBool::new(false),
            awaited_by: AtomicU32::new(Awaiter::UNKNOWN.0),
            home_thread: 0,
            origin: is_wanted.then(|| Box::new(origin)),
        }
    }

    /// The task's slot in its loop's table.
    #[inline]
    pub(crate) fn key(&self) -> TaskKey {
        // `Relaxed` is enough: the key is set before the first poll, on the loop's thread, and
        // every waker is made by a poll, so whoever holds one has seen the key.
        TaskKey::unpack(self.key.load(Ordering::Relaxed))
    }

    /// For a task of a multi-thread runtime, which has no slot: the same word holds where the
    /// task is in its life (queued, running, idle, done) and its place in the runtime's list
    /// of tasks (`multi_thread/state.rs`). One word for both kinds of task, so that neither
    /// pays a byte for the other.
    #[inline(always)]
    pub(crate) fn schedule_word(&self) -> &AtomicU64 {
        &self.key
    }

    /// Gives a task spawned through a `Handle` its slot, as the loop takes it in.
    #[inline]
    pub(crate) fn set_key(&self, key: TaskKey) {
        self.key.store(key.pack(), Ordering::Relaxed);
    }

    /// Whether the loop noted who left the waker in this task's join cell (`NOTED` or
    /// `UNKNOWN`; see `Awaiter`).
    #[inline]
    pub(crate) fn awaited_by(&self) -> Awaiter {
        Awaiter(self.awaited_by.load(Ordering::Relaxed))
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
    /// Where the output waits for the handle (`task/join_cell.rs`: one atomic word, no lock).
    /// An error is kept without its task id, which the header has: 8 bytes less per task
    /// (bytes per task are a benchmark target, `docs/benchmarks.md`).
    join: JoinCell<Result<T, Cause>>,
}

impl<T> TaskShared<T> {
    #[inline]
    pub(crate) fn new(header: Header) -> Self {
        TaskShared {
            header,
            join: JoinCell::new(),
        }
    }

    /// Stores the task's result and wakes whoever awaits the handle. A panic in that waker,
    /// or in the result's `Drop` when nobody will collect it, is contained (`JoinCell`): the
    /// result is stored already, and the loop must not go down with someone else's code
    /// (`finish` also runs outside any poll: on abort, on a panic, at shutdown).
    ///
    /// # Safety
    /// Only the task's finishing side calls it, never from two threads at once: the holder of
    /// the task's `TaskRef`, or the one pool thread that runs a `spawn_blocking` job.
    #[allow(unsafe_code)]
    #[inline] // into `poll_future`, with the common path of `JoinCell::complete`
    pub(crate) unsafe fn finish(&self, result: Result<T, JoinError>) {
        let result = result.map_err(JoinError::into_cause);
        // SAFETY: our caller is the task side, as required above.
        unsafe { self.join.complete(result) }
    }
}

/// A spawned task in one allocation: what its wakers and its `JoinHandle` share, and the
/// future. The loop, every waker and the handle each hold an `Arc` to it.
pub(crate) struct Task<F: Future> {
    shared: TaskShared<F::Output>,
    /// `None` once the future returned `Ready` or was cancelled: it is dropped in place,
    /// before the `JoinHandle` hears about the output. Behind an `UnsafeCell` because the
    /// `Arc` is shared with wakers on other threads while the loop polls the future; see
    /// `TaskRef` for who may touch it.
    future: UnsafeCell<Option<F>>,
}

// SAFETY: wakers, the `JoinHandle` and `AbortHandle`s may be on any thread, so a `Task` must
// be `Sync` and `Send` (its last `Arc` may be dropped anywhere). Two of its parts are neither
// by themselves:
// - `future`. The only code that touches it is `RunTask::poll` (with `DropFutureOnUnwind`,
//   which it makes), `RunTask::fail` and `RunTask::abandon`, all reached only through the
//   task's one `TaskRef`, by value. There is exactly one `TaskRef` per task (it is not
//   `Clone`; `new_task` and `new_local_task` make it), so two threads never touch the future
//   at once: it is only ever polled or dropped by whoever owns that `TaskRef` at the time, and
//   it is dropped before the `TaskRef` is (`TaskRef`'s `Drop`), never with the allocation. It
//   may move between threads with its `TaskRef` (a task spawned through a `Handle` is handed
//   to its loop), which `F: Send` allows. A local task's `F` is a `Local` (`task/local.rs`),
//   `Send` by its own promise that its `TaskRef` never leaves the loop's thread.
// - the output in the join cell, which is `Sync` and `Send` only for a `Send` output
//   (`JoinCell`). `Task`'s fields are private to this module, and its two makers decide:
//   `new_task` requires `F::Output: Send`; `new_local_task` allows any output, and then every
//   access to it is on the loop's thread (module docs, "Who touches a local task's output").
#[allow(unsafe_code)]
unsafe impl<F: Future + Send> Sync for Task<F> {}
// SAFETY: as for `Sync`, just above.
#[allow(unsafe_code)]
unsafe impl<F: Future + Send> Send for Task<F> {}

/// The last line of defence for local tasks. By the rules above the future is gone before the
/// allocation is freed (`TaskRef`'s `Drop` sees to it); if it ever is not, and the task is a
/// local one freed on a thread that is not its loop's (the last `Arc` was a waker or a handle
/// over there), the future must not be dropped here (it may share `Rc`s with its own thread),
/// nor moved (it is pinned): `local::freed_off_its_thread` says so and aborts. One branch per
/// freed task, never taken.
impl<F: Future> Drop for Task<F> {
    fn drop(&mut self) {
        if self.future.get_mut().is_some() && self.shared.header.home_thread != 0 {
            local::check_home_thread(self.shared.header.home_thread);
        }
    }
}

impl<F> ArcWake for Task<F>
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    fn wake_by_ref(arc_self: &Arc<Self>) {
        let header = &arc_self.shared.header;
        if header.home.is_multi_thread() {
            if crate::multi_thread::mark_woken(header) {
                crate::multi_thread::schedule(TaskRef(Arc::clone(arc_self) as ErasedTask));
            }
            return;
        }
        if !wake_task(header) {
            wake_remote(header);
        }
    }

    /// By value: the waker is let go of before a remote wake is sent (`RemoteWake` says why).
    fn wake(self: Arc<Self>) {
        let header = &self.shared.header;
        if header.home.is_multi_thread() {
            // The wake that moves an idle task to "scheduled" is the one that makes its
            // `TaskRef` (`multi_thread/state.rs`): no other exists until the poll is over.
            if crate::multi_thread::mark_woken(header) {
                crate::multi_thread::schedule(TaskRef(self));
            }
            return;
        }
        if wake_task(&self.shared.header) {
            return;
        }
        let remote = claim_remote_wake(&self.shared.header);
        drop(self);
        if let Some(remote) = remote {
            remote.send();
        }
    }
}

/// Allocates a task: the loop's reference to it, and the handle that will collect its output.
pub(crate) fn new_task<F>(header: Header, future: F) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    allocate(header, future)
}

/// The one place a `Task` is made. Its bounds leave out `F::Output: Send`, which `Task`'s
/// `Send` and `Sync` rest on, so only two callers may use it: `new_task`, which requires it,
/// and `new_local_task` (`task/local.rs`), whose output stays on the loop's thread.
#[inline(always)] // the spawn path, as `new_task` was before it delegated here
fn allocate<F>(header: Header, future: F) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    let task = Arc::new(Task {
        shared: TaskShared::new(header),
        future: UnsafeCell::new(Some(future)),
    });
    let handle = JoinHandle::new(Arc::clone(&task) as Arc<dyn Joinable<F::Output>>);
    (TaskRef(task), handle)
}

/// The loop's reference to a task: the only way to poll it or cancel it.
///
/// Owning the `TaskRef` is owning the future. It cannot be cloned, `new_task` makes exactly
/// one per task, and the methods that touch the future take it by value, so whoever holds it
/// (the loop's task table, the loop's thread while it polls the task, or the remote queue on
/// its way to the loop) is the only one who can touch the future. That is what lets the
/// future live in the same allocation as the wakers' `Arc` without a lock.
///
/// Dropping it cancels the task if it has not finished (`abandon`): the future is dropped
/// there, by the holder, and never later with the allocation, on whatever thread lets go of
/// the last `Arc`. The loop ends every task explicitly (`fail`, `release_finished`, `leak`);
/// the `Drop` covers the paths nobody planned: a panic that unwinds through the loop while it
/// holds `TaskRef`s, a task spawned into a loop that is being torn down.
pub(crate) struct TaskRef(ErasedTask);

impl TaskRef {
    /// The header shared with this task's wakers.
    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    /// The address every waker of this task carries as its data pointer (`Waker::data`): the
    /// task's allocation, which `waker_ref` and `ArcWake` hand to the `Waker` as it is. The
    /// stuck check compares it, never dereferences it.
    pub(crate) fn waker_data(&self) -> *const () {
        Arc::as_ptr(&self.0).cast()
    }

    /// How many `Arc`s point at the task: this `TaskRef`, the `JoinHandle` while it lives, and
    /// every clone of its waker. A `Relaxed` load (`Arc::strong_count`); the stuck check says
    /// why that is enough where it reads it.
    pub(crate) fn ref_count(&self) -> usize {
        Arc::strong_count(&self.0)
    }

    /// What the task's join cell says right now (one `Acquire` load of its state).
    pub(crate) fn join_view(&self) -> JoinView {
        self.0.join_view()
    }

    /// Polls the future once with a waker that points at this task, catching a panic, unless
    /// its `JoinHandle` asked for it to be aborted. On `Ready` the future has been dropped and
    /// its output handed to the `JoinHandle` when this returns; on a panic the future has been
    /// dropped during the unwind. The `TaskRef` comes back with the answer, to be parked
    /// again, failed or released.
    #[inline]
    pub(crate) fn poll(self) -> (TaskRef, Polled) {
        let (task, polled) = self.into_task().poll();
        (TaskRef(task), polled)
    }

    /// Drops the future (unless a panicking poll dropped it already), then tells the
    /// `JoinHandle` why the task ended.
    pub(crate) fn fail(self, error: JoinError) {
        self.into_task().fail(error);
    }

    /// Lets go of a task whose poll answered `Polled::Ready`: its future is gone and its
    /// output is with the `JoinHandle`, so there is nothing for `Drop` to check.
    #[inline]
    pub(crate) fn release_finished(self) {
        drop(self.into_task());
    }

    /// Tells the `JoinHandle` why the task ended, and leaks the task: its future is never
    /// dropped, and its allocation never freed (so a pinned future stays where it is, as `Pin`
    /// requires of a future that is not dropped). Only for a loop that gives up on shutting
    /// down the tasks its futures' `Drop`s keep spawning (`Core::shut_down`).
    pub(crate) fn leak(self, error: JoinError) {
        self.into_task().finish_leaked(error);
    }

    /// For the multi-thread runtime: lets go of the right to poll the task without cancelling
    /// it, after a poll that answered `Pending`. The `ParkedTask` gives it back
    /// (`ParkedTask::resume`) if the task was woken during that poll; otherwise the next wake
    /// makes a new `TaskRef` (`multi_thread/state.rs`).
    #[inline]
    pub(crate) fn into_parked(self) -> ParkedTask {
        ParkedTask(self.into_task())
    }

    /// For the multi-thread runtime's list of its tasks: an `Arc` that keeps the task alive
    /// and can cancel it at shutdown, but cannot poll it.
    #[inline]
    pub(crate) fn hold(&self) -> TaskHold {
        TaskHold(Arc::clone(&self.0))
    }

    /// The `Arc` inside, without running `TaskRef`'s `Drop`: for the methods above, each of
    /// which ends the `TaskRef`'s part in the task its own way.
    #[inline(always)]
    fn into_task(self) -> ErasedTask {
        let this = std::mem::ManuallyDrop::new(self);
        #[allow(unsafe_code)]
        // SAFETY: `this` is never dropped (`ManuallyDrop`) and never used after this read, so
        // the `Arc` is moved out exactly once and its count stays right. (Safe code cannot move
        // a field out of a type with a `Drop`; an `Option` inside would cost a branch on every
        // poll and change what a debugger prints for a `TaskRef`, docs/debugging.md.)
        unsafe {
            std::ptr::read(&this.0)
        }
    }
}

impl Drop for TaskRef {
    /// Cancels the task if it has not finished: its future is dropped here, on the thread
    /// that holds the `TaskRef`, and its `JoinHandle` hears `cancelled`.
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// A task of the multi-thread runtime between the end of a poll that answered `Pending` and the
/// moment its state says whether it was woken meanwhile (`multi_thread/worker.rs`). Dropping it
/// does not cancel the task: its state says "idle" by then, and the runtime's list of tasks
/// still holds it.
pub(crate) struct ParkedTask(ErasedTask);

impl ParkedTask {
    /// The `TaskRef` back, for a task woken while it was being polled.
    ///
    /// # Safety
    /// The caller must have seen the task's state go from "running, woken" to "scheduled"
    /// (`multi_thread/state.rs`), so that no wake made another `TaskRef` meanwhile.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn resume(self) -> TaskRef {
        TaskRef(self.0)
    }

    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }
}

/// A multi-thread runtime's own `Arc` to one of its tasks (its list of tasks,
/// `multi_thread/owned.rs`): it keeps the task alive while nothing else may (a task waiting
/// for a waker that sits in another waiting task), so that shutdown can reach and cancel it.
pub(crate) struct TaskHold(ErasedTask);

impl TaskHold {
    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    /// A `TaskRef` for an idle task, to cancel it at shutdown.
    ///
    /// # Safety
    /// The caller must have moved the task's state from "idle" to "scheduled" itself
    /// (`multi_thread/state.rs`): then no other `TaskRef` exists, and none will be made.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn claim(&self) -> TaskRef {
        TaskRef(Arc::clone(&self.0))
    }
}

impl fmt::Debug for TaskHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskHold").field(&self.header().id).finish()
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TaskRef").field(&self.header().id).finish()
    }
}

/// What came of `TaskRef::poll`.
pub(crate) enum Polled {
    /// The future answered `Pending`.
    Pending,
    /// The future finished; its output is with the `JoinHandle`.
    Ready,
    /// The future panicked, and was dropped during the unwind; the payload is for the
    /// `JoinHandle` (`TaskRef::fail`).
    Panicked(Box<dyn Any + Send + 'static>),
    /// Not polled: `JoinHandle::abort` asked for the task to be cancelled first. (Checked
    /// here, inside the task's own poll, rather than by the loop before it: that saves the
    /// loop a dynamic call on every poll.)
    Aborted,
}

/// The loop's `Arc` to a task, with the future's type erased.
type ErasedTask = Arc<dyn RunTask + Send + Sync>;

/// What `TaskRef` can do with a task without knowing its future's type. Private to this
/// module: the methods that touch the future are reachable only through the one `TaskRef`.
trait RunTask {
    fn header(&self) -> &Header;
    /// Takes the loop's `Arc` by value and gives it back, so that the waker it lends for the
    /// poll points at the concrete `Arc<Task<F>>` without touching the reference count.
    fn poll(self: Arc<Self>) -> (ErasedTask, Polled);
    fn fail(&self, error: JoinError);
    /// `fail` with a cancellation, unless the task has finished: `TaskRef`'s `Drop`.
    fn abandon(&self);
    fn finish_leaked(self: Arc<Self>, error: JoinError);
    fn join_view(&self) -> JoinView;
}

impl<F> RunTask for Task<F>
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    fn header(&self) -> &Header {
        &self.shared.header
    }

    fn poll(self: Arc<Self>) -> (ErasedTask, Polled) {
        if self
            .shared
            .header
            .is_abort_requested
            .load(Ordering::Acquire)
        {
            return (self, Polled::Aborted);
        }
        let polled = match catch_unwind(AssertUnwindSafe(|| self.poll_future())) {
            Ok(Poll::Pending) => Polled::Pending,
            Ok(Poll::Ready(())) => Polled::Ready,
            Err(payload) => Polled::Panicked(payload),
        };
        (self, polled)
    }

    fn fail(&self, error: JoinError) {
        #[allow(unsafe_code)]
        // SAFETY: called through the task's one `TaskRef` (`TaskRef::fail`, or its `Drop` by
        // way of `abandon`; see the `Sync` impl), so nothing else is using the future, and no
        // reference into it outlives this statement.
        let future = unsafe { &mut *self.future.get() };
        // Dropped in place (it is pinned). Its `Drop` is user code and may panic; the
        // assignment leaves `None` either way, and the handle still hears about it.
        let _ = catch_unwind(AssertUnwindSafe(|| *future = None));
        #[allow(unsafe_code)]
        // SAFETY: the holder of the `TaskRef` is the task's finishing side.
        unsafe {
            self.shared.finish(Err(error));
        }
    }

    fn abandon(&self) {
        // Only the task side (the holder of the `TaskRef`: us) sets `COMPLETE`, so this reads
        // our own earlier write, if any.
        if !self.shared.join.is_complete() {
            self.fail(JoinError::cancelled(self.shared.header.id));
        }
    }

    fn join_view(&self) -> JoinView {
        self.shared.join.view()
    }

    fn finish_leaked(self: Arc<Self>, error: JoinError) {
        #[allow(unsafe_code)]
        // SAFETY: the holder of the `TaskRef` is the task's finishing side.
        unsafe {
            self.shared.finish(Err(error));
        }
        // The loop's reference is never released, so the future is never dropped or moved.
        std::mem::forget(self);
    }
}

impl<F> Task<F>
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    fn poll_future(self: &Arc<Self>) -> Poll<()> {
        // Made first, so that the `&mut` below is the latest reference to the future while the
        // poll runs; it drops the future only if the poll unwinds (it is forgotten otherwise).
        let on_unwind = DropFutureOnUnwind(&self.future);
        #[allow(unsafe_code)]
        // SAFETY: called through the task's one `TaskRef` (see the `Sync` impl), so this is
        // the only reference to the future while it lives; it ends with this function.
        let slot = unsafe { &mut *self.future.get() };
        let Some(future) = slot.as_mut() else {
            return Poll::Ready(()); // finished already; the loop never polls it again
        };
        #[allow(unsafe_code)]
        // SAFETY: the future sits inside the `Arc`'s allocation, which never moves, and it is
        // never moved out of `slot`: it is dropped in place (`*slot = None`), or with the
        // allocation when the last `Arc` goes.
        let future = unsafe { Pin::new_unchecked(future) };
        // `waker_ref` lends a waker that points at this task without touching its reference
        // count; only a leaf future that keeps the waker pays for a clone.
        let waker = waker_ref(self);
        let mut cx = Context::from_waker(&waker);
        let answer = future.poll(&mut cx);
        std::mem::forget(on_unwind);
        match answer {
            Poll::Ready(output) => {
                *slot = None;
                #[allow(unsafe_code)]
                // SAFETY: the holder of the `TaskRef` is the task's finishing side.
                unsafe {
                    self.shared.finish(Ok(output));
                }
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Drops a task's future when its poll unwinds from a panic: the future is dropped while the
/// panic is in flight, as tokio and async-task do, so that a guard inside it sees
/// `std::thread::panicking()` and can roll back. Made by `poll_future` just before the poll,
/// and forgotten if the poll returns.
struct DropFutureOnUnwind<'a, F>(&'a UnsafeCell<Option<F>>);

impl<F> Drop for DropFutureOnUnwind<'_, F> {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: this runs only while `poll_future` unwinds, and `poll_future` is reached only
        // through the task's one `TaskRef` (see the `Sync` impl). The poll that held the other
        // reference to the future has unwound already and never uses it again, so this is the
        // only reference to the future while it lives; it ends with this function.
        let slot = unsafe { &mut *self.0.get() };
        // Dropped in place (it is pinned). A panic in its `Drop` must not leave this `Drop`:
        // escaping a `Drop` during an unwind aborts the process. The assignment leaves `None`
        // either way, so `fail` finds nothing left to drop.
        let _ = catch_unwind(AssertUnwindSafe(|| *slot = None));
    }
}

/// What a `JoinHandle` needs from its task, whatever the future's type: the shared part.
/// Also implemented by `TaskShared` alone, for `spawn_blocking` jobs, which have no future.
pub(crate) trait Joinable<T>: Send + Sync {
    fn shared(&self) -> &TaskShared<T>;
    /// The same task as an `AbortHandle` sees it. A method, because turning an
    /// `Arc<dyn Joinable<T>>` into an `Arc<dyn Abortable>` is trait upcasting, which Rust 1.85
    /// does not have; inside, `Self` is the concrete type and the coercion is an ordinary one.
    fn into_abortable(self: Arc<Self>) -> Arc<dyn Abortable>;
}

/// What an `AbortHandle` needs from its task, without the output's type: the header (the
/// id, the abort flag, where to send the wake) and whether the task has finished.
pub(crate) trait Abortable: Send + Sync {
    fn header(&self) -> &Header;
    fn is_finished(&self) -> bool;
    /// Wakes the task so that its loop or runtime sees the abort request: through the task's
    /// own waker, which knows both kinds of home (a task of a multi-thread runtime needs its
    /// `Arc`, not just its header, to be queued).
    fn wake_for_abort(self: Arc<Self>);
}

impl<T: Send + 'static> Joinable<T> for TaskShared<T> {
    fn shared(&self) -> &TaskShared<T> {
        self
    }

    fn into_abortable(self: Arc<Self>) -> Arc<dyn Abortable> {
        self
    }
}

impl<T: Send> Abortable for TaskShared<T> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn is_finished(&self) -> bool {
        self.join.is_complete()
    }

    /// A `spawn_blocking` job: never polled, so there is nothing to wake (it finishes, or
    /// not, on its pool thread; `spawn_blocking` says so).
    fn wake_for_abort(self: Arc<Self>) {}
}

impl<F> Joinable<F::Output> for Task<F>
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    fn shared(&self) -> &TaskShared<F::Output> {
        &self.shared
    }

    fn into_abortable(self: Arc<Self>) -> Arc<dyn Abortable> {
        self
    }
}

impl<F> Abortable for Task<F>
where
    F: Future + Send + 'static,
    F::Output: 'static,
{
    fn header(&self) -> &Header {
        &self.shared.header
    }

    fn is_finished(&self) -> bool {
        self.shared.join.is_complete()
    }

    fn wake_for_abort(self: Arc<Self>) {
        ArcWake::wake(self);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::waker::{LoopId, TaskKey};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;
    use std::task::Waker;

    // These drive a task by hand, without a loop, to exercise the `unsafe` in `Task` under
    // miri (`scripts/miri.sh` runs the unit tests): polling the future in place, dropping it
    // in place, and freeing the task from another thread.

    /// A header for a task driven by hand, with no loop (also used by `task/local.rs`).
    pub(crate) fn header() -> Header {
        Header::new(
            TaskId(1),
            LoopId::NONE,
            TaskKey::MAIN,
            Origin::default(),
            false,
        )
    }

    /// Polls a handle once with a waker that does nothing.
    fn poll_handle<T: Send + 'static>(handle: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
        Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
    }

    /// `Pending` once, then `Ready`; keeps the waker it was given, as a leaf future does.
    struct PendingOnce {
        is_done: bool,
        keep_waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for PendingOnce {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if std::mem::replace(&mut self.is_done, true) {
                return Poll::Ready(());
            }
            *self.keep_waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn pending_once() -> (PendingOnce, Arc<Mutex<Option<Waker>>>) {
        let keep_waker = Arc::new(Mutex::new(None));
        let future = PendingOnce {
            is_done: false,
            keep_waker: Arc::clone(&keep_waker),
        };
        (future, keep_waker)
    }

    /// Counts how often it is dropped.
    struct CountDrops(Arc<AtomicUsize>);

    impl Drop for CountDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_self_referential_future_is_polled_in_place_until_ready() {
        let (wait, _waker) = pending_once();
        let future = async move {
            let numbers = [1, 2, 3];
            let borrowed = &numbers; // a reference into the future itself, held across a pause
            wait.await;
            borrowed.iter().sum::<i32>()
        };
        let (task, mut handle) = new_task(header(), future);
        let (task, first) = task.poll();
        assert!(matches!(first, Polled::Pending));
        assert!(matches!(poll_handle(&mut handle), Poll::Pending));
        let (task, second) = task.poll();
        assert!(matches!(second, Polled::Ready));
        drop(task);
        assert!(matches!(poll_handle(&mut handle), Poll::Ready(Ok(6))));
    }

    #[test]
    fn cancelling_drops_the_future_in_place_once_and_the_handle_hears_it() {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrops(Arc::clone(&drops));
        let (wait, _waker) = pending_once();
        let (task, mut handle) = new_task(header(), async move {
            let _guard = guard;
            wait.await;
        });
        let (task, _) = task.poll();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        task.fail(JoinError::cancelled(TaskId(1)));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "cancelling drops the future"
        );
        match poll_handle(&mut handle) {
            Poll::Ready(Err(error)) => assert!(error.is_cancelled()),
            other => panic!("expected a cancelled JoinError, got {other:?}"),
        }
        drop(handle);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "and only once");
    }

    #[test]
    fn a_future_whose_drop_panics_is_cancelled_all_the_same() {
        struct PanicOnDrop;
        impl Drop for PanicOnDrop {
            fn drop(&mut self) {
                panic!("drop panics");
            }
        }
        let (wait, _waker) = pending_once();
        let (task, mut handle) = new_task(header(), async move {
            let _bomb = PanicOnDrop;
            wait.await;
        });
        let (task, _) = task.poll();
        task.fail(JoinError::cancelled(TaskId(1)));
        assert!(
            matches!(poll_handle(&mut handle), Poll::Ready(Err(error)) if error.is_cancelled())
        );
    }

    #[test]
    fn a_panicking_poll_is_caught_and_the_task_can_still_be_failed() {
        let (task, mut handle) = new_task(header(), async {
            panic!("boom");
        });
        let (task, polled) = task.poll();
        let Polled::Panicked(payload) = polled else {
            panic!("the poll panicked");
        };
        task.fail(JoinError::panicked(TaskId(1), payload));
        match poll_handle(&mut handle) {
            Poll::Ready(Err(error)) => assert!(error.is_panic()),
            other => panic!("expected a panicked JoinError, got {other:?}"),
        }
    }

    /// Counts its drops, and notes whether the thread was unwinding at the first one.
    struct NotesUnwind {
        drops: Arc<AtomicUsize>,
        was_unwinding: Arc<AtomicBool>,
    }

    impl Drop for NotesUnwind {
        fn drop(&mut self) {
            self.was_unwinding
                .store(std::thread::panicking(), Ordering::SeqCst);
            self.drops.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Panics when polled; its guard is a field, dropped only with the future.
    struct PanicsWhenPolled(#[allow(dead_code)] NotesUnwind);

    impl Future for PanicsWhenPolled {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            panic!("boom");
        }
    }

    #[test]
    fn a_panicking_poll_drops_the_future_during_the_unwind_and_fail_does_not_again() {
        let drops = Arc::new(AtomicUsize::new(0));
        let was_unwinding = Arc::new(AtomicBool::new(false));
        let (task, mut handle) = new_task(
            header(),
            PanicsWhenPolled(NotesUnwind {
                drops: Arc::clone(&drops),
                was_unwinding: Arc::clone(&was_unwinding),
            }),
        );
        let (task, polled) = task.poll();
        let Polled::Panicked(payload) = polled else {
            panic!("the poll panicked");
        };
        assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped by the poll");
        assert!(
            was_unwinding.load(Ordering::SeqCst),
            "while the panic unwound"
        );
        task.fail(JoinError::panicked(TaskId(1), payload));
        assert_eq!(drops.load(Ordering::SeqCst), 1, "and only then");
        assert!(matches!(poll_handle(&mut handle), Poll::Ready(Err(error)) if error.is_panic()));
    }

    #[test]
    fn an_unpolled_task_dropped_by_everyone_drops_its_future_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrops(Arc::clone(&drops));
        let (task, handle) = new_task(header(), async move {
            let _guard = guard;
        });
        drop(handle);
        drop(task);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// A `TaskRef` dropped while its task is unfinished (no `fail`: a panic unwinding through
    /// the loop, a table dropped with tasks in it) cancels the task there and then: the future
    /// is dropped on the dropping thread, the handle hears `cancelled`, and the waker that
    /// holds the last `Arc` frees only the allocation, on another thread. Fails with
    /// `abandon` doing nothing (mutation tried by hand): the future was dropped by the waker,
    /// on the other thread, and the handle never heard.
    #[test]
    fn a_dropped_task_ref_drops_the_future_here_and_a_waker_frees_the_rest_elsewhere() {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrops(Arc::clone(&drops));
        let (wait, kept_waker) = pending_once();
        let (task, mut handle) = new_task(header(), async move {
            let _guard = guard;
            wait.await;
        });
        let (task, _) = task.poll(); // the future keeps a clone of the task's waker
        drop(task);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "dropped with its `TaskRef`"
        );
        assert!(
            matches!(poll_handle(&mut handle), Poll::Ready(Err(error)) if error.is_cancelled())
        );
        drop(handle);
        let waker = kept_waker
            .lock()
            .unwrap()
            .take()
            .expect("the poll kept its waker");
        drop(kept_waker);
        std::thread::spawn(move || {
            waker.wake_by_ref(); // names no loop: does nothing
            drop(waker); // the last reference: the allocation goes here
        })
        .join()
        .unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// A task that finished is not cancelled by its `TaskRef`'s `Drop`: the handle gets the
    /// output, and the future is dropped once. (The loop lets go of such a `TaskRef` through
    /// `release_finished`, which skips the check; a plain drop must be just as harmless.)
    #[test]
    fn dropping_the_task_ref_of_a_finished_task_changes_nothing() {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = CountDrops(Arc::clone(&drops));
        let (task, mut handle) = new_task(header(), async move {
            let _guard = guard;
            7
        });
        let (task, polled) = task.poll();
        assert!(matches!(polled, Polled::Ready));
        drop(task);
        assert!(matches!(poll_handle(&mut handle), Poll::Ready(Ok(7))));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    /// `Header::awaited_by` and `Header::home_thread` sit in padding the header had: a task is
    /// no bigger for them (bytes per task are a benchmark target: `benches/alloc_per_task.rs`
    /// counts 128).
    #[test]
    fn the_header_keeps_its_40_bytes() {
        assert_eq!(std::mem::size_of::<Header>(), 40);
    }

    /// Two tasks of a loop never share an `Awaiter` name: the main future, tasks spawned on
    /// the loop's thread and tasks spawned through a `Handle` each get their own range, and an
    /// id that does not fit is `UNKNOWN`, which names nobody.
    #[test]
    fn awaiter_names_are_distinct_and_an_id_too_big_is_unknown() {
        let names = [
            Awaiter::of(TaskId(0)),
            Awaiter::of(TaskId(1)),
            Awaiter::of(TaskId(2)),
            Awaiter::of(TaskId((1 << 31) - 3)),
            Awaiter::of(TaskId::remote(1)),
            Awaiter::of(TaskId::remote((1 << 31) - 1)),
        ];
        assert_eq!(names[0], Awaiter::MAIN);
        for (index, name) in names.iter().enumerate() {
            assert!(name.is_named(), "{index}: {name:?}");
            assert!(!names[..index].contains(name), "{index}: {name:?} twice");
        }
        for too_big in [
            TaskId((1 << 31) - 2),
            TaskId(u64::from(u32::MAX) + 7),
            TaskId::remote(1 << 31),
            TaskId::blocking(1),
        ] {
            assert_eq!(Awaiter::of(too_big), Awaiter::UNKNOWN, "{too_big}");
        }
        assert!(!Awaiter::UNKNOWN.is_named() && !Awaiter::NOTED.is_named());
    }

    #[test]
    fn task_ids_print_as_task_hash_number() {
        assert_eq!(TaskId(7).to_string(), "task#7");
        assert_eq!(format!("{:?}", TaskId(7)), "task#7");
        assert_eq!(TaskId::blocking(7).to_string(), "blocking#7");
        assert_eq!(TaskId::remote(7).to_string(), "task#r7");
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
