//! Lessons 30 to 34, the rest of the Rust half (cancellation, tasks that are not `Send`,
//! select and groups, channels and streams), run as the reader runs them.
//!
//! Like `tests/rust_half_lessons.rs`: `cargo test` builds the examples before it runs any
//! test, and this file finds them next to its own binary. A lesson's lines are matched with
//! `*` where a number may vary; the test then reads the numbers and checks how they relate
//! (the bytes lost plus the bytes sent later make the frame, the wakes per message stay in
//! a range), and checks that the chapter quotes the output as the lesson prints it.

mod common;
use common::lesson_output::{assert_lines, assert_quoted_in_chapter, numbers_after, run_lesson};

/// The lines of `output` from the one that starts with `from` up to (not including) the
/// next one that starts with `to`, or to the end.
fn section<'a>(output: &'a str, from: &str, to: Option<&str>) -> Vec<&'a str> {
    let lines: Vec<&str> = output.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.starts_with(from))
        .unwrap_or_else(|| panic!("no line starting with {from:?} in:\n{output}"));
    let end = to.map_or(lines.len(), |to| {
        lines[start + 1..]
            .iter()
            .position(|line| line.starts_with(to))
            .map_or(lines.len(), |at| start + 1 + at)
    });
    lines[start..end].to_vec()
}

/// The events of one of part 1's runs: the `|`-separated cells after the label.
fn events(line: &str) -> Vec<&str> {
    line.split(" | ").skip(1).collect()
}

/// Lesson 30: the detached task runs after its spawner returned; the local tasks share
/// one `Rc` (one count per task, then main's alone) and take turns; a local task is woken
/// from another thread and polled on the loop's.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_30_local_tasks_share_an_rc_and_are_polled_on_the_loops_thread() {
    let output = run_lesson("30_send_and_spawn_local", None);
    assert_lines(
        &output,
        &[
            "1. 'static: a detached task runs after the function that spawned it returned",
            "   start_report: spawned the task, dropped its JoinHandle, returns",
            "   report task: runs; start_report had returned: true",
            "2. spawn_local: three tasks share an Rc<RefCell<..>> across their .awaits",
            "   Rc::strong_count with the tasks spawned: *",
            "   the steps, in the order they ran: *",
            "   counts: {\"a\": *, \"b\": *, \"c\": *}; total * = 3 tasks x * steps",
            "   Rc::strong_count after the tasks ended: *",
            "3. A local task woken from another thread",
            "   task: first poll; sends its waker to another thread, returns Pending",
            "   waker thread: called wake(); the wake came from another thread: true",
            "   task: polled 2 times, the last on the loop's thread: same thread: true",
        ],
    );
    let tasks = 3.0;
    let with_tasks = numbers_after(&output, "   Rc::strong_count with the tasks spawned: ")[0];
    assert_eq!(
        with_tasks,
        tasks + 1.0,
        "one clone per task, and main's:\n{output}"
    );
    let after = numbers_after(&output, "   Rc::strong_count after the tasks ended: ")[0];
    assert_eq!(after, 1.0, "the tasks' clones went with them:\n{output}");
    let [a, b, c, total, tasks_again, steps] = numbers_after(&output, "   counts: ")[..] else {
        panic!("six numbers on the counts line:\n{output}");
    };
    assert_eq!(tasks_again, tasks);
    assert_eq!((a, b, c), (steps, steps, steps), "{output}");
    assert_eq!(total, a + b + c, "{output}");
    // The tasks took turns at their `.await`s: each round has one step of each.
    let order: Vec<&str> = output
        .lines()
        .find_map(|line| line.strip_prefix("   the steps, in the order they ran: "))
        .unwrap()
        .split(' ')
        .collect();
    assert_eq!(order.len() as f64, total, "{output}");
    for round in order.chunks(3) {
        let mut round = round.to_vec();
        round.sort();
        assert_eq!(round, ["a", "b", "c"], "{output}");
    }
    assert_quoted_in_chapter("docs/30-send-and-spawn-local.md", &output, &[]);
}

