//! The docs cannot drift from the repository. Each test below reads README.md and every
//! `docs/*.md` (outside their fenced code blocks, unless said otherwise) and holds them to one
//! rule:
//!
//! 1. **Paths exist.** Every backticked repository path (a span that starts with `src/`,
//!    `examples/`, `tests/`, `docs/`, `scripts/`, `benches/`, `loom/` or `.ci/`; a `::name` or
//!    `:line` tail is cut off) names a file or directory that exists, and every relative
//!    Markdown link (`[text](path)`, not `http…`, not `#anchor`)
//!    leads to one, inside the repository. No link is rustdoc's `crate::…`, which GitHub
//!    cannot follow: a file link works in both places (`build.rs` rewrites it for rustdoc, and
//!    `tests/doc_links.rs` checks the rendered side).
//! 2. **Names next to a path exist in that file.** Two shapes are parsed, on the text with
//!    its line breaks turned into spaces:
//!    - a name, then its file: `` `NAME` in `FILE` `` or `` `NAME` (`FILE` ``;
//!    - a file, then its names: `` `FILE`: `NAME`, `NAME` and `NAME` `` (also
//!      `` `FILE` and `FILE`: … ``, where each name must be in one of the files).
//!
//!    `FILE` is a `.rs` path under `src/`, `tests/`, `examples/` or `benches/`; `NAME` is a
//!    Rust path (`wait_for_work`, `Core::wait_for_work`, `EventLoop::builder()`), and only its
//!    last segment is looked up, in that file only: a lower-case one must be declared there
//!    as `fn NAME` or as a field `NAME:`, a capitalised one as a `struct`, `enum`, `trait`,
//!    `type`, `static`, `const` or `union`, or as an enum variant. So "`Core::wait_for_work`
//!    in `src/event_loop.rs`" fails once the function moves to `src/event_loop/turn.rs`. (The
//!    `Type::` part is not checked against the `impl` the function sits in.)
//! 3. **Nothing points outside the repository.** No file of README.md, docs, src, tests,
//!    examples, scripts or benches mentions the `shared` directory beside this repository, or
//!    the style guide and design notes kept there (`STYLE` and `DESIGN`, `.md`), which this
//!    repository does not have.
//! 4. **Every gdb recipe is checked, or says why not.** A fenced block is a recipe when it
//!    mentions `gdb` or has a line starting with `break `. The last non-blank line before it
//!    must be `<!-- gdb: checked by tests/gdb.rs::TEST -->`, where `TEST` is a `#[test]`
//!    function of `tests/gdb.rs` that runs that recipe, or `<!-- gdb: not checked: REASON -->`.
//!    A marker may also stand before a block of gdb's output that the test checks; a marker
//!    before anything but a fenced block is an error.
//! 5. **Trace lines point at their spawn.** A `spawn task#N … at examples/FILE.rs:LINE:COLUMN`
//!    line quoted from `MINILOOP_TRACE=1` (fenced blocks included) names a place where the
//!    text starts with `spawn`: the call that `#[track_caller]` reported.
//! 6. **The README's reading order holds.** Each row `| N | `src/FILE` | LINES | … |` of its
//!    "Reading the code" tables names a file whose lines without its own tests (those before a
//!    `#[cfg(test)]` followed by `mod tests`) are within a quarter of LINES, and the first table,
//!    "an afternoon", is at most 4 500 lines: four and a half hours at a thousand an hour.
//! 7. **The README says where the `unsafe` is.** The files of `src/` with
//!    `#[allow(unsafe_code)]` are exactly the `src/` paths the README's `unsafe` paragraph
//!    names, and the lessons it says use `unsafe` are exactly the examples that do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `docs/*.md`, as (path relative to the root, text).
fn documents() -> Vec<(String, String)> {
    let mut paths = vec!["README.md".to_owned()];
    let mut chapters: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ should be readable")
        .map(|entry| entry.expect("a docs/ entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    chapters.sort();
    paths.extend(chapters);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(root().join(&path))
                .unwrap_or_else(|error| panic!("{path}: {error}"));
            (path, text)
        })
        .collect()
}

