//! The two worlds and sync-first execution: `spawn_blocking` and its pool, the refusal to nest
//! `run`, the slow-poll detector, `spawn_eager`, `run_now` and `is_suspend_allowed`
//! (chapters `docs/two-worlds.md` and `docs/sync-first.md`).
//!
//! The blocking pool is one per process, shared by every test in this file. Tests that use it
//! take `pool_lock()`, which also puts the pool's settings back to known values, so that a test
//! that lowers the thread bound cannot slow down or break another one.

mod common;

use std::future::{pending, Future};
use std::pin::Pin;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{within, Count, DropCounter, PollCounter, WATCHDOG};
use miniloop::trace::TraceLog;
use miniloop::{
    blocking, is_suspend_allowed, join_all, run, run_now, sleep, spawn, spawn_blocking,
    spawn_eager, yield_now, EventLoop, WouldSuspend,
};

/// The keep-alive every pool test runs with: short, so that idle threads left by one test are
/// gone soon after it ends.
const TEST_KEEP_ALIVE: Duration = Duration::from_millis(50);

/// Serializes the tests that use the blocking pool, and resets its settings for each.
fn pool_lock() -> MutexGuard<'static, ()> {
    static POOL: Mutex<()> = Mutex::new(());
    let guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    blocking::set_keep_alive(TEST_KEEP_ALIVE);
    blocking::set_max_threads(512);
    guard
}

