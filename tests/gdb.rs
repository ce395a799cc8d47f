//! The debugger walkthrough still works: runs lessons under `gdb -batch` with the breakpoints
//! `docs/debugging.md` names, and checks that they are hit and print what the chapter shows.
//!
//! Skipped (with a message) where gdb is not installed. The lessons must be built: plain
//! `cargo test` builds them first.

mod common;
use common::example_path;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `rust-gdb` (gdb with Rust's pretty printers), or plain `gdb`, if either runs here.
fn find_gdb() -> Option<&'static str> {
    ["rust-gdb", "gdb"].into_iter().find(|candidate| {
        Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    })
}

/// Runs `example` under `gdb -batch` with `commands`; returns gdb's output, or `None` when gdb
/// is missing. Gives up (and fails) after a minute rather than hang.
fn run_under_gdb(example: &str, commands: &[&str]) -> Option<String> {
    run_under_gdb_with(example, "0.01", &[], commands)
}

/// `run_under_gdb` with a time scale of its own and arguments for the program (gdb's
/// `--args`).
fn run_under_gdb_with(
    example: &str,
    time_scale: &str,
    program_args: &[&str],
    commands: &[&str],
) -> Option<String> {
    let Some(gdb) = find_gdb() else {
        // CI sets MINILOOP_REQUIRE_GDB (and installs gdb): there a missing gdb is a failure,
        // never a silent skip. On a learner's machine the rest of `cargo test` still runs.
        if std::env::var_os("MINILOOP_REQUIRE_GDB").is_some() {
            panic!("gdb is not installed but MINILOOP_REQUIRE_GDB is set: apt-get install gdb");
        }
        eprintln!("skipped: gdb is not installed (apt-get install gdb to run this test)");
        return None;
    };
    let mut command = Command::new(gdb);
    command.arg("-batch").args(["-ex", "set pagination off"]);
    for line in commands {
        command.args(["-ex", line]);
    }
    let mut child = command
        .arg("--args")
        .arg(example_path(example))
        .args(program_args)
        .env("MINILOOP_TIME_SCALE", time_scale)
        .env_remove("MINILOOP_TRACE")
        .env_remove("MINILOOP_SLOW_POLL_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gdb should start");
    // Read both pipes on threads of their own: a long backtrace or `info threads` can fill
    // a pipe, and gdb would then wait for us while we wait for gdb.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|pipe| Box::new(pipe) as _));
    let stderr = drain(child.stderr.take().map(|pipe| Box::new(pipe) as _));
    let deadline = Instant::now() + Duration::from_secs(60);
    while child
        .try_wait()
        .expect("gdb's status should be readable")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("gdb did not finish within a minute on {example}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = stdout.join().expect("the stdout reader should not panic");
    let stderr = stderr.join().expect("the stderr reader should not panic");
    Some(stdout + &stderr)
}

/// Runs `example` under gdb with a command file (`-x script`), as a chapter that says "put
/// this in a file" does.
fn run_gdb_script(example: &str, time_scale: &str, script: &str) -> Option<String> {
    let path = std::env::temp_dir().join(format!(
        "miniloop-{example}-{}-{:?}.gdb",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, script).expect("the temp dir should be writable");
    let source = format!("source {}", path.display());
    let output = run_under_gdb_with(example, time_scale, &[], &[&source]);
    let _ = std::fs::remove_file(&path);
    output
}

fn assert_contains(output: &str, expected: &str) {
    assert!(
        output.contains(expected),
        "gdb output should contain {expected:?}:\n{output}"
    );
}

/// Lesson 13: the one poll site, the task's key, and the `async fn` inside the task.
#[test]
fn poll_task_breakpoint_shows_the_key_and_the_state_machine() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break miniloop::event_loop::Core::poll_task",
            "run",
            "print key",
            "print task",
            "bt 5",
            "info functions poll_future",
            "break 'miniloop::task::Task<13_real_event_loop::countdown::{async_fn_env#0}>::poll_future<13_real_event_loop::countdown::{async_fn_env#0}>'",
            "continue",
            "print self.ptr.pointer.data.shared.header.id",
            "print self.ptr.pointer.data.future.value",
        ],
    ) else {
        return;
    };
    assert_contains(
        &output,
        "Breakpoint 1, miniloop::event_loop::Core::poll_task",
    );
    assert_contains(&output, "TaskKey {index: 0, generation: 0}");
    // The `TaskRef` is an `Arc` of a `dyn`: gdb shows the counts, not the task.
    assert_contains(
        &output,
        "miniloop::task::TaskRef (Arc(strong=2, weak=0) = {value = (), strong = 2, weak = 0})",
    );
    let expected_frames = [
        "miniloop::event_loop::Core::poll_task (self=",
        "miniloop::event_loop::Core::run_task (self=",
        "miniloop::event_loop::Core::run_ready_tasks (self=",
        "miniloop::event_loop::Core::run_until_complete<13_real_event_loop::main_task::{async_fn_env#0}> (",
        "miniloop::event_loop::EventLoop::run_until_complete<13_real_event_loop::main_task::{async_fn_env#0}> (",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    // `poll_future` is generic: one copy per future type, and the breakpoint names one.
    assert_contains(
        &output,
        "miniloop::task::Task<13_real_event_loop::countdown::{async_fn_env#0}>::poll_future",
    );
    assert_contains(&output, "miniloop::task::TaskId (1)");
    assert_contains(&output, "countdown::{async_fn_env#0}::Unresumed");
}

/// Lesson 13: a timer firing is what calls the waker.
#[test]
fn wake_task_breakpoint_shows_the_timer_that_woke() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break miniloop::waker::wake_task",
            "run",
            "bt 6",
            "print header.id",
            "print header.key",
            "print header.key.v.value >> 32",
            "print header.key.v.value & 0xffffffff",
            "continue",
            "print header.id",
            "print header.key.v.value >> 32",
            "print header.key.v.value & 0xffffffff",
        ],
    ) else {
        return;
    };
    // `wake_task` is `#[inline]`: gdb may find a copy in the lesson's crate too, and then
    // names the stop `Breakpoint 1.2` rather than `Breakpoint 1`.
    assert_contains(&output, ", miniloop::waker::wake_task (header=");
    assert_contains(&output, "miniloop::event_loop::Core::fire_due_timers");
    // The first wake is `main`'s: id 0, and the made-up key `TaskKey::MAIN` (no slot), which
    // the header keeps packed in an `AtomicU64`.
    assert_eq!(gdb_value(&output, 1), "miniloop::task::TaskId (0)");
    assert!(
        gdb_value(&output, 2).starts_with("core::sync::atomic::AtomicU64 {v: "),
        "{output}"
    );
    assert_eq!(gdb_value(&output, 3), "4294967295");
    assert_eq!(gdb_value(&output, 4), "0");
    // Then the countdown's: task#1, in slot 0, first use.
    assert_eq!(gdb_value(&output, 5), "miniloop::task::TaskId (1)");
    assert_eq!(gdb_value(&output, 6), "0");
    assert_eq!(gdb_value(&output, 7), "0");
}