/// Whether `line` opens or closes a fenced code block.
fn is_fence(line: &str) -> bool {
    let line = line.trim_start();
    line.starts_with("```") || line.starts_with("~~~")
}

/// The text outside fenced code blocks, one line per line (fenced lines become empty, so
/// line numbers still match).
fn prose(text: &str) -> String {
    let mut is_fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if is_fence(line) {
            is_fenced = !is_fenced;
            lines.push("");
        } else {
            lines.push(if is_fenced { "" } else { line });
        }
    }
    lines.join("\n")
}

/// The backticked spans of `text`, in order, with the text between each and the one before.
fn spans(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    let mut before = String::new();
    while let Some(start) = rest.find('`') {
        // A run of backticks (``x``) opens a span closed by the same run.
        let ticks = rest[start..].chars().take_while(|c| *c == '`').count();
        let fence = "`".repeat(ticks);
        before.push_str(&rest[..start]);
        let inner_start = start + ticks;
        let Some(length) = rest[inner_start..].find(&fence) else {
            break;
        };
        let inner = rest[inner_start..inner_start + length].trim().to_owned();
        found.push((std::mem::take(&mut before), inner));
        rest = &rest[inner_start + length + ticks..];
    }
    found
}

const PATH_PREFIXES: [&str; 8] = [
    "src/",
    "examples/",
    "tests/",
    "docs/",
    "scripts/",
    "benches/",
    "loom/",
    ".ci/",
];

/// The repository path a span names, if it names one: `src/time.rs:152` and
/// `tests/gdb.rs::name` give `src/time.rs` and `tests/gdb.rs`.
fn repository_path(span: &str) -> Option<&str> {
    if !PATH_PREFIXES.iter().any(|prefix| span.starts_with(prefix)) || span.contains(' ') {
        return None;
    }
    let path = span.split("::").next().unwrap_or(span);
    let path = path.trim_end_matches(|c: char| c.is_ascii_digit() || c == ':');
    Some(path)
}

#[test]
fn paths_and_links_in_the_docs_exist() {
    let mut missing = Vec::new();
    let canonical_root = root().canonicalize().expect("the root exists");
    for (document, text) in documents() {
        let prose = prose(&text);
        for (_, span) in spans(&prose) {
            if let Some(path) = repository_path(&span) {
                if !root().join(path).exists() {
                    missing.push(format!("{document}: `{span}` names no file"));
                }
            }
        }
        for link in markdown_links(&prose) {
            let is_external = link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:");
            if is_external || link.starts_with('#') {
                continue;
            }
            if link.contains("::") {
                missing.push(format!(
                    "{document}: the link ({link}) works only in rustdoc; GitHub cannot follow \
                     it: link the file instead (`build.rs` makes it work in rustdoc)"
                ));
                continue;
            }
            let target = link.split('#').next().unwrap_or_default();
            let base = root().join(&document);
            let path = base
                .parent()
                .expect("a document is in a folder")
                .join(target);
            match path.canonicalize() {
                Ok(path) if path.starts_with(&canonical_root) => {}
                Ok(path) => missing.push(format!(
                    "{document}: the link ({link}) leaves the repository: {}",
                    path.display()
                )),
                Err(_) => missing.push(format!("{document}: the link ({link}) leads nowhere")),
            }
        }
    }
    assert!(missing.is_empty(), "\n{}", missing.join("\n"));
}

/// The targets of the Markdown links `[text](target)` in `text`.
fn markdown_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let target = &after[..end];
        if !target.is_empty() && !target.contains(char::is_whitespace) {
            links.push(target.to_owned());
        }
        rest = &after[end..];
    }
    links
}

