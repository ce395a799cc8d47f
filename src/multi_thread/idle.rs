//! Which workers sleep, and which one to wake: at most one at a time, and none while another
//! worker is already looking for work.
//!
//! Two counts share one atomic word: how many workers are **unparked** (awake) and how many of
//! those are **searching** (out of work of their own, trying to steal). When a task is queued
//! (`Shared::notify_parked`), a worker is woken only if nobody is searching (a searcher will
//! find the task) and somebody sleeps. The woken worker counts as searching from the moment it
//! is chosen, so a burst of a thousand spawns wakes one worker, not a thousand: the "thundering
//! herd" that waking a sleeper per task would be. A searcher that finds work stops searching,
//! and if it was the last one it wakes the next sleeper, so that work keeps spreading one
//! worker at a time. At most half the workers search at once (stealing from each other while
//! there is little to steal only burns CPU).
//!
//! # No lost wake-up
//! A worker going to sleep announces itself parked (under the sleepers' lock, with a `SeqCst`
//! update of the word); if it was the last searcher it then looks at every queue once more
//! (`Shared::notify_if_work_pending`). A thread that queues a task pushes it (a `SeqCst`
//! update of the queue's length), then reads the word (`SeqCst`). Both are `SeqCst`, so they
//! are in one order: either the pusher reads the word after the worker announced itself, and
//! sees nobody searching and wakes a sleeper; or the worker's last look comes after the push
//! and sees the task. (That is the shared queue, which every push from outside the workers
//! goes to. A worker's push onto its own queue is weaker, a `Release` store, so a sleeper may
//! miss it; but the pushing worker runs that task itself anyway: the cost is a core that
//! could have helped, never a task left waiting.) `tests/loom_mt_park.rs` checks this under every interleaving, and fails
//! without the last look.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// The searching count is the low half of the word; unparked workers the high half.
const UNPARKED_ONE: usize = 1 << 16;
const SEARCHING_MASK: usize = UNPARKED_ONE - 1;

#[derive(Debug)]
pub(crate) struct Idle {
    state: AtomicUsize,
    /// The indices of the sleeping workers.
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(workers * UNPARKED_ONE),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<usize>> {
        // Only pushes, pops and searches of a small `Vec` happen under this lock.
        self.sleepers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn should_wake_one(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        state & SEARCHING_MASK == 0 && state / UNPARKED_ONE < self.workers
    }

    /// Work was queued: the worker to wake, if one should be (it counts as searching from now
    /// on), or `None`.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        // The common answer, without the lock: someone searches already, or nobody sleeps.
        if !self.should_wake_one() {
            return None;
        }
        let mut sleepers = self.lock();
        if !self.should_wake_one() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(UNPARKED_ONE + 1, Ordering::SeqCst);
        Some(worker)
    }

    /// A worker out of work of its own wants to steal. `false`: enough workers search already
    /// (half of them), so it should park instead.
    pub(crate) fn start_searching(&self) -> bool {
        let state = self.state.load(Ordering::SeqCst);
        if 2 * (state & SEARCHING_MASK) >= self.workers {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searching worker found work. `true` if it was the last searcher: it must then wake
    /// another sleeper, if any, to keep looking (`Shared::notify_parked`).
    pub(crate) fn stop_searching(&self) -> bool {
        let previous = self.state.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(previous & SEARCHING_MASK > 0);
        previous & SEARCHING_MASK == 1
    }

    /// Worker `worker` goes to sleep. `true` if it was the last searcher: it must then look at
    /// every queue once more before it sleeps ("No lost wake-up" above).
    pub(crate) fn park(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.lock();
        let decrement = UNPARKED_ONE + usize::from(is_searching);
        let previous = self.state.fetch_sub(decrement, Ordering::SeqCst);
        sleepers.push(worker);
        is_searching && previous & SEARCHING_MASK == 1
    }

    /// Worker `worker` woke by itself (a timer fired, or it was told to stop). `true` if it was
    /// still listed as sleeping (it is now awake, not searching); `false` if it was woken by
    /// `worker_to_notify`, which counted it as searching already.
    pub(crate) fn unpark_self(&self, worker: usize) -> bool {
        let mut sleepers = self.lock();
        match sleepers.iter().position(|&sleeper| sleeper == worker) {
            Some(position) => {
                sleepers.swap_remove(position);
                self.state.fetch_add(UNPARKED_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Whether worker `worker` is still listed as sleeping (nobody chose it).
    pub(crate) fn is_parked(&self, worker: usize) -> bool {
        self.lock().contains(&worker)
    }

    /// `(unparked, searching)`, for tests and the lesson.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let state = self.state.load(Ordering::SeqCst);
        (state / UNPARKED_ONE, state & SEARCHING_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_work_wakes_one_sleeper_at_a_time() {
        let idle = Idle::new(4);
        for worker in 0..4 {
            assert!(!idle.park(worker, false));
        }
        assert_eq!(idle.counts(), (0, 0));
        let first = idle.worker_to_notify().expect("everyone sleeps: wake one");
        assert_eq!(
            idle.counts(),
            (1, 1),
            "the woken worker counts as searching"
        );
        // A thousand more tasks while it searches wake nobody else.
        for _ in 0..1000 {
            assert_eq!(idle.worker_to_notify(), None);
        }
        assert!(!idle.is_parked(first));
        assert!(idle.stop_searching(), "it was the only searcher");
        let second = idle.worker_to_notify().expect("nobody searches now");
        assert_ne!(first, second);
    }

    #[test]
    fn at_most_half_the_workers_search() {
        let idle = Idle::new(4);
        assert!(idle.start_searching());
        assert!(idle.start_searching());
        assert!(!idle.start_searching());
        assert!(!idle.stop_searching());
        assert!(
            idle.park(0, true),
            "the last searcher to park must look again"
        );
        assert_eq!(idle.counts(), (3, 0));
        assert!(idle.unpark_self(0));
        assert!(!idle.unpark_self(0), "not listed twice");
        assert_eq!(idle.counts(), (4, 0));
    }
}
