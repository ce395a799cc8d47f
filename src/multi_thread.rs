//! A work-stealing runtime: the same tasks, wakers, join cells and timers as the event loop,
//! run by several threads at once. Lesson 38 builds up to it, and its chapter,
//! `docs/38-one-loop-to-many-threads.md`, says what each part buys, with numbers; lesson 39
//! breaks its sleep protocol on purpose.
//!
//! The single-thread loop (`src/event_loop.rs`) stays as it is; this module adds, one file
//! each:
//!
//! - `worker.rs`: a worker thread and its loop: its own queue first, then the shared queue,
//!   then **stealing** half of another worker's queue, then sleep.
//! - `queue.rs`: a worker's bounded local queue, which its owner uses without a lock and
//!   other workers steal from.
//! - `injector.rs`: the shared queue, for tasks queued from outside the workers.
//! - `idle.rs`: who sleeps and whom to wake: one sleeper at a time, none while another
//!   worker is already searching (no thundering herd).
//! - `park.rs`: how a worker sleeps.
//! - `state.rs`: where a task is in its life (idle, queued, running, woken while running,
//!   done), one atomic word in its header, so that two workers never poll one task at once.
//! - `owned.rs`: every unfinished task, so that shutdown can cancel each one.
//! - `timers.rs`: one timer queue, kept by whichever worker sleeps first.
//! - `driver.rs`: one I/O poller for the sockets of every worker, waited in by the worker
//!   that keeps the timers; each socket counts its events so that none falls between a
//!   task's "would block" and the filing of its waker.
//!
//! # What had to change for many threads
//! In the single loop a wake on the loop's thread pushes a key onto a `VecDeque` behind a
//! `RefCell`, and nothing is atomic. Here a wake may come from any worker while another polls
//! the task, so the task's state word decides who queues it (`state.rs`); the run queues are
//! shared with thieves (`queue.rs`); the timer queue sits behind a `Mutex`. The task itself
//! (`src/task.rs`: one allocation, the join cell, the `JoinHandle`) is the very same: it was
//! built for wakers on other threads from the start.
//!
//! # What it does not do
//! `spawn_local`, the trace, the stuck-loop report, virtual time and seeded schedules are the
//! single loop's.

mod driver;
mod idle;
mod injector;
mod owned;
mod park;
mod queue;
mod state;
mod timers;
mod worker;

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle as ThreadJoinHandle;
use std::time::{Duration, Instant};

use mio::event::Source;

use crate::reactor::{Direction, IoKey};
use crate::task::{new_task, Header, JoinHandle, Origin, TaskId, TaskRef};
use crate::time::{TimerKey, TimerState};
use crate::waker::{LoopId, TaskKey};

use driver::{Filed, IoDriver, IoSource};
use idle::Idle;
use injector::Injector;
use owned::OwnedTasks;
use park::Parker;
use queue::Stealer;
use timers::Timers;
use worker::{Worker, WorkerContext};

pub(crate) use state::mark_woken;

/// The message of `block_on` called where a loop or runtime already runs on this thread.
pub(crate) const NESTED_BLOCK_ON: &str = "`Runtime::block_on` (or `miniloop::run`) called while \
     an event loop or a runtime is already running on this thread; blocking here would stop \
     every other task of the outer one; `.await` the future instead, or move the blocking code \
     into `miniloop::spawn_blocking`";

/// The message of `Handle::current` outside a runtime.
const NO_CURRENT_RUNTIME: &str = "`multi_thread::Handle::current` called outside a multi-thread \
     runtime; it works on the runtime's worker threads and inside `Runtime::block_on`; \
     elsewhere, keep the handle that `Runtime::handle` gives you";

/// A multi-thread, work-stealing runtime.
///
/// # Examples
/// ```
/// use miniloop::multi_thread::Runtime;
///
/// let runtime = Runtime::builder().worker_threads(2).build().unwrap();
/// let total = runtime.block_on(async {
///     let tasks: Vec<_> = (0..100u64).map(|n| miniloop::spawn(async move { n * n })).collect();
///     let mut total = 0;
///     for task in tasks {
///         total += task.await.unwrap();
///     }
///     total
/// });
/// assert_eq!(total, 328_350);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<ThreadJoinHandle<()>>,
}

/// Sets up a [`Runtime`]: how many worker threads, and their names.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    worker_threads: Option<usize>,
    thread_name: String,
}

