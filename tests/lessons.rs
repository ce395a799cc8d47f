//! Every numbered lesson, run as the reader runs it, with its output compared to what the
//! Python walkthrough prints (the expected lines are written out in each test below).
//!
//! `cargo test` builds the examples before it runs any test; this file finds them next to its
//! own binary (`target/<profile>/examples/`). Long lessons read `MINILOOP_TIME_SCALE`, which
//! shrinks every delay without changing the order of the lines they print.

mod common;
use common::{example_path, COUNTDOWN};

use std::process::Command;

/// Runs a lesson with the given time scale and returns its stdout, failing on a bad exit.
fn run_lesson(name: &str, time_scale: Option<&str>) -> String {
    let mut command = Command::new(example_path(name));
    if let Some(scale) = time_scale {
        command.env("MINILOOP_TIME_SCALE", scale);
    }
    let output = command.output().expect("the lesson should start");
    assert!(
        output.status.success(),
        "lesson {name} exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("lessons print UTF-8")
}

/// The lines of `output`, for exact comparison with the walkthrough.
fn lines(output: &str) -> Vec<&str> {
    output.lines().collect()
}

/// The number after `prefix` on the line that starts with it, e.g. `CPU time: 0.012 seconds`
/// (or `Task 1 was polled 70 times`).
fn seconds_after(output: &str, prefix: &str) -> f64 {
    let line = output
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"));
    let number = line[prefix.len()..]
        .split_whitespace()
        .next()
        .expect("a number should follow the prefix");
    number
        .parse()
        .unwrap_or_else(|_| panic!("{number:?} in {line:?} should be a number of seconds"))
}

#[test]
fn lesson_03_prints_the_result_after_the_waits() {
    let output = run_lesson("03_waiting_list", None);
    assert_eq!(
        lines(&output),
        ["The result is \"Hello World from Request One!!!\""]
    );
}

#[test]
fn lesson_04_finishes_the_first_request_first() {
    let output = run_lesson("04_one_at_a_time", None);
    assert_eq!(lines(&output), ["Request One!!!", "Request Two!!!"]);
}

#[test]
fn lesson_05_lets_the_shorter_request_finish_first() {
    let output = run_lesson("05_interleaving", None);
    assert_eq!(lines(&output), ["Request Two!!!", "Request One!!!"]);
}

#[test]
fn lesson_06_pauses_and_resumes() {
    let output = run_lesson("06_resumable_function", None);
    assert_eq!(
        lines(&output),
        [
            "Starting",
            "Hello",
            "Paused",
            "World",
            "Finished with Result"
        ]
    );
}

#[test]
fn lesson_07_surfaces_the_inner_yield_in_the_outer_machine() {
    let output = run_lesson("07_delegation", None);
    assert_eq!(
        lines(&output),
        [
            "Main got \"Yielded From B\"",
            "A got \"Return From B\"",
            "Main got \"Return From A\"",
        ]
    );
}

#[test]
fn lesson_08_drives_the_machine_with_a_for_loop() {
    let output = run_lesson("08_machines_are_iterators", None);
    let expected: Vec<String> = (0..5)
        .flat_map(|i| [format!("Yielding {i}"), format!("main got {i}")])
        .collect();
    assert_eq!(lines(&output), expected);
}

#[test]
fn lesson_09_interleaves_two_machines() {
    let output = run_lesson("09_interleaved_machines", None);
    assert_eq!(lines(&output), ["Request Two!!!", "Request One!!!"]);
}

#[test]
fn lesson_10_counts_fifteen_waits_through_delegation() {
    let output = run_lesson("10_counting_waits", None);
    assert_eq!(lines(&output), ["Hello World", "Waited 15 times"]);
}

#[test]
fn lesson_11_async_fn_waits_the_same_fifteen_cycles() {
    let output = run_lesson("11_async_fn_is_a_state_machine", None);
    assert_eq!(lines(&output), ["Hello World", "Waited for 15 cycles"]);
}

/// Checks the countdown lines and returns (run time, CPU time) from the two timing lines,
/// and the whole output.
fn countdown_times(name: &str, scale: &str) -> (f64, f64, String) {
    let output = run_lesson(name, Some(scale));
    let all = lines(&output);
    assert!(all.len() >= 14, "{name} printed too few lines:\n{output}");
    assert_eq!(all[..14], COUNTDOWN, "{name} drifted from the walkthrough");
    let wall = seconds_after(&output, "Run time: ");
    let cpu = seconds_after(&output, "CPU time: ");
    (wall, cpu, output)
}

/// The busy loop of lesson 12 burns CPU the whole time it waits: that is its flaw.
#[test]
fn lesson_12_busy_loop_burns_cpu_while_it_waits() {
    let (wall, cpu, output) = countdown_times("12_busy_event_loop", "0.05");
    assert!(
        wall > 0.2,
        "10 s scaled by 0.05 should take about 0.5 s, took {wall}"
    );
    // Alone on a core it burns ~100% of its run. Other tests run beside it on CI's two
    // cores and may take up to half of its core, so the bound is generous.
    assert!(
        cpu > 0.3 * wall,
        "a busy loop should burn CPU for most of its run: {cpu} s CPU in {wall} s"
    );
    // It prints how often it polled each task: far more often than anything happened.
    // Millions a second alone on a core; a loaded 2-core CI machine still manages tens of
    // thousands in the half second of this run. The program has 13 sleeps.
    for task in [1, 2] {
        let polls = seconds_after(&output, &format!("Task {task} was polled "));
        assert!(
            polls > 10_000.0,
            "task {task} was polled only {polls} times:\n{output}"
        );
    }
}

/// Lesson 13 runs the same program on miniloop: the loop sleeps instead of spinning.
#[test]
fn lesson_13_real_loop_sleeps_instead_of_spinning() {
    let (wall, cpu, _) = countdown_times("13_real_event_loop", "0.05");
    assert!(
        wall > 0.2,
        "10 s scaled by 0.05 should take about 0.5 s, took {wall}"
    );
    assert!(
        cpu < 0.2 * wall,
        "a waker-driven loop should idle between timers: {cpu} s CPU in {wall} s"
    );
}

/// The tokio twin of lesson 13 prints the same lines.
#[test]
fn lesson_13_on_tokio_prints_the_same_countdown() {
    let (wall, cpu, _) = countdown_times("13_real_event_loop_tokio", "0.05");
    assert!(
        wall > 0.2,
        "10 s scaled by 0.05 should take about 0.5 s, took {wall}"
    );
    assert!(cpu < 0.2 * wall, "tokio idles too: {cpu} s CPU in {wall} s");
}
