//! Waking: how a `Waker` finds its task's loop and puts the task back on the run queue.
//!
//! Lesson 12's loop polls every task on every turn, awake or not; lesson 13 replaces that with
//! wakers (chapter: `docs/tasks-and-wakers.md`). A task's waker is an `Arc<TaskShared<T>>`
//! turned into a `Waker` by futures-task's `ArcWake`; waking it calls [`wake_task`] with the
//! task's [`Header`]: which loop (`home`) and which slot (`key`).
//!
//! # Two paths
//! - **Same thread, loop running** (a timer firing, one task waking another, `yield_now`): the
//!   key goes straight onto the loop's `run_queue`. No lock, no atomic read-modify-write.
//! - **Anywhere else** (another thread, or a loop that is not the one running here): the key
//!   goes into the loop's `remote_queue` behind a `Mutex`, and the loop's thread is unparked.
//!
//! # Rules this module keeps
//! - A remote wake pushes the key, then raises `has_remote_wakes`, then unparks the loop. The
//!   loop checks the flag *before* it parks. `park` keeps the unpark as a token, so a wake that lands between
//!   the check and the park makes the park return at once: no wake-up is lost. With a reactor,
//!   the unpark is a write to the poller's eventfd, which is sticky in the same way.
//! - A waker that outlives its loop finds no entry in [`LOOPS`] and does nothing.
//! - A waker woken by value from another thread lets go of its `Arc` before the wake is sent
//!   ([`RemoteWake`]), so that the loop never counts a spent waker (the stuck check).
//!
//! # Why an address book of loops and not a pointer to the loop in every task
//! A reference-counted pointer in each task costs two atomic operations per spawn (clone and
//! drop), paid by every task. A global list costs a lock only on the slow remote path, and
//! it answers "is the loop still there?" for free.

use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::Thread;

use crate::event_loop::with_current_core;
use crate::task::{Header, TaskRef};
use crate::time::TimerKey;
use crate::trace::RemoteWakers;

/// A loop's number, unique for the life of the process (never reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LoopId(u64);

impl LoopId {
    /// No loop: the home of `spawn_blocking` jobs, which are never polled. Never registered,
    /// so a wake aimed at it finds nothing and does nothing.
    pub(crate) const NONE: LoopId = LoopId(0);

    /// Marks the ids of multi-thread runtimes (`src/multi_thread.rs`): a task whose home has
    /// it is woken through that runtime's queues, never through the address book below.
    const MULTI_THREAD_BIT: u64 = 1 << 63;