/// Polls `condition` every 5 ms until it holds or `limit` passes; whether it held.
fn eventually(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// Waits (bounded) until every idle pool thread has retired, so that a new thread bound
/// applies to all the threads the next jobs run on.
fn wait_for_an_empty_pool() {
    let is_empty = eventually(Duration::from_secs(5), || blocking::thread_count() == 0);
    assert!(
        is_empty,
        "idle pool threads should retire after {TEST_KEEP_ALIVE:?}; {} still exist",
        blocking::thread_count()
    );
}

// ---- spawn_blocking ----

/// The closure's return value comes back through the handle, as a spawned task's would.
#[test]
fn spawn_blocking_returns_the_closures_value() {
    let _pool = pool_lock();
    let answer = run(async { spawn_blocking(|| 6 * 7).await });
    assert_eq!(answer.expect("the closure does not panic"), 42);
}

/// A panic in the closure becomes a `JoinError` on the handle, and the pool goes on working.
#[test]
fn a_panic_in_the_closure_reaches_the_handle_and_the_pool_keeps_working() {
    let _pool = pool_lock();
    let (error, after) = run(async {
        let error = spawn_blocking(|| -> u32 { panic!("disk on fire") })
            .await
            .expect_err("the closure panicked");
        let after = spawn_blocking(|| 7).await;
        (error, after)
    });
    assert!(error.is_panic(), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("blocking#"), "{message}");
    assert!(
        message.ends_with("panicked with message \"disk on fire\""),
        "{message}"
    );
    assert_eq!(after.expect("the pool still runs closures"), 7);
}

/// Sixteen closures that each sleep 100 ms run side by side on the pool: together they take
/// far less than the 1.6 s they would take one after another.
#[test]
fn many_blocking_calls_run_side_by_side() {
    let _pool = pool_lock();
    let nap = Duration::from_millis(100);
    let started_at = Instant::now();
    let naps = run(async move {
        let handles = (0..16).map(|_| spawn_blocking(move || std::thread::sleep(nap)));
        join_all(handles).await
    });
    let elapsed = started_at.elapsed();
    assert!(naps.iter().all(Result::is_ok));
    let one_after_another = nap * 16;
    assert!(
        elapsed < one_after_another / 2,
        "16 naps of {nap:?} took {elapsed:?}; one after another they take {one_after_another:?}"
    );
}

/// `set_max_threads(2)`: however many closures wait, at most two run at the same time.
#[test]
fn set_max_threads_bounds_how_many_closures_run_at_once() {
    let _pool = pool_lock();
    // Idle threads from earlier tests would take jobs beyond the new bound until they retire.
    wait_for_an_empty_pool();
    blocking::set_max_threads(2);
    let running = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let outcomes = run({
        let (running, most_at_once) = (Arc::clone(&running), Arc::clone(&most_at_once));
        async move {
            let handles = (0..6).map(|_| {
                let (running, most_at_once) = (Arc::clone(&running), Arc::clone(&most_at_once));
                spawn_blocking(move || {
                    let now_running = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most_at_once.fetch_max(now_running, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    blocking::thread_count()
                })
            });
            join_all(handles).await
        }
    });
    blocking::set_max_threads(512);
    for outcome in outcomes {
        let threads_seen = outcome.expect("the closures do not panic");
        assert!(threads_seen <= 2, "the pool had {threads_seen} threads");
    }
    assert_eq!(most_at_once.load(Ordering::SeqCst), 2);
}

/// A thread that finds no work for `keep_alive` exits: the pool holds no thread at rest.
#[test]
fn idle_threads_retire_after_the_keep_alive() {
    let _pool = pool_lock();
    let threads_while_running = run(async { spawn_blocking(blocking::thread_count).await });
    let threads_while_running = threads_while_running.expect("the closure does not panic");
    assert!(threads_while_running >= 1, "the job ran on a pool thread");
    wait_for_an_empty_pool();
}

/// Setting a shorter keep-alive should also shorten the wait of threads that are idle already.
#[test]
fn a_shorter_keep_alive_reaches_threads_that_are_idle_already() {
    let _pool = pool_lock();
    wait_for_an_empty_pool();
    blocking::set_keep_alive(Duration::from_secs(30));
    run(async { spawn_blocking(|| ()).await }).expect("the closure does not panic");
    // Let the thread go back to its wait, with the long keep-alive.
    std::thread::sleep(Duration::from_millis(50));
    blocking::set_keep_alive(TEST_KEEP_ALIVE);
    let is_empty = eventually(Duration::from_secs(2), || blocking::thread_count() == 0);
    assert!(
        is_empty,
        "the idle thread should retire within 2 s of the new 50 ms keep-alive"
    );
}

/// Guarantee: dropping the handle of a finished blocking job never panics, even when the
/// job's output panics in `Drop` (issue 13, bug 4: the handle's detach let that panic out of
/// `drop(handle)`; this test failed before the fix). The same join cell as a task's handle
/// (`tests/tasks.rs`), here with the pool.
#[test]
fn dropping_the_handle_of_a_finished_blocking_job_contains_a_panic_in_its_outputs_drop() {
    let _pool = pool_lock();
    let job = spawn_blocking(|| common::PanicOnDrop("a job's output dropped by its handle"));
    let is_finished = eventually(WATCHDOG, || job.is_finished());
    assert!(is_finished, "the job did not finish within {WATCHDOG:?}");
    drop(job);
}

/// Guarantee (issue 20, item 1): a pool thread survives a detached job whose output panics
/// when the thread drops it, so the pool's thread count stays right and later jobs still run.
/// The join cell contains that panic (`drop_quietly`); with its body emptied (mutation tried by
/// hand: this test then fails on its watchdog) the panic ended the pool thread without
/// counting it out, and with `max_threads` at 1 every later job queued for ever.
#[test]
fn a_detached_blocking_job_whose_output_panics_on_drop_leaves_the_pool_working() {
    let _pool = pool_lock();
    wait_for_an_empty_pool();
    blocking::set_max_threads(1);
    let outcome = within(WATCHDOG, || {
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let detached = spawn_blocking(move || {
            release_rx.recv().expect("the test releases the job");
            common::PanicOnDrop("a job's output dropped by its pool thread")
        });
        drop(detached); // before the job finishes: the pool thread drops the output
        release_tx.send(()).expect("the job waits for this");
        let later = run(async { spawn_blocking(|| 7).await });
        (later, blocking::thread_count())
    });
    blocking::set_max_threads(512);
    let (later, threads) = outcome;
    assert_eq!(later.expect("the later job does not panic"), 7);
    assert!(
        threads <= 1,
        "the pool counts {threads} threads, with a bound of 1"
    );
    wait_for_an_empty_pool();
}

/// `abort` before a pool thread picks the job up: the closure never runs.
#[test]
fn aborting_before_the_closure_starts_skips_it() {
    let _pool = pool_lock();
    wait_for_an_empty_pool();
    blocking::set_max_threads(1);
    let has_run = Arc::new(AtomicBool::new(false));
    let outcome = within(WATCHDOG, {
        let has_run = Arc::clone(&has_run);
        move || {
            run(async move {
                let (release_tx, release_rx) = mpsc::channel::<()>();
                // The only thread is busy until we release it, so the second job waits in line.
                let busy = spawn_blocking(move || release_rx.recv());
                let queued = spawn_blocking(move || has_run.store(true, Ordering::SeqCst));
                queued.abort();
                release_tx.send(()).expect("the busy job is waiting");
                busy.await.expect("the busy job does not panic").ok();
                queued.await
            })
        }
    });
    blocking::set_max_threads(512);
    let error = outcome.expect_err("the aborted job should not produce a value");
    assert!(error.is_cancelled(), "{error:?}");
    assert!(!has_run.load(Ordering::SeqCst), "the aborted closure ran");
}

// ---- the nesting refusal ----

/// A task that calls `run` would block the loop it runs on; it panics instead, and the message
/// names the way out.
#[test]
fn run_inside_a_task_panics_naming_spawn_blocking() {
    let error = run(async {
        spawn(async { run(async { 1 }) })
            .await
            .expect_err("a nested `run` panics")
    });
    assert!(error.is_panic());
    let message = error.to_string();
    assert!(message.contains("already running"), "{message}");
    assert!(message.contains("spawn_blocking"), "{message}");
}

/// The same from the main future, and with `run_until_complete` of another loop.
#[test]
#[should_panic(expected = "already running")]
fn run_until_complete_inside_run_panics() {
    run(async {
        let other = EventLoop::new();
        other.run_until_complete(async {});
    });
}

/// The refusal leaves the thread clean: a later `run` on the same thread works.
#[test]
fn run_works_again_after_a_refused_nested_run() {
    let refused = std::panic::catch_unwind(|| run(async { run(async {}) }));
    assert!(refused.is_err());
    assert_eq!(run(async { 5 }), 5);
}

/// On a pool thread there is no loop, so `run` is the right bridge there.
#[test]
fn run_on_a_pool_thread_makes_its_own_loop() {
    let _pool = pool_lock();
    let output = run(async {
        spawn_blocking(|| {
            run(async {
                sleep(Duration::from_millis(1)).await;
                "inner"
            })
        })
        .await
    });
    assert_eq!(output.expect("the bridge works on a pool thread"), "inner");
}

// ---- the slow-poll detector (in a child process, to read its stderr) ----

/// The variable that makes `slow_poll_child` do its work (it is a no-op in a normal run).
const CHILD_SWITCH: &str = "MINILOOP_TWO_WORLDS_CHILD";

/// Runs `slow_poll_child` in a copy of this test binary and returns its stderr.
fn stderr_of_child(detector: &str) -> String {
    let this_binary = std::env::current_exe().expect("the test binary knows its own path");
    let output = Command::new(this_binary)
        .args([
            "slow_poll_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SWITCH, detector)
        .env_remove("MINILOOP_SLOW_POLL_MS")
        .env_remove("MINILOOP_TRACE")
        .output()
        .expect("the test binary runs as a child");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the child failed; stderr:\n{stderr}"
    );
    stderr
}

/// Not a test of its own: the body the two detector tests run in a child process. A task
/// named "sleepy" holds the loop for 50 ms, with the detector at 20 ms or off.
#[test]
fn slow_poll_child() {
    let threshold = match std::env::var(CHILD_SWITCH).as_deref() {
        Ok("on") => Some(Duration::from_millis(20)),
        Ok("off") => None,
        Ok("main") => {
            // The main future itself blocks for 50 ms, with the detector at 20 ms.
            let event_loop = EventLoop::builder()
                .slow_poll_threshold(Some(Duration::from_millis(20)))
                .build();
            event_loop.run_until_complete(async { std::thread::sleep(Duration::from_millis(50)) });
            return;
        }
        _ => return,
    };
    let event_loop = EventLoop::builder().slow_poll_threshold(threshold).build();
    event_loop.run_until_complete(async {
        miniloop::task::Builder::new()
            .name("sleepy")
            .spawn(async { std::thread::sleep(Duration::from_millis(50)) })
            .await
            .expect("the sleepy task does not panic");
    });
}

/// With the detector on, a 50 ms poll gets a warning naming the task, its spawn location and
/// what it did.
#[test]
#[cfg(feature = "observe")] // the detector is `observe`'s
fn the_slow_poll_detector_names_the_task_and_where_it_was_spawned() {
    let stderr = stderr_of_child("on");
    assert!(stderr.contains("task#1 \"sleepy\""), "{stderr}");
    assert!(stderr.contains("held the event loop"), "{stderr}");
    assert!(stderr.contains("two_worlds.rs"), "{stderr}");
    assert!(stderr.contains("spawn_blocking"), "{stderr}");
}

/// A blocking call in the future given to `run_until_complete` is reported too, as the main
/// future: beginners block there first. (It used to be missed: only tasks were timed.)
/// Guards: the slow-poll detector sees every poll the loop makes.
#[test]
#[cfg(feature = "observe")] // the detector is `observe`'s
fn the_slow_poll_detector_reports_the_main_future() {
    let stderr = stderr_of_child("main");
    assert!(stderr.contains("the main future"), "{stderr}");
    assert!(stderr.contains("held the event loop"), "{stderr}");
}

/// With the detector off, the same slow poll prints nothing.
#[test]
fn the_slow_poll_detector_is_silent_when_off() {
    let stderr = stderr_of_child("off");
    assert!(!stderr.contains("held the event loop"), "{stderr}");
}

// ---- spawn_eager ----

/// A future that is ready at once finishes inside `spawn_eager`, in exactly one poll, and
/// never goes through the run queue (the trace shows no second poll and no wake).
#[test]
fn spawn_eager_of_a_ready_future_finishes_before_it_returns() {
    let polls = Count::default();
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    let output = event_loop.run_until_complete({
        let polls = polls.clone();
        async move {
            let handle = spawn_eager(PollCounter::new(&polls, async { "hit" }));
            assert!(
                handle.is_finished(),
                "finished before `spawn_eager` returned"
            );
            assert_eq!(polls.get(), 1);
            handle.await
        }
    });
    assert_eq!(output.expect("the task does not panic"), "hit");
    assert_eq!(polls.get(), 1);
    // The trace is `observe`'s; without it the poll count above still holds.
    if cfg!(feature = "observe") {
        assert_eq!(
            log.describe(),
            [
                "spawn task#1",
                "poll task#1 -> ready", // the eager poll, on the caller's stack
                "finished task#1",
            ]
        );
    }
}

/// A future that must wait is polled once by `spawn_eager`, then again only when woken.
#[test]
fn spawn_eager_of_a_pending_future_is_polled_now_and_again_when_woken() {
    let polls = Count::default();
    let output = run({
        let polls = polls.clone();
        async move {
            let future = async {
                sleep(Duration::from_millis(5)).await;
                "miss"
            };
            let handle = spawn_eager(PollCounter::new(&polls, future));
            assert!(!handle.is_finished());
            assert_eq!(polls.get(), 1, "polled once, before `spawn_eager` returned");
            handle.await
        }
    });
    assert_eq!(output.expect("the task does not panic"), "miss");
    assert_eq!(polls.get(), 2, "one eager poll, one after the timer fired");
}

/// `EventLoop::spawn_eager` works before the loop runs: the first poll happens at once.
#[test]
fn spawn_eager_on_a_loop_that_is_not_running_polls_at_once() {
    let polls = Count::default();
    let event_loop = EventLoop::new();
    let handle = event_loop.spawn_eager(PollCounter::new(&polls, async { 3 }));
    assert_eq!(polls.get(), 1);
    assert!(handle.is_finished());
    let output = event_loop.run_until_complete(handle);
    assert_eq!(output.expect("the task does not panic"), 3);
}

/// Link `remaining` of a chain of eager spawns: spawns the next link with `spawn_eager`, awaits
/// it, and returns how many links follow it.
fn eager_link(remaining: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        if remaining == 0 {
            return 0;
        }
        let next = spawn_eager(eager_link(remaining - 1));
        next.await.expect("no link panics") + 1
    })
}

/// Guarantee: `spawn_eager` uses a bounded amount of the caller's stack, however deep eager
/// spawns nest (issue 13, bug 3). Each eager spawn polls the new task inside the spawner's
/// poll, so a chain of them used to nest one poll per link and overflowed the test thread's
/// 2 MiB stack at about 800 links in a debug build; past the documented depth a nested eager
/// spawn is now a plain spawn. Runs on the test thread itself, with its default stack.
#[test]
fn a_chain_of_twenty_thousand_eager_spawns_does_not_overflow_the_stack() {
    let links = run(eager_link(20_000));
    assert_eq!(links, 20_000);
}

/// Guarantee: the depth bound is the one `spawn_eager`'s documentation states: 16 eager
/// polls may nest, and the 17th nested eager spawn is queued for the loop's next turn
/// instead of polled inline. Link 17 then runs from the loop, not inside an eager poll, and
/// its descendants nest 16 deep again: link 34 is the next one queued. Each link notes, when
/// `spawn_eager` returns, whether its child had been polled already.
#[test]
fn the_seventeenth_nested_eager_spawn_is_queued_not_polled_inline() {
    const LINKS: usize = 40;
    /// `started[k]`: link k has been polled; `inline[k]`: it had been when its spawn returned.
    struct Marks {
        started: Vec<AtomicBool>,
        inline: Vec<AtomicBool>,
    }
    fn link(k: usize, marks: Arc<Marks>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            marks.started[k].store(true, Ordering::SeqCst);
            if k == LINKS {
                return;
            }
            let child = spawn_eager(link(k + 1, Arc::clone(&marks)));
            let was_polled = marks.started[k + 1].load(Ordering::SeqCst);
            marks.inline[k + 1].store(was_polled, Ordering::SeqCst);
            child.await.expect("no link panics");
        })
    }
    let marks = Arc::new(Marks {
        started: (0..=LINKS).map(|_| AtomicBool::new(false)).collect(),
        inline: (0..=LINKS).map(|_| AtomicBool::new(false)).collect(),
    });
    run({
        let marks = Arc::clone(&marks);
        async move {
            // Link 1 is spawned eagerly from the `run` future, which is not itself an eager poll.
            let first = spawn_eager(link(1, Arc::clone(&marks)));
            marks.inline[1].store(marks.started[1].load(Ordering::SeqCst), Ordering::SeqCst);
            first.await.expect("no link panics");
        }
    });
    let queued: Vec<usize> = (1..=LINKS)
        .filter(|&k| !marks.inline[k].load(Ordering::SeqCst))
        .collect();
    assert_eq!(queued, [17, 34], "links not polled inside their spawn");
}

