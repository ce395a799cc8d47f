//! The guided tour: `cargo run` runs every lesson in order, with a header before each.
//!
//! ```text
//! cargo run              all lessons, in order
//! cargo run -- 07        one lesson (by number, or by its example's exact name:
//!                         `cargo run -- 07_delegation`)
//! cargo run -- --list    the list, with each lesson's chapter
//! cargo run -- --fast    all lessons with `MINILOOP_TIME_SCALE=0.1`: the long ones (12, 13,
//!                         26) take a second instead of ten (`cargo run -- --fast 12` too)
//! ```
//!
//! The first run builds the lessons and their dependencies (tokio for lesson 13's twin, among
//! others), which takes about a minute; the tour says so before it starts.
//!
//! Each lesson is an example (`examples/NN_*.rs`), so the tour runs it the way you would:
//! `cargo run --example NN_*`. That way what you see here is exactly what the lesson prints
//! on its own, and the lesson file stays a complete program you can read, change and debug.

use std::process::{Command, ExitCode};

/// One stop of the tour.
#[derive(Debug)]
struct Lesson {
    number: &'static str,
    title: &'static str,
    /// The examples to run, in order (lesson 13 has a tokio twin).
    examples: &'static [&'static str],
    chapter: &'static str,
}

/// Every lesson, in reading order. The README's table lists the same rows (a test checks).
const LESSONS: &[Lesson] = &[
    Lesson {
        number: "01",
        title: "Blocking requests, one after another",
        examples: &["01_blocking_requests"],
        chapter: "docs/01-blocking-requests.md",
    },
    Lesson {
        number: "02",
        title: "Concurrent requests",
        examples: &["02_concurrent_requests"],
        chapter: "docs/02-concurrent-requests.md",
    },
    Lesson {
        number: "03",
        title: "A request as a list of waits",
        examples: &["03_waiting_list"],
        chapter: "docs/03-waiting-list.md",
    },
    Lesson {
        number: "04",
        title: "Two requests, one at a time",
        examples: &["04_one_at_a_time"],
        chapter: "docs/04-one-at-a-time.md",
    },
    Lesson {
        number: "05",
        title: "Interleaving two requests",
        examples: &["05_interleaving"],
        chapter: "docs/05-interleaving.md",
    },
    Lesson {
        number: "06",
        title: "A resumable function",
        examples: &["06_resumable_function"],
        chapter: "docs/06-resumable-function.md",
    },
    Lesson {
        number: "07",
        title: "Delegation: one machine driving another",
        examples: &["07_delegation"],
        chapter: "docs/07-delegation.md",
    },
    Lesson {
        number: "08",
        title: "Machines are iterators",
        examples: &["08_machines_are_iterators"],
        chapter: "docs/08-machines-are-iterators.md",
    },
    Lesson {
        number: "09",
        title: "Interleaving resumable machines",
        examples: &["09_interleaved_machines"],
        chapter: "docs/09-interleaved-machines.md",
    },
    Lesson {
        number: "10",
        title: "Counting waits through delegation",
        examples: &["10_counting_waits"],
        chapter: "docs/10-counting-waits.md",
    },
    Lesson {
        number: "11",
        title: "`async fn` is a state machine",
        examples: &["11_async_fn_is_a_state_machine"],
        chapter: "docs/11-async-fn-is-a-state-machine.md",
    },
    Lesson {
        number: "12",
        title: "A busy event loop from scratch",
        examples: &["12_busy_event_loop"],
        chapter: "docs/12-busy-event-loop.md",
    },
    Lesson {
        number: "13",
        title: "The real event loop (and the same program on tokio)",
        examples: &["13_real_event_loop", "13_real_event_loop_tokio"],
        chapter: "docs/13-real-event-loop.md",
    },
    Lesson {
        number: "14",
        title: "Sequential awaits versus gather",
        examples: &["14_sequential_vs_gather"],
        chapter: "docs/14-sequential-vs-gather.md",
    },
    Lesson {
        number: "15",
        title: "Blocking inside async",
        examples: &["15_blocking_inside_async"],
        chapter: "docs/15-blocking-inside-async.md",
    },
    Lesson {
        number: "16",
        title: "Async inside sync",
        examples: &["16_async_inside_sync"],
        chapter: "docs/16-async-inside-sync.md",
    },
    Lesson {
        number: "17",
        title: "CPU-bound work",
        examples: &["17_cpu_bound_work"],
        chapter: "docs/17-cpu-bound-work.md",
    },
    Lesson {
        number: "18",
        title: "Waiting costs no thread",
        examples: &["18_waiting_costs_no_thread"],
        chapter: "docs/18-waiting-costs-no-thread.md",
    },
    Lesson {
        number: "19",
        title: "Sync first",
        examples: &["19_sync_first"],
        chapter: "docs/19-sync-first.md",
    },
    Lesson {
        number: "20",
        title: "A lost wake-up (broken on purpose, then fixed)",
        examples: &["20_lost_wakeup"],
        chapter: "docs/20-lost-wakeup.md",
    },
    Lesson {
        number: "21",
        title: "A stale waker (broken on purpose, then fixed)",
        examples: &["21_stale_waker"],
        chapter: "docs/21-stale-waker.md",
    },
    Lesson {
        number: "22",
        title: "Polling after `Ready` (broken on purpose, then fixed)",
        examples: &["22_poll_after_ready"],
        chapter: "docs/22-poll-after-ready.md",
    },
    Lesson {
        number: "23",
        title: "A run queue that grows by one entry per wake",
        examples: &["23_queue_grows_per_wake"],
        chapter: "docs/23-queue-grows-per-wake.md",
    },
    Lesson {
        number: "24",
        title: "A loop that never exits (broken on purpose, then fixed)",
        examples: &["24_loop_never_exits"],
        chapter: "docs/24-loop-never-exits.md",
    },
    Lesson {
        number: "25",
        title: "Blocking inside `poll` (broken on purpose, then fixed)",
        examples: &["25_blocking_inside_poll"],
        chapter: "docs/25-blocking-inside-poll.md",
    },
    // The Rust half: what the Python walkthrough has no counterpart for (a waker, `Pin`).
    // It belongs after 13 in the story, but is numbered after the rest so that lessons
    // 01-13 keep the walkthrough's numbers and print exactly its output.
    Lesson {
        number: "26",
        title: "A waker loop in one file",
        examples: &["26_waker_loop_in_one_file"],
        chapter: "docs/26-waker-loop-in-one-file.md",
    },
    Lesson {
        number: "27",
        title: "A waker by hand",
        examples: &["27_waker_by_hand"],
        chapter: "docs/27-waker-by-hand.md",
    },
    Lesson {
        number: "28",
        title: "`Pin`, shown",
        examples: &["28_pin_shown"],
        chapter: "docs/28-pin-shown.md",
    },
    Lesson {
        number: "29",
        title: "The poll contract (broken on purpose, then fixed)",
        examples: &["29_poll_contract_broken"],
        chapter: "docs/29-poll-contract-broken.md",
    },
    Lesson {
        number: "30",
        title: "`Send`, `'static` and `spawn_local`",
        examples: &["30_send_and_spawn_local"],
        chapter: "docs/30-send-and-spawn-local.md",
    },
    Lesson {
        number: "31",
        title: "Cancellation is dropping",
        examples: &["31_cancellation_is_dropping"],
        chapter: "docs/31-cancellation-is-dropping.md",
    },
    Lesson {
        number: "32",
        title: "Select and task groups",
        examples: &["32_select_and_task_groups"],
        chapter: "docs/32-select-and-task-groups.md",
    },
    Lesson {
        number: "33",
        title: "Channels are wakers in a box",
        examples: &["33_channels_are_wakers_in_a_box"],
        chapter: "docs/33-channels-are-wakers-in-a-box.md",
    },
    Lesson {
        number: "34",
        title: "Streams",
        examples: &["34_streams"],
        chapter: "docs/34-streams.md",
    },
    // The capstone: a server real clients talk to. The tour runs its scripted demo (a second);
    // the chapter shows how to run it as a server (`-- --port 6380`) for `redis-cli`.
    Lesson {
        number: "35",
        title: "The capstone: a Redis server on miniloop",
        examples: &["35_redis"],
        chapter: "docs/35-redis-on-miniloop.md",
    },
    // After the capstone: testing a program like it, in every order its tasks may run.
    Lesson {
        number: "36",
        title: "Seeded schedules: finding an order bug",
        examples: &["36_seeded_schedules"],
        chapter: "docs/36-seeded-schedules.md",
    },
    Lesson {
        number: "37",
        title: "An hour in a millisecond: virtual time",
        examples: &["37_an_hour_in_a_millisecond"],
        chapter: "docs/37-an-hour-in-a-millisecond.md",
    },
    // Past one thread: the same work on one loop, on many, and on a work-stealing runtime.
    Lesson {
        number: "38",
        title: "From one loop to many threads, measured",
        examples: &["38_one_loop_to_many_threads"],
        chapter: "docs/38-one-loop-to-many-threads.md",
    },
    // Many threads: the lost wake-up lesson 20 does not have (the last worker to fall asleep).
    Lesson {
        number: "39",
        title: "The last worker to sleep: a lost wake-up of many threads",
        examples: &["39_the_last_worker_to_sleep"],
        chapter: "docs/39-the-last-worker-to-sleep.md",
    },
];

