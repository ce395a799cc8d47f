//! The event loop: [`EventLoop`], [`run`], [`spawn`], and the loop's state.
//!
//! Lesson 12 builds a loop that polls every task over and over; lesson 13 runs the same program
//! here (chapter: `docs/event-loop.md`). This file holds what the loop *is*: its state
//! (`Core`: the task table and run queue, timers, the reactor, the remote queue), the
//! thread-local "current loop", spawning, and the entry points. What the loop *does*, one turn
//! at a time, is in `event_loop/turn.rs`; the task table in `event_loop/scheduler.rs`.
//!
//! # Rules this module keeps
//! - Everything here runs on the loop's thread; `EventLoop` is not `Send`.
//! - The task's future is polled in exactly one place, `Core::poll_task`, which catches
//!   panics and turns them into a `JoinError`.
//! - No `RefCell` borrow is held while user code runs (a poll, a `Drop`, a `wake`).
//! - Dropping the loop drops every unfinished future, on this thread, with the loop still
//!   "current", so the futures' own `Drop`s (a `Sleep` leaving the timer queue) find it. The
//!   one exception ends a shutdown that would never end: tasks that futures' `Drop`s are still
//!   spawning after `MAX_SHUTDOWN_ROUNDS` rounds are leaked, never dropped (and never twice).
//!
//! # Why `park` and not a busy loop
//! `std::thread::park_timeout` blocks in the kernel until the deadline or an `unpark` from a
//! remote waker. An idle loop costs no CPU at all; the idle-CPU test in `tests/timers.rs`
//! measures it.

mod auto_advance;
mod builder;
mod handle;
mod scheduler;
mod seeded;
mod stuck;
mod turn;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use futures_task::ArcWake;

use crate::reactor::Reactor;
use crate::sync_first::{EagerDepth, SuspendScope};
use crate::task::{
    new_local_task, new_task, Header, HomeThread, JoinError, JoinHandle, Origin, TaskId, TaskRef,
};
use crate::time::{Registration, TimerQueue, VirtualClock};
use crate::trace::{ObserveConfig, Observer, ObserverSlot, Timeline, WakeOrigin};
use crate::waker::{
    claim_remote_wake, register_loop, unregister_loop, wake_remote, wake_task, LoopId, Shared,
    TaskKey,
};
pub use builder::Builder;
pub use handle::Handle;
pub(crate) use scheduler::cut_vacant_tail;
use scheduler::Scheduler;
pub(crate) use seeded::SeededOrder;
pub(crate) use stuck::note_join_waker;
use stuck::{JoinWakerNote, MIN_NOTES_BEFORE_PRUNING};

/// Messages for misuse, kept in one place and tested.
pub(crate) const SPAWN_OUTSIDE_LOOP: &str = "`miniloop::spawn` called outside an event loop; \
     there is no loop on this thread to run the task; wrap your program in \
     `miniloop::run(async { ... })`, or call `spawn` on an `EventLoop` you created";
pub(crate) const SPAWN_LOCAL_OUTSIDE_LOOP: &str = "`miniloop::spawn_local` called outside an \
     event loop; there is no loop on this thread to run the task, and a local task can only \
     ever run on the thread that spawns it; wrap your program in `miniloop::run(async { ... })`, \
     or call `spawn_local` on an `EventLoop` you created on this thread";
pub(crate) const NESTED_RUN: &str = "`miniloop::run` (or `run_until_complete`) called while an \
     event loop is already running on this thread; blocking here would stop every other task \
     of the outer loop, which could never finish; `.await` the future instead, or move the \
     blocking code into `miniloop::spawn_blocking`";

/// How many rounds of drops a loop's shutdown makes before it gives up. Dropping a future may
/// spawn a task, so shutdown drops the loop's tasks in rounds until a round spawns nothing. A
/// future whose `Drop` spawns another such future would keep that going for ever; after this
/// many rounds the tasks still left are leaked instead (`Core::leak_on_shutdown`).
pub(crate) const MAX_SHUTDOWN_ROUNDS: u32 = 1000;

