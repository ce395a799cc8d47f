//! An exhaustive interleaving check (loom) of the multi-thread runtime's sleep protocol:
//! `src/multi_thread/idle.rs` (who sleeps, whom to wake), `park.rs` (how a worker sleeps) and
//! the steps of `Worker::run`, `Worker::park`, `Shared::notify_parked` and
//! `Shared::notify_if_work_pending` that use them. The question (issue 18): is a task pushed
//! while the last worker goes to sleep ever left in a queue with every worker asleep?
//!
//! `src/` uses std's `Mutex`, `Condvar` and atomics, which loom cannot see into (and
//! `idle.rs` names them directly, so it cannot be compiled here with loom's types the way
//! `tests/loom_join.rs` compiles the join cell). So, like `tests/loom_wake.rs`, this file
//! re-states the protocol with loom's types, step for step, keeping `src/`'s names, its order
//! of operations and its memory orderings; each function below names the one it re-states.
//! What is left out, and why that keeps the model honest:
//!
//! - Timers (the keeper's timed sleep, `fire_and_release`): they only add wake-ups, and a
//!   wake-up for nothing sends the worker back to sleep (`is_parked` still true).
//! - The keeper's sleep in the I/O driver (`Parker::park_in_driver`): the same states, with
//!   `PARKED_IN_DRIVER` for `PARKED` and the poller's waker (an eventfd, which keeps a wake
//!   that comes before the wait, as `NOTIFIED` does) for the condition variable; whoever
//!   unparks learns from the swap which of the two to wake (`Shared::unpark`).
//! - `CHECK_INTERVAL` (a look at the shared queue every 61 tasks): no model runs 61 tasks.
//! - The local queues are `Mutex<VecDeque>`s, as the interim `queue.rs` is; its `is_empty`
//!   takes the lock. The lock-free ring that replaces it must keep what the proof needs of
//!   `Stealer::is_empty`: a `SeqCst` load after the owner's `SeqCst` (or stronger) push.
//!
//! Each model has two workers and a pusher thread that queues tasks from outside the
//! workers (`Shared::inject`: the injector's push, then `notify_parked`). The test's own
//! thread waits until every task has run, then shuts the runtime down as `Runtime::drop`
//! does. A lost wake-up leaves that wait, and every worker, asleep for ever: loom reports the
//! deadlock. Each task is also checked to run exactly once. The broken variants are the same
//! model with one rule broken; loom must find the lost wake-up in each (`#[should_panic]`),
//! which shows the model can fail.
//!
//! Run it with the other models (`loom/Cargo.toml` says why this is a package of its own):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

use std::collections::VecDeque;
use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;

/// Which rule of the protocol a model keeps or breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// What `src/` does.
    Src,
    /// The last searcher to park does not look at the queues again
    /// (`Worker::park` without `notify_if_work_pending`).
    NoRecheck,
    /// `Src` with `Relaxed` for the injector's length and the idle word: the pusher can read
    /// a word from before the worker parked while the worker reads a length from before the
    /// push (the store-buffering pattern).
    Relaxed,
    /// `Src` with release/acquire only (`Release` pushes, `AcqRel` updates of the word,
    /// `Acquire` loads): not enough either, store buffering needs `SeqCst` on both sides.
    AcquireRelease,
    /// The pusher notifies, then pushes (`Shared::inject` in the wrong order).
    NotifyBeforePush,
}

impl Protocol {
    /// The ordering of a write the proof needs to be `SeqCst`.
    fn write(self) -> Ordering {
        match self {
            Protocol::Relaxed => Ordering::Relaxed,
            Protocol::AcquireRelease => Ordering::AcqRel,
            _ => Ordering::SeqCst,
        }
    }

    /// The ordering of a read the proof needs to be `SeqCst`.
    fn read(self) -> Ordering {
        match self {
            Protocol::Relaxed => Ordering::Relaxed,
            Protocol::AcquireRelease => Ordering::Acquire,
            _ => Ordering::SeqCst,
        }
    }
}

/// `idle.rs`: the searching count is the low half of the word, unparked workers the high half.
const UNPARKED_ONE: usize = 1 << 16;
const SEARCHING_MASK: usize = UNPARKED_ONE - 1;

/// An atomic whose first value loom treats as a `SeqCst` store.
///
/// loom models a `SeqCst` access as `AcqRel`, plus one rule: a `SeqCst` load never reads a
/// `SeqCst` store older than the newest `SeqCst` store (loom's README, "Unsupported
/// features"). It records `AtomicUsize::new`'s value as a plain store, so a `SeqCst` load on
/// a thread that has not synchronized with the writers could still read that first value
/// after later `SeqCst` updates: the pusher would see the word as it was before both workers
/// parked. Rust (C++20's model) forbids that: the value was written before the threads were
/// spawned, so it happens before every later `SeqCst` update, and a `SeqCst` load reads the
/// last of those or a later value. Writing the first value again with `SeqCst` before any
/// thread starts changes nothing in the protocol and lets loom apply its rule to it.
fn seq_cst_atomic(value: usize) -> AtomicUsize {
    let atomic = AtomicUsize::new(value);
    atomic.store(value, Ordering::SeqCst);
    atomic
}

