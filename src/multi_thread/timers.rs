//! The runtime's timers: one queue for every worker, and whichever worker goes to sleep first
//! keeps it.
//!
//! The single-thread loop sleeps in one place, until its earliest deadline. Here several
//! workers may sleep at once, and a timer must fire even if the task that filed it moved to
//! another worker since. So the runtime has **one** timer queue (the single loop's
//! `TimerQueue`, behind a `Mutex`), and a **keeper**: the first worker to park takes the role,
//! and sleeps only until the earliest deadline; the others sleep without a deadline. A worker
//! that files a timer earlier than every other wakes the keeper, which then sleeps again, now
//! to the new deadline. Workers that are busy fire due timers themselves now and then
//! (`fire_if_free`), so timers are not late just because no worker was idle. tokio does the
//! same with its driver (timers and I/O), "taken by whichever worker parks".
//!
//! No lost deadline: the keeper announces itself (`keeper`, `SeqCst`) *before* it reads the
//! earliest deadline under the queue's lock; a worker files its timer under that lock, then
//! reads `keeper` (`SeqCst`). If it filed first, the keeper reads the new deadline; if the
//! keeper read first, the filer sees the keeper (the lock orders them) and unparks it, and the
//! `Parker` keeps that unpark even if the keeper has not gone to sleep yet.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::time::{TimerKey, TimerQueue, TimerState};

const NO_KEEPER: usize = usize::MAX;

#[derive(Debug)]
pub(crate) struct Timers {
    queue: Mutex<TimerQueue>,
    /// The worker that holds the keeper's role (asleep until the earliest deadline, or firing
    /// due timers), or `NO_KEEPER`.
    keeper: AtomicUsize,
}

impl Timers {
    pub(crate) fn new() -> Timers {
        Timers {
            queue: Mutex::new(TimerQueue::default()),
            keeper: AtomicUsize::new(NO_KEEPER),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TimerQueue> {
        // No user code runs under this lock (wakers are woken after it is released).
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Files a timer. `Some(keeper)`: the worker whose sleep must be cut short (the new
    /// deadline is the earliest, and that worker sleeps to a later one or to none).
    pub(crate) fn register(
        &self,
        deadline: Instant,
        seq: u64,
        waker: Waker,
    ) -> (TimerKey, Option<usize>) {
        let (key, is_earliest) = {
            let mut queue = self.lock();
            let is_earliest = queue
                .next_deadline()
                .is_none_or(|earliest| deadline < earliest);
            (queue.register(deadline, seq, waker), is_earliest)
        };
        let keeper = self.keeper.load(Ordering::SeqCst);
        (key, (is_earliest && keeper != NO_KEEPER).then_some(keeper))
    }

    /// Checks a filed timer, and leaves `waker` with it if it has not fired.
    pub(crate) fn poll_timer(&self, key: TimerKey, waker: &Waker) -> TimerState {
        self.lock().poll_timer(key, waker)
    }

    /// Forgets a timer whose `Sleep` was dropped or moved: the waker it held, for the caller
    /// to drop outside the lock.
    pub(crate) fn cancel(&self, key: TimerKey) -> Option<Waker> {
        self.lock().cancel(key)
    }

    /// Takes the keeper's role for worker `worker`, if nobody holds it: then the deadline to
    /// sleep to (`None`: no timer, sleep until woken). `Err(())` if another worker keeps the
    /// timers.
    pub(crate) fn try_keep(&self, worker: usize) -> Result<Option<Instant>, ()> {
        if !self.take_role(worker) {
            return Err(());
        }
        Ok(self.lock().next_deadline())
    }

    /// Makes `worker` the keeper, if nobody is (`SeqCst`: see "No lost deadline" above).
    pub(crate) fn take_role(&self, worker: usize) -> bool {
        self.keeper
            .compare_exchange(NO_KEEPER, worker, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// The keeper woke: fires what is due into `due` (to be woken by the caller, outside the
    /// lock) and gives up the role.
    pub(crate) fn fire_and_release(&self, due: &mut Vec<Waker>) {
        {
            let mut queue = self.lock();
            queue.fire_due(Instant::now(), due);
            queue.shrink_when_idle();
        }
        self.keeper.store(NO_KEEPER, Ordering::SeqCst);
    }

    /// The worker that keeps the timers now, if one does.
    pub(crate) fn keeper(&self) -> Option<usize> {
        let keeper = self.keeper.load(Ordering::SeqCst);
        (keeper != NO_KEEPER).then_some(keeper)
    }

    /// Shutdown: every waker still filed, to be dropped outside the lock.
    pub(crate) fn clear(&self) -> Vec<Waker> {
        self.lock().clear()
    }

    /// How long to sleep until `deadline` (`None`: no deadline).
    pub(crate) fn timeout(deadline: Option<Instant>) -> Option<Duration> {
        deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// Whether any timer is filed (waiting, or fired and not yet collected).
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}
