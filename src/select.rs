//! The first one wins: [`select`] over two futures of any types, [`race`] over many of one
//! type.
//!
//! Both run their futures inside the awaiting task (nothing is spawned), return the winner's
//! output, and drop every other future before they return. That drop *is* cancellation in
//! Rust: there is no "cancel" call, a future that nobody polls again is simply dropped, and its
//! `Drop` gives back what it held (a `Sleep` takes its timer out of the queue, a `TcpStream`
//! leaves the reactor). Python's `task.cancel()` has to throw `CancelledError` into a running
//! coroutine; a Rust future is not running between polls, so there is nothing to interrupt.
//!
//! # Rules this module keeps
//! - The losers are dropped inside the poll that returns `Ready`: their `Drop` has run before
//!   the awaiting code resumes.
//! - Nothing is polled after the winner in the same poll: a second output (say, a message
//!   taken out of a channel) would have nowhere to go but the bin.
//! - The winner is deterministic: `select` polls `a` first on every poll; `race` polls its
//!   children in input order on the first poll, then in the order they were woken. Same
//!   program, same winner, so the lessons print the same lines on every run.
//! - Polled again after `Ready`, both panic with a message, as `JoinHandle` does; their
//!   `FusedFuture::is_terminated` lets `futures::select!` know not to.
//!
//! # Why functions and not a macro
//! `tokio::select!` and `futures::select!` are macros: patterns, branches and an `else`,
//! expanded into a state machine you never see and cannot break on by name. `select(a, b)` is
//! a function that returns a struct: its `poll` is a dozen lines to read, `<Select as
//! Future>::poll` is a breakpoint, and `print` shows which state it is in. If you want the
//! macro, `futures::select!` works on miniloop's futures: `Sleep`, `Select` and `Race` are
//! `FusedFuture`s.
//!
//! # Why `a` first and not a coin toss
//! `tokio::select!` and `futures::select!` start at a random branch, so that a branch that is
//! always ready cannot starve the others. We chose the fixed order, as `futures::future::select`
//! and tokio's `biased;` do: the output is reproducible and the rule fits in one sentence. The
//! price: in a loop of `select(a, b)` where `a` is always ready, `b` never gets its turn. Put
//! the future that must not wait first.
//!
//! # Why `select` polls both and `race` only the woken
//! `select` gives both futures the awaiting task's waker and polls both (`a` first) on every
//! wake: two polls cost less than a waker of their own each. `race` may hold thousands, so it
//! uses the `Group` of `src/join.rs`: one waker per child, and a wake polls only that child.
//!
//! # The loser's wakers
//! Before it lost, the loser may have filed the awaiting task's waker somewhere: in the timer
//! queue, the reactor, a channel. Its `Drop` takes it back (`Sleep` cancels its timer at once).
//! A future without such a `Drop` leaves the waker behind, and if it is called later the task
//! is polled for nothing: a spurious wake, harmless but wasted.

use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use crate::join::Group;

/// The message for a `Select` polled after it returned (kept in one place, tested).
const SELECT_POLLED_AFTER_READY: &str = "`Select` polled after it returned its result; await it \
     once (the loser was dropped when it returned, so nothing is left to wait for)";

/// The message for a `Race` polled after it returned (kept in one place, tested).
const RACE_POLLED_AFTER_READY: &str = "`Race` polled after it returned its result; await it once \
     (the losers were dropped when it returned, so nothing is left to wait for)";

/// The message for `race` called with no futures (kept in one place, tested).
const RACE_OF_NOTHING: &str = "`miniloop::race` was given no futures; a race with no runners \
     would never finish; pass at least one future (check that the list is not empty before the \
     call)";

/// Which of two futures finished first, with its output: what [`select`] returns.
///
/// Defined here rather than taken from `futures` (whose `Either` is the same two variants)
/// because that would make the whole `futures` crate a dependency of miniloop.
///
/// # Examples
/// ```
/// use miniloop::Either;
/// let first: Either<u32, &str> = miniloop::run(miniloop::select(async { 7 }, async { "seven" }));
/// assert_eq!(first, Either::Left(7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Either<L, R> {
    /// The first future (`a`) finished first.
    Left(L),
    /// The second future (`b`) finished first.
    Right(R),
}

/// Waits for the first of two futures and returns its output: `Either::Left` from `a`,
/// `Either::Right` from `b`. The other future is dropped at once, before this returns.
///
/// `a` is polled first on every poll, so if both are ready, `a` wins: the winner is the same
/// on every run, but an `a` that is always ready starves `b` (module docs, "Why `a` first").
/// Python's nearest is `asyncio.wait({a, b}, return_when=FIRST_COMPLETED)` followed by
/// cancelling the pending one.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use miniloop::{select, sleep, Either};
/// miniloop::run(async {
///     let work = async {
///         sleep(Duration::from_millis(5)).await;
///         "done"
///     };
///     match select(work, sleep(Duration::from_secs(3600))).await {
///         Either::Left(result) => assert_eq!(result, "done"),
///         Either::Right(()) => unreachable!("the work needs 5 ms, the sleep an hour"),
///     }
///     // The hour-long sleep was dropped, and its timer with it: `run` returns now.
/// });
/// ```
pub fn select<A: Future, B: Future>(a: A, b: B) -> Select<A, B> {
    Select {
        state: SelectState::Racing { a, b },
    }
}

pin_project! {
    /// The future returned by [`select`]. Its `Debug` says whether it is still racing.
    ///
    /// # Examples
    /// ```
    /// let first = miniloop::select(async { 1 }, async { 2 });
    /// assert_eq!(format!("{first:?}"), r#"Select { state: "racing" }"#);
    /// ```
    #[must_use = "futures do nothing unless you `.await` them"]
    pub struct Select<A, B> {
        #[pin]
        state: SelectState<A, B>,
    }
}

