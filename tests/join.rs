//! Combining futures: `join_all` (Python's `asyncio.gather`) and `as_completed`.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use common::{within, Count, PollCounter, WATCHDOG};
use futures::channel::oneshot;
use miniloop::{as_completed, join_all, sleep, yield_now};

/// A boxed future, so that futures of different shapes fit in one `Vec`.
type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

/// A future that sleeps `ms` milliseconds and then returns `ms`.
fn after(ms: u64) -> Boxed<u64> {
    Box::pin(async move {
        sleep(Duration::from_millis(ms)).await;
        ms
    })
}

/// Proves that `join_all` returns the outputs in input order, whatever order the futures
/// complete in (here the reverse of it, plus one that is ready at once).
#[test]
fn join_all_returns_outputs_in_input_order_whatever_the_completion_order() {
    let outputs = miniloop::run(async {
        join_all(vec![after(30), after(20), after(10), Box::pin(async { 0 })]).await
    });
    assert_eq!(outputs, [30, 20, 10, 0]);
}

/// Proves that `as_completed` yields outputs in completion order, then `None`, and keeps
/// returning `None`.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: assumes the first polls come before the 10 ms deadline; under miri the clock passes it first"
)]
fn as_completed_yields_in_completion_order_then_none() {
    let (order, after_end) = miniloop::run(async {
        let mut completed =
            as_completed(vec![after(30), after(10), Box::pin(async { 0 }), after(20)]);
        assert_eq!(completed.remaining(), 4);
        let mut order = Vec::new();
        while let Some(ms) = completed.next().await {
            order.push(ms);
        }
        assert_eq!(completed.remaining(), 0);
        (order, completed.next().await)
    });
    assert_eq!(order, [0, 10, 20, 30]);
    assert_eq!(after_end, None);
}

/// `n` children, each a oneshot receiver wrapped in a `PollCounter`, and a task that completes
/// them one per turn, last child first, so the awaiting future is woken `n` separate times.
fn children_woken_one_per_turn(
    n: usize,
    polls: &Count,
) -> Vec<PollCounter<impl Future<Output = usize>>> {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..n).map(|_| oneshot::channel()).unzip();
    miniloop::spawn(async move {
        for (index, sender) in senders.into_iter().enumerate().rev() {
            sender.send(index).unwrap();
            yield_now().await;
        }
    });
    receivers
        .into_iter()
        .map(|receiver| PollCounter::new(polls, async move { receiver.await.unwrap() }))
        .collect()
}

/// Proves that `join_all` of 10 000 futures, each woken once and at a different turn,
/// re-polls only the child that was woken: at most 3 polls per child in total (a version
/// that re-polls every pending child on each wake needs about n²/2 = 50 million).
#[test]
#[cfg_attr(miri, ignore = "a long loop: 10 000 futures woken one per turn")]
fn join_all_of_ten_thousand_futures_polls_each_only_when_woken() {
    const CHILDREN: usize = 10_000;
    let polls = Count::default();
    let counted = polls.clone();
    let start = Instant::now();
    let outputs = within(WATCHDOG, move || {
        miniloop::run(
            async move { join_all(children_woken_one_per_turn(CHILDREN, &counted)).await },
        )
    });
    let elapsed = start.elapsed();
    assert_eq!(outputs, (0..CHILDREN).collect::<Vec<_>>());
    assert!(
        polls.get() <= 3 * CHILDREN,
        "{} child polls for {CHILDREN} children",
        polls.get()
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

/// Proves the same for `as_completed`: each child is polled only when woken, and the outputs
/// come out in the order the children were woken.
#[test]
#[cfg_attr(miri, ignore = "a long loop: 10 000 futures woken one per turn")]
fn as_completed_of_ten_thousand_futures_polls_each_only_when_woken() {
    const CHILDREN: usize = 10_000;
    let polls = Count::default();
    let counted = polls.clone();
    let order = within(WATCHDOG, move || {
        miniloop::run(async move {
            let mut completed = as_completed(children_woken_one_per_turn(CHILDREN, &counted));
            let mut order = Vec::new();
            while let Some(index) = completed.next().await {
                order.push(index);
            }
            order
        })
    });
    assert_eq!(order, (0..CHILDREN).rev().collect::<Vec<_>>());
    assert!(
        polls.get() <= 3 * CHILDREN,
        "{} child polls for {CHILDREN} children",
        polls.get()
    );
}

/// Proves that empty input works: `join_all` gives an empty `Vec` and `as_completed` gives
/// `None` at once, without waiting for anything.
#[test]
fn empty_input_completes_at_once() {
    let (joined, first) = miniloop::run(async {
        let joined = join_all(Vec::<Boxed<u64>>::new()).await;
        let first = as_completed(Vec::<Boxed<u64>>::new()).next().await;
        (joined, first)
    });
    assert!(joined.is_empty());
    assert_eq!(first, None);
}

/// Proves that `join_all` and `as_completed` need neither `Send` nor `'static` futures: they
/// run inside the awaiting task, so they may borrow its locals and hold an `Rc`.
#[test]
fn join_all_and_as_completed_accept_borrowing_non_send_futures() {
    let total = miniloop::run(async {
        let shared = std::rc::Rc::new(5);
        let local = [1, 2, 3];
        let joined = join_all(local.iter().map(|n| {
            let shared = std::rc::Rc::clone(&shared);
            async move {
                yield_now().await;
                n * *shared
            }
        }))
        .await;
        let mut completed = as_completed(local.iter().map(|n| async move { *n }));
        let mut sum = 0;
        while let Some(n) = completed.next().await {
            sum += n;
        }
        joined.iter().sum::<i32>() + sum
    });
    assert_eq!(total, 30 + 6);
}
