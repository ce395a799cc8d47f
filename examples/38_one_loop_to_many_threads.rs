//! Lesson 38: from one loop to many threads, measured
//!
//! Every lesson so far ran on one thread: one loop, one core. This one runs the same two
//! workloads on five executors, from one loop to a work-stealing runtime, and prints what
//! each did with the cores it had:
//!
//! 1. **one loop**: `miniloop::EventLoop`, one thread;
//! 2. **thread-per-core**: one miniloop loop per worker thread, the tasks dealt round-robin
//!    through each loop's `Handle`, nothing shared afterwards;
//! 3. **shared queue**: a small executor written below (`shared_queue`): every worker pops
//!    from one `Mutex<VecDeque>`, and sleeps on a `Condvar` when it is empty;
//! 4. **work stealing**: miniloop's multi-threaded runtime (`miniloop::multi_thread`);
//! 5. **tokio**: tokio's multi-threaded runtime, with as many workers.
//!
//! The workloads do the same work on every executor, and print the same checksum to prove it:
//! - **uniform**: one task spawns 20 000 small tasks (a few microseconds of CPU each, in four
//!   slices with a `yield_now` between two: each task passes through its executor's queue
//!   four times);
//! - **skewed**: one task spawns bursts of tasks and awaits each burst before the next; one
//!   task in every N (the number of workers) is heavy, so that a round-robin deal puts every
//!   heavy task on the same worker.
//!
//! For each executor it prints the wall time, the CPU time of each worker thread, and how many
//! tasks were stolen (where there is such a thing). Then three lines read the numbers: what
//! thread-per-core wastes on skewed work, what one shared queue costs on many tiny tasks, and
//! what stealing buys; a fourth puts tokio beside miniloop's runtime.
//!
//! Run it:     cargo run --example 38_one_loop_to_many_threads
//!             cargo run --release --example 38_one_loop_to_many_threads -- --workers 4
//! Read:       docs/38-one-loop-to-many-threads.md
//! Debug it:   break on `38_one_loop_to_many_threads::busy_work`, then `info threads`: on the
//!             one loop every stop is on the main thread; on the others, on the workers
//!
//! Every line is the same on every run but the times, the counts of lock waits and of tasks
//! stolen, and the ratios computed from them. The CPU time of a thread is read with
//! `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` through `libc` (std can't): a thread that waits for
//! work, or for a core, burns none.

use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use miniloop::multi_thread::Runtime;
use miniloop::EventLoop;

// ---------------------------------------------------------------------------------------------
// The work: a deterministic busy loop, never a sleep (a sleeping task burns no CPU, and the
// lesson is about where the CPU work runs).

/// One task's work: `slices` runs of `rounds` xorshift steps, with a `yield_now` between two
/// runs. A yield sends the task back through its executor's queue, as any `.await` on
/// something already ready does; the output does not depend on the slicing.
#[derive(Clone, Copy, Debug)]
struct Job {
    seed: u64,
    rounds: u32,
    slices: u32,
}

/// The CPU work of one slice: no `.await` inside, so it runs in one go.
fn busy_work(mut state: u64, rounds: u32) -> u64 {
    // `black_box` keeps the optimizer from collapsing the loop in a release build.
    for _ in 0..black_box(rounds) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
    }
    state
}