/// What the command line asked for.
#[derive(Debug, PartialEq)]
enum Request {
    All,
    One(usize),
    List,
    Help,
}

/// The command line: what to do, and whether `--fast` asked for the lessons' time scale 0.1.
#[derive(Debug, PartialEq)]
struct Arguments {
    request: Request,
    is_fast: bool,
}

const USAGE: &str = "usage: cargo run [-- [--fast] [NN | NN_example_name] | -- --list | -- --help]";

/// The time scale `--fast` gives the lessons it runs (`MINILOOP_TIME_SCALE`): every delay
/// ten times shorter.
const FAST_TIME_SCALE: &str = "0.1";

/// Reads the arguments (without the program name). `--fast` may come before or after a
/// lesson, or alone.
fn parse_args(args: &[String]) -> Result<Arguments, String> {
    let is_fast = args.iter().any(|arg| arg == "--fast");
    let rest: Vec<&String> = args.iter().filter(|arg| *arg != "--fast").collect();
    let request = match rest.as_slice() {
        [] => Request::All,
        [flag] if *flag == "--list" || *flag == "-l" => Request::List,
        [flag] if *flag == "--help" || *flag == "-h" => Request::Help,
        [wanted] => Request::One(find_lesson(wanted)?),
        _ => {
            return Err(format!(
                "expected at most one lesson, and `--fast`, got {} arguments; {USAGE}",
                args.len()
            ))
        }
    };
    Ok(Arguments { request, is_fast })
}

