//! The clock of a loop built with `EventLoop::builder().start_paused(true)`: virtual time.
//!
//! Paused, it stands still: only `time::advance` and the loop's auto-advance move it (the
//! loop's side is `Core::wait_on_paused_clock`, in `event_loop/turn.rs`). Resumed, it runs at
//! the real clock's rate from wherever it stood. Either way it hands out ordinary
//! `std::time::Instant`s, ahead of the real clock by the time skipped so far, so that the
//! timer queue, `sleep_until` and every `Instant` a program already holds work unchanged.
//!
//! # Rules this module keeps
//! - The virtual clock never goes back, and never falls behind the real clock it started
//!   from: it starts at the real "now", and a jump only moves it forward.
//! - `any_exists` is `false` exactly while no loop with a virtual clock exists in the
//!   process. `time::now()` reads one atomic word to take its fast path (the real clock);
//!   a loop on this thread that has a virtual clock has counted itself before anything on
//!   this thread can ask (program order), so the fast path is never wrong here.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How many loops with a virtual clock exist in the process (see `any_exists`).
static VIRTUAL_CLOCKS: AtomicUsize = AtomicUsize::new(0);

/// Whether any loop in the process has a virtual clock. `false` for every program that never
/// builds a paused loop: their `time::now()` is `Instant::now()` plus this one load.
#[inline]
pub(crate) fn any_exists() -> bool {
    VIRTUAL_CLOCKS.load(Ordering::Relaxed) != 0
}

/// A loop's virtual clock. Lives in the loop's `Core`, on the loop's thread (hence `Cell`s).
#[derive(Debug)]
pub(crate) struct VirtualClock {
    /// `Some(now)` while paused: the time stands at `now`.
    frozen: Cell<Option<Instant>>,
    /// While running: the real instant the clock last resumed at, and the virtual time then.
    /// `now = virtual_then + (real now - real_then)`.
    resumed_at: Cell<(Instant, Instant)>,
}

impl VirtualClock {
    /// A paused clock standing at the real "now".
    pub(crate) fn new_paused() -> Self {
        VIRTUAL_CLOCKS.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        VirtualClock {
            frozen: Cell::new(Some(now)),
            resumed_at: Cell::new((now, now)),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        match self.frozen.get() {
            Some(now) => now,
            None => {
                let (real_then, virtual_then) = self.resumed_at.get();
                virtual_then + real_then.elapsed()
            }
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.frozen.get().is_some()
    }

    /// Stops the clock where it stands (nothing happens if it is paused already).
    pub(crate) fn pause(&self) {
        self.frozen.set(Some(self.now()));
    }

    /// Lets the clock run at the real rate from where it stands (nothing happens if it runs).
    pub(crate) fn resume(&self) {
        if let Some(now) = self.frozen.take() {
            self.resumed_at.set((Instant::now(), now));
        }
    }

    /// Moves a paused clock forward by `duration`. `false` if it is not paused (the caller
    /// says what to do). A jump too far to represent stops at a century, as a `sleep` does.
    pub(crate) fn advance(&self, duration: Duration) -> bool {
        let Some(now) = self.frozen.get() else {
            return false;
        };
        self.frozen.set(Some(super::deadline_after(now, duration)));
        true
    }
}

impl Drop for VirtualClock {
    fn drop(&mut self) {
        VIRTUAL_CLOCKS.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_moves_only_when_advanced_and_runs_on_from_there_when_resumed() {
        let clock = VirtualClock::new_paused();
        let start = clock.now();
        assert_eq!(clock.now(), start, "paused: no time passes");
        assert!(clock.advance(Duration::from_secs(3600)));
        assert_eq!(clock.now(), start + Duration::from_secs(3600));
        clock.resume();
        assert!(!clock.advance(Duration::from_secs(1)), "only a paused clock jumps");
        let running = clock.now();
        assert!(running >= start + Duration::from_secs(3600));
        assert!(clock.now() >= running, "a running clock never goes back");
        clock.pause();
        let frozen = clock.now();
        assert!(frozen >= running);
        assert_eq!(clock.now(), frozen);
    }

    #[test]
    fn the_count_of_virtual_clocks_follows_their_lives() {
        let clock = VirtualClock::new_paused();
        assert!(any_exists());
        drop(clock); // other tests may hold clocks of their own: only "exists" is certain
    }
}