// ---- run_now and is_suspend_allowed ----

/// A future that needs no waiting gives `Ok` with its output.
#[test]
fn run_now_gives_ok_for_a_ready_future() {
    assert_eq!(run_now(async { 7 }), Ok(7));
    assert_eq!(run_now(std::future::ready("ready")), Ok("ready"));
}

/// A sleep inside a section is an error that names the timer; no loop is needed to say so.
#[test]
fn run_now_refuses_a_sleep_and_names_the_timer() {
    let error = run_now(sleep(Duration::from_secs(10))).unwrap_err();
    let reason = error.reason().expect("miniloop's timers give a reason");
    assert!(reason.starts_with("a timer"), "{reason}");
    assert!(error.to_string().contains("a timer"), "{error}");
    assert!(error.to_string().contains("`run_now`"), "{error}");
}

/// Waiting for an unfinished task is refused, naming the task.
#[test]
fn run_now_refuses_a_pending_join_handle_and_names_the_task() {
    run(async {
        let mut handle = spawn(sleep(Duration::from_millis(5)));
        let error = run_now(&mut handle).unwrap_err();
        let expected = format!("{} to finish", handle.id());
        assert_eq!(error.reason(), Some(expected.as_str()));
        // The section left no trace: awaiting the handle afterwards works as usual.
        handle.await.expect("the sleeping task does not panic");
    });
}

