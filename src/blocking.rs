//! The two worlds, sync called from async: [`spawn_blocking`] runs a closure on a thread pool.
//!
//! A task that calls something slow and synchronous (a blocking read, `std::thread::sleep`,
//! a long computation) holds the loop's only thread, and every other task waits. Python's
//! answer is `loop.run_in_executor`; ours is `spawn_blocking`: the closure runs on one of a
//! bounded set of threads, and its result reaches the awaiting task through the same
//! `JoinHandle` a spawned task has (chapter: `docs/two-worlds.md`).
//!
//! # Rules this module keeps
//! - At most `max_threads` pool threads exist (default 512, as tokio; set it with
//!   [`set_max_threads`] or the `MINILOOP_BLOCKING_THREADS` environment variable). Extra jobs
//!   wait in a queue, first in, first out.
//! - A thread that finds no work for `keep_alive` (default 10 s) exits; the pool holds no
//!   thread while nobody uses it.
//! - A panic in the closure reaches the handle as a `JoinError`; the thread survives it.
//! - `abort` before the closure starts means it never runs; once it runs, it runs to the end
//!   (a thread cannot be interrupted safely). An aborted job still waits its turn in the
//!   queue: its handle resolves, cancelled, when a pool thread pops and skips it.
//!
//! # Why one pool for the whole process and not one per loop
//! Blocking work is not tied to a loop: its result travels back through a `Waker`, which
//! finds its loop wherever it is. One pool also bounds the process's threads in one place.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::event_loop::{with_current_core, Core};
use crate::task::{Header, JoinError, JoinHandle, Joinable, Origin, TaskId, TaskShared};
use crate::waker::{LoopId, TaskKey};

/// The default bound on pool threads: many blocking calls can run side by side.
const DEFAULT_MAX_THREADS: usize = 512;
/// How long an idle pool thread waits for work before it exits.
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Runs `work` on the blocking thread pool and returns a handle to await its result.
///
/// Callable from anywhere, inside a loop or not. The closure starts as soon as a pool thread
/// is free.
///
/// [`JoinHandle::abort`] before the closure starts means it never runs, but the job keeps its
/// place in the queue: the handle reports the cancellation only when a pool thread frees up,
/// pops the job and skips it (as with tokio's `spawn_blocking`). With every thread busy and
/// `max_threads` reached, awaiting an aborted handle waits as long as the job would have.
///
/// # Examples
/// ```
/// let sum = miniloop::run(async {
///     // A CPU-bound loop would stall every other task; on the pool it stalls nobody.
///     let handle = miniloop::spawn_blocking(|| (1..=1_000u64).map(|n| n * n).sum::<u64>());
///     handle.await.expect("the closure does not panic")
/// });
/// assert_eq!(sum, 333_833_500);
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(work: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let id = TaskId::blocking(NEXT_ID.fetch_add(1, Ordering::Relaxed));
    // Nobody wakes a blocking job (it is not polled), so its header names no loop.
    let header = Header::new(id, LoopId::NONE, TaskKey::MAIN, Origin::here(), false);
    let shared = Arc::new(TaskShared::new(header));
    let handle = JoinHandle::new(Arc::clone(&shared) as Arc<dyn Joinable<T>>);
    // A loop with a virtual clock must not jump it while the job runs: count the job there.
    let paused_loop = with_current_core(Core::shared_if_virtual_clock).flatten();
    if let Some(loop_shared) = &paused_loop {
        loop_shared.blocking_job_started();
    }
    pool().submit(Box::new(move || {
        run_job(id, &shared, work);
        if let Some(loop_shared) = paused_loop {
            loop_shared.blocking_job_ended(); // after the result woke its task
        }
    }));
    handle
}

/// Runs one job on a pool thread and hands its result to the handle.
fn run_job<F, T>(id: TaskId, shared: &TaskShared<T>, work: F)
where
    F: FnOnce() -> T,
{
    let result = if shared.header.is_abort_requested.load(Ordering::Acquire) {
        Err(JoinError::cancelled(id))
    } else {
        catch_unwind(AssertUnwindSafe(work)).map_err(|payload| JoinError::panicked(id, payload))
    };
    #[allow(unsafe_code)]
    // SAFETY: the job runs once, on one pool thread: it is its task's only finishing side.
    unsafe {
        shared.finish(result);
    }
}

