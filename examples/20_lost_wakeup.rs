//! Lesson 20: a lost wake-up (broken on purpose)
//!
//! An idle loop must sleep, and a wake from another thread must get it going
//! again. The classic bug sits between the two: the loop checks its queue, finds
//! it empty, and goes to sleep; if the wake lands *between* the check and the
//! sleep, and the way the loop sleeps forgets a ring nobody was waiting for, the
//! loop sleeps through it. The task is ready, the message is there, and nothing
//! runs. Here the window is held open on purpose, so the bug happens on every
//! run; in a real program it happens once in a million turns.
//!
//! The broken loop sleeps on a "forgetful bell" (a condition variable that only
//! rings for someone already waiting). The fixed loop sleeps with
//! `std::thread::park`, whose `unpark` leaves a token when nobody is parked: the
//! next `park` returns at once. That is what miniloop does.
//!
//! Run it:     cargo run --example 20_lost_wakeup             (broken, then fixed)
//!             cargo run --example 20_lost_wakeup -- broken
//!             cargo run --example 20_lost_wakeup -- fixed
//! Read:       docs/20-lost-wakeup.md
//! Debug it:   break on `20_lost_wakeup::wait_for_work`;
//!             `print shared.remote_queue.data.value` shows the queue empty at the
//!             check, and again after `next 4` (past `hold_the_window_open`) with
//!             task#1's id in it, just before the loop sleeps
//!
//! The broken run gives up after a 300 ms watchdog and says so; it never hangs.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long the loop sleeps before it declares the wake lost.
const WATCHDOG: Duration = Duration::from_millis(300);

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

/// How the loop sleeps and how a waker rouses it.
#[derive(Debug)]
enum Bell {
    /// Broken: a ring only counts if the loop is waiting at that very moment.
    Forgetful {
        is_listening: Mutex<bool>,
        rung: Condvar,
    },
    /// Fixed: `park`/`unpark`; an `unpark` with nobody parked is kept as a token.
    ParkToken { loop_thread: Thread },
}

impl Bell {
    /// Rouses the loop. Returns whether the ring was heard or kept.
    fn ring(&self) -> bool {
        match self {
            Bell::Forgetful { is_listening, rung } => {
                let mut is_listening = is_listening.lock().unwrap();
                if !*is_listening {
                    return false; // nobody waiting: this ring is lost
                }
                *is_listening = false;
                rung.notify_one();
                true
            }
            Bell::ParkToken { loop_thread } => {
                loop_thread.unpark();
                true
            }
        }
    }

    /// Sleeps until rung, or until `limit` has passed. Returns whether it was rung.
    fn sleep(&self, limit: Duration, remote_queue: &Mutex<VecDeque<usize>>) -> bool {
        match self {
            Bell::Forgetful { is_listening, rung } => {
                let mut listening = is_listening.lock().unwrap();
                *listening = true;
                let (mut listening, timeout) = rung
                    .wait_timeout_while(listening, limit, |listening| *listening)
                    .unwrap();
                *listening = false;
                !timeout.timed_out()
            }
            Bell::ParkToken { .. } => {
                // Park first: a token left by an earlier `unpark` makes this return at once.
                // `park` may also return for no reason, so the queue says whether it was real.
                let deadline = Instant::now() + limit;
                loop {
                    std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()));
                    if !remote_queue.lock().unwrap().is_empty() {
                        return true;
                    }
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
            }
        }
    }
}

/// What wakers and the loop share: the queue of woken task ids, and the bell.
#[derive(Debug)]
struct Shared {
    remote_queue: Mutex<VecDeque<usize>>,
    bell: Bell,
}

/// The waker of task `task_id`: queue the id, then ring (in that order: see the chapter).
struct TaskWaker {
    task_id: usize,
    shared: Arc<Shared>,
    /// Where the waker reports whether its ring was heard, for the story.
    heard_tx: Mutex<mpsc::Sender<bool>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.shared
            .remote_queue
            .lock()
            .unwrap()
            .push_back(self.task_id);
        let was_heard = self.shared.bell.ring();
        let _ = self.heard_tx.lock().unwrap().send(was_heard);
    }
}

/// A one-message mailbox: the task's only future. It keeps the latest waker.
#[derive(Debug, Default)]
struct Mailbox {
    message: Option<&'static str>,
    waker: Option<Waker>,
}

