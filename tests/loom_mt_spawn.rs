//! An exhaustive interleaving check (loom) of a multi-thread task's state word,
//! `src/multi_thread/state.rs`: workers poll a task while other threads wake it.
//!
//! `state.rs` reads the word through `crate::task::Header`, so it cannot be compiled here on
//! its own; like `tests/loom_wake.rs`, this file re-states it with loom's atomics, every
//! transition as `src/` has it (same function names, same compare-exchanges, same
//! orderings): `mark_woken` (IDLE→SCHEDULED: the waker queues it; RUNNING→NOTIFIED: the
//! worker will; anything else: covered), `mark_running` (SCHEDULED→RUNNING), `mark_idle`
//! (RUNNING→IDLE, or NOTIFIED→SCHEDULED: queue it again) and `mark_done`. Around them, the
//! steps of `ArcWake for Task` (a wake queues the task only if `mark_woken` says so) and of
//! `Worker::run_task` (`into_parked`, then `mark_idle`, then `ParkedTask::resume` and a push
//! if it says so).
//!
//! Each model spawns one task (queued, as `Shared::spawn` does) and a number of waker
//! threads; each waker delivers a message (an atomic the task's poll reads with `Acquire`,
//! as a channel would be read), then wakes the task. The task is ready once a poll sees every
//! message. Workers take the task from a shared queue. loom runs every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` forced switches) and fails a model if:
//!
//! - two workers poll the task at once, or more than one `TaskRef` (the right to poll) exists:
//!   a wake queued a task that was already queued or running;
//! - a wake is lost: a poll answered `Pending`, and the wake after its last look never led to
//!   another poll; the workers then wait for ever and loom reports a deadlock.
//!
//! The broken variants are the same model with one rule broken; loom must catch each
//! (`#[should_panic]`). Run it with the other models (`loom/Cargo.toml`):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

use std::sync::atomic::AtomicUsize as StdAtomicUsize;
use std::sync::Arc;

use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;

/// Which rule of `state.rs` a model keeps or breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// What `src/` did first, and the bug loom found in it: a wake that finds the task
    /// covered (SCHEDULED or NOTIFIED) only loads the word (see `Src` for why that loses a
    /// wake). Kept as a broken variant.
    LoadOnly,
    /// What `src/` does, since this model found the bug of `LoadOnly`: a wake that finds the
    /// task covered (SCHEDULED or NOTIFIED) still writes the word, with a compare-exchange
    /// that leaves it as it is. Before the fix such a wake only loaded the word (`Acquire`), which orders nothing before the coming poll: the poll
    /// may not see what the waker wrote before it woke the task, answer `Pending`, and wait
    /// for a wake that already happened (the store-buffering pattern: the waker writes its
    /// message then reads the word, the worker writes the word then reads the message). The
    /// load may even read SCHEDULED from before the poll began. std requires the opposite:
    /// every wake, coalesced or not, happens before the poll that covers it (`Waker::wake`'s
    /// docs, rust-lang/rust#157694). A compare-exchange is ordered in the word's modification
    /// order, so the worker's `mark_running` swap or `mark_idle` compare-exchange (`Acquire`)
    /// reads it or a later write, and synchronizes with it. `mark_idle` (NOTIFIED to
    /// SCHEDULED) and `mark_done` then write with a `swap` instead of a `store`: in Rust's
    /// model the store would do (a covered wake's compare-exchange cannot land after a store
    /// that came after the NOTIFIED it read), but loom keeps a partial modification order and
    /// lets it, reporting a NOTIFIED task that nobody queues. The swap costs a locked
    /// instruction once per finished task and once per wake during a poll. The broken
    /// variants below are built on this one.
    Src,
    /// A wake that finds the task RUNNING queues it too (as a wake of an idle task does),
    /// instead of leaving that to the worker: a second `TaskRef`, and two polls at once.
    WakeQueuesFromRunning,
    /// `mark_idle` stores IDLE without looking: a wake during the poll (NOTIFIED) is erased,
    /// and nobody queues the task again.
    IdleOverwritesNotified,
    /// Every transition `Relaxed`: the poll after a wake during the poll may not see the
    /// message that wake delivered, answer `Pending` again, and nobody wakes it after that.
    Relaxed,
}

const MASK: u64 = 0b111;
const IDLE: u64 = 0;
const SCHEDULED: u64 = 1;
const RUNNING: u64 = 2;
const NOTIFIED: u64 = 3;
const DONE: u64 = 4;

/// The task's slot in the runtime's list (`owned.rs`): every transition must keep it.
const SLOT: u32 = 7;

/// The orderings of `src/`, or `Relaxed` for that broken variant.
fn order(protocol: Protocol, ordering: Ordering) -> Ordering {
    if protocol == Protocol::Relaxed {
        Ordering::Relaxed
    } else {
        ordering
    }
}