/// What one worker did, for the lesson and for tests (see [`Runtime::worker_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Polls of tasks on this worker.
    pub polls: u64,
    /// Tasks this worker took from other workers' queues.
    pub stolen: u64,
    /// Times it went to sleep with nothing to do.
    pub parks: u64,
    /// CPU time of the worker's thread (from `/proc`; zero where that cannot be read).
    pub cpu_time: Duration,
}

/// A [`Runtime`]'s address for other threads: spawn tasks on it from anywhere.
/// `Send`, `Sync` and cheap to clone.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

/// The part of the runtime every worker and every waker may reach.
pub(crate) struct Shared {
    id: LoopId,
    injector: Injector<TaskRef>,
    stealers: Box<[Stealer<TaskRef>]>,
    parkers: Box<[Parker]>,
    idle: Idle,
    owned: OwnedTasks,
    timers: Timers,
    /// The I/O driver, opened by the first socket (`driver.rs`).
    io: OnceLock<Arc<IoDriver>>,
    /// Set (`SeqCst`) once `io` is open: the timer keeper reads it after taking its role, the
    /// first socket's thread sets it before it looks for the keeper, so that the keeper
    /// either sleeps in the driver or is woken to go there (`open_io_driver`).
    has_io: AtomicBool,
    /// Taken to open the driver, so that two first sockets do not open two.
    io_opening: Mutex<()>,
    stats: Box<[StatsSlot]>,
    is_shut_down: AtomicBool,
    next_task_id: AtomicU64,
    next_timer_seq: AtomicU64,
}

/// A worker's counts (`WorkerStats`), and its thread id for the CPU time.
///
/// Aligned to 128 bytes, two cache lines (the pair a modern x86 core fetches together), so that
/// each worker's counts sit on lines of their own. They did not at first: the slots are side
/// by side in one slice, both workers' counts shared a line, and every poll's count made that
/// line bounce between the cores; `perf annotate` put two thirds of `mt_yield_many`'s worker
/// time on that one store (`docs/benchmarks.md`, the multi-thread ladder).
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct StatsSlot {
    pub(crate) polls: Counter,
    pub(crate) stolen: Counter,
    pub(crate) parks: Counter,
    /// The worker thread's id in `/proc/self/task`, 0 until it starts.
    thread_id: AtomicU64,
}

impl StatsSlot {
    pub(crate) fn record_thread(&self) {
        let id = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|link| link.file_name()?.to_str()?.parse().ok())
            .unwrap_or(0);
        self.thread_id.store(id, Ordering::Relaxed);
    }

    fn read(&self) -> WorkerStats {
        WorkerStats {
            polls: self.polls.get(),
            stolen: self.stolen.get(),
            parks: self.parks.get(),
            cpu_time: thread_cpu_time(self.thread_id.load(Ordering::Relaxed)),
        }
    }
}

