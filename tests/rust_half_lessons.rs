//! Lessons 26 to 28, "the Rust half" (a waker loop in one file, a waker by hand, `Pin`
//! shown), run as the reader runs them.
//!
//! Like `tests/lessons.rs`: `cargo test` builds the examples before it runs any test, and
//! this file finds them next to its own binary. Lines that carry an address, a size or a
//! timing are matched with `*` for the part that varies; the test then reads the numbers
//! and checks how they relate (a CPU time against a run time, a size against 4096), never
//! a raw address or a raw size, which change between runs and between compilers.

mod common;
use common::lesson_output::{assert_lines, glob_match, numbers_after, numbers_in, run_lesson};
use common::COUNTDOWN;

#[test]
fn glob_match_stands_for_any_run_of_characters() {
    assert!(glob_match("a*c", "abbbc"));
    assert!(glob_match("a*c", "ac"));
    assert!(glob_match("exact", "exact"));
    assert!(!glob_match("exact", "exactly"));
    assert!(!glob_match("a*c*d", "acd-"));
    assert!(!glob_match("ab*ba", "aba"));
    assert_eq!(numbers_in("at 0x10, yes (byte 8 of 40)"), [16.0, 8.0, 40.0]);
    assert_eq!(numbers_in("Run time: 0.512 seconds"), [0.512]);
}

/// Lesson 26 prints lesson 12's lines, burns next to no CPU, and polls each task once per
/// wake; lesson 12, on the same program, polls each task hundreds of times more.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_26_prints_lesson_12s_lines_and_polls_once_per_wake() {
    let busy = run_lesson("12_busy_event_loop", Some("0.05"));
    let woken = run_lesson("26_waker_loop_in_one_file", Some("0.05"));
    let busy_lines: Vec<&str> = busy.lines().collect();
    assert_eq!(busy_lines[..14], COUNTDOWN, "lesson 12:\n{busy}");
    let timings_and_polls = [
        "Run time: * seconds",
        "CPU time: * seconds",
        "Task 1 was polled * times and woken * times",
        "Task 2 was polled * times and woken * times",
    ];
    let patterns: Vec<&str> = COUNTDOWN
        .iter()
        .chain(&timings_and_polls)
        .copied()
        .collect();
    assert_lines(&woken, &patterns);
    let wall = numbers_after(&woken, "Run time: ")[0];
    let cpu = numbers_after(&woken, "CPU time: ")[0];
    assert!(wall > 0.2, "10 s scaled by 0.05 is 0.5 s; took {wall}");
    assert!(
        cpu < 0.2 * wall,
        "a waker loop parks between timers: {cpu} s CPU in {wall} s"
    );
    // (task, sleeps it awaits): main sleeps 0.5 s, 1 s and 2 s (and awaits the countdown);
    // the countdown sleeps ten times.
    for (task, sleeps) in [(1, 3.0), (2, 10.0)] {
        let prefix = format!("Task {task} was polled ");
        let [polls, wakes] = numbers_after(&woken, &prefix)[..] else {
            panic!("two numbers after {prefix:?} in:\n{woken}");
        };
        assert!(
            polls <= 2.0 * sleeps + 1.0,
            "task {task} was polled {polls} times for {sleeps} sleeps:\n{woken}"
        );
        assert_eq!(
            polls,
            wakes + 1.0,
            "task {task}: one first poll, then one per wake:\n{woken}"
        );
        let busy_polls = numbers_after(&busy, &prefix)[0];
        assert!(
            busy_polls > 100.0 * polls,
            "lesson 12 polls task {task} {busy_polls} times, lesson 26 {polls} times"
        );
    }
}

/// Lesson 27's counts are deterministic: every line is compared exactly.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_27_counts_every_call_of_a_hand_made_waker() {
    let output = run_lesson("27_waker_by_hand", None);
    let steps = [
        "   poll 1: Pending; the future kept a clone of the waker (strong count 3)",
        "   ring 1: wake_by_ref on the kept clone, which stays: another ring is due (strong count 3)",
        "   poll 2: Pending; will_wake says the kept clone is this waker: no new clone (strong count 3)",
        "   ring 2: wake on the kept clone, which wake consumes (strong count 2)",
        "   poll 3: Ready (strong count 2)",
        "   our waker dropped (strong count 1: every waker gave its count back)",
    ];
    let mut expected = vec!["1. A waker from a RawWakerVTable: four unsafe functions of ours"];
    expected.extend(steps);
    expected.push("   vtable calls: clone 1, wake 1, wake_by_ref 1, drop 1");
    expected.push("2. The same waker from the Wake trait: no unsafe");
    expected.extend(steps);
    expected.extend([
        "   Wake calls: wake 1, wake_by_ref 1 (clone and drop are the Arc's own)",
        "3. Any thread may wake: a Waker is Send + Sync",
        "   Waker is Send + Sync: true (the compiler checked)",
        "   the main thread parks; a thread named ringer holds the only waker",
        "   the main thread was woken by: ringer",
        "   the last waker was dropped on: ringer (so what a waker owns must be Send)",
        "4. Which waker to keep: a leaf polled by task A, then twice by task B, then woken",
        "   keep the first          clones 1, stale wakes (to A) 1, wakes to B 0: B waits forever",
        "   clone on every poll     clones 3, stale wakes (to A) 0, wakes to B 1: B runs",
        "   clone unless will_wake  clones 2, stale wakes (to A) 0, wakes to B 1: B runs",
    ]);
    assert_eq!(output.lines().collect::<Vec<_>>(), expected);
}