/// Lesson 11: the compiler's state machine, seen from the hand-written `block_on`.
#[test]
fn lesson_11_shows_the_compilers_enum() {
    let Some(output) = run_under_gdb(
        "11_async_fn_is_a_state_machine",
        &[
            "info types async_fn_env",
            "break '11_async_fn_is_a_state_machine::{impl#1}::poll'",
            "run",
            "bt",
            "up 2",
            "print *future.pointer",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "coroutine_a::{async_fn_env#0}::Suspend1");
    assert_contains(
        &output,
        "Breakpoint 1, 11_async_fn_is_a_state_machine::{impl#1}::poll",
    );
    assert_contains(
        &output,
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn#0}",
    );
    assert_contains(&output, "coroutine_a::{async_fn_env#0}::Unresumed");
}

/// Lesson 02: five first polls, then the loop blocks in the reactor with no timeout (only a
/// socket can wake it). The chapter's `wait.gdb` script, run as the chapter says.
#[test]
#[cfg(feature = "lessons")] // the lesson starts the slow-sites server
fn lesson_02_waits_for_all_sockets_in_one_reactor_wait() {
    let script = std::env::temp_dir().join(format!("miniloop-wait-{}.gdb", std::process::id()));
    std::fs::write(
        &script,
        "break 02_concurrent_requests::main\nrun\n\
         break miniloop::event_loop::Core::poll_task thread 1\ncommands\nsilent\n\
         printf \"poll_task: \"\nprint key\ncontinue\nend\n\
         break miniloop::reactor::Reactor::wait thread 1\ncommands\nsilent\n\
         printf \"wait, timeout: \"\nprint timeout\ncontinue\nend\ncontinue\n",
    )
    .expect("the temp dir should be writable");
    let source = format!("source {}", script.display());
    let output = run_under_gdb("02_concurrent_requests", &[&source]);
    let _ = std::fs::remove_file(&script);
    let Some(output) = output else { return };
    for slot in 0..5 {
        assert_contains(
            &output,
            &format!("TaskKey {{index: {slot}, generation: 0}}"),
        );
    }
    assert_contains(&output, "wait, timeout: ");
    assert_contains(&output, "Option<core::time::Duration>::None");
    assert_contains(&output, "Requested facebook");
}

/// The value gdb printed for history entry `$number` (`$6 = 8` gives `8`).
fn gdb_value(output: &str, number: usize) -> &str {
    let prefix = format!("${number} = ");
    let line = output
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("gdb printed no {prefix:?}:\n{output}"));
    &line[prefix.len()..]
}

/// The address at the end of a pointer gdb printed: `(*mut u64) 0x5555555cfae8`.
fn gdb_address(value: &str) -> u64 {
    let hex = value
        .rsplit("0x")
        .next()
        .and_then(|tail| tail.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {value:?}"));
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("no address in {value:?}"))
}

/// Lesson 28: the chapter's recipe prints, from inside the state machine, where `local` is and
/// where the reference kept across the `.await` points; both are the same address, inside the
/// pinned future, at the offset the lesson itself prints (`byte N of …`).
#[test]
fn lesson_28_shows_the_reference_inside_the_state_machine() {
    let Some(output) = run_under_gdb(
        "28_pin_shown",
        &[
            "break 28_pin_shown::note_reference",
            "run",
            "up",
            "print &local",
            "print reference",
            "print reference == &local",
            "up",
            "print future.pointer",
            "print *future.pointer",
            "print ((*future.pointer).reference as u64) - (future.pointer as u64)",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "Breakpoint 1, 28_pin_shown::note_reference");
    assert_contains(&output, "28_pin_shown::borrow_across_await::{async_fn#0}");
    let local = gdb_address(gdb_value(&output, 1));
    let reference = gdb_address(gdb_value(&output, 2));
    assert_eq!(local, reference, "{output}");
    assert_eq!(gdb_value(&output, 3), "true", "{output}");
    let future = gdb_address(gdb_value(&output, 4));
    let state = gdb_value(&output, 5);
    assert!(
        state.contains("::Suspend0{") && state.contains("local: 7"),
        "the state machine, paused at its `.await`, holding `local`:\n{output}"
    );
    let offset: u64 = gdb_value(&output, 6)
        .parse()
        .unwrap_or_else(|_| panic!("an offset in bytes:\n{output}"));
    assert_eq!(reference, future + offset, "{output}");
    // The lesson printed the same offset itself, before the breakpoint.
    assert_contains(
        &output,
        &format!("inside the future: yes (byte {offset} of "),
    );
}

/// The line of backtrace frame `number` (`#3  0x… in name (…) at …`), without its address.
fn frame(output: &str, number: usize) -> &str {
    let prefix = format!("#{number} ");
    let line = output
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("gdb printed no frame #{number}:\n{output}"));
    let line = line[prefix.len()..].trim_start();
    match line.split_once(" in ") {
        Some((address, rest)) if address.starts_with("0x") => rest,
        _ => line,
    }
}

/// Chapter 13, "Watch it run": the backtrace at the countdown's first poll, `key`, the main
/// future from frame 3, and the countdown's future through its copy of `poll_future` (the
/// `TaskRef` is a `dyn` gdb cannot see through), first `Unresumed`, then paused in its loop.
#[test]
fn lesson_13_chapter_poll_task_backtrace_and_both_futures() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break miniloop::event_loop::Core::poll_task",
            "run",
            "bt",
            "print key",
            "frame 3",
            "print *future.pointer",
            "break 'miniloop::task::Task<13_real_event_loop::countdown::{async_fn_env#0}>::poll_future<13_real_event_loop::countdown::{async_fn_env#0}>'",
            "continue",
            "print self.ptr.pointer.data.future.value",
            "delete 1",
            "continue",
            "print self.ptr.pointer.data.future.value",
        ],
    ) else {
        return;
    };
    let expected_frames = [
        "miniloop::event_loop::Core::poll_task (self=",
        "miniloop::event_loop::Core::run_task (self=",
        "miniloop::event_loop::Core::run_ready_tasks (self=",
        "miniloop::event_loop::Core::run_until_complete<13_real_event_loop::main_task::{async_fn_env#0}> (self=",
        "miniloop::event_loop::EventLoop::run_until_complete<13_real_event_loop::main_task::{async_fn_env#0}> (self=",
        "13_real_event_loop::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number} should be {expected:?}:\n{output}"
        );
    }
    assert!(frame(&output, 0).contains("key=..., task=...)"), "{output}");
    assert_eq!(
        gdb_value(&output, 1),
        "miniloop::waker::TaskKey {index: 0, generation: 0}"
    );
    let main = gdb_value(&output, 2);
    assert!(
        main.starts_with(
            "13_real_event_loop::main_task::{async_fn_env#0}::Suspend0{countdown_handle: \
             miniloop::task::join_handle::JoinHandle<()> {"
        ) && main.contains("__awaitee: miniloop::time::Sleep {deadline: ")
            && main.contains("seq: 0, registration: miniloop::time::Filing::Filed(")
            && main.contains("TimerKey {slot: 0, seq: 0}"),
        "{output}"
    );
    assert_eq!(
        gdb_value(&output, 3),
        "core::option::Option<13_real_event_loop::countdown::{async_fn_env#0}>::Some(\
         13_real_event_loop::countdown::{async_fn_env#0}::Unresumed)"
    );
    let paused = gdb_value(&output, 4);
    for expected in [
        "countdown::{async_fn_env#0}::Suspend0{iter: ",
        "RangeInclusive<i32> {start: 1, end: 9, exhausted: false}}",
        "count: 10, __awaitee: miniloop::time::Sleep {",
        "seq: 1, ",
    ] {
        assert!(paused.contains(expected), "{expected:?} in:\n{output}");
    }
}

/// Chapter 13: at the countdown's third poll (2 s in), the main future, from frame 3, holds
/// its whole chain of awaits: `main_task` in `do_stuff` in `do_more_stuff` in a `Sleep`.
#[test]
fn lesson_13_chapter_main_future_shows_its_chain_of_awaits() {
    let Some(output) = run_under_gdb_with(
        "13_real_event_loop",
        "0.1",
        &[],
        &[
            "break miniloop::event_loop::Core::poll_task",
            "ignore 1 2",
            "run",
            "frame 3",
            "print *future.pointer",
        ],
    ) else {
        return;
    };
    let main = gdb_value(&output, 1);
    assert!(
        main.starts_with(
            "13_real_event_loop::main_task::{async_fn_env#0}::Suspend1{countdown_handle: "
        ) && main.contains(
            "__awaitee: 13_real_event_loop::do_stuff::{async_fn_env#0}::Suspend1{__awaitee: \
                 13_real_event_loop::do_more_stuff::{async_fn_env#0}::Suspend0{__awaitee: \
                 miniloop::time::Sleep {"
        ),
        "{output}"
    );
}

