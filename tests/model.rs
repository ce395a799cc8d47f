//! A model-based randomized test: random programs of spawn, sleep, yield, wake-from-thread,
//! abort and join, run on miniloop and checked against a small reference model of what must
//! have happened.
//!
//! The model does not simulate the loop. It predicts what any correct loop must produce:
//! - which tasks finish and which are cancelled, and each finished task's output;
//! - how far a cancelled task got (an abort before the first poll: no poll at all);
//! - that every task's future is dropped exactly once and never polled after `Ready`;
//! - orders where the loop defines them: tasks that only yield finish in round-robin order
//!   (fewer yields first, ties in spawn order), and tasks that only sleep finish in deadline
//!   order (equal deadlines in creation order); no sleep completes before its deadline;
//! - exact poll counts where they are defined (a task that yields `n` times: `n + 1` polls).
//!
//! Programs come from a seeded xorshift generator, so a failure names its seed:
//!
//! ```text
//! cargo test --test model                              # 200 seeds (CI)
//! MINILOOP_MODEL_SEEDS=5000 cargo test --test model    # more seeds
//! MINILOOP_MODEL_SEED=1234 cargo test --test model     # one seed, to debug it
//! ```

mod common;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{panic_message, within, Count, DropCounter, PollCounter, Trace, WATCHDOG};
use futures::channel::oneshot;
use miniloop::{JoinError, JoinHandle};

/// Seeds run by a plain `cargo test` (fast: about a second in a debug build).
const DEFAULT_SEEDS: u64 = 200;
/// The time between two adjacent sleep deadlines.
const SLOT: Duration = Duration::from_millis(1);

/// xorshift64*: a tiny, good-enough generator; no dependency, same programs everywhere.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Never zero (a zero state stays zero); spread small seeds over the whole state.
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// One step of a task's script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// `yield_now().await`.
    Yield,
    /// `sleep_until(base + slot * SLOT).await`: few slots, so equal deadlines are common.
    Sleep { slot: u32 },
    /// Hand a signal to a helper thread and wait until that thread sets it and wakes us;
    /// the thread may wake us `extra_wakes` more times, late (after we moved on or finished).
    Remote { extra_wakes: u32 },
    /// Spawn a child that yields `yields` times and returns `yields`; await its handle.
    SpawnChild { yields: u32 },
}

/// What the program's main future does with a task's handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Await the handle: `Ok(output)`.
    Join,
    /// Drop the handle at once: the task runs on and finishes anyway.
    Detach,
    /// Abort right after spawning, before the loop polls it: cancelled, never polled.
    AbortBeforeStart,
    /// The task ends in a future that never completes; abort it once it got there.
    AbortWhileStuck,
    /// The same, with the abort called from another thread.
    AbortFromThread,
    /// Wait until the task finished, then abort: changes nothing, the handle gives `Ok`.
    AbortAfterFinish,
}

impl Fate {
    fn is_stuck_at_end(self) -> bool {
        matches!(self, Fate::AbortWhileStuck | Fate::AbortFromThread)
    }
}

#[derive(Clone, Debug)]
struct TaskSpec {
    steps: Vec<Step>,
    fate: Fate,
}

impl TaskSpec {
    /// Only `Yield` steps, and it finishes: its place in the finishing order is defined.
    fn is_yield_only(&self) -> bool {
        !self.fate.is_stuck_at_end()
            && self.fate != Fate::AbortBeforeStart
            && self.steps.iter().all(|step| *step == Step::Yield)
    }

    /// Exactly one `Sleep` step, and it finishes.
    fn sleep_only_slot(&self) -> Option<u32> {
        if self.fate.is_stuck_at_end() || self.fate == Fate::AbortBeforeStart {
            return None;
        }
        match self.steps[..] {
            [Step::Sleep { slot }] => Some(slot),
            _ => None,
        }
    }
}

/// A whole random program: the tasks main spawns (in this order) and the order in which main
/// deals with their handles.
#[derive(Clone, Debug)]
struct Program {
    tasks: Vec<TaskSpec>,
    handling_order: Vec<usize>,
}