/// `state::new_word`.
fn new_word(slot: u32) -> u64 {
    (u64::from(slot) << 32) | SCHEDULED
}

/// `state::slot_bits`.
fn slot_bits(word: &AtomicU64) -> u64 {
    word.load(Ordering::Relaxed) & !0xffff_ffff
}

/// `state::mark_woken`: `true` if the caller must queue the task (and makes its `TaskRef`).
fn mark_woken(protocol: Protocol, word: &AtomicU64) -> bool {
    let mut current = word.load(order(protocol, Ordering::Acquire));
    loop {
        let next = match current & MASK {
            IDLE => SCHEDULED,
            RUNNING => NOTIFIED,
            DONE => return false,
            // Queued or notified already: covered by the coming poll.
            covered if protocol == Protocol::LoadOnly => {
                let _ = covered;
                return false;
            }
            covered => covered, // `Fixed`: written back as it is
        };
        match word.compare_exchange_weak(
            current,
            (current & !MASK) | next,
            order(protocol, Ordering::AcqRel),
            order(protocol, Ordering::Acquire),
        ) {
            Ok(_) if protocol == Protocol::WakeQueuesFromRunning => return next != current & MASK,
            Ok(_) => return current & MASK == IDLE,
            Err(actual) => current = actual,
        }
    }
}

/// `state::mark_running`.
fn mark_running(protocol: Protocol, word: &AtomicU64) {
    let previous = word.swap(
        slot_bits(word) | RUNNING,
        order(protocol, Ordering::Acquire),
    );
    assert_eq!(
        previous & MASK,
        SCHEDULED,
        "polled a task that was not scheduled"
    );
}

/// `state::mark_idle`: `true` if the task was woken during the poll and must be queued again.
fn mark_idle(protocol: Protocol, word: &AtomicU64) -> bool {
    let slot = slot_bits(word);
    if protocol == Protocol::IdleOverwritesNotified {
        word.store(slot | IDLE, Ordering::Release);
        return false;
    }
    match word.compare_exchange(
        slot | RUNNING,
        slot | IDLE,
        order(protocol, Ordering::AcqRel),
        order(protocol, Ordering::Acquire),
    ) {
        Ok(_) => false,
        Err(actual) => {
            assert_eq!(
                actual & MASK,
                NOTIFIED,
                "only a wake changes a running task"
            );
            if protocol == Protocol::LoadOnly {
                word.store(slot | SCHEDULED, order(protocol, Ordering::Release));
            } else {
                // With `Fixed`, a covered wake may write NOTIFIED back at the same moment:
                // see `Fixed` for why this is a swap.
                word.swap(slot | SCHEDULED, order(protocol, Ordering::AcqRel));
            }
            true
        }
    }
}

/// `state::mark_done`.
fn mark_done(protocol: Protocol, word: &AtomicU64) {
    if protocol == Protocol::LoadOnly {
        word.store(slot_bits(word) | DONE, order(protocol, Ordering::Release));
    } else {
        word.swap(slot_bits(word) | DONE, order(protocol, Ordering::AcqRel));
    }
}

/// The task, its runtime's queue, and the model's own bookkeeping.
struct Shared {
    protocol: Protocol,
    /// `Header::schedule_word`.
    word: AtomicU64,
    /// The messages the wakers delivered; the task is ready once it has seen `expected`.
    delivered: AtomicUsize,
    expected: usize,
    /// The run queue: how many `TaskRef`s of the task are queued, and whether it is done.
    queue: Mutex<Queue>,
    has_work: Condvar,
    /// The model's checks (std atomics: loom runs one thread at a time, and these take no
    /// part in the protocol): `TaskRef`s alive, polls in progress, polls so far.
    task_refs: StdAtomicUsize,
    polling: StdAtomicUsize,
    polls: StdAtomicUsize,
}

struct Queue {
    queued: usize,
    is_done: bool,
}

impl Shared {
    /// A new `TaskRef` (`mark_woken` or `mark_idle` said so): there must be no other.
    fn make_task_ref(&self) {
        let before = self
            .task_refs
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(before, 0, "two TaskRefs of one task: it was queued twice");
    }

    /// `schedule` (a worker's push or the injector's): the queue's lock orders the push before
    /// the pop, as both of `src/`'s queues do.
    fn push(&self) {
        let mut queue = self.queue.lock().unwrap();
        queue.queued += 1;
        assert_eq!(queue.queued, 1, "the task is in the queue twice");
        drop(queue);
        self.has_work.notify_one();
    }

    /// `ArcWake::wake` of a waker on another thread: deliver the message, then wake.
    fn deliver_and_wake(&self) {
        self.delivered.fetch_add(1, Ordering::Release);
        if mark_woken(self.protocol, &self.word) {
            self.make_task_ref();
            self.push();
        }
    }