/// The index of the lesson called `wanted`: its number ("7", "07") or the exact name of one
/// of its examples ("07_delegation"). Anything else is refused, even if it starts like a
/// lesson ("7_anything"): running a lesson the reader did not ask for would hide the typo.
fn find_lesson(wanted: &str) -> Result<usize, String> {
    let is_number = !wanted.is_empty() && wanted.bytes().all(|byte| byte.is_ascii_digit());
    let found = LESSONS.iter().position(|lesson| {
        let same_number = is_number && wanted.parse::<u32>().ok() == lesson.number.parse().ok();
        same_number || lesson.examples.contains(&wanted)
    });
    found.ok_or_else(|| {
        format!(
            "there is no lesson {wanted:?}; name one by its number (`cargo run -- 07`) or its \
             example's name (`cargo run -- 07_delegation`); `cargo run -- --list` lists them:\n{}",
            list()
        )
    })
}

/// The lesson list, one line each.
fn list() -> String {
    LESSONS
        .iter()
        .map(|lesson| {
            format!(
                "  {}  {:<55} {}\n",
                lesson.number, lesson.title, lesson.chapter
            )
        })
        .collect()
}

/// Why the tour stopped early.
#[derive(Debug)]
enum Stop {
    /// Something went wrong: the message is printed, and the exit code is 2.
    Failed(String),
    /// Nobody reads our output any more (`cargo run -- --help | head` closed the pipe): stop
    /// quietly, with nothing more to say and no one to say it to.
    OutputClosed,
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Failed(message)
    }
}