thread_local! {
    /// The loop running on this thread, if any: how `spawn`, wakers and timers find it.
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Calls `f` with the loop running on this thread; `None` if there is none (or if this thread
/// is being torn down).
pub(crate) fn with_current_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            current.as_deref().map(f)
        })
        .ok()
        .flatten()
}

/// The unfinished tasks of the loop running on this thread, one line each: the name and the
/// spawn location, as the stuck report gives them. For the test watchdog's report
/// (`src/explore.rs`), which runs inside the main future, when no task is out of its slot.
pub(crate) fn pending_tasks() -> Vec<String> {
    let pending = with_current_core(|core| {
        let scheduler = core.scheduler.try_borrow().ok()?;
        let tasks = scheduler.parked_tasks()?;
        let lines = tasks.iter().map(|(_, task)| {
            let header = task.header();
            match header.spawned_at() {
                Some(at) => format!("{} (spawned at {at})", crate::trace::label(header)),
                None => crate::trace::label(header),
            }
        });
        Some(lines.collect())
    });
    pending.flatten().unwrap_or_default()
}

/// Runs `future` to completion on a fresh event loop and returns its output: the
/// `asyncio.run` of miniloop.
///
/// `future` need not be `Send` or `'static`: it stays on this thread's stack. Tasks it spawned
/// that are still unfinished when it returns are dropped (cancelled), as when an [`EventLoop`]
/// is dropped (see there for the one case where some are leaked instead).
///
/// # Panics
/// If an event loop is already running on this thread (see [`EventLoop::run_until_complete`]),
/// and if `future` panics.
///
/// # Examples
/// ```
/// let greeting = miniloop::run(async { "hello" });
/// assert_eq!(greeting, "hello");
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    // Refuse nesting before creating anything (`run_until_complete` checks again).
    if with_current_core(|_| ()).is_some() || crate::multi_thread::is_inside() {
        panic!("{NESTED_RUN}");
    }
    let event_loop = EventLoop::new();
    event_loop.run_until_complete(future)
}

/// Spawns `future` as a task on the event loop running on this thread.
///
/// The task starts at the loop's next turn; it runs whether or not you await the handle.
///
/// # Panics
/// If no event loop is running on this thread; the message names the fix.
///
/// # Examples
/// ```
/// miniloop::run(async {
///     let handle = miniloop::spawn(async { 1 + 1 });
///     assert_eq!(handle.await.unwrap(), 2);
/// });
/// ```
/// A future that is not `Send` cannot be spawned:
/// ```compile_fail
/// miniloop::run(async {
///     let not_send = std::rc::Rc::new(5);
///     miniloop::spawn(async move { *not_send });
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with_origin(future, Origin::here())
}

/// `spawn` with a name and spawn location (`task::Builder` comes here too).
#[track_caller]
pub(crate) fn spawn_with_origin<F>(future: F, origin: Origin) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut parts = Some((future, origin));
    let handle = with_current_core(|core| {
        let (future, origin) = parts.take().expect("taken once");
        core.spawn(future, origin)
    });
    if let Some(handle) = handle {
        return handle;
    }
    // Not on a loop's thread: on a worker of a multi-thread runtime, or inside its `block_on`?
    let (future, origin) = parts.take().expect("the closure did not run");
    match crate::multi_thread::spawn_here(future, origin) {
        Ok(handle) => handle,
        // The panic stays in this function's body so that `#[track_caller]` names the caller.
        Err(_) => panic!("{SPAWN_OUTSIDE_LOOP}"),
    }
}

