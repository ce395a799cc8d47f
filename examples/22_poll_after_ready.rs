//! Lesson 22: polling after `Ready` (broken on purpose)
//!
//! Once a future has returned `Ready`, it is done: polling it again breaks its
//! contract. An `async` block answers that by panicking ("`async fn` resumed
//! after completion"); a hand-written future may do anything. An executor
//! that keeps finished tasks in its table and lets a late wake queue them again
//! does exactly that. Late wakes are normal: a timer, a channel or another thread
//! may still hold a clone of the task's waker after the task has finished.
//!
//! The fixed executor drops a task's future the moment it returns `Ready` and
//! ignores wakes for tasks it no longer has.
//!
//! Run it:     cargo run --example 22_poll_after_ready             (broken, then fixed)
//!             cargo run --example 22_poll_after_ready -- broken
//!             cargo run --example 22_poll_after_ready -- fixed
//! Read:       docs/22-poll-after-ready.md
//! Debug it:   break on `22_poll_after_ready::Executor::poll_task`; the third stop
//!             is the late wake, and `print self.slots` shows the task's state

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Which version of the executor to run.
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

/// A task's waker: queue the task's id. (Everything runs on one thread here.)
struct TaskWaker {
    task_id: usize,
    woken: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.woken.lock().unwrap().push_back(self.task_id);
    }
}

/// A task slot. The broken executor never leaves `Running`; the fixed one moves to
/// `Finished` and drops the future at once.
enum Slot {
    Running(Pin<Box<dyn Future<Output = ()>>>),
    Finished,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(match self {
            Slot::Running(_) => "Running",
            Slot::Finished => "Finished",
        })
    }
}

#[derive(Debug)]
struct Executor {
    variant: Variant,
    slots: Vec<Slot>,
    woken: Arc<Mutex<VecDeque<usize>>>,
}

impl Executor {
    fn spawn(&mut self, future: impl Future<Output = ()> + 'static) -> usize {
        self.slots.push(Slot::Running(Box::pin(future)));
        let task_id = self.slots.len();
        self.woken.lock().unwrap().push_back(task_id);
        task_id
    }

    /// Polls task `task_id` once, as a woken task.
    fn poll_task(&mut self, task_id: usize) {
        let waker = Waker::from(Arc::new(TaskWaker {
            task_id,
            woken: Arc::clone(&self.woken),
        }));
        let variant = self.variant;
        let slot = &mut self.slots[task_id - 1];
        let Slot::Running(future) = slot else {
            say(
                variant,
                &format!("the late wake found task#{task_id} finished: ignored"),
            );
            return;
        };
        // A panic here is the bug we came to see; catch it to report it.
        let poll = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            future.as_mut().poll(&mut Context::from_waker(&waker))
        }));
        match poll {
            Ok(Poll::Ready(())) => {
                say(variant, &format!("task#{task_id} returned Ready"));
                if variant == Variant::Fixed {
                    *slot = Slot::Finished; // drops the future: it can never be polled again
                }
            }
            Ok(Poll::Pending) => {}
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(no message)");
                say(
                    variant,
                    &format!("polling task#{task_id} again panicked: {message}"),
                );
            }
        }
    }

    fn run(&mut self) {
        loop {
            let next = self.woken.lock().unwrap().pop_front();
            match next {
                Some(task_id) => self.poll_task(task_id),
                None => return,
            }
        }
    }
}

fn run(variant: Variant) {
    let mut executor = Executor {
        variant,
        slots: Vec::new(),
        woken: Arc::new(Mutex::new(VecDeque::new())),
    };
    // Someone keeps a clone of the task's waker: a timer, a channel, a subscriber list.
    let kept_waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
    let kept = Rc::clone(&kept_waker);
    let mut is_first_poll = true;
    let task_id = executor.spawn(async move {
        std::future::poll_fn(|context| {
            if is_first_poll {
                is_first_poll = false;
                *kept.borrow_mut() = Some(context.waker().clone());
                context.waker().wake_by_ref(); // come back once more
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
    });
    executor.run();
    say(
        variant,
        &format!("the subscriber list still holds task#{task_id}'s waker and wakes it late"),
    );
    let late = kept_waker.borrow_mut().take();
    late.expect("the task kept its waker there").wake();
    executor.run();
    say(variant, "the executor is idle");
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
             `cargo run --example 22_poll_after_ready -- broken`"
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
    // The broken run panics on purpose and reports it on stdout; keep stderr quiet for that
    // one panic, and let any other panic print as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
        if !message.contains("resumed after completion") {
            default_hook(info);
        }
    }));
    for variant in variants {
        run(variant);
    }
}