fn generate(seed: u64) -> Program {
    let mut rng = XorShift::new(seed);
    let task_count = 1 + rng.below(10) as usize;
    // Some programs are all-yield or all-sleep, where the order checks bite hardest.
    let flavour = rng.below(4);
    let tasks = (0..task_count)
        .map(|_| {
            let step_count = rng.below(5) as usize;
            let steps = (0..step_count)
                .map(|_| {
                    let kind = match flavour {
                        0 => 0,
                        1 => 1,
                        _ => rng.below(4),
                    };
                    match kind {
                        0 => Step::Yield,
                        1 => Step::Sleep {
                            slot: rng.below(4) as u32,
                        },
                        2 => Step::Remote {
                            extra_wakes: rng.below(3) as u32,
                        },
                        _ => Step::SpawnChild {
                            yields: rng.below(3) as u32,
                        },
                    }
                })
                .collect();
            let fate = match rng.below(10) {
                0..=3 => Fate::Join,
                4 | 5 => Fate::Detach,
                6 => Fate::AbortBeforeStart,
                7 => Fate::AbortWhileStuck,
                8 => Fate::AbortFromThread,
                _ => Fate::AbortAfterFinish,
            };
            TaskSpec { steps, fate }
        })
        .collect();
    let mut handling_order: Vec<usize> = (0..task_count).collect();
    for index in (1..task_count).rev() {
        let other = rng.below(index as u64 + 1) as usize;
        handling_order.swap(index, other);
    }
    Program {
        tasks,
        handling_order,
    }
}

/// The reference model: a task's output if it finishes.
fn expected_output(task_index: usize, spec: &TaskSpec) -> u64 {
    let steps: u64 = spec
        .steps
        .iter()
        .map(|step| match step {
            Step::SpawnChild { yields } => 10 + u64::from(*yields),
            _ => 1,
        })
        .sum();
    task_index as u64 * 1_000 + steps
}

/// A signal a helper thread sets; the leaf-future rule: file the waker, then read the flag.
#[derive(Default)]
struct Signal {
    is_set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn set_and_wake(&self) {
        self.is_set.store(true, Ordering::SeqCst);
        self.wake_again();
    }

    fn wake_again(&self) {
        let waker = self.waker.lock().unwrap().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn poll_set(&self, cx: &mut Context<'_>) -> Poll<()> {
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.is_set.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A request to a helper thread: the signal to set, and how many late wakes to add.
type HelperRequest = (Arc<Signal>, u32);

/// How many times a `PanicIfPolledAfterReady` fired: the panic itself may end up in a
/// `JoinError` nobody reads (the handle has taken its output already), so count it too.
static POLLS_AFTER_READY: AtomicUsize = AtomicUsize::new(0);

/// Panics if the wrapped future is polled after it returned `Ready`.
struct PanicIfPolledAfterReady<F> {
    inner: Pin<Box<F>>,
    is_done: bool,
}

impl<F: Future> Future for PanicIfPolledAfterReady<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.is_done {
            POLLS_AFTER_READY.fetch_add(1, Ordering::SeqCst);
            panic!("polled after it returned `Ready`");
        }
        let poll = self.inner.as_mut().poll(cx);
        self.is_done = poll.is_ready();
        poll
    }
}

fn guarded<F: Future>(inner: F) -> PanicIfPolledAfterReady<F> {
    PanicIfPolledAfterReady {
        inner: Box::pin(inner),
        is_done: false,
    }
}

/// What one task reports back to the checker.
#[derive(Clone, Default)]
struct Probe {
    polls: Count,
    drops: Count,
    steps_done: Count,
    is_stuck: Arc<AtomicBool>,
    /// Whether its one sleep was filed (polled before its deadline), for the order check.
    filed_sleep: Arc<AtomicBool>,
}

/// Everything a running program shares.
#[derive(Clone)]
struct World {
    base: Instant,
    finished: Trace,
    early_sleeps: Trace,
    helpers: Vec<mpsc::Sender<HelperRequest>>,
    child_drops: Count,
    children_spawned: Count,
}

/// The body of task `index`: its script, then either its output or a wait that never ends.
/// `drops` lives in the future from the moment it is created, so a task aborted before its
/// first poll is counted too.
async fn task_body(
    index: usize,
    spec: TaskSpec,
    world: World,
    probe: Probe,
    _drops: DropCounter,
) -> u64 {
    for step in &spec.steps {
        match *step {
            Step::Yield => miniloop::yield_now().await,
            Step::Sleep { slot } => {
                let deadline = world.base + SLOT * slot;
                let sleep = miniloop::sleep_until(deadline);
                probe
                    .filed_sleep
                    .store(Instant::now() < deadline, Ordering::SeqCst);
                sleep.await;
                let woke_at = Instant::now();
                if woke_at < deadline {
                    world.early_sleeps.push(format!(
                        "task {index}: sleep to slot {slot} completed {:?} early",
                        deadline - woke_at
                    ));
                }
            }
            Step::Remote { extra_wakes } => {
                let signal = Arc::new(Signal::default());
                let helper = &world.helpers[index % world.helpers.len()];
                helper
                    .send((Arc::clone(&signal), extra_wakes))
                    .expect("helper threads outlive the program");
                poll_fn(|cx| signal.poll_set(cx)).await;
            }
            Step::SpawnChild { yields } => {
                world.children_spawned.bump();
                let child_drops = DropCounter::new(&world.child_drops);
                let child = miniloop::spawn(guarded(async move {
                    let _child_drops = child_drops;
                    for _ in 0..yields {
                        miniloop::yield_now().await;
                    }
                    yields
                }));
                let yields_seen = child.await.expect("a child is never aborted");
                assert_eq!(yields_seen, yields);
            }
        }
        probe.steps_done.bump();
    }
    if spec.fate.is_stuck_at_end() {
        probe.is_stuck.store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    world.finished.push(index.to_string());
    expected_output(index, &spec)
}

/// A helper thread: sets each signal it is handed (after a little jitter), then adds the
/// late wakes. Ends when every sender is gone.
fn helper_thread(requests: mpsc::Receiver<HelperRequest>, seed: u64) {
    let mut rng = XorShift::new(seed);
    for (signal, extra_wakes) in requests {
        for _ in 0..rng.below(3) {
            std::thread::yield_now();
        }
        signal.set_and_wake();
        for _ in 0..extra_wakes {
            std::thread::yield_now();
            signal.wake_again();
        }
    }
}

/// Waits (yielding to the loop) until `condition` holds; fails after the watchdog.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < WATCHDOG,
            "stuck: {what} never happened within {WATCHDOG:?}"
        );
        miniloop::yield_now().await;
    }
}

