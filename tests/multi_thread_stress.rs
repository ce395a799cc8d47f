//! Randomized stress of the multi-thread runtime (`src/multi_thread.rs`): rounds of tasks that
//! spawn children, sleep, yield, wait for wakes from foreign threads (a oneshot sent from a
//! std thread, a waker kept by a std thread), panic, get aborted (before they start, while
//! they wait, after they finished) or lose their `JoinHandle`, on runtimes of 2 to 4
//! workers. After each round:
//!
//! - every awaited task gave its expected output, or the panic it was planned to make, or
//!   "cancelled" (aborted, or still alive when the runtime was dropped), and nothing else;
//! - every future was dropped exactly once: the drop count equals the number of spawns;
//! - no task was polled by two workers at once, or after it returned `Ready`.
//!
//! A second test drops the runtime while work is in flight (tasks queued, running, waiting
//! for timers and foreign threads) and checks the same. A third plays ping-pong from outside
//! the runtime, each spawn racing the last searching worker on its way to sleep.
//!
//! Seeded: each test prints its seed, and a failure says how to replay it
//! (`MINILOOP_STRESS_SEED=<seed> cargo test --test multi_thread_stress <test>`). Bounded: a
//! count per round, a time budget for the rounds (a slow machine runs fewer), and the
//! watchdog (`common::within`) for a hang, which is how a lost wake-up shows here. Under miri
//! the counts shrink to one small round.

mod common;

use std::future::{pending, poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use common::{panic_message, within, Count, DropCounter, WATCHDOG};
use futures::channel::oneshot;
use miniloop::multi_thread::{Handle, Runtime};
use miniloop::{sleep, spawn, yield_now, JoinError, JoinHandle};

/// The environment variable that replays a seed.
const SEED_VAR: &str = "MINILOOP_STRESS_SEED";

/// Marks the panics the tasks make on purpose, so that the panic hook keeps them quiet.
const ON_PURPOSE: &str = "panics on purpose";

/// How much work a round does: full size natively, a token amount under miri.
fn scaled(native: usize, under_miri: usize) -> usize {
    if cfg!(miri) {
        under_miri
    } else {
        native
    }
}

/// How long a test keeps starting new rounds (it always finishes the round it is in).
fn round_budget() -> Duration {
    if cfg!(miri) {
        Duration::ZERO // one round
    } else {
        Duration::from_millis(1500)
    }
}

/// SplitMix64: small, seedable, and good enough to pick plans.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The seed from `MINILOOP_STRESS_SEED`, or a fresh one; printed either way.
fn seed(test: &str) -> u64 {
    let seed = match std::env::var(SEED_VAR) {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            panic!("{SEED_VAR}={text:?} is not a seed: write the number a failed run printed")
        }),
        Err(_) if cfg!(miri) => 1, // miri's clock is virtual: any seed is as good
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |since| since.as_nanos() as u64),
    };
    eprintln!("{test}: seed {seed} (replay: {SEED_VAR}={seed} cargo test --test multi_thread_stress {test})");
    seed
}

/// Runs a stress test with its seed; a failure (or a hang caught by the watchdog) is re-raised
/// with the line that replays it.
fn run_seeded(test: &'static str, body: fn(u64)) {
    quiet_planned_panics();
    let seed = seed(test);
    let outcome = catch_unwind(AssertUnwindSafe(|| within(WATCHDOG, move || body(seed))));
    if let Err(payload) = outcome {
        panic!(
            "{test} failed with seed {seed}: {}\nreplay it: {SEED_VAR}={seed} cargo test \
             --test multi_thread_stress {test}",
            panic_message(&*payload)
        );
    }
}

/// The panics tasks make on purpose would fill the output; every other panic still prints.
fn quiet_planned_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let planned = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|message| message.contains(ON_PURPOSE));
            if !planned {
                default(info);
            }
        }));
    });
}

