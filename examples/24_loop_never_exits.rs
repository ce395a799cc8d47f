//! Lesson 24: a loop that never exits (broken on purpose)
//!
//! When is an event loop done? A first answer is "when every task is done".
//! It works until a program spawns a task that never ends on purpose: a
//! heartbeat, a ticker, a server's accept loop. Then the main work finishes,
//! and the loop keeps running the heartbeat forever: the program never exits.
//!
//! The fix is to run until the *main* future is done, as `asyncio.run` and
//! `miniloop::run` do, and then drop (cancel) every task still unfinished, so
//! their cleanup runs and the call returns.
//!
//! Run it:     cargo run --example 24_loop_never_exits             (broken, then fixed)
//!             cargo run --example 24_loop_never_exits -- broken
//!             cargo run --example 24_loop_never_exits -- fixed
//! Read:       docs/24-loop-never-exits.md
//! Debug it:   break on `24_loop_never_exits::Executor::is_done` and `finish`:
//!             the broken rule keeps answering `false` after main finished
//!
//! The broken run gives up after 1000 extra turns (a watchdog) and says so; it
//! never hangs.

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// How many turns the loop may run after main finished before the watchdog stops it.
const WATCHDOG_TURNS: u64 = 1000;

/// Which version of the loop to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Broken,
    Fixed,
}

/// Prints one line of the story, prefixed with the variant.
fn say(variant: Variant, line: &str) {
    let label = match variant {
        Variant::Broken => "broken",
        Variant::Fixed => "fixed",
    };
    println!("{label}: {line}");
}

/// Gives the loop a turn, like `yield_now` (this loop polls every queued task each turn,
/// so no waker is needed).
struct YieldNow {
    has_yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<()> {
        if self.has_yielded {
            return Poll::Ready(());
        }
        self.has_yielded = true;
        Poll::Pending
    }
}

fn yield_now() -> YieldNow {
    YieldNow { has_yielded: false }
}

/// Runs when a task's future is dropped: how we see that cancelled tasks get cleaned up.
struct OnDrop {
    variant: Variant,
    what: &'static str,
}

impl Drop for OnDrop {
    fn drop(&mut self) {
        say(self.variant, self.what);
    }
}

struct Task {
    name: &'static str,
    future: Pin<Box<dyn Future<Output = ()>>>,
}

struct Executor {
    variant: Variant,
    run_queue: VecDeque<Task>,
    is_main_done: Rc<Cell<bool>>,
}

impl Executor {
    /// The rule this lesson is about: when may the loop stop?
    fn is_done(&self) -> bool {
        match self.variant {
            // Broken: only when no task is left.
            Variant::Broken => self.run_queue.is_empty(),
            // Fixed: as soon as main is done; whatever is left gets cancelled.
            Variant::Fixed => self.is_main_done.get(),
        }
    }

    /// One turn: poll every queued task once.
    fn turn(&mut self) {
        for _ in 0..self.run_queue.len() {
            let mut task = self.run_queue.pop_front().expect("counted just above");
            let poll = task
                .future
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            if poll.is_pending() {
                self.run_queue.push_back(task);
            }
        }
    }

    fn run(&mut self) {
        let mut turns_after_main = 0;
        while !self.is_done() {
            self.turn();
            if self.is_main_done.get() {
                turns_after_main += 1;
                if turns_after_main == WATCHDOG_TURNS {
                    let left: Vec<&str> = self.run_queue.iter().map(|task| task.name).collect();
                    let stuck = format!(
                        "stuck: main finished {WATCHDOG_TURNS} turns ago, but the loop still \
                         runs {}",
                        left.join(", ")
                    );
                    say(self.variant, &stuck);
                    break;
                }
            }
        }
        let unfinished = std::mem::take(&mut self.run_queue);
        match self.variant {
            Variant::Broken => say(
                self.variant,
                "the watchdog stops the loop; without it, it would run forever",
            ),
            Variant::Fixed => say(
                self.variant,
                &format!(
                    "main is done: the loop cancels the {} unfinished task",
                    unfinished.len()
                ),
            ),
        }
        drop(unfinished);
        say(self.variant, "the loop returned");
    }
}

fn run(variant: Variant) {
    let is_main_done = Rc::new(Cell::new(false));
    let mut executor = Executor {
        variant,
        run_queue: VecDeque::new(),
        is_main_done: Rc::clone(&is_main_done),
    };
    // A heartbeat that never ends on purpose, like a ticker or an accept loop.
    executor.run_queue.push_back(Task {
        name: "task#2 \"heartbeat\"",
        future: Box::pin(async move {
            let _cleanup = OnDrop {
                variant,
                what: "task#2 \"heartbeat\" was dropped: its cleanup ran",
            };
            loop {
                yield_now().await;
            }
        }),
    });
    executor.run_queue.push_front(Task {
        name: "task#1 \"main\"",
        future: Box::pin(async move {
            for _ in 0..3 {
                yield_now().await;
            }
            say(variant, "main: done after 3 turns");
            is_main_done.set(true);
        }),
    });
    executor.run();
}

/// `broken`, `fixed`, or nothing (both, broken first).
fn variants_from_args() -> Result<Vec<Variant>, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Ok(vec![Variant::Broken, Variant::Fixed]),
        ["broken"] => Ok(vec![Variant::Broken]),
        ["fixed"] => Ok(vec![Variant::Fixed]),
        _ => Err(format!(
            "expected `broken`, `fixed` or nothing (got {args:?}); for example \
             `cargo run --example 24_loop_never_exits -- broken`"
        )),
    }
}

fn main() {
    let variants = match variants_from_args() {
        Ok(variants) => variants,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    for variant in variants {
        run(variant);
    }
}
