//! How a worker sleeps when it has nothing to do, and how another thread wakes it.
//!
//! A flag under a `Mutex` and a `Condvar`, as `std::thread::park` is built, but owned by the
//! runtime: a task that calls `std::thread::park` itself (or a library that does) cannot eat
//! the runtime's wake-up, and the worker that keeps the timers can sleep until a deadline.
//! An `unpark` that comes before the `park` is kept: the `park` then returns at once, which is
//! what makes "check for work, then sleep" safe against a wake in between.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Parker {
    is_notified: Mutex<bool>,
    condvar: Condvar,
}

impl Parker {
    /// Sleeps until `unpark` (or one that came before), or until `timeout` passes.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        let mut is_notified = self.lock();
        if !*is_notified {
            is_notified = match timeout {
                None => self
                    .condvar
                    .wait_while(is_notified, |is_notified| !*is_notified)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(timeout) => {
                    self.condvar
                        .wait_timeout_while(is_notified, timeout, |is_notified| !*is_notified)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        *is_notified = false;
    }

    /// Wakes the parked worker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        *self.lock() = true;
        self.condvar.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // Only a flag is read and written under this lock: nothing can panic there.
        self.is_notified
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
        parker.unpark();
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
        let waker = std::thread::spawn(move || remote.unpark());
        parker.park(None); // would hang without the unpark
        waker.join().unwrap();
    }
}