/// Spawns `future`, which need not be `Send`, as a task on the event loop running on this
/// thread: the `spawn` for futures that hold an `Rc`, a `RefCell` borrow or anything else
/// that must stay on one thread across an `.await`.
///
/// The task never leaves this thread: it is polled and dropped only here. Its output need not
/// be `Send` either; the [`JoinHandle`] is then not `Send` (it carries the output). Wakers of
/// the task are ordinary wakers: another thread may wake it. It costs what `spawn` costs.
///
/// # Panics
/// If no event loop is running on this thread; the message names the fix.
///
/// # Examples
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// miniloop::run(async {
///     let log = Rc::new(RefCell::new(Vec::new()));
///     let in_task = Rc::clone(&log);
///     let handle = miniloop::spawn_local(async move {
///         in_task.borrow_mut().push("before");
///         miniloop::sleep(Duration::from_millis(1)).await; // the `Rc` is held across this
///         in_task.borrow_mut().push("after");
///         in_task // the output is not `Send` either
///     });
///     let log_again = handle.await.unwrap();
///     assert_eq!(*log_again.borrow(), ["before", "after"]);
///     assert!(Rc::ptr_eq(&log, &log_again));
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_with_origin(future, Origin::here())
}

/// `spawn_local` with a name and spawn location (`task::Builder` comes here too).
#[track_caller]
pub(crate) fn spawn_local_with_origin<F>(future: F, origin: Origin) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let handle = with_current_core(move |core| core.spawn_local(future, origin));
    match handle {
        Some(handle) => handle,
        // The panic stays in this function's body so that `#[track_caller]` names the caller.
        None => panic!("{SPAWN_LOCAL_OUTSIDE_LOOP}"),
    }
}

/// A single-threaded event loop: it owns tasks, a run queue and timers.
///
/// # Examples
/// ```
/// let event_loop = miniloop::EventLoop::new();
/// // Like `loop.create_task` in Python: the task waits until the loop runs.
/// let handle = event_loop.spawn(async { 40 + 2 });
/// let answer = event_loop.run_until_complete(async { handle.await.unwrap() });
/// assert_eq!(answer, 42);
/// ```
#[derive(Debug)]
pub struct EventLoop {
    core: Rc<Core>,
}

impl EventLoop {
    /// Creates a loop that is not running yet. `MINILOOP_TRACE` and `MINILOOP_SLOW_POLL_MS`
    /// switch on the trace and the slow-poll detector (see [`crate::trace`]).
    pub fn new() -> Self {
        Self::with_config(ObserveConfig::from_env())
    }

    /// A [`Builder`], to set the trace, the slow-poll detector and the timeline in code.
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn with_config(config: ObserveConfig) -> Self {
        let id = LoopId::next();
        let observer = ObserverSlot::new(config);
        let traces = observer.get().is_some_and(Observer::is_tracing);
        let shared = Arc::new(Shared::new(observer.get().is_some(), traces));
        register_loop(id, Arc::clone(&shared));
        let main_origin = Origin {
            name: Some("main".into()),
            spawned_at: None,
        };
        let main_waker = Arc::new(MainWaker {
            header: Header::new(TaskId(0), id, TaskKey::MAIN, main_origin, true),
        });
        let core = Core {
            id,
            scheduler: RefCell::new(Scheduler::new()),
            timers: RefCell::new(TimerQueue::default()),
            shared,
            main_waker,
            reactor: RefCell::new(None),
            remote_batch: RefCell::new(Vec::new()),
            turn_batch: RefCell::new(Vec::new()),
            remote_spawn_batch: RefCell::new(Vec::new()),
            due_wakers: RefCell::new(Vec::new()),
            observer,
            turn_clock: Cell::new(None),
            clock: None,
            // Room for a few notes, so that the first `JoinHandle` a program awaits allocates
            // nothing.
            awaits_noted: RefCell::new(Vec::with_capacity(4)),
            prune_notes_at: Cell::new(MIN_NOTES_BEFORE_PRUNING),
            home_thread: HomeThread::current(),
            seeded: Cell::new(None),
        };
        EventLoop {
            core: Rc::new(core),
        }
    }

    /// A [`Handle`] to this loop, to spawn tasks on it from other threads.
    pub fn handle(&self) -> Handle {
        self.core.handle()
    }