pin_project! {
    /// Both futures, pinned in place, until one finishes; then neither.
    #[project = SelectStateProjection]
    enum SelectState<A, B> {
        Racing {
            #[pin]
            a: A,
            #[pin]
            b: B,
        },
        Finished,
    }
}

impl<A: Future, B: Future> Future for Select<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        let outcome = match state.as_mut().project() {
            SelectStateProjection::Racing { a, b } => {
                let polled_a = a.poll(cx);
                if let Poll::Ready(output) = polled_a {
                    Either::Left(output)
                } else {
                    let polled_b = b.poll(cx);
                    match polled_b {
                        Poll::Ready(output) => Either::Right(output),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            SelectStateProjection::Finished => panic!("{SELECT_POLLED_AFTER_READY}"),
        };
        // Drops both futures in place (they are pinned: `set` is how a pinned value is
        // replaced), so the loser's `Drop` runs before the awaiting code resumes.
        state.set(SelectState::Finished);
        Poll::Ready(outcome)
    }
}

/// Terminated once it returned its output.
///
/// # Examples
/// ```
/// use futures::future::FusedFuture;
/// miniloop::run(async {
///     let mut first = std::pin::pin!(miniloop::select(async { 1 }, async { 2 }));
///     assert!(!first.is_terminated());
///     first.as_mut().await;
///     assert!(first.is_terminated());
/// });
/// ```
impl<A: Future, B: Future> FusedFuture for Select<A, B> {
    fn is_terminated(&self) -> bool {
        matches!(self.state, SelectState::Finished)
    }
}

impl<A, B> fmt::Debug for Select<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            SelectState::Racing { .. } => "racing",
            SelectState::Finished => "finished",
        };
        f.debug_struct("Select").field("state", &state).finish()
    }
}

/// Waits for the first of many futures of one type and returns its index in the input with
/// its output. Every other future is dropped before this returns.
///
/// Each future gets a waker of its own, as in [`join_all`](crate::join_all), so a wake polls
/// only the future that was woken. On the first poll the futures are polled in input order, so
/// among those ready at once the first in the input wins; after that, the first one woken.
///
/// # Panics
/// If `futures` is empty: a race with no runners could never finish, and a panic at the call
/// is easier to find than a hang.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let (index, ms) = miniloop::run(async {
///     miniloop::race([30, 10, 20].map(|ms| async move {
///         miniloop::sleep(Duration::from_millis(ms)).await;
///         ms
///     }))
///     .await
/// });
/// assert_eq!((index, ms), (1, 10));
/// ```
#[track_caller]
pub fn race<I>(futures: I) -> Race<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let group = Group::new(futures);
    if group.len() == 0 {
        panic!("{RACE_OF_NOTHING}");
    }
    Race { group }
}

/// The future returned by [`race`]. Its `Debug` gives the number of futures it holds (none
/// once it returned).
///
/// # Examples
/// ```
/// let first = miniloop::race([1, 2, 3].map(|n| async move { n }));
/// assert_eq!(format!("{first:?}"), "Race { futures: 3, is_finished: false }");
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Race<F: Future> {
    /// Empty once the race returned: `race` refuses an empty input, so no children means
    /// finished.
    group: Group<F>,
}

impl<F: Future> Future for Race<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Race` is `Unpin`: every child sits in its own pinned box.
        let this = self.get_mut();
        if this.group.len() == 0 {
            panic!("{RACE_POLLED_AFTER_READY}");
        }
        let mut winner = None;
        this.group.poll_woken_children(cx, |index, output| {
            winner = Some((index, output));
            ControlFlow::Break(())
        });
        match winner {
            Some(winner) => {
                this.group.drop_children();
                Poll::Ready(winner)
            }
            None => Poll::Pending,
        }
    }
}

/// Terminated once it returned its output.
///
/// # Examples
/// ```
/// use futures::future::FusedFuture;
/// miniloop::run(async {
///     let mut first = std::pin::pin!(miniloop::race([1, 2].map(|n| async move { n })));
///     assert!(!first.is_terminated());
///     assert_eq!(first.as_mut().await, (0, 1));
///     assert!(first.is_terminated());
/// });
/// ```
impl<F: Future> FusedFuture for Race<F> {
    fn is_terminated(&self) -> bool {
        self.group.len() == 0
    }
}

impl<F: Future> fmt::Debug for Race<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Race")
            .field("futures", &self.group.len())
            .field("is_finished", &self.is_terminated())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(future).poll(&mut cx)
    }

    #[test]
    #[should_panic(expected = "`Select` polled after it returned its result; await it once")]
    fn a_select_polled_after_ready_panics_with_a_message() {
        let mut first = select(std::future::ready(1), std::future::ready(2));
        assert_eq!(poll_once(&mut first), Poll::Ready(Either::Left(1)));
        let _ = poll_once(&mut first);
    }

    #[test]
    #[should_panic(expected = "`Race` polled after it returned its result; await it once")]
    fn a_race_polled_after_ready_panics_with_a_message() {
        let mut first = race([std::future::ready(1), std::future::ready(2)]);
        assert_eq!(poll_once(&mut first), Poll::Ready((0, 1)));
        let _ = poll_once(&mut first);
    }

    #[test]
    #[should_panic(expected = "`miniloop::race` was given no futures")]
    fn a_race_of_nothing_is_refused_at_the_call() {
        drop(race(Vec::<std::future::Ready<()>>::new()));
    }
}
