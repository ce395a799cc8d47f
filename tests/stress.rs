//! Stress: many threads waking many tasks while they complete, a wake racing the loop's
//! shutdown (async-executor#163), and a timer that comes due while the loop is busy.
//!
//! Every test here is bounded twice: by a count (so it ends by itself) and by a time budget
//! (so a slow machine runs fewer rounds instead of timing out). A watchdog turns a hang into
//! a failure that names what got stuck. Under miri the counts shrink to a few rounds.

mod common;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use common::{within, Count, DropCounter, WATCHDOG};
use futures::channel::oneshot;
use miniloop::EventLoop;

/// How much work a test does: full size natively, a token amount under miri (which runs
/// code about a thousand times slower).
fn scaled(native: usize, under_miri: usize) -> usize {
    if cfg!(miri) {
        under_miri
    } else {
        native
    }
}

/// How long a test may keep starting new rounds (it always finishes the round it is in).
fn round_budget() -> Duration {
    if cfg!(miri) {
        Duration::ZERO // one round
    } else {
        Duration::from_secs(2)
    }
}

/// How many times any `PanicIfPolledAfterReady` fired. The panic alone is not enough: the
/// loop turns it into a `JoinError` that nobody may read (the handle has its output already).
static POLLS_AFTER_READY: AtomicUsize = AtomicUsize::new(0);

/// Wraps a future and panics if it is polled again after it returned `Ready`: the loop must
/// never do that, whatever wakes arrive late.
struct PanicIfPolledAfterReady<F> {
    inner: Pin<Box<F>>,
    is_done: bool,
}

impl<F: Future> PanicIfPolledAfterReady<F> {
    fn new(inner: F) -> Self {
        PanicIfPolledAfterReady {
            inner: Box::pin(inner),
            is_done: false,
        }
    }
}

impl<F: Future> Future for PanicIfPolledAfterReady<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.is_done {
            POLLS_AFTER_READY.fetch_add(1, Ordering::SeqCst);
            panic!("a task was polled after it returned `Ready`");
        }
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_ready() {
            self.is_done = true;
        }
        poll
    }
}

/// What one task waits for: `target` signals, each delivered by some thread, which then wakes
/// the task. The task files its latest waker *before* it reads the count (the leaf-future
/// rule), so a signal that lands after the read finds the new waker.
#[derive(Default)]
struct Mailbox {
    signals: AtomicUsize,
    waker: Mutex<Option<Waker>>,
    /// Set when the task saw all its signals (for the "stuck" report).
    is_finished: AtomicBool,
}