/// Chapter 13 and docs/debugging.md: `park_timeout` has no arguments gdb can show; one frame
/// up, `wait_for_work`'s `timeout` is the time to the first deadline (0.5 s at 0.01: 5 ms,
/// less what the start took).
#[test]
fn park_timeout_breakpoint_shows_how_long_the_loop_sleeps() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break std::thread::functions::park_timeout",
            "run",
            "info args",
            "frame 1",
            "print timeout",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "No arguments.");
    assert!(
        frame(&output, 1).starts_with("miniloop::event_loop::Core::wait_for_work (self="),
        "{output}"
    );
    let timeout = gdb_value(&output, 1);
    let nanos: u64 = timeout
        .strip_prefix("core::time::Duration {secs: 0, nanos: core::num::niche_types::Nanoseconds (")
        .and_then(|rest| rest.strip_suffix(")}"))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a Duration under a second:\n{output}"));
    assert!(
        (1_000_000..=5_000_000).contains(&nanos),
        "about 5 ms: {nanos} ns\n{output}"
    );
}

/// How often `info breakpoints` says breakpoint `number` was hit.
fn hits(output: &str, number: usize) -> usize {
    let mut lines = output.lines();
    let prefix = format!("{number} ");
    lines
        .find(|line| line.starts_with(&prefix) && line.contains("breakpoint"))
        .unwrap_or_else(|| panic!("no breakpoint {number} in `info breakpoints`:\n{output}"));
    let line = lines.next().unwrap_or_default().trim();
    line.strip_prefix("breakpoint already hit ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("breakpoint {number}'s hit count:\n{output}"))
}

/// The `count.gdb` of chapter 13, at scale 0.1 as the chapter runs it: 11 polls, 13 waits,
/// 26 polls of a `Sleep`.
#[test]
fn lesson_13_chapter_count_gdb_counts_polls_waits_and_sleeps() {
    let script = "set pagination off\n\
                  break miniloop::event_loop::Core::poll_task\ncommands\nsilent\ncontinue\nend\n\
                  break std::thread::functions::park_timeout\ncommands\nsilent\ncontinue\nend\n\
                  break miniloop::time::poll_sleep\ncommands\nsilent\ncontinue\nend\n\
                  run\ninfo breakpoints\n";
    let Some(output) = run_gdb_script("13_real_event_loop", "0.1", script) else {
        return;
    };
    assert_contains(&output, "Main is exiting");
    assert_eq!(hits(&output, 1), 11, "poll_task:\n{output}");
    // 13 waits on a quiet machine; under load a wait can end late, when two deadlines are
    // due, and then one wait covers both (the chapter says so).
    let waits = hits(&output, 2);
    assert!(
        (10..=13).contains(&waits),
        "park_timeout {waits} times:\n{output}"
    );
    assert_eq!(hits(&output, 3), 26, "poll_sleep:\n{output}");
}

/// Chapter 13's tokio twin: 11 polls at tokio's poll site too, and 37 frames between `main`
/// and the countdown's body where miniloop has 17.
#[test]
fn lesson_13_tokio_twin_polls_as_often_with_a_deeper_stack() {
    let script = "set pagination off\n\
                  break tokio::runtime::task::raw::RawTask::poll\ncommands\nsilent\ncontinue\nend\n\
                  run\ninfo breakpoints\n";
    let Some(output) = run_gdb_script("13_real_event_loop_tokio", "0.1", script) else {
        return;
    };
    assert_eq!(hits(&output, 1), 11, "RawTask::poll:\n{output}");
    let frames = |example: &str| {
        let body = format!("break '{example}::countdown::{{async_fn#0}}'");
        let output = run_under_gdb_with(example, "0.1", &[], &[&body, "run", "bt"])
            .expect("gdb ran a moment ago");
        let count = output.lines().filter(|line| line.starts_with('#')).count();
        assert!(
            frame(&output, count - 1).starts_with(&format!("{example}::main ()")),
            "{output}"
        );
        count
    };
    assert_eq!(frames("13_real_event_loop_tokio"), 37);
    assert_eq!(frames("13_real_event_loop"), 17);
}

/// Chapter 19: the plain hit is polled by the loop's turn, the eager hit by `spawn_eager`,
/// through the same `Core::poll_task`, at the frame numbers the chapter shows.
#[test]
fn lesson_19_plain_and_eager_hits_are_polled_from_the_turn_and_the_spawner() {
    let Some(output) = run_under_gdb(
        "19_sync_first",
        &[
            "break 19_sync_first::cached_count",
            "run",
            "bt",
            "continue",
            "bt",
        ],
    ) else {
        return;
    };
    let (plain, eager) = output
        .split_once("\n#0 ")
        .and_then(|(_, rest)| rest.split_once("\n#0 "))
        .map(|(plain, eager)| (format!("#0 {plain}"), format!("#0 {eager}")))
        .unwrap_or_else(|| panic!("two backtraces:\n{output}"));
    for backtrace in [&plain, &eager] {
        assert!(
            frame(backtrace, 0).starts_with("19_sync_first::cached_count (cache=0x")
                && frame(backtrace, 0).contains("course=\"rust\") at examples/19_sync_first.rs:41"),
            "{output}"
        );
        assert!(
            frame(backtrace, 1).starts_with(
                "19_sync_first::count_students::{async_fn#0} () at examples/19_sync_first.rs:57"
            ),
            "{output}"
        );
        assert!(
            frame(backtrace, 12).starts_with("miniloop::event_loop::Core::poll_task (self=")
                && frame(backtrace, 12).contains("key=..., task=...)"),
            "{output}"
        );
    }
    assert!(frame(&plain, 13).starts_with("miniloop::event_loop::Core::run_task (self="));
    assert!(frame(&plain, 14).starts_with("miniloop::event_loop::Core::run_ready_tasks (self="));
    assert!(frame(&eager, 13).starts_with(
        "miniloop::event_loop::Core::spawn_eager<19_sync_first::count_students::{async_fn_env#0}> ("
    ));
    assert!(frame(&eager, 19).starts_with(
        "miniloop::sync_first::spawn_eager<19_sync_first::count_students::{async_fn_env#0}> (future="
    ));
    assert!(frame(&eager, 20).starts_with(
        "19_sync_first::eager_spawns::{async_fn#0} () at examples/19_sync_first.rs:95"
    ));
}

/// Chapter 18, with 100 waiters passed through gdb's `--args`: while 100 tasks wait, the
/// process has one thread; while 100 threads wait, it has 101.
#[test]
fn lesson_18_one_thread_for_the_tasks_one_per_waiting_thread() {
    let Some(output) = run_under_gdb_with(
        "18_waiting_costs_no_thread",
        "0.01",
        &["100"],
        &[
            "break 18_waiting_costs_no_thread::read_memory",
            "run",
            "continue",
            "info threads",
            "continue",
            "continue",
            "python print(len(gdb.selected_inferior().threads()))",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "100 waiters, each waiting the same time");
    let listed: Vec<&str> = output
        .lines()
        // `info threads` rows, not gdb's `[New Thread 0x… (LWP …)]` notes.
        .filter(|line| !line.starts_with('[') && line.contains(" Thread 0x"))
        .collect();
    assert_eq!(
        listed.len(),
        1,
        "one thread while the tasks wait:\n{output}"
    );
    assert!(listed[0].starts_with("* 1 "), "{output}");
    assert!(
        output.lines().any(|line| line.trim() == "101"),
        "the main thread and 100 waiting threads:\n{output}"
    );
}

/// Checks that `expected` appear in `output` in this order.
fn assert_in_order(output: &str, expected: &[&str]) {
    let mut rest = output;
    for wanted in expected {
        match rest.find(wanted) {
            Some(at) => rest = &rest[at + wanted.len()..],
            None => {
                panic!("gdb output should contain {wanted:?} after the lines before it:\n{output}")
            }
        }
    }
}

/// Chapter 01: the lesson's thread blocks in `recv` inside `blocking_get` while the server's
/// thread polls the connection's task.
#[test]
#[cfg(feature = "lessons")] // the lesson starts the slow-sites server
fn lesson_01_the_lesson_waits_in_recv_while_the_server_polls() {
    let run = || {
        run_under_gdb_with(
            "01_blocking_requests",
            "0.2",
            &[],
            &[
                "break 01_blocking_requests::blocking_get",
                "run",
                "break miniloop::event_loop::Core::poll_task",
                "continue",
                "thread apply 1 bt",
            ],
        )
    };
    let Some(mut output) = run() else {
        return;
    };
    // The server's first poll of the connection can come while the lesson is still sending
    // its request (the chapter says so): on a loaded machine, try again, at most twice.
    for _ in 0..2 {
        if output.contains("#0  __libc_recv (") {
            break;
        }
        output = run().expect("gdb ran a moment ago");
    }
    assert_in_order(
        &output,
        &[
            "hit Breakpoint 1, 01_blocking_requests::blocking_get (url=\"http://127.0.0.1:",
            "/google\")",
            "Thread 2 \"slow-sites\" hit Breakpoint 2, miniloop::event_loop::Core::poll_task (",
            "Thread 1 (Thread ",
            "\"01_blocking_req\"):",
            "#0  __libc_recv (",
            "std::io::Read::read_to_end<std::net::tcp::TcpStream> (",
            "01_blocking_requests::blocking_get (url=\"http://127.0.0.1:",
            "01_blocking_requests::request_page (",
            "01_blocking_requests::request_all (urls=Vec(size=5) = {...}",
            "01_blocking_requests::main ()",
        ],
    );
}

/// Chapter 03: `print *self` shows the request, the third stop has handed out two answers,
/// `bt` is the program's three frames, `finish` shows `Waiting`.
#[test]
fn lesson_03_a_request_is_a_list_of_answers() {
    let Some(output) = run_under_gdb(
        "03_waiting_list",
        &[
            "break 03_waiting_list::Request::poll",
            "run",
            "print *self",
            "continue",
            "continue",
            "print self.position",
            "bt",
            "finish",
        ],
    ) else {
        return;
    };
    assert!(
        gdb_value(&output, 1).starts_with(
            "03_waiting_list::Request {name: \"request one\", answers: Vec(size=4) = \
             {03_waiting_list::Progress::Waiting, "
        ) && gdb_value(&output, 1).ends_with("position: 0}"),
        "{output}"
    );
    assert_eq!(gdb_value(&output, 2), "2");
    assert!(frame(&output, 0).starts_with("03_waiting_list::Request::poll (self="));
    assert!(frame(&output, 1).starts_with("03_waiting_list::wait_for_result (request="));
    assert!(frame(&output, 2).starts_with("03_waiting_list::main ()"));
    assert_contains(
        &output,
        "Value returned is $3 = 03_waiting_list::Progress::Waiting",
    );
}

/// The `commands` block of chapters 04 and 05: print `self.name` at every poll.
fn names_at_every_poll(example: &str) -> Option<String> {
    let script = format!(
        "break {example}::Request::poll\ncommands\nsilent\nprint self.name\ncontinue\nend\nrun\n"
    );
    run_gdb_script(example, "0.01", &script)
}

/// Chapter 04: four polls of request one, then two of request two.
#[test]
fn lesson_04_request_two_waits_for_request_one() {
    let Some(output) = names_at_every_poll("04_one_at_a_time") else {
        return;
    };
    assert_in_order(
        &output,
        &[
            "$1 = \"request one\"",
            "$2 = \"request one\"",
            "$3 = \"request one\"",
            "$4 = \"request one\"",
            "Request One!!!",
            "$5 = \"request two\"",
            "$6 = \"request two\"",
            "Request Two!!!",
        ],
    );
    assert!(!output.contains("$7 = "), "{output}");
}

/// Chapter 05: the names alternate until request two is done.
#[test]
fn lesson_05_the_polls_alternate() {
    let Some(output) = names_at_every_poll("05_interleaving") else {
        return;
    };
    assert_in_order(
        &output,
        &[
            "$1 = \"request one\"",
            "$2 = \"request two\"",
            "$3 = \"request one\"",
            "$4 = \"request two\"",
            "Request Two!!!",
            "$5 = \"request one\"",
            "$6 = \"request one\"",
            "Request One!!!",
        ],
    );
    assert!(!output.contains("$7 = "), "{output}");
}

/// Chapter 06: the greeter is `NotStarted`, then `PausedAfterHello`; `Starting` comes before
/// the first stop, `Hello` after it.
#[test]
fn lesson_06_the_paused_function_is_one_variant() {
    let Some(output) = run_under_gdb(
        "06_resumable_function",
        &[
            "break 06_resumable_function::Greeter::resume",
            "run",
            "print *self",
            "continue",
            "print *self",
        ],
    ) else {
        return;
    };
    assert_in_order(
        &output,
        &[
            "Starting",
            "Breakpoint 1, 06_resumable_function::Greeter::resume (self=0x",
            "$1 = 06_resumable_function::Greeter::NotStarted",
            "Hello",
            "Paused",
            "Breakpoint 1, 06_resumable_function::Greeter::resume (self=0x",
            "$2 = 06_resumable_function::Greeter::PausedAfterHello",
        ],
    );
}

/// Chapter 07: `main` resumes A, A resumes B; A holds B, at the same address.
#[test]
fn lesson_07_the_backtrace_is_the_delegation_chain() {
    let Some(output) = run_under_gdb(
        "07_delegation",
        &[
            "break 07_delegation::MachineB::resume",
            "run",
            "bt",
            "up",
            "print *self",
            "continue",
            "up",
            "print *self",
        ],
    ) else {
        return;
    };
    assert!(frame(&output, 0).starts_with("07_delegation::MachineB::resume (self=0x"));
    assert!(frame(&output, 1).starts_with("07_delegation::MachineA::resume (self=0x"));
    assert!(frame(&output, 2).starts_with("07_delegation::main ()"));
    let address = |frame: &str| frame.split(')').next().unwrap_or_default().to_owned();
    assert_eq!(
        address(frame(&output, 0)).replace("MachineB", "MachineA"),
        address(frame(&output, 1)),
        "B sits at the start of A:\n{output}"
    );
    assert_eq!(
        gdb_value(&output, 1),
        "07_delegation::MachineA::PausedInsideB(07_delegation::MachineB::NotStarted)"
    );
    assert_in_order(&output, &["$1 = ", "Main got \"Yielded From B\"", "$2 = "]);
    assert_eq!(
        gdb_value(&output, 2),
        "07_delegation::MachineA::PausedInsideB(07_delegation::MachineB::PausedAfterYield)"
    );
}

/// Chapter 08: `next` (`{impl#1}`) calls `resume`; the counter keeps its number in its
/// variant.
#[test]
fn lesson_08_next_calls_resume() {
    let Some(output) = run_under_gdb(
        "08_machines_are_iterators",
        &[
            "break 08_machines_are_iterators::Counter::resume",
            "run",
            "bt",
            "print *self",
            "continue",
            "continue",
            "print *self",
        ],
    ) else {
        return;
    };
    assert!(frame(&output, 0).starts_with("08_machines_are_iterators::Counter::resume (self=0x"));
    assert!(frame(&output, 1).starts_with("08_machines_are_iterators::{impl#1}::next (self=0x"));
    assert!(frame(&output, 2).starts_with("08_machines_are_iterators::main ()"));
    assert_eq!(
        gdb_value(&output, 1),
        "08_machines_are_iterators::Counter::NotStarted"
    );
    assert_in_order(
        &output,
        &[
            "$1 = ",
            "Yielding 0",
            "main got 0",
            "Yielding 1",
            "main got 1",
            "$2 = ",
        ],
    );
    assert_eq!(
        gdb_value(&output, 2),
        "08_machines_are_iterators::Counter::PausedAfterYield{number: 1}"
    );
}

/// Chapter 09: the fourth stop is request two about to finish; `process` is called from
/// `main`, whose queue holds the other request meanwhile.
#[test]
fn lesson_09_each_request_is_one_enum_value() {
    let Some(output) = run_under_gdb(
        "09_interleaved_machines",
        &[
            "break 09_interleaved_machines::Request::resume",
            "run",
            "print *self",
            "continue",
            "print *self",
            "continue",
            "continue",
            "print *self",
            "bt",
            "delete",
            "break 09_interleaved_machines::process",
            "run",
            "up",
            "print run_queue",
        ],
    ) else {
        return;
    };
    assert_eq!(
        gdb_value(&output, 1),
        "09_interleaved_machines::Request::NotStarted{waits: 3, reply: \"Request One!!!\"}"
    );
    assert_eq!(
        gdb_value(&output, 2),
        "09_interleaved_machines::Request::NotStarted{waits: 1, reply: \"Request Two!!!\"}"
    );
    assert_eq!(
        gdb_value(&output, 3),
        "09_interleaved_machines::Request::PausedAtWait{waits_done: 1, waits: 1, reply: \"Request Two!!!\"}"
    );
    assert!(frame(&output, 1).starts_with("09_interleaved_machines::process ("));
    assert!(frame(&output, 2).starts_with("09_interleaved_machines::main ()"));
    assert_eq!(
        gdb_value(&output, 4),
        "VecDeque(size=1) = {09_interleaved_machines::Request::NotStarted{waits: 1, reply: \"Request Two!!!\"}}"
    );
}

/// Chapter 10: A holds B, five waits in after four skipped stops; B's resume runs inside A's
/// `forward_to_b`.
#[test]
fn lesson_10_a_holds_b_and_b_runs_inside_a() {
    let Some(output) = run_under_gdb(
        "10_counting_waits",
        &[
            "break 10_counting_waits::CoroutineA::forward_to_b",
            "run",
            "print *self",
            "ignore 1 4",
            "continue",
            "print *self",
            "delete",
            "break 10_counting_waits::CoroutineB::resume",
            "run",
            "bt",
        ],
    ) else {
        return;
    };
    assert_eq!(
        gdb_value(&output, 1),
        "10_counting_waits::CoroutineA::DelegatingToB{coroutine_b: 10_counting_waits::CoroutineB::NotStarted}"
    );
    assert_eq!(
        gdb_value(&output, 2),
        "10_counting_waits::CoroutineA::DelegatingToB{coroutine_b: 10_counting_waits::CoroutineB::PausedInLoop{waits_done: 5}}"
    );
    let expected_frames = [
        "10_counting_waits::CoroutineB::resume (self=",
        "10_counting_waits::CoroutineA::forward_to_b (self=",
        "10_counting_waits::CoroutineA::resume (self=",
        "10_counting_waits::run_counting_waits (routine=",
        "10_counting_waits::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number} should be {expected:?}:\n{output}"
        );
    }
}

/// Chapter 11, the whole session: the compiler's variants, the first stop (`Unresumed`, though
/// running), the second (`Suspend0` around A's `Sleep`), and after `ignore 1 6`, B's third
/// poll inside A, one `print` showing the chain.
#[test]
fn lesson_11_chapter_walks_from_a_into_b() {
    let Some(output) = run_under_gdb(
        "11_async_fn_is_a_state_machine",
        &[
            "info types async_fn_env",
            "break '11_async_fn_is_a_state_machine::{impl#1}::poll'",
            "run",
            "bt",
            "up 2",
            "print *future.pointer",
            "continue",
            "print *self.pointer",
            "up 2",
            "print *future.pointer",
            "ignore 1 6",
            "continue",
            "bt",
            "up 3",
            "print *future.pointer",
        ],
    ) else {
        return;
    };
    for variant in ["Panicked", "Returned", "Suspend0", "Suspend1", "Unresumed"] {
        assert_contains(
            &output,
            &format!("11_async_fn_is_a_state_machine::coroutine_a::{{async_fn_env#0}}::{variant};"),
        );
    }
    assert!(
        !output.contains("coroutine_b::{async_fn_env#0}::Suspend1"),
        "{output}"
    );
    let (first, deep) = output
        .split_once("\n#0 ")
        .and_then(|(_, rest)| rest.split_once("\n#0 "))
        .map(|(first, deep)| (format!("#0 {first}"), format!("#0 {deep}")))
        .unwrap_or_else(|| panic!("two backtraces:\n{output}"));
    let (first, deep) = (first.as_str(), deep.as_str());
    let expected_frames = [
        "11_async_fn_is_a_state_machine::{impl#1}::poll (self=..., _context=",
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn#0} ()",
        "11_async_fn_is_a_state_machine::block_on<11_async_fn_is_a_state_machine::coroutine_a::{async_fn_env#0}> (future=...)",
        "11_async_fn_is_a_state_machine::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(first, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert_eq!(
        gdb_value(&output, 1),
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn_env#0}::Unresumed"
    );
    assert_eq!(
        gdb_value(&output, 2),
        "11_async_fn_is_a_state_machine::Sleep {cycles_left: 4}"
    );
    assert_eq!(
        gdb_value(&output, 3),
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn_env#0}::Suspend0{__awaitee: \
         11_async_fn_is_a_state_machine::Sleep {cycles_left: 4}}"
    );
    let expected_frames = [
        "11_async_fn_is_a_state_machine::{impl#1}::poll (self=..., _context=",
        "11_async_fn_is_a_state_machine::coroutine_b::{async_fn#0} ()",
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn#0} ()",
        "11_async_fn_is_a_state_machine::block_on<11_async_fn_is_a_state_machine::coroutine_a::{async_fn_env#0}> (future=...)",
        "11_async_fn_is_a_state_machine::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(deep, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert_eq!(
        gdb_value(&output, 4),
        "11_async_fn_is_a_state_machine::coroutine_a::{async_fn_env#0}::Suspend1{__awaitee: \
         11_async_fn_is_a_state_machine::coroutine_b::{async_fn_env#0}::Suspend0{__awaitee: \
         11_async_fn_is_a_state_machine::Sleep {cycles_left: 8}}}"
    );
}

