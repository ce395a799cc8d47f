//! An exhaustive interleaving check (loom) of the cross-thread wake protocol of
//! `src/waker.rs` and `Core::wait_for_work` / `Core::collect_remote_wakes`.
//!
//! `src/` uses std's `Mutex`, `AtomicBool` and `park`/`unpark`, which loom cannot see into,
//! so this file re-states the protocol with loom's types, step for step:
//!
//! - **A remote wake** (`wake_remote`): if `is_remote_queued.swap(true)` was already set,
//!   stop (the coming poll covers this wake); otherwise push the key under the queue's lock,
//!   *then* unpark the loop's thread.
//! - **The loop's turn**: poll what is runnable; take the whole remote queue and clear each
//!   task's `is_remote_queued` *before* its poll; if nothing is runnable, check the remote
//!   queue, *then* park. `park` keeps an `unpark` as a token, so a wake that lands between the
//!   check and the park makes the park return at once.
//!
//! loom runs each model under every interleaving (up to `LOOM_MAX_PREEMPTIONS` forced thread
//! switches) and reports a deadlock if the loop parks with nobody left to unpark it: that is
//! what a lost wake-up looks like here. The broken variants below are the same model with one
//! rule broken; loom must find the lost wake in each (`#[should_panic]`), which proves the
//! model can fail.
//!
//! It found one in `src/` too: the loop cleared `is_remote_queued` with a plain
//! `store(false, Release)`, which does not synchronize with a waker whose `swap(true)` saw the
//! flag still set, so the poll that should cover that wake could miss its data. `src/` now
//! clears it with `swap(false, AcqRel)`; the `src_` tests check that, and the
//! `store_clear_` tests keep the old rule as a broken variant that loom must catch
//! (docs/reliability.md, "Bugs found").
//!
//! Run it (a separate target dir, so the `--cfg loom` build does not invalidate the normal
//! one):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
//!
//! (`loom/Cargo.toml` says why this is a package of its own.)
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

use std::collections::VecDeque;

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use loom::sync::{Condvar, Mutex};
use loom::thread;

/// Which rule of the protocol a model keeps or breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// What `src/` did until loom found the bug: the loop clears `is_remote_queued` with a
    /// plain `store(false, Release)`. loom finds a lost wake in it (the `store_clear_` tests).
    StoreClear,
    /// What `src/` does: the loop clears the flag with `swap(false, AcqRel)`, a
    /// read-modify-write that synchronizes with the waker's `swap(true, AcqRel)`.
    Src,
    /// `Src`, but the waker unparks the loop, then pushes the key: the loop can wake, find
    /// the queue empty, and park again before the push lands.
    UnparkBeforePush,
    /// `Src`, but the loop clears `is_remote_queued` after the poll instead of before: a
    /// wake during the poll sees the flag still set, skips the push, and the task is stranded.
    FlagClearedAfterPoll,
    /// `Src`, but the loop parks on a "forgetful" parker (a condvar rung only if someone
    /// waits on it right now), after checking the queue: a wake between the check and the
    /// wait is lost. This is lesson 20's bug.
    CheckThenForgetfulPark,
    /// `Src`, but the loop parks whenever its own run queue is empty, without checking the
    /// remote queue first. Safe *only* because `park`'s token is sticky.
    ParkBeforeCheck,
}

/// One task as the protocol sees it: the flag of `Header`, and the data its wakers deliver.
struct Task {
    /// `Header::is_remote_queued`.
    is_remote_queued: AtomicBool,
    /// What the task is waiting for: each waker bumps it before it wakes (a message sent).
    delivered: AtomicUsize,
}

/// A parker that forgets: `unpark` only rings if the loop is waiting at that moment.
struct ForgetfulParker {
    is_waiting: Mutex<bool>,
    rung: Condvar,
}

impl ForgetfulParker {
    fn park(&self) {
        let mut is_waiting = self.is_waiting.lock().unwrap();
        *is_waiting = true;
        while *is_waiting {
            is_waiting = self.rung.wait(is_waiting).unwrap();
        }
    }

    fn unpark(&self) {
        let mut is_waiting = self.is_waiting.lock().unwrap();
        if *is_waiting {
            *is_waiting = false;
            self.rung.notify_one();
        }
        // Nobody waiting: the ring is lost. std's `park` would keep it as a token.
    }
}

/// `waker::Shared`: what other threads may touch.
struct Shared {
    protocol: Protocol,
    remote_queue: Mutex<Vec<usize>>,
    loop_thread: thread::Thread,
    forgetful: ForgetfulParker,
    tasks: Vec<Task>,
}

impl Shared {
    fn unpark_loop(&self) {
        match self.protocol {
            Protocol::CheckThenForgetfulPark => self.forgetful.unpark(),
            _ => self.loop_thread.unpark(),
        }
    }

