//! Lesson 30: `Send`, `'static` and `spawn_local`
//!
//! `miniloop::spawn` asks two things of a future: `'static` (it owns what it uses,
//! borrows nothing) and `Send` (it may go to another thread). A future that holds an
//! `Rc` across an `.await` is not `Send`, so `spawn` refuses it at compile time, even
//! on a loop with one thread (the chapter shows the compiler's message).
//! `spawn_local` takes it: the task never leaves the loop's thread.
//!
//! 1. Why `'static`: a task outlives the code that spawned it. A spawner returns,
//!    and its detached task runs afterwards, with nothing borrowed from it.
//! 2. `spawn_local`: three tasks share one `Rc<RefCell<..>>` and hold it across
//!    their `.await`s; the counts they leave, and the `Rc`'s count.
//! 3. Why the `Waker` of a local task may still go anywhere: a thread wakes it, and
//!    the task runs on the loop's thread all the same.
//!
//! Run it:     cargo run --example 30_send_and_spawn_local
//! Read:       docs/30-send-and-spawn-local.md
//! Debug it:   break on `30_send_and_spawn_local::note_wake`, then `info threads`:
//!             the wake runs on the thread named `waker`, while the loop's thread
//!             is parked in its wait (`epoll_wait` or a condvar); continue, and the
//!             task's next poll is on the main thread
//!
//! The delays are a few milliseconds, so this lesson has no time scale. No line
//! depends on timing: the tasks take turns by the loop's rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::task::{Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::Duration;

use miniloop::{sleep, spawn, spawn_local};

/// Each task's step in part 2 waits this long.
const STEP: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------------
// Part 1: a task outlives its spawner, so it may borrow nothing from it.
// ---------------------------------------------------------------------------------

/// Set by `start_report` as it returns; read by the task it spawned.
static SPAWNER_RETURNED: AtomicBool = AtomicBool::new(false);

/// Spawns a report and returns at once, dropping the `JoinHandle` (which detaches the
/// task: it runs on). The task owns `name`, moved in by `async move`: borrowing it
/// instead would point into this function's stack frame, gone by the time the task
/// runs, and `'static` is how `spawn` rules that out (the chapter shows the error).
fn start_report() {
    let name = String::from("report");
    drop(spawn(async move {
        sleep(STEP).await;
        let returned = SPAWNER_RETURNED.load(Ordering::SeqCst);
        println!("   {name} task: runs; start_report had returned: {returned}");
    }));
    println!("   start_report: spawned the task, dropped its JoinHandle, returns");
    SPAWNER_RETURNED.store(true, Ordering::SeqCst);
}

async fn part_1() {
    println!("1. 'static: a detached task runs after the function that spawned it returned");
    start_report();
    // The task is still in the loop: give it the time it needs.
    sleep(STEP * 2).await;
}

// ---------------------------------------------------------------------------------
// Part 2: spawn_local, and an `Rc<RefCell<..>>` held across `.await`s.
// ---------------------------------------------------------------------------------

/// How many steps each task of part 2 takes.
const STEPS: u32 = 3;

/// One of part 2's tasks: counts its steps in the shared map, with a sleep between.
/// It holds `counts`, an `Rc`, across every `.await`: this future is not `Send`.
async fn counter(name: &'static str, counts: Rc<RefCell<BTreeMap<&'static str, u32>>>) {
    for _ in 0..STEPS {
        // The `RefCell` borrow ends before the `.await` (held across it, another task's
        // `borrow_mut` would find it taken and panic); the `Rc` itself is held across.
        *counts.borrow_mut().entry(name).or_default() += 1;
        print!(" {name}");
        sleep(STEP).await;
    }
}

async fn part_2() {
    println!("2. spawn_local: three tasks share an Rc<RefCell<..>> across their .awaits");
    let counts = Rc::new(RefCell::new(BTreeMap::new()));
    // `spawn(counter(..))` would not compile: the future holds an `Rc`.
    let handles: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| spawn_local(counter(name, Rc::clone(&counts))))
        .collect();
    println!(
        "   Rc::strong_count with the tasks spawned: {}",
        Rc::strong_count(&counts)
    );
    print!("   the steps, in the order they ran:");
    for handle in handles {
        handle.await.expect("no counter panics");
    }
    println!();
    println!(
        "   counts: {:?}; total {} = 3 tasks x {STEPS} steps",
        counts.borrow(),
        counts.borrow().values().sum::<u32>()
    );
    println!(
        "   Rc::strong_count after the tasks ended: {}",
        Rc::strong_count(&counts)
    );
}

// ---------------------------------------------------------------------------------
// Part 3: the waker of a local task goes to another thread.
// ---------------------------------------------------------------------------------

/// A named function for the breakpoint: the wake, on the other thread.
#[inline(never)]
fn note_wake(waker: Waker) -> ThreadId {
    waker.wake();
    thread::current().id()
}

async fn part_3() {
    println!("3. A local task woken from another thread");
    let loop_thread = thread::current().id();
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    // The other thread: waits for a waker, wakes it, says from where.
    let waker_thread = thread::Builder::new()
        .name("waker".into())
        .spawn(move || {
            let waker = waker_rx.recv().expect("the task sends its waker");
            note_wake(waker)
        })
        .expect("a thread can be started");
    let task = spawn_local(async move {
        // Held across the `.await` below: this future is not `Send`.
        let not_send = Rc::new(thread::current().id());
        let mut polls = 0;
        // A leaf future by hand: the first poll sends the task's waker away and parks;
        // the wake from the other thread brings the second poll.
        poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                println!("   task: first poll; sends its waker to another thread, returns Pending");
                waker_tx
                    .send(cx.waker().clone())
                    .expect("the other thread waits for it");
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let polled_on = thread::current().id();
        assert_eq!(*not_send, polled_on, "a local task never changes threads");
        (polls, polled_on)
    });
    let (polls, polled_on) = task.await.expect("the task does not panic");
    let woken_from = waker_thread
        .join()
        .expect("the waker thread does not panic");
    println!(
        "   waker thread: called wake(); the wake came from another thread: {}",
        woken_from != loop_thread
    );
    println!(
        "   task: polled {polls} times, the last on the loop's thread: same thread: {}",
        polled_on == loop_thread
    );
}

fn main() {
    miniloop::run(async {
        part_1().await;
        part_2().await;
        part_3().await;
    });
}