/// `yield_now` is a suspension like any other.
#[test]
fn run_now_refuses_yield_now() {
    run(async {
        let error = run_now(yield_now()).unwrap_err();
        assert_eq!(error.reason(), Some("`yield_now`"));
    });
}

/// A future from outside miniloop gives no reason; the message says so in general words.
#[test]
fn run_now_refuses_a_foreign_pending_future_with_the_generic_text() {
    let error = run_now(pending::<()>()).unwrap_err();
    assert_eq!(error.reason(), None);
    assert!(
        error
            .to_string()
            .contains("a future outside miniloop returned `Pending`"),
        "{error}"
    );
}

/// The innermost reason wins: the leaf that actually returned `Pending`.
#[test]
fn run_now_reports_the_first_leaf_that_would_wait() {
    let error =
        run_now(async { miniloop::time::timeout(Duration::from_secs(1), pending::<()>()).await })
            .unwrap_err();
    // `timeout` polls the foreign future first (no reason), then its own timer.
    let reason = error.reason().expect("the timer gives a reason");
    assert!(reason.starts_with("a timer"), "{reason}");
}

/// Records whether suspending was allowed at the moment it was dropped.
struct RecordsSectionOnDrop(Arc<Mutex<Option<bool>>>);

impl Drop for RecordsSectionOnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(is_suspend_allowed());
    }
}