/// Lesson 31, part 1: aborted at `.await` k, the task ran steps 1..k up to that `.await`
/// and nothing after it; its guard's `Drop` ran (when the guard existed); the handle says
/// cancelled.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_31_an_aborted_task_stops_at_its_await_and_only_drop_runs() {
    let output = run_lesson("31_cancellation_is_dropping", None);
    let part_1 = section(&output, "1. ", Some("2. "));
    assert_lines(
        &part_1.join("\n"),
        &[
            "1. A task aborted at each of its .awaits in turn (3 steps, each awaits a 10ms sleep)",
            "   abort before the first poll | *",
            "   abort at .await 1           | *",
            "   abort at .await 2           | *",
            "   abort at .await 3           | *",
            "   no abort                    | *",
            "   lines of the task that ran after its abort: 0",
            "   Drop of the guard ran 4 times: in every run that created the guard (all but the first)",
        ],
    );
    for (abort_at, line) in part_1[1..5].iter().enumerate() {
        let events = events(line);
        let abort = events
            .iter()
            .position(|event| *event == "main: abort()")
            .unwrap_or_else(|| panic!("run {abort_at} aborts: {line}"));
        let (before, after) = events.split_at(abort);
        // Before the abort: steps 1..=k started, 1..k ended, in order.
        let mut expected_before = Vec::new();
        for step in 1..=abort_at {
            expected_before.push(format!("start {step}"));
            if step < abort_at {
                expected_before.push(format!("end {step}"));
            }
        }
        assert_eq!(before, expected_before, "{line}");
        // After it: the guard's `Drop` (if the body ever ran), and the handle's error.
        let mut expected_after = vec!["main: abort()"];
        if abort_at > 0 {
            expected_after.push("Drop of the guard");
        }
        expected_after.push("main: handle.await = Err(task#1 was cancelled)");
        assert_eq!(after, expected_after, "{line}");
    }
    assert_eq!(
        events(part_1[5]),
        [
            "start 1",
            "end 1",
            "start 2",
            "end 2",
            "start 3",
            "end 3",
            "Drop of the guard",
            "main: handle.await = Ok(\"all steps done\")"
        ]
    );
}