/// A count written by one thread (its worker) and read by any: a load and a store, not a
/// locked read-modify-write, so counting a poll costs what a plain `+= 1` does.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn bump(&self, by: u64) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + by, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A thread's CPU time: the first field of its `schedstat` (nanoseconds on the CPU), else its
/// `stat` ticks (user + system, in the kernel's fixed 100 Hz `USER_HZ`).
fn thread_cpu_time(thread_id: u64) -> Duration {
    if thread_id == 0 {
        return Duration::ZERO;
    }
    let dir = format!("/proc/self/task/{thread_id}");
    if let Ok(schedstat) = std::fs::read_to_string(format!("{dir}/schedstat")) {
        if let Some(nanos) = schedstat
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
        {
            if nanos > 0 {
                return Duration::from_nanos(nanos);
            }
        }
    }
    let ticks = std::fs::read_to_string(format!("{dir}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) end with `)`.
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .filter_map(|field| field.parse().ok())
                .collect();
            // utime and stime are fields 14 and 15; after `)` the state (a letter) is skipped
            // by the parse, so they are the 11th and 12th numbers.
            Some(fields.get(10)? + fields.get(11)?)
        });
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// One worker per core (`std::thread::available_parallelism`), named `miniloop-worker-N`.
    pub fn new() -> Builder {
        Builder {
            worker_threads: None,
            thread_name: "miniloop-worker".to_string(),
        }
    }

    /// How many worker threads (at least 1).
    pub fn worker_threads(mut self, workers: usize) -> Builder {
        self.worker_threads = Some(workers);
        self
    }

    /// The name of the worker threads, followed by `-` and the worker's number.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    /// `InvalidInput` for zero workers (or more than 65 535); the OS error if a thread cannot
    /// be started (the threads started before it are stopped).
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.worker_threads {
            Some(workers) => workers,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        if workers == 0 || workers > usize::from(u16::MAX) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a runtime needs between 1 and 65535 worker threads, not {workers}; \
                     pass a number in that range to `worker_threads`, or leave it unset for \
                     one per core"
                ),
            ));
        }
        let (locals, stealers): (Vec<_>, Vec<_>) = (0..workers).map(|_| queue::local()).unzip();
        let shared = Arc::new(Shared {
            id: LoopId::next_multi_thread(),
            injector: Injector::new(),
            stealers: stealers.into_boxed_slice(),
            parkers: (0..workers).map(|_| Parker::default()).collect(),
            idle: Idle::new(workers),
            owned: OwnedTasks::new(workers),
            timers: Timers::new(),
            io: OnceLock::new(),
            has_io: AtomicBool::new(false),
            io_opening: Mutex::new(()),
            stats: (0..workers).map(|_| StatsSlot::default()).collect(),
            is_shut_down: AtomicBool::new(false),
            next_task_id: AtomicU64::new(1),
            next_timer_seq: AtomicU64::new(0),
        });
        register(&shared);
        let mut runtime = Runtime {
            shared: Arc::clone(&shared),
            threads: Vec::with_capacity(workers),
        };
        for (index, local) in locals.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let thread = std::thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || {
                    // Made on the worker's thread, and never leaves it (an `Rc`).
                    let context = Rc::new(WorkerContext {
                        shared,
                        index,
                        local: RefCell::new(local),
                        lifo: Cell::new(None),
                    });
                    let _current = CurrentGuard::enter(Current::Worker(Rc::clone(&context)));
                    Worker::new(context).run();
                })?; // `runtime`'s `Drop` stops the threads started so far
            runtime.threads.push(thread);
        }
        Ok(runtime)
    }
}

impl Runtime {
    /// A runtime with one worker per core.
    ///
    /// # Panics
    /// If a worker thread cannot be started (use [`Builder::build`] to get the error).
    pub fn new() -> Runtime {
        Builder::new()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the runtime's threads: {error}"))
    }

    /// A [`Builder`], to choose the number of workers.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` on this thread until it finishes, while the workers run the tasks it
    /// spawns; `miniloop::spawn`, `sleep`, `timeout` and `JoinHandle`s work inside it.
    ///
    /// # Panics
    /// If a loop or a runtime already runs on this thread (the message says what to do
    /// instead), and if `future` panics.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if is_inside_any() {
            panic!("{NESTED_BLOCK_ON}");
        }
        let _current = CurrentGuard::enter(Current::BlockOn(Arc::clone(&self.shared)));
        let _may_suspend = crate::sync_first::SuspendScope::allow();
        let parker = Arc::new(ThreadWaker(Parker::default()));
        let waker = Waker::from(Arc::clone(&parker));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            parker.0.park(None);
        }
    }

    /// Spawns `future` on the runtime, from any thread.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Origin::here())
    }

    /// A [`Handle`] to spawn tasks from other threads.
    pub fn handle(&self) -> Handle {
        Handle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many worker threads run tasks.
    pub fn worker_threads(&self) -> usize {
        self.shared.workers()
    }

    /// What each worker did so far (its counts are brought up to date each time it goes to
    /// sleep, so read them once the work is done).
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.shared.stats.iter().map(StatsSlot::read).collect()
    }

    /// Tasks spawned and not yet let go of by their worker (which happens a moment after the
    /// `JoinHandle` has the output).
    pub fn live_tasks(&self) -> usize {
        self.shared.owned.len()
    }

    /// `(awake workers, searching workers)`: for tests of the sleep protocol.
    #[doc(hidden)]
    pub fn idle_counts(&self) -> (usize, usize) {
        self.shared.idle.counts()
    }

    /// Whether a timer is still filed (to check that dropped sleeps leave the queue).
    #[doc(hidden)]
    pub fn has_timers(&self) -> bool {
        !self.shared.timers.is_empty()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

/// Shuts the runtime down: the workers stop after the poll they are in, every unfinished task
/// is cancelled (its future dropped, its `JoinHandle` answers "cancelled"), and the threads are
/// joined. A task that never returns from a poll keeps this waiting, as it would any runtime.
impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.is_shut_down.store(true, Ordering::SeqCst);
        for worker in 0..shared.workers() {
            shared.unpark(worker);
        }
        for thread in self.threads.drain(..) {
            // A worker never panics outside a task's poll, which is caught; if one did, the
            // runtime is going away anyway.
            let _ = thread.join();
        }
        // Tasks queued from outside, then every task still waiting for a wake. Cancelling one
        // may wake or spawn others: the injector and the list refuse them now, and those
        // tasks are cancelled where they are refused.
        drop(shared.injector.close());
        for task in shared.owned.close() {
            if state::claim_idle(task.header()) {
                #[allow(unsafe_code)]
                // SAFETY: `claim_idle` moved the task from IDLE to SCHEDULED itself, so no
                // other `TaskRef` exists, and no wake makes one now (`state.rs`).
                let task_ref = unsafe { task.claim() };
                drop(task_ref); // cancels it: its future is dropped here
            }
        }
        drop(shared.timers.clear());
        if let Some(driver) = shared.io.get() {
            drop(driver.clear()); // wakers of tasks that were waiting on sockets
        }
        unregister(shared.id);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.shared.workers())
            .field("live_tasks", &self.shared.owned.len())
            .finish()
    }
}

