//! Lessons 01 and 02, run as the reader runs them (each starts its own slow-sites server on a
//! loopback port), with `MINILOOP_TIME_SCALE=0.2`: lesson 01 requests the sites one after
//! another, lesson 02 all at once, and lesson 02's run time is well under lesson 01's.
//!
//! `cargo test` builds the examples before it runs any test; this file finds them next to its
//! own binary (`target/<profile>/examples/`), as `tests/lessons.rs` does.
// Only with the `lessons` feature (on by default): lessons 01 and 02 start the slow-sites server.
#![cfg(feature = "lessons")]

mod common;
use common::example_path;

use std::process::{Command, Output};

/// The sites in the order the lessons request them, and in the order of their delays.
const REQUEST_ORDER: [&str; 5] = ["google", "facebook", "amazon", "apple", "netflix"];
const DELAY_ORDER: [&str; 5] = ["facebook", "apple", "amazon", "netflix", "google"];

/// Runs a lesson with `MINILOOP_TIME_SCALE=0.2` and the given arguments.
fn run_lesson(name: &str, args: &[&str]) -> Output {
    Command::new(example_path(name))
        .args(args)
        .env("MINILOOP_TIME_SCALE", "0.2")
        .output()
        .expect("the lesson should start")
}

/// Runs a lesson that should succeed and returns its stdout.
fn lesson_stdout(name: &str) -> String {
    let output = run_lesson(name, &[]);
    assert!(
        output.status.success(),
        "lesson {name} exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("lessons print UTF-8")
}

/// The site names of the `Requested <name> in X.XX seconds` lines, in printed order.
fn requested_sites(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("Requested "))
        .map(|rest| rest.split(" in ").next().expect("a name comes first"))
        .collect()
}

/// The two numbers of `Run time X.XX seconds, cumulative run time Y.YY seconds`.
fn run_times(output: &str) -> (f64, f64) {
    let line = output
        .lines()
        .find(|line| line.starts_with("Run time "))
        .unwrap_or_else(|| panic!("no `Run time` line in:\n{output}"));
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|word| word.trim_end_matches(',').parse().ok())
        .collect();
    match numbers[..] {
        [run_time, cumulative] => (run_time, cumulative),
        _ => panic!("{line:?} should hold two numbers of seconds"),
    }
}

/// The `(start, end)` in milliseconds of each timeline row (`name |bar| 0ms-600ms`).
fn timeline_rows(output: &str) -> Vec<(u64, u64)> {
    let after_header = output
        .split("Timeline (█ running, · waiting):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no timeline in:\n{output}"));
    after_header
        .lines()
        .map(|row| {
            let span = row.rsplit(' ').next().expect("a span ends the row");
            let (start, end) = span.split_once('-').expect("the span is `Xms-Yms`");
            let millis = |text: &str| text.trim_end_matches("ms").parse::<u64>().expect("ms");
            (millis(start), millis(end))
        })
        .collect()
}

/// Proves lesson 01's point: one request after another, so the run time is the sum.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_01_requests_the_sites_one_after_another() {
    let output = lesson_stdout("01_blocking_requests");
    assert_eq!(requested_sites(&output), REQUEST_ORDER, "{output}");
    // Five results, the run time, then the timeline's header and five rows.
    assert_eq!(output.lines().count(), 12, "{output}");
    // The timeline is a staircase: each request starts when the previous one ended.
    let rows = timeline_rows(&output);
    assert_eq!(rows.len(), 5, "{output}");
    assert!(
        rows.windows(2).all(|pair| pair[1].0 >= pair[0].1),
        "{output}"
    );
    let (run_time, cumulative) = run_times(&output);
    // The five delays add up to 2 s, times 0.2.
    assert!(
        run_time >= 0.39 && run_time >= cumulative - 0.01,
        "{output}"
    );
}

/// Proves lesson 02's point: the requests overlap, so they finish in the order of their
/// delays, and the run time is about the slowest one, well under lesson 01's.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_02_finishes_in_delay_order_well_under_lesson_01s_time() {
    let concurrent = lesson_stdout("02_concurrent_requests");
    assert_eq!(requested_sites(&concurrent), DELAY_ORDER, "{concurrent}");
    // The loop records this timeline with `observe` (lesson 01 draws its own); without it the
    // run times below still show the overlap.
    if cfg!(feature = "observe") {
        assert_eq!(concurrent.lines().count(), 12, "{concurrent}");
        // The timeline overlaps: every request starts before the quickest one has ended.
        let rows = timeline_rows(&concurrent);
        assert_eq!(rows.len(), 5, "{concurrent}");
        let first_end = rows.iter().map(|row| row.1).min().expect("five rows");
        assert!(rows.iter().all(|row| row.0 < first_end), "{concurrent}");
    }
    let (run_time, cumulative) = run_times(&concurrent);
    assert!(run_time < cumulative, "{concurrent}");

    let blocking = lesson_stdout("01_blocking_requests");
    let (blocking_run_time, _) = run_times(&blocking);
    let ratio = run_time / blocking_run_time;
    assert!(
        ratio < 0.6,
        "lesson 02 took {run_time} s, lesson 01 {blocking_run_time} s (ratio {ratio:.2})"
    );
}

/// Proves that bad URL arguments get the clear error while the other requests still run,
/// and that the lesson then exits with a failure code.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn bad_urls_are_reported_and_the_other_requests_still_run() {
    // A refused port: bind, note it, close.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = miniloop::http::SlowServer::start(&[miniloop::http::Site::new(
        "ok",
        std::time::Duration::ZERO,
    )])
    .unwrap();
    let good = server.url("ok");
    let refused_url = format!("http://{refused}/");
    let args = [
        "https://example.com/",
        good.as_str(),
        "nonsense",
        refused_url.as_str(),
    ];
    for lesson in ["01_blocking_requests", "02_concurrent_requests"] {
        let output = run_lesson(lesson, &args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{lesson}: {stderr}");
        assert_eq!(requested_sites(&stdout), ["ok"], "{lesson}: {stdout}");
        assert!(stderr.contains("TLS is out of scope"), "{lesson}: {stderr}");
        assert!(
            stderr.contains("cannot fetch `nonsense`"),
            "{lesson}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("cannot fetch `{refused_url}`")),
            "{lesson}: {stderr}"
        );
    }
}

/// Proves that an unusable time scale stops a lesson with a message and exit code 2.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn a_bad_time_scale_is_refused_with_exit_code_2() {
    for lesson in ["01_blocking_requests", "02_concurrent_requests"] {
        let output = Command::new(example_path(lesson))
            .env("MINILOOP_TIME_SCALE", "fast")
            .output()
            .expect("the lesson should start");
        assert_eq!(output.status.code(), Some(2), "{lesson}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("`MINILOOP_TIME_SCALE` must be a number"),
            "{stderr}"
        );
    }
}

/// Proves that the slow-sites server example refuses bad arguments with a usage message and
/// exit code 2.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn the_slow_server_example_refuses_bad_arguments_with_exit_code_2() {
    for args in [&["--port"][..], &["--port", "http"], &["--verbose"]] {
        let output = Command::new(example_path("slow_server"))
            .args(args)
            .output()
            .expect("the example should start");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains("usage: cargo run --example slow_server"),
            "{stderr}"
        );
    }
}
