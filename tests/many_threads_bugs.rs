//! Lesson 39, the lost wake-up that only many threads have: the broken run must report its
//! task lost (never hang), the fixed run and miniloop's runtime must run every task, a task
//! must move between workers and still be woken by its first waker, and the chapter must
//! quote the run as it is.

mod common;
use common::example_path;
use common::lesson_output::{assert_lines, assert_quoted_in_chapter, numbers_after, run_lesson};

use std::process::Command;

const LESSON: &str = "39_the_last_worker_to_sleep";
const CHAPTER: &str = "docs/39-the-last-worker-to-sleep.md";

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_39_the_last_sleeper_loses_a_task_then_looks_again_and_runs_it() {
    let output = run_lesson(LESSON, None);
    assert_lines(
        &output,
        &[
            "broken: worker-1 found the queue empty and fell asleep",
            "broken: worker-0 looked at the queue: empty, so it will sleep",
            "broken: the pusher queued job#1 and saw 1 worker awake: it wakes nobody",
            "broken: worker-0 announces itself asleep (0 workers awake now)",
            "broken: worker-0 sleeps without looking again",
            "broken: lost: after 300ms, 1 task sits in the queue and 2 workers sleep; \
             nobody will run it",
            "fixed: worker-1 found the queue empty and fell asleep",
            "fixed: worker-0 looked at the queue: empty, so it will sleep",
            "fixed: the pusher queued job#1 and saw 1 worker awake: it wakes nobody",
            "fixed: worker-0 announces itself asleep (0 workers awake now)",
            "fixed: worker-0 was the last to fall asleep, so it looked again: a task waits",
            "fixed: worker-0 ran job#1",
            "fixed: job#1 ran: no task lost",
            "runtime: 200 tasks pushed from outside one at a time; the workers fell asleep * \
             times meanwhile; 200 tasks ran",
            "stale waker: task#1 filed its waker once, on its first poll, on miniloop-worker-*",
            "stale waker: its worker held, the first waker woke it: task#1 ran on \
             miniloop-worker-*",
            "stale waker: its worker held, the first waker woke it: task#1 ran on \
             miniloop-worker-*",
            "stale waker: task#1 moved between workers 2 times, one waker found it each time: \
             a waker names the task, not the thread",
        ],
    );
    // The pushes raced workers going to sleep: they did fall asleep in between.
    let runtime = numbers_after(&output, "runtime: ");
    assert!(
        runtime[1] >= 1.0,
        "the runtime's workers never fell asleep between pushes:\n{output}"
    );
    // Each move is to the other worker: the first, second and third polls name 2 workers.
    let ran_on: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("stale waker: ") && line.contains("miniloop-worker-"))
        .map(|line| &line[line.rfind(' ').unwrap() + 1..])
        .collect();
    assert_eq!(ran_on.len(), 3, "{output}");
    assert!(
        ran_on[0] != ran_on[1] && ran_on[1] != ran_on[2],
        "task#1 did not move between workers: {ran_on:?}"
    );
    assert_quoted_in_chapter(
        CHAPTER,
        &output,
        &[
            "runtime: ",
            "stale waker: task#1 filed",
            "stale waker: its worker",
        ],
    );
}

#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_39_runs_one_variant_alone_and_refuses_an_unknown_argument() {
    let broken = run_with(&["broken"]);
    assert!(broken.status.success());
    let broken = String::from_utf8(broken.stdout).unwrap();
    assert!(broken.lines().all(|line| line.starts_with("broken: ")));
    assert!(broken.contains("lost: after 300ms"), "{broken}");

    let fixed = run_with(&["fixed"]);
    assert!(fixed.status.success());
    let fixed = String::from_utf8(fixed.stdout).unwrap();
    assert!(fixed.lines().all(|line| line.starts_with("fixed: ")));
    assert!(fixed.contains("job#1 ran: no task lost"), "{fixed}");

    let wrong = run_with(&["sideways"]);
    assert_eq!(wrong.status.code(), Some(2));
    let message = String::from_utf8(wrong.stderr).unwrap();
    assert!(
        message.contains("expected `broken`, `fixed` or nothing"),
        "{message}"
    );
}

fn run_with(args: &[&str]) -> std::process::Output {
    Command::new(example_path(LESSON))
        .args(args)
        .output()
        .expect("the lesson should start")
}