/// Lesson 31, part 2: the naive read loses exactly the first piece with its future, and
/// then reads the second piece as a frame header; the cancel-safe reader keeps the first
/// piece, and the retry completes the frame from the kept and the new bytes.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_31_a_timeout_loses_the_bytes_in_the_future_and_not_those_outside_it() {
    let output = run_lesson("31_cancellation_is_dropping", None);
    let part_2 = section(&output, "2. ", Some("3. ")).join("\n");
    assert_lines(
        &part_2,
        &[
            "2. A timeout around a half-read frame (a 4-byte length, then * bytes; sent in two pieces over a socket)",
            "   naive: sent the first piece, * of * bytes",
            "   naive: read_frame under a 20ms timeout: Err(deadline has elapsed (20ms))",
            "   naive: the dropped future's buffer went with it, holding * bytes: *",
            "   naive: sent the second piece, * bytes",
            "   naive: the retry starts mid-frame: frame length * is over the 1024-byte limit; *",
            "   cancel-safe: sent the first piece, * of * bytes",
            "   cancel-safe: read_frame under a 20ms timeout: Err(deadline has elapsed (20ms))",
            "   cancel-safe: the reader kept * bytes in its own buffer: *",
            "   cancel-safe: sent the second piece, * bytes",
            "   cancel-safe: the retry completes the frame: \"one frame, sent in two pieces\" (* bytes with its header: * kept + * new)",
        ],
    );
    let payload = numbers_after(&part_2, "2. A timeout around a half-read frame (a ")[1];
    let [first, frame] = numbers_after(&part_2, "   naive: sent the first piece, ")[..] else {
        panic!("two numbers on the first piece's line:\n{part_2}");
    };
    assert_eq!(frame, 4.0 + payload, "{part_2}");
    assert!(
        first > 4.0 && first < frame,
        "a piece is half a frame:\n{part_2}"
    );
    let lost = numbers_after(
        &part_2,
        "   naive: the dropped future's buffer went with it, holding ",
    );
    assert_eq!(lost[0], first, "the whole first piece was lost:\n{part_2}");
    let second = numbers_after(&part_2, "   naive: sent the second piece, ")[0];
    assert_eq!(lost[0] + second, frame, "{part_2}");
    let garbage = numbers_after(
        &part_2,
        "   naive: the retry starts mid-frame: frame length ",
    )[0];
    assert!(garbage > 1024.0, "{part_2}");
    let kept = numbers_after(&part_2, "   cancel-safe: the reader kept ")[0];
    assert_eq!(kept, first, "{part_2}");
    let [whole, kept_again, new] =
        numbers_after(&part_2, "   cancel-safe: the retry completes the frame: ")[..]
    else {
        panic!("three numbers on the retry's line:\n{part_2}");
    };
    assert_eq!((whole, kept_again), (frame, kept), "{part_2}");
    assert_eq!(kept + new, frame, "{part_2}");
    // The same bytes: lost in one case, kept in the other.
    let bytes_after = |prefix: &str| {
        let line = part_2
            .lines()
            .find(|line| line.starts_with(prefix))
            .unwrap();
        line.rsplit(": ").next().unwrap().to_owned()
    };
    assert_eq!(
        bytes_after("   naive: the dropped future's buffer"),
        bytes_after("   cancel-safe: the reader kept"),
    );
}

/// Lesson 31, part 3: `Drop` spawns the cleanup, which finishes after the handle said the
/// future was gone.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_31_cleanup_that_awaits_runs_in_a_task_spawned_from_drop() {
    let output = run_lesson("31_cancellation_is_dropping", None);
    let part_3 = section(&output, "3. ", None).join("\n");
    assert_lines(
        &part_3,
        &[
            "3. Cleanup that must .await: Drop cannot, so it spawns a task",
            "   session: 2 records unsent, waiting",
            "   main: abort()",
            "   Drop of the session: cannot await; spawned task#2",
            "   main: handle.await = Err(task#1 was cancelled): the future is gone",
            "   cleanup task: flushed 2 records, after the cancelled future was gone",
            "   main: the cleanup task is done",
        ],
    );
    assert_quoted_in_chapter("docs/31-cancellation-is-dropping.md", &output, &[]);
}

const MESSAGES: f64 = 10.0;
const CAPACITY: f64 = 2.0;

/// One of lesson 33's three runs of the channel program: its lines, checked.
struct ChannelRun<'a> {
    lines: Vec<&'a str>,
}

