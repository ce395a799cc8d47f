//! The event loop: [`EventLoop`], [`run`], [`spawn`] and the loop's turn.
//!
//! Lesson 12 builds a loop that polls every task over and over; lesson 13 runs the same program
//! here (chapter: `docs/event-loop.md`). One turn of this loop:
//!
//! 1. poll the `run_until_complete` future if it was woken;
//! 2. poll each task that was in the run queue when the turn began (a task woken during the
//!    turn waits for the next one, so a task that keeps waking itself cannot starve others);
//! 3. move wakes from other threads into the run queue;
//! 4. fire the timers whose deadline has passed;
//! 5. if nothing is runnable, block once: until the earliest deadline or a remote wake.
//!
//! # Rules this module keeps
//! - Everything here runs on the loop's thread; `EventLoop` is not `Send`.
//! - The task's future is polled in exactly one place, `Core::poll_task`, which catches
//!   panics and turns them into a `JoinError`.
//! - No `RefCell` borrow is held while user code runs (a poll, a `Drop`, a `wake`).
//! - Dropping the loop drops every unfinished future, on this thread, with the loop still
//!   "current", so the futures' own `Drop`s (a `Sleep` leaving the timer queue) find it.
//!
//! # Why `park` and not a busy loop
//! `std::thread::park_timeout` blocks in the kernel until the deadline or an `unpark` from a
//! remote waker. An idle loop costs no CPU at all; the idle-CPU test in `tests/timers.rs`
//! measures it.

mod builder;
mod scheduler;

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_task::{waker_ref, ArcWake};

use crate::reactor::Reactor;
use crate::sync_first::SuspendScope;
use crate::task::{Header, JoinError, JoinHandle, Origin, TaskBody, TaskId, TaskShared};
use crate::time::{Registration, TimerQueue};
use crate::trace::{ObserveConfig, Observer, ObserverSlot, Timeline, WakeOrigin};
use crate::waker::{register_loop, unregister_loop, wake_task, LoopId, Shared, TaskKey};
pub use builder::Builder;
use scheduler::{Body, Scheduler, Taken};

/// Messages for misuse, kept in one place and tested.
pub(crate) const SPAWN_OUTSIDE_LOOP: &str = "`miniloop::spawn` called outside an event loop; \
     there is no loop on this thread to run the task; wrap your program in \
     `miniloop::run(async { ... })`, or call `spawn` on an `EventLoop` you created";
pub(crate) const NESTED_RUN: &str = "`miniloop::run` (or `run_until_complete`) called while an \
     event loop is already running on this thread; blocking here would stop every other task \
     of the outer loop, which could never finish; `.await` the future instead, or move the \
     blocking code into `miniloop::spawn_blocking`";

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

/// Runs `future` to completion on a fresh event loop and returns its output: the
/// `asyncio.run` of miniloop.
///
/// `future` need not be `Send` or `'static`: it stays on this thread's stack. Tasks it spawned
/// that are still unfinished when it returns are dropped (cancelled).
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
    if with_current_core(|_| ()).is_some() {
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
    let mut spawn_args = Some((future, origin));
    let handle = with_current_core(|core| {
        let (future, origin) = spawn_args.take().expect("taken once");
        core.spawn(future, origin)
    });
    match handle {
        Some(handle) => handle,
        // The panic stays in this function's body so that `#[track_caller]` names the caller.
        None => panic!("{SPAWN_OUTSIDE_LOOP}"),
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
        let shared = Arc::new(Shared::new());
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
            due_wakers: RefCell::new(Vec::new()),
            observer: ObserverSlot::new(config),
        };
        EventLoop {
            core: Rc::new(core),
        }
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
        let is_nested = with_current_core(|_| ()).is_some();
        if is_nested {
            panic!("{NESTED_RUN}");
        }
        let _current = CurrentGuard::enter(&self.core);
        // The loop's tasks may wait, even if this loop was started inside a `run_now` section.
        let _may_suspend = SuspendScope::allow();
        self.core.run_until_complete(future)
    }

    /// How many tasks have been spawned and have not finished.
    pub fn live_tasks(&self) -> usize {
        self.core.scheduler.borrow().live_tasks()
    }

    /// Sockets registered with this loop's reactor (to check that closed sockets leave it).
    #[doc(hidden)]
    pub fn registered_sockets(&self) -> usize {
        self.core
            .with_existing_reactor(|reactor| reactor.registered())
            .unwrap_or(0)
    }

    /// Entries in the timer heap, cancelled ones included (to check that cancelled timers
    /// do not accumulate).
    #[doc(hidden)]
    pub fn timer_heap_len(&self) -> usize {
        self.core.timers.borrow().heap_len()
    }
}

