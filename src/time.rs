//! Timers: [`sleep`], [`sleep_until`], [`timeout`] and [`interval`].
//!
//! Lesson 12's `sleep` spins: it returns "not yet" until the clock says the time is up, and the
//! loop burns a core asking. Lesson 13 replaces it with this module (chapter:
//! `docs/timers.md`). A [`Sleep`] files its deadline and its task's waker in the loop's timer
//! queue and returns `Pending`; when nothing is runnable, the loop blocks until the earliest
//! deadline, then wakes exactly the tasks whose time has come.
//!
//! # Rules this module keeps
//! - A timer never fires before its deadline.
//! - Timers with the same deadline fire in the order their `Sleep`s were created.
//! - Dropping a `Sleep` costs O(1) (lazy removal, see `time/timer_queue.rs`).
//! - `Duration::ZERO`, deadlines in the past and `Duration::MAX` all work: a deadline too far
//!   to represent becomes "in a century", which no program outlives.
//! - A `Sleep` that returned `Ready` says so through `FusedFuture::is_terminated` until
//!   `reset`, which is what `futures::select!` reads to skip it. Polled again anyway, it checks
//!   its deadline as on a first poll: `Ready`, the deadline having passed. (A guard that
//!   returned `Ready` without looking cost `sleep_many` 3 instructions per timer, for a poll
//!   the `Future` contract already forbids.)
//!
//! # Virtual time
//! A loop built with `EventLoop::builder().start_paused(true)` reads a virtual clock: [`now`],
//! [`advance`], [`pause`] and [`resume`], and the choices behind them, are in
//! `time/virtual_clock.rs`; the loop's jump to the next timer in `event_loop/auto_advance.rs`.
//!
//! # Why a binary heap and not a timer wheel
//! A heap is short, exact and easy to step through; a wheel pays off with very many timers and
//! coarse deadlines. `sleep_many` in `docs/benchmarks.md` measures the heap against tokio's
//! wheel.

mod timer_queue;
mod virtual_clock;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::future::FusedFuture;
use futures_core::stream::{FusedStream, Stream};
use pin_project_lite::pin_project;

use crate::event_loop::{with_current_core, Core};
use crate::sync_first::{is_suspend_allowed, note_suspend};
use crate::waker::{cancel_timer_at, LoopId};
pub(crate) use timer_queue::{TimerKey, TimerQueue, TimerState};
pub(crate) use virtual_clock::VirtualClock;
pub use virtual_clock::{advance, now, pause, resume};

/// The message for a timer used where no loop runs (kept in one place, tested).
pub(crate) const SLEEP_OUTSIDE_LOOP: &str = "a `miniloop` timer was polled outside an event loop; \
     timers live in the loop that runs the task; await it inside `miniloop::run(async { ... })` \
     or a task spawned on an `EventLoop`";

/// Waits until `duration` has passed.
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// miniloop::run(async {
///     let start = Instant::now();
///     miniloop::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(now(), duration))
}

/// Waits until `deadline`. A deadline in the past completes at the first poll.
pub fn sleep_until(deadline: Instant) -> Sleep {
    static NEXT_SEQ: AtomicU64 = AtomicU64::new(0);
    Sleep {
        deadline,
        seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        registration: Filing::Unfiled,
    }
}

/// `start + duration`, or a century from `start` if that cannot be represented.
fn deadline_after(start: Instant, duration: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    start
        .checked_add(duration)
        .or_else(|| start.checked_add(CENTURY))
        .expect("the monotonic clock can represent a century from now")
}

/// The future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Sleep {
    deadline: Instant,
    /// Ties between equal deadlines are broken by creation order.
    seq: u64,
    registration: Filing,
}

/// Where a `Sleep` is in its life. Three states in the space that `Option<Registration>`
/// took: the enum's tag fills the word that `Option`'s did, so `Sleep` did not grow to tell
/// "finished" (for `is_terminated`) from "not polled yet". (The field keeps the name
/// `registration`, which the gdb recipes of lesson 13 print.)
#[derive(Clone, Copy, Debug)]
enum Filing {
    /// Not polled yet (or `reset`).
    Unfiled,
    /// Waiting in one loop's timer queue.
    Filed(Registration),
    /// Returned `Ready`.
    Finished,
}