impl ChannelRun<'_> {
    /// The events of the `order:` line: `+n` and `-n`, `(n` for "(n waits)", and `end`.
    fn order(&self) -> Vec<&str> {
        let order = self.lines[1]
            .strip_prefix("   order: ")
            .unwrap_or_else(|| panic!("an order line: {:?}", self.lines));
        order.split(' ').filter(|word| *word != "waits)").collect()
    }

    /// Replays the order: every message is sent once and received once, in order; the
    /// producer is never more than the capacity ahead; the sends that waited are counted.
    fn check_order(&self) -> usize {
        let order = self.order();
        let mut sent = 0.0;
        let mut received = 0.0;
        let mut waits = 0;
        let mut sent_in_order = Vec::new();
        let mut received_in_order = Vec::new();
        for event in &order {
            if let Some(n) = event.strip_prefix('+') {
                sent += 1.0;
                sent_in_order.push(n.parse::<u32>().unwrap());
            } else if let Some(n) = event.strip_prefix('-') {
                received += 1.0;
                received_in_order.push(n.parse::<u32>().unwrap());
            } else if event.starts_with('(') {
                waits += 1;
            } else {
                assert_eq!(*event, "end", "{order:?}");
            }
            assert!(
                sent - received <= CAPACITY,
                "more than the capacity ahead at {event}: {order:?}"
            );
        }
        let all: Vec<u32> = (1..=10).collect();
        assert_eq!(sent_in_order, all, "{order:?}");
        assert_eq!(received_in_order, all, "{order:?}");
        assert_eq!(order.last(), Some(&"end"), "{order:?}");
        waits
    }

    /// The numbers of the `counts:` line: (waits, most ahead, consumer wakes, main wakes).
    fn counts(&self) -> (f64, f64, f64, f64) {
        let counts = numbers_after(self.lines[8], "   counts: ");
        let [waits, most_ahead, wakes, messages, per_message, main] = counts[..] else {
            panic!("six numbers on the counts line: {:?}", self.lines[8]);
        };
        assert_eq!(messages, MESSAGES);
        assert!((per_message - wakes / MESSAGES).abs() < 0.051, "{counts:?}");
        (waits, most_ahead, wakes, main)
    }
}

/// Lesson 33: our channels, futures' and tokio's print the same lines where the
/// implementation does not matter; each shows back-pressure, and its wakes per message stay
/// in range.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_33_three_channel_implementations_show_back_pressure_and_few_wakes() {
    let output = run_lesson("33_channels_are_wakers_in_a_box", None);
    let channels = [
        ("1. Our channels, written in this file", "2. "),
        (
            "2. The same program on futures::channel::{mpsc, oneshot}",
            "3. ",
        ),
        ("3. The same program on tokio::sync::{mpsc, oneshot}", "4. "),
    ];
    let runs: Vec<ChannelRun> = channels
        .iter()
        .map(|(from, to)| ChannelRun {
            lines: section(&output, from, Some(to)),
        })
        .collect();
    for run in &runs {
        assert_lines(
            &run.lines.join("\n"),
            &[
                "*: 10 messages through capacity 2",
                "   order: *",
                "   the consumer got 1 to 10 in order: yes, then None: the sender was dropped",
                "   back-pressure: the producer waited for room: yes; never more than 2 messages ahead: yes",
                "   main got the sum over the oneshot: Ok(55)",
                "   closing: a receiver parked on an empty channel when its last sender is dropped: woken, gets None",
                "   closing: a send after the receiver was dropped: Err(Closed)",
                "   closing: a oneshot receiver parked when its sender is dropped unsent: woken, gets Err(Closed)",
                "   counts: the producer waited * times and was at most * ahead; the consumer was woken * times for 10 messages (* per message); main * time",
            ],
        );
        // The implementation-independent lines are the same, word for word.
        assert_eq!(run.lines[2..8], runs[0].lines[2..8]);
        let waits_in_order = run.check_order();
        let (waits, most_ahead, wakes, main) = run.counts();
        assert_eq!(waits, waits_in_order as f64, "{:?}", run.lines);
        // A full channel of 2 makes a producer of 10 wait; it cannot wait more than once
        // per message.
        assert!((1.0..=MESSAGES).contains(&waits), "{:?}", run.lines);
        assert!((1.0..=CAPACITY).contains(&most_ahead), "{:?}", run.lines);
        // The consumer is woken at most once per message (plus once for the close), and
        // takes more than one message per wake: the queue filled while it was parked.
        assert!(
            wakes >= 1.0 && wakes / MESSAGES < 1.0,
            "{wakes} wakes for 10 messages: {:?}",
            run.lines
        );
        assert_eq!(main, 1.0, "the oneshot wakes main once: {:?}", run.lines);
    }
    // Ours parks the producer only on a full channel: 2 ahead each time, then the consumer
    // takes both in one wake. tokio's channel does the same, step for step.
    let ours = runs[0].order();
    assert_eq!(ours, runs[2].order(), "ours and tokio's: the same order");
    let waits_at: Vec<&str> = ours
        .iter()
        .copied()
        .filter(|event| event.starts_with('('))
        .collect();
    assert_eq!(waits_at, ["(3", "(5", "(7", "(9"], "{ours:?}");
    // futures' bound is its buffer plus one slot per sender: its sends finish one later.
    assert!(runs[1].order().contains(&"(2"), "{:?}", runs[1].lines);
}