impl Handle {
    /// The handle of the runtime this thread belongs to (one of its workers, or a thread
    /// inside its `block_on`).
    ///
    /// # Panics
    /// Anywhere else; the message says where a handle comes from.
    #[track_caller]
    pub fn current() -> Handle {
        match current_shared() {
            Some(shared) => Handle { shared },
            None => panic!("{NO_CURRENT_RUNTIME}"),
        }
    }

    /// Spawns `future` on the handle's runtime, from any thread. If the runtime has shut
    /// down, the task is cancelled at once: awaiting the handle gives a cancelled
    /// [`JoinError`](crate::JoinError).
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Origin::here())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.workers())
            .finish()
    }
}

impl Shared {
    fn workers(&self) -> usize {
        self.parkers.len()
    }

    fn is_shut_down(&self) -> bool {
        self.is_shut_down.load(Ordering::SeqCst)
    }

    fn spawn<F>(&self, future: F, origin: Origin) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (task, handle) = self.new_task(future, origin);
        if let Some(task) = task {
            schedule(task);
        }
        handle
    }

    /// Makes a task and lists it: the `TaskRef` to queue, or `None` if the runtime has shut
    /// down (the task was cancelled here; its handle says so).
    fn new_task<F>(&self, future: F, origin: Origin) -> (Option<TaskRef>, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = TaskId(self.next_task_id.fetch_add(1, Ordering::Relaxed));
        let header = Header::new(id, self.id, TaskKey::UNASSIGNED, origin, false);
        let (task, handle) = new_task(header, future);
        match self.owned.insert(task) {
            Ok(task) => (Some(task), handle),
            Err(refused) => {
                drop(refused); // shut down: cancelled here
                (None, handle)
            }
        }
    }

    /// Queues a task from outside the workers (or another runtime's worker).
    fn inject(&self, task: TaskRef) {
        match self.injector.push(task) {
            Ok(()) => self.notify_parked(),
            Err(refused) => drop(refused), // shut down: cancelled here
        }
    }

    /// A worker's queue was full: half of it goes to the shared queue.
    fn overflow(&self, batch: Vec<TaskRef>) {
        if let Err(refused) = self.injector.push_batch(batch) {
            drop(refused);
        }
    }

    /// Wakes a sleeping worker, if one should look for the work just queued (`idle.rs`).
    fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.unpark(worker);
        }
    }

    /// Wakes worker `worker` wherever it sleeps: on its condition variable, or in the I/O
    /// driver's poller.
    fn unpark(&self, worker: usize) {
        if self.parkers[worker].unpark() {
            if let Some(driver) = self.io.get() {
                driver.wake();
            }
        }
    }

    /// The I/O driver, if a socket opened it: for the timer keeper's sleep and the busy
    /// workers' look at the poller. Read after the keeper's role is taken (`SeqCst`, see
    /// `has_io`).
    fn io_driver(&self) -> Option<&IoDriver> {
        if !self.has_io.load(Ordering::SeqCst) {
            return None;
        }
        let driver = self.io.get()?;
        (!driver.has_failed()).then_some(&**driver)
    }

    /// The I/O driver, opened now if this is the runtime's first socket.
    fn open_io_driver(&self) -> io::Result<Arc<IoDriver>> {
        if let Some(driver) = self.io.get() {
            return Ok(Arc::clone(driver));
        }
        let _opening = self
            .io_opening
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(driver) = self.io.get() {
            return Ok(Arc::clone(driver));
        }
        let driver = Arc::new(IoDriver::new()?);
        let _ = self.io.set(Arc::clone(&driver)); // under `io_opening`: nobody set it before
        self.has_io.store(true, Ordering::SeqCst);
        // A keeper already asleep on its condition variable would not see this socket's
        // events until its deadline: wake it, and it sleeps again in the driver.
        if let Some(keeper) = self.timers.keeper() {
            self.unpark(keeper);
        }
        Ok(driver)
    }

    /// The last searching worker is about to sleep: if any queue has work, wake a worker.
    fn notify_if_work_pending(&self) {
        let has_work =
            !self.injector.is_empty() || self.stealers.iter().any(|stealer| !stealer.is_empty());
        if has_work {
            self.notify_parked();
        }
    }
}

