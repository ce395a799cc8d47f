//! The guided tour's command line (`cargo run -- …`), run as the real binary.

use std::process::Command;

fn tour(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_miniloop"))
        .args(args)
        .output()
        .expect("the tour binary should start")
}

/// `--list` prints every lesson with its chapter, in order, and runs nothing.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn list_prints_every_lesson_with_its_chapter() {
    let output = tour(&["--list"]);
    assert!(output.status.success());
    let listing = String::from_utf8(output.stdout).expect("UTF-8");
    let numbers: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted, "lessons are listed in order:\n{listing}");
    assert!(numbers.len() >= 34, "{listing}");
    assert!(listing.contains("docs/13-real-event-loop.md"), "{listing}");
    assert!(
        listing.contains("docs/31-cancellation-is-dropping.md"),
        "{listing}"
    );
    for chapter in [
        "docs/30-send-and-spawn-local.md",
        "docs/32-select-and-task-groups.md",
        "docs/33-channels-are-wakers-in-a-box.md",
        "docs/34-streams.md",
    ] {
        assert!(listing.contains(chapter), "{listing}");
    }
}

/// An unknown lesson is refused with exit code 2, a message naming it, and the list.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn an_unknown_lesson_is_refused_with_the_list() {
    let output = tour(&["99"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8(output.stderr).expect("UTF-8");
    assert!(message.contains("there is no lesson \"99\""), "{message}");
    assert!(message.contains("docs/07-delegation.md"), "{message}");
    assert!(output.stdout.is_empty(), "nothing runs");
}

/// Too many arguments get the usage line.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn too_many_arguments_get_the_usage() {
    let output = tour(&["03", "04"]);
    assert_eq!(output.status.code(), Some(2));
    let message = String::from_utf8(output.stderr).expect("UTF-8");
    assert!(message.contains("usage: cargo run"), "{message}");
}

/// Guards "an argument names one lesson exactly, or is refused": `7_anything` used to run
/// lesson 07, because only the leading digits were read. Neither a lesson number nor a
/// lesson's exact name gets exit code 2 and a message pointing at `--list`, and runs nothing.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn an_argument_that_only_starts_like_a_lesson_is_refused() {
    for wanted in ["7_anything", "07_delegatio", "7x", "07_delegation.rs"] {
        let output = tour(&[wanted]);
        let message = String::from_utf8(output.stderr).expect("UTF-8");
        assert_eq!(output.status.code(), Some(2), "{wanted}: {message}");
        assert!(
            message.contains(&format!("there is no lesson {wanted:?}")),
            "{message}"
        );
        assert!(message.contains("cargo run -- --list"), "{message}");
        assert!(output.stdout.is_empty(), "{wanted}: nothing runs");
    }
}

/// A pipe whose read end is already closed: whatever is written to the other end gets
/// `EPIPE`, as when `cargo run -- --help | head` has printed its lines and gone.
fn pipe_nobody_reads() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut ends = [0; 2];
    // SAFETY: `ends` is a live array of two `c_int`s, which is what `pipe` fills in.
    let status = unsafe { libc::pipe(ends.as_mut_ptr()) };
    assert_eq!(status, 0, "pipe: {}", std::io::Error::last_os_error());
    // SAFETY: `pipe` just opened both descriptors, and nothing else owns them.
    let (read_end, write_end) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    drop(read_end);
    std::process::Stdio::from(write_end)
}

/// Guards "a closed stdout stops the tour quietly": `println!` panics on a broken pipe, so
/// `cargo run -- --help | head` used to end with a panic message on stderr.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn a_closed_stdout_ends_the_tour_quietly() {
    for args in [&["--help"][..], &["--list"], &["03"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_miniloop"))
            .args(args)
            .stdout(pipe_nobody_reads())
            .output()
            .expect("the tour binary should start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: stderr should stay quiet:\n{stderr}"
        );
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
}