/// Lesson 33, outputs 4 and 5: the std guard across an `.await` keeps the other task out
/// for as long as it does not yield; the async mutex parks its waiter, woken once.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_33_a_std_guard_across_an_await_locks_out_the_only_thread() {
    let output = run_lesson("33_channels_are_wakers_in_a_box", None);
    let mutexes = section(&output, "4. ", None).join("\n");
    assert_lines(
        &mutexes,
        &[
            "4. A std::sync::Mutex guard held across an .await, on one thread",
            "   main: locks the std Mutex, then awaits a sleep with the guard held",
            "   other task: try_lock * times without yielding, until past main's wake-up time: all WouldBlock: yes",
            "   other task: main holds the lock, parked at an .await on this thread; it runs only when this task yields, so lock() here would wait for ever: a deadlock",
            "   main: wakes, unlocks",
            "   other task: yielded once; try_lock now: Ok",
            "5. An async mutex (tokio::sync::Mutex): the waiter parks instead of blocking",
            "   holder: locks the async Mutex, awaits a sleep with the guard held",
            "   waiter: lock().await returned Pending: the waiter parks, the thread runs on",
            "   holder: wakes, unlocks",
            "   waiter: got the lock; the count is 2",
            "   the waiter was woken 1 time: by the unlock",
        ],
    );
    let attempts = numbers_after(&mutexes, "   other task: try_lock ")[0];
    assert!(attempts >= 1.0, "{mutexes}");
    assert_quoted_in_chapter(
        "docs/33-channels-are-wakers-in-a-box.md",
        &output,
        &["   other task: try_lock "],
    );
}

/// Lesson 32, parts 1 and 2: the hand-written `FirstOf` keeps its loser until it is
/// dropped; the crate's `select` and `race` drop every loser inside the `.await`, before
/// main runs on, and take their timers with them.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_32_a_select_drops_its_losers_and_the_crates_drop_them_at_once() {
    let output = run_lesson("32_select_and_task_groups", None);
    let part_1 = section(&output, "1. ", Some("2. ")).join("\n");
    assert_lines(
        &part_1,
        &[
            "1. FirstOf, a select written in this file: fast (10ms) against slow (an hour)",
            "   main: (&mut first).await = Left(\"fast\") after * ms",
            "   main: the loser is still inside first: losers dropped so far: 0",
            "   main: drop(first)",
            "   Drop of fast: finished: yes",
            "   Drop of slow: finished: no",
            "   main: losers dropped: 1",
        ],
    );
    let waited = numbers_after(&part_1, "   main: (&mut first).await = ")[0];
    assert!(waited >= 10.0, "the winner slept 10 ms:\n{part_1}");

    let part_2 = section(&output, "2. ", Some("3. "));
    assert_lines(
        &part_2[..4].join("\n"),
        &[
            "2. miniloop::select and miniloop::race: the losers are dropped inside the .await",
            "   Drop of fast: finished: yes",
            "   Drop of slow: finished: no",
            "   main: select(fast, slow).await = Left(\"fast\") after * ms; losers dropped by then: 1",
        ],
    );
    // The same winner as the hand-written select.
    assert!(part_1.contains("= Left(\"fast\")"));
    let part_2 = part_2.join("\n");
    let lengths = numbers_after(&part_2, "   race over five sleeps of ");
    assert_eq!(lengths.len(), 5, "{part_2}");
    let shortest = lengths.iter().copied().fold(f64::INFINITY, f64::min);
    let drops: Vec<&str> = part_2
        .lines()
        .skip_while(|line| !line.starts_with("   race over"))
        .skip(1)
        .take_while(|line| line.starts_with("   Drop of sleep "))
        .collect();
    assert_eq!(drops.len(), 5, "every runner is dropped once:\n{part_2}");
    let finished: Vec<f64> = drops
        .iter()
        .filter(|line| line.ends_with("finished: yes"))
        .map(|line| numbers_after(line, "   Drop of sleep ")[0])
        .collect();
    let winner_index = lengths.iter().position(|ms| *ms == shortest).unwrap() as f64;
    assert_eq!(
        finished,
        [winner_index],
        "only the winner finished:\n{part_2}"
    );
    let [index, name_index, waited, losers, of] =
        numbers_after(&part_2, "   main: race(...).await = (")[..]
    else {
        panic!("five numbers on the race's line:\n{part_2}");
    };
    assert_eq!(
        (index, name_index),
        (winner_index, winner_index),
        "{part_2}"
    );
    assert!(waited >= shortest, "{part_2}");
    assert_eq!((losers, of), (4.0, 4.0), "{part_2}");
    assert!(
        part_2.ends_with("   main: the loop has a timer filed: false"),
        "the losers' timers left the queue with them:\n{part_2}"
    );
}