    /// Spawns `future` as a task of this loop; it runs when the loop runs.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.spawn(future, Origin::here())
    }

    /// Spawns `future`, which need not be `Send`, as a task of this loop (see
    /// [`spawn_local`]); it runs when the loop runs, on this thread, as every task of the loop.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    ///
    /// let event_loop = miniloop::EventLoop::new();
    /// let shared = Rc::new(40);
    /// let in_task = Rc::clone(&shared);
    /// let handle = event_loop.spawn_local(async move { *in_task + 2 });
    /// let answer = event_loop.run_until_complete(async { handle.await.unwrap() });
    /// assert_eq!(answer, 42);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.core.spawn_local(future, Origin::here())
    }

    #[track_caller]
    pub(crate) fn spawn_with_origin<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.core.spawn(future, origin)
    }

    /// Spawns `future` on this loop and polls it once right away (see
    /// [`spawn_eager`](crate::spawn_eager)). The loop need not be running.
    ///
    /// As there, at most 16 eager polls nest on one thread: called from inside the 16th, this
    /// is a plain [`spawn`](EventLoop::spawn), polled when the loop next runs a turn.
    #[track_caller]
    pub fn spawn_eager<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        // Make this loop current for the first poll, so timers and sockets find it.
        let _current = CurrentGuard::swap_in(Some(Rc::clone(&self.core)));
        self.core.spawn_eager(future, Origin::here())
    }

    /// What the loop recorded, if it was built with
    /// [`record_timeline`](Builder::record_timeline); empty otherwise.
    pub fn timeline(&self) -> Timeline {
        self.core
            .observer
            .get()
            .map(|observer| observer.timeline())
            .unwrap_or_default()
    }

    /// Runs the loop until `future` completes, and returns its output. Tasks that are still
    /// unfinished stay in the loop for the next call (or are dropped with it).
    ///
    /// # Panics
    /// If an event loop is already running on this thread: blocking inside a task would stall
    /// that loop forever. The message says what to do instead. Also if `future` panics.
    #[track_caller]
    pub fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        let is_nested = with_current_core(|_| ()).is_some() || crate::multi_thread::is_inside();
        if is_nested {
            panic!("{NESTED_RUN}");
        }
        let _current = CurrentGuard::enter(&self.core);
        // The loop's tasks may wait, even if this loop was started inside a `run_now` section.
        let _may_suspend = SuspendScope::allow();
        self.core.run_until_complete(future)
    }

    /// How many tasks have been spawned and have not finished, counted from the moment
    /// `spawn` returns: a task spawned through a [`Handle`] counts while it waits for the
    /// loop's next turn to take it in.
    pub fn live_tasks(&self) -> usize {
        self.core.scheduler.borrow().live_tasks() + self.core.shared.queued_spawns()
    }

    /// Sockets registered with this loop's reactor (to check that closed sockets leave it).
    #[doc(hidden)]
    pub fn registered_sockets(&self) -> usize {
        self.core
            .with_existing_reactor(|reactor| reactor.registered())
            .unwrap_or(0)
    }

    /// The sizes of the loop's tables, to check that a spike of tasks or timers is given
    /// back once the loop is idle: `[task slots, task slot capacity, timer slots, timer slot
    /// capacity, timer heap capacity, timer lane capacity]`.
    #[doc(hidden)]
    pub fn table_sizes(&self) -> [usize; 6] {
        let (slots, capacity) = self.core.scheduler.borrow().table_size();
        let [timer_slots, timer_capacity, heap, lane] = self.core.timers.borrow().table_size();
        [slots, capacity, timer_slots, timer_capacity, heap, lane]
    }

    /// Entries in the timer heap, cancelled ones included (to check that cancelled timers
    /// do not accumulate).
    #[doc(hidden)]
    pub fn timer_heap_len(&self) -> usize {
        self.core.timers.borrow().heap_len()
    }

    /// Whether a timer is still filed: waiting, or fired and not yet collected by its `Sleep`
    /// (to check that finished and dropped sleeps leave the queue).
    #[doc(hidden)]
    pub fn has_timers(&self) -> bool {
        !self.core.timers.borrow().is_empty()
    }
}