/// A Rust path as the docs write it (`Core::wait_for_work`, `run()`), without the `()`.
fn rust_name(span: &str) -> Option<&str> {
    let name = span.strip_suffix("()").unwrap_or(span);
    let is_path = !name.is_empty()
        && name
            .split("::")
            .all(|segment| is_identifier(segment) && !segment.is_empty());
    is_path.then_some(name)
}

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A `.rs` file of the code that names can be looked up in.
fn rust_file(span: &str) -> Option<&str> {
    let is_code = ["src/", "tests/", "examples/", "benches/"]
        .iter()
        .any(|prefix| span.starts_with(prefix));
    (is_code && span.ends_with(".rs") && !span.contains(' ')).then_some(span)
}

/// Whether `source` declares `name` (the last segment of a Rust path), by the rule in this
/// file's header.
fn declares(source: &str, name: &str) -> bool {
    let followed_by_a_boundary = |text: &str, word: &str| {
        let mut rest = text;
        while let Some(at) = rest.find(word) {
            let after = &rest[at + word.len()..];
            let before_ok = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let after_ok = after
                .chars()
                .next()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            if before_ok && after_ok {
                return true;
            }
            rest = after;
        }
        false
    };
    let starts_lower = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_');
    if starts_lower {
        let is_fn = followed_by_a_boundary(source, &format!("fn {name}"));
        let is_field = source.lines().any(|line| {
            let line = line.trim_start();
            let line = ["pub(crate) ", "pub(super) ", "pub "]
                .iter()
                .find_map(|visibility| line.strip_prefix(visibility))
                .unwrap_or(line);
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(':') && !rest.starts_with("::"))
        });
        is_fn || is_field
    } else {
        let is_item = [
            "struct", "enum", "trait", "type", "static", "const", "union",
        ]
        .iter()
        .any(|keyword| followed_by_a_boundary(source, &format!("{keyword} {name}")));
        let is_variant = source.lines().any(|line| {
            line.trim_start().strip_prefix(name).is_some_and(|rest| {
                rest.is_empty()
                    || rest.starts_with(',')
                    || rest.starts_with('(')
                    || rest.starts_with(" {")
                    || rest.starts_with('{')
            })
        });
        is_item || is_variant
    }
}

/// The (document, name, files) pairs of rule 2, from one document's prose.
fn names_beside_files(text: &str) -> Vec<(String, Vec<String>)> {
    let flat = prose(text)
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let spans = spans(&flat);
    let mut pairs = Vec::new();
    for (index, (_, span)) in spans.iter().enumerate() {
        // `NAME` in `FILE`, `NAME` (`FILE`
        if let (Some(name), Some((between, next))) = (rust_name(span), spans.get(index + 1)) {
            if let Some(file) = rust_file(next) {
                if between == " in " || between == " (" {
                    pairs.push((name.to_owned(), vec![file.to_owned()]));
                }
            }
        }
        // `FILE`: `NAME`, `NAME` and `NAME` (or `FILE` and `FILE`: …)
        let Some(first_file) = rust_file(span) else {
            continue;
        };
        let is_second_of_a_group = index > 0
            && rust_file(&spans[index - 1].1).is_some()
            && (spans[index].0 == " and " || spans[index].0 == ", ");
        if is_second_of_a_group {
            continue;
        }
        let mut files = vec![first_file.to_owned()];
        let mut next = index + 1;
        while let Some((between, span)) = spans.get(next) {
            match rust_file(span) {
                Some(file) if between == " and " || between == ", " => {
                    files.push(file.to_owned());
                    next += 1;
                }
                _ => break,
            }
        }
        let mut separator = ": ";
        while let Some((between, span)) = spans.get(next) {
            let Some(name) = rust_name(span) else { break };
            if between != separator {
                break;
            }
            pairs.push((name.to_owned(), files.clone()));
            next += 1;
            separator = match spans.get(next) {
                Some((between, _)) if [", ", " and ", ", and "].contains(&between.as_str()) => {
                    between.as_str()
                }
                _ => break,
            };
        }
    }
    pairs
}