impl Default for EventLoop {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // The futures' own `Drop`s may look for the loop (a `Sleep` leaves the timer queue,
        // a future spawns a task); make this loop current while they run, even if another
        // loop is running on this thread.
        let _current = CurrentGuard::swap_in(Some(Rc::clone(&self.core)));
        self.core.shut_down();
        unregister_loop(self.core.id);
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

    fn swap_in(core: Option<Rc<Core>>) -> Self {
        let previous = CURRENT.with(|current| current.replace(core));
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
        wake_task(&arc_self.header);
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
    /// Reused buffers, so a turn allocates nothing: keys taken from the remote queue, and
    /// wakers of due timers.
    remote_batch: RefCell<Vec<TaskKey>>,
    due_wakers: RefCell<Vec<std::task::Waker>>,
    /// The trace, slow-poll detector and timeline; `None` when all are off, so that each hook
    /// costs one branch.
    observer: ObserverSlot,
}

impl Core {
    pub(crate) fn id(&self) -> LoopId {
        self.id
    }

    pub(crate) fn timers(&self) -> &RefCell<TimerQueue> {
        &self.timers
    }

    /// Forgets a dropped `Sleep`'s timer; returns its waker for the caller to drop.
    pub(crate) fn cancel_timer(&self, registration: Registration) -> Option<std::task::Waker> {
        if registration.home != self.id {
            return None;
        }
        self.timers.try_borrow_mut().ok()?.cancel(registration.key)
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
        let mut scheduler = self.scheduler.borrow_mut();
        let (key, id) = scheduler.reserve();
        let (mut body, handle) = self.new_task(key, id, future, origin);
        if let Some(observer) = self.observer.get() {
            observer.spawned(body.as_mut().header());
        }
        scheduler.insert(key, body);
        handle
    }

    /// Spawns `future` and polls it once, now, on this stack (see `sync_first.rs`).
    pub(crate) fn spawn_eager<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (key, body, handle) = {
            let mut scheduler = self.scheduler.borrow_mut();
            let (key, id) = scheduler.reserve();
            let (mut body, handle) = self.new_task(key, id, future, origin);
            if let Some(observer) = self.observer.get() {
                observer.spawned(body.as_mut().header());
            }
            scheduler.insert_polling(key);
            (key, body, handle)
        };
        // The new task is not the caller: it may suspend even inside a `run_now` section.
        let _may_suspend = SuspendScope::allow();
        self.poll_task(key, body);
        handle
    }

    /// Allocates a task's two parts: the boxed body and the handle to its shared part.
    fn new_task<F>(
        &self,
        key: TaskKey,
        id: TaskId,
        future: F,
        origin: Origin,
    ) -> (Body, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let keep_origin = self.observer.get().is_some();
        let header = Header::new(id, self.id, key, origin, keep_origin);
        let shared = Arc::new(TaskShared::new(header));
        let handle = JoinHandle::new(Arc::clone(&shared));
        (Box::pin(TaskBody::new(future, shared)), handle)
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
        scheduler.schedule(header.key);
        drop(scheduler);
        if let Some(observer) = self.observer.get() {
            observer.woke(header, WakeOrigin::LoopThread);
        }
        true
    }

    fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let waker = waker_ref(&self.main_waker);
        let mut cx = Context::from_waker(&waker);
        self.scheduler.borrow_mut().is_main_woken = true;
        loop {
            let is_main_woken = std::mem::take(&mut self.scheduler.borrow_mut().is_main_woken);
            if is_main_woken {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            self.run_ready_tasks();
            self.collect_remote_wakes();
            self.fire_due_timers();
            self.wait_for_work();
        }
    }

    /// Polls each task that is in the run queue now; tasks woken meanwhile wait a turn.
    fn run_ready_tasks(&self) {
        let ready_now = self.scheduler.borrow().run_queue.len();
        for _ in 0..ready_now {
            let next = self.scheduler.borrow_mut().run_queue.pop_front();
            match next {
                Some(key) => self.run_task(key),
                None => break,
            }
        }
    }

    /// Takes the task under `key` out of the table and polls it, unless it was aborted.
    fn run_task(&self, key: TaskKey) {
        let taken = self.scheduler.borrow_mut().take_for_poll(key);
        let Taken::Body(mut body) = taken else { return };
        if body
            .as_mut()
            .header()
            .is_abort_requested
            .load(Ordering::Acquire)
        {
            let task_id = body.as_mut().header().id;
            self.scheduler.borrow_mut().remove(key);
            if let Some(observer) = self.observer.get() {
                observer.ended(body.as_mut().header(), "cancelled");
            }
            body.fail(JoinError::cancelled(task_id));
            return;
        }
        self.poll_task(key, body);
    }

