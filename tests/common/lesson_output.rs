//! Running a lesson and reading what it printed: lines matched with `*` for the part that
//! varies (an address, a size, a timing, a count of attempts), and the numbers on a line, so
//! that a test can check how they relate rather than what they are.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::example_path;

/// How long a lesson may run before the test gives up on it: far above the second or two
/// any lesson takes, even on a loaded machine.
pub const LESSON_LIMIT: Duration = Duration::from_secs(60);

/// Runs a lesson (with a time scale, if given) and returns its stdout; fails on a bad exit,
/// on anything written to stderr, and on a lesson that is still running after
/// `LESSON_LIMIT` (it is killed, so that a lost wake-up fails the test instead of hanging it).
pub fn run_lesson(name: &str, time_scale: Option<&str>) -> String {
    let mut command = Command::new(example_path(name));
    if let Some(scale) = time_scale {
        command.env("MINILOOP_TIME_SCALE", scale);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lesson should start");
    // Read both pipes while the lesson runs: a full pipe would stop it.
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes)
                    .expect("the lesson's output is readable");
            }
            bytes
        })
    };
    let stdout = read_all(
        child
            .stdout
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let stderr = read_all(
        child
            .stderr
            .take()
            .map(|pipe| Box::new(pipe) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the lesson can be waited for") {
            break status;
        }
        if started.elapsed() > LESSON_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lesson {name} was still running after {LESSON_LIMIT:?}: killed (a lost wake-up?)"
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = stdout.join().expect("the stdout reader does not panic");
    let stderr = stderr.join().expect("the stderr reader does not panic");
    assert!(
        status.success(),
        "lesson {name} exited with {status}; stderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    assert!(
        stderr.is_empty(),
        "lesson {name} wrote to stderr:\n{}",
        String::from_utf8_lossy(&stderr)
    );
    String::from_utf8(stdout).expect("lessons print UTF-8")
}

/// Whether `line` matches `pattern`, where each `*` stands for any run of characters.
pub fn glob_match(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = pieces
        .split_first()
        .expect("split gives one piece at least");
    let Some(mut remaining) = line.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty(); // no `*`: the whole line must match
    };
    for piece in middle {
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// Checks `output` line by line against `patterns` (see `glob_match`).
pub fn assert_lines(output: &str, patterns: &[&str]) {
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(
        lines.len(),
        patterns.len(),
        "expected {} lines, got:\n{output}",
        patterns.len()
    );
    for (line, pattern) in lines.iter().zip(patterns) {
        assert!(
            glob_match(pattern, line),
            "line {line:?} does not match {pattern:?} in:\n{output}"
        );
    }
}

/// The numbers in `line`, in order (a `0x…` address counts as one hexadecimal number).
pub fn numbers_in(line: &str) -> Vec<f64> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter_map(|word| match word.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as f64),
            None => word.trim_end_matches('.').parse().ok(),
        })
        .collect()
}

/// The numbers on the one line that starts with `prefix`.
pub fn numbers_after(output: &str, prefix: &str) -> Vec<f64> {
    let line = output
        .lines()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{output}"));
    numbers_in(&line[prefix.len()..])
}

/// The lines of the fenced block in `chapter` (a path from the repository's root) whose
/// first line is `first_line`: where a chapter quotes a lesson's output.
pub fn quoted_block(chapter: &str, first_line: &str) -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(chapter);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .windows(2)
        .position(|pair| pair[0].starts_with("```") && pair[1] == first_line)
        .unwrap_or_else(|| panic!("{chapter} quotes no block that starts with {first_line:?}"));
    lines[start + 1..]
        .iter()
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.to_string())
        .collect()
}

/// Checks that `chapter` quotes `output` as it is, line for line, except for the numbers on
/// the lines that start with one of `varying` (a count of attempts, a timing), which may be
/// any numbers there.
pub fn assert_quoted_in_chapter(chapter: &str, output: &str, varying: &[&str]) {
    let first_line = output.lines().next().expect("the lesson printed something");
    let quoted = quoted_block(chapter, first_line);
    let without_numbers = |line: &str| -> String {
        if varying.iter().any(|prefix| line.starts_with(prefix)) {
            line.replace(|c: char| c.is_ascii_digit(), "")
        } else {
            line.to_owned()
        }
    };
    let printed: Vec<String> = output.lines().map(without_numbers).collect();
    let quoted: Vec<String> = quoted.iter().map(|line| without_numbers(line)).collect();
    assert_eq!(
        quoted, printed,
        "{chapter} should quote the lesson's output as it is now (run the lesson and paste \
         its output into the chapter)"
    );
}