/// Lesson 32, parts 3 to 5: the first failure aborts the rest of the group, each aborted
/// task's guard is dropped and its `JoinError` says cancelled; a dropped `JoinSet` cancels
/// every task; an `AbortHandle` stops a task from another task.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_32_a_group_cancels_its_tasks_on_a_failure_and_on_drop() {
    let output = run_lesson("32_select_and_task_groups", None);
    let part_3 = section(&output, "3. ", Some("4. ")).join("\n");
    assert_lines(
        &part_3,
        &[
            "3. A JoinSet as Python's TaskGroup: the first failure aborts the rest",
            "   spawned 4: ok (10ms), fails (20ms), slow (40ms), hour (3600s)",
            "   ok: guard dropped",
            "   join_next: ok -> Ok(Ok(\"ok\"))",
            "   fails: guard dropped",
            "   join_next: fails -> Ok(Err(\"fails: the work went wrong\"))",
            "   main: abort_all(), 2 tasks left",
            "   slow: guard dropped",
            "   hour: guard dropped",
            "   join_next: * -> Err(task#* was cancelled); cancelled: true",
            "   join_next: * -> Err(task#* was cancelled); cancelled: true",
            "   join_next: None. 1 succeeded, 1 failed, 2 cancelled; guards dropped: 4 of 4",
        ],
    );
    // The two cancelled results are those of slow and hour, one each, by their own ids
    // (spawned third and fourth: task#3 and task#4).
    let mut cancelled: Vec<(String, f64)> = part_3
        .lines()
        .filter(|line| line.contains("was cancelled"))
        .map(|line| {
            let name = line["   join_next: ".len()..].split(' ').next().unwrap();
            let id = numbers_after(line, &format!("   join_next: {name} -> Err(task#"))[0];
            (name.to_owned(), id)
        })
        .collect();
    cancelled.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(
        cancelled,
        [("slow".to_owned(), 3.0), ("hour".to_owned(), 4.0)],
        "{part_3}"
    );

    let part_4 = section(&output, "4. ", Some("5. ")).join("\n");
    assert_lines(
        &part_4,
        &[
            "4. A JoinSet dropped while its tasks sleep",
            "   * tasks asleep (an hour each); live tasks: *",
            "   main: drop(group)",
            "   guards dropped: * of *; live tasks: 0; a timer filed: false",
        ],
    );
    let [asleep, live] = numbers_after(&part_4, "   ")[..] else {
        panic!("two numbers on the asleep line:\n{part_4}");
    };
    assert!(asleep >= 2.0 && live == asleep, "{part_4}");
    let [dropped, of, _live] = numbers_after(&part_4, "   guards dropped: ")[..] else {
        panic!("three numbers on the guards line:\n{part_4}");
    };
    assert_eq!((dropped, of), (asleep, asleep), "{part_4}");

    let part_5 = section(&output, "5. ", None).join("\n");
    assert_lines(
        &part_5,
        &[
            "5. An AbortHandle: a watchdog task stops a worker it does not own",
            "   watchdog: 10ms passed, abort() on task#*",
            "   worker: guard dropped",
            "   main: worker.await = Err(task#* was cancelled) after * ms",
            "   guards dropped: 1",
        ],
    );
    let aborted = numbers_after(&part_5, "   watchdog: 10ms passed, abort() on task#")[0];
    let [worker, waited] = numbers_after(&part_5, "   main: worker.await = Err(task#")[..] else {
        panic!("two numbers on the worker's line:\n{part_5}");
    };
    assert_eq!(
        aborted, worker,
        "the watchdog aborted the worker:\n{part_5}"
    );
    assert!(waited >= 10.0, "{part_5}");
    assert_quoted_in_chapter(
        "docs/32-select-and-task-groups.md",
        &output,
        &[
            "   main: (&mut first)",
            "   main: select(",
            "   main: race(",
            "   main: worker.await",
        ],
    );
}

