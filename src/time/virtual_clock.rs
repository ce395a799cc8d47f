//! Virtual time: the clock of a loop built with `EventLoop::builder().start_paused(true)`,
//! and [`now`], [`advance`], [`pause`] and [`resume`], which read and move it.
//!
//! Paused, the clock stands still: time does not move while tasks run. When nothing is
//! runnable, no remote wake waits and the earliest thing that can happen is a timer, the loop
//! jumps the clock to that deadline instead of sleeping (auto-advance, as tokio's paused
//! clock does; `event_loop/auto_advance.rs`), so an hour-long timeout is tested in
//! microseconds. [`advance`] moves the clock by hand; [`resume`] lets it run at the real
//! clock's rate from wherever it stands, and [`pause`] stops it again.
//!
//! - **The clock type: std's `Instant`, read through [`now`].** The virtual clock hands out
//!   ordinary `std::time::Instant`s, ahead of the real clock by the time skipped. A newtype
//!   (tokio's `tokio::time::Instant`) would change `sleep_until`, `Sleep::deadline`,
//!   `Sleep::reset` and `Interval::tick`, and every one of the ~100 `Instant::now()` calls in
//!   the lessons, tests and chapters would have to choose a clock, when nearly all of them
//!   measure wall time for a printed number and want the real one. With std's type, only code
//!   that asks "what time is it for my timers?" changes: it calls `time::now()`.
//! - **Where it lives: in the loop's `Core`**, found through the current-loop thread-local.
//!   `now()` outside a loop, or on a loop with the real clock, is `Instant::now()`. While no
//!   paused loop exists in the process, `now()` costs one atomic load more than
//!   `Instant::now()`. `pause`, `resume` and `advance` panic outside a loop and on a loop with
//!   the real clock, saying how to build one with a virtual clock: only such a loop checks a
//!   clock, so the default loop never pays for one.
//! - **When the clock may not jump.** A jump is taken only in `wait_for_work` (a loop with
//!   nothing runnable and no remote wake waiting), and not while a task's waker is filed with
//!   the reactor (a socket someone awaits) or a `spawn_blocking` job started from this loop
//!   runs: those may answer before the timer, so the loop then waits in real time, at most
//!   until the timer, and the paused clock moves by the time it really waited. tokio instead
//!   checks its I/O driver with a zero timeout and then jumps, so a socket's answer that takes
//!   a real millisecond loses to a virtual one-hour timeout; here it does not.
//! - **What the virtual clock does not reach:** std's `Instant::now()` and
//!   `std::thread::sleep`, other threads (a blocking job sees the real clock), the OS's own
//!   timeouts on real sockets, a `sleep` made outside the loop (it measures from the real
//!   clock, which is ahead of a paused one), and wakes from threads the loop did not start through
//!   `spawn_blocking` (a `Handle` held by another thread, a waker sent away): the loop cannot
//!   know such a thread is about to act, so it jumps anyway, as tokio does. Resume the clock
//!   while waiting for such a thread. The trace and the timeline (`src/trace.rs`) keep the
//!   real clock: they time polls, which take real time, and on a paused clock every poll
//!   would last zero.
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

use crate::event_loop::{with_current_core, Core};

/// The message for `pause`, `resume` or `advance` where no loop runs (kept in one place, tested).
pub(crate) const CLOCK_OUTSIDE_LOOP: &str = "called outside an event loop; the virtual clock \
     belongs to a loop built with `EventLoop::builder().start_paused(true)`; call it from a \
     task (or the future) that loop runs";
/// The message for `pause`, `resume` or `advance` on a loop with the real clock.
pub(crate) const CLOCK_NOT_VIRTUAL: &str = "called on an event loop that runs on the real \
     clock; only a loop built with `EventLoop::builder().start_paused(true)` has a clock that \
     can stop and jump; build the loop that way (`miniloop::run` always uses the real clock)";
/// The message for `advance` on a virtual clock that was resumed.
pub(crate) const ADVANCE_RUNNING_CLOCK: &str = "called while the loop's virtual clock runs \
     (after `time::resume()`); only a paused clock jumps; call `time::pause()` first";