/// A future that would suspend is dropped before `run_now` returns, inside the section.
#[test]
fn run_now_drops_the_future_before_it_returns() {
    let drops = Count::default();
    let allowed_at_drop = Arc::new(Mutex::new(None));
    let future = {
        let counter = DropCounter::new(&drops);
        let recorder = RecordsSectionOnDrop(Arc::clone(&allowed_at_drop));
        async move {
            let _held = (counter, recorder);
            sleep(Duration::from_secs(10)).await;
        }
    };
    let outcome = run_now(future);
    assert!(matches!(outcome, Err(WouldSuspend { .. })));
    assert_eq!(drops.get(), 1);
    assert_eq!(*allowed_at_drop.lock().unwrap(), Some(false));
}

/// Outside any section, suspending is allowed: in plain code and in a task alike.
#[test]
fn is_suspend_allowed_is_true_outside_a_section() {
    assert!(is_suspend_allowed());
    let in_a_task = run(async { spawn(async { is_suspend_allowed() }).await });
    assert!(in_a_task.expect("the task does not panic"));
}

/// Inside `run_now`, and inside a section nested in another, it is false; after, true again.
#[test]
fn is_suspend_allowed_is_false_inside_run_now() {
    assert_eq!(run_now(async { is_suspend_allowed() }), Ok(false));
    let nested = run_now(async { run_now(async { is_suspend_allowed() }) });
    assert_eq!(nested, Ok(Ok(false)));
    assert!(is_suspend_allowed());
}