    fn park_loop(&self) {
        match self.protocol {
            Protocol::CheckThenForgetfulPark => self.forgetful.park(),
            _ => thread::park(),
        }
    }

    /// `waker::wake_remote` followed by `Shared::push_remote`.
    fn wake_remote(&self, key: usize) {
        let task = &self.tasks[key];
        if task.is_remote_queued.swap(true, Ordering::AcqRel) {
            return; // already on its way: the coming poll covers this wake too
        }
        if self.protocol == Protocol::UnparkBeforePush {
            self.unpark_loop();
            self.remote_queue.lock().unwrap().push(key);
            return;
        }
        self.remote_queue.lock().unwrap().push(key);
        self.unpark_loop();
    }

    /// A waker on another thread: deliver the data, then wake (a channel send does this).
    fn deliver_and_wake(&self, key: usize) {
        self.tasks[key].delivered.fetch_add(1, Ordering::Release);
        self.wake_remote(key);
    }
}

/// The loop's own state (`Scheduler`): only the loop's thread touches it.
struct LoopState {
    run_queue: VecDeque<usize>,
    is_scheduled: Vec<bool>,
    /// How many deliveries each task has seen at its last poll; the task needs `expected`.
    seen: Vec<usize>,
    expected: Vec<usize>,
    is_finished: Vec<bool>,
}

impl LoopState {
    /// `Scheduler::schedule`: a key sits in the run queue at most once.
    fn schedule(&mut self, key: usize) {
        if !self.is_finished[key] && !self.is_scheduled[key] {
            self.is_scheduled[key] = true;
            self.run_queue.push_back(key);
        }
    }
}

/// Runs the loop of `protocol` until every task has seen all its deliveries. A lost wake
/// makes it park forever, which loom reports as a deadlock.
fn run_loop(shared: &Shared, state: &mut LoopState) {
    loop {
        // `run_ready_tasks`: `is_scheduled` is cleared before each poll (`take_for_poll`).
        while let Some(key) = state.run_queue.pop_front() {
            state.is_scheduled[key] = false;
            poll_task(shared, state, key);
            if shared.protocol == Protocol::FlagClearedAfterPoll {
                shared.tasks[key]
                    .is_remote_queued
                    .store(false, Ordering::Release);
            }
        }
        if state.is_finished.iter().all(|is_finished| *is_finished) {
            return;
        }
        collect_remote_wakes(shared, state);
        // `wait_for_work`.
        if !state.run_queue.is_empty() {
            continue;
        }
        if shared.protocol != Protocol::ParkBeforeCheck {
            let is_remote_woken = !shared.remote_queue.lock().unwrap().is_empty();
            if is_remote_woken {
                continue;
            }
        }
        shared.park_loop();
    }
}

/// `Core::collect_remote_wakes`: take the whole queue, clear each flag before the poll.
fn collect_remote_wakes(shared: &Shared, state: &mut LoopState) {
    let batch = std::mem::take(&mut *shared.remote_queue.lock().unwrap());
    let mut in_batch = vec![false; shared.tasks.len()];
    for key in batch {
        // What the flag is for: between two turns a task is in the remote queue once, however
        // many threads woke it.
        assert!(!in_batch[key], "task {key} was in the remote queue twice");
        in_batch[key] = true;
        let flag = &shared.tasks[key].is_remote_queued;
        match shared.protocol {
            Protocol::FlagClearedAfterPoll => {} // done after the poll, in `run_loop`
            // `collect_remote_wakes` before loom found the bug.
            Protocol::StoreClear => flag.store(false, Ordering::Release),
            // `src/event_loop.rs`, `collect_remote_wakes`.
            _ => {
                flag.swap(false, Ordering::AcqRel);
            }
        }
        state.schedule(key);
    }
}

/// One poll of task `key`: ready once it has seen every delivery, else `Pending`.
fn poll_task(shared: &Shared, state: &mut LoopState, key: usize) {
    assert!(
        !state.is_finished[key],
        "task {key} polled after it finished"
    );
    state.seen[key] = shared.tasks[key].delivered.load(Ordering::Acquire);
    if state.seen[key] == state.expected[key] {
        state.is_finished[key] = true;
    }
}

