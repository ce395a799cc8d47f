//! Lesson 38, from one loop to many threads, run as the reader runs it (with `--workers 2`,
//! so that every machine prints the same table shape): its output is quoted in its chapter
//! line for line (only the numbers on the measured lines may differ), and the chapter's
//! claims are checked here on the numbers it prints.
//!
//! The test shares the machine's cores with the other tests, which `cargo test` runs at the
//! same time, so it reads CPU time, not wall time, wherever it can: a worker thread that
//! waits for a core burns no CPU time, so how the work was split between the workers shows
//! in their CPU times however busy the machine is. Wall times are left unchecked: on a loaded
//! machine two workers may get less than one core between them, and every wall-time relation
//! the chapter reads (stealing against thread-per-core, the shared queue against stealing)
//! can turn over without anything being wrong with the lesson.

mod common;
use std::sync::OnceLock;

use common::lesson_output::{numbers_after, quoted_block, LESSON_LIMIT};

const LESSON: &str = "38_one_loop_to_many_threads";
const CHAPTER: &str = "docs/38-one-loop-to-many-threads.md";

/// The executors, as the lesson labels its rows, in its order.
const EXECUTORS: [&str; 5] = [
    "one loop",
    "thread-per-core",
    "shared queue",
    "work stealing",
    "tokio",
];

/// Runs the lesson with `--workers 2` and returns its stdout; fails on a bad exit, on anything
/// written to stderr, and on a lesson still running after `LESSON_LIMIT`.
fn run_with_two_workers() -> String {
    let path = common::example_path(LESSON);
    let output = common::within(LESSON_LIMIT, move || {
        std::process::Command::new(path)
            .args(["--workers", "2"])
            .output()
            .expect("the lesson starts")
    });
    assert!(
        output.status.success(),
        "lesson {LESSON} exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "lesson {LESSON} wrote to stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("lessons print UTF-8")
}

/// The lesson's output: run once, read by every test below (three runs at once would only
/// crowd the cores that the lesson measures).
fn lesson_output() -> &'static str {
    static OUTPUT: OnceLock<String> = OnceLock::new();
    OUTPUT.get_or_init(run_with_two_workers)
}

/// One row of a workload's table.
#[derive(Debug)]
struct Row {
    wall_ms: f64,
    checksum: String,
    /// `None` where the executor has no such count (`-`).
    stolen: Option<f64>,
    cpu_ms: Vec<f64>,
}

impl Row {
    /// The CPU times of the busiest and of the idlest worker.
    fn busiest_and_idlest(&self) -> (f64, f64) {
        let most = self.cpu_ms.iter().copied().fold(0.0, f64::max);
        let least = self.cpu_ms.iter().copied().fold(f64::INFINITY, f64::min);
        (most, least)
    }

    /// The busiest worker's CPU time over the idlest's (a worker with less than a
    /// millisecond counts as one).
    fn cpu_split(&self) -> f64 {
        let (most, least) = self.busiest_and_idlest();
        most / least.max(1.0)
    }
}

/// The rows of the table under the line that starts with `title`, by executor.
fn table(output: &str, title: &str) -> Vec<(String, Row)> {
    let mut lines = output.lines().skip_while(|line| !line.starts_with(title));
    assert!(lines.next().is_some(), "no {title:?} table in:\n{output}");
    let header = lines.next().expect("a header under the title");
    assert!(header.trim_start().starts_with("executor"), "{header}");
    let mut rows = Vec::new();
    for line in lines {
        let Some(executor) = EXECUTORS
            .iter()
            .find(|name| line.starts_with(&format!("  {name} ")))
        else {
            break;
        };
        let cells: Vec<&str> = line[2 + executor.len()..].split_whitespace().collect();
        let [wall, "ms", checksum, stolen, cpu @ ..] = cells.as_slice() else {
            panic!("a row is `executor wall ms checksum stolen CPU...`: {line}");
        };
        let number = |cell: &str| -> f64 {
            cell.parse()
                .unwrap_or_else(|_| panic!("{cell:?} is not a number in {line:?}"))
        };
        let row = Row {
            wall_ms: number(wall),
            checksum: checksum.to_string(),
            stolen: (*stolen != "-").then(|| number(stolen)),
            cpu_ms: cpu.iter().map(|cell| number(cell)).collect(),
        };
        rows.push((executor.to_string(), row));
    }
    let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names, EXECUTORS,
        "every executor, in order, under {title:?}"
    );
    rows
}

fn row<'a>(rows: &'a [(String, Row)], executor: &str) -> &'a Row {
    &rows.iter().find(|(name, _)| name == executor).unwrap().1
}