/// What a task does before it returns (or panics).
#[derive(Clone, Copy, Debug)]
enum Step {
    Yield,
    /// `miniloop::sleep` for this many hundred microseconds.
    Sleep(u64),
    /// Waits for a oneshot that a foreign thread sends after this many microseconds.
    Oneshot(u64),
    /// Waits for a flag that a foreign thread sets, then wakes the waker it was left.
    ForeignWake(u64),
    /// Spawns this many children (which do not spawn) and awaits them all.
    Children(u64),
    /// Says it is waiting (for an abort while it waits), then waits for ever.
    Forever,
}

/// A task's plan: its steps, and whether it panics at the end.
#[derive(Clone, Debug)]
struct Plan {
    steps: Vec<Step>,
    panics: bool,
}

impl Plan {
    fn random(rng: &mut Rng, may_spawn: bool) -> Plan {
        let steps = (0..rng.below(4))
            .map(|_| match rng.below(if may_spawn { 6 } else { 5 }) {
                0 => Step::Yield,
                1 => Step::Sleep(rng.below(20)),
                2 => Step::Oneshot(rng.below(300)),
                3 => Step::ForeignWake(rng.below(300)),
                4 => Step::Yield,
                _ => Step::Children(1 + rng.below(4)),
            })
            .collect();
        Plan {
            steps,
            panics: rng.chance(8),
        }
    }
}

/// A job for a foreign thread: run `job` once `at` has come.
type Job = (Instant, Box<dyn FnOnce() + Send>);

/// What every task of a round shares: the counts, the foreign threads, the seed of the
/// children's plans.
struct Round {
    spawns: Count,
    drops: Count,
    foreign: Mutex<Vec<mpsc::Sender<Job>>>,
    /// Failures found inside tasks (a child with a wrong output), reported at the end.
    errors: Mutex<Vec<String>>,
    /// Set just before the runtime is dropped: from then on a parent may see its child
    /// cancelled (a worker that has not yet seen the shutdown may poll the parent after
    /// another worker cancelled the child).
    is_dropping: AtomicBool,
    seed: u64,
}

impl Round {
    fn new(seed: u64) -> (Arc<Round>, Vec<std::thread::JoinHandle<()>>) {
        let (senders, threads): (Vec<_>, Vec<_>) = (0..2)
            .map(|_| {
                let (sender, receiver) = mpsc::channel::<Job>();
                let thread = std::thread::spawn(move || {
                    for (at, job) in receiver {
                        let now = Instant::now();
                        if at > now {
                            std::thread::sleep(at - now);
                        }
                        job();
                    }
                });
                (sender, thread)
            })
            .unzip();
        let round = Arc::new(Round {
            spawns: Count::default(),
            drops: Count::default(),
            foreign: Mutex::new(senders),
            errors: Mutex::new(Vec::new()),
            is_dropping: AtomicBool::new(false),
            seed,
        });
        (round, threads)
    }

    /// Runs `job` on a foreign thread after `micros` microseconds (or now, if the foreign
    /// threads were let go of already).
    fn later(&self, id: u64, micros: u64, job: Box<dyn FnOnce() + Send>) {
        let at = Instant::now() + Duration::from_micros(micros);
        let foreign = self.foreign.lock().unwrap();
        let job = match foreign.get(id as usize % foreign.len().max(1)) {
            Some(sender) => match sender.send((at, job)) {
                Ok(()) => return,
                Err(mpsc::SendError((_, job))) => job,
            },
            None => job,
        };
        drop(foreign);
        job();
    }

    /// Lets the foreign threads finish their jobs and end.
    fn stop_foreign(&self, threads: Vec<std::thread::JoinHandle<()>>) {
        self.foreign.lock().unwrap().clear();
        for thread in threads {
            thread.join().unwrap();
        }
    }
}

/// The output task `id` returns if it neither panics nor is cancelled.
fn expected(id: u64) -> u64 {
    id * 7 + 1
}

