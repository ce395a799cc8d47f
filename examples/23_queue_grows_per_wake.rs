//! Lesson 23: a run queue that grows by one entry per wake (broken on purpose)
//!
//! A waker puts its task in the run queue. If it does that on every wake, a task
//! woken a thousand times before the loop gets to it sits in the queue a thousand
//! times: the queue grows without bound while the loop is busy, and the loop
//! then pops the same task a thousand times, almost always for nothing. Nothing
//! hangs and no answer is wrong, which is why this bug survives: it only costs
//! memory and time.
//!
//! The fix is a "scheduled" flag per task: the waker queues the task only if the
//! flag was clear (an atomic `swap`), and the loop clears it just before it polls
//! the task, so a wake during the poll queues it again.
//!
//! Run it:     cargo run --example 23_queue_grows_per_wake             (broken, then fixed)
//!             cargo run --example 23_queue_grows_per_wake -- broken
//!             cargo run --example 23_queue_grows_per_wake -- fixed
//! Read:       docs/23-queue-grows-per-wake.md
//! Debug it:   break on `23_queue_grows_per_wake::{impl#0}::wake_by_ref` and
//!             `print self.ptr.pointer.data.is_scheduled`: after the first wake it
//!             stays set in the fixed run, so the `swap` tells every later wake to stop

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// How many messages, each with its wake, the producer sends.
const MESSAGES: usize = 1000;

/// Which version of the waker to run.
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

/// The run queue, shared with wakers on other threads.
type RunQueue = Arc<Mutex<VecDeque<usize>>>;

/// A task's waker. `is_scheduled` is the fix; the broken waker ignores it.
struct TaskWaker {
    variant: Variant,
    task_id: usize,
    is_scheduled: AtomicBool,
    run_queue: RunQueue,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.variant == Variant::Fixed && self.is_scheduled.swap(true, Ordering::AcqRel) {
            return; // queued already: the coming poll covers this wake too
        }
        self.run_queue.lock().unwrap().push_back(self.task_id);
    }
}

/// The task: read messages until it has them all.
struct Reader {
    inbox: Arc<Mutex<Vec<usize>>>,
    received: usize,
}

impl Future for Reader {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<usize> {
        let batch = std::mem::take(&mut *self.inbox.lock().unwrap());
        self.received += batch.len();
        if self.received == MESSAGES {
            Poll::Ready(self.received)
        } else {
            Poll::Pending
        }
    }
}

/// "once", or "1000 times".
fn times(count: usize) -> String {
    match count {
        1 => "once".to_string(),
        _ => format!("{count} times"),
    }
}

fn run(variant: Variant) {
    let run_queue: RunQueue = Arc::new(Mutex::new(VecDeque::new()));
    let task_waker = Arc::new(TaskWaker {
        variant,
        task_id: 1,
        is_scheduled: AtomicBool::new(false),
        run_queue: Arc::clone(&run_queue),
    });
    let waker = Waker::from(Arc::clone(&task_waker));
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let mut task = Some(Box::pin(Reader {
        inbox: Arc::clone(&inbox),
        received: 0,
    }));

    // A producer thread sends every message, waking the task each time, while the loop is
    // busy elsewhere (here: waiting for the thread to finish).
    let producer = {
        let waker = waker.clone();
        std::thread::spawn(move || {
            for number in 0..MESSAGES {
                inbox.lock().unwrap().push(number);
                waker.wake_by_ref();
            }
        })
    };
    producer.join().unwrap();
    let queued = run_queue.lock().unwrap().len();
    say(
        variant,
        &format!(
            "{MESSAGES} wakes while the loop was busy: task#1 is in the run queue {}",
            times(queued)
        ),
    );

    // The loop: pop, clear the flag, poll (a popped task that already finished is skipped).
    let mut pops = 0;
    loop {
        let next = run_queue.lock().unwrap().pop_front();
        let Some(_task_id) = next else { break };
        pops += 1;
        let Some(future) = task.as_mut() else {
            continue;
        };
        task_waker.is_scheduled.store(false, Ordering::Release);
        if let Poll::Ready(received) = future.as_mut().poll(&mut Context::from_waker(&waker)) {
            say(
                variant,
                &format!("task#1 read all {received} messages in one poll"),
            );
            task = None;
        }
    }
    let wasted = pops - 1;
    say(
        variant,
        &format!(
            "the loop popped task#1 {}; {wasted} of those pops found it finished already",
            times(pops)
        ),
    );
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
             `cargo run --example 23_queue_grows_per_wake -- broken`"
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