/// What main saw when it dealt with a task's handle.
type Outcome = Result<u64, JoinError>;

/// Runs `program` and checks it against the model. Panics (with a message) on a mismatch.
fn run_and_check(program: &Program, seed: u64) {
    let probes: Vec<Probe> = program.tasks.iter().map(|_| Probe::default()).collect();
    let (helper_txs, helper_threads): (Vec<_>, Vec<_>) = (0..2)
        .map(|number| {
            let (tx, rx) = mpsc::channel();
            let thread = std::thread::spawn(move || helper_thread(rx, seed ^ number));
            (tx, thread)
        })
        .unzip();
    let mut world = World {
        base: Instant::now() + Duration::from_millis(2),
        finished: Trace::default(),
        early_sleeps: Trace::default(),
        helpers: helper_txs,
        child_drops: Count::default(),
        children_spawned: Count::default(),
    };

    let outcomes: Vec<Option<Outcome>> = miniloop::run({
        let world = world.clone();
        let probes = probes.clone();
        let program = program.clone();
        async move {
            // Spawn everything first, in order; abort or detach at once where the fate says so.
            let mut handles: Vec<Option<JoinHandle<u64>>> = Vec::new();
            for (index, spec) in program.tasks.iter().enumerate() {
                let probe = probes[index].clone();
                let drops = DropCounter::new(&probe.drops);
                let body = task_body(index, spec.clone(), world.clone(), probe.clone(), drops);
                let handle = miniloop::spawn(PollCounter::new(&probe.polls, guarded(body)));
                match spec.fate {
                    Fate::AbortBeforeStart => handle.abort(),
                    Fate::Detach => {
                        drop(handle);
                        handles.push(None);
                        continue;
                    }
                    _ => {}
                }
                handles.push(Some(handle));
            }
            let mut outcomes: Vec<Option<Outcome>> = program.tasks.iter().map(|_| None).collect();
            for &index in &program.handling_order {
                let Some(handle) = handles[index].take() else {
                    continue;
                };
                let probe = &probes[index];
                let outcome = match program.tasks[index].fate {
                    Fate::Join | Fate::AbortBeforeStart => handle.await,
                    Fate::AbortWhileStuck => {
                        wait_until("the task reaching its endless wait", || {
                            probe.is_stuck.load(Ordering::SeqCst)
                        })
                        .await;
                        handle.abort();
                        handle.await
                    }
                    Fate::AbortFromThread => {
                        wait_until("the task reaching its endless wait", || {
                            probe.is_stuck.load(Ordering::SeqCst)
                        })
                        .await;
                        let (back_tx, back_rx) = oneshot::channel();
                        std::thread::spawn(move || {
                            handle.abort();
                            let _ = back_tx.send(handle);
                        });
                        back_rx
                            .await
                            .expect("the thread sends the handle back")
                            .await
                    }
                    Fate::AbortAfterFinish => {
                        wait_until("the task finishing", || handle.is_finished()).await;
                        handle.abort();
                        handle.await
                    }
                    Fate::Detach => unreachable!("detached handles were dropped"),
                };
                outcomes[index] = Some(outcome);
            }
            // Detached tasks run on after their handle is gone; wait for them to finish.
            let finished = world.finished.clone();
            let finishers = expected_finishers(&program);
            wait_until("every task that should finish finishing", || {
                finished.events().len() >= finishers
            })
            .await;
            outcomes
        }
    });
    drop(std::mem::take(&mut world.helpers));
    for thread in helper_threads {
        thread.join().expect("helper threads do not panic");
    }
    check_against_model(program, &probes, &outcomes, &world);
}