/// A loop started inside a section may wait: its tasks are not the section's code. When the
/// loop returns, the section forbids waiting again.
#[test]
fn is_suspend_allowed_is_true_in_a_loop_started_inside_run_now() {
    let outcome = run_now(async {
        let inside_the_loop = run(async {
            sleep(Duration::from_millis(1)).await;
            is_suspend_allowed()
        });
        (inside_the_loop, is_suspend_allowed())
    });
    assert_eq!(outcome, Ok((true, false)));
}

/// An eager task started from a section may wait too: its first poll runs with waiting
/// allowed, and it finishes later on the loop.
#[test]
fn is_suspend_allowed_is_true_in_an_eager_task_started_from_a_section() {
    run(async {
        // The section returns the handle itself, not its output: the task must outlive it.
        #[allow(clippy::async_yields_async)]
        let started = run_now(async {
            spawn_eager(async {
                let during_the_first_poll = is_suspend_allowed();
                sleep(Duration::from_millis(1)).await;
                during_the_first_poll
            })
        });
        let handle = started.expect("starting a task does not wait");
        assert!(!handle.is_finished(), "the task waits for its timer");
        assert!(handle.await.expect("the task does not panic"));
    });
}

/// A future that counts its polls and is ready at its second: for `run_now` on a future that
/// is not from miniloop and wakes itself.
struct ReadyOnSecondPoll {
    polls: usize,
}

