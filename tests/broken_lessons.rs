//! Lessons 20–25 and 29, the classic executor bugs "broken on purpose": each broken variant
//! must fail exactly the way its chapter says, and each fixed variant must succeed.
//!
//! `cargo test` builds the examples before it runs any test; this file finds them next to its
//! own binary (`target/<profile>/examples/`), as `tests/lessons.rs` does.

mod common;
use common::example_path;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a lesson may run before the test kills it: a broken variant must end by itself
/// (lesson 29's would hang for ever if the loop did not report that it is stuck).
const LESSON_LIMIT: Duration = Duration::from_secs(30);

/// Runs a lesson with one argument (`broken`, `fixed`, or none) and returns its stdout lines
/// and how long it took; fails on a bad exit, and kills it (and fails) after `LESSON_LIMIT`.
fn run_lesson(name: &str, variant: Option<&str>) -> (Vec<String>, Duration) {
    let mut child = Command::new(example_path(name))
        .args(variant)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lesson should start");
    let started = Instant::now();
    while child.try_wait().expect("the lesson's status").is_none() {
        if started.elapsed() > LESSON_LIMIT {
            let _ = child.kill();
            panic!("lesson {name} {variant:?} did not end within {LESSON_LIMIT:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    let output = child.wait_with_output().expect("the lesson's output");
    assert!(
        output.status.success(),
        "lesson {name} {variant:?} exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "lesson {name} {variant:?} wrote to stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("lessons print UTF-8");
    (stdout.lines().map(str::to_owned).collect(), took)
}

/// Whether `line` is `expected`, where a `…` in `expected` stands for any text (a source
/// location that moves when the lesson is edited).
fn line_matches(expected: &str, line: &str) -> bool {
    match expected.split_once('…') {
        Some((before, after)) => {
            line.len() >= before.len() + after.len()
                && line.starts_with(before)
                && line.ends_with(after)
        }
        None => line == expected,
    }
}

/// Asserts that `lines` are `expected`, line by line (see `line_matches`).
fn assert_lines(lines: &[String], expected: &[&str], what: &str) {
    let is_match = lines.len() == expected.len()
        && lines
            .iter()
            .zip(expected)
            .all(|(line, expected)| line_matches(expected, line));
    assert!(
        is_match,
        "{what}:\n got {lines:#?}\n expected {expected:#?}"
    );
}

/// Checks both variants alone and together (no argument: broken, then fixed).
fn check_lesson(name: &str, broken: &[&str], fixed: &[&str]) {
    let (broken_lines, broken_took) = run_lesson(name, Some("broken"));
    assert_lines(
        &broken_lines,
        broken,
        &format!("the broken variant of {name}"),
    );
    let (fixed_lines, _) = run_lesson(name, Some("fixed"));
    assert_lines(&fixed_lines, fixed, &format!("the fixed variant of {name}"));
    let (both, _) = run_lesson(name, None);
    let expected: Vec<&str> = broken.iter().chain(fixed).copied().collect();
    assert_lines(
        &both,
        &expected,
        &format!("{name} with no argument runs broken, then fixed"),
    );
    assert!(
        broken_took < Duration::from_secs(10),
        "the broken variant of {name} must end by itself quickly (a watchdog, never a hang); \
         it took {broken_took:?}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_20_the_wake_between_check_and_park_is_lost_then_kept_as_a_token() {
    check_lesson(
        "20_lost_wakeup",
        &[
            "broken: task#1 polled: no message yet, so it returns Pending",
            "broken: the loop checked its queue: empty, so it will sleep",
            "broken: meanwhile another thread sent the message and rang; nobody was listening, \
             so the ring is lost",
            "broken: the loop sleeps",
            "broken: stuck: nothing woke the loop for 300ms, though 1 task sits in its queue; \
             the wake was lost",
        ],
        &[
            "fixed: task#1 polled: no message yet, so it returns Pending",
            "fixed: the loop checked its queue: empty, so it will sleep",
            "fixed: meanwhile another thread sent the message and unparked the loop; the \
             unpark is kept as a token",
            "fixed: the loop sleeps",
            "fixed: the sleep ended at once: the token was waiting",
            "fixed: task#1 polled: got \"hello from another thread\"",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_21_a_leaf_keeping_its_first_waker_strands_the_task_it_moved_to() {
    check_lesson(
        "21_stale_waker",
        &[
            "broken: task#1 polled the parcel: not here yet (the parcel keeps task#1's waker)",
            "broken: task#1 handed the parcel to task#2 and finished",
            "broken: task#2 awaits the parcel",
            "broken: another thread delivered the parcel and woke the waker the parcel kept",
            "broken: the wake reached task#1, which has finished: it goes nowhere",
            "broken: stuck: task#2 waited 300ms for a wake that went to a finished task",
        ],
        &[
            "fixed: task#1 polled the parcel: not here yet (the parcel keeps task#1's waker)",
            "fixed: task#1 handed the parcel to task#2 and finished",
            "fixed: task#2 awaits the parcel",
            "fixed: another thread delivered the parcel and woke the waker the parcel kept",
            "fixed: task#2 got the parcel: \"a book\"",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_22_a_late_wake_polls_a_finished_task_then_is_ignored() {
    check_lesson(
        "22_poll_after_ready",
        &[
            "broken: task#1 returned Ready",
            "broken: the subscriber list still holds task#1's waker and wakes it late",
            "broken: polling task#1 again panicked: `async fn` resumed after completion",
            "broken: the executor is idle",
        ],
        &[
            "fixed: task#1 returned Ready",
            "fixed: the subscriber list still holds task#1's waker and wakes it late",
            "fixed: the late wake found task#1 finished: ignored",
            "fixed: the executor is idle",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_23_a_thousand_wakes_queue_the_task_a_thousand_times_then_once() {
    check_lesson(
        "23_queue_grows_per_wake",
        &[
            "broken: 1000 wakes while the loop was busy: task#1 is in the run queue 1000 times",
            "broken: task#1 read all 1000 messages in one poll",
            "broken: the loop popped task#1 1000 times; 999 of those pops found it finished \
             already",
        ],
        &[
            "fixed: 1000 wakes while the loop was busy: task#1 is in the run queue once",
            "fixed: task#1 read all 1000 messages in one poll",
            "fixed: the loop popped task#1 once; 0 of those pops found it finished already",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_24_a_loop_that_waits_for_every_task_never_exits_then_cancels_the_rest() {
    check_lesson(
        "24_loop_never_exits",
        &[
            "broken: main: done after 3 turns",
            "broken: stuck: main finished 1000 turns ago, but the loop still runs task#2 \
             \"heartbeat\"",
            "broken: the watchdog stops the loop; without it, it would run forever",
            "broken: task#2 \"heartbeat\" was dropped: its cleanup ran",
            "broken: the loop returned",
        ],
        &[
            "fixed: main: done after 3 turns",
            "fixed: main is done: the loop cancels the 1 unfinished task",
            "fixed: task#2 \"heartbeat\" was dropped: its cleanup ran",
            "fixed: the loop returned",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_25_a_sleep_that_blocks_inside_poll_makes_the_tick_late_then_on_time() {
    check_lesson(
        "25_blocking_inside_poll",
        &[
            "broken: task#1 \"fetch\" starts a 200ms wait",
            "broken: task#1 \"fetch\" done waiting",
            "broken: task#2 \"tick\" ran (it was due at 20ms)",
            "broken: the tick came after the 200ms wait: that wait held the loop's only thread",
        ],
        &[
            "fixed: task#1 \"fetch\" starts a 200ms wait",
            "fixed: task#2 \"tick\" ran (it was due at 20ms)",
            "fixed: task#1 \"fetch\" done waiting",
            "fixed: the tick came on time, while the 200ms wait went on",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_29_a_future_that_keeps_no_waker_gets_the_loop_reported_stuck_then_woken() {
    check_lesson(
        "29_poll_contract_broken",
        &[
            "broken: main awaits task#1 \"sleeper\", which awaits a Sleep",
            "broken: Sleep::poll #1: not yet; returns Pending and keeps no waker",
            "broken: the loop had nothing to run and nothing that could ever wake it; instead \
             of waiting forever it panicked:",
            "broken: | miniloop: the event loop is stuck: every task is waiting and nothing can \
             ever wake one (no timer, no socket, no waker held outside the loop)",
            "broken: |  task#1 \"sleeper\" (spawned at examples/29_poll_contract_broken.rs:…): \
             nothing kept its waker",
            "broken: the Sleep was polled 1 time; nothing could ever poll it again",
        ],
        &[
            "fixed: main awaits task#1 \"sleeper\", which awaits a Sleep",
            "fixed: Sleep::poll #1: not yet; gives cx.waker() to a timer thread, returns Pending",
            "fixed: the timer thread calls the waker after 20ms",
            "fixed: Sleep::poll #2: done; returns Ready",
            "fixed: main got: \"the sleeper woke up\"",
            "fixed: the Sleep was polled 2 times: once to start, once after the wake",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn every_broken_lesson_refuses_an_unknown_argument_with_exit_code_2() {
    for name in [
        "20_lost_wakeup",
        "21_stale_waker",
        "22_poll_after_ready",
        "23_queue_grows_per_wake",
        "24_loop_never_exits",
        "25_blocking_inside_poll",
        "29_poll_contract_broken",
    ] {
        let output = Command::new(example_path(name))
            .arg("sideways")
            .output()
            .expect("the lesson should start");
        assert_eq!(output.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("expected `broken`, `fixed` or nothing"),
            "{name}: {stderr}"
        );
    }
}
