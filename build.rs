//! Rewrites the links of README.md and `docs/*.md` for rustdoc, which shows those files as the
//! pages of `miniloop::guide` (`src/lib.rs`).
//!
//! The Markdown links to files (`[timers](timers.md)`, `![a timeline](01-timeline.svg)`,
//! `[the cell](../src/task/join_cell.rs)`): that is what GitHub and an editor follow, so the
//! files stay the way people read them. In the rendered docs none of those files exist, so each
//! page is written again to `$OUT_DIR/guide/`, the same path as in the repository, with every
//! link that leads to a file of the repository (outside fenced code) made into one that works
//! in `target/doc` and on docs.rs:
//!
//! - a chapter (`docs/NAME.md`, `README.md`) becomes an intra-doc link to its page,
//!   `crate::guide::MODULE` (the naming rule is [`guide_module`]); rustdoc checks that the
//!   page exists, an anchor (`#section`) is kept;
//! - a picture (`docs/*.svg`) is embedded as a `data:` URL, since rustdoc copies no files;
//! - a source file (`src/**.rs`) becomes a link to rustdoc's page of that source;
//! - anything else (`benches/`, `examples/`, the licenses) is not in the rendered docs: the
//!   link becomes its text.
//!
//! Only the links change, never the number of lines, so the line numbers rustdoc gives for a
//! failing doctest are those of the file in `docs/`. `tests/doc_links.rs` builds the docs and
//! checks that every link of every guide page leads somewhere.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::{env, fs};

fn main() {
    println!("cargo:rerun-if-changed=README.md");
    println!("cargo:rerun-if-changed=docs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut pages = vec![PathBuf::from("README.md")];
    let mut chapters: Vec<PathBuf> = fs::read_dir("docs")
        .unwrap_or_else(|error| panic!("cannot list docs/ for the guide: {error}"))
        .map(|entry| entry.expect("a docs/ entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    chapters.sort();
    pages.extend(chapters);
    for page in pages {
        let text = read(&page);
        let rewritten = rewrite_links(&page, &text);
        let target = out_dir.join("guide").join(&page);
        fs::create_dir_all(target.parent().expect("a page is in a folder"))
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", target.display()));
        fs::write(&target, rewritten)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", target.display()));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// The guide module that shows `page` (a path from the repository's root): `README.md` is
/// `readme`, a lesson's chapter `docs/NN-slug.md` is `lesson_NN`, and any other chapter
/// `docs/some-name.md` is `some_name`. `src/lib.rs` declares them by this rule.
fn guide_module(page: &str) -> Option<String> {
    if page == "README.md" {
        return Some("readme".to_owned());
    }
    let stem = page.strip_prefix("docs/")?.strip_suffix(".md")?;
    let number = stem.split('-').next().unwrap_or_default();
    if number.len() == 2 && number.bytes().all(|byte| byte.is_ascii_digit()) {
        Some(format!("lesson_{number}"))
    } else {
        Some(stem.replace('-', "_"))
    }
}

/// `text` (the page at `page`) with its links to repository files rewritten for rustdoc.
fn rewrite_links(page: &Path, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut is_fenced = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            is_fenced = !is_fenced;
        }
        if is_fenced {
            out.push_str(line);
        } else {
            rewrite_line(page, line, &mut out);
        }
    }
    out
}

/// Appends `line` to `out` with each inline link `[text](target)` or image `![alt](target)`
/// rewritten. Link text may have started on an earlier line (it is already in `out`); the
/// target never spans lines.
fn rewrite_line(page: &Path, line: &str, out: &mut String) {
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        let target = &after[..end];
        // A `](` inside a code span is not a link.
        let in_code = rest[..start].matches('`').count() % 2 == 1;
        out.push_str(&rest[..start]);
        match (!in_code).then(|| rustdoc_target(page, target)).flatten() {
            Some(Target::Link(new_target)) => {
                let _ = write!(out, "]({new_target})");
            }
            Some(Target::Text) => drop_link(out),
            None => {
                let _ = write!(out, "]({target})");
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
}

/// Turns the link whose text ends `out` (`[text` or `![alt`, the `](target)` not yet written)
/// into its text alone.
fn drop_link(out: &mut String) {
    let mut depth = 0;
    for (index, character) in out.char_indices().rev() {
        match character {
            ']' => depth += 1,
            '[' if depth > 0 => depth -= 1,
            '[' => {
                let is_image = out[..index].ends_with('!');
                let text = out[index + 1..].to_owned();
                out.truncate(if is_image { index - 1 } else { index });
                out.push_str(&text);
                return;
            }
            _ => {}
        }
    }
    panic!("a link's `](` has no `[` before it:\n{out}");
}

enum Target {
    /// The link, with this target.
    Link(String),
    /// Only the link's text: what it leads to is not in the rendered docs.
    Text,
}

/// What the link `target`, written in `page`, becomes in rustdoc; `None` to leave it as it is
/// (a URL, an anchor on the same page, an intra-doc link).
fn rustdoc_target(page: &Path, target: &str) -> Option<Target> {
    let is_path = !target.contains(|c: char| c == ':' || c.is_whitespace());
    if target.is_empty() || target.starts_with('#') || !is_path {
        return None;
    }
    let (path, anchor) = target
        .split_once('#')
        .map_or((target, String::new()), |(path, anchor)| {
            (path, format!("#{anchor}"))
        });
    let path = repository_path(page, path);
    if let Some(module) = guide_module(&path) {
        return Some(Target::Link(format!("crate::guide::{module}{anchor}")));
    }
    let extension = Path::new(&path)
        .extension()
        .and_then(|extension| extension.to_str());
    if path.starts_with("docs/") && extension == Some("svg") {
        return Some(Target::Link(svg_data_url(&read(Path::new(&path)))));
    }
    if let (Some(source), Some("rs")) = (path.strip_prefix("src/"), extension) {
        // A guide page is `miniloop/guide/MODULE/index.html`; sources are under `src/miniloop/`.
        return Some(Target::Link(format!(
            "../../../src/miniloop/{source}.html{anchor}"
        )));
    }
    Some(Target::Text)
}

/// `target`, relative to the folder of `page`, as a path from the repository's root with `/`.
fn repository_path(page: &Path, target: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let joined = page.parent().unwrap_or(Path::new("")).join(target);
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// `svg` as a `data:image/svg+xml;base64,…` URL.
fn svg_data_url(svg: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut url = String::from("data:image/svg+xml;base64,");
    for chunk in svg.as_bytes().chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let group = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]);
        for index in 0..4 {
            if index <= chunk.len() {
                let sextet = (group >> (18 - 6 * index)) & 0x3f;
                url.push(char::from(ALPHABET[sextet as usize]));
            } else {
                url.push('=');
            }
        }
    }
    url
}