impl Default for EventLoop {
    fn default() -> Self {
        Self::new()
    }
}

/// Dropping a loop cancels its unfinished tasks: each future is dropped once, on this thread,
/// with the loop current, and each `JoinHandle` then reports a cancellation.
///
/// A future's `Drop` may spawn a task, which is then dropped too, so shutdown goes in rounds
/// until one spawns nothing. After 1 000 rounds it stops: the tasks the last round spawned
/// are leaked (never polled, never dropped, their memory never freed; their handles report a
/// cancellation) with a message on stderr, so that a future whose `Drop` always spawns another
/// cannot keep the drop from returning.
impl Drop for EventLoop {
    fn drop(&mut self) {
        // The futures' own `Drop`s may look for the loop (a `Sleep` leaves the timer queue,
        // a future spawns a task); make this loop current while they run, even if another
        // loop is running on this thread.
        let _current = CurrentGuard::swap_in(Some(Rc::clone(&self.core)));
        self.core.shut_down();
        unregister_loop(self.core.id);
        // A `Handle` may outlive the loop and keep `shared` alive: it must not keep the
        // poller's eventfd open too.
        self.core.shared.close_io_waker();
    }
}

/// Sets `CURRENT` for as long as it lives; restores the previous value on drop, also when
/// unwinding from a panic, so a later `run` on this thread works.
struct CurrentGuard {
    previous: Option<Rc<Core>>,
}

impl CurrentGuard {
    fn enter(core: &Rc<Core>) -> Self {
        Self::swap_in(Some(Rc::clone(core)))
    }

    /// Where `CURRENT` is already torn down (a loop kept in a `thread_local!` and dropped as
    /// its thread exits, after `CURRENT`'s own destructor ran), there is nothing to set: the
    /// futures dropped then find no loop, as anywhere outside one. `with` would panic there,
    /// and a panic in a thread-local destructor aborts the process.
    fn swap_in(core: Option<Rc<Core>>) -> Self {
        let previous = CURRENT
            .try_with(|current| current.replace(core))
            .ok()
            .flatten();
        CurrentGuard { previous }
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|current| current.replace(previous));
    }
}

/// The waker of the `run_until_complete` future: it lives on the caller's stack, not in the
/// task table, so its waker only sets a flag (or sends `TaskKey::MAIN` from afar).
#[derive(Debug)]
struct MainWaker {
    header: Header,
}

impl ArcWake for MainWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if !wake_task(&arc_self.header) {
            wake_remote(&arc_self.header);
        }
    }

    /// By value: the waker is let go of before a remote wake is sent (`RemoteWake` says why).
    fn wake(self: Arc<Self>) {
        if wake_task(&self.header) {
            return;
        }
        let remote = claim_remote_wake(&self.header);
        drop(self);
        if let Some(remote) = remote {
            remote.send();
        }
    }
}

