//! `Stream`s: `Interval` (ticks, never ends) and `AsCompleted` (outputs in completion order,
//! then `None`), driven by `futures::StreamExt` on a miniloop loop.

mod common;

use std::time::Duration;

use common::{within, WATCHDOG};
use futures::stream::FusedStream;
use futures::{Stream, StreamExt};
use miniloop::{as_completed, interval, select, yield_now, Either, EventLoop};

/// A future that yields `turns` times (one loop turn each), then returns `output`.
async fn after_turns<T>(turns: usize, output: T) -> T {
    for _ in 0..turns {
        yield_now().await;
    }
    output
}

/// Proves that an `Interval` is a stream of the instants its ticks were scheduled for: each a
/// whole number of periods after the one before (missed ticks are skipped, never bunched), and
/// that `tick` and `next` share one schedule.
#[test]
fn an_interval_streams_its_scheduled_tick_instants() {
    let period = Duration::from_millis(2);
    let ticks = miniloop::run(async {
        let mut ticker = interval(period);
        let first = ticker.tick().await;
        let mut ticks = vec![first];
        ticks.push(ticker.next().await.expect("an interval never ends"));
        ticks.extend(ticker.take(3).collect::<Vec<_>>().await);
        ticks
    });
    assert_eq!(ticks.len(), 5);
    for pair in ticks.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            !gap.is_zero() && gap.as_nanos() % period.as_nanos() == 0,
            "ticks {gap:?} apart, not a whole number of {period:?} periods"
        );
    }
}

/// Proves that an interval keeps its next tick filed between ticks, even when the `tick` that
/// waited for it was dropped, and that dropping the interval takes the timer out of the loop.
#[test]
fn dropping_an_interval_cancels_its_timer() {
    let event_loop = EventLoop::new();
    let (filed_while_alive, filed_after_drop) = event_loop.run_until_complete(async {
        let mut ticker = interval(Duration::from_secs(3600));
        ticker.tick().await; // the first tick is at once
        let lost = select(ticker.tick(), async {}).await; // polled once, then dropped
        assert_eq!(lost, Either::Right(()));
        let filed_while_alive = event_loop.has_timers();
        drop(ticker);
        (filed_while_alive, event_loop.has_timers())
    });
    assert!(filed_while_alive, "the interval's next tick is not filed");
    assert!(
        !filed_after_drop,
        "the dropped interval left its timer behind"
    );
}

/// Proves that `futures::select!` accepts `interval.next()`: `Interval` is a `FusedStream`
/// that is never terminated.
#[test]
fn futures_select_macro_takes_an_interval() {
    let ticks = within(WATCHDOG, || {
        miniloop::run(async {
            let mut ticker = interval(Duration::from_millis(1));
            let mut ticks = 0;
            while ticks < 3 {
                futures::select! {
                    tick = ticker.next() => {
                        assert!(tick.is_some(), "an interval never ends");
                        ticks += 1;
                    }
                }
            }
            (ticks, ticker.is_terminated())
        })
    });
    assert_eq!(ticks, (3, false));
}

/// Proves that `as_completed` is a stream of the outputs in completion order that ends with
/// `None` (and stays ended), with `.map()` and `.collect()`, and that `is_terminated` turns
/// true exactly when the last output was taken.
#[test]
fn as_completed_streams_outputs_in_completion_order_then_ends() {
    let (first, rest, terminated, after_end) = miniloop::run(async {
        let turns = [3, 1, 0, 2];
        let mut completed = as_completed(turns.map(|turns| after_turns(turns, turns)));
        assert_eq!(completed.size_hint(), (4, Some(4)));
        let first = StreamExt::next(&mut completed).await;
        let rest: Vec<_> = (&mut completed).map(|turns| turns * 10).collect().await;
        let terminated = completed.is_terminated();
        (
            first,
            rest,
            terminated,
            StreamExt::next(&mut completed).await,
        )
    });
    assert_eq!(first, Some(0));
    assert_eq!(rest, [10, 20, 30]);
    assert!(terminated, "every output was taken, yet not terminated");
    assert_eq!(after_end, None);
}

/// Proves that an `AsCompleted` that still has outputs is not terminated, and that
/// `select_next_some` (which needs a `FusedStream`) takes every output once and then lets
/// `futures::select!` reach `complete` instead of spinning.
#[test]
fn as_completed_is_fused_for_the_select_macro() {
    let taken = within(WATCHDOG, || {
        miniloop::run(async {
            let mut completed = as_completed([2, 0, 1].map(|turns| after_turns(turns, turns)));
            assert!(!completed.is_terminated());
            let mut taken = Vec::new();
            loop {
                futures::select! {
                    turns = completed.select_next_some() => taken.push(turns),
                    complete => break,
                }
            }
            taken
        })
    });
    assert_eq!(taken, [0, 1, 2]);
}