    /// A worker: take the task from the queue and run it (`Worker::run_task`), until it is
    /// done. Waits for ever if the task is stranded (loom: deadlock).
    fn work(&self) {
        loop {
            {
                let mut queue = self.queue.lock().unwrap();
                while queue.queued == 0 && !queue.is_done {
                    queue = self.has_work.wait(queue).unwrap();
                }
                if queue.queued == 0 {
                    return; // done, and nothing queued
                }
                queue.queued -= 1;
            }
            self.run_task();
        }
    }

    /// `Worker::run_task` for one `TaskRef`.
    fn run_task(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        mark_running(self.protocol, &self.word);
        let others = self.polling.fetch_add(1, SeqCst);
        assert_eq!(others, 0, "two workers poll the task at once");
        self.polls.fetch_add(1, SeqCst);
        // The poll: ready once it sees every message.
        let is_ready = self.delivered.load(Ordering::Acquire) == self.expected;
        self.polling.fetch_sub(1, SeqCst);
        // `into_parked` (or, when ready, the end of the task): the `TaskRef` is gone.
        self.task_refs.fetch_sub(1, SeqCst);
        if is_ready {
            mark_done(self.protocol, &self.word);
            self.queue.lock().unwrap().is_done = true;
            self.has_work.notify_all();
            return;
        }
        if mark_idle(self.protocol, &self.word) {
            // `ParkedTask::resume`: woken during the poll; queued again by this worker.
            self.make_task_ref();
            self.push();
        }
    }
}

/// Runs a model: `workers` workers (the test's thread is one of them) and `wakers` waker
/// threads, each delivering one message and waking the task once.
fn check(protocol: Protocol, workers: usize, wakers: usize) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        let shared = Arc::new(Shared {
            protocol,
            word: AtomicU64::new(new_word(SLOT)),
            delivered: AtomicUsize::new(0),
            expected: wakers,
            // Spawned: queued, with its one `TaskRef` (`Shared::spawn`).
            queue: Mutex::new(Queue {
                queued: 1,
                is_done: false,
            }),
            has_work: Condvar::new(),
            task_refs: StdAtomicUsize::new(1),
            polling: StdAtomicUsize::new(0),
            polls: StdAtomicUsize::new(0),
        });
        let threads: Vec<_> = (0..wakers)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.deliver_and_wake())
            })
            .chain((1..workers).map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.work())
            }))
            .collect();
        shared.work();
        for thread in threads {
            thread.join().unwrap();
        }
        use std::sync::atomic::Ordering::SeqCst;
        assert_eq!(
            shared.task_refs.load(SeqCst),
            0,
            "a TaskRef outlived the task"
        );
        assert!(
            !mark_woken(protocol, &shared.word),
            "a done task is never queued"
        );
        assert_eq!(
            shared.word.load(Ordering::Relaxed),
            (u64::from(SLOT) << 32) | DONE,
            "the slot survives every transition"
        );
        // At most one poll per wake, plus the first.
        assert!(shared.polls.load(SeqCst) <= wakers + 1);
    });
}

/// One wake racing the first poll.
#[test]
fn src_one_remote_wake_racing_the_first_poll_is_never_lost() {
    check(Protocol::Src, 1, 1);
}

/// One worker polls while two threads wake the task; each wake finds it queued, running or
/// idle, and the task sees both messages.
#[test]
fn src_two_remote_wakes_racing_a_poll_are_never_lost() {
    check(Protocol::Src, 1, 2);
}

/// The bug this model found in `src/` (`LoadOnly`): a covered wake that only loads the word
/// does not happen before the poll that covers it, which may miss its message and wait for
/// ever.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_load_only_covered_wake_is_lost() {
    check(Protocol::LoadOnly, 1, 1);
}

/// Two workers and two wakers: a wake during a poll makes the polling worker
/// queue the task again; the other worker may take it then, never while the first still
/// polls it.
#[test]
fn src_two_workers_never_poll_the_task_at_once() {
    check(Protocol::Src, 2, 2);
}

/// Broken on purpose: a wake that finds the task RUNNING queues it too.
#[test]
#[should_panic(expected = "two TaskRefs")]
fn broken_a_wake_that_queues_a_running_task_makes_a_second_task_ref() {
    check(Protocol::WakeQueuesFromRunning, 1, 1);
}

/// Broken on purpose: `mark_idle` erases a wake that came during the poll.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_mark_idle_that_overwrites_notified_loses_the_wake() {
    check(Protocol::IdleOverwritesNotified, 1, 1);
}

/// Broken on purpose: `Relaxed` transitions. The wake during the poll sets NOTIFIED; the
/// worker sees it and polls again, but nothing orders the message before that poll.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_relaxed_transitions_hide_the_message_from_the_next_poll() {
    check(Protocol::Relaxed, 1, 1);
}
