//! Lesson 34: streams
//!
//! A future is polled until it is ready, once. A stream is a future that can be polled
//! again: `poll_next` answers `Ready(Some(item))` as many times as it has items, then
//! `Ready(None)`, and `Pending` in between, with the same waker rules as `poll`. It is
//! Python's async generator, consumed with `while let Some(x) = stream.next().await`
//! where Python writes `async for x in gen`.
//!
//! 1. A stream by hand: `Countdown`, whose `poll_next` sleeps between items.
//! 2. `miniloop::as_completed` is a stream: results in the order they finish, not the
//!    order they were given; `StreamExt`'s `filter`, `map`, `take` and `collect` on it.
//! 3. `miniloop::interval` is a stream that never ends: `take(3)` ends it.
//!
//! Run it:     cargo run --example 34_streams
//! Read:       docs/34-streams.md
//! Debug it:   break on `34_streams::Countdown::poll_next`, then `finish`: `Pending`
//!             at the first stop for each number (the sleep was just filed),
//!             `Ready(Some(..))` at the second
//!
//! The delays are a few milliseconds, so this lesson has no time scale. No line depends
//! on timing but the lateness of the ticks in part 3 (never below zero).

use std::future::{ready, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::stream::{FusedStream, Stream, StreamExt};
use miniloop::{as_completed, interval, sleep, Sleep};

/// The pause between two numbers of the countdown.
const PAUSE: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------------
// Part 1: a stream by hand.
// ---------------------------------------------------------------------------------

/// Counts down from `next` to 1, a `PAUSE` before each number, then ends. The Python:
///
/// ```text
/// async def countdown(n):
///     while n > 0:
///         await asyncio.sleep(0.005)
///         yield n
///         n -= 1
/// ```
///
/// An `async def` with a `yield` keeps its place between items by itself; here the
/// place is written out: the number to give next, and the sleep in progress.
struct Countdown {
    next: u32,
    /// The pause before `next`; `None` between a number and the next `poll_next`.
    pause: Option<Pin<Box<Sleep>>>,
    /// Polls so far, counted to show that each item takes two (one `Pending`, one `Ready`).
    polls: u32,
}

impl Countdown {
    fn new(from: u32) -> Countdown {
        Countdown {
            next: from,
            pause: None,
            polls: 0,
        }
    }
}

impl Stream for Countdown {
    type Item = u32;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u32>> {
        // `Countdown` is `Unpin` (its sleep is boxed): `self` can be used as `&mut`.
        self.polls += 1;
        if self.next == 0 {
            return Poll::Ready(None); // the end; and again if polled again (see below)
        }
        // Start the pause on the first poll for this number, then wait for it.
        let pause = self.pause.get_or_insert_with(|| Box::pin(sleep(PAUSE)));
        if pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending; // the sleep filed the waker: the loop will poll us again
        }
        self.pause = None;
        let item = self.next;
        self.next -= 1;
        Poll::Ready(Some(item))
    }
}

/// After the end, `poll_next` keeps answering `None`, and says so: `futures::select!` and
/// `StreamExt::fuse` look for this to know not to poll it again.
impl FusedStream for Countdown {
    fn is_terminated(&self) -> bool {
        self.next == 0
    }
}

async fn part_1() {
    println!("1. Countdown, a stream written in this file: a {PAUSE:?} sleep before each number");
    let mut countdown = Countdown::new(3);
    print!("   while let Some(n) = countdown.next().await:");
    while let Some(n) = countdown.next().await {
        print!(" {n}");
    }
    println!(" (then None)");
    println!(
        "   polls: {} for 3 numbers and the end: 2 per number (Pending, then Ready), 1 for None",
        countdown.polls
    );
    println!(
        "   polled again after the end: {:?}; is_terminated: {}",
        countdown.next().await,
        countdown.is_terminated()
    );
}

// ---------------------------------------------------------------------------------
// Part 2: as_completed is a stream.
// ---------------------------------------------------------------------------------

/// Sleeps `ms` milliseconds, then returns `ms`: a request whose answer takes that long.
async fn request(ms: u64) -> u64 {
    sleep(Duration::from_millis(ms)).await;
    ms
}

async fn part_2() {
    println!("2. as_completed: the results as the futures finish");
    let input = [30u64, 10, 40, 20];
    println!("   input order:      {input:?} (each sleeps that many ms)");
    let finished: Vec<u64> = as_completed(input.map(request)).collect().await;
    println!("   completion order: {finished:?}");
    println!("   the same order as the input: {}", finished == input);
    // Combinators on the stream: each is a stream around the one before.
    let slow_ones: Vec<String> = as_completed(input.map(request))
        .filter(|ms| ready(*ms >= 20)) // keep the answers that took 20 ms or more
        .map(|ms| format!("{ms}ms"))
        .take(2) // and stop after two: the last future is dropped unfinished
        .collect()
        .await;
    println!("   .filter(>= 20).map(format).take(2).collect(): {slow_ones:?}");
}

// ---------------------------------------------------------------------------------
// Part 3: interval is a stream that never ends.
// ---------------------------------------------------------------------------------

async fn part_3() {
    let period = Duration::from_millis(10);
    println!("3. interval({period:?}).take(3): a stream that never ends, cut to three items");
    // Each item is the instant the tick was scheduled for; `map` adds when it arrived.
    let ticks: Vec<(Instant, Instant)> = interval(period)
        .map(|scheduled| (scheduled, Instant::now()))
        .take(3)
        .collect()
        .await;
    let (first, _) = ticks[0];
    for (number, (scheduled, arrived)) in ticks.iter().enumerate() {
        println!(
            "   tick {}: scheduled {} ms after tick 1; arrived {} ms after that, not before: {}",
            number + 1,
            (*scheduled - first).as_millis(),
            arrived.saturating_duration_since(*scheduled).as_millis(),
            arrived >= scheduled
        );
    }
}

fn main() {
    miniloop::run(async {
        part_1().await;
        part_2().await;
        part_3().await;
    });
}
