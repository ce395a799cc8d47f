//! Lesson 29: the poll contract (broken on purpose)
//!
//! A future that returns `Pending` makes a promise: it has kept `cx.waker()`
//! somewhere, and something will call that waker when the wait is over. Lesson
//! 11's `Sleep` kept no waker, and got away with it: its `block_on` polled again
//! at once, whether woken or not. A real loop polls a task only when it is woken,
//! so on miniloop that `Sleep` strands its task: nothing will ever poll it again.
//! A loop that only waits would hang here, silently, for ever. miniloop looks
//! before a wait with no deadline, sees that nothing could ever end it, and
//! panics with a report that names the stuck task and the likely cause.
//!
//! The fixed `Sleep` keeps the waker and hands it to a timer thread, which calls
//! it when the time is up (miniloop's own `miniloop::sleep` does the same with
//! the loop's timer queue, and no thread).
//!
//! Run it:     cargo run --example 29_poll_contract_broken             (broken, then fixed)
//!             cargo run --example 29_poll_contract_broken -- broken
//!             cargo run --example 29_poll_contract_broken -- fixed
//! Read:       docs/29-poll-contract-broken.md
//! Debug it:   `break miniloop::event_loop::stuck::StuckReport::raise`, `run`, `bt`:
//!             the report is raised from the loop's idle wait (`wait_for_work`), long
//!             after the culprit returned; docs/debugging.md, section 6, finds it
//!
//! The broken run catches the loop's panic and prints its first lines; it never hangs.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long the fixed `Sleep` waits.
const NAP: Duration = Duration::from_millis(20);

/// Which version of `Sleep` to run.
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

/// What the fixed `Sleep` shares with its timer thread.
#[derive(Debug, Default)]
struct Alarm {
    has_rung: bool,
    /// The waker of the latest poll: the one the timer thread must call.
    waker: Option<Waker>,
}

/// Lesson 11's leaf future, now on a real loop: `Pending` once, then `Ready`.
struct Sleep {
    variant: Variant,
    /// How many times `poll` ran, for the story (shared with `main`).
    polls: Arc<AtomicU32>,
    /// The fixed `Sleep`'s alarm, once its timer thread is started.
    alarm: Option<Arc<Mutex<Alarm>>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let poll = self.polls.fetch_add(1, Ordering::Relaxed) + 1;
        let variant = self.variant;
        match variant {
            // The bug, exactly lesson 11's: "not yet", and the waker is kept nowhere.
            Variant::Broken => {
                if poll > 1 {
                    return Poll::Ready(()); // never reached: nobody polls it again
                }
                say(
                    variant,
                    "Sleep::poll #1: not yet; returns Pending and keeps no waker",
                );
                Poll::Pending
            }
            // The fix: keep the latest waker where the timer thread will find it.
            Variant::Fixed => {
                if let Some(alarm) = &self.alarm {
                    let mut alarm = alarm.lock().unwrap();
                    if alarm.has_rung {
                        say(
                            variant,
                            &format!("Sleep::poll #{poll}: done; returns Ready"),
                        );
                        return Poll::Ready(());
                    }
                    alarm.waker = Some(context.waker().clone()); // a later poll's waker wins
                    return Poll::Pending;
                }
                let alarm = Arc::new(Mutex::new(Alarm {
                    has_rung: false,
                    waker: Some(context.waker().clone()),
                }));
                self.alarm = Some(Arc::clone(&alarm));
                std::thread::spawn(move || {
                    std::thread::sleep(NAP);
                    let waker = {
                        let mut alarm = alarm.lock().unwrap();
                        alarm.has_rung = true;
                        alarm.waker.take()
                    };
                    say(
                        Variant::Fixed,
                        &format!("the timer thread calls the waker after {NAP:?}"),
                    );
                    waker.expect("the first poll left its waker").wake();
                });
                say(
                    variant,
                    "Sleep::poll #1: not yet; gives cx.waker() to a timer thread, returns Pending",
                );
                Poll::Pending
            }
        }
    }
}

/// The task: awaits its `Sleep`.
async fn sleeper(sleep: Sleep) -> &'static str {
    sleep.await;
    "the sleeper woke up"
}

/// The program: main spawns a task named "sleeper" and awaits it.
async fn program(variant: Variant, polls: Arc<AtomicU32>) -> &'static str {
    let sleep = Sleep {
        variant,
        polls,
        alarm: None,
    };
    let sleeper = miniloop::task::Builder::new()
        .name("sleeper")
        .spawn(sleeper(sleep));
    sleeper.await.expect("the sleeper does not panic")
}

fn run(variant: Variant) {
    say(
        variant,
        "main awaits task#1 \"sleeper\", which awaits a Sleep",
    );
    let polls = Arc::new(AtomicU32::new(0));
    let program = program(variant, Arc::clone(&polls));
    match variant {
        Variant::Broken => {
            // The loop's panic is the lesson's subject: print it our way, not the default
            // hook's (which would add "thread 'main' panicked at ..." on stderr).
            let default_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let outcome = catch_unwind(AssertUnwindSafe(|| miniloop::run(program)));
            std::panic::set_hook(default_hook);
            let payload = outcome.expect_err("a loop nothing can wake panics");
            let report = payload
                .downcast_ref::<String>()
                .expect("the report is a formatted message");
            say(
                variant,
                "the loop had nothing to run and nothing that could ever wake it; instead of \
                 waiting forever it panicked:",
            );
            let first_line = report.lines().next().unwrap_or_default();
            say(variant, &format!("| {first_line}"));
            for task_line in report.lines().filter(|line| line.starts_with("  task#")) {
                say(variant, &format!("|{task_line}"));
            }
            say(
                variant,
                &format!(
                    "the Sleep was polled {} time; nothing could ever poll it again",
                    polls.load(Ordering::Relaxed)
                ),
            );
        }
        Variant::Fixed => {
            let result = miniloop::run(program);
            say(variant, &format!("main got: {result:?}"));
            say(
                variant,
                &format!(
                    "the Sleep was polled {} times: once to start, once after the wake",
                    polls.load(Ordering::Relaxed)
                ),
            );
        }
    }
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
             `cargo run --example 29_poll_contract_broken -- broken`"
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
