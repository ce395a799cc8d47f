//! Lesson 39: the lost wake-up that only many threads have (broken on purpose)
//!
//! With one loop, lesson 20's bug is the loop's own check-then-sleep. With several workers
//! there is a new one. Workers share a queue and a count of who is awake; a thread that
//! pushes a task wakes a sleeper only when nobody is awake (an awake worker will find the
//! task: waking another would be a thundering herd). The last worker to fall asleep looks at
//! the queue, finds it empty, and announces itself asleep. A task pushed between its look and
//! its announcement is seen by the pusher as "somebody is awake, no need to wake anyone", and
//! then nobody runs it. The fix: the worker that was the last to fall asleep looks once more
//! *after* announcing itself (miniloop's `Worker::park` calls
//! `Shared::notify_if_work_pending`), so either the pusher sees it asleep and wakes it, or its
//! second look sees the task.
//!
//! The lesson builds a two-worker runtime of its own to show it, holds the window open on
//! purpose (so the bug happens on every run), then runs the same kind of pushes on
//! `miniloop::multi_thread::Runtime`, and shows why lesson 21's stale waker does not change
//! with many threads: a task that moves between workers is still woken by its first waker.
//!
//! Run it:     cargo run --example 39_the_last_worker_to_sleep        (broken, fixed, runtime)
//!             cargo run --example 39_the_last_worker_to_sleep -- broken
//!             cargo run --example 39_the_last_worker_to_sleep -- fixed
//! Read:       docs/39-the-last-worker-to-sleep.md
//!
//! The broken run gives up after a 300 ms watchdog and says so; it never hangs.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use miniloop::multi_thread::{Handle, Runtime};

/// How long the pusher waits for its task to run before it declares it lost.
const WATCHDOG: Duration = Duration::from_millis(300);

/// How many tasks the last part pushes onto miniloop's runtime, one after the other.
const RUNTIME_PUSHES: usize = 200;

/// Which version of the lesson's runtime to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Broken,
    Fixed,
}

fn say(label: &str, line: &str) {
    println!("{label}: {line}");
}

fn label(variant: Variant) -> &'static str {
    match variant {
        Variant::Broken => "broken",
        Variant::Fixed => "fixed",
    }
}

/// A sticky parker (lesson 20's fix): an `unpark` before the `park` is kept.
#[derive(Default)]
struct Parker {
    is_notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    fn park(&self) {
        let notified = self.is_notified.lock().unwrap();
        let mut notified = self.condvar.wait_while(notified, |n| !*n).unwrap();
        *notified = false;
    }

    fn unpark(&self) {
        *self.is_notified.lock().unwrap() = true;
        self.condvar.notify_one();
    }
}

/// The lesson's runtime: one shared queue, how many workers are awake, who sleeps.
struct Shared {
    queue: Mutex<VecDeque<&'static str>>,
    /// Workers not asleep. Every update and read is `SeqCst`, as the queue's lock is: the
    /// pusher's "push, then read" and the worker's "announce, then look" are in one order.
    awake: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    parkers: [Parker; 2],
    is_shut_down: AtomicBool,
}

impl Shared {
    /// Queues a task from outside; returns the worker it woke, if any.
    fn push(&self, task: &'static str) -> Option<usize> {
        self.queue.lock().unwrap().push_back(task);
        if self.awake.load(Ordering::SeqCst) > 0 {
            return None; // somebody is awake and will find the task: wake nobody
        }
        let worker = self.sleepers.lock().unwrap().pop()?;
        self.awake.fetch_add(1, Ordering::SeqCst);
        self.parkers[worker].unpark();
        Some(worker)
    }

