//! Auto-advance: what a loop with a paused virtual clock does where another loop would wait
//! for a timer. The clock itself, and why it hands out std's `Instant`s, is
//! `time/virtual_clock.rs`; the turn calls in here from `wait_for_work` (`turn.rs`), and only
//! on a paused clock with a timer ahead, so a loop on the real clock never runs this code.
//!
//! # When the clock jumps, and when it waits
//! It jumps, at once and exactly to the earliest deadline, when nothing outside the loop that
//! the loop knows of may act first. It waits for real, at most until that deadline, while a
//! task's waker is filed with the reactor (a socket someone awaits) or a `spawn_blocking` job
//! started from this loop runs; the clock then moves by the time really waited, so a reply
//! that takes a real millisecond is not beaten by a virtual hour-long timeout. (tokio checks
//! its sockets once, without waiting, and jumps: there the timeout wins.)

use std::time::{Duration, Instant};

use super::Core;
use crate::time::VirtualClock;

impl Core {
    /// `wait_for_work` on a paused clock with a timer `timeout` ahead: jump to it, or wait
    /// for real and let the clock follow (see the module docs). Break here to see each jump.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_on_paused_clock(
        &self,
        clock: &VirtualClock,
        timeout: Duration,
        has_reactor: bool,
    ) {
        if !self.is_outside_work_pending(has_reactor) {
            // Read after the count of blocking jobs: a job wakes its task before it stops
            // counting, so a count of 0 comes with that wake's flag (`Shared`).
            if !self.shared.has_remote_wakes() {
                clock.advance(timeout); // lands exactly on the earliest deadline
            }
            return; // the next turn fires the timer, or takes in the remote wake
        }
        let waited_from = Instant::now();
        if has_reactor {
            self.wait_for_io(Some(timeout));
        } else {
            std::thread::park_timeout(timeout);
        }
        clock.advance(waited_from.elapsed().min(timeout));
    }

    /// Whether something the loop knows of may wake it from outside: a `spawn_blocking` job
    /// started from this loop still running, or a task's waker filed with the reactor (a
    /// socket waited on). A listener or stream nobody awaits does not count, nor does a
    /// `Handle` (nothing says another thread will use it), nor a waker sent to a thread the
    /// loop did not start: the loop cannot see those (`time/virtual_clock.rs`).
    fn is_outside_work_pending(&self, has_reactor: bool) -> bool {
        self.shared.has_blocking_jobs()
            || (has_reactor
                && self.with_existing_reactor(|reactor| reactor.has_filed_wakers()) == Some(true))
    }

    /// Moves the paused virtual clock forward by `by` and fires the timers that fell due
    /// (`time::advance`). `None` if the loop has the real clock; `Some(false)` if its virtual
    /// clock runs.
    pub(crate) fn advance_clock(&self, by: Duration) -> Option<bool> {
        let clock = self.clock.as_ref()?;
        if !clock.advance(by) {
            return Some(false);
        }
        self.turn_clock.set(None); // this turn's cached time is behind now
        if !self.timers.borrow().is_empty() {
            self.fire_due_timers();
        }
        Some(true)
    }
}