/// `idle::Idle`, every method as `src/` has it (the orderings from `Protocol`).
struct Idle {
    protocol: Protocol,
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

impl Idle {
    fn new(protocol: Protocol, workers: usize) -> Idle {
        Idle {
            protocol,
            state: seq_cst_atomic(workers * UNPARKED_ONE),
            sleepers: Mutex::new(Vec::new()),
            workers,
        }
    }

    /// `Idle::should_wake_one`.
    fn should_wake_one(&self) -> bool {
        let state = self.state.load(self.protocol.read());
        state & SEARCHING_MASK == 0 && state / UNPARKED_ONE < self.workers
    }

    /// `Idle::worker_to_notify`.
    fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_wake_one() {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap();
        if !self.should_wake_one() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state
            .fetch_add(UNPARKED_ONE + 1, self.protocol.write());
        Some(worker)
    }

    /// `Idle::start_searching`.
    fn start_searching(&self) -> bool {
        let state = self.state.load(self.protocol.read());
        if 2 * (state & SEARCHING_MASK) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, self.protocol.write());
        true
    }

    /// `Idle::stop_searching`.
    fn stop_searching(&self) -> bool {
        let previous = self.state.fetch_sub(1, self.protocol.write());
        assert!(previous & SEARCHING_MASK > 0, "stopped searching twice");
        previous & SEARCHING_MASK == 1
    }

    /// `Idle::park`.
    fn park(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap();
        let decrement = UNPARKED_ONE + usize::from(is_searching);
        let previous = self.state.fetch_sub(decrement, self.protocol.write());
        sleepers.push(worker);
        is_searching && previous & SEARCHING_MASK == 1
    }

    /// `Idle::unpark_self`.
    fn unpark_self(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap();
        match sleepers.iter().position(|&sleeper| sleeper == worker) {
            Some(position) => {
                sleepers.swap_remove(position);
                self.state.fetch_add(UNPARKED_ONE, self.protocol.write());
                true
            }
            None => false,
        }
    }

    /// `Idle::is_parked`.
    fn is_parked(&self, worker: usize) -> bool {
        self.sleepers.lock().unwrap().contains(&worker)
    }
}

/// `park::Parker`: an atomic state (EMPTY, PARKED, NOTIFIED) before a lock and a condvar; an
/// `unpark` before the `park` is kept, and an `unpark` of an awake worker is one swap.
#[derive(Default)]
struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

impl Parker {
    /// `Parker::park(None)` (the model has no timers).
    fn park(&self) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock.lock().unwrap();
        if self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.state.swap(EMPTY, Ordering::SeqCst); // NOTIFIED between the first look and the lock
            return;
        }
        loop {
            guard = self.condvar.wait(guard).unwrap();
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// `Parker::unpark`.
    fn unpark(&self) {
        if self.state.swap(NOTIFIED, Ordering::SeqCst) == PARKED {
            drop(self.lock.lock().unwrap());
            self.condvar.notify_one();
        }
    }
}

/// `injector::Injector`: a locked queue and a length that can be read without the lock.
struct Injector {
    protocol: Protocol,
    queue: Mutex<VecDeque<usize>>,
    len: AtomicUsize,
}

impl Injector {
    /// `Injector::push`: the length goes up after the task is in, under the lock.
    fn push(&self, task: usize) {
        let mut queue = self.queue.lock().unwrap();
        queue.push_back(task);
        self.len.fetch_add(1, self.protocol.write());
    }

    /// `Injector::pop` (`pop_batch` takes one at a time when the model has few tasks).
    fn pop(&self) -> Option<usize> {
        if self.is_empty() {
            return None;
        }
        let mut queue = self.queue.lock().unwrap();
        let task = queue.pop_front()?;
        // `src/` subtracts with `Relaxed`, which is enough: the lock orders this pop before
        // any later push, so a `SeqCst` load that comes after that push (in the single order
        // of `SeqCst` operations) cannot read the value this pop wrote. loom does not apply
        // that rule to a non-`SeqCst` store (see `seq_cst_atomic`): with `Relaxed` here it
        // lets the last searcher's look read "empty" after a second push and reports a lost
        // wake-up that Rust's memory model rules out (`two_tasks_pushed_in_a_row_are_both_run`
        // finds it in a few seconds). `SeqCst` here only hides that false alarm.
        self.len.fetch_sub(1, Ordering::SeqCst);
        Some(task)
    }

