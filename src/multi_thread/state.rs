//! Where a task of the multi-thread runtime is in its life, in one atomic word of its header.
//!
//! The single-thread loop keeps every task in its table and a wake pushes the task's *key*:
//! two wakes of one task are told apart by the loop, on its one thread, at no cost. Here any
//! worker may poll a task and any thread may wake it, so the task itself says what it is
//! doing, and a wake reads that before it queues anything:
//!
//! ```text
//!                wake                      a worker pops it
//!    IDLE ──────────────────▶ SCHEDULED ─────────────────────▶ RUNNING
//!     ▲                          ▲                             │  │
//!     │ poll answered Pending    │ poll answered Pending,      │  │ wake during the poll
//!     └──────────────────────────┼─────────────────────────────┘  ▼
//!                                └──────────────────────────── NOTIFIED
//!    (Ready, a panic, an abort: DONE, from RUNNING or NOTIFIED; wakes then do nothing)
//! ```
//!
//! The rule that makes it safe: **only the wake that moves a task from IDLE to SCHEDULED makes
//! a `TaskRef`** (the right to poll it, `src/task.rs`). A wake that finds it SCHEDULED does
//! nothing (it is queued already; its coming poll covers this wake too), and one that finds it
//! RUNNING marks it NOTIFIED, so that the worker polling it queues it again when the poll is
//! over, instead of a second worker polling it at the same time. So there is never more than
//! one `TaskRef`, which is what lets the future live without a lock beside the wakers.
//!
//! The upper 32 bits of the word hold the task's slot in the runtime's list of tasks
//! (`owned.rs`), written once before the task is shared; the transitions keep them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::task::Header;

const MASK: u64 = 0b111;
/// Not queued, not running: waiting for a wake. Nobody has its `TaskRef`.
pub(crate) const IDLE: u64 = 0;
/// In a run queue (or on its way to one): the holder of its `TaskRef` will poll it.
pub(crate) const SCHEDULED: u64 = 1;
/// Being polled by a worker.
const RUNNING: u64 = 2;
/// Being polled, and woken since the poll began: poll it again.
const NOTIFIED: u64 = 3;
/// Finished, failed or cancelled: wakes do nothing.
const DONE: u64 = 4;

/// The word of a new task: scheduled (it is queued as it is spawned), in slot `slot`.
pub(crate) fn new_word(slot: u32) -> u64 {
    (u64::from(slot) << 32) | SCHEDULED
}

/// The task's slot in the runtime's list of tasks.
pub(crate) fn slot(header: &Header) -> u32 {
    (header.schedule_word().load(Ordering::Relaxed) >> 32) as u32
}

/// A wake: `true` if it moved the task from IDLE to SCHEDULED, and the caller must now queue
/// it (and is the one who makes its `TaskRef`).
#[inline]
pub(crate) fn mark_woken(header: &Header) -> bool {
    let word = header.schedule_word();
    let mut current = word.load(Ordering::Acquire);
    loop {
        let next = match current & MASK {
            IDLE => SCHEDULED,
            RUNNING => NOTIFIED,
            DONE => return false,
            // Queued, or woken during its poll, already: covered by the coming poll. But the
            // word is still *written* (the same value back), not just read. A wake must happen
            // before the poll that covers it, so that the poll sees what the waker wrote before
            // it woke (a message): a load orders nothing after it, and the poll could miss the
            // message and wait for a wake that already came. A write takes its place in the
            // word's order of writes, and the worker's `mark_running` or `mark_idle` (`Acquire`
            // read-modify-writes) read it or a later one, and so synchronize with it. The loom
            // model `tests/loom_mt_spawn.rs` found the load-only version losing that wake.
            covered => covered,
        };
        // `AcqRel`: the waker's writes before the wake (a message it sent) happen before the
        // poll it causes: the worker reads this word with an `Acquire` read-modify-write
        // before it polls (or receives the task through a queue, which synchronizes as well).
        match word.compare_exchange_weak(
            current,
            (current & !MASK) | next,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return current & MASK == IDLE,
            Err(actual) => current = actual,
        }
    }
}