    pub(crate) fn next() -> LoopId {
        LoopId(NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// A number for a new multi-thread runtime, from the same counter as the loops'.
    pub(crate) fn next_multi_thread() -> LoopId {
        LoopId(NEXT_LOOP_ID.fetch_add(1, Ordering::Relaxed) | Self::MULTI_THREAD_BIT)
    }

    /// Whether this names a multi-thread runtime rather than a single-thread loop.
    #[inline(always)]
    pub(crate) fn is_multi_thread(self) -> bool {
        self.0 & Self::MULTI_THREAD_BIT != 0
    }
}

/// The numbers of loops and runtimes, never reused.
static NEXT_LOOP_ID: AtomicU64 = AtomicU64::new(1);

/// Where a task lives in its loop's task table: the slot, and which use of that slot.
/// The generation makes a stale key (its task finished, the slot reused) harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl TaskKey {
    /// The key of the future given to `run_until_complete`, which lives on the caller's
    /// stack rather than in the task table.
    pub(crate) const MAIN: TaskKey = TaskKey {
        index: u32::MAX,
        generation: 0,
    };

    /// The key of a task spawned through a `Handle` that its loop has not taken in yet. No
    /// slot has this index, so a wake aimed at it (an early `abort`) schedules nothing.
    pub(crate) const UNASSIGNED: TaskKey = TaskKey {
        index: u32::MAX - 1,
        generation: 0,
    };

    /// The key as one word, to keep in an atomic.
    #[inline]
    pub(crate) fn pack(self) -> u64 {
        (u64::from(self.index) << 32) | u64::from(self.generation)
    }

    /// The key that `pack` made this word from.
    #[inline]
    pub(crate) fn unpack(word: u64) -> TaskKey {
        TaskKey {
            index: (word >> 32) as u32,
            generation: word as u32,
        }
    }
}

/// The part of a loop that other threads may touch.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Keys woken from other threads, waiting for the loop to move them to its run queue.
    remote_queue: Mutex<Vec<TaskKey>>,
    /// Tasks spawned through a `Handle`, waiting for the loop to take them in. `None` once the
    /// loop has shut down: a spawn that finds it so cancels its task at once.
    remote_spawns: Mutex<Option<Vec<TaskRef>>>,
    /// Timers of this loop whose `Sleep` was dropped, or polled by another loop, where this
    /// loop could not be reached; the loop cancels them at its next turn.
    cancelled_timers: Mutex<Vec<TimerKey>>,
    /// The numbers of tasks spawned through a `Handle` (`TaskId::remote`).
    next_remote_id: AtomicU64,
    /// Whether the loop keeps every task's name and spawn location (it observes).
    pub(crate) keeps_origins: bool,
    /// Who woke each task from afar, for the trace; `None` unless the loop traces.
    pub(crate) remote_wakers: Option<RemoteWakers>,
    /// Set after every push; the loop looks at this flag on each turn and takes the lock
    /// only when it is set, so a loop nobody wakes from afar never touches the `Mutex`.
    has_remote_wakes: AtomicBool,
    /// How many `Handle`s of the loop exist: while one does, the loop is never stuck (it can
    /// spawn). Counted apart from this `Shared`'s own `Arc`, which a remote wake also holds
    /// for a moment, after the loop may have heard of it (`event_loop/stuck.rs`).
    handles: AtomicUsize,
    /// `spawn_blocking` jobs started from this loop that have not finished, counted only on a
    /// loop with a virtual clock: its clock does not jump while one runs
    /// (`event_loop/auto_advance.rs`).
    blocking_jobs: AtomicUsize,
    /// The thread that runs the loop (an `EventLoop` is not `Send`, so this never changes).
    /// It is unparked by a remote wake while the loop has no reactor.
    loop_thread: Thread,
    /// Once the loop has a reactor it blocks in the OS poller, not in `park`; this interrupts
    /// that wait. Set once, on the loop's thread, before the loop first blocks in the poller;
    /// taken out (closing its eventfd) when the loop is dropped, since a `Handle` or a waker
    /// may keep this `Shared` alive for long after. A `Mutex` rather than a `OnceLock` for
    /// that take: it is locked only on the remote path, which writes an eventfd anyway.
    io_waker: Mutex<Option<mio::Waker>>,
}

impl Shared {
    pub(crate) fn new(keeps_origins: bool, names_remote_wakers: bool) -> Self {
        Shared {
            remote_queue: Mutex::new(Vec::new()),
            remote_spawns: Mutex::new(Some(Vec::new())),
            cancelled_timers: Mutex::new(Vec::new()),
            next_remote_id: AtomicU64::new(1),
            keeps_origins,
            remote_wakers: names_remote_wakers.then(RemoteWakers::default),
            has_remote_wakes: AtomicBool::new(false),
            handles: AtomicUsize::new(0),
            blocking_jobs: AtomicUsize::new(0),
            loop_thread: std::thread::current(),
            io_waker: Mutex::new(None),
        }
    }

    /// Hands over the reactor's waker; from now on remote wakes interrupt the poller.
    pub(crate) fn set_io_waker(&self, waker: mio::Waker) {
        *self.lock_io_waker() = Some(waker);
        // Pairs with the fence in `notify_loop`; see there.
        fence(Ordering::SeqCst);
    }

    fn lock_io_waker(&self) -> MutexGuard<'_, Option<mio::Waker>> {
        // Only a store, a take and a `wake` (a write to an eventfd) happen under this lock.
        self.io_waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Closes the poller's wake descriptor: the loop is gone. A remote wake that comes later
    /// finds no loop in the address book, or, if it found `Shared` just before, `unpark`s a
    /// thread that no longer waits for it, which is harmless.
    pub(crate) fn close_io_waker(&self) {
        let io_waker = self.lock_io_waker().take();
        drop(io_waker); // outside the lock
    }