/// Builds a model: `wakes[thread]` lists the tasks that waker thread delivers to and wakes,
/// in order. Every task starts in the run queue (its first poll) and finishes once it has
/// seen all the deliveries aimed at it.
fn check(protocol: Protocol, task_count: usize, wakes: &'static [&'static [usize]]) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(move || {
        let tasks = (0..task_count)
            .map(|_| Task {
                is_remote_queued: AtomicBool::new(false),
                delivered: AtomicUsize::new(0),
            })
            .collect();
        let shared = Arc::new(Shared {
            protocol,
            remote_queue: Mutex::new(Vec::new()),
            loop_thread: thread::current(),
            forgetful: ForgetfulParker {
                is_waiting: Mutex::new(false),
                rung: Condvar::new(),
            },
            tasks,
        });
        let mut expected = vec![0; task_count];
        for thread_wakes in wakes {
            for key in *thread_wakes {
                expected[*key] += 1;
            }
        }
        let wakers: Vec<_> = wakes
            .iter()
            .map(|thread_wakes| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    for key in *thread_wakes {
                        shared.deliver_and_wake(*key);
                    }
                })
            })
            .collect();

        let mut state = LoopState {
            run_queue: (0..task_count).collect(),
            is_scheduled: vec![true; task_count],
            seen: vec![0; task_count],
            expected,
            is_finished: vec![false; task_count],
        };
        run_loop(&shared, &mut state);
        // The waker threads are not joined: loom's `join` on a thread that holds an unused
        // `unpark` token trips an assertion inside loom. The model still ends only once every
        // thread has finished.
        drop(wakers);
    });
}

/// The smallest model: one waker thread wakes one task once, racing the loop's
/// check-then-park.
#[test]
fn one_remote_wake_is_never_lost() {
    check(Protocol::Src, 1, &[&[0]]);
}

/// The bug loom found in `src/`, kept as a broken variant: one thread delivers twice and
/// wakes twice. The second wake can find `is_remote_queued` still set (the loop took the key
/// but has not cleared the flag yet) and stop there; the loop then clears the flag with a
/// plain store and polls, and nothing makes the second delivery visible to that poll: it can
/// read the old value (the store-buffering pattern; x86 allows it too), return `Pending`, and
/// the task is stranded with its flag clear. loom reports the deadlock.
#[test]
#[should_panic]
fn store_clear_loses_a_second_wake_racing_the_flag_clear() {
    check(Protocol::StoreClear, 1, &[&[0, 0]]);
}

/// The same race with two waker threads.
#[test]
#[should_panic]
fn store_clear_loses_a_wake_when_two_threads_wake_one_task() {
    check(Protocol::StoreClear, 1, &[&[0], &[0]]);
}

/// `src/`: one thread waking a task twice in a row: the second wake may land while the
/// key is still queued (flag set, skipped), or after the loop cleared the flag (queued again).
#[test]
fn src_a_second_wake_racing_the_flag_clear_is_not_lost() {
    check(Protocol::Src, 1, &[&[0, 0]]);
}

/// `src/`: two threads wake the same task at once: they race on `is_remote_queued`;
/// whichever loses the race is covered by the winner's push and the loop's later poll.
#[test]
fn src_two_threads_waking_one_task_lose_no_wake_and_queue_it_once_per_turn() {
    check(Protocol::Src, 1, &[&[0], &[0]]);
}

/// `src/`: two tasks woken from two threads: one task's wake must not hide the other's.
#[test]
fn src_wakes_of_two_tasks_from_two_threads_are_both_delivered() {
    check(Protocol::Src, 2, &[&[0], &[1]]);
}

/// With std's sticky `park` token, parking without looking at the remote queue first is
/// still correct (a wake that landed before the park left a token): the check in
/// `wait_for_work` saves a `park` call; it is not what prevents the lost wake.
#[test]
fn parking_before_checking_the_queue_is_safe_only_because_the_park_token_is_sticky() {
    check(Protocol::ParkBeforeCheck, 1, &[&[0, 0]]);
}

/// Broken on purpose: unpark, then push. loom finds the interleaving where the loop wakes,
/// finds nothing, parks again, and the push lands with nobody to wake it.
#[test]
#[should_panic(expected = "deadlock")]
fn broken_unpark_before_push_loses_a_wake() {
    check(Protocol::UnparkBeforePush, 1, &[&[0]]);
}

/// Broken on purpose: the dedup flag cleared after the poll strands a task whose second wake
/// lands during the poll (compio#948's stale scheduling bit).
#[test]
#[should_panic(expected = "deadlock")]
fn broken_flag_cleared_after_the_poll_strands_the_task() {
    check(Protocol::FlagClearedAfterPoll, 1, &[&[0, 0]]);
}

/// Broken on purpose: check the queue, then wait on a parker that forgets a ring nobody was
/// waiting for. The wake that lands between the check and the wait is lost (lesson 20).
#[test]
#[should_panic(expected = "deadlock")]
fn broken_check_then_forgetful_park_loses_the_wake_in_between() {
    check(Protocol::CheckThenForgetfulPark, 1, &[&[0]]);
}