/// Writes `text` on stdout, like `print!`, but a closed stdout stops the tour instead of
/// panicking (`print!` panics on a broken pipe).
fn say(text: &str) -> Result<(), Stop> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(Stop::OutputClosed),
        Err(error) => Err(Stop::Failed(format!("cannot write to stdout: {error}"))),
    }
}

/// Whether `example` is not built yet, next to this program (`target/<profile>/examples/`):
/// then `cargo run --example` will compile it, and the first one compiles the lessons'
/// dependencies too, which takes a while with nothing on the screen.
fn is_unbuilt(example: &str) -> bool {
    let Ok(tour) = std::env::current_exe() else {
        return true;
    };
    let examples = tour.parent().map(|dir| dir.join("examples"));
    !examples.is_some_and(|dir| dir.join(example).exists())
}

/// Runs one example through cargo, as a reader would, and reports whether it succeeded.
fn run_example(example: &str, is_fast: bool) -> Result<(), Stop> {
    // `cargo run` tells us which cargo started us; fall back to the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut command = Command::new(&cargo);
    command.args([
        "run",
        "--quiet",
        "--manifest-path",
        manifest,
        "--example",
        example,
    ]);
    if is_fast {
        command.env("MINILOOP_TIME_SCALE", FAST_TIME_SCALE);
    }
    let status = command.status().map_err(|error| {
        format!("could not start `cargo run --example {example}`: {error}; is cargo on your PATH?")
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Stop::Failed(format!(
            "`cargo run --example {example}` failed ({status})"
        )))
    }
}

/// Runs lesson `index` with its header. Says once, before the first build, that the lessons
/// are being built (the first build compiles their dependencies for most of a minute).
fn show(index: usize, is_fast: bool, has_warned: &mut bool) -> Result<(), Stop> {
    let lesson = &LESSONS[index];
    say(&format!(
        "\n=== Lesson {} of {}: {} ===\n    read along: {}\n",
        index + 1,
        LESSONS.len(),
        lesson.title,
        lesson.chapter
    ))?;
    for example in lesson.examples {
        say(&format!("--- cargo run --example {example}\n"))?;
        if !*has_warned && is_unbuilt(example) {
            *has_warned = true;
            say("(building the lessons: first time only, about a minute)\n")?;
        }
        run_example(example, is_fast)?;
    }
    Ok(())
}