/// The loop's state. Shared (`Rc`) between the `EventLoop` and the `CURRENT` slot.
#[derive(Debug)]
pub(crate) struct Core {
    id: LoopId,
    scheduler: RefCell<Scheduler>,
    timers: RefCell<TimerQueue>,
    shared: Arc<Shared>,
    main_waker: Arc<MainWaker>,
    /// The I/O reactor, opened when the first socket registers (`with_reactor`).
    reactor: RefCell<Option<Reactor>>,
    /// Reused buffers, so a turn allocates nothing: keys taken from the remote queue, tasks
    /// spawned through a `Handle`, and wakers of due timers.
    remote_batch: RefCell<Vec<TaskKey>>,
    /// The keys the turn is polling (`run_ready_tasks`): the run queue as it was when the
    /// turn began. Empty between turns, kept for its capacity.
    turn_batch: RefCell<Vec<TaskKey>>,
    remote_spawn_batch: RefCell<Vec<TaskRef>>,
    due_wakers: RefCell<Vec<std::task::Waker>>,
    /// The trace, slow-poll detector and timeline; `None` when all are off, so that each hook
    /// costs one branch.
    observer: ObserverSlot,
    /// The clock as first read during this turn (`turn_now`); cleared when a turn begins.
    turn_clock: Cell<Option<Instant>>,
    /// The virtual clock of a loop built with `start_paused(true)`; `None`: the real clock
    /// (`Core::now`, and `src/time/virtual_clock.rs` for why a loop cannot switch later).
    clock: Option<VirtualClock>,
    /// Which waker a `JoinHandle` poll on this thread left in which task's join cell, oldest
    /// first, for the stuck check to name who awaits each (`event_loop/stuck.rs`). Read only
    /// by the check; pruned when it reaches `prune_notes_at`.
    awaits_noted: RefCell<Vec<JoinWakerNote>>,
    /// The length of `awaits_noted` at which its stale notes are pruned: twice what the last
    /// pruning kept, so that pruning costs O(1) per note.
    prune_notes_at: Cell<usize>,
    /// The thread this loop runs on, as a local task's header names it (`src/task/local.rs`):
    /// read once here, so that `spawn_local` copies it rather than asking the thread.
    home_thread: HomeThread,
    /// The generator that orders each turn's ready tasks when the loop was built with a seed
    /// (`event_loop/seeded.rs`); `None`, the default, is first in, first out.
    seeded: Cell<Option<SeededOrder>>,
}

impl Core {
    pub(crate) fn id(&self) -> LoopId {
        self.id
    }

    /// A [`Handle`] to this loop (`EventLoop::handle`, `Handle::current`).
    fn handle(&self) -> Handle {
        Handle::new(self.id, Arc::clone(&self.shared))
    }

    pub(crate) fn timers(&self) -> &RefCell<TimerQueue> {
        &self.timers
    }

    /// A time no later than now: the clock as first read during this turn. A new `Sleep`'s
    /// first poll asks it "has my deadline passed already?"; 10 000 sleeps polled in one turn
    /// then read the clock once, not 10 000 times (about 37 ns a read on this machine:
    /// `sleep_many` in docs/benchmarks.md). An answer from earlier in the turn can only say
    /// "not yet" too often, never too early: such a timer is filed and fires at this turn's
    /// `fire_due_timers`, which reads the clock afresh.
    pub(crate) fn turn_now(&self) -> Instant {
        match self.turn_clock.get() {
            Some(now) => now,
            None => {
                let now = self.now();
                self.turn_clock.set(Some(now));
                now
            }
        }
    }