/// A task (or a wake's new `TaskRef`) to its runtime: onto this worker's queue if this thread
/// is one of its workers, else into the shared queue.
pub(crate) fn schedule(task: TaskRef) {
    let home = task.header().home;
    let task = CURRENT.with(|current| match &*current.borrow() {
        Some(Current::Worker(worker)) if worker.shared.id == home => {
            worker.schedule(task);
            None
        }
        Some(Current::BlockOn(shared)) if shared.id == home => {
            shared.inject(task);
            None
        }
        _ => Some(task),
    });
    if let Some(task) = task {
        // Another thread, or a worker of another runtime.
        match find(home) {
            Some(shared) => shared.inject(task),
            None => drop(task), // the runtime is gone: cancelled here
        }
    }
}

/// Spawns on the runtime this thread belongs to (a worker, or inside `block_on`); gives the
/// future back if there is none. A worker queues the task on itself, without looking up the
/// thread-local a second time.
pub(crate) fn spawn_here<F>(future: F, origin: Origin) -> Result<JoinHandle<F::Output>, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    CURRENT.with(|current| match &*current.borrow() {
        Some(Current::Worker(worker)) => {
            let (task, handle) = worker.shared.new_task(future, origin);
            if let Some(task) = task {
                worker.schedule(task);
            }
            Ok(handle)
        }
        Some(Current::BlockOn(shared)) => Ok(shared.spawn(future, origin)),
        None => Err(future),
    })
}

/// Whether this thread runs a runtime's worker or its `block_on`.
pub(crate) fn is_inside() -> bool {
    CURRENT.with(|current| current.borrow().is_some())
}

/// Whether any loop or runtime runs on this thread.
fn is_inside_any() -> bool {
    is_inside() || crate::event_loop::with_current_core(|_| ()).is_some()
}

fn current_shared() -> Option<Arc<Shared>> {
    with_current_shared(Arc::clone)
}

/// Calls `f` with the runtime this thread belongs to, without touching its reference count.
fn with_current_shared<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| match &*current.borrow() {
            Some(Current::Worker(worker)) => Some(f(&worker.shared)),
            Some(Current::BlockOn(shared)) => Some(f(shared)),
            None => None,
        })
        .ok()
        .flatten()
}

// Timers, for `Sleep` (`src/time.rs`).

/// Files a timer with the runtime this thread belongs to: its id and the timer's key, or
/// `None` outside any runtime.
pub(crate) fn register_timer(deadline: Instant, waker: &Waker) -> Option<(LoopId, TimerKey)> {
    with_current_shared(|shared| {
        let seq = shared.next_timer_seq.fetch_add(1, Ordering::Relaxed);
        let (key, keeper) = shared.timers.register(deadline, seq, waker.clone());
        if let Some(keeper) = keeper {
            shared.unpark(keeper);
        }
        (shared.id, key)
    })
}

/// Checks a timer filed with runtime `home`: `None` if this thread does not belong to it.
pub(crate) fn poll_timer(home: LoopId, key: TimerKey, waker: &Waker) -> Option<TimerState> {
    with_current_shared(|shared| (shared.id == home).then(|| shared.timers.poll_timer(key, waker)))
        .flatten()
}

/// Forgets a timer of runtime `home` (a `Sleep` dropped or moved), from any thread.
pub(crate) fn cancel_timer(home: LoopId, key: TimerKey) {
    let shared = current_shared()
        .filter(|shared| shared.id == home)
        .or_else(|| find(home));
    if let Some(shared) = shared {
        drop(shared.timers.cancel(key)); // the waker is dropped after the lock is released
    }
}

// Sockets, for `src/net.rs`.

