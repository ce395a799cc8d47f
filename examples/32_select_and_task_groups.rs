//! Lesson 32: select and task groups
//!
//! Two ways to stop waiting for work that is no longer wanted. Inside one task, a
//! select: run two futures (or many), take the first output, drop the rest. Across
//! tasks, a group: spawn them together, collect their results as they finish, and
//! abort the ones left when one fails or when the group goes away. In both, stopping
//! is dropping (lesson 31): the losers' `Drop`s print, so you can see when.
//!
//! 1. A select written here, `FirstOf`, in 20 lines: it polls both futures and returns
//!    the first output. The loser stays inside it until the `FirstOf` is dropped.
//! 2. The crate's `miniloop::select` and `miniloop::race`: the same first output, and
//!    the losers dropped before the `.await` returns, their timers with them.
//! 3. A `JoinSet` used as Python's `TaskGroup`: the first failure aborts the rest.
//! 4. A `JoinSet` dropped while its tasks sleep: every task is cancelled.
//! 5. An `AbortHandle`: one task stops another that it does not own.
//!
//! Run it:     cargo run --example 32_select_and_task_groups
//! Read:       docs/32-select-and-task-groups.md
//! Debug it:   break on `32_select_and_task_groups::note_drop`, then `bt`: in part 2
//!             the caller is `<miniloop::select::Select<…> as Future>::poll`, which
//!             drops the loser inside the poll that returns the winner; in part 1 it
//!             is `main`'s `drop(first)`
//!
//! The delays are a few milliseconds (about 0.2 s in all), so this lesson has no time
//! scale. No line depends on timing but the milliseconds printed in parts 1 and 2,
//! which are at least the winner's sleep and far below the loser's.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use miniloop::{race, select, sleep, spawn, Either, EventLoop, JoinError, JoinSet, Sleep, TaskId};

/// The winner's sleep in parts 1 and 2.
const FAST: Duration = Duration::from_millis(10);

/// The loser's sleep: an hour, so that a loser left behind would be impossible to miss
/// (the loop would wait for it).
const SLOW: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------
// What the selects race: a named sleep that says when it is dropped.
// ---------------------------------------------------------------------------------

/// A sleep with a name. Its output is the name; its `Drop` prints whether it finished,
/// and counts the drops of the ones that had not (the losers).
struct Runner {
    name: String,
    sleep: Pin<Box<Sleep>>,
    finished: bool,
    losers_dropped: Rc<Cell<usize>>,
}

impl Runner {
    fn new(name: impl Into<String>, duration: Duration, losers_dropped: &Rc<Cell<usize>>) -> Self {
        Runner {
            name: name.into(),
            sleep: Box::pin(sleep(duration)),
            finished: false,
            losers_dropped: Rc::clone(losers_dropped),
        }
    }
}

impl Future for Runner {
    type Output = String;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<String> {
        // `Runner` is `Unpin` (its sleep is boxed), so `self` can be used as `&mut Runner`.
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.finished = true;
                Poll::Ready(self.name.clone())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        note_drop(self);
    }
}

/// A named function for the breakpoint: `Drop::drop` has an awkward name in gdb.
#[inline(never)]
fn note_drop(runner: &Runner) {
    let finished = if runner.finished { "yes" } else { "no" };
    println!("   Drop of {}: finished: {finished}", runner.name);
    if !runner.finished {
        runner.losers_dropped.set(runner.losers_dropped.get() + 1);
    }
}

/// Milliseconds since `start`, for a line.
fn millis_since(start: Instant) -> u128 {
    start.elapsed().as_millis()
}

// ---------------------------------------------------------------------------------
// Part 1: a select by hand.
// ---------------------------------------------------------------------------------

/// The first of two futures: polls `a`, then `b`, and returns the first output. Both
/// futures live in it until it is dropped, finished or not. (`Unpin` keeps it short:
/// `Pin::new` instead of pin projection, lesson 28.)
struct FirstOf<A, B> {
    a: A,
    b: B,
}