/// Task `id`'s future. Counts one spawn now and one drop whenever it is dropped: the caller
/// spawns it at once.
fn task(
    round: Arc<Round>,
    id: u64,
    plan: Plan,
    waiting: Arc<AtomicBool>,
) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    round.spawns.bump();
    let guard = DropCounter::new(&round.drops);
    Box::pin(Exclusive {
        inner: Box::pin(async move {
            let _guard = guard;
            for (n, step) in plan.steps.iter().enumerate() {
                run_step(&round, id, n as u64, *step, &waiting).await;
            }
            if plan.panics {
                panic!("task {id} {ON_PURPOSE}");
            }
            expected(id)
        }),
        is_polling: AtomicBool::new(false),
        is_done: false,
    })
}

/// How many times a task was polled while another poll of it was still running, or after it
/// returned `Ready` (`Exclusive`). Checked after each round: the state word (`state.rs`) must
/// keep it at zero.
static MISPOLLS: AtomicUsize = AtomicUsize::new(0);

/// Wraps a task's future and counts the polls that should never happen: two at once (two
/// workers holding the task), or one after `Ready`.
struct Exclusive<F> {
    inner: Pin<Box<F>>,
    is_polling: AtomicBool,
    is_done: bool,
}

impl<F: Future> Future for Exclusive<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        // `&mut self` already rules out two polls at once in safe code; the flag checks what
        // the runtime's `unsafe` promises: only the one holder of the `TaskRef` polls.
        if self.is_polling.swap(true, Ordering::SeqCst) || self.is_done {
            MISPOLLS.fetch_add(1, Ordering::SeqCst);
        }
        let poll = self.inner.as_mut().poll(cx);
        self.is_done = poll.is_ready();
        self.is_polling.store(false, Ordering::SeqCst);
        poll
    }
}

async fn run_step(round: &Arc<Round>, id: u64, n: u64, step: Step, waiting: &Arc<AtomicBool>) {
    match step {
        Step::Yield => yield_now().await,
        Step::Sleep(hundreds) => sleep(Duration::from_micros(100 * hundreds)).await,
        Step::Oneshot(micros) => {
            let (sender, receiver) = oneshot::channel();
            round.later(
                id,
                micros,
                Box::new(move || {
                    let _ = sender.send(id);
                }),
            );
            assert_eq!(receiver.await, Ok(id), "task {id}: the oneshot's message");
        }
        Step::ForeignWake(micros) => foreign_wake(round, id, micros).await,
        Step::Children(count) => {
            let mut rng = Rng(round.seed ^ (id << 20) ^ n);
            let children: Vec<(u64, Plan, JoinHandle<u64>)> = (0..count)
                .map(|child| {
                    let child_id = id * 1000 + n * 10 + child + 1_000_000;
                    let plan = Plan::random(&mut rng, false);
                    let future = task(Arc::clone(round), child_id, plan.clone(), Arc::default());
                    (child_id, plan, spawn(future))
                })
                .collect();
            for (child_id, plan, handle) in children {
                let result = handle.await;
                let fate = if round.is_dropping.load(Ordering::SeqCst) {
                    Fate::AbortAtOnce // finished as planned, or cancelled by the drop
                } else {
                    Fate::Await
                };
                if let Err(problem) = check_result(child_id, &plan, fate, result) {
                    round.errors.lock().unwrap().push(problem);
                }
            }
        }
        Step::Forever => {
            waiting.store(true, Ordering::SeqCst);
            pending::<()>().await;
        }
    }
}