/// The future each executor runs for a job. `miniloop::yield_now` wakes its own task and
/// returns `Pending` once: it needs no loop of miniloop's, so it runs on every executor here.
async fn run_job(job: Job) -> u64 {
    // Spread the small seeds over all 64 bits (xorshift from 0 would stay at 0).
    let mut state = (job.seed + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for slice in 0..job.slices {
        if slice > 0 {
            miniloop::yield_now().await;
        }
        state = busy_work(state, job.rounds);
    }
    state
}

// ---------------------------------------------------------------------------------------------
// The two workloads. Each is one "root" task that spawns the others through `spawn_job`, the
// only thing that differs between executors, and adds up their outputs: the checksum.

/// A spawned job, as the root task awaits it: its output, whatever the executor.
type JoinJob = Pin<Box<dyn Future<Output = u64> + Send>>;

/// How a contender spawns one job on its executor and hands back something to await.
type SpawnJob = Arc<dyn Fn(Job) -> JoinJob + Send + Sync>;

/// The uniform workload: this many tasks, each this many slices of this many rounds (a few
/// microseconds in all in a debug build).
const UNIFORM_TASKS: u64 = 20_000;
const UNIFORM_SLICES: u32 = 4;
const UNIFORM_ROUNDS: u32 = 100;

/// The skewed workload: this many bursts of this many tasks, each in one slice. One task in
/// every `workers` is heavy, the first of each round of the deal, so that a round-robin deal
/// puts every heavy task on the same worker.
const BURSTS: u64 = 12;
const BURST_TASKS: u64 = 16;
const HEAVY_ROUNDS: u32 = 200_000;
const LIGHT_ROUNDS: u32 = 3_000;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Workload {
    Uniform,
    /// One task in every `heavy_every` is heavy.
    Skewed {
        heavy_every: u64,
    },
}

impl Workload {
    /// What the workload does, in one line.
    fn describe(self) -> String {
        match self {
            Workload::Uniform => format!(
                "Uniform: one task spawns {UNIFORM_TASKS} tasks; each runs {UNIFORM_SLICES} \
                 slices of {UNIFORM_ROUNDS} xorshift rounds, with a yield between two"
            ),
            Workload::Skewed { heavy_every } => format!(
                "Skewed: one task spawns {BURSTS} bursts of {BURST_TASKS} tasks, one in every \
                 {heavy_every} heavy ({HEAVY_ROUNDS} rounds), the others light ({LIGHT_ROUNDS}); \
                 it awaits each burst before the next"
            ),
        }
    }

    /// The root task: spawns the jobs, awaits them all, returns the sum of their outputs.
    async fn run(self, spawn_job: SpawnJob) -> u64 {
        let mut checksum = 0u64;
        match self {
            Workload::Uniform => {
                let jobs: Vec<JoinJob> = (0..UNIFORM_TASKS)
                    .map(|seed| {
                        let (rounds, slices) = (UNIFORM_ROUNDS, UNIFORM_SLICES);
                        spawn_job(Job {
                            seed,
                            rounds,
                            slices,
                        })
                    })
                    .collect();
                for job in jobs {
                    checksum = checksum.wrapping_add(job.await);
                }
            }
            Workload::Skewed { heavy_every } => {
                for burst in 0..BURSTS {
                    let jobs: Vec<JoinJob> = (0..BURST_TASKS)
                        .map(|index| {
                            // Counted over the whole run, as the round-robin deal counts.
                            let seed = burst * BURST_TASKS + index;
                            let is_heavy = seed.is_multiple_of(heavy_every);
                            let rounds = if is_heavy { HEAVY_ROUNDS } else { LIGHT_ROUNDS };
                            spawn_job(Job {
                                seed,
                                rounds,
                                slices: 1,
                            })
                        })
                        .collect();
                    for job in jobs {
                        checksum = checksum.wrapping_add(job.await);
                    }
                }
            }
        }
        checksum
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// CPU time (user and system) the calling thread has used since it started.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `&mut now` points to a live, writable `timespec` for the whole call, which is
    // all `clock_gettime` needs; it keeps no pointer afterwards.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(
        status,
        0,
        "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed: {}",
        std::io::Error::last_os_error()
    );
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is never negative");
    let nanos = u32::try_from(now.tv_nsec).expect("nanoseconds fit in a u32");
    Duration::new(seconds, nanos)
}

/// What one executor did with one workload.
#[derive(Debug)]
struct Measured {
    /// From spawning the root task to having its checksum.
    wall: Duration,
    checksum: u64,
    /// Each worker thread's CPU time, in the order of the workers.
    cpu_per_worker: Vec<Duration>,
    /// Tasks that a worker took from another's queue; `None` where there is no such thing.
    stolen: Option<u64>,
    /// The shared queue only: how often its lock was found taken, and the time spent waiting.
    contention: Option<Contention>,
}

/// How contended the shared queue's lock was.
#[derive(Clone, Copy, Debug, Default)]
struct Contention {
    takes: u64,
    waits: u64,
    waited: Duration,
}

// ---------------------------------------------------------------------------------------------
// Contender 1: one loop. The root is the loop's main future; `miniloop::spawn` queues each job
// on the same loop, and the one thread runs them all.

fn on_one_loop(workload: Workload) -> Measured {
    let spawn_job: SpawnJob = Arc::new(|job| {
        let handle = miniloop::spawn(run_job(job));
        Box::pin(async move { handle.await.expect("a job never panics") })
    });
    let cpu_at_start = thread_cpu_time();
    let started_at = Instant::now();
    let checksum = miniloop::run(workload.run(spawn_job));
    Measured {
        wall: started_at.elapsed(),
        checksum,
        cpu_per_worker: vec![thread_cpu_time() - cpu_at_start],
        stolen: None,
        contention: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Contender 2: thread-per-core. One loop per worker, each on its own thread; the root runs on
// loop 0 (this thread's) and deals the jobs round-robin over the loops' `Handle`s. Once dealt,
// a job stays where it was dealt: an idle loop cannot help a busy one.

fn on_thread_per_core(workload: Workload, workers: usize) -> Measured {
    let event_loop = EventLoop::new();
    let mut handles = vec![event_loop.handle()];
    let mut stops = Vec::new();
    let mut threads = Vec::new();
    for _ in 1..workers {
        let (handle_tx, handle_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
        threads.push(thread::spawn(move || {
            let event_loop = EventLoop::new();
            handle_tx
                .send(event_loop.handle())
                .expect("the main thread waits for the handle");
            // The loop runs its dealt jobs until told to stop.
            let _ = event_loop.run_until_complete(stop_rx);
            thread_cpu_time()
        }));
        handles.push(
            handle_rx
                .recv()
                .expect("the loop's thread sends its handle"),
        );
        stops.push(stop_tx);
    }
    let next = AtomicUsize::new(0);
    let spawn_job: SpawnJob = Arc::new(move |job| {
        let loop_index = next.fetch_add(1, Ordering::Relaxed) % handles.len();
        let handle = handles[loop_index].spawn(run_job(job));
        Box::pin(async move { handle.await.expect("a job never panics") })
    });
    let cpu_at_start = thread_cpu_time();
    let started_at = Instant::now();
    let checksum = event_loop.run_until_complete(workload.run(spawn_job));
    let wall = started_at.elapsed();
    let mut cpu_per_worker = vec![thread_cpu_time() - cpu_at_start];
    for stop in stops {
        let _ = stop.send(());
    }
    for thread in threads {
        cpu_per_worker.push(thread.join().expect("a loop's thread does not panic"));
    }
    Measured {
        wall,
        checksum,
        cpu_per_worker,
        stolen: None,
        contention: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Contender 3: one shared queue behind a `Mutex`. The simplest multi-threaded executor: every
// spawn and every wake pushes onto one queue, every worker pops from it. Nothing is ever
// unbalanced, but every one of those pushes and pops takes the same lock.

mod shared_queue {
    use super::*;

    /// The queue every worker pops from, and how often its lock was found taken.
    pub struct SharedQueue {
        state: Mutex<State>,
        /// Where an idle worker sleeps until a push.
        has_work: Condvar,
        /// Lock acquisitions, those that found the lock taken, and the nanoseconds those waited.
        takes: AtomicU64,
        waits: AtomicU64,
        waited_nanos: AtomicU64,
    }

    struct State {
        tasks: VecDeque<Arc<Task>>,
        /// Workers asleep on `has_work`: a push notifies only if there is one (a notify is a
        /// system call, and would hide the lock's cost behind its own).
        sleeping: usize,
        is_shut_down: bool,
    }

    /// A spawned future. Its own `Mutex` is not for sharing: a task woken while it runs can be
    /// popped by a second worker, which must wait for the first poll to end, then poll again.
    struct Task {
        future: Mutex<Option<Pin<Box<dyn Future<Output = ()> + Send>>>>,
        queue: Arc<SharedQueue>,
    }

    /// A wake pushes the task back onto the shared queue: the same lock again.
    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            let queue = Arc::clone(&self.queue);
            queue.push(self);
        }
    }

    impl SharedQueue {
        pub fn new() -> Arc<SharedQueue> {
            Arc::new(SharedQueue {
                state: Mutex::new(State {
                    tasks: VecDeque::new(),
                    sleeping: 0,
                    is_shut_down: false,
                }),
                has_work: Condvar::new(),
                takes: AtomicU64::new(0),
                waits: AtomicU64::new(0),
                waited_nanos: AtomicU64::new(0),
            })
        }

        /// Takes the lock, and counts whether another thread had it and how long we waited:
        /// contention, as numbers. The clock is read only when `try_lock` fails.
        fn lock(&self) -> MutexGuard<'_, State> {
            self.takes.fetch_add(1, Ordering::Relaxed);
            match self.state.try_lock() {
                Ok(state) => state,
                Err(TryLockError::WouldBlock) => {
                    let started_at = Instant::now();
                    let state = self
                        .state
                        .lock()
                        .expect("no worker panics holding the lock");
                    let nanos = u64::try_from(started_at.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    self.waited_nanos.fetch_add(nanos, Ordering::Relaxed);
                    state
                }
                Err(TryLockError::Poisoned(_)) => panic!("a worker panicked holding the lock"),
            }
        }

        fn push(&self, task: Arc<Task>) {
            let mut state = self.lock();
            state.tasks.push_back(task);
            if state.sleeping > 0 {
                self.has_work.notify_one();
            }
        }

        /// Spawns `future`; the returned receiver gives its output (a oneshot channel is the
        /// smallest join handle there is: lesson 33).
        pub fn spawn<T: Send + 'static>(
            self: &Arc<Self>,
            future: impl Future<Output = T> + Send + 'static,
        ) -> futures::channel::oneshot::Receiver<T> {
            let (output_tx, output_rx) = futures::channel::oneshot::channel();
            let future = async move {
                let _ = output_tx.send(future.await);
            };
            self.push(Arc::new(Task {
                future: Mutex::new(Some(Box::pin(future))),
                queue: Arc::clone(self),
            }));
            output_rx
        }

        /// One worker: pop, poll, repeat; sleep when the queue is empty. Returns the thread's
        /// CPU time once the queue shuts down.
        pub fn run_worker(self: Arc<Self>) -> Duration {
            loop {
                let task = {
                    let mut state = self.lock();
                    loop {
                        if let Some(task) = state.tasks.pop_front() {
                            break task;
                        }
                        if state.is_shut_down {
                            return thread_cpu_time();
                        }
                        state.sleeping += 1;
                        state = self.has_work.wait(state).expect("no worker panics");
                        state.sleeping -= 1;
                    }
                };
                let waker = Waker::from(Arc::clone(&task));
                let mut future = task.future.lock().expect("no poll panics");
                if let Some(running) = future.as_mut() {
                    if running
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                    {
                        *future = None; // a later, stale wake finds nothing to poll
                    }
                }
            }
        }

        /// Wakes every worker to find the queue shut.
        pub fn shut_down(&self) {
            self.lock().is_shut_down = true;
            self.has_work.notify_all();
        }

        pub fn contention(&self) -> Contention {
            Contention {
                takes: self.takes.load(Ordering::Relaxed),
                waits: self.waits.load(Ordering::Relaxed),
                waited: Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            }
        }
    }
}

fn on_shared_queue(workload: Workload, workers: usize) -> Measured {
    let queue = shared_queue::SharedQueue::new();
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let queue = Arc::clone(&queue);
            thread::spawn(move || queue.run_worker())
        })
        .collect();
    let spawner = Arc::clone(&queue);
    let spawn_job: SpawnJob = Arc::new(move |job| {
        let output = spawner.spawn(run_job(job));
        Box::pin(async move { output.await.expect("a job always sends its output") })
    });
    let started_at = Instant::now();
    let root = queue.spawn(workload.run(spawn_job));
    let checksum = futures::executor::block_on(root).expect("the root sends its checksum");
    let wall = started_at.elapsed();
    queue.shut_down();
    let cpu_per_worker = threads
        .into_iter()
        .map(|thread| thread.join().expect("a worker does not panic"))
        .collect();
    Measured {
        wall,
        checksum,
        cpu_per_worker,
        stolen: None,
        contention: Some(queue.contention()),
    }
}

// ---------------------------------------------------------------------------------------------
// Contender 4: work stealing, miniloop's multi-threaded runtime. Each worker has a queue of its
// own; a task spawned or woken on a worker goes onto that worker's queue, without a lock, and a
// worker that runs out of tasks steals half of another's queue. The runtime counts, per worker,
// the tasks it stole and its thread's CPU time.

fn on_work_stealing(workload: Workload, workers: usize) -> Measured {
    let runtime = Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("miniloop's runtime starts its threads");
    // `miniloop::spawn` inside the runtime's tasks spawns onto the runtime: the same line as
    // on the one loop.
    let spawn_job: SpawnJob = Arc::new(|job| {
        let handle = miniloop::spawn(run_job(job));
        Box::pin(async move { handle.await.expect("a job never panics") })
    });
    let started_at = Instant::now();
    // Spawned, so that the root runs on a worker (`block_on`'s own future runs on this thread).
    let root = runtime.spawn(workload.run(spawn_job));
    let checksum = runtime.block_on(root).expect("the root never panics");
    let wall = started_at.elapsed();
    let stats = runtime.worker_stats();
    Measured {
        wall,
        checksum,
        cpu_per_worker: stats.iter().map(|worker| worker.cpu_time).collect(),
        stolen: Some(stats.iter().map(|worker| worker.stolen).sum()),
        contention: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Contender 5: tokio's multi-threaded runtime, with as many workers. Also work stealing, with
// the tricks the chapter explains (a LIFO slot, a cap on searching workers, a budget). Its
// count of stolen tasks is a `tokio_unstable` metric, so this row prints none.

fn on_tokio(workload: Workload, workers: usize) -> Measured {
    let cpu_times = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&cpu_times);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .on_thread_stop(move || {
            let cpu_time = thread_cpu_time();
            recorded.lock().expect("no hook panics").push(cpu_time);
        })
        .build()
        .expect("tokio's runtime starts");
    let spawn_job: SpawnJob = Arc::new(|job| {
        let handle = tokio::spawn(run_job(job));
        Box::pin(async move { handle.await.expect("a job never panics") })
    });
    let started_at = Instant::now();
    // Spawned, so that the root runs on a worker, as on the other runtimes (`block_on`'s own
    // future runs on this thread).
    let root = runtime.spawn(workload.run(spawn_job));
    let checksum = runtime.block_on(root).expect("the root never panics");
    let wall = started_at.elapsed();
    drop(runtime); // joins the workers, which run the hook on their way out
    let cpu_per_worker = cpu_times.lock().expect("no hook panics").clone();
    Measured {
        wall,
        checksum,
        cpu_per_worker,
        stolen: None,
        contention: None,
    }
}

// ---------------------------------------------------------------------------------------------
// The table, and what it says.

/// One row: `label  wall  checksum  stolen  CPU of each worker`.
fn print_row(label: &str, measured: &Measured) {
    let cpu: Vec<String> = measured
        .cpu_per_worker
        .iter()
        .map(|cpu| format!("{:>5}", cpu.as_millis()))
        .collect();
    let stolen = measured
        .stolen
        .map_or_else(|| "-".to_owned(), |stolen| stolen.to_string());
    println!(
        "  {label:<16}{:>6} ms  {:#018x}  {stolen:>6}  {}",
        measured.wall.as_millis(),
        measured.checksum,
        cpu.join(" ")
    );
}

/// The larger of the workers' CPU times over the smaller: 1.0 when they were equally busy.
fn cpu_split(measured: &Measured) -> f64 {
    let seconds = measured.cpu_per_worker.iter().map(Duration::as_secs_f64);
    let most = seconds.clone().fold(0.0, f64::max);
    let least = seconds.fold(f64::INFINITY, f64::min);
    most / least.max(1e-6)
}

/// The busiest worker's CPU time.
fn busiest(measured: &Measured) -> Duration {
    measured
        .cpu_per_worker
        .iter()
        .copied()
        .max()
        .unwrap_or_default()
}

/// All five contenders on one workload, in order.
#[derive(Debug)]
struct Results {
    one_loop: Measured,
    thread_per_core: Measured,
    shared_queue: Measured,
    work_stealing: Measured,
    tokio: Measured,
}

fn run_all(workload: Workload, workers: usize) -> Results {
    println!("{}", workload.describe());
    println!("  executor           wall  checksum            stolen  CPU per worker (ms)");
    let one_loop = on_one_loop(workload);
    print_row("one loop", &one_loop);
    let thread_per_core = on_thread_per_core(workload, workers);
    print_row("thread-per-core", &thread_per_core);
    let shared_queue = on_shared_queue(workload, workers);
    print_row("shared queue", &shared_queue);
    let work_stealing = on_work_stealing(workload, workers);
    print_row("work stealing", &work_stealing);
    let tokio = on_tokio(workload, workers);
    print_row("tokio", &tokio);
    if let Some(contention) = &shared_queue.contention {
        println!(
            "  shared queue: {} of {} lock acquisitions found the lock taken, and waited {} ms in all",
            contention.waits,
            contention.takes,
            contention.waited.as_millis()
        );
    }
    Results {
        one_loop,
        thread_per_core,
        shared_queue,
        work_stealing,
        tokio,
    }
}

/// The number of workers: `--workers N`, or the cores this process may use, at least 2 (a
/// lesson about spreading work needs somewhere to spread it) and at most 4.
fn workers_from_args(cores: usize) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(cores.clamp(2, 4)),
        [flag, count] if flag == "--workers" => match count.parse::<usize>() {
            Ok(workers) if (1..=64).contains(&workers) => Ok(workers),
            _ => Err(format!(
                "--workers: expected a number of worker threads from 1 to 64, got {count:?}; \
                 for example `cargo run --example 38_one_loop_to_many_threads -- --workers 2`"
            )),
        },
        _ => Err(
            "usage: cargo run --example 38_one_loop_to_many_threads [-- --workers N]".to_owned(),
        ),
    }
}