    /// `Injector::is_empty`.
    fn is_empty(&self) -> bool {
        self.len.load(self.protocol.read()) == 0
    }
}

/// `multi_thread::Shared`, the parts the sleep protocol uses.
struct Shared {
    protocol: Protocol,
    injector: Injector,
    /// The workers' local queues (`queue.rs`, interim: a locked `VecDeque`).
    locals: Vec<Mutex<VecDeque<usize>>>,
    parkers: Vec<Parker>,
    idle: Idle,
    is_shut_down: AtomicBool,
    /// How many times each task ran (the model's check, not the runtime's).
    runs: Vec<AtomicUsize>,
    /// Tasks run so far, and the condvar the test's thread waits on until all have.
    finished: Mutex<usize>,
    all_finished: Condvar,
    /// Task `n` spawns `children[n]` (more task numbers) onto its worker's queue.
    children: Vec<Vec<usize>>,
}

impl Shared {
    /// `Shared::notify_parked`.
    fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.parkers[worker].unpark();
        }
    }

    /// `Shared::notify_if_work_pending`.
    fn notify_if_work_pending(&self) {
        let has_work = !self.injector.is_empty()
            || self
                .locals
                .iter()
                .any(|local| !local.lock().unwrap().is_empty());
        if has_work {
            self.notify_parked();
        }
    }

    /// `Shared::inject`, from the pusher's thread.
    fn inject(&self, task: usize) {
        if self.protocol == Protocol::NotifyBeforePush {
            self.notify_parked();
            self.injector.push(task);
            return;
        }
        self.injector.push(task);
        self.notify_parked();
    }

    fn is_shut_down(&self) -> bool {
        self.is_shut_down.load(Ordering::SeqCst)
    }
}

/// `worker::Worker`: the state a worker thread keeps to itself.
struct Worker {
    shared: Arc<Shared>,
    index: usize,
    is_searching: bool,
}

impl Worker {
    /// `Worker::run`, without the every-61-tasks maintenance.
    fn run(mut self) {
        while !self.shared.is_shut_down() {
            match self.next_task() {
                Some(task) => self.run_task(task),
                None => self.park(),
            }
        }
    }

    /// `Worker::next_task`: its own queue, the shared queue, then stealing.
    fn next_task(&mut self) -> Option<usize> {
        if let Some(task) = self.shared.locals[self.index].lock().unwrap().pop_front() {
            return Some(task);
        }
        if let Some(task) = self.shared.injector.pop() {
            return Some(task);
        }
        self.steal()
    }

    /// `Worker::steal`: half of a victim's queue, then the shared queue once more.
    fn steal(&mut self) -> Option<usize> {
        if !self.is_searching {
            if !self.shared.idle.start_searching() {
                return None;
            }
            self.is_searching = true;
        }
        for victim in 0..self.shared.locals.len() {
            if victim == self.index {
                continue;
            }
            let mut stolen: VecDeque<usize> = {
                let mut victim = self.shared.locals[victim].lock().unwrap();
                let take = victim.len().div_ceil(2);
                victim.drain(..take).collect()
            };
            if let Some(first) = stolen.pop_front() {
                self.shared.locals[self.index]
                    .lock()
                    .unwrap()
                    .extend(stolen);
                return Some(first);
            }
        }
        self.shared.injector.pop()
    }

    /// `Worker::run_task`: stop searching (waking the next searcher if this was the last),
    /// then poll. A poll here runs the task to completion, spawning its children.
    fn run_task(&mut self, task: usize) {
        if self.is_searching {
            self.is_searching = false;
            if self.shared.idle.stop_searching() {
                self.shared.notify_parked();
            }
        }
        let runs = self.shared.runs[task].fetch_add(1, Ordering::Relaxed);
        assert_eq!(runs, 0, "task {task} ran twice");
        for &child in &self.shared.children[task] {
            self.push(child);
        }
        *self.shared.finished.lock().unwrap() += 1;
        self.shared.all_finished.notify_one();
    }

    /// `WorkerContext::push`: onto this worker's queue; wake a sleeper if there is more here
    /// than this worker is about to run.
    fn push(&self, task: usize) {
        let len = {
            let mut local = self.shared.locals[self.index].lock().unwrap();
            local.push_back(task);
            local.len()
        };
        if len > 1 {
            self.shared.notify_parked();
        }
    }

    /// `Worker::park` (the branch for tasks fired into this queue by timers is left out: no
    /// timers here, and nobody else pushes into a worker's own queue).
    fn park(&mut self) {
        let shared = Arc::clone(&self.shared);
        let index = self.index;
        let was_searching = std::mem::replace(&mut self.is_searching, false);
        if shared.idle.park(index, was_searching) && shared.protocol != Protocol::NoRecheck {
            shared.notify_if_work_pending();
        }
        loop {
            if shared.is_shut_down() {
                shared.idle.unpark_self(index);
                return;
            }
            shared.parkers[index].park();
            if !shared.idle.is_parked(index) {
                self.is_searching = true;
                return;
            }
        }
    }
}