/// How many tasks the model says finish (return an output).
fn expected_finishers(program: &Program) -> usize {
    program
        .tasks
        .iter()
        .filter(|spec| !spec.fate.is_stuck_at_end() && spec.fate != Fate::AbortBeforeStart)
        .count()
}

fn check_against_model(
    program: &Program,
    probes: &[Probe],
    outcomes: &[Option<Outcome>],
    world: &World,
) {
    for (index, spec) in program.tasks.iter().enumerate() {
        let probe = &probes[index];
        let what = format!("task {index} ({spec:?})");
        assert_eq!(
            probe.drops.get(),
            1,
            "{what}: its future was dropped {} times",
            probe.drops.get()
        );
        let outcome = &outcomes[index];
        match spec.fate {
            Fate::Join | Fate::AbortAfterFinish => match outcome {
                Some(Ok(output)) => assert_eq!(*output, expected_output(index, spec), "{what}"),
                other => panic!("{what}: expected its output, got {other:?}"),
            },
            Fate::Detach => assert!(outcome.is_none()),
            Fate::AbortBeforeStart | Fate::AbortWhileStuck | Fate::AbortFromThread => match outcome
            {
                Some(Err(error)) if error.is_cancelled() => {}
                other => panic!("{what}: expected a cancellation, got {other:?}"),
            },
        }
        let expected_steps = match spec.fate {
            Fate::AbortBeforeStart => 0,
            _ => spec.steps.len(),
        };
        assert_eq!(probe.steps_done.get(), expected_steps, "{what}: steps done");
        if spec.fate == Fate::AbortBeforeStart {
            assert_eq!(
                probe.polls.get(),
                0,
                "{what}: aborted before its first poll, yet polled"
            );
        }
        if spec.is_yield_only() {
            assert_eq!(
                probe.polls.get(),
                spec.steps.len() + 1,
                "{what}: a task that yields n times is polled n + 1 times"
            );
        }
        if spec.sleep_only_slot().is_some() {
            let expected_polls = if probe.filed_sleep.load(Ordering::SeqCst) {
                2
            } else {
                1
            };
            assert_eq!(
                probe.polls.get(),
                expected_polls,
                "{what}: polls of a single sleep"
            );
        }
    }
    assert_eq!(
        world.child_drops.get(),
        world.children_spawned.get(),
        "every child task is dropped once"
    );
    assert_eq!(
        POLLS_AFTER_READY.load(Ordering::SeqCst),
        0,
        "a late wake polled a finished task"
    );
    let early = world.early_sleeps.events();
    assert!(early.is_empty(), "sleeps completed early: {early:?}");

    let finished: Vec<usize> = world
        .finished
        .events()
        .iter()
        .map(|index| index.parse().unwrap())
        .collect();
    assert_eq!(
        finished.len(),
        expected_finishers(program),
        "finished: {finished:?}"
    );

    // Round-robin: tasks that only yield finish by (yields, spawn order).
    let yielders: Vec<usize> = finished
        .iter()
        .copied()
        .filter(|index| program.tasks[*index].is_yield_only())
        .collect();
    let mut round_robin = yielders.clone();
    round_robin.sort_by_key(|index| (program.tasks[*index].steps.len(), *index));
    assert_eq!(
        yielders, round_robin,
        "tasks that only yield must finish in round-robin order (fewer yields first, ties in \
         spawn order)"
    );

    // Timers: single sleeps filed before their deadline finish by (deadline, creation order).
    let sleepers: Vec<usize> = finished
        .iter()
        .copied()
        .filter(|index| {
            program.tasks[*index].sleep_only_slot().is_some()
                && probes[*index].filed_sleep.load(Ordering::SeqCst)
        })
        .collect();
    let mut by_deadline = sleepers.clone();
    by_deadline.sort_by_key(|index| (program.tasks[*index].sleep_only_slot(), *index));
    assert_eq!(
        sleepers, by_deadline,
        "single sleeps must finish in deadline order, equal deadlines in creation order"
    );
}

