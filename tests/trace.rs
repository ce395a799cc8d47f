//! The event trace: for a small fixed program, the loop reports the events it went through,
//! in the order a reader expects (`docs/seeing-it-run.md`).
// Only with the `observe` feature (on by default): the trace and the timeline are its.
#![cfg(feature = "observe")]

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use miniloop::trace::TraceLog;
use miniloop::EventLoop;

/// The trace without timings, with repeated `idle` lines folded into one: the OS may end a
/// timed wait early (a spurious wake-up), and the loop then simply waits again.
fn events(log: &TraceLog) -> Vec<String> {
    let mut events = log.describe();
    events.dedup_by(|next, previous| next == "idle" && previous == "idle");
    events
}

/// A task that sleeps once: spawn, a poll that files a timer, one idle wait, the timer, and
/// the poll that finishes it, which wakes `main`.
#[test]
fn a_sleeping_task_leaves_the_expected_trail() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    let answer = event_loop.run_until_complete(async {
        let sleeper = miniloop::task::Builder::new().name("sleeper").spawn(async {
            miniloop::sleep(Duration::from_millis(10)).await;
            7
        });
        sleeper.await.expect("the sleeper does not panic")
    });
    assert_eq!(answer, 7);
    assert_eq!(
        events(&log),
        [
            "spawn task#1 \"sleeper\"",           // spawning only queues the task
            "poll task#1 \"sleeper\" -> pending", // first poll files the timer
            "idle",                               // nothing runnable: block until +10ms
            "timers fired: 1",                    // the deadline passed
            "wake task#1 \"sleeper\" from the loop's thread", // the timer wakes its task
            "poll task#1 \"sleeper\" -> ready",   // the sleep is over
            "finished task#1 \"sleeper\"",        // its output goes to the handle
            "wake main from the loop's thread",   // which wakes the awaiting `main`
        ]
    );
}

/// A wake from another thread is traced when the loop collects it, as coming from elsewhere.
#[test]
fn a_wake_from_another_thread_is_traced_as_such() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    event_loop.run_until_complete(async {
        let (sender, receiver) = futures::channel::oneshot::channel::<u8>();
        let waiter = miniloop::spawn(async move { receiver.await.expect("the thread sends") });
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(1).expect("the waiter is alive");
        });
        assert_eq!(waiter.await.expect("no panic"), 1);
        thread.join().expect("the thread does not panic");
    });
    let events = events(&log);
    let wake = events
        .iter()
        .position(|event| event == "wake task#1 from another thread");
    let last_poll = events
        .iter()
        .rposition(|event| event == "poll task#1 -> ready");
    assert!(
        matches!((wake, last_poll), (Some(wake), Some(poll)) if wake < poll),
        "expected a remote wake before the final poll, got {events:#?}"
    );
}

/// Guards the trace's rule "a wake from another thread is traced ... with the name of the
/// thread that woke" (`src/trace.rs`): a named thread's wake used to read "from another
/// thread" like an unnamed one's.
#[test]
fn a_wake_from_a_named_thread_is_traced_with_its_name() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    event_loop.run_until_complete(async {
        let (sender, receiver) = futures::channel::oneshot::channel::<u8>();
        let waiter = miniloop::spawn(async move { receiver.await.expect("the thread sends") });
        let thread = std::thread::Builder::new()
            .name("notifier".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                sender.send(1).expect("the waiter is alive");
            })
            .expect("the thread starts");
        assert_eq!(waiter.await.expect("no panic"), 1);
        thread.join().expect("the thread does not panic");
    });
    let events = events(&log);
    assert!(
        events.contains(&"wake task#1 from thread \"notifier\"".to_string()),
        "expected the remote wake to name its thread, got {events:#?}"
    );
    assert!(
        !events.iter().any(|event| event.contains("another thread")),
        "{events:#?}"
    );
}

