//! Lesson 25: blocking inside `poll` (broken on purpose)
//!
//! A loop has one thread, and a task gives it back only by returning `Pending`.
//! So `poll` must never block: a leaf future that waits by blocking (here a
//! `sleep` that calls `std::thread::sleep`) holds the loop's only thread, and
//! every other task waits with it, timers included. Lesson 12's `sleep` spun,
//! which at least let others run; this one is worse: it freezes them.
//!
//! The fixed `sleep` files its deadline and its waker with the loop's timers and
//! returns `Pending`. The loop blocks in exactly one place, its idle wait, and
//! only until the earliest deadline. (Lesson 15 shows the same bug from the
//! user's side, with a blocking call inside an `async fn` on miniloop.)
//!
//! Run it:     cargo run --example 25_blocking_inside_poll             (broken, then fixed)
//!             cargo run --example 25_blocking_inside_poll -- broken
//!             cargo run --example 25_blocking_inside_poll -- fixed
//! Read:       docs/25-blocking-inside-poll.md
//! Debug it:   break on `25_blocking_inside_poll::{impl#0}::poll` (the `Sleep`)
//!             and `bt`: it is called from `Executor::poll_task`, and in the
//!             broken run `next` over `std::thread::sleep` takes the full 200 ms

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// When the ticker is due, and how long the fetcher waits (both from the start).
const TICK_DUE: Duration = Duration::from_millis(20);
const FETCH_WAIT: Duration = Duration::from_millis(200);

/// Which version of `sleep` to run.
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

/// The loop's timers: deadline and the waker to wake then. Shared with `Sleep`s.
type Timers = Rc<RefCell<Vec<(Instant, Waker)>>>;

/// Waits until `deadline`.
struct Sleep {
    variant: Variant,
    deadline: Instant,
    timers: Timers,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        match self.variant {
            // The bug: wait right here, holding the loop's thread.
            Variant::Broken => {
                std::thread::sleep(self.deadline - now);
                Poll::Ready(())
            }
            // The fix: tell the loop when to wake us, and give the thread back.
            Variant::Fixed => {
                let entry = (self.deadline, context.waker().clone());
                self.timers.borrow_mut().push(entry);
                Poll::Pending
            }
        }
    }
}

/// A task's waker: queue the task's id.
struct TaskWaker {
    task_id: usize,
    run_queue: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.run_queue.lock().unwrap().push_back(self.task_id);
    }
}

struct Executor {
    tasks: Vec<Option<Pin<Box<dyn Future<Output = ()>>>>>,
    run_queue: Arc<Mutex<VecDeque<usize>>>,
    timers: Timers,
}

impl Executor {
    fn spawn(&mut self, future: impl Future<Output = ()> + 'static) {
        self.tasks.push(Some(Box::pin(future)));
        self.run_queue.lock().unwrap().push_back(self.tasks.len());
    }

    fn poll_task(&mut self, task_id: usize) {
        let waker = Waker::from(Arc::new(TaskWaker {
            task_id,
            run_queue: Arc::clone(&self.run_queue),
        }));
        let Some(future) = self.tasks[task_id - 1].as_mut() else {
            return;
        };
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.tasks[task_id - 1] = None;
        }
    }

    /// The one place this loop may block: nothing to run, so sleep until the earliest
    /// deadline, then wake the tasks whose time has come.
    fn wait_for_timers(&mut self) {
        let earliest = self
            .timers
            .borrow()
            .iter()
            .map(|(deadline, _)| *deadline)
            .min();
        let Some(earliest) = earliest else { return };
        std::thread::sleep(earliest.saturating_duration_since(Instant::now()));
        let now = Instant::now();
        let mut timers = self.timers.borrow_mut();
        let (due, later): (Vec<_>, Vec<_>) =
            timers.drain(..).partition(|(deadline, _)| *deadline <= now);
        *timers = later;
        drop(timers);
        for (_, waker) in due {
            waker.wake();
        }
    }

    fn run(&mut self) {
        while self.tasks.iter().any(Option::is_some) {
            let next = self.run_queue.lock().unwrap().pop_front();
            match next {
                Some(task_id) => self.poll_task(task_id),
                None => self.wait_for_timers(),
            }
        }
    }
}

fn run(variant: Variant) {
    let timers: Timers = Rc::new(RefCell::new(Vec::new()));
    let mut executor = Executor {
        tasks: Vec::new(),
        run_queue: Arc::new(Mutex::new(VecDeque::new())),
        timers: Rc::clone(&timers),
    };
    let start = Instant::now();
    let sleep_until = {
        let timers = Rc::clone(&timers);
        move |deadline: Instant| Sleep {
            variant,
            deadline,
            timers: Rc::clone(&timers),
        }
    };
    let tick_at = Rc::new(RefCell::new(None));
    let fetch_done_at = Rc::new(RefCell::new(None));

    let fetch_sleep = sleep_until(start + FETCH_WAIT);
    let fetch_done = Rc::clone(&fetch_done_at);
    executor.spawn(async move {
        say(
            variant,
            &format!("task#1 \"fetch\" starts a {FETCH_WAIT:?} wait"),
        );
        fetch_sleep.await;
        *fetch_done.borrow_mut() = Some(Instant::now());
        say(variant, "task#1 \"fetch\" done waiting");
    });
    let tick_sleep = sleep_until(start + TICK_DUE);
    let tick = Rc::clone(&tick_at);
    executor.spawn(async move {
        tick_sleep.await;
        *tick.borrow_mut() = Some(Instant::now());
        say(
            variant,
            &format!("task#2 \"tick\" ran (it was due at {TICK_DUE:?})"),
        );
    });
    executor.run();

    let tick_at = tick_at.borrow().expect("the tick ran");
    let fetch_done_at = fetch_done_at.borrow().expect("the fetch finished");
    if tick_at >= fetch_done_at {
        say(
            variant,
            &format!(
            "the tick came after the {FETCH_WAIT:?} wait: that wait held the loop's only thread"
        ),
        );
    } else {
        say(
            variant,
            &format!("the tick came on time, while the {FETCH_WAIT:?} wait went on"),
        );
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
             `cargo run --example 25_blocking_inside_poll -- broken`"
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