/// Lesson 34: the hand-written stream takes two polls per item and one for the end, and
/// stays ended; `as_completed` yields in completion order, not input order, through the
/// combinators; each interval tick is a whole number of periods after the one before.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_34_streams_yield_in_completion_order_and_ticks_are_a_period_apart() {
    let output = run_lesson("34_streams", None);
    assert_lines(
        &output,
        &[
            "1. Countdown, a stream written in this file: a 5ms sleep before each number",
            "   while let Some(n) = countdown.next().await: 3 2 1 (then None)",
            "   polls: * for 3 numbers and the end: 2 per number (Pending, then Ready), 1 for None",
            "   polled again after the end: None; is_terminated: true",
            "2. as_completed: the results as the futures finish",
            "   input order:      [*] (each sleeps that many ms)",
            "   completion order: [*]",
            "   the same order as the input: false",
            "   .filter(>= 20).map(format).take(2).collect(): [*]",
            "3. interval(10ms).take(3): a stream that never ends, cut to three items",
            "   tick 1: scheduled 0 ms after tick 1; arrived * ms after that, not before: true",
            "   tick 2: scheduled * ms after tick 1; arrived * ms after that, not before: true",
            "   tick 3: scheduled * ms after tick 1; arrived * ms after that, not before: true",
        ],
    );
    let polls = numbers_after(&output, "   polls: ")[0];
    assert_eq!(polls, 2.0 * 3.0 + 1.0, "{output}");
    let input = numbers_after(&output, "   input order: ");
    let finished = numbers_after(&output, "   completion order: ");
    let mut sorted = input.clone();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(
        finished, sorted,
        "the shortest sleep finishes first:\n{output}"
    );
    assert_ne!(finished, input, "{output}");
    let kept: Vec<String> = sorted
        .iter()
        .filter(|ms| **ms >= 20.0)
        .take(2)
        .map(|ms| format!("\"{ms}ms\""))
        .collect();
    assert!(
        output.contains(&format!(".take(2).collect(): [{}]", kept.join(", "))),
        "{output}"
    );
    let period = 10.0;
    let scheduled: Vec<f64> = (1..=3)
        .map(|tick| numbers_after(&output, &format!("   tick {tick}: scheduled "))[0])
        .collect();
    for pair in scheduled.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= period && gap % period == 0.0,
            "a gap of {gap} ms, not a whole number of periods:\n{output}"
        );
    }
    assert_quoted_in_chapter("docs/34-streams.md", &output, &["   tick "]);
}