    pub(crate) fn lock_remote_queue(&self) -> MutexGuard<'_, Vec<TaskKey>> {
        // No code that can panic runs under this lock; recover the data if one ever did.
        self.remote_queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a remote wake may be waiting (the loop's cheap check before it blocks).
    pub(crate) fn has_remote_wakes(&self) -> bool {
        self.has_remote_wakes.load(Ordering::Acquire)
    }

    fn lock_remote_spawns(&self) -> MutexGuard<'_, Option<Vec<TaskRef>>> {
        // As for the remote queue: nothing that can panic runs under this lock.
        self.remote_spawns
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A `Handle` was made (`Handle::new`, `Handle::clone`).
    pub(crate) fn add_handle(&self) {
        // `Relaxed`: a `Handle` is made from another one, or on the loop's thread.
        self.handles.fetch_add(1, Ordering::Relaxed);
    }

    /// A `Handle` was dropped. `Release`: whatever it did before (a spawn, which raised
    /// `has_remote_wakes`) is seen by a loop that sees it gone (the stuck check's fence).
    pub(crate) fn remove_handle(&self) {
        self.handles.fetch_sub(1, Ordering::Release);
    }

    /// How many `Handle`s exist (a `Relaxed` load: the stuck check fences after it).
    pub(crate) fn handles(&self) -> usize {
        self.handles.load(Ordering::Relaxed)
    }

    /// A `spawn_blocking` job started from this loop (one with a virtual clock).
    pub(crate) fn blocking_job_started(&self) {
        self.blocking_jobs.fetch_add(1, Ordering::Relaxed);
    }

    /// That job finished, after it handed over its result (which woke the awaiting task, a
    /// remote wake). The last one also wakes the loop: it may be waiting in real time only
    /// because this job ran, and may now jump its clock instead.
    pub(crate) fn blocking_job_ended(&self) {
        if self.blocking_jobs.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.notify_loop();
        }
    }

    /// Whether a counted `spawn_blocking` job still runs. A job's result wakes its task
    /// before the job stops counting, so a loop that reads 0 here and then finds no remote
    /// wake has truly nothing to wait for from the pool.
    pub(crate) fn has_blocking_jobs(&self) -> bool {
        self.blocking_jobs.load(Ordering::Acquire) != 0
    }