#[test]
fn names_written_beside_a_file_are_declared_in_it() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (document, text) in documents() {
        for (name, files) in names_beside_files(&text) {
            let last = name.rsplit("::").next().expect("a path has a segment");
            let sources: Vec<String> = files
                .iter()
                .filter_map(|file| std::fs::read_to_string(root().join(file)).ok())
                .collect();
            checked += 1;
            if !sources.iter().any(|source| declares(source, last)) {
                wrong.push(format!(
                    "{document}: `{name}` is declared in none of {files:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // The parser still finds what the docs write: if this drops, a change of style (or of
    // this parser) has left the rule checking nothing.
    assert!(
        checked > 100,
        "only {checked} names were found beside a file"
    );
}

/// The rule-2 parser, on the shapes it reads and the ones it leaves alone.
#[test]
fn the_name_beside_file_parser_reads_both_shapes() {
    let text = "`Core::wait_for_work` in `src/event_loop/turn.rs`; `wake_task` (`src/waker.rs`).\n\
                - `src/sync_first.rs`: `spawn_eager`, `run_now` and\n  `WouldSuspend`.\n\
                - `src/time.rs` and `src/time/timer_queue.rs`: `sleep`, the `Sleep` future.\n\
                `a` is `b` in `src/lib.rs`";
    let found: Vec<(String, Vec<String>)> = names_beside_files(text);
    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("Core::wait_for_work", vec!["src/event_loop/turn.rs"]),
        ("wake_task", vec!["src/waker.rs"]),
        ("spawn_eager", vec!["src/sync_first.rs"]),
        ("run_now", vec!["src/sync_first.rs"]),
        ("WouldSuspend", vec!["src/sync_first.rs"]),
        ("sleep", vec!["src/time.rs", "src/time/timer_queue.rs"]),
        ("b", vec!["src/lib.rs"]),
    ];
    let expected: Vec<(String, Vec<String>)> = expected
        .into_iter()
        .map(|(name, files)| {
            (
                name.to_owned(),
                files.into_iter().map(str::to_owned).collect(),
            )
        })
        .collect();
    assert_eq!(found, expected);
    assert!(declares(
        "    pub(crate) fn wait_for_work(&self) {}",
        "wait_for_work"
    ));
    assert!(!declares("fn wait_for_work_now() {}", "wait_for_work"));
    assert!(declares(
        "    pub(crate) is_remote_queued: AtomicBool,",
        "is_remote_queued"
    ));
    assert!(declares(
        "pub(crate) enum Polled {\n    Aborted,\n}",
        "Aborted"
    ));
    assert!(declares(
        "static LOOPS: Mutex<()> = Mutex::new(());",
        "LOOPS"
    ));
    assert!(!declares("use crate::waker::LOOPS;", "LOOPS"));
}

/// Every file of the repository's own text: the docs, the code, the tests, the scripts.
fn repository_texts() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else {
                found.push(path);
            }
        }
    }
    let mut paths = vec![root().join("README.md"), root().join("Cargo.toml")];
    for dir in [
        "docs", "src", "tests", "examples", "scripts", "benches", "loom", ".ci", ".vscode",
    ] {
        walk(&root().join(dir), &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            Some((path, text))
        })
        .collect()
}