    /// The worker announces itself asleep; returns whether it was the last one awake.
    fn announce_asleep(&self, worker: usize) -> bool {
        self.sleepers.lock().unwrap().push(worker);
        self.awake.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Takes back an announcement (false: a pusher chose this worker meanwhile).
    fn take_back(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap();
        let Some(at) = sleepers.iter().position(|&w| w == worker) else {
            return false;
        };
        sleepers.remove(at);
        self.awake.fetch_add(1, Ordering::SeqCst);
        true
    }
}

/// The window held open on purpose: after worker 0's look, the pusher pushes and decides.
struct Window {
    go_tx: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

/// One worker: run what is queued; when nothing is, announce, (fixed: look again,) sleep.
fn worker(
    variant: Variant,
    shared: &Shared,
    index: usize,
    mut window: Option<Window>,
    ran_tx: &mpsc::Sender<&'static str>,
) {
    let who = format!("worker-{index}");
    while !shared.is_shut_down.load(Ordering::SeqCst) {
        let task = shared.queue.lock().unwrap().pop_front();
        if let Some(task) = task {
            say(label(variant), &format!("{who} ran {task}"));
            let _ = ran_tx.send(task);
            continue;
        }
        let is_the_window = window.is_some();
        if let Some(Window { go_tx, done_rx }) = window.take() {
            say(
                label(variant),
                &format!("{who} looked at the queue: empty, so it will sleep"),
            );
            go_tx.send(()).unwrap();
            done_rx.recv().unwrap();
        }
        let was_last = shared.announce_asleep(index);
        if is_the_window {
            say(
                label(variant),
                &format!(
                    "{who} announces itself asleep ({} workers awake now)",
                    shared.awake.load(Ordering::SeqCst)
                ),
            );
        }
        if is_the_window && variant == Variant::Broken {
            say(
                label(variant),
                &format!("{who} sleeps without looking again"),
            );
        }
        // The fix: the last one to fall asleep is the only one left to see a task pushed by
        // someone who read the count before this announcement. It looks once more.
        if variant == Variant::Fixed && was_last && !shared.queue.lock().unwrap().is_empty() {
            say(
                label(variant),
                &format!("{who} was the last to fall asleep, so it looked again: a task waits"),
            );
            if shared.take_back(index) {
                continue;
            }
        }
        shared.parkers[index].park();
    }
}

/// Two workers, a task pushed between worker 0's look and its announcement.
fn run(variant: Variant) {
    let says = label(variant);
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        awake: AtomicUsize::new(2),
        sleepers: Mutex::new(Vec::new()),
        parkers: [Parker::default(), Parker::default()],
        is_shut_down: AtomicBool::new(false),
    });
    let (ran_tx, ran_rx) = mpsc::channel();
    let start = |index: usize, window: Option<Window>| {
        let shared = Arc::clone(&shared);
        let ran_tx = ran_tx.clone();
        std::thread::Builder::new()
            .name(format!("worker-{index}"))
            .spawn(move || worker(variant, &shared, index, window, &ran_tx))
            .expect("a worker thread")
    };

    // Worker 1 finds nothing and falls asleep first.
    let worker_1 = start(1, None);
    while !shared.sleepers.lock().unwrap().contains(&1) {
        std::thread::sleep(Duration::from_millis(1));
    }
    say(says, "worker-1 found the queue empty and fell asleep");

    // Worker 0 is the last one awake; the pusher acts between its look and its announcement.
    let (go_tx, go_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let worker_0 = start(0, Some(Window { go_tx, done_rx }));
    go_rx.recv().unwrap();
    let awake = shared.awake.load(Ordering::SeqCst);
    match shared.push("job#1") {
        None => say(
            says,
            &format!("the pusher queued job#1 and saw {awake} worker awake: it wakes nobody"),
        ),
        Some(woken) => say(
            says,
            &format!("the pusher queued job#1 and woke worker-{woken}"),
        ),
    }
    done_tx.send(()).unwrap();

    match ran_rx.recv_timeout(WATCHDOG) {
        Ok(task) => say(says, &format!("{task} ran: no task lost")),
        Err(_) => {
            let queued = shared.queue.lock().unwrap().len();
            let asleep = shared.sleepers.lock().unwrap().len();
            say(
                says,
                &format!(
                    "lost: after {WATCHDOG:?}, {queued} task sits in the queue and {asleep} \
                     workers sleep; nobody will run it"
                ),
            );
        }
    }
    shared.is_shut_down.store(true, Ordering::SeqCst);
    for parker in &shared.parkers {
        parker.unpark();
    }
    worker_0.join().unwrap();
    worker_1.join().unwrap();
}

/// The same kind of pushes, from outside, on miniloop's runtime: each one lands while the
/// workers run out of work and fall asleep.
fn run_on_miniloop() {
    let runtime = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..RUNTIME_PUSHES {
        let ran = Arc::clone(&ran);
        let handle = runtime.spawn(async move {
            ran.fetch_add(1, Ordering::SeqCst);
        });
        runtime.block_on(handle).expect("the task runs");
    }
    let parks: u64 = runtime.worker_stats().iter().map(|stats| stats.parks).sum();
    say(
        "runtime",
        &format!(
            "{RUNTIME_PUSHES} tasks pushed from outside one at a time; the workers fell asleep \
             {parks} times meanwhile; {} tasks ran",
            ran.load(Ordering::SeqCst)
        ),
    );
}

fn worker_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// Holds its worker until `released` reaches `round`, so the next wake must go elsewhere.
async fn hold_the_worker(
    round: usize,
    gate: Arc<(Mutex<usize>, Condvar)>,
    started: mpsc::Sender<()>,
) {
    let _ = started.send(());
    let (released, condvar) = &*gate;
    let released = released.lock().unwrap();
    drop(
        condvar
            .wait_while(released, |released| *released < round)
            .unwrap(),
    );
}

/// A task that files its waker once, on its first poll, and is woken by it every time after.
struct KeepsFirstWaker {
    polls: usize,
    first_waker: Arc<Mutex<Option<Waker>>>,
    ran_on: mpsc::Sender<String>,
    gate: Arc<(Mutex<usize>, Condvar)>,
    hold_started: mpsc::Sender<()>,
}

impl Future for KeepsFirstWaker {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        let _ = self.ran_on.send(worker_name());
        if self.polls == 1 {
            *self.first_waker.lock().unwrap() = Some(context.waker().clone());
        }
        if self.polls == 3 {
            return Poll::Ready(());
        }
        // Spawned from this worker, the holder goes into its LIFO slot, which no other worker
        // can steal: it runs here next and holds this worker.
        let holder = hold_the_worker(
            self.polls,
            Arc::clone(&self.gate),
            self.hold_started.clone(),
        );
        drop(Handle::current().spawn(holder));
        Poll::Pending
    }
}