    /// The one place where a task's future is polled. Break here in a debugger to see every
    /// poll: `print key` is the task's slot, `print body.pointer` its future.
    #[inline(never)]
    fn poll_task(&self, key: TaskKey, mut body: Body) {
        // The observed poll is a separate, cold function, so that with every switch off this
        // path is the same machine code as a build without the `observe` feature.
        let outcome = match self.observer.get() {
            None => catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_body())),
            Some(observer) => poll_observed(observer, &mut body),
        };
        match outcome {
            Ok(Poll::Pending) => self.scheduler.borrow_mut().put_back(key, body),
            Ok(Poll::Ready(())) => {
                self.scheduler.borrow_mut().remove(key);
                drop(body); // the future is gone already; this frees the box
            }
            Err(payload) => {
                self.scheduler.borrow_mut().remove(key);
                let task_id = body.as_mut().header().id;
                body.fail(JoinError::panicked(task_id, payload));
            }
        }
    }

    /// Moves keys woken from other threads into the run queue.
    fn collect_remote_wakes(&self) {
        let mut batch = self.remote_batch.borrow_mut();
        self.shared.take_remote_wakes(&mut batch);
        if batch.is_empty() {
            return;
        }
        let mut scheduler = self.scheduler.borrow_mut();
        for key in batch.drain(..) {
            // Clear the flag before the coming poll: a wake after this point queues again.
            let header = if key == TaskKey::MAIN {
                Some(&self.main_waker.header)
            } else {
                scheduler
                    .parked_body(key)
                    .map(|body| body.as_mut().header())
            };
            if let Some(header) = header {
                // A swap, not a store: reading the flag is what synchronises with the waker
                // that set it, so the poll sees everything that thread wrote before it woke
                // us (found by the loom model in `tests/loom_wake.rs`).
                header.is_remote_queued.swap(false, Ordering::AcqRel);
                if let Some(observer) = self.observer.get() {
                    observer.woke(header, WakeOrigin::OtherThread(None));
                }
            }
            scheduler.schedule(key);
        }
    }

    /// Wakes the tasks whose timers are due. Reads the clock only if a timer exists.
    fn fire_due_timers(&self) {
        let mut due = self.due_wakers.borrow_mut();
        {
            let mut timers = self.timers.borrow_mut();
            if timers.is_empty() {
                return;
            }
            timers.fire_due(Instant::now(), &mut due);
        }
        if let Some(observer) = self.observer.get() {
            observer.timers_fired(due.len());
        }
        for waker in due.drain(..) {
            waker.wake();
        }
    }

    /// Blocks the thread until there may be work: the earliest timer, an I/O event or a
    /// remote wake. If something is runnable already it does not block, but with a reactor it
    /// still collects ready I/O, so that busy tasks cannot starve sockets.
    fn wait_for_work(&self) {
        let is_runnable = {
            let scheduler = self.scheduler.borrow();
            scheduler.is_main_woken || !scheduler.run_queue.is_empty()
        };
        let has_reactor = self.reactor.borrow().is_some();
        if is_runnable && !has_reactor {
            return;
        }
        // Checked before blocking; a remote wake that lands after this check leaves a token
        // (an unpark, or a count in the poller's eventfd), and the wait returns at once.
        let is_remote_woken = self.shared.has_remote_wakes();
        let timeout = if is_runnable || is_remote_woken {
            Some(Duration::ZERO)
        } else {
            let next_deadline = self.timers.borrow_mut().next_deadline();
            next_deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
        };
        let idle_since = self.observer.get().map(|_| Instant::now());
        match timeout {
            _ if has_reactor => self.wait_for_io(timeout),
            // A remote wake is waiting: the next turn collects it.
            Some(Duration::ZERO) => return,
            Some(timeout) => std::thread::park_timeout(timeout),
            None => std::thread::park(),
        }
        if let (Some(observer), Some(idle_since)) = (self.observer.get(), idle_since) {
            if timeout != Some(Duration::ZERO) {
                observer.idled(idle_since.elapsed());
            }
        }
    }

    /// Blocks in the reactor, then wakes the tasks whose sockets are ready.
    fn wait_for_io(&self, timeout: Option<Duration>) {
        let mut woken = self.due_wakers.borrow_mut();
        let waited = self.with_existing_reactor(|reactor| reactor.wait(timeout, &mut woken));
        if let Some(Err(error)) = waited {
            // The poller itself failed (not a socket): the loop can no longer wait for anything.
            panic!("the I/O reactor's wait failed: {error}; the event loop cannot go on");
        }
        if let Some(observer) = self.observer.get() {
            observer.io_ready(woken.len());
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
    }

    /// Drops every unfinished task and timer. Repeats, because dropping a future may spawn.
    fn shut_down(&self) {
        loop {
            let bodies = self.scheduler.borrow_mut().take_all();
            if bodies.is_empty() {
                break;
            }
            for mut body in bodies {
                let task_id = body.as_mut().header().id;
                if let Some(observer) = self.observer.get() {
                    observer.ended(body.as_mut().header(), "cancelled");
                }
                body.fail(JoinError::cancelled(task_id));
            }
        }
        let wakers = self.timers.borrow_mut().clear();
        drop(wakers);
        let io_wakers = self.with_existing_reactor(Reactor::take_all_wakers);
        drop(io_wakers);
        self.shared.lock_remote_queue().clear();
    }
}

/// `poll_task`'s poll when something is recording: times it and reports it.
#[cold]
#[inline(never)]
fn poll_observed(observer: &Observer, body: &mut Body) -> std::thread::Result<Poll<()>> {
    observer.poll_started();
    let started = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| body.as_mut().poll_body()));
    observe_poll(observer, body.as_mut().header(), started, &outcome);
    outcome
}

/// Reports one poll to the observer: trace line, slow-poll check, timeline, and the end of
/// the task if it ended.
fn observe_poll(
    observer: &Observer,
    header: &Header,
    started: Instant,
    outcome: &std::thread::Result<Poll<()>>,
) {
    let (answer, ended) = match outcome {
        Ok(Poll::Pending) => ("pending", None),
        Ok(Poll::Ready(())) => ("ready", Some("finished")),
        Err(_) => ("panicked", Some("panicked")),
    };
    observer.polled(header, started, answer, ended);
}