/// Runs a model: two workers; a pusher thread injects `pushed` tasks one after the other;
/// `children[n]` lists the tasks that task `n` spawns onto its worker's queue. The test's
/// thread waits until every task ran, then shuts down as `Runtime::drop` does.
fn check(protocol: Protocol, pushed: &'static [usize], children: &'static [&'static [usize]]) {
    const WORKERS: usize = 2;
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        let tasks = children.len();
        let shared = Arc::new(Shared {
            protocol,
            injector: Injector {
                protocol,
                queue: Mutex::new(VecDeque::new()),
                len: seq_cst_atomic(0),
            },
            locals: (0..WORKERS).map(|_| Mutex::new(VecDeque::new())).collect(),
            parkers: (0..WORKERS).map(|_| Parker::default()).collect(),
            idle: Idle::new(protocol, WORKERS),
            is_shut_down: AtomicBool::new(false),
            runs: (0..tasks).map(|_| AtomicUsize::new(0)).collect(),
            finished: Mutex::new(0),
            all_finished: Condvar::new(),
            children: children.iter().map(|spawns| spawns.to_vec()).collect(),
        });
        let workers: Vec<_> = (0..WORKERS)
            .map(|index| {
                let worker = Worker {
                    shared: Arc::clone(&shared),
                    index,
                    is_searching: false,
                };
                thread::spawn(move || worker.run())
            })
            .collect();
        let pusher = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                for &task in pushed {
                    shared.inject(task);
                }
            })
        };

        // A lost wake-up: this waits for ever, with every worker asleep (loom: deadlock).
        let mut finished = shared.finished.lock().unwrap();
        while *finished < tasks {
            finished = shared.all_finished.wait(finished).unwrap();
        }
        drop(finished);
        pusher.join().unwrap();

        // `Runtime::drop`.
        shared.is_shut_down.store(true, Ordering::SeqCst);
        for parker in &shared.parkers {
            parker.unpark();
        }
        for worker in workers {
            worker.join().unwrap();
        }
        for (task, runs) in shared.runs.iter().enumerate() {
            assert_eq!(runs.load(Ordering::Relaxed), 1, "task {task}");
        }
        // Every worker is counted awake again. (Not "none searches": a worker chosen by
        // `worker_to_notify` that sees the shutdown before it looks for work leaves its
        // searching count behind, as `src/` does; nothing reads the word after shutdown.)
        assert_eq!(
            shared.idle.state.load(Ordering::SeqCst) / UNPARKED_ONE,
            WORKERS
        );
    });
}

/// One task pushed from outside while both workers look for work and go to sleep: whatever
/// the interleaving, a worker runs it.
#[test]
fn a_task_pushed_while_the_workers_go_to_sleep_is_run() {
    check(Protocol::Src, &[0], &[&[]]);
}

/// Two tasks pushed one after the other: the second may land while the worker woken for the
/// first is still searching (no second wake), or after it parked again.
#[test]
fn two_tasks_pushed_in_a_row_are_both_run() {
    check(Protocol::Src, &[0, 1], &[&[], &[]]);
}

/// A task that spawns two children onto its worker's queue: the second spawn wakes the other
/// worker, which steals; whoever runs what, all three run once.
#[test]
fn children_spawned_on_a_worker_are_run_or_stolen() {
    check(Protocol::Src, &[0], &[&[1, 2], &[], &[]]);
}

/// Broken on purpose: the last searcher parks without looking again. The pusher reads the
/// word while that worker still counts as searching, so wakes nobody; the worker then
/// sleeps with the task queued.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_no_recheck_by_the_last_searcher_loses_the_task() {
    check(Protocol::NoRecheck, &[0], &[&[]]);
}

/// Broken on purpose: `Relaxed` length and word. The pusher can read the word from before
/// the worker parked (a searcher: wake nobody) while the worker's last look reads the length
/// from before the push (empty): both miss.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_relaxed_length_and_word_lose_the_task() {
    check(Protocol::Relaxed, &[0], &[&[]]);
}

/// Broken on purpose: release/acquire is not enough for the same reason.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_acquire_release_length_and_word_lose_the_task() {
    check(Protocol::AcquireRelease, &[0], &[&[]]);
}

/// Broken on purpose: notify, then push. The woken worker searches, finds nothing, parks as
/// the last searcher and looks again before the push lands.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_notify_before_push_loses_the_task() {
    check(Protocol::NotifyBeforePush, &[0], &[&[]]);
}