/// Chapter 12: task 1's and task 2's first polls, then a stop at the 500th poll of task 1,
/// called by the loop, and `finish` showing that it was still waiting.
#[test]
fn lesson_12_every_poll_goes_through_poll_task() {
    let Some(output) = run_under_gdb_with(
        "12_busy_event_loop",
        "0.05",
        &[],
        &[
            "break 12_busy_event_loop::poll_task",
            "run",
            "print task.task_id",
            "continue",
            "print task.task_id",
            "print task.polls",
        ],
    ) else {
        return;
    };
    assert_eq!(gdb_value(&output, 1), "1");
    assert_eq!(gdb_value(&output, 2), "2");
    assert_eq!(gdb_value(&output, 3), "0");
}

/// Chapter 12 and docs/debugging.md: a conditional breakpoint reaches the 500th poll at once.
/// At scale 1.0, as both say: gdb checks the condition at every poll, and at 0.05 a loaded
/// machine ended the program first.
#[test]
fn lesson_12_the_500th_poll_is_still_waiting() {
    let Some(output) = run_under_gdb_with(
        "12_busy_event_loop",
        "1",
        &[],
        &[
            "break 12_busy_event_loop::poll_task if task.polls == 500",
            "run",
            "print task.task_id",
            "bt",
            "finish",
        ],
    ) else {
        return;
    };
    assert_eq!(gdb_value(&output, 1), "1");
    assert!(frame(&output, 0).starts_with("12_busy_event_loop::poll_task (task="));
    assert!(frame(&output, 1).starts_with(
        "12_busy_event_loop::EventLoop::run_until_complete<12_busy_event_loop::main_task::{async_fn_env#0}> (self="
    ));
    assert!(frame(&output, 2).starts_with("12_busy_event_loop::main ()"));
    assert_contains(
        &output,
        "Value returned is $2 = 12_busy_event_loop::PollOutcome::Waiting",
    );
}

