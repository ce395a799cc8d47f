//! The first one wins: `select`, `race`, and `futures::select!` on miniloop's fused futures.

mod common;

use std::future::pending;
use std::pin::pin;
use std::time::{Duration, Instant};

use common::{within, Count, DropCounter, PollCounter, WATCHDOG};
use futures::channel::oneshot;
use futures::future::FusedFuture;
use miniloop::{race, select, sleep, timeout, yield_now, Either, EventLoop};

/// A future that yields `turns` times (one loop turn each), then returns `output`.
async fn after_turns<T>(turns: usize, output: T) -> T {
    for _ in 0..turns {
        yield_now().await;
    }
    output
}

/// Proves that the loser of a `select` is dropped inside the poll that returns: its `Drop` has
/// run when the awaiting code resumes, even though the `Select` itself is still alive (pinned
/// here, so it is not dropped at the end of the `.await` statement).
#[test]
fn select_drops_the_loser_before_the_caller_resumes() {
    let drops = Count::default();
    let (outcome, drops_at_resume) = miniloop::run(async {
        let guard = DropCounter::new(&drops);
        let loser = async move {
            let _guard = guard;
            pending::<u32>().await
        };
        let mut first = pin!(select(after_turns(2, "winner"), loser));
        let outcome = first.as_mut().await;
        (outcome, drops.get())
    });
    assert_eq!(outcome, Either::Left("winner"));
    assert_eq!(
        drops_at_resume, 1,
        "the loser was not dropped when `select` returned"
    );
}

/// Proves the fairness choice: `a` is polled first on every poll, so when both are ready `a`
/// wins, in every one of 100 rounds, and `b` (ready every time) is never even polled: this is
/// the starvation the docs warn about. And `b` wins when `a` is not ready.
#[test]
fn select_polls_a_first_so_a_ready_a_always_wins() {
    let polls_of_b = Count::default();
    let (outcomes, b_alone) = miniloop::run(async {
        let mut outcomes = Vec::new();
        for round in 0..100 {
            let b = PollCounter::new(&polls_of_b, async move { round });
            outcomes.push(select(async move { round }, b).await);
        }
        let b_alone = select(pending::<u32>(), async { "b" }).await;
        (outcomes, b_alone)
    });
    let expected: Vec<Either<i32, i32>> = (0..100).map(Either::Left).collect();
    assert_eq!(outcomes, expected);
    assert_eq!(polls_of_b.get(), 0, "`b` was polled although `a` was ready");
    assert_eq!(b_alone, Either::Right("b"));
}

/// Proves that the loser's `Drop` gives back what it filed: a `select` between an hour-long
/// sleep and a 1 ms one leaves no timer in the loop once it returned (`has_timers` counts the
/// live timers, cancelled ones not).
#[test]
fn select_of_a_long_and_a_short_sleep_leaves_no_timer_behind() {
    let event_loop = EventLoop::new();
    let (outcome, timers_during, timers_after) = event_loop.run_until_complete(async {
        let mut first = pin!(select(
            sleep(Duration::from_secs(3600)),
            sleep(Duration::from_millis(1))
        ));
        let polled = futures::poll!(first.as_mut());
        assert!(polled.is_pending());
        let timers_during = event_loop.has_timers();
        let outcome = first.as_mut().await;
        (outcome, timers_during, event_loop.has_timers())
    });
    assert_eq!(outcome, Either::Right(()));
    assert!(timers_during, "both sleeps should be filed while they race");
    assert!(!timers_after, "the hour-long sleep's timer is still filed");
}

/// Proves that `race` returns the first finisher's index and output, and drops every other
/// future before the awaiting code resumes (the `Race` is kept alive, pinned, so only `race`
/// itself can have dropped them). Runner `i` needs `5 - i` turns: the last one wins.
#[test]
fn race_drops_every_loser_before_the_caller_resumes() {
    let drops = Count::default();
    let (winner, drops_at_resume) = miniloop::run(async {
        let runners = (0..5).map(|index| {
            let guard = DropCounter::new(&drops);
            async move {
                let _guard = guard;
                after_turns(5 - index, index).await
            }
        });
        let mut first = pin!(race(runners));
        let winner = first.as_mut().await;
        (winner, drops.get())
    });
    assert_eq!(winner, (4, 4));
    // The winner's future was dropped when it completed, the four losers when `race` returned.
    assert_eq!(drops_at_resume, 5);
}

/// Proves that `race` stops at the first future that is ready: among futures ready at once the
/// first in the input wins, and none after it is polled (its output would be lost).
#[test]
fn race_takes_the_first_ready_in_input_order_and_polls_nothing_after_it() {
    let polls = Count::default();
    let winner = miniloop::run(async {
        race((10..14).map(|n| PollCounter::new(&polls, async move { n }))).await
    });
    assert_eq!(winner, (0, 10));
    assert_eq!(polls.get(), 1, "futures were polled after the winner");
}

