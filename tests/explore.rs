//! Seeded schedules, the explorer and `#[miniloop::test]` (`src/event_loop/seeded.rs`,
//! `src/explore.rs`, `macros/`).
//!
//! Guarantees checked here:
//! - Without a seed the order is first in, first out, exactly as before.
//! - One seed is one order: the same trace twice; different seeds give different orders.
//! - The explorer finds an order bug the default order hides, and its seed (in the
//!   attribute, in `Explorer::seed`, in `MINILOOP_SEED`) replays the same failure.
//! - The watchdog fails a run that would hang, naming the pending tasks; a poll that blocks
//!   the thread ends the process with a message instead of a silent hang.
//!
//! The tests that must fail (the bug under `schedules`, the watchdog's) are `#[ignore]`d and
//! run as child processes of this binary, whose output the parent reads.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miniloop::explore::{schedule_seed, Explorer};
use miniloop::trace::TraceLog;
use miniloop::{task, yield_now, EventLoop};

/// Three named tasks, each yielding `steps` times and noting each step in a shared log.
async fn three_steppers(steps: u32) -> Vec<String> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = Arc::clone(&log);
            task::Builder::new().name(name).spawn(async move {
                for step in 0..steps {
                    log.lock().unwrap().push(format!("{name}{step}"));
                    yield_now().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(log).unwrap().into_inner().unwrap()
}

/// The trace of `three_steppers(3)` on a loop built by `builder`.
fn trace_of(builder: miniloop::event_loop::Builder) -> (Vec<String>, Vec<String>) {
    let trace = TraceLog::new();
    let event_loop = builder.trace_into(trace.clone()).build();
    let steps = event_loop.run_until_complete(three_steppers(3));
    drop(event_loop);
    (trace.describe(), steps)
}

/// Guarantee: without a seed, each turn polls the ready tasks in the order they were woken.
/// Fails if a loop without a seed draws its order (`seeded: Cell::new(Some(..))` by default).
#[test]
fn the_default_order_is_first_in_first_out() {
    let (_, steps) = trace_of(EventLoop::builder());
    assert_eq!(
        steps,
        ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
    let plain = miniloop::run(three_steppers(3));
    assert_eq!(plain, steps, "`run` and a built loop agree");
}

/// Guarantee: one seed is one order. The same seed gives the same trace twice (every poll,
/// wake and end, in order); twenty seeds give several orders. Fails if the seeded turn ignores
/// its generator (every seed would give one order) or draws from anything but the seed.
#[test]
fn the_same_seed_gives_the_same_trace_twice_and_seeds_differ() {
    for index in 0..20 {
        let seed = schedule_seed(index);
        let first = trace_of(EventLoop::builder().seed(seed));
        let second = trace_of(EventLoop::builder().seed(seed));
        assert_eq!(first, second, "seed {seed:#x} gave two different traces");
        let mut sorted = first.1.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            ["a0", "a1", "a2", "b0", "b1", "b2", "c0", "c1", "c2"]
        );
    }
    let orders: std::collections::HashSet<Vec<String>> = (0..20)
        .map(|index| trace_of(EventLoop::builder().seed(schedule_seed(index))).1)
        .collect();
    assert!(orders.len() >= 10, "20 seeds gave {} orders", orders.len());
}

/// Guarantee: a task's step can fall between two steps of another that started earlier,
/// which a shuffle of each turn alone cannot do (each task takes one step per turn there).
/// Fails without the hold-back in `run_ready_tasks_seeded`.
#[test]
fn a_seed_can_hold_a_task_back_past_another_tasks_next_step() {
    let is_overtaken = |steps: &[String]| {
        let at = |step: &str| steps.iter().position(|s| s == step).unwrap();
        at("b2") < at("a1") || at("c2") < at("a1")
    };
    let overtaken = (0..200)
        .map(|index| trace_of(EventLoop::builder().seed(schedule_seed(index))).1)
        .filter(|steps| is_overtaken(steps))
        .count();
    assert!(
        overtaken > 0,
        "no seed of 200 let b or c take two steps before a's second"
    );
}

/// A seeded loop still runs timers, joins and selects: the same answer in every order.
#[miniloop::test(schedules = 50, timeout = "10s")]
async fn a_seeded_loop_keeps_timers_and_joins_working() {
    let tasks: Vec<_> = (1..=4u64)
        .map(|n| {
            miniloop::spawn(async move {
                miniloop::sleep(Duration::from_millis(n)).await;
                n * 10
            })
        })
        .collect();
    let total: u64 = miniloop::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .sum();
    assert_eq!(total, 100);
}

/// Guarantee: `start_paused` reaches the loop. An hour of virtual sleep ends at once; were
/// the option dropped, the real hour would trip the watchdog at 5 s and fail the test.
#[miniloop::test(start_paused = true, timeout = "5s")]
async fn start_paused_gives_the_test_a_virtual_clock() {
    let start = miniloop::time::now();
    miniloop::sleep(Duration::from_secs(3600)).await;
    assert_eq!(miniloop::time::now() - start, Duration::from_secs(3600));
}

/// Seeded orders and a paused clock together: timers of different tasks still fire in
/// deadline order, whatever order the tasks run in.
#[miniloop::test(start_paused = true, schedules = 50, timeout = "10s")]
async fn seeded_orders_keep_virtual_deadlines_in_order() {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|minutes| {
            let fired = Arc::clone(&fired);
            miniloop::spawn(async move {
                miniloop::sleep(Duration::from_secs(60 * minutes)).await;
                fired.lock().unwrap().push(minutes);
            })
        })
        .collect();
    miniloop::join_all(tasks).await;
    assert_eq!(*fired.lock().unwrap(), [10, 20, 30]);
}

/// The order bug of the explorer's docs: the second increment starts two round trips late,
/// so only an order that holds the first task back loses it.
async fn two_late_increments() -> Result<(), String> {
    async fn bump(count: Arc<AtomicU32>) {
        let seen = count.load(Ordering::Relaxed);
        yield_now().await;
        count.store(seen + 1, Ordering::Relaxed);
    }
    let count = Arc::new(AtomicU32::new(0));
    let first = miniloop::spawn(bump(Arc::clone(&count)));
    let late = Arc::clone(&count);
    let second = miniloop::spawn(async move {
        yield_now().await;
        yield_now().await;
        bump(late).await;
    });
    first.await.unwrap();
    second.await.unwrap();
    match count.load(Ordering::Relaxed) {
        2 => Ok(()),
        lost => Err(format!("two increments made {lost}")),
    }
}

/// Guarantee: the default order passes, the explorer finds the bug and stops there, and the
/// seed it gives fails the same way on every replay. Fails if the explorer ignored its seeds
/// (never found), or if a replay drew a different order (a different or no failure).
#[test]
fn the_explorer_finds_an_order_bug_and_its_seed_replays_it() {
    for _ in 0..100 {
        assert_eq!(
            Explorer::new().run(two_late_increments).unwrap().schedules,
            1
        );
    }
    let failure = Explorer::new()
        .schedules(500)
        .run(two_late_increments)
        .unwrap_err();
    assert_eq!(failure.message, "returned Err(\"two increments made 1\")");
    assert_eq!(failure.of, 500);
    let seed = failure.seed.expect("a seeded schedule failed");
    assert_eq!(seed, schedule_seed(failure.schedule - 1));
    for _ in 0..3 {
        let replay = Explorer::new().seed(seed).run(two_late_increments);
        assert_eq!(replay.unwrap_err().message, failure.message);
    }
    // The schedules before it passed, and each passes again.
    for index in 0..failure.schedule - 1 {
        let seed = schedule_seed(index);
        assert!(Explorer::new().seed(seed).run(two_late_increments).is_ok());
    }
}

fn failure_is_wanted() -> bool {
    true
}

/// A panic in the body fails the schedule with its message, and the next run is unharmed.
#[test]
fn a_panic_fails_the_schedule_with_its_message() {
    let failure = Explorer::new()
        .schedules(3)
        .run(|| async {
            if failure_is_wanted() {
                panic!("the body gave up");
            }
        })
        .unwrap_err();
    assert_eq!(failure.schedule, 1);
    assert_eq!(failure.message, "panicked: the body gave up");
    assert!(
        miniloop::run(async { 1 + 1 }) == 2,
        "the thread has no loop left over"
    );
}

/// Guarantee: the watchdog fails a run that would never end, with the pending tasks named
/// and located. Without the watchdog this body would hang (the main future waits on a task
/// that waits on a channel whose sender main holds). Fails if the alarm never wakes main (the
/// watchdog would end the process instead) or if the report leaves a task out.
#[test]
fn the_watchdog_fails_a_run_that_would_hang_and_names_the_pending_tasks() {
    let failure = Explorer::new()
        .timeout(Duration::from_millis(200))
        .run(|| async {
            let (sender, receiver) = futures::channel::oneshot::channel::<()>();
            let waiter = task::Builder::new()
                .name("waits for a message")
                .spawn(async move { receiver.await.ok() });
            waiter.await.unwrap();
            drop(sender);
        })
        .unwrap_err();
    let lines: Vec<&str> = failure.message.lines().collect();
    assert_eq!(
        lines[0],
        "timed out: not finished after 200ms (the watchdog's `timeout`); 1 task(s) still pending"
    );
    assert!(
        lines[1].starts_with("  task#1 \"waits for a message\" (spawned at tests/explore.rs:"),
        "{}",
        failure.message
    );
}

#[test]
fn a_result_body_passes_on_ok() {
    let explored = Explorer::new()
        .schedules(5)
        .run(|| async { Ok::<u32, String>(7) })
        .unwrap();
    assert_eq!(explored.schedules, 5);
    assert_eq!(
        explored.seeds,
        (0..5).map(schedule_seed).collect::<Vec<_>>()
    );
}

// `#[miniloop::test]` itself.

#[miniloop::test]
async fn the_attribute_runs_an_async_test() {
    let answer = miniloop::spawn(async { 21 * 2 }).await.unwrap();
    assert_eq!(answer, 42);
}

#[miniloop::test(timeout = "5s")]
async fn the_attribute_accepts_a_result() -> Result<(), String> {
    yield_now().await;
    Ok(())
}

/// An `Err` fails the test, with the error in the message.
#[miniloop::test]
#[should_panic(expected = "failed in the default order: returned Err(\"no\")")]
async fn the_attribute_fails_on_err() -> Result<(), &'static str> {
    Err("no")
}