    /// A number for a task spawned through a `Handle`.
    pub(crate) fn next_remote_id(&self) -> u64 {
        self.next_remote_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a task spawned through a `Handle` for the loop, and wakes the loop. Gives the
    /// task back if the loop has shut down.
    pub(crate) fn push_spawn(&self, task: TaskRef) -> Result<(), TaskRef> {
        match &mut *self.lock_remote_spawns() {
            Some(queue) => queue.push(task),
            None => return Err(task),
        }
        self.notify_loop();
        Ok(())
    }

    /// How many tasks spawned through a `Handle` wait for the loop to take them in.
    pub(crate) fn queued_spawns(&self) -> usize {
        self.lock_remote_spawns().as_ref().map_or(0, Vec::len)
    }

    /// Closes the queue of spawned tasks (the loop is shutting down) and returns what was in
    /// it, for the loop to cancel.
    pub(crate) fn close_remote_spawns(&self) -> Vec<TaskRef> {
        self.lock_remote_spawns().take().unwrap_or_default()
    }

    /// Moves the tasks spawned through a `Handle` into `batch` (the loop calls it when
    /// `take_remote_wakes` said something came from afar).
    pub(crate) fn take_remote_spawns(&self, batch: &mut Vec<TaskRef>) {
        if let Some(queue) = &mut *self.lock_remote_spawns() {
            std::mem::swap(batch, queue);
        }
    }

    /// Moves every remotely woken key into `batch`. Returns whether anything came from afar
    /// (a wake or a spawn). The turn calls it only after `has_remote_wakes` said yes, so the
    /// common turn pays that one load and not this swap.
    pub(crate) fn take_remote_wakes(&self, batch: &mut Vec<TaskKey>) -> bool {
        // Cleared before the lock: a push that lands after the swap sets it again, so the
        // next turn looks again; a push before it is in the queue we are about to take.
        let has_come = self.has_remote_wakes.swap(false, Ordering::AcqRel);
        if has_come {
            std::mem::swap(batch, &mut *self.lock_remote_queue());
        }
        has_come
    }

    /// Puts back a key that the loop took but could not handle yet (its task was being
    /// polled); `raise_remote_flag` after the last one makes the next turn look again.
    pub(crate) fn requeue_remote_wake(&self, key: TaskKey) {
        self.lock_remote_queue().push(key);
    }

    /// Makes the loop's next turn look at the remote queue (called on the loop's thread, so
    /// nothing needs unparking).
    pub(crate) fn raise_remote_flag(&self) {
        self.has_remote_wakes.store(true, Ordering::Release);
    }

    fn lock_cancelled_timers(&self) -> MutexGuard<'_, Vec<TimerKey>> {
        // Only pushes and takes happen under this lock; nothing in it can panic.
        self.cancelled_timers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Files a timer of this loop to be cancelled at its next turn (see `cancel_timer_at`).
    fn push_timer_cancel(&self, key: TimerKey) {
        self.lock_cancelled_timers().push(key);
        self.notify_loop();
    }

    /// The timers to cancel (the loop calls it in step 1 of a turn).
    pub(crate) fn take_timer_cancels(&self) -> Vec<TimerKey> {
        std::mem::take(&mut *self.lock_cancelled_timers())
    }

    fn push_remote(&self, key: TaskKey) {
        self.lock_remote_queue().push(key);
        self.notify_loop();
    }

    /// Tells the loop that something came from afar, after it was queued.
    fn notify_loop(&self) {
        // The flag after the push, the unpark after the flag: a loop that saw the flag unset
        // and parked is unparked; one that is still running sees the flag on its next turn.
        self.has_remote_wakes.store(true, Ordering::Release);
        // After the flag: see `remote_work_came`.
        REMOTE_PUSHES.fetch_add(1, Ordering::Release);
        // After the push, never before: see "Rules" above. The loop stores `io_waker`, then
        // (later, before it blocks in the poller) loads the flag; we store the flag, then load
        // `io_waker`. Two threads each storing one thing and loading the other may both read
        // the old values (the store-buffer pattern) unless a `SeqCst` fence stands between each
        // store and load, here and in `set_io_waker`. With both, one of us sees the other: the
        // loop sees the flag and does not block, or we see `io_waker` and write the eventfd (an
        // `unpark` would not reach a loop blocked in the poller). The fence costs a few
        // nanoseconds on a path that takes a lock and makes a system call anyway. The loom
        // model `tests/loom_io_waker.rs` checks this, and fails without the fences.
        fence(Ordering::SeqCst);
        match &*self.lock_io_waker() {
            // If the eventfd cannot be written, the loop wakes at its next event or deadline.
            Some(io_waker) => drop(io_waker.wake()),
            None => self.loop_thread.unpark(),
        }
    }
}

/// How many times anything was pushed to any loop from afar, in this process. `yield_now`
/// compares it with the count it saw last on its thread (`remote_work_came`): one global load
/// instead of finding the current loop (a thread-local lookup and a borrow, 20 instructions
/// of `yield_many`'s 286) on every yield. A counter shared by every loop is a contended cache
/// line only on the remote path, which takes a lock and makes a system call anyway.
static REMOTE_PUSHES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// `REMOTE_PUSHES` as `remote_work_came` last saw it on this thread.
    static REMOTE_PUSHES_SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Whether anything was pushed to a loop from another thread since this thread last asked.
/// `true` means "look" (the push may be another loop's); `false` means nothing pushed before
/// this call (in happens-before order) is waiting. The counter is bumped after the loop's
/// flag is raised, so a caller that sees the new count sees the flag too (`Acquire`).
pub(crate) fn remote_work_came() -> bool {
    let pushes = REMOTE_PUSHES.load(Ordering::Acquire);
    REMOTE_PUSHES_SEEN
        .try_with(|seen| seen.replace(pushes) != pushes)
        .unwrap_or(true)
}

/// Every live loop, by id: how a waker on another thread finds its loop.
static LOOPS: Mutex<Vec<(LoopId, Arc<Shared>)>> = Mutex::new(Vec::new());

fn lock_loops() -> MutexGuard<'static, Vec<(LoopId, Arc<Shared>)>> {
    LOOPS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists a new loop so that remote wakers can find it.
pub(crate) fn register_loop(id: LoopId, shared: Arc<Shared>) {
    lock_loops().push((id, shared));
}

/// Removes a loop that is shutting down; wakes that arrive later are dropped.
pub(crate) fn unregister_loop(id: LoopId) {
    let removed = {
        let mut loops = lock_loops();
        loops
            .iter()
            .position(|(listed, _)| *listed == id)
            .map(|position| loops.swap_remove(position))
    };
    drop(removed); // outside the lock
}

/// Whether loop `id` is still listed (for the test that dropped loops leave the list).
#[cfg(test)]
pub(crate) fn is_registered(id: LoopId) -> bool {
    find_loop(id).is_some()
}

fn find_loop(id: LoopId) -> Option<Arc<Shared>> {
    lock_loops()
        .iter()
        .find(|(listed, _)| *listed == id)
        .map(|(_, shared)| Arc::clone(shared))
}

/// Sends a timer's cancellation to its loop, which is not the one running here (or none
/// is): the loop frees the entry, and drops the waker it held, at its next turn. Without this
/// a `Sleep` polled by two loops in turn, or dropped outside its loop, left its entry (and a
/// waker clone) in the first loop until that loop was dropped.
pub(crate) fn cancel_timer_at(home: LoopId, key: TimerKey) {
    if let Some(shared) = find_loop(home) {
        shared.push_timer_cancel(key);
    }
}

/// Puts the task that `header` describes back on its loop's run queue if that loop runs on
/// this thread, and says so. `false`: it does not, and the caller sends the wake from afar,
/// by reference with [`wake_remote`], or, for a wake by value, with [`claim_remote_wake`] and
/// [`RemoteWake::send`], letting go of its `Arc` in between ([`RemoteWake`] says why).
/// Returning a `bool` keeps the same-thread path as short as it was (an `Option<RemoteWake>`
/// returned from here cost `yield_many` 14 instructions per yield). `#[inline]`: a task's
/// waker is generic code compiled in the caller's crate, and without it every wake is a call
/// into this crate (`ping_pong_rounds` 1 326 -> 1 422 instructions). gdb then finds two copies
/// (`Breakpoint 1.1`, `1.2`), and `break miniloop::waker::wake_task` stops in both.
#[inline]
pub(crate) fn wake_task(header: &Header) -> bool {
    with_current_core(|core| core.try_schedule_here(header)) == Some(true)
}

/// The slow path of a wake by reference, out of line so that the same-thread path stays small.
#[cold]
#[inline(never)]
pub(crate) fn wake_remote(header: &Header) {
    if let Some(remote) = claim_remote_wake(header) {
        remote.send();
    }
}

/// Marks the task as on its way to its loop from afar; the `RemoteWake` to send, or `None`
/// if it is on its way already (the coming poll covers this wake too).
#[cold]
#[inline(never)]
pub(crate) fn claim_remote_wake(header: &Header) -> Option<RemoteWake> {
    if header.is_remote_queued.swap(true, Ordering::AcqRel) {
        return None; // already on its way: the coming poll covers this wake too
    }
    Some(RemoteWake {
        home: header.home,
        key: header.key(),
    })
}

/// A wake for a loop on another thread (or not running): which loop, which slot. It needs no
/// header, so a waker woken by value can drop its `Arc` before sending it. It must: once the
/// loop hears of the wake it may poll the task and come back to wait, and the stuck check
/// (`event_loop/stuck.rs`) must not find the spent waker still counted, or it would take it
/// for one that could wake the task again, and never report a loop stuck after that wake.
#[must_use = "a remote wake does nothing until it is sent"]
#[derive(Debug)]
pub(crate) struct RemoteWake {
    home: LoopId,
    key: TaskKey,
}

impl RemoteWake {
    /// Queues the key in its loop's remote queue, and wakes the loop.
    #[cold]
    #[inline(never)]
    pub(crate) fn send(self) {
        if let Some(shared) = find_loop(self.home) {
            if let Some(wakers) = &shared.remote_wakers {
                wakers.note(self.key); // the loop traces: it will say which thread woke
            }
            shared.push_remote(self.key);
        }
    }
}