/// Proves that `race` polls only the child that was woken: 1 000 children, each woken once at
/// a different turn (all but the last then wait for ever), cost at most 3 polls per child; a
/// version that polls every child on each wake needs about 1 000 * 1 000 / 2.
#[test]
#[cfg_attr(miri, ignore = "a long loop: 1 000 futures woken one per turn")]
fn race_of_a_thousand_futures_polls_each_only_when_woken() {
    const CHILDREN: usize = 1_000;
    let polls = Count::default();
    let counted = polls.clone();
    let winner = within(WATCHDOG, move || {
        miniloop::run(async move {
            let (senders, receivers): (Vec<_>, Vec<_>) =
                (0..CHILDREN).map(|_| oneshot::channel::<usize>()).unzip();
            miniloop::spawn(async move {
                for (index, sender) in senders.into_iter().enumerate() {
                    sender.send(index).unwrap();
                    yield_now().await;
                }
            });
            let children = receivers.into_iter().map(|receiver| {
                PollCounter::new(&counted, async move {
                    let index = receiver.await.unwrap();
                    if index + 1 < CHILDREN {
                        pending::<()>().await; // only the last one sent finishes
                    }
                    index
                })
            });
            race(children).await
        })
    });
    assert_eq!(winner, (CHILDREN - 1, CHILDREN - 1));
    assert!(
        polls.get() <= 3 * CHILDREN,
        "{} child polls for {CHILDREN} children",
        polls.get()
    );
}

/// Proves that `futures::select!` takes miniloop's `Sleep` as it is (no `.fuse()`): after the
/// short sleep fired, the next rounds skip it (`is_terminated`) instead of taking it again,
/// and once both fired the `complete` branch runs. A `reset` makes a sleep wait again.
#[test]
fn futures_select_macro_takes_miniloop_sleeps_without_fuse() {
    let order = within(WATCHDOG, || {
        miniloop::run(async {
            let mut short = pin!(sleep(Duration::from_millis(1)));
            let mut long = pin!(sleep(Duration::from_secs(3600)));
            let mut order = Vec::new();
            for _ in 0..5 {
                futures::select! {
                    () = short => {
                        order.push("short");
                        long.as_mut().reset(Instant::now()); // due now: the next round takes it
                    }
                    () = long => order.push("long"),
                    complete => {
                        order.push("complete");
                        break;
                    }
                }
            }
            order
        })
    });
    assert_eq!(order, ["short", "long", "complete"]);
}

/// Proves that a sleep that finished inside `run_now` (no loop, a deadline already past: the
/// path that reads the real clock instead of the loop's timer queue) is terminated too.
#[test]
fn a_sleep_that_finished_inside_run_now_is_terminated() {
    let mut due = pin!(sleep(Duration::ZERO));
    assert!(!due.is_terminated());
    assert_eq!(miniloop::run_now(due.as_mut()), Ok(()));
    assert!(due.is_terminated());
}

/// Proves that a `timeout` of a fused future is terminated once it returned, whichever half
/// finished: the future (`Ok`) or the deadline (`Err`).
#[test]
fn a_timeout_of_a_fused_future_is_terminated_once_it_returned() {
    miniloop::run(async {
        let mut in_time = pin!(timeout(
            Duration::from_secs(3600),
            sleep(Duration::from_millis(1))
        ));
        assert!(!in_time.is_terminated());
        assert_eq!(in_time.as_mut().await, Ok(()));
        assert!(in_time.is_terminated(), "finished by its future");

        let mut too_late = pin!(timeout(
            Duration::from_millis(1),
            sleep(Duration::from_secs(3600))
        ));
        assert!(too_late.as_mut().await.is_err());
        assert!(too_late.is_terminated(), "finished by its deadline");
    });
}

/// Proves that `Select` and `Race` work inside `futures::select!` (they are `FusedFuture`s)
/// and that `select` nests: the outer branch that finished is skipped in the next round.
#[test]
fn select_and_race_are_fused_for_the_select_macro() {
    let order = within(WATCHDOG, || {
        miniloop::run(async {
            let mut two = pin!(select(after_turns(1, 'a'), pending::<char>()));
            let mut many = pin!(race([after_turns(3, 'x'), after_turns(2, 'y')]));
            let mut order = Vec::new();
            loop {
                futures::select! {
                    either = two => order.push(format!("{either:?}")),
                    (index, letter) = many => order.push(format!("{index}:{letter}")),
                    complete => break,
                }
            }
            order
        })
    });
    assert_eq!(order, ["Left('a')", "1:y"]);
}

/// Proves that `select` and `race` need neither `Send` nor `'static` futures: they run inside
/// the awaiting task, so they may borrow its locals and hold an `Rc`.
#[test]
fn select_and_race_accept_borrowing_non_send_futures() {
    let total = miniloop::run(async {
        let shared = std::rc::Rc::new(5);
        let local = [1, 2, 3];
        let first = select(async { *shared * local[0] }, pending::<()>()).await;
        let (_, second) = race(local.iter().map(|n| {
            let shared = std::rc::Rc::clone(&shared);
            async move { n * *shared }
        }))
        .await;
        match first {
            Either::Left(first) => first + second,
            Either::Right(()) => unreachable!("`b` never finishes"),
        }
    });
    assert_eq!(total, 5 + 5);
}

/// Proves that `Race` is `Unpin` over futures that are not (each child sits in its own box),
/// so `&mut race` can be awaited without pinning it first.
#[test]
fn race_is_unpin_even_over_futures_that_are_not() {
    fn assert_unpin<T: Unpin>(_: &T) {}
    let not_unpin = after_turns(1, 7); // an `async fn`'s future is never `Unpin`
    let mut racing = race([not_unpin]);
    assert_unpin(&racing);
    let output = miniloop::run(async { (&mut racing).await });
    assert_eq!(output, (0, 7));
}