/// A `Sleep`'s entry in one loop's timer queue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registration {
    pub(crate) home: LoopId,
    pub(crate) key: TimerKey,
}

impl Sleep {
    /// When this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed (reads the clock).
    pub fn is_elapsed(&self) -> bool {
        now() >= self.deadline
    }

    /// Moves the deadline; the sleep waits again even if it had completed.
    pub fn reset(&mut self, deadline: Instant) {
        self.deregister();
        *self = sleep_until(deadline);
    }

    fn deregister(&mut self) {
        if let Filing::Filed(registration) = self.registration {
            self.registration = Filing::Unfiled;
            cancel_registration(registration);
        }
    }
}

/// `duration` rounded up to a whole millisecond (to a whole microsecond under one
/// millisecond), for messages: `50ms`, not the `49.999431ms` that the nanoseconds between
/// making a `Sleep` and polling it leave, and that differ from run to run.
fn rounded_up(duration: Duration) -> Duration {
    let whole = |unit_nanos: u128| {
        u64::try_from(duration.as_nanos().div_ceil(unit_nanos)).unwrap_or(u64::MAX)
    };
    if duration >= Duration::from_millis(1) {
        Duration::from_millis(whole(1_000_000))
    } else {
        Duration::from_micros(whole(1_000))
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !is_suspend_allowed() {
            return poll_inside_run_now(this);
        }
        let outcome = with_current_core(|core| poll_sleep(core, this, cx.waker()));
        match outcome {
            Some(poll) => poll,
            None => match poll_sleep_multi_thread(this, cx.waker()) {
                Some(poll) => poll,
                None => panic!("{SLEEP_OUTSIDE_LOOP}"),
            },
        }
    }
}

/// Inside `run_now`: no loop is needed to say "not yet", and nothing is filed. Out of line and
/// cold, so that the loop's path through `Sleep::poll` does not pay for it: inline, its one
/// store of `Finished` cost `sleep_many` 4 instructions per timer (`scripts/callgrind_per_op.py`).
#[cold]
#[inline(never)]
fn poll_inside_run_now(sleep: &mut Sleep) -> Poll<()> {
    let now = now();
    if sleep.deadline <= now {
        sleep.registration = Filing::Finished;
        return Poll::Ready(());
    }
    let remaining = rounded_up(sleep.deadline - now);
    note_suspend(|| format!("a timer (a sleep with {remaining:?} left)"));
    Poll::Pending
}

/// Removes a timer from the queue of the loop that holds it: at once if that loop is the one
/// running here, else at that loop's next turn (`waker::cancel_timer_at`).
fn cancel_registration(registration: Registration) {
    if registration.home.is_multi_thread() {
        crate::multi_thread::cancel_timer(registration.home, registration.key);
        return;
    }
    let cancelled = with_current_core(|core| core.cancel_timer(registration));
    match cancelled {
        Some(Ok(stale_waker)) => drop(stale_waker),
        Some(Err(registration)) => cancel_timer_at(registration.home, registration.key),
        None => cancel_timer_at(registration.home, registration.key),
    }
}

/// Checks a sleep against the timer queue of the loop polling it.
fn poll_sleep(core: &Core, sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    match sleep.registration {
        Filing::Filed(registration) if registration.home == core.id() => {
            let state = core
                .timers()
                .borrow_mut()
                .poll_timer(registration.key, waker);
            match state {
                TimerState::Fired => {
                    sleep.registration = Filing::Finished;
                    Poll::Ready(())
                }
                TimerState::Waiting => Poll::Pending,
            }
        }
        // First poll (or the sleep moved to another loop): file it, unless it is already due
        // (by the turn's clock, which is never ahead of the real one). A registration with
        // another loop is cancelled there first, so the entry does not stay behind.
        _ => {
            if let Filing::Filed(elsewhere) = sleep.registration {
                sleep.registration = Filing::Unfiled;
                cancel_registration(elsewhere);
            }
            if sleep.deadline <= core.turn_now() {
                sleep.registration = Filing::Finished;
                return Poll::Ready(());
            }
            let key = core
                .timers()
                .borrow_mut()
                .register(sleep.deadline, sleep.seq, waker.clone());
            sleep.registration = Filing::Filed(Registration {
                home: core.id(),
                key,
            });
            Poll::Pending
        }
    }
}