/// The time on the clock of the loop running on this thread: the real clock's
/// `Instant::now()`, or the virtual time of a loop built with
/// [`start_paused(true)`](crate::event_loop::Builder::start_paused); outside a loop, the real
/// clock. Every timer of this module measures from it.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let event_loop = miniloop::EventLoop::builder().start_paused(true).build();
/// event_loop.run_until_complete(async {
///     let start = miniloop::time::now();
///     miniloop::sleep(Duration::from_secs(3600)).await; // returns at once: the clock jumps
///     assert_eq!(miniloop::time::now() - start, Duration::from_secs(3600));
/// });
/// ```
#[inline]
pub fn now() -> Instant {
    if !any_exists() {
        return Instant::now();
    }
    loop_clock_now()
}

/// `now` in a process with a virtual clock somewhere: asks the loop on this thread.
#[cold]
#[inline(never)]
fn loop_clock_now() -> Instant {
    with_current_core(Core::now).unwrap_or_else(Instant::now)
}

/// Stops the virtual clock of the loop running on this thread (a loop built with
/// [`start_paused(true)`](crate::event_loop::Builder::start_paused) starts so). Paused, time
/// moves only by [`advance`] and by the loop's auto-advance. Pausing a paused clock does
/// nothing.
///
/// # Panics
/// Outside an event loop, and on a loop that runs on the real clock; the message says how to
/// build one with a virtual clock.
#[track_caller]
pub fn pause() {
    match with_current_core(|core| core.virtual_clock().map(VirtualClock::pause)) {
        Some(Some(())) => {}
        Some(None) => panic!("`time::pause` {CLOCK_NOT_VIRTUAL}"),
        None => panic!("`time::pause` {CLOCK_OUTSIDE_LOOP}"),
    }
}

/// Lets the virtual clock of the loop running on this thread run at the real clock's rate,
/// from where it stands (it does not catch up the time it skipped). Resuming a running clock
/// does nothing.
///
/// # Panics
/// As [`pause`].
#[track_caller]
pub fn resume() {
    match with_current_core(|core| core.virtual_clock().map(VirtualClock::resume)) {
        Some(Some(())) => {}
        Some(None) => panic!("`time::resume` {CLOCK_NOT_VIRTUAL}"),
        None => panic!("`time::resume` {CLOCK_OUTSIDE_LOOP}"),
    }
}

/// Moves the paused clock of the loop running on this thread forward by `duration`, fires the
/// timers that fell due, and yields once, so that every task they woke has run (until its
/// next `.await`) when this returns. Timers fire in deadline order, each task seeing the clock
/// at the end of the jump (as tokio's `advance` does; the loop's auto-advance instead stops at
/// each deadline in turn).
///
/// # Panics
/// As [`pause`], and if the clock runs (after [`resume`]).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let event_loop = miniloop::EventLoop::builder().start_paused(true).build();
/// event_loop.run_until_complete(async {
///     let task = miniloop::spawn(miniloop::sleep(Duration::from_secs(60)));
///     miniloop::yield_now().await; // the task files its timer
///     miniloop::time::advance(Duration::from_secs(59)).await;
///     assert!(!task.is_finished());
///     miniloop::time::advance(Duration::from_secs(1)).await;
///     assert!(task.is_finished());
/// });
/// ```
pub async fn advance(duration: Duration) {
    let moved = with_current_core(|core| core.advance_clock(duration));
    match moved {
        Some(Some(true)) => {}
        Some(Some(false)) => panic!("`time::advance` {ADVANCE_RUNNING_CLOCK}"),
        Some(None) => panic!("`time::advance` {CLOCK_NOT_VIRTUAL}"),
        None => panic!("`time::advance` {CLOCK_OUTSIDE_LOOP}"),
    }
    crate::yield_now().await;
}

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
        assert!(
            !clock.advance(Duration::from_secs(1)),
            "only a paused clock jumps"
        );
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