/// A socket's entry in a runtime's I/O driver (`net.rs` keeps one per socket on a runtime).
#[derive(Debug)]
pub(crate) struct RuntimeIo {
    home: LoopId,
    /// Kept by the socket so that it can leave the driver from any thread, even after the
    /// runtime has shut down (the driver lives until its last socket is dropped).
    driver: Arc<IoDriver>,
    key: IoKey,
    source: Arc<IoSource>,
}

impl RuntimeIo {
    /// Registers `source` with the I/O driver of the runtime this thread belongs to (opened
    /// now if this is its first socket); `None` outside any runtime.
    pub(crate) fn register(source: &mut impl Source) -> Option<io::Result<RuntimeIo>> {
        with_current_shared(|shared| {
            let driver = shared.open_io_driver()?;
            let (key, io_source) = driver.register(source)?;
            Ok(RuntimeIo {
                home: shared.id,
                driver,
                key,
                source: io_source,
            })
        })
    }

    /// The events the socket was sent so far in `direction`: read before each attempt.
    pub(crate) fn tick(&self, direction: Direction) -> u64 {
        self.source.tick(direction)
    }

    /// Whether the socket is known drained in `direction` since event `tick` (`driver.rs`).
    pub(crate) fn is_drained(&self, direction: Direction, tick: u64) -> bool {
        self.source.is_drained(direction, tick)
    }

    /// Notes that an attempt after event `tick` found the socket drained in `direction`.
    pub(crate) fn mark_drained(&self, direction: Direction, tick: u64) {
        self.source.mark_drained(direction, tick);
    }

    /// Files the task's waker after an attempt that would block: `Ok(false)` if an event came
    /// since `tick` (try again), the driver's error if it has failed. Panics with the misuse
    /// message outside the socket's runtime.
    #[track_caller]
    pub(crate) fn file_waker(
        &self,
        cx: &Context<'_>,
        direction: Direction,
        tick: u64,
    ) -> io::Result<bool> {
        match with_current_shared(|shared| shared.id) {
            Some(id) if id == self.home => {
                match self.source.file(direction, cx.waker(), tick, &self.driver) {
                    Filed::Waiting => Ok(true),
                    Filed::TryAgain => Ok(false),
                    Filed::Failed => Err(self.driver.failure().expect("`Failed` means it is set")),
                }
            }
            Some(_) => panic!("{}", crate::net::SOCKET_ON_OTHER_LOOP),
            None if crate::event_loop::with_current_core(|_| ()).is_some() => {
                panic!("{}", crate::net::SOCKET_ON_OTHER_LOOP)
            }
            None => panic!("{}", crate::net::SOCKET_OUTSIDE_LOOP),
        }
    }

    /// Leaves the driver, from any thread.
    pub(crate) fn deregister(&self, source: &mut impl Source) {
        self.driver.deregister(self.key, &self.source, source);
    }
}

/// The runtime whose worker (or `block_on`) this thread is, as seen from the thread-local.
enum Current {
    Worker(Rc<WorkerContext>),
    BlockOn(Arc<Shared>),
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Sets `CURRENT` for a scope.
struct CurrentGuard;

impl CurrentGuard {
    fn enter(current: Current) -> CurrentGuard {
        CURRENT.with(|slot| *slot.borrow_mut() = Some(current));
        CurrentGuard
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = CURRENT.try_with(|slot| slot.borrow_mut().take());
        drop(previous); // outside the borrow
    }
}

/// The waker of `block_on`'s future: unparks the calling thread.
struct ThreadWaker(Parker);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // `block_on`'s thread never sleeps in the I/O driver.
        let _in_driver = self.0.unpark();
    }
}

// The address book of runtimes, for wakes and timer cancels from threads that are not its
// workers. (A worker finds its runtime in `CURRENT` without a lock.)

static RUNTIMES: Mutex<Vec<(LoopId, Arc<Shared>)>> = Mutex::new(Vec::new());

fn lock_runtimes() -> MutexGuard<'static, Vec<(LoopId, Arc<Shared>)>> {
    RUNTIMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn register(shared: &Arc<Shared>) {
    lock_runtimes().push((shared.id, Arc::clone(shared)));
}

fn unregister(id: LoopId) {
    let removed = {
        let mut runtimes = lock_runtimes();
        runtimes
            .iter()
            .position(|(listed, _)| *listed == id)
            .map(|position| runtimes.swap_remove(position))
    };
    drop(removed); // outside the lock
}

fn find(id: LoopId) -> Option<Arc<Shared>> {
    lock_runtimes()
        .iter()
        .find(|(listed, _)| *listed == id)
        .map(|(_, shared)| Arc::clone(shared))
}