/// Sets the most threads the pool may run at once (default 512). Threads already running
/// are not stopped; the bound applies when the pool next decides to start one.
///
/// # Panics
/// If `max_threads` is zero: no blocking work could ever run.
#[track_caller]
pub fn set_max_threads(max_threads: usize) {
    if max_threads == 0 {
        panic!("`set_max_threads` needs at least 1 thread (got 0); no blocking work could run");
    }
    pool().lock().max_threads = max_threads;
}

/// Sets how long an idle pool thread waits for work before it exits (default 10 s).
pub fn set_keep_alive(keep_alive: Duration) {
    pool().lock().keep_alive = keep_alive;
    // Idle threads are waiting out the old keep-alive: wake them so they wait again with the
    // new one (a wake with no job is harmless, see `Pool::work`).
    pool().work_ready.notify_all();
}

/// How many pool threads exist right now (busy or idle).
pub fn thread_count() -> usize {
    pool().lock().threads
}

/// A queued closure, its types erased.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The process's blocking pool.
#[derive(Debug)]
struct Pool {
    state: Mutex<PoolState>,
    /// Signalled once per job handed to an idle thread.
    work_ready: Condvar,
}

struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    /// Idle threads already signalled for a queued job: a second job must not count on them.
    notified: usize,
    max_threads: usize,
    keep_alive: Duration,
}

impl std::fmt::Debug for PoolState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolState")
            .field("queued", &self.queue.len())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .finish()
    }
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(PoolState {
            queue: VecDeque::new(),
            threads: 0,
            idle: 0,
            notified: 0,
            max_threads: max_threads_from_env(),
            keep_alive: DEFAULT_KEEP_ALIVE,
        }),
        work_ready: Condvar::new(),
    })
}

/// `MINILOOP_BLOCKING_THREADS`, if set to a positive number; otherwise the default.
fn max_threads_from_env() -> usize {
    let configured = std::env::var("MINILOOP_BLOCKING_THREADS").ok();
    match configured
        .as_deref()
        .map(str::trim)
        .map(str::parse::<usize>)
    {
        Some(Ok(threads)) if threads > 0 => threads,
        Some(_) => {
            eprintln!(
                "miniloop: ignoring MINILOOP_BLOCKING_THREADS={:?}; it must be a whole number \
                 above 0, like 64; using {DEFAULT_MAX_THREADS}",
                configured.unwrap_or_default()
            );
            DEFAULT_MAX_THREADS
        }
        None => DEFAULT_MAX_THREADS,
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        // Jobs run outside the lock and catch their panics; nothing panics while it is held.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.lock();
        state.queue.push_back(job);
        if state.idle > state.notified {
            state.notified += 1;
            self.work_ready.notify_one();
        } else if state.threads < state.max_threads {
            state.threads += 1;
            drop(state);
            self.start_thread();
        }
        // Otherwise every thread is busy and the bound is reached: the job waits its turn.
    }

    fn start_thread(&'static self) {
        let started = std::thread::Builder::new()
            .name("miniloop-blocking".into())
            .spawn(move || self.work());
        if let Err(error) = started {
            let mut state = self.lock();
            state.threads -= 1;
            // With another thread alive, the job waits for it; with none, it would wait
            // forever, and a hang is worse than a panic.
            assert!(
                state.threads > 0,
                "could not start a blocking thread: {error}; lower MINILOOP_BLOCKING_THREADS \
                 or free some threads"
            );
        }
    }

    /// A pool thread's life: take jobs until none comes for `keep_alive`.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job(); // catches its own panics (`run_job`)
                state = self.lock();
                continue;
            }
            state.idle += 1;
            let keep_alive = state.keep_alive;
            let (next_state, wait) = self
                .work_ready
                .wait_timeout(state, keep_alive)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next_state;
            state.idle -= 1;
            if state.notified > 0 {
                state.notified -= 1;
            } else if wait.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}
