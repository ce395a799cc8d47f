//! A program ported to tokio: the tokio side
//!
//! A kitchen at closing time. Three cooks (a `JoinSet`) each cook one order (a timer) and
//! pass the dish to a waiter (a task) through a channel; the kitchen closes at a deadline
//! (a select against a timer), and the cook still at work then is cancelled.
//! `examples/ported_tokio.rs` is the same program on tokio, line for line: a `diff` of the
//! two files is everything that moving a program from miniloop to tokio changes.
//!
//! Run it:     cargo run --example ported_tokio
//! Read:       docs/ecosystem.md, "Moving to tokio"
//! Compare:    diff examples/ported_miniloop.rs examples/ported_tokio.rs

use std::time::Duration;

use tokio::spawn;
use tokio::task::JoinSet;
use tokio::time::sleep;
// tokio's channels need no tokio runtime: only wakers (docs/ecosystem.md).
use tokio::sync::mpsc;

/// The orders: a dish, and how many ticks it takes to cook.
const ORDERS: [(&str, u64); 3] = [("soup", 2), ("pasta", 5), ("souffle", 50)];

/// When the kitchen closes, in ticks: after the pasta, long before the souffle.
const CLOSING: u64 = 10;

/// A tick of the kitchen's clock: short, so that the program runs in a fifth of a second,
/// and long enough that the three deadlines never swap on a busy machine.
fn ticks(count: u64) -> Duration {
    Duration::from_millis(20 * count)
}

/// One cook: cooks `dish` and passes it to the waiter.
async fn cook(dish: &'static str, time: u64, pass: mpsc::Sender<&'static str>) -> &'static str {
    sleep(ticks(time)).await;
    pass.send(dish)
        .await
        .expect("the waiter stays until every cook is gone");
    dish
}

/// The waiter: serves what comes through the pass, until the last cook has gone.
async fn waiter(mut pass: mpsc::Receiver<&'static str>) -> Vec<&'static str> {
    let mut served = Vec::new();
    while let Some(dish) = pass.recv().await {
        served.push(dish);
    }
    served
}

/// Waits for the cooks, in the order they finish.
async fn all_cooked(cooks: &mut JoinSet<&'static str>) {
    while let Some(finished) = cooks.join_next().await {
        println!("kitchen: {} cooked", finished.expect("no cook panics"));
    }
}

/// The evening: cooks and a waiter start, the kitchen waits for the cooks or for closing time.
async fn kitchen() {
    let (pass, counter) = mpsc::channel(ORDERS.len());
    let waiter = spawn(waiter(counter));
    let mut cooks = JoinSet::new();
    for (dish, time) in ORDERS {
        cooks.spawn(cook(dish, time, pass.clone()));
    }
    drop(pass);
    let closing = sleep(ticks(CLOSING));
    tokio::select! {
        biased; // in order, as miniloop's `select` does; without it, tokio picks at random
        () = all_cooked(&mut cooks) => println!("kitchen: every order cooked"),
        () = closing => println!("kitchen: closing, {} cook(s) at work", cooks.len()),
    }
    // Cancels the cooks still at work; each drops its end of the pass, and the waiter sees
    // the channel close once the last one is gone.
    cooks.shutdown().await;
    let served = waiter.await.expect("the waiter does not panic");
    println!("waiter: served {}", served.join(", "));
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    kitchen().await;
}