#[test]
fn nothing_points_outside_the_repository() {
    // Spelled in pieces, so that this file does not find itself.
    let outside = [
        ["..", "/shared"].concat(),
        ["shared", "/"].concat(),
        ["STYLE", ".md"].concat(),
        ["DESIGN", ".md"].concat(),
    ];
    let mut found = Vec::new();
    for (path, text) in repository_texts() {
        for (number, line) in text.lines().enumerate() {
            if outside.iter().any(|word| line.contains(word.as_str())) {
                let path = path.strip_prefix(root()).unwrap_or(&path);
                found.push(format!("{}:{}: {line}", path.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "these lines point at files outside this repository; say it here instead:\n{}",
        found.join("\n")
    );
}

/// A marker of rule 4, before a gdb recipe.
#[derive(Debug, PartialEq)]
enum Marker {
    /// `<!-- gdb: checked by tests/gdb.rs::TEST -->`
    Checked(String),
    /// `<!-- gdb: not checked: REASON -->`
    NotChecked(String),
}

fn marker(line: &str) -> Option<Result<Marker, String>> {
    let inner = line
        .trim()
        .strip_prefix("<!-- gdb:")?
        .strip_suffix("-->")?
        .trim();
    if let Some(test) = inner.strip_prefix("checked by tests/gdb.rs::") {
        return Some(if is_identifier(test) {
            Ok(Marker::Checked(test.to_owned()))
        } else {
            Err(format!("{test:?} is not a test function's name"))
        });
    }
    if let Some(reason) = inner.strip_prefix("not checked:") {
        let reason = reason.trim();
        return Some(if reason.len() >= 10 {
            Ok(Marker::NotChecked(reason.to_owned()))
        } else {
            Err("a recipe that is not checked says why, in a few words".to_owned())
        });
    }
    Some(Err(format!(
        "{line:?}: write `<!-- gdb: checked by tests/gdb.rs::TEST -->` or \
         `<!-- gdb: not checked: REASON -->`"
    )))
}

/// Whether a fenced block's lines are a gdb recipe (rule 4).
fn is_gdb_recipe(block: &[&str]) -> bool {
    block
        .iter()
        .any(|line| line.contains("gdb") || line.trim_start().starts_with("break "))
}

/// The `#[test]` functions of `tests/gdb.rs`.
fn gdb_tests() -> BTreeSet<String> {
    let source = std::fs::read_to_string(root().join("tests/gdb.rs")).expect("tests/gdb.rs");
    let lines: Vec<&str> = source.lines().collect();
    let mut tests = BTreeSet::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let attributes = lines[..index]
            .iter()
            .rev()
            .take_while(|line| line.starts_with("#[") || line.starts_with("///"));
        if attributes.into_iter().any(|line| *line == "#[test]") {
            tests.insert(name);
        }
    }
    tests
}

#[test]
fn every_gdb_recipe_is_checked_or_says_why_not() {
    let tests = gdb_tests();
    assert!(tests.len() >= 5, "tests/gdb.rs has tests: {tests:?}");
    let mut problems = Vec::new();
    let mut checked = 0;
    let mut not_checked = 0;
    for (document, text) in documents() {
        let lines: Vec<&str> = text.lines().collect();
        let mut index = 0;
        let mut pending_marker: Option<(usize, Result<Marker, String>)> = None;
        while index < lines.len() {
            let line = lines[index];
            if let Some(found) = marker(line) {
                if let Some((at, _)) = pending_marker.take() {
                    problems.push(format!(
                        "{document}:{}: a gdb marker with no recipe after it",
                        at + 1
                    ));
                }
                pending_marker = Some((index, found));
                index += 1;
                continue;
            }
            if !is_fence(line) {
                if !line.trim().is_empty() {
                    if let Some((at, _)) = pending_marker.take() {
                        problems.push(format!(
                            "{document}:{}: a gdb marker with no recipe after it",
                            at + 1
                        ));
                    }
                }
                index += 1;
                continue;
            }
            let start = index;
            let end = (start + 1..lines.len())
                .find(|&at| is_fence(lines[at]))
                .unwrap_or(lines.len());
            let block = &lines[start + 1..end];
            let marker = pending_marker.take();
            if is_gdb_recipe(block) {
                match marker {
                    None => problems.push(format!(
                        "{document}:{}: a gdb recipe with no marker before it: add \
                         `<!-- gdb: checked by tests/gdb.rs::TEST -->` (and the test) or \
                         `<!-- gdb: not checked: REASON -->`",
                        start + 1
                    )),
                    Some((at, Err(message))) => {
                        problems.push(format!("{document}:{}: {message}", at + 1));
                    }
                    Some((at, Ok(Marker::Checked(test)))) => {
                        checked += 1;
                        if !tests.contains(&test) {
                            problems.push(format!(
                                "{document}:{}: tests/gdb.rs has no #[test] fn {test}",
                                at + 1
                            ));
                        }
                    }
                    Some((_, Ok(Marker::NotChecked(_)))) => not_checked += 1,
                }
            } else if let Some((at, Ok(Marker::Checked(test)))) = marker {
                // gdb's output, shown after a recipe: the test checks it.
                if !tests.contains(&test) {
                    problems.push(format!(
                        "{document}:{}: tests/gdb.rs has no #[test] fn {test}",
                        at + 1
                    ));
                }
            } else if let Some((at, _)) = marker {
                problems.push(format!(
                    "{document}:{}: only a checked block of gdb's output may carry a marker \
                     without being a recipe",
                    at + 1
                ));
            }
            index = end + 1;
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert!(
        checked > not_checked,
        "most recipes should be run by tests/gdb.rs: {checked} checked, {not_checked} not"
    );
}

#[test]
fn the_gdb_marker_parser_accepts_only_the_two_forms() {
    assert_eq!(
        marker("<!-- gdb: checked by tests/gdb.rs::lesson_13_works -->"),
        Some(Ok(Marker::Checked("lesson_13_works".to_owned())))
    );
    assert_eq!(
        marker("<!-- gdb: not checked: 10 000 threads take 30 s -->"),
        Some(Ok(Marker::NotChecked(
            "10 000 threads take 30 s".to_owned()
        )))
    );
    assert!(matches!(marker("<!-- gdb: not checked: -->"), Some(Err(_))));
    assert!(matches!(
        marker("<!-- gdb: checked by tests/gdb.rs::two words -->"),
        Some(Err(_))
    ));
    assert!(matches!(marker("<!-- gdb: checked -->"), Some(Err(_))));
    assert_eq!(marker("<!-- a comment -->"), None);
    assert!(is_gdb_recipe(&["(gdb) print key"]));
    assert!(is_gdb_recipe(&["set pagination off", "break main"]));
    assert!(!is_gdb_recipe(&["cargo run --example 13_real_event_loop"]));
}

/// The paragraph of the README about `unsafe`: from "`unsafe` is denied" to the blank line.
fn readme_unsafe_paragraph() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let flat = readme.replace('\n', " ");
    let start = flat
        .find("`unsafe` is denied crate-wide")
        .expect("the README says where `unsafe` is allowed");
    let end = flat[start..]
        .find("  ")
        .map_or(flat.len(), |end| start + end);
    flat[start..end].to_owned()
}

#[test]
fn the_readme_names_every_file_with_unsafe_and_only_those() {
    let paragraph = readme_unsafe_paragraph();
    let named: BTreeSet<String> = spans(&paragraph)
        .into_iter()
        .map(|(_, span)| span)
        .filter(|span| span.starts_with("src/"))
        .collect();
    let with_unsafe: BTreeSet<String> = repository_texts()
        .into_iter()
        .filter(|(path, text)| {
            path.starts_with(root().join("src")) && text.contains("#[allow(unsafe_code)]")
        })
        .map(|(path, _)| {
            let path = path.strip_prefix(root()).expect("under the root");
            path.to_string_lossy().into_owned()
        })
        .collect();
    assert_eq!(
        named, with_unsafe,
        "the README's `unsafe` paragraph should name exactly the files that allow it:\n{paragraph}"
    );

    // "… outside the crate: `getrusage` … (lessons 12, 13, 17 and 26) and the `Waker` that
    // lesson 27 builds by hand."
    let (_, lessons_part) = paragraph
        .split_once("The lessons have `unsafe`")
        .expect("the paragraph says which lessons use `unsafe`");
    let said: BTreeSet<u32> = lessons_part
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|number| number.parse().ok())
        .collect();
    let actual: BTreeSet<u32> = repository_texts()
        .into_iter()
        .filter(|(path, text)| {
            path.starts_with(root().join("examples"))
                && ["unsafe {", "unsafe fn", "unsafe impl"]
                    .iter()
                    .any(|word| text.contains(word))
        })
        .filter_map(|(path, _)| {
            let name = path.file_name()?.to_string_lossy().into_owned();
            name.get(..2)?.parse().ok()
        })
        .collect();
    assert_eq!(
        said, actual,
        "the lessons the README says use `unsafe`, and the ones that do"
    );
}

/// The `examples/FILE.rs:LINE:COLUMN` that a quoted `spawn task#…` trace line names.
fn spawn_location(line: &str) -> Option<(String, usize, usize)> {
    if !line.contains("spawn task#") {
        return None;
    }
    let (_, place) = line.split_once(" at examples/")?;
    let place = place.split_whitespace().next()?;
    let mut parts = place.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line_number = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    Some((format!("examples/{file}"), line_number, column))
}

#[test]
fn quoted_trace_lines_point_at_their_spawn() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (document, text) in documents() {
        for (number, line) in text.lines().enumerate() {
            let Some((file, line_number, column)) = spawn_location(line) else {
                continue;
            };
            checked += 1;
            let source = std::fs::read_to_string(root().join(&file)).unwrap_or_default();
            let at = source
                .lines()
                .nth(line_number.saturating_sub(1))
                .and_then(|source_line| source_line.get(column.saturating_sub(1)..));
            if !at.is_some_and(|text| text.starts_with("spawn")) {
                wrong.push(format!(
                    "{document}:{}: {file}:{line_number}:{column} is not a `spawn…` call: {:?}",
                    number + 1,
                    at.unwrap_or("(no such place)")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert!(checked >= 10, "only {checked} trace lines were found");
}

/// A file's lines without its own tests: those before a `#[cfg(test)]` line followed by
/// `mod tests` (or `pub(crate) mod tests`, when other modules' tests share its helpers), or all
/// of them.
fn lines_without_tests(source: &str) -> usize {
    let lines: Vec<&str> = source.lines().collect();
    lines
        .windows(2)
        .position(|pair| {
            // `#[cfg(test)]`, or `#[cfg(all(test, not(loom)))]` in a file loom compiles too.
            (pair[0].trim() == "#[cfg(test)]" || pair[0].trim() == "#[cfg(all(test, not(loom)))]")
                && (pair[1].starts_with("mod tests") || pair[1].starts_with("pub(crate) mod tests"))
        })
        .unwrap_or(lines.len())
}

/// The rows of the README's "Reading the code" tables, table by table: (file, lines stated).
fn reading_order() -> Vec<Vec<(String, usize)>> {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let start = readme
        .find("## Reading the code")
        .expect("the README has a reading order");
    let section = &readme[start..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];
    let mut tables: Vec<Vec<(String, usize)>> = Vec::new();
    let mut in_table = false;
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let row = match cells.as_slice() {
            ["", number, file, lines, _, ""] if number.parse::<usize>().is_ok() => file
                .strip_prefix('`')
                .and_then(|file| file.strip_suffix('`'))
                .zip(lines.parse::<usize>().ok()),
            _ => None,
        };
        match row {
            Some((file, lines)) => {
                if !in_table {
                    tables.push(Vec::new());
                    in_table = true;
                }
                tables
                    .last_mut()
                    .expect("a table was started")
                    .push((file.to_owned(), lines));
            }
            None if line.starts_with('|') => {}
            None => in_table = false,
        }
    }
    tables
}

#[test]
fn the_readme_reading_order_names_real_files_at_their_size() {
    let tables = reading_order();
    assert!(
        tables.len() >= 2,
        "two tables: an afternoon, then the rest: {tables:?}"
    );
    let mut wrong = Vec::new();
    let mut afternoon = 0;
    for (index, table) in tables.iter().enumerate() {
        for (file, stated) in table {
            let Ok(source) = std::fs::read_to_string(root().join(file)) else {
                wrong.push(format!("{file}: no such file"));
                continue;
            };
            let actual = lines_without_tests(&source);
            if index == 0 {
                afternoon += actual;
            }
            let (low, high) = (stated * 3 / 4, stated * 5 / 4);
            if !(low..=high).contains(&actual) {
                wrong.push(format!(
                    "{file}: the README says {stated} lines, it has {actual} (without its tests)"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    assert!(
        afternoon <= 4_500,
        "the README's afternoon is {afternoon} lines now: more than four and a half hours at a \
         thousand lines an hour; split the first table or drop the word"
    );
}