fn main() {
    let cores = thread::available_parallelism().map_or(1, usize::from);
    let workers = workers_from_args(cores).unwrap_or_else(|message| {
        eprintln!("{message}");
        std::process::exit(2);
    });
    println!("Lesson 38: the same two workloads on five executors");
    println!(
        "Workers: {workers} (std::thread::available_parallelism() is {cores}; the lesson takes \
         that, at least 2 and at most 4, unless `-- --workers N` says otherwise)"
    );
    println!();
    let uniform = run_all(Workload::Uniform, workers);
    println!();
    let heavy_every = u64::try_from(workers).expect("at most 64 workers");
    let skewed = run_all(Workload::Skewed { heavy_every }, workers);
    println!();

    println!("What the numbers say:");
    let thread_per_core = &skewed.thread_per_core;
    println!(
        "  (1) skewed, thread-per-core: its busiest worker used {:.1} times the CPU time of its \
         idlest; the wall time is {:.2} times the busiest worker's CPU time",
        cpu_split(thread_per_core),
        seconds(thread_per_core) / busiest(thread_per_core).as_secs_f64()
    );
    let contention = uniform.shared_queue.contention.unwrap_or_default();
    println!(
        "  (2) uniform, shared queue: {:.1}% of its lock acquisitions waited, {} ms in all; \
         wall time {:.2} times work stealing's",
        100.0 * contention.waits as f64 / contention.takes.max(1) as f64,
        contention.waited.as_millis(),
        seconds(&uniform.shared_queue) / seconds(&uniform.work_stealing),
    );
    let stealing = &skewed.work_stealing;
    println!(
        "  (3) skewed, work stealing: its busiest worker used {:.1} times the CPU time of its \
         idlest, after {} steals; wall time {:.2} times thread-per-core's, {:.2} times one loop's",
        cpu_split(stealing),
        stealing.stolen.unwrap_or_default(),
        seconds(stealing) / seconds(thread_per_core),
        seconds(stealing) / seconds(&skewed.one_loop),
    );
    println!(
        "  tokio, for comparison: wall time {:.2} times work stealing's on the uniform workload, \
         {:.2} times on the skewed one",
        seconds(&uniform.tokio) / seconds(&uniform.work_stealing),
        seconds(&skewed.tokio) / seconds(stealing),
    );
}

/// The wall time in seconds.
fn seconds(measured: &Measured) -> f64 {
    measured.wall.as_secs_f64()
}