    /// The loop's clock: the real one, or the virtual one of a loop built paused. Every timer
    /// deadline the loop compares is on this clock (`time::now` reads it too).
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match &self.clock {
            None => Instant::now(),
            Some(clock) => clock.now(),
        }
    }

    /// The virtual clock, if the loop was built with `start_paused(true)`.
    pub(crate) fn virtual_clock(&self) -> Option<&VirtualClock> {
        self.clock.as_ref()
    }

    /// The loop's `Shared`, if it has a virtual clock (`spawn_blocking` counts its jobs there).
    pub(crate) fn shared_if_virtual_clock(&self) -> Option<Arc<Shared>> {
        self.clock.as_ref().map(|_| Arc::clone(&self.shared))
    }

    /// Gives a loop that was just made (no task, no `Handle` yet) a paused virtual clock
    /// (`Builder::start_paused`).
    fn start_paused(core: &mut Rc<Core>) {
        let core = Rc::get_mut(core).expect("a loop being built is not shared yet");
        core.clock = Some(VirtualClock::new_paused());
    }

    /// Forgets a dropped (or moved) `Sleep`'s timer, if this loop holds it and can reach it
    /// now: `Ok` with the waker it held, for the caller to drop. `Err` when the timer is
    /// another loop's (or the queue is busy): the caller sends it to its home loop instead.
    pub(crate) fn cancel_timer(
        &self,
        registration: Registration,
    ) -> Result<Option<std::task::Waker>, Registration> {
        if registration.home != self.id {
            return Err(registration);
        }
        match self.timers.try_borrow_mut() {
            Ok(mut timers) => Ok(timers.cancel(registration.key)),
            Err(_) => Err(registration),
        }
    }

    /// Cancels the timers that were dropped or moved away from this loop while it could not
    /// be reached (step 1 of a turn, with the remote wakes).
    fn take_in_timer_cancels(&self) {
        let mut keys = self.shared.take_timer_cancels();
        if keys.is_empty() {
            return;
        }
        let stale_wakers: Vec<_> = {
            let mut timers = self.timers.borrow_mut();
            keys.drain(..)
                .filter_map(|key| timers.cancel(key))
                .collect()
        };
        drop(stale_wakers); // outside the borrow: dropping a waker may run code
    }

    /// Calls `f` with the loop's reactor, opening it on first use.
    pub(crate) fn with_reactor<R>(&self, f: impl FnOnce(&mut Reactor) -> R) -> std::io::Result<R> {
        let mut reactor = self.reactor.borrow_mut();
        if reactor.is_none() {
            let (new_reactor, io_waker) = Reactor::new()?;
            // Before the loop first blocks in the poller: see `Shared::push_remote`.
            self.shared.set_io_waker(io_waker);
            *reactor = Some(new_reactor);
        }
        Ok(f(reactor.as_mut().expect("opened just above")))
    }

    /// Like `with_reactor`, but never opens one: `None` if the loop has no reactor (or it is
    /// busy, as during shutdown).
    pub(crate) fn with_existing_reactor<R>(&self, f: impl FnOnce(&mut Reactor) -> R) -> Option<R> {
        self.reactor.try_borrow_mut().ok()?.as_mut().map(f)
    }

    fn spawn<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_allocated(origin, |header| new_task(header, future))
    }

    /// `spawn` for a future that need not be `Send`: the same steps, with `new_local_task`
    /// making the task. Only on the loop's thread (`Core` is not `Send`), which is what a
    /// local task's soundness rests on (`src/task/local.rs`).
    pub(crate) fn spawn_local<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_allocated(origin, |header| {
            new_local_task(header, self.home_thread, future)
        })
    }

    /// Gives a new task a slot and an id, lets `allocate` make it, files it in the table and
    /// queues its first poll.
    #[inline(always)] // the spawn path: one copy per future type, as before it was shared
    fn spawn_allocated<T>(
        &self,
        origin: Origin,
        allocate: impl FnOnce(Header) -> (TaskRef, JoinHandle<T>),
    ) -> JoinHandle<T> {
        let mut scheduler = self.scheduler.borrow_mut();
        let (key, id) = scheduler.reserve();
        let keep_origin = self.observer.get().is_some();
        let (task, handle) = allocate(Header::new(id, self.id, key, origin, keep_origin));
        if let Some(observer) = self.observer.get() {
            observer.spawned(task.header());
        }
        scheduler.insert(key, task);
        handle
    }

    /// Ends shutdown's rounds of drops (`MAX_SHUTDOWN_ROUNDS`): each of `tasks` is reported
    /// cancelled and leaked, not dropped, since dropping would spawn yet more.
    #[cold]
    fn leak_on_shutdown(&self, tasks: Vec<TaskRef>) {
        crate::trace::warn(
            crate::trace::Warning::Shutdown,
            format_args!(
                "dropping the event loop's tasks kept spawning new tasks for \
                 {MAX_SHUTDOWN_ROUNDS} rounds; leaking the {} spawned by the last round (never \
                 run, never dropped, reported cancelled) so that the loop's shutdown ends; a \
                 `Drop` that spawns a task each time it runs does this",
                tasks.len()
            ),
        );
        for task in tasks {
            let task_id = task.header().id;
            if let Some(observer) = self.observer.get() {
                observer.ended(task.header(), "cancelled");
            }
            task.leak(JoinError::cancelled(task_id));
        }
    }

    /// Spawns `future` and polls it once, now, on this stack (see `sync_first.rs`); a plain
    /// spawn if `MAX_EAGER_DEPTH` eager polls are on the stack already.
    pub(crate) fn spawn_eager<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(_depth) = EagerDepth::enter() else {
            return self.spawn(future, origin);
        };
        let (key, task, handle) = {
            let mut scheduler = self.scheduler.borrow_mut();
            let (key, id) = scheduler.reserve();
            let (task, handle) = self.new_task(key, id, future, origin);
            if let Some(observer) = self.observer.get() {
                observer.spawned(task.header());
            }
            scheduler.insert_polling(key);
            (key, task, handle)
        };
        // The new task is not the caller: it may suspend even inside a `run_now` section.
        let _may_suspend = SuspendScope::allow();
        self.poll_task(key, task);
        handle
    }

    /// Allocates a task (one allocation: `src/task.rs`): the loop's reference and the handle.
    fn new_task<F>(
        &self,
        key: TaskKey,
        id: TaskId,
        future: F,
        origin: Origin,
    ) -> (TaskRef, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let keep_origin = self.observer.get().is_some();
        let header = Header::new(id, self.id, key, origin, keep_origin);
        new_task(header, future)
    }

    /// The same-thread half of a wake (see `waker.rs`). `false` sends the waker down the
    /// remote path: another loop's task, or the scheduler is busy (a wake from inside a `Drop`
    /// that runs while it is borrowed), in which case the remote queue defers it to the next turn.
    pub(crate) fn try_schedule_here(&self, header: &Header) -> bool {
        if header.home != self.id {
            return false;
        }
        let Ok(mut scheduler) = self.scheduler.try_borrow_mut() else {
            return false;
        };
        scheduler.schedule(header.key());
        drop(scheduler);
        if let Some(observer) = self.observer.get() {
            observer.woke(header, WakeOrigin::LoopThread);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptors this process has open (Linux: the entries of `/proc/self/fd`).
    fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd")
            .expect("Linux lists a process's descriptors in /proc/self/fd")
            .count()
    }

    /// Guarantee (issue 20, item 6): a dropped loop leaves the list of loops that remote
    /// wakers search (`waker.rs`), and with it the eventfd its reactor's waker holds. Each of
    /// 300 loops opens a socket (so it has a reactor and an eventfd), keeps no `Handle`, and is
    /// dropped: none is still listed, and the process has not kept 300 descriptors more. Fails
    /// with `unregister_loop` doing nothing (mutation tried by hand): every loop stayed listed,
    /// holding its eventfd open.
    #[test]
    #[cfg_attr(miri, ignore = "opens sockets, which miri does not support")]
    fn dropped_loops_leave_the_loop_list_and_close_their_eventfd() {
        const LOOPS: usize = 300;
        let fds_before = open_fds();
        let mut ids = Vec::with_capacity(LOOPS);
        for _ in 0..LOOPS {
            let event_loop = EventLoop::new();
            ids.push(event_loop.core.id());
            event_loop.run_until_complete(async {
                let listener = crate::net::TcpListener::bind("127.0.0.1:0").await;
                listener.expect("a local port is free");
            });
            assert!(crate::waker::is_registered(event_loop.core.id()));
            drop(event_loop);
        }
        let still_listed = ids
            .iter()
            .filter(|&&id| crate::waker::is_registered(id))
            .count();
        assert_eq!(still_listed, 0, "dropped loops still listed");
        // Other tests in this binary may open a few descriptors meanwhile; not hundreds.
        let grown = open_fds().saturating_sub(fds_before);
        assert!(
            grown < LOOPS / 3,
            "{grown} more descriptors open after {LOOPS} loops"
        );
    }
}
