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
            "bt 3",
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
    assert_contains(&output, "miniloop::event_loop::Core::run_task");
    assert_contains(&output, "miniloop::event_loop::Core::run_ready_tasks");
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
    assert_contains(&output, "Breakpoint 1, miniloop::waker::wake_task");
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
            && main.contains("seq: 0, registration: ")
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
    assert_eq!(hits(&output, 2), 13, "park_timeout:\n{output}");
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
                && frame(backtrace, 0).contains("course=\"rust\") at examples/19_sync_first.rs:38"),
            "{output}"
        );
        assert!(
            frame(backtrace, 1).starts_with(
                "19_sync_first::count_students::{async_fn#0} () at examples/19_sync_first.rs:54"
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
        "19_sync_first::eager_spawns::{async_fn#0} () at examples/19_sync_first.rs:92"
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