/// The backtraces gdb printed, in order, each from its `#0` line on.
fn backtraces(output: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for line in output.lines() {
        if line.starts_with("#0 ") {
            found.push(String::new());
        }
        if let Some(current) = found.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    found
}

/// Chapter 14: the seventh stop in `fetch_profile`'s body is inside a task of the gathered run;
/// the first is in the sequential run, which has no task.
#[test]
fn lesson_14_the_gathered_run_polls_tasks_the_sequential_run_none() {
    let body = "break '14_sequential_vs_gather::fetch_profile::{async_fn#0}'";
    let Some(output) = run_under_gdb("14_sequential_vs_gather", &[body, "run", "bt"]) else {
        return;
    };
    let first = &backtraces(&output)[0];
    assert_in_order(
        first,
        &[
            "14_sequential_vs_gather::load_user::{async_fn#0} ()",
            "14_sequential_vs_gather::load_one_by_one::{async_fn#0} ()",
            "miniloop::event_loop::Core::run_until_complete<",
        ],
    );
    assert!(!first.contains("poll_task"), "{output}");
    let output = run_under_gdb(
        "14_sequential_vs_gather",
        &[body, "ignore 1 6", "run", "bt"],
    )
    .expect("gdb ran a moment ago");
    let expected_frames = [
        (0, "14_sequential_vs_gather::fetch_profile::{async_fn#0} () at examples/14_sequential_vs_gather.rs:70"),
        (1, "14_sequential_vs_gather::load_user::{async_fn#0} () at examples/14_sequential_vs_gather.rs:83"),
        (2, "miniloop::task::Task<14_sequential_vs_gather::load_user::{async_fn_env#0}>::poll_future<14_sequential_vs_gather::load_user::{async_fn_env#0}> (self="),
        (12, "miniloop::event_loop::Core::poll_task (self="),
        (13, "miniloop::event_loop::Core::run_task (self="),
        (14, "miniloop::event_loop::Core::run_ready_tasks (self="),
    ];
    for (number, expected) in expected_frames {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    let script = "set pagination off\n\
                  break '14_sequential_vs_gather::fetch_profile::{async_fn#0}'\n\
                  commands\nsilent\ncontinue\nend\n\
                  break miniloop::event_loop::Core::poll_task\ncommands\nsilent\ncontinue\nend\n\
                  run\ninfo breakpoints\n";
    let output =
        run_gdb_script("14_sequential_vs_gather", "0.01", script).expect("gdb ran a moment ago");
    assert_eq!(hits(&output, 1), 18, "fetch_profile's body:\n{output}");
    assert_eq!(hits(&output, 2), 9, "poll_task:\n{output}");
}

/// Chapter 15: part 1 blocks inside the blocker's poll on the loop's thread; part 2 on a pool
/// thread while the loop's thread waits in `park_timeout`, called from `wait_for_work`.
#[test]
#[cfg(feature = "observe")] // frame 12 is `poll_task_observed`, which `observe` adds
fn lesson_15_the_blocking_call_runs_on_the_loop_then_on_the_pool() {
    let Some(output) = run_under_gdb_with(
        "15_blocking_inside_async",
        "0.1",
        &[],
        &[
            "break 15_blocking_inside_async::block_the_thread",
            "run",
            "bt",
            "continue",
            "info threads",
            "thread 1",
            "bt 6",
            "thread 2",
            "bt",
        ],
    ) else {
        return;
    };
    let traces = backtraces(&output);
    let part_1 = &traces[0];
    let expected_frames = [
        (0, "15_blocking_inside_async::block_the_thread (duration=...) at examples/15_blocking_inside_async.rs:78"),
        (1, "15_blocking_inside_async::block_inline::{async_fn#0} () at examples/15_blocking_inside_async.rs:85"),
        (2, "miniloop::task::Task<15_blocking_inside_async::block_inline::{async_fn_env#0}>::poll_future<15_blocking_inside_async::block_inline::{async_fn_env#0}> (self="),
        // The lesson's loop watches for slow polls: the poll goes through the timed path.
        (12, "miniloop::event_loop::Core::poll_task_observed (self="),
        (13, "miniloop::event_loop::Core::poll_task (self="),
    ];
    for (number, expected) in expected_frames {
        assert!(
            frame(part_1, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert_contains(
        &output,
        "Thread 2 \"miniloop-blocki\" hit Breakpoint 1, 15_blocking_inside_async::block_the_thread",
    );
    // `thread N` prints the thread's frame #0 too: the backtraces are part 1's, `thread 1`'s
    // line, `bt 6`, `thread 2`'s line and `bt`.
    let loop_thread = &traces[traces.len() - 3];
    // Parked until the next tick; or, when gdb stops it the moment the pool thread starts,
    // still in `clone3`, starting it (the chapter says both).
    if !loop_thread.starts_with("#0  clone3 ()") {
        assert_in_order(
            loop_thread,
            &[
                "std::thread::functions::park_timeout",
                "miniloop::event_loop::Core::wait_for_work (self=",
            ],
        );
    }
    let pool_thread = traces.last().expect("`bt` printed a backtrace");
    assert_in_order(
        pool_thread,
        &[
            "15_blocking_inside_async::block_the_thread (",
            "miniloop::blocking::run_job<",
            "miniloop::blocking::Pool::work (",
        ],
    );
}

/// Chapter 16: three stops in `greeting_blocking`: plain code, inside a task's poll (where
/// `run` is refused), and on a pool thread.
#[test]
fn lesson_16_the_bridge_from_plain_code_a_task_and_the_pool() {
    let Some(output) = run_under_gdb(
        "16_async_inside_sync",
        &[
            "break 16_async_inside_sync::greeting_blocking",
            "run",
            "bt 3",
            "continue",
            "bt 14",
            "continue",
            "info threads",
        ],
    ) else {
        return;
    };
    let traces = backtraces(&output);
    let plain = &traces[0];
    assert!(frame(plain, 0).starts_with(
        "16_async_inside_sync::greeting_blocking () at examples/16_async_inside_sync.rs:"
    ));
    assert!(frame(plain, 1).starts_with("16_async_inside_sync::from_plain_code () at"));
    assert!(frame(plain, 2).starts_with("16_async_inside_sync::main () at"));
    let in_a_task = &traces[1];
    let expected_frames = [
        (0, "16_async_inside_sync::greeting_blocking () at examples/16_async_inside_sync.rs:34"),
        (1, "16_async_inside_sync::from_inside_a_task::{async_fn#0}::{async_block#0} () at examples/16_async_inside_sync.rs:46"),
        (2, "miniloop::task::Task<"),
        (12, "miniloop::event_loop::Core::poll_task (self="),
        (13, "miniloop::event_loop::Core::run_task (self="),
    ];
    for (number, expected) in expected_frames {
        assert!(
            frame(in_a_task, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert!(frame(in_a_task, 2).contains(">::poll_future<"), "{output}");
    assert_contains(
        &output,
        "Thread 2 \"miniloop-blocki\" hit Breakpoint 1, 16_async_inside_sync::greeting_blocking",
    );
    assert_contains(&output, "* 2    Thread ");
}

/// Chapter 17: the inline sum runs on the loop's thread, the next on a pool thread.
#[test]
fn lesson_17_the_inline_sum_on_the_loop_the_next_on_the_pool() {
    let Some(output) = run_under_gdb(
        "17_cpu_bound_work",
        &[
            "break 17_cpu_bound_work::sum_of_squares",
            "run",
            "print count",
            "info threads",
            "continue",
            "info threads",
        ],
    ) else {
        return;
    };
    assert_contains(
        &output,
        "Breakpoint 1, 17_cpu_bound_work::sum_of_squares (count=200000) at examples/17_cpu_bound_work.rs:76",
    );
    assert_eq!(gdb_value(&output, 1), "200000");
    let rows: Vec<&str> = output
        .lines()
        .filter(|line| !line.starts_with('[') && line.contains(" Thread 0x"))
        .collect();
    assert!(
        rows.iter().any(|row| row.starts_with("* 1 ")
            && row
                .contains("\"17_cpu_bound_wo\" 17_cpu_bound_work::sum_of_squares (count=200000)")),
        "{output}"
    );
    assert_contains(
        &output,
        "Thread 2 \"miniloop-blocki\" hit Breakpoint 1, 17_cpu_bound_work::sum_of_squares (count=200000)",
    );
    assert!(
        rows.iter().any(|row| row.starts_with("* 2 ")
            && row
                .contains("\"miniloop-blocki\" 17_cpu_bound_work::sum_of_squares (count=200000)")),
        "{output}"
    );
}

/// Chapter 20, broken: the loop finds its queue empty, then, four lines later, the message
/// is in it, and the loop is about to sleep anyway.
#[test]
fn lesson_20_the_message_arrives_between_the_check_and_the_sleep() {
    let Some(output) = run_under_gdb_with(
        "20_lost_wakeup",
        "0.01",
        &["broken"],
        &[
            "break 20_lost_wakeup::wait_for_work",
            "run",
            "print shared.remote_queue.data.value",
            "next 4",
            "print shared.remote_queue.data.value",
        ],
    ) else {
        return;
    };
    assert_eq!(gdb_value(&output, 1), "VecDeque(size=0)");
    assert_eq!(gdb_value(&output, 2), "VecDeque(size=1) = {1}");
}

/// Chapter 21: the third poll is task#1's in the broken run (the stale waker), task#2's in
/// the fixed one.
#[test]
fn lesson_21_the_late_wake_reaches_the_finished_task_or_the_right_one() {
    for (variant, woken) in [("broken", "1"), ("fixed", "2")] {
        let Some(output) = run_under_gdb_with(
            "21_stale_waker",
            "0.01",
            &[variant],
            &[
                "break 21_stale_waker::Executor::poll_task",
                "run",
                "continue 2",
                "print task_id",
            ],
        ) else {
            return;
        };
        assert_in_order(
            &output,
            &[
                "another thread delivered the parcel",
                "Executor::poll_task (self=",
                "$1 = ",
            ],
        );
        assert_eq!(gdb_value(&output, 1), woken, "{variant}:\n{output}");
    }
}

/// Chapter 22: at the late wake the slot still says `Running` in the broken run, `Finished`
/// in the fixed one.
#[test]
fn lesson_22_the_late_wake_finds_running_or_finished() {
    for (variant, slot) in [
        ("broken", "22_poll_after_ready::Slot::Running("),
        ("fixed", "22_poll_after_ready::Slot::Finished}"),
    ] {
        let Some(output) = run_under_gdb_with(
            "22_poll_after_ready",
            "0.01",
            &[variant],
            &[
                "break 22_poll_after_ready::Executor::poll_task",
                "run",
                "continue 2",
                "print self.slots",
            ],
        ) else {
            return;
        };
        assert_in_order(
            &output,
            &[
                "wakes it late",
                "Executor::poll_task (self=",
                "$1 = Vec(size=1)",
                slot,
            ],
        );
    }
}

/// Chapter 23, fixed: from the second wake on, the task's flag is already set.
#[test]
fn lesson_23_the_second_wake_finds_the_flag_set() {
    let Some(output) = run_under_gdb_with(
        "23_queue_grows_per_wake",
        "0.01",
        &["fixed"],
        &[
            "break 23_queue_grows_per_wake::{impl#0}::wake_by_ref",
            "run",
            "continue",
            "print self.ptr.pointer.data.is_scheduled",
        ],
    ) else {
        return;
    };
    assert_eq!(
        gdb_value(&output, 1),
        "core::sync::atomic::AtomicBool {v: core::cell::UnsafeCell<u8> {value: 1}}"
    );
}

/// Chapter 24, broken: the check answers `false`.
#[test]
fn lesson_24_the_broken_check_answers_false() {
    let Some(output) = run_under_gdb_with(
        "24_loop_never_exits",
        "0.01",
        &["broken"],
        &[
            "break 24_loop_never_exits::Executor::is_done",
            "run",
            "finish",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "Value returned is $1 = false");
}

/// Chapter 25, broken: the fetch's `Sleep` is polled from the loop's `poll_task`.
#[test]
fn lesson_25_the_sleep_is_polled_by_the_loop() {
    let Some(output) = run_under_gdb_with(
        "25_blocking_inside_poll",
        "0.01",
        &["broken"],
        &[
            "break 25_blocking_inside_poll::{impl#0}::poll",
            "run",
            "bt 4",
        ],
    ) else {
        return;
    };
    let expected_frames = [
        "25_blocking_inside_poll::{impl#0}::poll (self=..., context=",
        "25_blocking_inside_poll::run::{async_block#1} ()",
        "25_blocking_inside_poll::Executor::poll_task (self=",
        "25_blocking_inside_poll::Executor::run (self=",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert!(frame(&output, 2).contains("task_id=1)"), "{output}");
}

/// Chapter 26: 16 polls and 25 parks at scale 0.1; the way from `main` to `poll_task` is
/// `run`, two frames of `LocalKey`, and `run`'s closure.
#[test]
fn lesson_26_sixteen_polls_twenty_five_parks_and_a_short_stack() {
    let Some(output) = run_under_gdb_with(
        "26_waker_loop_in_one_file",
        "0.1",
        &[],
        &[
            "break 26_waker_loop_in_one_file::Executor::poll_task",
            "ignore 1 1000",
            "break std::thread::functions::park_timeout",
            "ignore 2 1000",
            "run",
            "info breakpoints",
        ],
    ) else {
        return;
    };
    assert_contains(&output, "Task 1 was polled 5 times");
    assert_contains(&output, "Task 2 was polled 11 times");
    assert_eq!(hits(&output, 1), 16, "poll_task:\n{output}");
    assert_eq!(hits(&output, 2), 25, "park_timeout:\n{output}");
    let output = run_under_gdb_with(
        "26_waker_loop_in_one_file",
        "0.1",
        &[],
        &[
            "break 26_waker_loop_in_one_file::Executor::poll_task",
            "run",
            "print task_id",
            "bt",
        ],
    )
    .expect("gdb ran a moment ago");
    assert_eq!(gdb_value(&output, 1), "1");
    let expected_frames = [
        "26_waker_loop_in_one_file::Executor::poll_task (self=",
        "26_waker_loop_in_one_file::run::{closure#0}<",
        "std::thread::local::LocalKey<26_waker_loop_in_one_file::Executor>::try_with<",
        "std::thread::local::LocalKey<26_waker_loop_in_one_file::Executor>::with<",
        "26_waker_loop_in_one_file::run<",
        "26_waker_loop_in_one_file::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    assert_eq!(backtraces(&output)[0].lines().count(), 6, "{output}");
}

/// Chapter 27: a wake by reference goes through our vtable, whose four functions gdb names;
/// miniloop's wakers have futures-task's four.
#[test]
fn lesson_27_the_vtable_holds_our_four_functions() {
    let Some(output) = run_under_gdb(
        "27_waker_by_hand",
        &[
            "break 27_waker_by_hand::counting_wake_by_ref",
            "run",
            "bt",
            "up",
            "print *self",
            "print *self.waker.vtable",
        ],
    ) else {
        return;
    };
    let expected_frames = [
        "27_waker_by_hand::counting_wake_by_ref (data=0x",
        "core::task::wake::Waker::wake_by_ref (self=0x",
        "27_waker_by_hand::ring (bell=0x",
        "27_waker_by_hand::poll_with_rings<27_waker_by_hand::part_1::{closure_env#0}> (",
        "27_waker_by_hand::part_1 ()",
        "27_waker_by_hand::main ()",
    ];
    for (number, expected) in expected_frames.iter().enumerate() {
        assert!(
            frame(&output, number).starts_with(expected),
            "frame {number}:\n{output}"
        );
    }
    let waker = gdb_value(&output, 1);
    assert!(
        waker.starts_with("core::task::wake::Waker {waker: core::task::wake::RawWaker {data: 0x")
            && waker.contains("<_27_waker_by_hand::COUNTING_VTABLE::"),
        "{output}"
    );
    let vtable = gdb_value(&output, 2);
    for function in [
        "clone: 0x",
        " <27_waker_by_hand::counting_clone>, wake: 0x",
        " <27_waker_by_hand::counting_wake>, wake_by_ref: 0x",
        " <27_waker_by_hand::counting_wake_by_ref>, drop: 0x",
        " <27_waker_by_hand::counting_drop>}",
    ] {
        assert!(vtable.contains(function), "{function:?}:\n{output}");
    }
    let output = run_under_gdb(
        "13_real_event_loop",
        &[
            "break miniloop::waker::wake_task",
            "run",
            "up 3",
            "print *self.waker.vtable",
        ],
    )
    .expect("gdb ran a moment ago");
    assert_contains(&output, "core::task::wake::Waker::wake (self=");
    let vtable = gdb_value(&output, 1);
    for function in [
        "clone_arc_raw<",
        "wake_arc_raw<",
        "wake_by_ref_arc_raw<",
        "drop_arc_raw<",
    ] {
        assert!(
            vtable.contains(&format!("<futures_task::waker::{function}")),
            "{function}:\n{output}"
        );
    }
}

/// docs/reactor.md: at lesson 02's second reactor wait, five slots each hold one reader;
/// `finish` returns `Ok` when the first site answers.
#[test]
#[cfg(feature = "lessons")] // the lesson starts the slow-sites server
fn reactor_chapter_five_slots_one_reader_each() {
    let Some(output) = run_under_gdb_with(
        "02_concurrent_requests",
        "0.2",
        &[],
        &[
            "break 02_concurrent_requests::main",
            "run",
            "break miniloop::reactor::Reactor::wait thread 1",
            "continue",
            "continue",
            "print self.slots",
            "finish",
        ],
    ) else {
        return;
    };
    let slots = gdb_value(&output, 1);
    assert!(slots.starts_with("Vec(size=5) = {"), "{output}");
    let slot = "miniloop::reactor::IoSlot {generation: 0, is_registered: true, readers: \
                Vec(size=1) = {core::task::wake::Waker {";
    assert_eq!(slots.matches(slot).count(), 5, "{output}");
    assert_eq!(
        slots.matches("writers: Vec(size=0)}").count(),
        5,
        "{output}"
    );
    assert_contains(
        &output,
        "Value returned is $2 = core::result::Result<(), std::io::error::Error>::Ok(())",
    );
}

/// docs/tasks-and-wakers.md: the first wake is a timer's, for the main future; its header
/// holds its id, its loop and its key, packed.
#[test]
fn tasks_and_wakers_chapter_the_header_of_the_first_wake() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break miniloop::waker::wake_task",
            "run",
            "bt",
            "print *header",
        ],
    ) else {
        return;
    };
    assert!(frame(&output, 4).starts_with("miniloop::event_loop::Core::fire_due_timers (self="));
    assert!(
        gdb_value(&output, 1).starts_with(
            "miniloop::task::Header {id: miniloop::task::TaskId (0), home: \
             miniloop::waker::LoopId (1), key: core::sync::atomic::AtomicU64 {v: \
             core::cell::UnsafeCell<u64> {value: 18446744069414584320}}"
        ),
        "{output}"
    );
}

/// docs/timers.md: the first wait is for `main_task`'s 0.5 s (5 ms at 0.01); over the run,
/// 13 waits and 26 calls of `fire_due_timers`.
#[test]
fn timers_chapter_one_wait_per_deadline_two_checks_per_wait() {
    let Some(output) = run_under_gdb(
        "13_real_event_loop",
        &[
            "break std::thread::functions::park_timeout",
            "run",
            "frame 1",
            "print timeout",
        ],
    ) else {
        return;
    };
    assert!(frame(&output, 1).starts_with("miniloop::event_loop::Core::wait_for_work (self="));
    assert!(
        gdb_value(&output, 1).starts_with("core::time::Duration {secs: 0, nanos: "),
        "{output}"
    );
    let script = "set pagination off\n\
                  break std::thread::functions::park_timeout\ncommands\nsilent\ncontinue\nend\n\
                  break miniloop::event_loop::Core::fire_due_timers\ncommands\nsilent\ncontinue\nend\n\
                  run\ninfo breakpoints\n";
    let output = run_gdb_script("13_real_event_loop", "0.1", script).expect("gdb ran a moment ago");
    assert_eq!(hits(&output, 1), 13, "park_timeout:\n{output}");
    assert_eq!(hits(&output, 2), 26, "fire_due_timers:\n{output}");
}

/// Lesson 29: the stuck-loop report is raised from the loop's idle wait, and a pointer kept at
/// each poll of the stuck task shows, at that moment, the future it is parked on. The
/// chapter's `rust_panic` stop and its `stuck.gdb` script, run as the chapter says.
#[test]
fn lesson_29_the_stuck_report_and_the_future_the_task_waits_on() {
    let Some(output) = run_under_gdb(
        "29_poll_contract_broken",
        &["break rust_panic", "run broken", "bt 10"],
    ) else {
        return;
    };
    assert_contains(&output, "Breakpoint 1, std::panicking::rust_panic");
    assert_contains(&output, "miniloop::event_loop::stuck::StuckReport::raise");
    assert_contains(&output, "miniloop::event_loop::Core::wait_for_work (self=");
    assert_contains(&output, "is_runnable=false, has_reactor=false");

    let script = std::env::temp_dir().join(format!("miniloop-stuck-{}.gdb", std::process::id()));
    std::fs::write(
        &script,
        "break 'miniloop::task::Task<29_poll_contract_broken::sleeper::{async_fn_env#0}>::\
         poll_future<29_poll_contract_broken::sleeper::{async_fn_env#0}>'\n\
         commands\nsilent\nset $stuck = self.ptr.pointer\ncontinue\nend\n\
         break miniloop::event_loop::stuck::StuckReport::raise\nrun broken\n\
         print $stuck.data.shared.header.id\nprint $stuck.data.future.value\n\
         print $stuck.strong\n",
    )
    .expect("the temp dir should be writable");
    let output = run_under_gdb(
        "29_poll_contract_broken",
        &[&format!("source {}", script.display())],
    );
    let _ = std::fs::remove_file(&script);
    let Some(output) = output else { return };
    assert_contains(&output, "$1 = miniloop::task::TaskId (1)");
    assert_contains(
        &output,
        "29_poll_contract_broken::sleeper::{async_fn_env#0}::Suspend0{__awaitee: \
         29_poll_contract_broken::Sleep {variant: 29_poll_contract_broken::Variant::Broken",
    );
    assert_contains(
        &output,
        "$3 = core::sync::atomic::AtomicUsize {v: core::cell::UnsafeCell<usize> {value: 2}}",
    );
}
