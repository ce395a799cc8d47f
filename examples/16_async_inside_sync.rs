//! Lesson 16: async inside sync
//!
//! Async code needs a loop to run on. From plain synchronous code you make one:
//! `miniloop::run` is the bridge (Python's `asyncio.run`, or asgiref's
//! `async_to_sync`). But the bridge blocks its thread until the future is done,
//! so it must not be used *inside* a task: the loop that runs the task would
//! stop, and so would every other task on it. miniloop refuses, with a panic
//! that says what to do instead. This lesson crosses the bridge the right way,
//! then the wrong way (and prints the refusal), then shows the two fixes.
//!
//! Run it:     cargo run --example 16_async_inside_sync
//! Read:       docs/16-async-inside-sync.md
//! Debug it:   break on `16_async_inside_sync::greeting_blocking`: it stops three
//!             times; at the second, `bt` shows `Core::poll_task` below it (a
//!             loop already runs on this thread: the nesting miniloop refuses);
//!             at the third, it runs on a `miniloop-blocking` thread, with no loop
//!
//! The panic in part 2 is expected: a panic hook (at the end of this file) keeps
//! it off stderr, and the task's `JoinHandle` turns it into the error we print.

use std::time::Duration;

use miniloop::{sleep, spawn, spawn_blocking};

/// An async API, such as an async HTTP client or database driver.
async fn fetch_greeting() -> String {
    sleep(Duration::from_millis(10)).await;
    "hello from the async world".to_string()
}

/// The bridge from sync to async: makes a loop on this thread, runs the future
/// to the end, and returns its output. Fine in plain code; refused in a task.
fn greeting_blocking() -> String {
    miniloop::run(fetch_greeting())
}

/// Part 1: plain synchronous code (no loop on this thread) crosses the bridge.
fn from_plain_code() {
    let greeting = greeting_blocking();
    println!("Part 1, from plain code: {greeting:?}");
}

/// Part 2: a task calls the bridge. We spawn it as its own task so that its
/// panic comes back to us as a `JoinError` instead of ending the program.
async fn from_inside_a_task() {
    let handle = spawn(async { greeting_blocking() });
    let outcome = handle.await;
    match outcome {
        Ok(greeting) => println!("Part 2, unexpectedly worked: {greeting:?}"),
        Err(error) => {
            println!("Part 2, from inside a task: refused");
            println!("  {error}");
        }
    }
}

/// Fix 1: inside async code, `.await` the async function; no second loop.
async fn fix_with_await() {
    let greeting = fetch_greeting().await;
    println!("Fix 1, `.await` it: {greeting:?}");
}

/// Fix 2: when the call is buried in synchronous code you can't change (a
/// library that calls `miniloop::run` itself), run that code on a pool thread.
/// That thread has no loop, so `run` makes one there, and our task awaits the
/// handle without blocking anyone.
async fn fix_with_spawn_blocking() {
    let handle = spawn_blocking(greeting_blocking);
    let greeting = handle.await.expect("the bridge works on a pool thread");
    println!("Fix 2, on `spawn_blocking`: {greeting:?}");
}

fn main() {
    stay_quiet_about_the_expected_panic();
    from_plain_code();
    miniloop::run(async {
        from_inside_a_task().await;
        fix_with_await().await;
        fix_with_spawn_blocking().await;
    });
}

/// Part 2's panic is the lesson, and its message comes back through the task's
/// `JoinHandle`, which part 2 prints. Rust's default panic hook would print it
/// on stderr first, with a backtrace of some twenty frames when `RUST_BACKTRACE`
/// is set. This hook stays quiet for that one panic, and hands every other panic
/// to the default hook, so a real bug still shows.
fn stay_quiet_about_the_expected_panic() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // `starts_with`: a later panic that quotes this one (an `expect` on the
        // `JoinError`, say) is a real failure, and must still be printed.
        if !message.starts_with("`miniloop::run` (or `run_until_complete`) called while") {
            default_hook(info);
        }
    }));
}