/// `poll_sleep` on a worker of a multi-thread runtime (or inside its `block_on`), whose timers
/// sit in one queue for all its workers (`multi_thread/timers.rs`). `None` if this thread
/// belongs to no runtime either. Out of line: the single loop's path does not pay for it.
#[cold]
#[inline(never)]
fn poll_sleep_multi_thread(sleep: &mut Sleep, waker: &Waker) -> Option<Poll<()>> {
    if let Filing::Filed(registration) = sleep.registration {
        if let Some(state) =
            crate::multi_thread::poll_timer(registration.home, registration.key, waker)
        {
            return Some(match state {
                TimerState::Fired => {
                    sleep.registration = Filing::Finished;
                    Poll::Ready(())
                }
                TimerState::Waiting => Poll::Pending,
            });
        }
    }
    // First poll, or the sleep moved here from another loop or runtime.
    if !crate::multi_thread::is_inside() {
        return None;
    }
    if let Filing::Filed(elsewhere) = sleep.registration {
        sleep.registration = Filing::Unfiled;
        cancel_registration(elsewhere);
    }
    if sleep.deadline <= Instant::now() {
        sleep.registration = Filing::Finished;
        return Some(Poll::Ready(()));
    }
    let (home, key) = crate::multi_thread::register_timer(sleep.deadline, waker)?;
    sleep.registration = Filing::Filed(Registration { home, key });
    Some(Poll::Pending)
}

/// A `Sleep` that returned `Ready` is terminated until [`Sleep::reset`], so that
/// `futures::select!` takes it without `.fuse()` and skips it once it has fired.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures::future::FusedFuture;
/// miniloop::run(async {
///     let mut timer = std::pin::pin!(miniloop::sleep(Duration::from_millis(1)));
///     assert!(!timer.is_terminated());
///     timer.as_mut().await;
///     assert!(timer.is_terminated());
/// });
/// ```
impl FusedFuture for Sleep {
    fn is_terminated(&self) -> bool {
        matches!(self.registration, Filing::Finished)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.deregister();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.registration {
            Filing::Unfiled => "unfiled",
            Filing::Filed(_) => "filed",
            Filing::Finished => "finished",
        };
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("state", &state)
            .finish()
    }
}

/// Runs `future`, giving up when `duration` has passed first.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use miniloop::time::{sleep, timeout};
/// miniloop::run(async {
///     let slow = timeout(Duration::from_millis(5), sleep(Duration::from_secs(60))).await;
///     assert_eq!(slow.unwrap_err().to_string(), "deadline has elapsed (5ms)");
///     let fast = timeout(Duration::from_secs(60), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration),
        duration,
    }
}

pin_project! {
    /// The future returned by [`timeout`].
    #[must_use = "futures do nothing unless you `.await` them"]
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        #[pin]
        sleep: Sleep,
        duration: Duration,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The future first: if both are ready, the work that finished wins over the clock.
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.sleep.poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed {
                duration: *this.duration,
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A `Timeout` is terminated once its future returned or its deadline passed; both halves
/// must say so, hence `F: FusedFuture` (a `Sleep`, a `Select`, or any future after
/// `.fuse()`). No flag of its own: `timeout_cancel`, a benchmark row, keeps its size.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures::future::FusedFuture;
/// miniloop::run(async {
///     let mut slow = std::pin::pin!(miniloop::timeout(
///         Duration::from_millis(1),
///         miniloop::sleep(Duration::from_secs(3600)),
///     ));
///     assert!(!slow.is_terminated());
///     assert!(slow.as_mut().await.is_err());
///     assert!(slow.is_terminated());
/// });
/// ```
impl<F: FusedFuture> FusedFuture for Timeout<F> {
    fn is_terminated(&self) -> bool {
        self.future.is_terminated() || self.sleep.is_terminated()
    }
}

/// The error of a [`timeout`] whose deadline passed; prints as `deadline has elapsed (50ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    duration: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "deadline has elapsed ({:?})", self.duration)
    }
}

impl std::error::Error for Elapsed {}