/// Every executor did the same work (the same checksum), and reports one CPU time per worker
/// (the one loop: one); only miniloop's work-stealing runtime prints a count of stolen tasks
/// (tokio has one too, but only in a `tokio_unstable` build).
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_38_every_executor_does_the_same_work_and_reports_each_worker() {
    let output = lesson_output();
    assert!(numbers_after(output, "Workers: ")[0] == 2.0, "{output}");
    for title in ["Uniform: ", "Skewed: "] {
        let rows = table(output, title);
        let checksum = &rows[0].1.checksum;
        assert!(checksum.starts_with("0x"), "{checksum}");
        for (executor, row) in &rows {
            assert_eq!(
                &row.checksum, checksum,
                "{executor} under {title:?}:\n{output}"
            );
            let workers = if executor == "one loop" { 1 } else { 2 };
            assert_eq!(row.cpu_ms.len(), workers, "{executor}:\n{output}");
            let has_count = executor == "work stealing";
            assert_eq!(row.stolen.is_some(), has_count, "{executor}:\n{output}");
        }
    }
    // The shared queue counts its lock: some acquisitions, never more waits than those.
    // (The first such line is the uniform workload's.)
    let [waits, takes, _waited] = numbers_after(output, "  shared queue: ")[..] else {
        panic!("three numbers on the shared queue's line:\n{output}");
    };
    assert!(takes >= 20_000.0 && waits <= takes, "{output}");
}

/// The chapter's claims on the skewed workload, read from CPU times: thread-per-core leaves
/// one worker nearly idle (every heavy task was dealt to the other), and the work-stealing
/// runtimes keep both busy.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_38_thread_per_core_is_lopsided_on_skewed_work_and_stealing_is_not() {
    let output = lesson_output();
    let rows = table(output, "Skewed: ");
    let thread_per_core = row(&rows, "thread-per-core");
    assert!(
        thread_per_core.cpu_split() > 5.0,
        "thread-per-core: one worker got every heavy task:\n{output}"
    );
    for executor in ["shared queue", "work stealing", "tokio"] {
        let split = row(&rows, executor).cpu_split();
        assert!(
            split < 2.0,
            "{executor}: both workers busy ({split:.1}x):\n{output}"
        );
    }
    // The line that reads the numbers says what the table says, within the table's whole
    // milliseconds (cut, not rounded: a worker that ran 3.9 ms shows 3).
    // The printed ratios have one or two decimals: 0.05 more either way.
    let ratio_range = |above: f64, below: f64| {
        let least = above / (below + 1.0);
        let most = (above + 1.0) / below.max(0.5);
        (least - 0.05, most + 0.05)
    };
    let is_within = |said: f64, (least, most): (f64, f64)| least <= said && said <= most;
    let said = numbers_after(output, "  (1) skewed, thread-per-core: ");
    let (busiest, idlest) = thread_per_core.busiest_and_idlest();
    assert!(
        is_within(said[0], ratio_range(busiest, idlest)),
        "{said:?}:\n{output}"
    );
    assert!(
        is_within(said[1], ratio_range(thread_per_core.wall_ms, busiest)),
        "{said:?}:\n{output}"
    );
    // Stealing kept both busy by moving tasks, and its line says how many.
    let stealing = row(&rows, "work stealing");
    let stolen = stealing.stolen.expect("a count of stolen tasks");
    assert!(stolen > 0.0, "work stealing stole:\n{output}");
    let said = numbers_after(output, "  (3) skewed, work stealing: ");
    let (busiest, idlest) = stealing.busiest_and_idlest();
    assert!(
        is_within(said[0], ratio_range(busiest, idlest)),
        "{said:?}:\n{output}"
    );
    assert_eq!(said[1], stolen, "{output}");
}

/// The chapter quotes the lesson's output as it is, except for the numbers on the measured
/// lines (`assert_quoted_in_chapter`'s rule) and the spaces around them: the columns are
/// right-aligned, so a time one digit longer moves its neighbours.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_38_is_quoted_in_its_chapter() {
    let output = lesson_output();
    let mut measured = vec![
        "Workers: ",
        "  shared queue: ",
        "  (1) ",
        "  (2) ",
        "  (3) ",
        "  tokio, for comparison: ",
    ];
    let rows: Vec<String> = EXECUTORS.iter().map(|name| format!("  {name} ")).collect();
    measured.extend(rows.iter().map(String::as_str));
    let comparable = |line: &str| -> String {
        if measured.iter().any(|prefix| line.starts_with(prefix)) {
            let words = line.replace(|c: char| c.is_ascii_digit(), "");
            words.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            line.to_owned()
        }
    };
    let first_line = output.lines().next().expect("the lesson printed something");
    let quoted: Vec<String> = quoted_block(CHAPTER, first_line)
        .iter()
        .map(|line| comparable(line))
        .collect();
    let printed: Vec<String> = output.lines().map(comparable).collect();
    assert_eq!(
        quoted, printed,
        "{CHAPTER} should quote the lesson's output as it is now (run the lesson and paste its \
         output into the chapter)"
    );
}
