//! Lesson 15: blocking inside async
//!
//! The loop runs one task at a time, and a task gives the thread back only at
//! an `.await` that returns `Pending`. A blocking call (here
//! `std::thread::sleep`, in real life a synchronous database driver or
//! `std::fs`) never does: it holds the thread, and every other task waits. A
//! ticker task shows the gap: it should tick every 0.1 s, and one tick comes
//! about 0.45 s late. The loop's slow-poll detector names the culprit on
//! stderr. Then the same sleep moves onto `spawn_blocking`, a thread pool, and
//! the ticker keeps its time.
//!
//! Run it:     cargo run --example 15_blocking_inside_async
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 15_blocking_inside_async
//! Read:       docs/15-blocking-inside-async.md
//! Debug it:   break on `15_blocking_inside_async::block_the_thread` and `bt`: in
//!             part 1 the frames below it are the blocker's poll on the loop's
//!             thread (`Core::poll_task`); in part 2 they are a
//!             `miniloop-blocking` pool thread, and `info threads` shows the
//!             loop's thread parked, free to tick
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every delay
//! and the detector's threshold; it changes no line except the lateness and
//! run time lines.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use miniloop::task::Builder;
use miniloop::time::interval;
use miniloop::{sleep, spawn_blocking, EventLoop};

/// Set once in `main`, before anything sleeps; read by `seconds`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// A number of seconds, times the time scale. Same as lesson 13.
fn seconds(count: f64) -> Duration {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Duration::from_secs_f64(count * time_scale)
}

/// Reads `MINILOOP_TIME_SCALE`: 1.0 when unset, an error message when unusable.
/// Same as lesson 12.
fn time_scale_from_env() -> Result<f64, String> {
    let Some(raw) = std::env::var_os("MINILOOP_TIME_SCALE") else {
        return Ok(1.0);
    };
    let text = raw.to_string_lossy();
    let parsed = text.trim().parse::<f64>();
    // The upper bound keeps `Duration::from_secs_f64` far from overflowing.
    match parsed {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!(
            "`MINILOOP_TIME_SCALE` must be a number greater than 0 and at most 1000, \
             like 0.1 (got {text:?}); it multiplies every delay, so unset it or use 1 \
             for real time"
        )),
    }
}

/// How many ticks the ticker waits for in each part.
const TICKS: usize = 10;

/// The ticker: wants to run every 0.1 s, and measures how late each tick was.
/// It collects the lateness instead of printing it, so that the lines come out
/// in the same order however the tasks interleave.
async fn tick_and_measure() -> Vec<Duration> {
    let mut ticker = interval(seconds(0.1));
    let mut lateness = Vec::with_capacity(TICKS);
    for _ in 0..TICKS {
        let scheduled_at = ticker.tick().await;
        lateness.push(scheduled_at.elapsed());
    }
    lateness
}

/// The synchronous call that does not know it runs in async code. Break here.
fn block_the_thread(duration: Duration) {
    std::thread::sleep(duration);
}

/// Part 1's blocker: waits politely once, then blocks the loop's thread.
async fn block_inline() {
    sleep(seconds(0.25)).await;
    // No `.await` until this returns: the poll that runs this line lasts 0.5 s.
    block_the_thread(seconds(0.5));
}

/// Part 2's blocker: the same sleep on a pool thread. The task awaits the
/// handle, which returns `Pending`, and the loop goes back to ticking.
async fn block_on_the_pool() {
    sleep(seconds(0.25)).await;
    let duration = seconds(0.5);
    spawn_blocking(move || block_the_thread(duration))
        .await
        .expect("sleeping never panics");
}

/// Runs the ticker beside `blocker` on a loop with the slow-poll detector on;
/// returns the ticker's lateness, tick by tick.
fn run_part<F>(blocker: F) -> Vec<Duration>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    // A poll that holds the loop for half the blocking time gets a warning on
    // stderr, naming the task and the line that spawned it.
    let event_loop = EventLoop::builder()
        .slow_poll_threshold(Some(seconds(0.25)))
        .build();
    event_loop.run_until_complete(async {
        // Names show up in the detector's warning and in `MINILOOP_TRACE=1`.
        let ticker = Builder::new().name("ticker").spawn(tick_and_measure());
        let blocker = Builder::new().name("blocker").spawn(blocker);
        blocker.await.expect("the blocker does not panic");
        ticker.await.expect("the ticker does not panic")
    })
}

/// Prints one line per tick and the worst one, with `label` in its prefix.
fn print_lateness(label: &str, lateness: &[Duration]) {
    for (tick, late) in lateness.iter().enumerate() {
        println!(
            "Tick {:>2} late by: {:.3} seconds",
            tick + 1,
            late.as_secs_f64()
        );
    }
    let worst = lateness.iter().max().copied().unwrap_or_default();
    println!("Max lateness, {label}: {:.3} seconds", worst.as_secs_f64());
}

fn main() {
    let time_scale = match time_scale_from_env() {
        Ok(time_scale) => time_scale,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    TIME_SCALE
        .set(time_scale)
        .expect("the time scale is set once, before the loop starts");

    println!("Part 1: `std::thread::sleep` inside a task (see the warning on stderr)");
    let started_at = Instant::now();
    let lateness = run_part(block_inline());
    print_lateness("blocking inside async", &lateness);
    println!(
        "Part 1 run time: {:.2} seconds",
        started_at.elapsed().as_secs_f64()
    );

    println!("Part 2: the same sleep on `spawn_blocking`");
    let started_at = Instant::now();
    let lateness = run_part(block_on_the_pool());
    print_lateness("spawn_blocking", &lateness);
    println!(
        "Part 2 run time: {:.2} seconds",
        started_at.elapsed().as_secs_f64()
    );
}