/// The seeds to run: `MINILOOP_MODEL_SEED` (one), else `MINILOOP_MODEL_SEEDS` (how many),
/// else the default. Under miri, three.
fn seeds() -> Vec<u64> {
    if cfg!(miri) {
        return (0..3).collect();
    }
    let read = |name: &str| {
        std::env::var(name).ok().map(|text| {
            text.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("`{name}` must be a whole number (got {text:?})"))
        })
    };
    if let Some(seed) = read("MINILOOP_MODEL_SEED") {
        return vec![seed];
    }
    (0..read("MINILOOP_MODEL_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect()
}

/// Proves that random programs of spawn, sleep, yield, wake-from-thread, abort and join do
/// exactly what the reference model says, seed after seed; a failure prints its seed and
/// program.
#[test]
fn random_programs_match_the_reference_model() {
    let seeds = seeds();
    let seed_count = seeds.len();
    for seed in seeds {
        let program = generate(seed);
        let for_run = program.clone();
        let result = std::panic::catch_unwind(move || {
            within(WATCHDOG, move || run_and_check(&for_run, seed));
        });
        if let Err(payload) = result {
            panic!(
                "the model test failed for seed {seed} (of {seed_count}): {}\n\
                 program: {program:#?}\n\
                 rerun it alone: MINILOOP_MODEL_SEED={seed} cargo test --test model",
                panic_message(&*payload)
            );
        }
    }
}

/// Proves the generator is deterministic and varied: the same seed gives the same program,
/// and the default seeds cover every step kind and every fate.
#[test]
fn the_generator_is_deterministic_and_covers_every_step_and_fate() {
    assert_eq!(format!("{:?}", generate(7)), format!("{:?}", generate(7)));
    let programs: Vec<Program> = (0..DEFAULT_SEEDS).map(generate).collect();
    let steps: Vec<Step> = programs
        .iter()
        .flat_map(|program| program.tasks.iter().flat_map(|task| task.steps.clone()))
        .collect();
    assert!(steps.contains(&Step::Yield));
    assert!(steps.iter().any(|step| matches!(step, Step::Sleep { .. })));
    assert!(steps
        .iter()
        .any(|step| matches!(step, Step::Remote { extra_wakes } if *extra_wakes > 0)));
    assert!(steps
        .iter()
        .any(|step| matches!(step, Step::SpawnChild { .. })));
    let fates: Vec<Fate> = programs
        .iter()
        .flat_map(|program| program.tasks.iter().map(|task| task.fate))
        .collect();
    for fate in [
        Fate::Join,
        Fate::Detach,
        Fate::AbortBeforeStart,
        Fate::AbortWhileStuck,
        Fate::AbortFromThread,
        Fate::AbortAfterFinish,
    ] {
        assert!(fates.contains(&fate), "no {fate:?} in the default seeds");
    }
    let equal_deadlines = programs.iter().any(|program| {
        let slots: Vec<u32> = program
            .tasks
            .iter()
            .filter_map(TaskSpec::sleep_only_slot)
            .collect();
        (0..slots.len()).any(|i| slots[i + 1..].contains(&slots[i]))
    });
    assert!(
        equal_deadlines,
        "no program with two single sleeps on one deadline"
    );
}