/// What the command line asked for, done.
fn run(arguments: Arguments) -> Result<(), Stop> {
    let Arguments { request, is_fast } = arguments;
    let mut has_warned = false;
    match request {
        Request::List => say(&list()),
        Request::Help => say(&format!(
            "{USAGE}\n\n  --fast   run the lessons with MINILOOP_TIME_SCALE={FAST_TIME_SCALE}: every \
             delay ten times shorter\n\nThe lessons:\n{}",
            list()
        )),
        Request::One(index) => show(index, is_fast, &mut has_warned),
        Request::All => {
            say(&format!(
                "miniloop: how async/await works, in {} lessons.\n",
                LESSONS.len()
            ))?;
            if is_fast {
                say(&format!(
                    "--fast: MINILOOP_TIME_SCALE={FAST_TIME_SCALE}, every delay ten times shorter.\n"
                ))?;
            } else {
                say("`cargo run -- --fast` runs the long lessons ten times faster.\n")?;
            }
            (0..LESSONS.len()).try_for_each(|index| show(index, is_fast, &mut has_warned))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = parse_args(&args).map_err(Stop::Failed).and_then(run);
    match outcome {
        Ok(()) | Err(Stop::OutputClosed) => ExitCode::SUCCESS,
        Err(Stop::Failed(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|arg| arg.to_string()).collect()
    }

    /// The request alone, for the tests that do not use `--fast`.
    fn request(list: &[&str]) -> Result<Request, String> {
        parse_args(&args(list)).map(|arguments| arguments.request)
    }

    #[test]
    fn no_argument_means_the_whole_tour() {
        assert_eq!(request(&[]), Ok(Request::All));
    }

    #[test]
    fn fast_goes_with_the_whole_tour_or_one_lesson_in_either_order() {
        let fast = |request| {
            Ok(Arguments {
                request,
                is_fast: true,
            })
        };
        assert_eq!(parse_args(&args(&["--fast"])), fast(Request::All));
        let lesson_12 = LESSONS.iter().position(|l| l.number == "12").unwrap();
        assert_eq!(
            parse_args(&args(&["--fast", "12"])),
            fast(Request::One(lesson_12))
        );
        assert_eq!(
            parse_args(&args(&["12", "--fast"])),
            fast(Request::One(lesson_12))
        );
        assert_eq!(
            parse_args(&args(&["12"])),
            Ok(Arguments {
                request: Request::One(lesson_12),
                is_fast: false
            })
        );
        assert!(parse_args(&args(&["--fast", "12", "13"])).is_err());
    }

    #[test]
    fn a_lesson_can_be_named_by_number_with_or_without_zero_or_by_example_name() {
        let delegation = LESSONS
            .iter()
            .position(|lesson| lesson.number == "07")
            .unwrap();
        for name in ["07", "7", "007", "07_delegation"] {
            assert_eq!(request(&[name]), Ok(Request::One(delegation)), "{name}");
        }
    }

    #[test]
    fn an_unknown_lesson_gets_the_list() {
        let error = request(&["99"]).unwrap_err();
        assert!(error.contains("there is no lesson \"99\""), "{error}");
        assert!(error.contains("docs/07-delegation.md"), "{error}");
        assert!(request(&["--bogus"]).is_err());
    }

    /// Guards "an argument names one lesson exactly": only the leading digits used to be
    /// read, so `7_anything` ran lesson 07.
    #[test]
    fn an_argument_that_only_starts_like_a_lesson_is_refused() {
        for wanted in [
            "7_anything",
            "7x",
            "07_delegatio",
            "",
            "+7",
            "13_real_event_loop_",
        ] {
            let error = request(&[wanted]).unwrap_err();
            assert!(error.contains("cargo run -- --list"), "{wanted:?}: {error}");
        }
        let lesson_13 = LESSONS.iter().position(|l| l.number == "13").unwrap();
        assert_eq!(
            request(&["13_real_event_loop_tokio"]),
            Ok(Request::One(lesson_13))
        );
    }

    /// The "building the lessons" note comes when the example is not next to the tour yet.
    #[test]
    fn an_example_that_is_not_built_is_noticed() {
        assert!(is_unbuilt("99_no_such_lesson"));
    }

    #[test]
    fn every_lesson_has_its_example_and_chapter_on_disk() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for lesson in LESSONS {
            assert!(
                root.join(lesson.chapter).exists(),
                "missing {}",
                lesson.chapter
            );
            for example in lesson.examples {
                // One file, or a folder with a `main.rs` (lesson 35).
                let file = root.join("examples").join(format!("{example}.rs"));
                let folder = root.join("examples").join(example).join("main.rs");
                assert!(
                    file.exists() || folder.exists(),
                    "missing {} (or {})",
                    file.display(),
                    folder.display()
                );
            }
        }
    }

    #[test]
    fn the_readme_table_lists_every_lesson() {
        let readme = include_str!("../README.md");
        for lesson in LESSONS {
            for example in lesson.examples {
                assert!(
                    readme.contains(&format!("cargo run --example {example}")),
                    "README lacks {example}"
                );
            }
            assert!(
                readme.contains(lesson.chapter),
                "README lacks {}",
                lesson.chapter
            );
        }
    }
}