/// Waits until a foreign thread sets a flag and wakes the waker this task left for it: the
/// register-then-check-again pattern of every channel.
async fn foreign_wake(round: &Arc<Round>, id: u64, micros: u64) {
    struct Signal {
        is_set: AtomicBool,
        waker: Mutex<Option<Waker>>,
    }
    let signal = Arc::new(Signal {
        is_set: AtomicBool::new(false),
        waker: Mutex::new(None),
    });
    let setter = Arc::clone(&signal);
    round.later(
        id,
        micros,
        Box::new(move || {
            setter.is_set.store(true, Ordering::Release);
            let waker = setter.waker.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }),
    );
    poll_fn(|cx| {
        if signal.is_set.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *signal.waker.lock().unwrap() = Some(cx.waker().clone());
        if signal.is_set.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// What the test does with a task's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Awaited: its output, or its panic.
    Await,
    /// Aborted right after the spawn: cancelled, unless it finished first (a worker may run
    /// it before the abort lands).
    AbortAtOnce,
    /// Aborted once it waits for ever: cancelled.
    AbortWhileWaiting,
    /// Aborted after it finished: the abort changes nothing.
    AbortWhenFinished,
    /// Its handle is dropped at once: it runs on, detached (only its drop is counted).
    Detach,
    /// Never finishes: cancelled when the runtime is dropped.
    AliveAtDrop,
}

/// Checks what a handle gave against the plan and the fate.
fn check_result(
    id: u64,
    plan: &Plan,
    fate: Fate,
    result: Result<u64, JoinError>,
) -> Result<(), String> {
    let finished_as_planned = |result: &Result<u64, JoinError>| match result {
        Ok(output) => !plan.panics && *output == expected(id),
        Err(error) => plan.panics && error.is_panic(),
    };
    let is_cancelled =
        |result: &Result<u64, JoinError>| result.as_ref().is_err_and(|error| error.is_cancelled());
    let fine = match fate {
        Fate::Await | Fate::AbortWhenFinished => finished_as_planned(&result),
        Fate::AbortAtOnce => finished_as_planned(&result) || is_cancelled(&result),
        Fate::AbortWhileWaiting | Fate::AliveAtDrop => is_cancelled(&result),
        Fate::Detach => unreachable!("a detached task has no handle"),
    };
    if fine {
        Ok(())
    } else {
        Err(format!("task {id} ({fate:?}, {plan:?}) gave {result:?}"))
    }
}

/// One top-level task of a round: its plan, its fate, its handle.
struct Spawned {
    id: u64,
    plan: Plan,
    fate: Fate,
    waiting: Arc<AtomicBool>,
    handle: Option<JoinHandle<u64>>,
}

/// Plans and spawns `count` top-level tasks: some from the test's thread (`Runtime::spawn`),
/// some from a foreign thread (`Handle::spawn`), the rest by `block_on`'s future (in `run`).
fn plan_round(rng: &mut Rng, count: usize) -> Vec<(u64, Plan, Fate)> {
    (0..count as u64)
        .map(|id| {
            let mut plan = Plan::random(rng, true);
            let fate = match rng.below(100) {
                0..=59 => Fate::Await,
                60..=69 => Fate::AbortAtOnce,
                70..=77 => Fate::AbortWhileWaiting,
                78..=85 => Fate::AbortWhenFinished,
                86..=95 => Fate::Detach,
                _ => Fate::AliveAtDrop,
            };
            if matches!(fate, Fate::AbortWhileWaiting | Fate::AliveAtDrop) {
                plan.steps.push(Step::Forever);
                plan.panics = false;
            }
            (id, plan, fate)
        })
        .collect()
}

fn spawn_with(
    round: &Arc<Round>,
    spawner: &dyn Fn(Pin<Box<dyn Future<Output = u64> + Send>>) -> JoinHandle<u64>,
    (id, plan, fate): (u64, Plan, Fate),
) -> Spawned {
    let waiting = Arc::new(AtomicBool::new(false));
    let handle = spawner(task(
        Arc::clone(round),
        id,
        plan.clone(),
        Arc::clone(&waiting),
    ));
    let handle = match fate {
        Fate::AbortAtOnce => {
            handle.abort();
            Some(handle)
        }
        Fate::Detach => None,
        _ => Some(handle),
    };
    Spawned {
        id,
        plan,
        fate,
        waiting,
        handle,
    }
}

/// One round: a runtime of 2 to 4 workers; tasks spawned from three places; each handle
/// dealt with as its fate says; then the runtime is dropped and everything is checked.
fn round(rng: &mut Rng, count: usize) {
    let workers = 2 + rng.below(3) as usize;
    let runtime = Runtime::builder().worker_threads(workers).build().unwrap();
    let (round, foreign_threads) = Round::new(rng.next());
    let mut plans = plan_round(rng, count).into_iter();

    let mut spawned: Vec<Spawned> = Vec::new();
    let third = count / 3;
    for plan in plans.by_ref().take(third) {
        spawned.push(spawn_with(&round, &|future| runtime.spawn(future), plan));
    }
    let from_handle: Vec<_> = plans.by_ref().take(third).collect();
    let remote = {
        let handle: Handle = runtime.handle();
        let round = Arc::clone(&round);
        std::thread::spawn(move || {
            from_handle
                .into_iter()
                .map(|plan| spawn_with(&round, &|future| handle.spawn(future), plan))
                .collect::<Vec<_>>()
        })
    };
    let inside: Vec<_> = plans.collect();
    let problems = runtime.block_on({
        let round = Arc::clone(&round);
        async move {
            let mut spawned: Vec<Spawned> = spawned;
            spawned.extend(
                inside
                    .into_iter()
                    .map(|plan| spawn_with(&round, &|future| spawn(future), plan)),
            );
            spawned.extend(remote.join().unwrap());
            let mut problems = Vec::new();
            let mut alive = Vec::new();
            for mut task in spawned {
                let Some(handle) = task.handle.take() else {
                    continue; // detached
                };
                match task.fate {
                    Fate::AliveAtDrop => {
                        task.handle = Some(handle);
                        alive.push(task);
                        continue;
                    }
                    Fate::AbortWhileWaiting => {
                        while !task.waiting.load(Ordering::SeqCst) && !handle.is_finished() {
                            sleep(Duration::from_micros(200)).await;
                        }
                        handle.abort();
                    }
                    Fate::AbortWhenFinished => {
                        while !handle.is_finished() {
                            sleep(Duration::from_micros(200)).await;
                        }
                        handle.abort();
                    }
                    _ => {}
                }
                if let Err(problem) = check_result(task.id, &task.plan, task.fate, handle.await) {
                    problems.push(problem);
                }
            }
            (problems, alive)
        }
    });
    let (mut problems, alive) = problems;
    round.is_dropping.store(true, Ordering::SeqCst);
    drop(runtime);
    round.stop_foreign(foreign_threads);
    for mut task in alive {
        let handle = task.handle.take().unwrap();
        assert!(
            handle.is_finished(),
            "task {} was alive at the runtime's drop, and its handle has no answer",
            task.id
        );
        if let Err(problem) = check_result(
            task.id,
            &task.plan,
            task.fate,
            futures::executor::block_on(handle),
        ) {
            problems.push(problem);
        }
    }
    problems.extend(round.errors.lock().unwrap().drain(..));
    assert!(
        problems.is_empty(),
        "{workers} workers: {}",
        problems.join("\n")
    );
    assert_eq!(
        round.drops.get(),
        round.spawns.get(),
        "{workers} workers: every future is dropped exactly once"
    );
    assert_eq!(
        MISPOLLS.load(Ordering::SeqCst),
        0,
        "a task was polled twice at once, or after Ready"
    );
}

/// Rounds of random tasks on runtimes of 2 to 4 workers: every task finishes as planned or is
/// cancelled, and every future is dropped once.
#[test]
fn random_tasks_finish_or_are_cancelled_and_every_future_is_dropped_once() {
    run_seeded(
        "random_tasks_finish_or_are_cancelled_and_every_future_is_dropped_once",
        |seed| {
            let mut rng = Rng(seed);
            let start = Instant::now();
            let mut rounds = 0;
            loop {
                round(&mut rng, scaled(120, 6));
                rounds += 1;
                if start.elapsed() >= round_budget() {
                    break;
                }
            }
            eprintln!("{rounds} rounds");
        },
    );
}

/// Rounds in which the runtime is dropped while its tasks are queued, running, sleeping and
/// waiting for foreign threads: each handle says "done as planned" or "cancelled", and every
/// future is dropped once (by the drop, or when it finished).
#[test]
fn dropping_the_runtime_mid_flight_cancels_the_rest_and_drops_each_future_once() {
    run_seeded(
        "dropping_the_runtime_mid_flight_cancels_the_rest_and_drops_each_future_once",
        |seed| {
            let mut rng = Rng(seed);
            let start = Instant::now();
            loop {
                let workers = 2 + rng.below(3) as usize;
                let runtime = Runtime::builder().worker_threads(workers).build().unwrap();
                let (round, foreign_threads) = Round::new(rng.next());
                let plans = plan_round(&mut rng, scaled(120, 6));
                let spawned: Vec<Spawned> = runtime.block_on(async {
                    plans
                        .into_iter()
                        .map(|plan| spawn_with(&round, &|future| spawn(future), plan))
                        .collect()
                });
                // Let some of it run, then pull the plug.
                std::thread::sleep(Duration::from_micros(rng.below(3000)));
                round.is_dropping.store(true, Ordering::SeqCst);
                drop(runtime);
                round.stop_foreign(foreign_threads);
                let mut problems = Vec::new();
                for mut task in spawned {
                    let Some(handle) = task.handle.take() else {
                        continue;
                    };
                    assert!(
                        handle.is_finished(),
                        "task {} has no answer after the runtime's drop",
                        task.id
                    );
                    let result = futures::executor::block_on(handle);
                    let fate = match task.fate {
                        // Whatever the plan, the drop may have come first.
                        Fate::Detach => unreachable!(),
                        _ => Fate::AbortAtOnce,
                    };
                    if let Err(problem) = check_result(task.id, &task.plan, fate, result) {
                        problems.push(problem);
                    }
                }
                problems.extend(round.errors.lock().unwrap().drain(..));
                assert!(
                    problems.is_empty(),
                    "{workers} workers: {}",
                    problems.join("\n")
                );
                assert_eq!(
                    round.drops.get(),
                    round.spawns.get(),
                    "{workers} workers: every future is dropped exactly once"
                );
                assert_eq!(
                    MISPOLLS.load(Ordering::SeqCst),
                    0,
                    "a task was polled twice at once, or after Ready"
                );
                if start.elapsed() >= round_budget() {
                    break;
                }
            }
        },
    );
}

/// Ping-pong from outside the runtime: a thread spawns a task, waits for it to say it ran,
/// and spawns the next at once. Each spawn lands just as the worker that ran the previous
/// task looks for more and goes to sleep, the race that the last searcher's second look
/// (`Worker::park`, `idle.rs` "No lost wake-up") is there for: without it the spawn finds
/// that worker still counted as searching, wakes nobody, and the worker sleeps on it.
#[test]
fn spawns_from_outside_racing_the_last_searcher_to_sleep_are_never_lost() {
    within(WATCHDOG, || {
        let runtime = Runtime::builder().worker_threads(2).build().unwrap();
        let (done, ran) = mpsc::channel();
        let start = Instant::now();
        let mut spawns = 0;
        // Without the second look this fails within a few thousand spawns (0.1 s).
        let budget = round_budget().min(Duration::from_secs(1));
        while spawns < scaled(1_000_000, 20) && start.elapsed() < budget {
            let done = done.clone();
            drop(runtime.spawn(async move { done.send(()).unwrap() }));
            ran.recv_timeout(Duration::from_secs(2))
                .unwrap_or_else(|_| {
                    panic!("spawn {spawns} from outside was never run: a lost wake-up")
                });
            spawns += 1;
        }
        eprintln!("{spawns} spawns from outside");
    });
}