/// Lesson 21's stale waker, with many threads: the task moves, its first waker still finds it.
fn first_waker_follows_the_task() {
    let runtime = Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let first_waker = Arc::new(Mutex::new(None::<Waker>));
    let gate = Arc::new((Mutex::new(0), Condvar::new()));
    let (ran_tx, ran_rx) = mpsc::channel();
    let (hold_tx, hold_rx) = mpsc::channel();
    let task = runtime.spawn(KeepsFirstWaker {
        polls: 0,
        first_waker: Arc::clone(&first_waker),
        ran_on: ran_tx,
        gate: Arc::clone(&gate),
        hold_started: hold_tx,
    });
    let mut ran_on = vec![ran_rx.recv().unwrap()];
    say(
        "stale waker",
        &format!(
            "task#1 filed its waker once, on its first poll, on {}",
            ran_on[0]
        ),
    );
    for round in 1..=2 {
        hold_rx.recv().unwrap(); // the worker it ran on is held
        if round == 2 {
            *gate.0.lock().unwrap() = 1; // let the first holder go: its worker is free again
            gate.1.notify_all();
        }
        first_waker.lock().unwrap().as_ref().unwrap().wake_by_ref();
        ran_on.push(ran_rx.recv().unwrap());
        say(
            "stale waker",
            &format!(
                "its worker held, the first waker woke it: task#1 ran on {}",
                ran_on[round]
            ),
        );
    }
    *gate.0.lock().unwrap() = 2;
    gate.1.notify_all();
    runtime.block_on(task).expect("task#1 ends");
    let moved = ran_on.windows(2).filter(|pair| pair[0] != pair[1]).count();
    say(
        "stale waker",
        &format!(
            "task#1 moved between workers {moved} times, one waker found it each time: \
             a waker names the task, not the thread"
        ),
    );
}

/// `broken`, `fixed`, or nothing (broken, fixed, then miniloop's runtime).
fn variants_from_args() -> Result<(Vec<Variant>, bool), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Ok((vec![Variant::Broken, Variant::Fixed], true)),
        ["broken"] => Ok((vec![Variant::Broken], false)),
        ["fixed"] => Ok((vec![Variant::Fixed], false)),
        _ => Err(format!(
            "expected `broken`, `fixed` or nothing (got {args:?}); for example \
             `cargo run --example 39_the_last_worker_to_sleep -- broken`"
        )),
    }
}

fn main() {
    let (variants, with_runtime) = match variants_from_args() {
        Ok(chosen) => chosen,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    for variant in variants {
        run(variant);
    }
    if with_runtime {
        run_on_miniloop();
        first_waker_follows_the_task();
    }
}