/// Lesson 28: addresses and sizes vary; what they show does not.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_28_shows_the_future_pointing_into_itself_and_pinned() {
    let output = run_lesson("28_pin_shown", None);
    assert_lines(
        &output,
        &[
            "1. A future that points into itself",
            "   built, not yet polled: * bytes at 0x*, on the stack",
            "   moved into Box::pin before its first poll: now at 0x*",
            "   poll 1: Pending; `local` is at 0x*, inside the future: yes (byte * of *)",
            "   the box moved to another variable; the future is still at 0x*: yes",
            "   poll 2: Ready(42); the reference kept across the .await points at 0x*, at `local`: yes",
            "   the future is Unpin: no, so nothing can move it out of its box now",
            "2. Why it must not move after the first poll: the same, by hand",
            "   after a move the pointer still points at the old place: yes",
            "   and at the value it moved with: no (reading through it now would be a bug)",
            "3. Unpin: which values may still move after they are pinned",
            "   std::future::ready(7)          yes",
            "   miniloop::sleep(1 ms)          yes",
            "   borrow_across_await(&seen)     no",
            "   async { 7 }                    no",
            "   Box::pin(async { 7 })          yes",
            "   PointsIntoItself, by hand      yes",
            "   PhantomPinned                  no",
            "4. pin!: pinned on the stack, for a future polled right here",
            "   Ready(42) after 2 polls, the future at 0x* all along",
            "   `local` inside it, and the kept reference pointing at `local`: yes",
            "5. pin-project-lite: a hand-written future around another one",
            "   CountPolls(borrow_across_await): Ready(42) after 2 polls",
            "   CountPolls<ready(7)> is Unpin: yes; CountPolls<async { 7 }> is Unpin: no",
            "6. The size of a future: what it keeps across an .await",
            "   std::future::ready(7u8) * byte*",
            "   async { 7 } * byte*",
            "   miniloop::sleep(1 ms) * byte*",
            "   borrow_across_await(&seen) * byte*",
            "   big_across_await() * byte*",
            "   Box::pin(big_across_await()) * byte*",
            "   the 4096-byte buffer is inside its future: yes; boxed, a future is one pointer: yes",
            "7. A recursive async fn needs a box",
            "   depth(100) = 100",
            "   the future of depth(1): * bytes, of depth(100): * bytes; the same: yes",
        ],
    );
    // The box is not where the future was built, and `local` is within the boxed future.
    let built = numbers_after(&output, "   built, not yet polled: ");
    let boxed_at = numbers_after(&output, "   moved into Box::pin")[0];
    assert_ne!(built[1], boxed_at, "Box::pin moves the future:\n{output}");
    let poll_1 = numbers_after(&output, "   poll 1: ");
    let [local, offset, size] = poll_1[..] else {
        panic!("an address, an offset and a size after `poll 1: `:\n{output}");
    };
    assert_eq!(local, boxed_at + offset, "{output}");
    assert!(offset < size && size == built[0], "{output}");
    // Sizes: the small futures are small, the buffer is inside the big one, a box is a
    // pointer. The exact figures belong to the compiler.
    let sizes = &output[output.find("6. ").expect("part 6 is there")..];
    let size_of = |what: &str| numbers_after(sizes, &format!("   {what} "))[0];
    for small in [
        "std::future::ready(7u8)",
        "async { 7 }",
        "borrow_across_await(&seen)",
    ] {
        assert!(size_of(small) < 100.0, "{small} should be small:\n{output}");
    }
    assert!(size_of("big_across_await()") > 4096.0, "{output}");
    let pointer = std::mem::size_of::<usize>() as f64;
    assert_eq!(size_of("Box::pin(big_across_await())"), pointer, "{output}");
}
