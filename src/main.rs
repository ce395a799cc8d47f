//! The guided tour: `cargo run` runs every lesson in order, with a header before each.
//!
//! ```text
//! cargo run              all lessons, in order
//! cargo run -- 07        one lesson (by number, or by its example's exact name:
//!                         `cargo run -- 07_delegation`)
//! cargo run -- --list    the list, with each lesson's chapter
//! ```
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
    Lesson {
        number: "29",
        title: "The poll contract (broken on purpose, then fixed)",
        examples: &["29_poll_contract_broken"],
        chapter: "docs/29-poll-contract-broken.md",
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

const USAGE: &str = "usage: cargo run [-- NN | -- NN_example_name | --list | --help]";

/// Reads the arguments (without the program name).
fn parse_args(args: &[String]) -> Result<Request, String> {
    match args {
        [] => Ok(Request::All),
        [flag] if flag == "--list" || flag == "-l" => Ok(Request::List),
        [flag] if flag == "--help" || flag == "-h" => Ok(Request::Help),
        [wanted] => find_lesson(wanted).map(Request::One),
        _ => Err(format!(
            "expected at most one argument, got {}; {USAGE}",
            args.len()
        )),
    }
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

/// Runs one example through cargo, as a reader would, and reports whether it succeeded.
fn run_example(example: &str) -> Result<(), String> {
    // `cargo run` tells us which cargo started us; fall back to the one on PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let status = Command::new(&cargo)
        .args([
            "run",
            "--quiet",
            "--manifest-path",
            manifest,
            "--example",
            example,
        ])
        .status()
        .map_err(|error| {
            format!(
                "could not start `cargo run --example {example}`: {error}; is cargo on your PATH?"
            )
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo run --example {example}` failed ({status})"))
    }
}

fn show(index: usize) -> Result<(), String> {
    let lesson = &LESSONS[index];
    println!();
    println!(
        "=== Lesson {} of {}: {} ===",
        index + 1,
        LESSONS.len(),
        lesson.title
    );
    println!("    read along: {}", lesson.chapter);
    for example in lesson.examples {
        println!("--- cargo run --example {example}");
        run_example(example)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match parse_args(&args) {
        Ok(Request::List) => {
            print!("{}", list());
            Ok(())
        }
        Ok(Request::Help) => {
            println!("{USAGE}\n\nThe lessons:\n{}", list());
            Ok(())
        }
        Ok(Request::One(index)) => show(index),
        Ok(Request::All) => {
            println!(
                "miniloop: how async/await works, in {} lessons.",
                LESSONS.len()
            );
            println!("Set MINILOOP_TIME_SCALE=0.1 to run the long lessons ten times faster.");
            (0..LESSONS.len()).try_for_each(show)
        }
        Err(message) => Err(message),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
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

    #[test]
    fn no_argument_means_the_whole_tour() {
        assert_eq!(parse_args(&args(&[])), Ok(Request::All));
    }

    #[test]
    fn a_lesson_can_be_named_by_number_with_or_without_zero_or_by_example_name() {
        let delegation = LESSONS
            .iter()
            .position(|lesson| lesson.number == "07")
            .unwrap();
        for name in ["07", "7", "007", "07_delegation"] {
            assert_eq!(
                parse_args(&args(&[name])),
                Ok(Request::One(delegation)),
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_lesson_gets_the_list() {
        let error = parse_args(&args(&["99"])).unwrap_err();
        assert!(error.contains("there is no lesson \"99\""), "{error}");
        assert!(error.contains("docs/07-delegation.md"), "{error}");
        assert!(parse_args(&args(&["--bogus"])).is_err());
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
            let error = parse_args(&args(&[wanted])).unwrap_err();
            assert!(error.contains("cargo run -- --list"), "{wanted:?}: {error}");
        }
        let lesson_13 = LESSONS.iter().position(|l| l.number == "13").unwrap();
        assert_eq!(
            parse_args(&args(&["13_real_event_loop_tokio"])),
            Ok(Request::One(lesson_13))
        );
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
                let path = root.join("examples").join(format!("{example}.rs"));
                assert!(path.exists(), "missing {}", path.display());
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