impl Mailbox {
    /// Called on a waker thread: deliver one signal, then wake whoever waits.
    fn signal(&self) {
        self.signals.fetch_add(1, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap().clone();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The task's side: `Ready(seen)` once `target` signals arrived.
    fn poll_until(&self, target: usize, cx: &mut Context<'_>) -> Poll<usize> {
        {
            let mut filed = self.waker.lock().unwrap();
            match &*filed {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *filed = Some(cx.waker().clone()),
            }
        }
        let seen = self.signals.load(Ordering::SeqCst);
        if seen >= target {
            self.is_finished.store(true, Ordering::SeqCst);
            Poll::Ready(seen)
        } else {
            Poll::Pending
        }
    }
}

/// One round: `tasks` tasks each wait for `signals_per_task` signals, delivered by `threads`
/// threads that share the work and keep waking (finished tasks too) until every signal is
/// sent. Returns the signals each task saw when it finished.
fn run_wake_storm(tasks: usize, threads: usize, signals_per_task: usize) -> Vec<usize> {
    let mailboxes: Arc<Vec<Mailbox>> = Arc::new((0..tasks).map(|_| Mailbox::default()).collect());
    miniloop::run(async {
        let handles: Vec<_> = (0..tasks)
            .map(|index| {
                let mailboxes = Arc::clone(&mailboxes);
                miniloop::spawn(PanicIfPolledAfterReady::new(poll_fn(move |cx| {
                    mailboxes[index].poll_until(signals_per_task, cx)
                })))
            })
            .collect();
        // Let every task file its waker before the storm starts.
        miniloop::yield_now().await;

        let start = Arc::new(Barrier::new(threads));
        let senders: Vec<_> = (0..threads)
            .map(|thread_index| {
                let mailboxes = Arc::clone(&mailboxes);
                let start = Arc::clone(&start);
                std::thread::spawn(move || {
                    start.wait();
                    // Each thread signals every task, interleaved differently per thread, so
                    // tasks finish while other threads are still waking them.
                    for round in 0..signals_per_task.div_ceil(threads) {
                        for step in 0..tasks {
                            // A different rotation per thread and round; each visits every
                            // task once per round.
                            let index = (step + thread_index * 7 + round) % tasks;
                            let signal_number = round * threads + thread_index;
                            if signal_number < signals_per_task {
                                mailboxes[index].signal();
                            }
                        }
                    }
                })
            })
            .collect();

        // The loop's own watchdog: a timer still fires if a remote wake was lost, so this
        // names the stuck task instead of hanging.
        let all = miniloop::join_all(handles);
        let outcome = miniloop::timeout(WATCHDOG, all).await;
        for sender in senders {
            sender.join().unwrap();
        }
        match outcome {
            Ok(results) => results
                .into_iter()
                .map(|result| match result {
                    Ok(seen) => seen,
                    // A panic here is `PanicIfPolledAfterReady` firing, or a task's own bug.
                    Err(error) => panic!("a task failed: {error}"),
                })
                .collect(),
            Err(_) => {
                let stuck: Vec<String> = mailboxes
                    .iter()
                    .enumerate()
                    .filter(|(_, mailbox)| !mailbox.is_finished.load(Ordering::SeqCst))
                    .map(|(index, mailbox)| {
                        let seen = mailbox.signals.load(Ordering::SeqCst);
                        format!("task {index}: {seen} of {signals_per_task} signals")
                    })
                    .take(5)
                    .collect();
                panic!(
                    "stuck: tasks still wait after {WATCHDOG:?}; if they got all their \
                     signals, a wake-up was lost: {stuck:?}"
                )
            }
        }
    })
}

/// Proves that wakes from many threads reach many tasks while those tasks complete: every
/// task sees all its signals (no wake-up lost, nobody left asleep), no task is polled after
/// `Ready` (late wakes of finished tasks are ignored), and the run ends by itself.
#[test]
fn many_threads_waking_many_tasks_lose_no_wake_and_never_poll_a_finished_task() {
    let tasks = scaled(64, 3);
    let threads = scaled(4, 2);
    let signals_per_task = scaled(200, 3);
    let rounds = scaled(100, 1);
    let rounds_run = within(WATCHDOG * 3, move || {
        let started = Instant::now();
        let mut rounds_run = 0;
        while rounds_run < rounds && (rounds_run == 0 || started.elapsed() < round_budget()) {
            let seen = run_wake_storm(tasks, threads, signals_per_task);
            assert!(
                seen.iter().all(|seen| *seen >= signals_per_task),
                "a task finished before all its signals arrived: {seen:?}"
            );
            assert_eq!(
                POLLS_AFTER_READY.load(Ordering::SeqCst),
                0,
                "a late wake polled a finished task"
            );
            rounds_run += 1;
        }
        rounds_run
    });
    assert!(rounds_run >= 1);
}

/// Proves that a task woken from other threads over and over, one wake at a time with the
/// loop going idle in between, is never left asleep: thousands of handshakes, each a fresh
/// chance to lose the wake between "nothing to do" and "park". (`tests/wake.rs` has one
/// thread and one task; this is several of each, all at once.)
#[test]
fn ping_pong_between_loop_tasks_and_threads_never_stalls() {
    let pairs = scaled(4, 2);
    let exchanges = scaled(2_000, 5);
    let total = within(WATCHDOG, move || {
        miniloop::run(async move {
            let mut handles = Vec::new();
            let mut echoes = Vec::new();
            for _ in 0..pairs {
                let (request_tx, request_rx) = std::sync::mpsc::channel::<oneshot::Sender<u32>>();
                echoes.push(std::thread::spawn(move || {
                    for (number, reply) in request_rx.into_iter().enumerate() {
                        let _ = reply.send(number as u32);
                    }
                }));
                handles.push(miniloop::spawn(PanicIfPolledAfterReady::new(async move {
                    let mut total = 0u64;
                    for expected in 0..exchanges as u32 {
                        let (tx, rx) = oneshot::channel();
                        request_tx.send(tx).unwrap();
                        assert_eq!(rx.await.unwrap(), expected);
                        total += 1;
                    }
                    total
                })));
            }
            let results = miniloop::timeout(WATCHDOG, miniloop::join_all(handles))
                .await
                .expect("stuck: a ping-pong task waits for a reply that was sent");
            for echo in echoes {
                echo.join().unwrap();
            }
            results
                .into_iter()
                .map(|result| result.unwrap())
                .sum::<u64>()
        })
    });
    assert_eq!(total, (pairs * exchanges) as u64);
    assert_eq!(POLLS_AFTER_READY.load(Ordering::SeqCst), 0);
}

/// Proves that a wake from another thread *while the loop is being dropped* is harmless
/// (async-executor#163): no panic, no hang, and every unfinished task's future is dropped
/// exactly once, on the loop's thread, however the wake interleaves with the shutdown.
#[test]
fn waking_tasks_from_another_thread_while_the_loop_is_dropped_is_harmless() {
    let tasks = scaled(32, 2);
    // `MINILOOP_STRESS_ROUNDS` caps the rounds (scripts/valgrind-lessons.sh sets it: a round
    // under valgrind is about 50 times slower).
    let iterations = std::env::var("MINILOOP_STRESS_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(scaled(1_000, 2));
    let iterations_run = within(WATCHDOG * 3, move || {
        let started = Instant::now();
        let mut iterations_run = 0;
        while iterations_run < iterations
            && (iterations_run == 0 || started.elapsed() < round_budget())
        {
            shutdown_race_once(tasks, iterations_run);
            iterations_run += 1;
        }
        iterations_run
    });
    assert!(iterations_run >= 1);
}

/// One shutdown race: a thread wakes (and aborts) every task in a loop while this thread
/// drops the `EventLoop`; the thread goes on waking after the drop too.
fn shutdown_race_once(tasks: usize, iteration: usize) {
    let drops = Count::default();
    let event_loop = EventLoop::new();
    let (waker_tx, waker_rx) = std::sync::mpsc::channel::<Waker>();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let guard = DropCounter::new(&drops);
        let waker_tx = waker_tx.clone();
        let mut has_published = false;
        handles.push(event_loop.spawn(poll_fn(move |cx| {
            let _keep = &guard;
            if !has_published {
                has_published = true;
                waker_tx.send(cx.waker().clone()).unwrap();
            }
            Poll::<()>::Pending
        })));
    }
    drop(waker_tx);
    // Every task runs once and publishes its waker; then the loop stops with all of them
    // still pending.
    event_loop.run_until_complete(miniloop::yield_now());
    let wakers: Vec<Waker> = waker_rx.try_iter().collect();
    assert_eq!(wakers.len(), tasks);

    let is_stopping = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(2));
    let waking_thread = {
        let is_stopping = Arc::clone(&is_stopping);
        let barrier = Arc::clone(&barrier);
        std::thread::spawn(move || {
            barrier.wait();
            let mut turns = 0;
            // Keep waking until told to stop, and at least a few turns after that.
            while !is_stopping.load(Ordering::SeqCst) || turns < 3 {
                for (index, waker) in wakers.iter().enumerate() {
                    if (index + turns + iteration).is_multiple_of(3) {
                        waker.wake_by_ref();
                    } else {
                        // On purpose: a clone woken by value takes the other wake path.
                        #[allow(clippy::waker_clone_wake)]
                        waker.clone().wake();
                    }
                }
                for handle in handles.iter().skip(turns % 2) {
                    handle.abort();
                }
                turns += 1;
                // A system call per turn: under valgrind, which runs one thread at a time, a
                // thread spinning in user space can keep the dropping thread waiting for long.
                std::thread::yield_now();
            }
            // The wakers (and handles) die on this thread, after the loop is gone.
            drop(wakers);
            handles
        })
    };
    barrier.wait();
    drop(event_loop);
    is_stopping.store(true, Ordering::SeqCst);
    let handles = waking_thread
        .join()
        .expect("the waking thread must not panic");
    assert_eq!(
        drops.get(),
        tasks,
        "each unfinished future is dropped exactly once"
    );
    // Their handles report the cancellation, wherever they are awaited.
    miniloop::run(async move {
        for handle in handles {
            let error = handle.await.expect_err("the loop was dropped");
            assert!(error.is_cancelled());
        }
    });
}

/// Proves that a timer whose deadline passes while a task hogs the loop fires as soon as the
/// loop is free: its task runs right after the hog, long before a far-off timer, and never
/// before its deadline.
#[test]
#[cfg_attr(
    miri,
    ignore = "measures wall-clock lateness, which miri's virtual clock distorts"
)]
fn a_late_timer_fires_as_soon_as_the_loop_is_free() {
    const DEADLINE: Duration = Duration::from_millis(10);
    const HOG: Duration = Duration::from_millis(80);
    let (fired_after, hog_ended_after) = within(WATCHDOG, || {
        miniloop::run(async {
            let start = Instant::now();
            let far = miniloop::spawn(miniloop::sleep(Duration::from_secs(3600)));
            let timer = miniloop::spawn(async move {
                miniloop::sleep(DEADLINE).await;
                start.elapsed()
            });
            let hog = miniloop::spawn(async move {
                miniloop::yield_now().await; // after the timer task has filed its sleep
                std::thread::sleep(HOG); // blocks the loop past the timer's deadline
                start.elapsed()
            });
            let hog_ended_after = hog.await.unwrap();
            let fired_after = timer.await.unwrap();
            far.abort();
            (fired_after, hog_ended_after)
        })
    });
    assert!(fired_after >= DEADLINE, "fired early: {fired_after:?}");
    assert!(
        fired_after >= hog_ended_after,
        "the timer task ran while the hog held the loop"
    );
    assert!(
        fired_after - hog_ended_after < Duration::from_millis(200),
        "the timer fired {:?} after the loop was free",
        fired_after - hog_ended_after
    );
}

/// Proves that a task may hold a `&mut` into its own state across an `.await` (an `async`
/// block borrowing its own local, as `tx.send(n).await` borrows `tx`) and write through it
/// after the loop's abort check: natively this always passes; under miri it shows the bug.
///
/// Under miri this guards a bug it found (Stacked and Tree Borrows alike): `Core::run_task`
/// used to read the header through `&TaskBody` (the boxed future of the time), a shared
/// reborrow of the whole task body, future included, which froze the `&mut` the suspended future held into itself; the write
/// through it on the next poll was undefined behaviour. The fix projected to the header
/// alone; since the one-allocation task the future sits in an `UnsafeCell`, which a shared
/// `&Task` does not freeze, and this test keeps checking that under miri.
#[test]
fn a_task_writing_through_a_self_borrow_held_across_an_await_is_sound() {
    let total = within(WATCHDOG, || {
        miniloop::run(async {
            miniloop::spawn(async {
                let mut count = 0u32;
                let counter = &mut count;
                miniloop::yield_now().await;
                *counter += 1;
                count
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(total, 1);
}
