//! Lesson 21: a stale waker (broken on purpose)
//!
//! A leaf future (the one that really waits: a socket, a timer, a channel) keeps
//! a waker so that it can wake its task later. Which waker? The one from the
//! *latest* poll. A future can move: one task polls it, then hands it to
//! another task, which awaits it from then on. A leaf that keeps the waker of
//! its first poll wakes the first task, which has finished; the second task waits
//! forever. The fix is one line: on every poll, replace the stored waker unless
//! `will_wake` says it is the same one.
//!
//! The executor here is tiny (same shape as lesson 20's): a queue of woken task
//! ids that other threads push to, and `park` to sleep.
//!
//! Run it:     cargo run --example 21_stale_waker             (broken, then fixed)
//!             cargo run --example 21_stale_waker -- broken
//!             cargo run --example 21_stale_waker -- fixed
//! Read:       docs/21-stale-waker.md
//! Debug it:   break on `21_stale_waker::Executor::poll_task` and `print task_id`:
//!             the third stop is the delivery's wake; in the broken run it is
//!             for task#1, which has finished
//!
//! The broken run gives up after a 300 ms watchdog and says so; it never hangs.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the loop waits for a wake before it declares a task stuck.
const WATCHDOG: Duration = Duration::from_millis(300);

/// Which version of the leaf future to run.
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

/// What a parcel's sender and its receiver share.
#[derive(Debug, Default)]
struct Slot {
    contents: Option<&'static str>,
    waker: Option<Waker>,
}

/// The leaf future: waits until another thread puts something in the slot.
#[derive(Debug)]
struct Parcel {
    variant: Variant,
    slot: Arc<Mutex<Slot>>,
}

impl Future for Parcel {
    type Output = &'static str;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<&'static str> {
        let mut slot = self.slot.lock().unwrap();
        if let Some(contents) = slot.contents.take() {
            return Poll::Ready(contents);
        }
        match (self.variant, &slot.waker) {
            // The bug: keep whichever waker came first.
            (Variant::Broken, Some(_)) => {}
            // The fix: keep the latest, cloning only if it is a different waker.
            (Variant::Fixed, Some(stored)) if stored.will_wake(context.waker()) => {}
            _ => slot.waker = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

/// Polls a future once and hands it back, whatever the answer (`futures::poll!`).
struct PollOnce<'a> {
    parcel: &'a mut Parcel,
}

impl Future for PollOnce<'_> {
    type Output = Poll<&'static str>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Pin::new(&mut *self.parcel).poll(context))
    }
}

/// A task's waker: queue the task's id, then unpark the loop.
struct TaskWaker {
    task_id: usize,
    woken: Arc<Mutex<VecDeque<usize>>>,
    loop_thread: Thread,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.woken.lock().unwrap().push_back(self.task_id);
        self.loop_thread.unpark();
    }
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The executor: tasks by id, a queue of woken ids, `park` when idle.
struct Executor {
    variant: Variant,
    tasks: BTreeMap<usize, Task>,
    woken: Arc<Mutex<VecDeque<usize>>>,
    /// Tasks spawned by a running task, added after its poll.
    spawned: Rc<RefCell<Vec<(usize, Task)>>>,
}

impl Executor {
    fn waker_for(&self, task_id: usize) -> Waker {
        Waker::from(Arc::new(TaskWaker {
            task_id,
            woken: Arc::clone(&self.woken),
            loop_thread: std::thread::current(),
        }))
    }

    fn spawn(&mut self, task_id: usize, task: Task) {
        self.tasks.insert(task_id, task);
        self.woken.lock().unwrap().push_back(task_id);
    }

    /// Polls one woken task; a wake for a finished task goes nowhere.
    fn poll_task(&mut self, task_id: usize) {
        let waker = self.waker_for(task_id);
        let Some(task) = self.tasks.get_mut(&task_id) else {
            let line =
                format!("the wake reached task#{task_id}, which has finished: it goes nowhere");
            say(self.variant, &line);
            return;
        };
        let poll = task.as_mut().poll(&mut Context::from_waker(&waker));
        if poll.is_ready() {
            self.tasks.remove(&task_id);
        }
        let spawned = std::mem::take(&mut *self.spawned.borrow_mut());
        for (id, task) in spawned {
            self.spawn(id, task);
        }
    }

    /// Runs until every task is done, or until no wake came for `WATCHDOG`. `on_idle` runs
    /// the first time the loop has nothing to do.
    fn run(&mut self, mut on_idle: impl FnMut()) {
        while !self.tasks.is_empty() {
            let next = self.woken.lock().unwrap().pop_front();
            if let Some(task_id) = next {
                self.poll_task(task_id);
                continue;
            }
            on_idle();
            let deadline = Instant::now() + WATCHDOG;
            while self.woken.lock().unwrap().is_empty() && Instant::now() < deadline {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
            }
            if self.woken.lock().unwrap().is_empty() {
                let waiting: Vec<String> =
                    self.tasks.keys().map(|id| format!("task#{id}")).collect();
                say(
                    self.variant,
                    &format!(
                        "stuck: {} waited {WATCHDOG:?} for a wake that went to a finished task",
                        waiting.join(", ")
                    ),
                );
                return;
            }
        }
    }
}

fn run(variant: Variant) {
    let slot = Arc::new(Mutex::new(Slot::default()));
    let mut executor = Executor {
        variant,
        tasks: BTreeMap::new(),
        woken: Arc::new(Mutex::new(VecDeque::new())),
        spawned: Rc::new(RefCell::new(Vec::new())),
    };
    let mut parcel = Parcel {
        variant,
        slot: Arc::clone(&slot),
    };
    let spawned = Rc::clone(&executor.spawned);
    // Task 1 looks at the parcel once, then hands it to a new task 2 and finishes.
    executor.spawn(
        1,
        Box::pin(async move {
            let first_look = PollOnce {
                parcel: &mut parcel,
            }
            .await;
            assert!(first_look.is_pending());
            say(
                variant,
                "task#1 polled the parcel: not here yet (the parcel keeps task#1's waker)",
            );
            let task_2: Task = Box::pin(async move {
                say(variant, "task#2 awaits the parcel");
                let contents = parcel.await;
                say(variant, &format!("task#2 got the parcel: {contents:?}"));
            });
            spawned.borrow_mut().push((2, task_2));
            say(variant, "task#1 handed the parcel to task#2 and finished");
        }),
    );

    // When the loop first goes idle, another thread delivers and wakes the stored waker.
    let mut is_delivered = false;
    executor.run(|| {
        if is_delivered {
            return;
        }
        is_delivered = true;
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            let waker = {
                let mut slot = slot.lock().unwrap();
                slot.contents = Some("a book");
                slot.waker.take()
            };
            waker.expect("the parcel kept a waker").wake();
        })
        .join()
        .unwrap();
        say(
            variant,
            "another thread delivered the parcel and woke the waker the parcel kept",
        );
    });
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
             `cargo run --example 21_stale_waker -- broken`"
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