/// Guarantee (issue 20, item 8): a stale waker (its task finished, and another task took the
/// slot) woken from another thread wakes nobody, and the trace says so by saying nothing. The
/// loop takes the remote key, finds the slot's generation changed, and neither schedules the
/// new task nor reports a wake for it. Fails with the generation check in
/// `Scheduler::parked_task` made always true (mutation tried by hand): the trace then read
/// "wake task#2 from another thread" for a task nobody woke.
#[test]
fn a_stale_waker_woken_from_another_thread_is_not_traced_as_a_wake_of_the_slots_new_task() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    event_loop.run_until_complete(async {
        // task#1 keeps its waker and finishes at once, which frees its slot.
        let kept = Arc::new(Mutex::new(None::<Waker>));
        let first = miniloop::spawn({
            let kept = Arc::clone(&kept);
            std::future::poll_fn(move |cx| {
                *kept.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
        });
        first.await.expect("task#1 does not panic");
        // task#2 takes the freed slot (the same index, the next generation) and waits.
        let (sender, receiver) = futures::channel::oneshot::channel::<()>();
        let second = miniloop::spawn(async move { receiver.await.expect("main sends") });
        miniloop::yield_now().await;
        let stale = kept.lock().unwrap().take().expect("task#1 kept its waker");
        std::thread::spawn(move || stale.wake())
            .join()
            .expect("the waking thread does not panic");
        for _ in 0..3 {
            miniloop::yield_now().await; // the loop collects the remote wake meanwhile
        }
        sender.send(()).expect("task#2 waits");
        second.await.expect("task#2 does not panic");
    });
    let events = events(&log);
    assert!(
        !events
            .iter()
            .any(|event| event.ends_with("from another thread")),
        "{events:#?}"
    );
    assert!(
        events.contains(&"finished task#2".to_string()),
        "{events:#?}"
    );
}

/// Panics and aborts end tasks with the matching word.
#[test]
fn panicked_and_cancelled_tasks_say_so() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    event_loop.run_until_complete(async {
        let doomed = miniloop::spawn(async { panic!("on purpose") });
        let sleeper = miniloop::spawn(miniloop::sleep(Duration::from_secs(3600)));
        assert!(doomed.await.unwrap_err().is_panic());
        sleeper.abort();
        assert!(sleeper.await.unwrap_err().is_cancelled());
    });
    let events = events(&log);
    assert!(
        events.contains(&"poll task#1 -> panicked".to_string()),
        "{events:#?}"
    );
    assert!(
        events.contains(&"panicked task#1".to_string()),
        "{events:#?}"
    );
    assert!(
        events.contains(&"cancelled task#2".to_string()),
        "{events:#?}"
    );
}

/// With every switch off there is no observer: nothing is recorded anywhere.
#[test]
fn a_loop_without_switches_records_no_timeline() {
    let event_loop = EventLoop::builder()
        .trace(false)
        .slow_poll_threshold(None)
        .build();
    event_loop.run_until_complete(async {
        miniloop::spawn(async {}).await.expect("no panic");
    });
    assert!(event_loop.timeline().rows().is_empty());
}

/// The timeline records one row per task, with its polls as running spans.
#[test]
fn the_timeline_shows_concurrent_sleeps_overlapping() {
    let event_loop = EventLoop::builder().record_timeline(true).build();
    event_loop.run_until_complete(async {
        let handles: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                miniloop::task::Builder::new()
                    .name(format!("sleep {ms}ms"))
                    .spawn(miniloop::sleep(Duration::from_millis(ms)))
            })
            .collect();
        for handle in handles {
            handle.await.expect("no panic");
        }
    });
    let timeline = event_loop.timeline();
    let rows = timeline.rows();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(
            row.running.len(),
            2,
            "one poll to start, one to finish: {row:?}"
        );
        let lived = row.end.expect("every task ended") - row.start;
        assert!(lived >= Duration::from_millis(10), "{row:?}");
    }
    // All three started together (concurrent), so each starts before the shortest one ends.
    let first_end = rows
        .iter()
        .filter_map(|row| row.end)
        .min()
        .expect("rows have ends");
    assert!(rows.iter().all(|row| row.start < first_end), "{rows:?}");
    let text = timeline.render_text(30);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains("sleep 30ms"), "{text}");
}