impl<A: Future + Unpin, B: Future + Unpin> Future for FirstOf<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Both get this task's waker: whichever is woken, the task polls both again.
        if let Poll::Ready(output) = Pin::new(&mut self.a).poll(cx) {
            return Poll::Ready(Either::Left(output));
        }
        if let Poll::Ready(output) = Pin::new(&mut self.b).poll(cx) {
            return Poll::Ready(Either::Right(output));
        }
        Poll::Pending
    }
}

async fn part_1() {
    println!("1. FirstOf, a select written in this file: fast ({FAST:?}) against slow (an hour)");
    let losers = Rc::new(Cell::new(0));
    let start = Instant::now();
    let mut first = FirstOf {
        a: Runner::new("fast", FAST, &losers),
        b: Runner::new("slow", SLOW, &losers),
    };
    // Awaited through `&mut`, so that `first` outlives the `.await` and we choose when
    // it is dropped.
    let winner = (&mut first).await;
    println!(
        "   main: (&mut first).await = {winner:?} after {} ms",
        millis_since(start)
    );
    println!(
        "   main: the loser is still inside first: losers dropped so far: {}",
        losers.get()
    );
    println!("   main: drop(first)");
    drop(first);
    println!("   main: losers dropped: {}", losers.get());
}

// ---------------------------------------------------------------------------------
// Part 2: the crate's select and race.
// ---------------------------------------------------------------------------------

async fn part_2(event_loop: &EventLoop) {
    println!("2. miniloop::select and miniloop::race: the losers are dropped inside the .await");
    let losers = Rc::new(Cell::new(0));
    let start = Instant::now();
    let winner = select(
        Runner::new("fast", FAST, &losers),
        Runner::new("slow", SLOW, &losers),
    )
    .await;
    // The `Drop` lines came first: `Select` drops both futures in the poll that
    // returns, before this task runs on.
    println!(
        "   main: select(fast, slow).await = {winner:?} after {} ms; losers dropped by then: {}",
        millis_since(start),
        losers.get()
    );

    let lengths = [40u64, 20, 50, 10, 30];
    println!("   race over five sleeps of {lengths:?} ms:");
    let losers = Rc::new(Cell::new(0));
    let start = Instant::now();
    let runners = lengths.iter().enumerate().map(|(index, ms)| {
        Runner::new(
            format!("sleep {index} ({ms}ms)"),
            Duration::from_millis(*ms),
            &losers,
        )
    });
    let (index, name) = race(runners).await;
    println!(
        "   main: race(...).await = ({index}, {name:?}) after {} ms; losers dropped: {} of {}",
        millis_since(start),
        losers.get(),
        lengths.len() - 1
    );
    // Each `Sleep`'s `Drop` took its timer out of the loop's queue.
    println!(
        "   main: the loop has a timer filed: {}",
        event_loop.has_timers()
    );
}

// ---------------------------------------------------------------------------------
// Parts 3 to 5: groups of tasks.
// ---------------------------------------------------------------------------------

/// Held by each task of a group; its `Drop` runs when the task ends, finished or
/// cancelled, and counts.
struct TaskGuard {
    name: &'static str,
    drops: Arc<AtomicUsize>,
    quiet: bool,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if !self.quiet {
            println!("   {}: guard dropped", self.name);
        }
    }
}

/// One task of part 3's group: sleeps, then succeeds, or fails if it is `"fails"`.
async fn member(
    name: &'static str,
    time: Duration,
    drops: Arc<AtomicUsize>,
) -> Result<&'static str, String> {
    let _guard = TaskGuard {
        name,
        drops,
        quiet: false,
    };
    sleep(time).await; // a cancelled member stops here
    if name == "fails" {
        Err(format!("{name}: the work went wrong"))
    } else {
        Ok(name)
    }
}

/// A `JoinHandle`'s answer, as one line: `Ok(output)` or `Err(task#3 was cancelled)`.
fn describe<T: std::fmt::Debug>(result: &Result<T, JoinError>) -> String {
    match result {
        Ok(output) => format!("Ok({output:?})"),
        Err(error) => format!("Err({error})"),
    }
}