/// The task: wait for the mailbox's message.
struct Receive {
    mailbox: Arc<Mutex<Mailbox>>,
}

impl Future for Receive {
    type Output = &'static str;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<&'static str> {
        let mut mailbox = self.mailbox.lock().unwrap();
        match mailbox.message.take() {
            Some(message) => Poll::Ready(message),
            None => {
                mailbox.waker = Some(context.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The race, made to happen every time: after the loop's check, let the other thread
/// deliver the message and wake the task, and wait until it has.
fn hold_the_window_open(go_tx: &mpsc::Sender<()>, heard_rx: &mpsc::Receiver<bool>) -> bool {
    go_tx.send(()).unwrap();
    heard_rx.recv().unwrap()
}

/// The loop's idle step: check the remote queue, then sleep until rung. Returns whether
/// the loop was woken (false: the watchdog gave up).
fn wait_for_work(
    variant: Variant,
    shared: &Shared,
    go_tx: &mpsc::Sender<()>,
    heard_rx: &mpsc::Receiver<bool>,
) -> bool {
    let is_empty = shared.remote_queue.lock().unwrap().is_empty();
    if !is_empty {
        return true;
    }
    say(
        variant,
        "the loop checked its queue: empty, so it will sleep",
    );
    let was_heard = hold_the_window_open(go_tx, heard_rx);
    let what_happened = if was_heard {
        "meanwhile another thread sent the message and unparked the loop; \
         the unpark is kept as a token"
    } else {
        "meanwhile another thread sent the message and rang; \
         nobody was listening, so the ring is lost"
    };
    say(variant, what_happened);
    say(variant, "the loop sleeps");
    shared.bell.sleep(WATCHDOG, &shared.remote_queue)
}

/// Runs one task that waits for a message from another thread.
fn run(variant: Variant) {
    let bell = match variant {
        Variant::Broken => Bell::Forgetful {
            is_listening: Mutex::new(false),
            rung: Condvar::new(),
        },
        Variant::Fixed => Bell::ParkToken {
            loop_thread: std::thread::current(),
        },
    };
    let shared = Arc::new(Shared {
        remote_queue: Mutex::new(VecDeque::new()),
        bell,
    });
    let (heard_tx, heard_rx) = mpsc::channel();
    let waker = Waker::from(Arc::new(TaskWaker {
        task_id: 1,
        shared: Arc::clone(&shared),
        heard_tx: Mutex::new(heard_tx),
    }));
    let mailbox = Arc::new(Mutex::new(Mailbox::default()));
    let mut task = Box::pin(Receive {
        mailbox: Arc::clone(&mailbox),
    });

    // The sender: waits for the loop's go, then delivers and wakes (the mailbox's waker).
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let sender = std::thread::spawn(move || {
        if go_rx.recv().is_ok() {
            let waker = {
                let mut mailbox = mailbox.lock().unwrap();
                mailbox.message = Some("hello from another thread");
                mailbox.waker.take()
            };
            waker.expect("the task filed its waker").wake();
        }
    });

    let mut context = Context::from_waker(&waker);
    let first = task.as_mut().poll(&mut context);
    assert!(first.is_pending());
    say(
        variant,
        "task#1 polled: no message yet, so it returns Pending",
    );
    let is_woken = wait_for_work(variant, &shared, &go_tx, &heard_rx);
    if !is_woken {
        let queued = shared.remote_queue.lock().unwrap().len();
        let stuck = format!(
            "stuck: nothing woke the loop for {WATCHDOG:?}, though {queued} task sits in its \
             queue; the wake was lost"
        );
        say(variant, &stuck);
    } else {
        say(variant, "the sleep ended at once: the token was waiting");
        let woken = shared.remote_queue.lock().unwrap().pop_front();
        assert_eq!(woken, Some(1));
        match task.as_mut().poll(&mut context) {
            Poll::Ready(message) => say(variant, &format!("task#1 polled: got {message:?}")),
            Poll::Pending => say(variant, "task#1 polled: still nothing (unexpected)"),
        }
    }
    drop(go_tx);
    sender.join().unwrap();
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
             `cargo run --example 20_lost_wakeup -- broken`"
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