/// Run by `the_attribute_prints_the_seed_and_the_line_that_replays_it`, in a child process.
#[miniloop::test(schedules = 500)]
#[ignore = "fails on purpose; run by the test below"]
async fn order_bug_under_the_attribute() -> Result<(), String> {
    two_late_increments().await
}

/// Run by `a_poll_that_blocks_the_thread_ends_the_process_with_a_message`.
#[miniloop::test(timeout = "100ms")]
#[ignore = "ends its process on purpose; run by the test below"]
async fn a_poll_that_blocks_the_thread() {
    miniloop::spawn(async { std::thread::sleep(Duration::from_secs(5)) })
        .await
        .unwrap();
}

/// This test binary, running one of its own tests, with `seed` in `MINILOOP_SEED`.
fn run_this_binary(test: &str, seed: Option<&str>) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]);
    command.env_remove("MINILOOP_SEED");
    if let Some(seed) = seed {
        command.env("MINILOOP_SEED", seed);
    }
    let output = command.output().expect("the test binary runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

/// The line of `text` that contains `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// Guarantee: a failing `schedules` test prints its seed and the attribute and command that
/// replay it, and `MINILOOP_SEED` replays it: the same message, run after run. A seed that
/// is not one is refused with a message.
#[test]
#[cfg_attr(miri, ignore = "runs this test binary as a child process")]
fn the_attribute_prints_the_seed_and_the_line_that_replays_it() {
    let (code, output) = run_this_binary("order_bug_under_the_attribute", None);
    assert_eq!(code, Some(101), "the test fails:\n{output}");
    let failed = line_with(&output, "failed after");
    assert!(
        failed.contains("returned Err(\"two increments made 1\")"),
        "{failed}"
    );
    let seed = failed
        .split("(seed ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the seed in parentheses");
    let hint = line_with(&output, "replay it:");
    assert_eq!(
        hint,
        format!(
            "replay it: #[miniloop::test(seed = {seed})], or MINILOOP_SEED={seed} cargo test \
             order_bug_under_the_attribute -- --exact"
        )
    );
    for _ in 0..2 {
        let (code, replay) = run_this_binary("order_bug_under_the_attribute", Some(seed));
        assert_eq!(code, Some(101), "the replay fails too:\n{replay}");
        let replayed = line_with(&replay, "failed after");
        assert!(replayed.starts_with("schedule 1 of 1 (seed "), "{replayed}");
        assert!(replayed.contains(&format!("(seed {seed})")), "{replayed}");
        assert!(replayed.contains("returned Err(\"two increments made 1\")"));
    }
    let (code, refused) = run_this_binary("order_bug_under_the_attribute", Some("lucky"));
    assert_eq!(code, Some(101));
    line_with(
        &refused,
        "MINILOOP_SEED: \"lucky\" is not a seed: write it as the explorer printed it",
    );
}

/// Guarantee: a poll that never returns cannot hang CI: the watchdog, unanswered, ends the
/// process (exit 101, a test failure) with a message that says why and how to find the task.
#[test]
#[cfg_attr(miri, ignore = "runs this test binary as a child process")]
fn a_poll_that_blocks_the_thread_ends_the_process_with_a_message() {
    let (code, output) = run_this_binary("a_poll_that_blocks_the_thread", None);
    assert_eq!(code, Some(101), "{output}");
    let line = line_with(&output, "did not answer the watchdog");
    assert!(
        line.contains("a poll is blocking the loop's thread"),
        "{line}"
    );
    assert!(line.contains("MINILOOP_SLOW_POLL_MS"), "{line}");
}
