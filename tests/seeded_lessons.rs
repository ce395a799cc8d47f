//! Lesson 36, seeded schedules, run as the reader runs it: its output is quoted in its
//! chapter line for line (only the wall times may differ), and the claims the chapter makes
//! about it are checked here on the numbers it prints.

mod common;
use common::lesson_output::{assert_quoted_in_chapter, numbers_after, run_lesson};

const CHAPTER: &str = "docs/36-seeded-schedules.md";

/// The line of `output` that starts with `prefix`.
fn line<'a>(output: &'a str, prefix: &str) -> &'a str {
    output
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"))
}

/// The chapter's claims: the default order passes every run; the explorer finds the bug
/// within a few hundred seeds; the seed's replay shows both tasks checking 100 before either
/// subtracts, and fails the same way twice; few orders overdraw; the fix passes 10 000 seeds.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_36_finds_the_order_bug_replays_it_and_the_fix_passes() {
    let output = run_lesson("36_seeded_schedules", None);
    // The quoted replay interleaves the loop's trace, which is `observe`'s; the claims below
    // hold without it.
    if cfg!(feature = "observe") {
        assert_quoted_in_chapter(CHAPTER, &output, &["Explorer: ", "Fixed "]);
    }
    assert_eq!(
        line(&output, "Default order: "),
        "Default order: 100 of 100 runs pass, ending at [30]"
    );
    let explorer = line(&output, "Explorer: ");
    let schedule = numbers_after(&output, "Explorer: schedule ")[0];
    assert!(
        schedule <= 300.0,
        "found within a few hundred seeds: {explorer}"
    );
    assert!(explorer.ends_with("returned Err(\"overdrawn: the account ends at -20\")"));
    // The replay: both check 100 before the first subtraction.
    let journal: Vec<&str> = output
        .lines()
        .filter_map(|line| line.strip_prefix("    >> "))
        .collect();
    let at = |entry: &str| journal.iter().position(|line| *line == entry).unwrap();
    let first_take = journal
        .iter()
        .position(|line| line.contains(": takes"))
        .unwrap();
    assert!(
        at("rent: sees 100, enough for 70") < first_take,
        "{journal:?}"
    );
    assert!(
        at("groceries: sees 100, enough for 50") < first_take,
        "{journal:?}"
    );
    assert!(line(&output, "Replayed twice: ").contains(", identical; outcome Err("));
    let [tried, overdraw] = numbers_after(&output, "Of the first ")[..] else {
        panic!("two numbers in:\n{output}");
    };
    assert!(
        overdraw > 0.0 && overdraw < tried / 100.0,
        "rare: {overdraw} of {tried}"
    );
    assert!(line(&output, "Fixed ").contains(": 10000 seeded orders pass"));
}

/// `-- --seed 0x…` replays one order: the same lines as the lesson's own replay.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_36_replays_the_seed_it_prints() {
    let output = run_lesson("36_seeded_schedules", None);
    let seed = line(&output, "Replay it: ")
        .rsplit(' ')
        .next()
        .expect("the seed ends the line");
    let replay = std::process::Command::new(common::example_path("36_seeded_schedules"))
        .args(["--seed", seed])
        .env_remove("MINILOOP_TRACE")
        .output()
        .expect("the lesson starts");
    let replay = String::from_utf8(replay.stdout).unwrap();
    let shown = |text: &str| -> Vec<String> {
        let lines = text.lines();
        let steps = lines.filter(|line| line.starts_with("    >> ") || line.starts_with("       "));
        steps.map(str::to_owned).collect()
    };
    assert_eq!(shown(&replay), shown(&output));
    assert!(replay.ends_with("Outcome: Err(\"overdrawn: the account ends at -20\")\n"));
    let refused = std::process::Command::new(common::example_path("36_seeded_schedules"))
        .args(["--seed", "lucky"])
        .output()
        .expect("the lesson starts");
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(
        message.starts_with("--seed: \"lucky\" is not a seed"),
        "{message}"
    );
}