async fn part_3() {
    println!("3. A JoinSet as Python's TaskGroup: the first failure aborts the rest");
    let drops = Arc::new(AtomicUsize::new(0));
    let members = [("ok", 10), ("fails", 20), ("slow", 40), ("hour", 3_600_000)]
        .map(|(name, ms)| (name, Duration::from_millis(ms)));
    let mut group = JoinSet::new();
    // The set hands back an `AbortHandle` per task; its id names the task's results.
    let mut names: Vec<(TaskId, &str)> = Vec::new();
    for (name, time) in members {
        let abort = group.spawn(member(name, time, Arc::clone(&drops)));
        names.push((abort.id(), name));
    }
    let name_of = |id: TaskId| names.iter().find(|(known, _)| *known == id).unwrap().1;
    println!(
        "   spawned {}: {}",
        members.len(),
        members
            .map(|(name, time)| format!("{name} ({time:?})"))
            .join(", ")
    );
    let (mut succeeded, mut failed, mut cancelled) = (0, 0, 0);
    while let Some(result) = group.join_next().await {
        match &result {
            Ok(Ok(name)) => {
                succeeded += 1;
                println!("   join_next: {name} -> {}", describe(&result));
            }
            Ok(Err(_)) => {
                failed += 1;
                println!("   join_next: fails -> {}", describe(&result));
                // TaskGroup's rule: one failure cancels the others. They stay in the set,
                // and `join_next` returns each one's cancellation.
                println!("   main: abort_all(), {} tasks left", group.len());
                group.abort_all();
            }
            Err(error) => {
                cancelled += usize::from(error.is_cancelled());
                println!(
                    "   join_next: {} -> {}; cancelled: {}",
                    name_of(error.id()),
                    describe(&result),
                    error.is_cancelled()
                );
            }
        }
    }
    println!(
        "   join_next: None. {succeeded} succeeded, {failed} failed, {cancelled} cancelled; guards dropped: {} of {}",
        drops.load(Ordering::SeqCst),
        members.len()
    );
}

async fn part_4(event_loop: &EventLoop) {
    println!("4. A JoinSet dropped while its tasks sleep");
    let drops = Arc::new(AtomicUsize::new(0));
    let tasks = 5;
    let mut group = JoinSet::new();
    for _ in 0..tasks {
        let drops = Arc::clone(&drops);
        group.spawn(async move {
            let _guard = TaskGuard {
                name: "sleeper",
                drops,
                quiet: true,
            };
            sleep(SLOW).await;
        });
    }
    sleep(FAST).await; // every task has started and is parked at its hour-long sleep
    println!(
        "   {} tasks asleep (an hour each); live tasks: {}",
        group.len(),
        event_loop.live_tasks()
    );
    println!("   main: drop(group)");
    drop(group);
    // The loop drops an aborted task's future at its next turn: one yield is enough.
    miniloop::yield_now().await;
    println!(
        "   guards dropped: {} of {tasks}; live tasks: {}; a timer filed: {}",
        drops.load(Ordering::SeqCst),
        event_loop.live_tasks(),
        event_loop.has_timers()
    );
}

async fn part_5() {
    println!("5. An AbortHandle: a watchdog task stops a worker it does not own");
    let drops = Arc::new(AtomicUsize::new(0));
    let worker_drops = Arc::clone(&drops);
    let worker = spawn(async move {
        let _guard = TaskGuard {
            name: "worker",
            drops: worker_drops,
            quiet: false,
        };
        sleep(SLOW).await;
        "worked an hour"
    });
    // The `JoinHandle` stays here, with the output; the `AbortHandle` is `Clone` and
    // `Send` and goes to the watchdog.
    let abort = worker.abort_handle();
    let watchdog = spawn(async move {
        sleep(FAST).await;
        println!("   watchdog: {FAST:?} passed, abort() on {}", abort.id());
        abort.abort();
    });
    let start = Instant::now();
    let result = worker.await;
    println!(
        "   main: worker.await = {} after {} ms",
        describe(&result),
        millis_since(start)
    );
    watchdog.await.expect("the watchdog does not panic");
    println!("   guards dropped: {}", drops.load(Ordering::SeqCst));
}

fn main() {
    let event_loop = EventLoop::new();
    event_loop.run_until_complete(async {
        part_1().await;
        part_2(&event_loop).await;
        part_3().await;
        part_4(&event_loop).await;
        part_5().await;
    });
}