/// A worker is about to poll the task (it holds its `TaskRef`, so the task is SCHEDULED).
#[inline]
pub(crate) fn mark_running(header: &Header) {
    // Only the holder of the `TaskRef` changes a SCHEDULED task, and wakes leave it alone,
    // so a plain store would do; `swap` with `Acquire` pairs with the wake's `Release`.
    let word = header.schedule_word();
    let previous = word.swap((slot_bits(word)) | RUNNING, Ordering::Acquire);
    debug_assert_eq!(previous & MASK, SCHEDULED);
}

/// The poll answered `Pending`. `true`: the task was woken during it and is SCHEDULED again,
/// for the caller to queue; `false`: it is IDLE, and the next wake queues it.
#[inline]
pub(crate) fn mark_idle(header: &Header) -> bool {
    let word = header.schedule_word();
    let slot = slot_bits(word);
    // `AcqRel`: the poll's writes are visible to the wake that sees IDLE and to the worker
    // that polls the task next; a wake's writes (NOTIFIED) are visible to this worker.
    match word.compare_exchange(
        slot | RUNNING,
        slot | IDLE,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => false,
        Err(actual) => {
            debug_assert_eq!(actual & MASK, NOTIFIED);
            // A swap, not a store: a covered wake's compare-exchange of NOTIFIED must not be
            // ordered after this write in a way the worker never reads (loom keeps a partial
            // order of writes and finds that with a store; `tests/loom_mt_spawn.rs`).
            word.swap(slot | SCHEDULED, Ordering::AcqRel);
            true
        }
    }
}

/// The task is over: wakes from now on do nothing.
#[inline]
pub(crate) fn mark_done(header: &Header) {
    let word = header.schedule_word();
    // A swap for the reason `mark_idle` gives.
    word.swap(slot_bits(word) | DONE, Ordering::AcqRel);
}

/// Shutdown: takes an idle task, as a wake would, so that the caller may cancel it. `false`
/// if it is queued, running or done (then whoever holds it cancels it, or it is over).
pub(crate) fn claim_idle(header: &Header) -> bool {
    let word = header.schedule_word();
    let slot = slot_bits(word);
    word.compare_exchange(
        slot | IDLE,
        slot | SCHEDULED,
        Ordering::AcqRel,
        Ordering::Acquire,
    )
    .is_ok()
}

fn slot_bits(word: &AtomicU64) -> u64 {
    word.load(Ordering::Relaxed) & !0xffff_ffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Header, Origin, TaskId};
    use crate::waker::{LoopId, TaskKey};

    fn header(slot: u32) -> Header {
        let header = Header::new(
            TaskId(1),
            LoopId::next_multi_thread(),
            TaskKey::MAIN,
            Origin::default(),
            false,
        );
        header
            .schedule_word()
            .store(new_word(slot), Ordering::Relaxed);
        header
    }

    #[test]
    fn only_the_wake_of_an_idle_task_queues_it() {
        let header = header(7);
        assert!(!mark_woken(&header), "a new task is queued already");
        mark_running(&header);
        assert!(!mark_idle(&header), "not woken during the poll: idle");
        assert!(
            mark_woken(&header),
            "the first wake of an idle task queues it"
        );
        assert!(!mark_woken(&header), "a second wake finds it queued");
        assert_eq!(slot(&header), 7, "the slot survives every transition");
    }

    #[test]
    fn a_wake_during_the_poll_makes_the_worker_queue_it_again() {
        let header = header(3);
        mark_running(&header);
        assert!(
            !mark_woken(&header),
            "running: the worker, not the waker, queues it"
        );
        assert!(!mark_woken(&header));
        assert!(mark_idle(&header), "woken during the poll: queue it again");
        assert!(!mark_woken(&header), "it is scheduled now");
        mark_running(&header);
        mark_done(&header);
        assert!(!mark_woken(&header), "a finished task is never queued");
        assert!(!claim_idle(&header));
        assert_eq!(slot(&header), 3);
    }

    #[test]
    fn shutdown_claims_only_idle_tasks() {
        let header = header(0);
        assert!(!claim_idle(&header), "queued: its holder cancels it");
        mark_running(&header);
        assert!(!mark_idle(&header));
        assert!(claim_idle(&header));
        assert!(
            !mark_woken(&header),
            "claimed by shutdown: a late wake does nothing"
        );
    }
}