impl Future for ReadyOnSecondPoll {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls == 2 {
            return Poll::Ready(self.polls);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// `run_now` polls exactly once: even a future that would be ready at its next poll is refused.
#[test]
fn run_now_polls_exactly_once() {
    let outcome = run_now(ReadyOnSecondPoll { polls: 0 });
    assert!(outcome.is_err());
}

// ---- known bugs (see each `ignore` reason) ----

/// Peeking at a handle with `run_now` must not cost the task the wake it registered earlier:
/// the handle should keep the real waker, as `Sleep` keeps its timer entry untouched.
#[test]
fn run_now_on_a_handle_keeps_the_waker_registered_before() {
    let finished = within(Duration::from_secs(2), || {
        run(async {
            let mut handle = spawn(sleep(Duration::from_millis(5)));
            let mut has_registered = false;
            std::future::poll_fn(|cx| {
                if has_registered {
                    return Poll::Ready(());
                }
                has_registered = true;
                // Wait for the handle (stores our waker), then peek at it in a section.
                assert!(Pin::new(&mut handle).poll(cx).is_pending());
                assert!(run_now(&mut handle).is_err());
                Poll::Pending
            })
            .await;
            handle.is_finished()
        })
    });
    assert!(finished);
}

/// Every task in the trace has its `spawn` line, also when a task spawns eagerly from inside
/// its own poll.
#[test]
#[cfg(feature = "observe")] // the trace is `observe`'s
fn the_trace_keeps_every_spawn_when_a_task_spawns_eagerly() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    event_loop.run_until_complete(async {
        spawn(async {
            let before = spawn(async {});
            let eager = spawn_eager(async { yield_now().await });
            before.await.expect("no panic");
            eager.await.expect("no panic");
        })
        .await
        .expect("no panic");
    });
    let events = log.describe();
    for task in ["task#1", "task#2", "task#3"] {
        let spawn_line = format!("spawn {task}");
        assert!(
            events.contains(&spawn_line),
            "no `{spawn_line}` in {events:#?}"
        );
    }
}

/// The module docs of `sync_first.rs` promise that sockets, like timers, say what they were
/// waiting for.
#[test]
fn run_now_refuses_a_socket_read_and_names_the_socket() {
    within(WATCHDOG, || {
        run(async {
            let listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a local port is free");
            let address = listener
                .local_addr()
                .expect("a bound listener has an address");
            let mut client = miniloop::net::TcpStream::connect(&address.to_string())
                .await
                .expect("the listener accepts");
            let (_server, _) = listener.accept().await.expect("the client connected");
            let mut buffer = [0u8; 16];
            // Nothing was written: the read would wait.
            let error = run_now(client.read(&mut buffer)).unwrap_err();
            assert!(error.reason().is_some(), "{error}");
        })
    });
}
