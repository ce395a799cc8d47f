//! How a worker sleeps when it has nothing to do, and how another thread wakes it.
//!
//! An atomic state, and a `Mutex` and a `Condvar` behind it for the sleep itself, as
//! `std::thread::park` is built, but owned by the runtime: a task that calls
//! `std::thread::park` itself (or a library that does) cannot eat the runtime's wake-up, and
//! the worker that keeps the timers can sleep until a deadline. An `unpark` that comes before
//! the `park` is kept (`NOTIFIED`): the `park` then returns at once, which is what makes "check
//! for work, then sleep" safe against a wake in between.
//!
//! The state is what keeps `unpark` cheap: a worker that is awake is unparked with one atomic
//! swap, no lock and no system call. Only a worker that is really asleep (`PARKED`) costs the
//! lock and the `notify_one` (a futex call). The first version locked and notified every time;
//! `benches/vs_tokio_mt.rs`'s `mt_remote_wake` spent its time there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use super::driver::IoDriver;

/// Awake, nothing pending.
const EMPTY: usize = 0;
/// Asleep (or about to be) on the condition variable.
const PARKED: usize = 1;
/// An `unpark` is waiting to be taken by the next `park`.
const NOTIFIED: usize = 2;
/// Asleep (or about to be) in the I/O driver's poller: the worker that keeps the timers, once
/// the runtime has sockets (`driver.rs`). Waking it is a write to the poller's waker, not a
/// `notify_one`.
const PARKED_IN_DRIVER: usize = 3;

/// Aligned to 128 bytes for the reason `StatsSlot` gives (`src/multi_thread.rs`): the workers'
/// parkers sit side by side in one slice, and each is written by whoever wakes its worker.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Parker {
    /// Sleeps until `unpark` (or one that came before), or until `timeout` passes.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        // A kept `unpark`: take it and return. `SeqCst` with the swap in `unpark`: the
        // unparker's writes before it (a queued task) are seen after this returns.
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock();
        match self
            .state
            .compare_exchange(EMPTY, PARKED, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => {}
            Err(NOTIFIED) => {
                // Unparked between the first look and the lock.
                self.state.swap(EMPTY, Ordering::SeqCst);
                return;
            }
            Err(other) => unreachable!("a parker is parked by its one worker: state {other}"),
        }
        match timeout {
            None => loop {
                guard = self
                    .condvar
                    .wait(guard)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if self.take_notification() {
                    return;
                }
                // Spurious: sleep again.
            },
            Some(timeout) => {
                let (_guard, _) = self
                    .condvar
                    .wait_timeout(guard, timeout)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                // Woken, timed out or spurious: the caller looks at its queues and timers
                // either way. Leave the state EMPTY (taking a notification that came).
                self.state.swap(EMPTY, Ordering::SeqCst);
            }
        }
    }

    /// Sleeps in the I/O driver's poller until `unpark`, an event or `timeout`; the wakers of
    /// ready sockets go into `woken`. The same steps as `park`, without the lock: the
    /// poller's waker keeps a wake that comes before the wait, as `NOTIFIED` does.
    pub(crate) fn park_in_driver(
        &self,
        timeout: Option<Duration>,
        driver: &IoDriver,
        woken: &mut Vec<Waker>,
    ) {
        let timeout = match self.state.compare_exchange(
            EMPTY,
            PARKED_IN_DRIVER,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ) {
            Ok(_) => timeout,
            // Unparked already: do not sleep, but still collect what is ready.
            Err(NOTIFIED) => Some(Duration::ZERO),
            Err(other) => unreachable!("a parker is parked by its one worker: state {other}"),
        };
        driver.poll(timeout, woken);
        // Woken, an event, timed out: the caller looks at its queues either way.
        self.state.swap(EMPTY, Ordering::SeqCst);
    }

    /// `PARKED` -> `EMPTY` after an `unpark` set `NOTIFIED`: whether one did.
    fn take_notification(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Wakes the parked worker, or makes its next `park` return at once. `true` if the worker
    /// sleeps in the I/O driver's poller: the caller must wake the driver (`Shared::unpark`),
    /// which this parker does not know.
    #[must_use = "a worker asleep in the I/O driver is woken only by the driver's waker"]
    pub(crate) fn unpark(&self) -> bool {
        match self.state.swap(NOTIFIED, Ordering::SeqCst) {
            EMPTY | NOTIFIED => false, // awake: it sees NOTIFIED at its next park
            PARKED => {
                // Take the lock once, so that the sleeper is inside `wait` (it holds the lock
                // from its PARKED store until `wait` releases it): the notification cannot
                // fall between its check and its sleep.
                drop(self.lock());
                self.condvar.notify_one();
                false
            }
            PARKED_IN_DRIVER => true,
            other => unreachable!("parker state {other}"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // Nothing is read or written under this lock but the condition variable's wait.
        self.lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn an_unpark_before_the_park_is_kept() {
        let parker = Parker::default();
        assert!(!parker.unpark());
        parker.park(None); // returns at once: the unpark was kept
                           // ... and only once: the next park waits (here for its timeout).
        let start = std::time::Instant::now();
        parker.park(Some(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn an_unpark_from_another_thread_ends_the_park() {
        let parker = Arc::new(Parker::default());
        let remote = Arc::clone(&parker);
        let waker = std::thread::spawn(move || assert!(!remote.unpark()));
        parker.park(None); // would hang without the unpark
        waker.join().unwrap();
    }

    #[test]
    fn many_unparks_race_many_parks_and_none_is_lost() {
        let parker = Arc::new(Parker::default());
        let rounds = if cfg!(miri) { 20 } else { 2000 };
        let ping = Arc::new(Parker::default());
        let (remote, remote_ping) = (Arc::clone(&parker), Arc::clone(&ping));
        let unparker = std::thread::spawn(move || {
            for _ in 0..rounds {
                assert!(!remote.unpark());
                remote_ping.park(None); // one round at a time
            }
        });
        for _ in 0..rounds {
            parker.park(None); // hangs if an unpark is lost
            assert!(!ping.unpark());
        }
        unparker.join().unwrap();
    }
}