// ---- `MINILOOP_TRACE` (in a child process: the variable is read once per process) ----

/// The variable that makes `env_switch_child` do its work (a no-op in a normal run).
const CHILD_SWITCH: &str = "MINILOOP_TRACE_TEST_CHILD";

/// Runs `env_switch_child` in a copy of this test binary with `MINILOOP_TRACE=value`, and
/// returns its stderr.
fn stderr_with_trace_set_to(value: &str) -> String {
    let this_binary = std::env::current_exe().expect("the test binary knows its own path");
    let output = Command::new(this_binary)
        .args([
            "env_switch_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SWITCH, "1")
        .env("MINILOOP_TRACE", value)
        .env_remove("MINILOOP_SLOW_POLL_MS")
        .output()
        .expect("the test binary runs as a child");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the child failed with MINILOOP_TRACE={value:?}; stderr:\n{stderr}"
    );
    stderr
}

/// Not a test of its own: the body `MINILOOP_TRACE` is tried on, in a child process. Two
/// loops, one after the other, each spawning and awaiting one task.
#[test]
fn env_switch_child() {
    if std::env::var_os(CHILD_SWITCH).is_none() {
        return;
    }
    for _ in 0..2 {
        miniloop::run(async { miniloop::spawn(async {}).await.expect("no panic") });
    }
}

/// Guards "the trace is off unless switched on" (`src/trace.rs`): `MINILOOP_TRACE=false`
/// (and `0`, `off`, `no`, empty) used to switch it *on*, since only `0` and empty counted as
/// off. The usual words are understood in any case; anything else gets one warning that says
/// what is wrong and how to fix it, printed once however many loops start, and the trace
/// stays off.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn miniloop_trace_understands_true_and_false_words_and_warns_about_others() {
    let traced = |stderr: &str| stderr.contains("[miniloop") && stderr.contains("spawn task#1");
    for off in ["false", "0", "off", "no", "", "FALSE", " Off "] {
        let stderr = stderr_with_trace_set_to(off);
        assert!(!traced(&stderr), "MINILOOP_TRACE={off:?} traced:\n{stderr}");
        assert!(!stderr.contains("MINILOOP_TRACE"), "{off:?}: {stderr}");
    }
    for on in ["1", "true", "on", "yes", "TRUE", " Yes "] {
        let stderr = stderr_with_trace_set_to(on);
        assert!(
            traced(&stderr),
            "MINILOOP_TRACE={on:?} did not trace:\n{stderr}"
        );
        assert!(!stderr.contains("MINILOOP_TRACE"), "{on:?}: {stderr}");
    }
    let stderr = stderr_with_trace_set_to("maybe");
    assert!(!traced(&stderr), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("MINILOOP_TRACE"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning for two loops:\n{stderr}");
    assert!(warnings[0].contains("\"maybe\""), "{stderr}");
    assert!(
        warnings[0].contains("MINILOOP_TRACE=1"),
        "says how to fix it: {stderr}"
    );
}

/// The trace says where each task was spawned: the caller's line, passed through
/// `#[track_caller]`. Found by `cargo mutants` (`Origin::here` returning `Default::default()`
/// left every test passing: the location became "?", which no test read).
/// Guards: "spawn ... at file:line:column" names the spawning line.
#[test]
fn the_trace_names_the_line_that_spawned_each_task() {
    let log = TraceLog::new();
    let event_loop = EventLoop::builder().trace_into(log.clone()).build();
    let spawned_on = line!() + 1;
    event_loop.run_until_complete(async { miniloop::spawn(async {}).await.unwrap() });
    let at = log
        .events()
        .into_iter()
        .find_map(|event| match event {
            miniloop::trace::Event::Spawn { at, .. } => Some(at),
            _ => None,
        })
        .expect("a spawn event");
    assert!(
        at.starts_with(&format!("tests/trace.rs:{spawned_on}:")),
        "spawned at {at}"
    );
}