/// Ticks every `period`; the first tick completes at once. Await [`Interval::tick`], or use
/// the interval as a [`Stream`] of tick instants that never ends.
///
/// If the loop was too busy to tick on time, the missed ticks are skipped: the next tick is
/// the next multiple of `period` after now (tokio calls this `MissedTickBehavior::Skip`). We
/// chose it over a burst of catch-up ticks because a teaching loop that stalled should show a
/// gap, not hide it.
///
/// # Panics
/// If `period` is zero.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// miniloop::run(async {
///     let mut ticker = miniloop::time::interval(Duration::from_millis(2));
///     let first = ticker.tick().await;
///     let second = ticker.tick().await;
///     assert!(second - first >= Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    if period.is_zero() {
        panic!(
            "`interval` period must be greater than zero (got {period:?}); use `sleep` in a loop \
             if you want back-to-back ticks"
        );
    }
    Interval {
        period,
        next_tick: sleep_until(now()),
    }
}

/// A periodic timer made by [`interval`].
#[derive(Debug)]
pub struct Interval {
    period: Duration,
    /// A sleep until the next tick, kept between ticks (not made in `tick`) so that `poll_next`
    /// has somewhere to keep its timer between polls.
    next_tick: Sleep,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        let scheduled = self.next_tick.deadline();
        let fired = Pin::new(&mut self.next_tick).poll(cx);
        if fired.is_pending() {
            return Poll::Pending;
        }
        let now = now();
        let mut next = deadline_after(scheduled, self.period);
        if next <= now {
            // Skip the missed ticks: jump to the first multiple of `period` after `now`.
            let periods_behind = (now - scheduled).as_nanos() / self.period.as_nanos();
            let skip = u32::try_from(periods_behind + 1).unwrap_or(u32::MAX);
            next = deadline_after(scheduled, self.period.saturating_mul(skip));
        }
        self.next_tick.reset(next);
        Poll::Ready(scheduled)
    }

    /// The time between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// The ticks as a stream: each item is the instant the tick was scheduled for, as
/// [`Interval::tick`] returns it. It never ends.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// let ticks: Vec<_> = miniloop::run(async {
///     miniloop::time::interval(Duration::from_millis(2)).take(3).collect().await
/// });
/// assert_eq!(ticks.len(), 3);
/// assert!(ticks[0] < ticks[1] && ticks[1] < ticks[2]);
/// ```
impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

/// Never terminated: an interval ticks for as long as it lives, so `futures::select!` may take
/// `interval.next()` in a loop.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures::{stream::FusedStream, StreamExt};
/// miniloop::run(async {
///     let mut ticker = miniloop::time::interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         futures::select! {
///             tick = ticker.next() => assert!(tick.is_some()),
///         }
///     }
///     assert!(!ticker.is_terminated());
/// });
/// ```
impl FusedStream for Interval {
    fn is_terminated(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_a_remaining_time_up_to_a_whole_unit() {
        assert_eq!(
            rounded_up(Duration::from_nanos(49_999_431)),
            Duration::from_millis(50)
        );
        assert_eq!(
            rounded_up(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(
            rounded_up(Duration::from_nanos(4_200)),
            Duration::from_micros(5)
        );
        assert_eq!(rounded_up(Duration::ZERO), Duration::ZERO);
        assert_eq!(rounded_up(Duration::MAX), Duration::from_millis(u64::MAX));
    }

    #[test]
    fn huge_durations_become_a_century_instead_of_overflowing() {
        let now = Instant::now();
        let deadline = deadline_after(now, Duration::MAX);
        assert!(deadline > now + Duration::from_secs(50 * 365 * 24 * 3600));
    }

    #[test]
    fn telling_finished_from_unpolled_costs_a_sleep_no_space() {
        // The enum's tag takes the word that `Option<Registration>`'s tag took: a `Sleep` in
        // `sleep_many` is as large as before `FusedFuture` (a `bool` beside it would add 8).
        assert_eq!(
            std::mem::size_of::<Filing>(),
            std::mem::size_of::<Option<Registration>>()
        );
    }

    #[test]
    fn elapsed_prints_like_tokio_with_the_duration() {
        let elapsed = Elapsed {
            duration: Duration::from_millis(50),
        };
        assert_eq!(elapsed.to_string(), "deadline has elapsed (50ms)");
    }

    #[test]
    #[should_panic(expected = "period must be greater than zero (got 0ns)")]
    fn a_zero_interval_is_refused_with_a_hint() {
        let _ = interval(Duration::ZERO);
    }
}
