//! The guide works in the rendered docs too: `cargo doc` builds them with every warning an
//! error (a broken intra-doc link, such as a chapter link `build.rs` turned into a
//! `crate::guide::…` path that names no page, is one), then every relative `href` and `src` in
//! the HTML of the guide's pages must lead to a file that exists, and an `#anchor` to an `id`
//! in that file. The pictures must be there, embedded (rustdoc copies no files).
//!
//! This is the rendered half; `tests/docs_drift.rs` checks the Markdown half (the files the
//! links name exist, and no link is one that only rustdoc can follow). It runs `cargo doc`
//! itself, in a target dir of its own under cargo's `target/tmp` so as not to wait for the
//! `cargo test` that runs it: the first run checks the library's five small dependencies
//! (about twenty seconds), later ones only document miniloop again (a few seconds).

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the docs of the library (once for all the tests here) and returns the `doc` folder.
fn build_docs() -> &'static Path {
    static DOC: OnceLock<PathBuf> = OnceLock::new();
    DOC.get_or_init(run_cargo_doc)
}

fn run_cargo_doc() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("doc-links");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["doc", "--no-deps", "--lib", "--offline", "--quiet"])
        .current_dir(root())
        .env("CARGO_TARGET_DIR", &target)
        .env(
            "RUSTDOCFLAGS",
            "-D warnings -D rustdoc::broken_intra_doc_links",
        )
        .output()
        .expect("cargo should start");
    assert!(
        output.status.success(),
        "`cargo doc` failed, fix what it says (a link in docs/*.md to a chapter with no page in \
         `guide` in src/lib.rs, ...):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("doc")
}

/// The values of the attribute `name` in `html`, quoted or not, outside `<script>` (whose
/// templates, like `${f}`, are not links).
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    let needle = format!(" {name}=");
    for (index, piece) in html.split("<script").enumerate() {
        let piece = if index == 0 {
            piece
        } else {
            piece.split_once("</script>").map_or("", |(_, after)| after)
        };
        let mut rest = piece;
        while let Some(start) = rest.find(&needle) {
            let value = &rest[start + needle.len()..];
            let (value, after) = if let Some(quoted) = value.strip_prefix('"') {
                quoted.split_once('"').unwrap_or((quoted, ""))
            } else {
                let end = value
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(value.len());
                (&value[..end], &value[end..])
            };
            values.push(value.to_owned());
            rest = after;
        }
    }
    values
}

/// What is wrong with the links of the page at `page` (an HTML file): each relative `href` or
/// `src` that leads to no file, or to an anchor its page lacks.
fn broken_links(page: &Path, ids: &mut HashMap<PathBuf, BTreeSet<String>>) -> Vec<String> {
    let html = std::fs::read_to_string(page).expect("a page is readable");
    let mut broken = Vec::new();
    let links = attribute_values(&html, "href")
        .into_iter()
        .chain(attribute_values(&html, "src"));
    for link in links {
        // Only these schemes; a link rustdoc left as it was (`crate::guide::no-such-page`,
        // not a path it resolves) is a relative link to a file that does not exist.
        let is_url = ["http://", "https://", "mailto:", "data:"]
            .iter()
            .any(|scheme| link.starts_with(scheme));
        if is_url {
            continue;
        }
        let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
        let target = if path.is_empty() {
            page.to_owned()
        } else {
            page.parent().expect("a page is in a folder").join(path)
        };
        let Ok(target) = target.canonicalize() else {
            broken.push(format!("{link}: no such file"));
            continue;
        };
        if anchor.is_empty() || target.is_dir() {
            continue;
        }
        let ids = ids.entry(target.clone()).or_insert_with(|| {
            let html = std::fs::read_to_string(&target).unwrap_or_default();
            attribute_values(&html, "id").into_iter().collect()
        });
        if !ids.contains(anchor) {
            broken.push(format!("{link}: its page has no id `{anchor}`"));
        }
    }
    broken
}

#[test]
fn every_link_of_the_rendered_guide_leads_somewhere() {
    let doc = build_docs();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(doc.join("miniloop/guide"))
        .expect("the guide was documented")
        .map(|entry| entry.expect("a guide entry").path().join("index.html"))
        .filter(|page| page.exists())
        .collect();
    pages.sort();
    let chapters = std::fs::read_dir(root().join("docs"))
        .expect("docs/ is readable")
        .filter(|entry| {
            let name = entry.as_ref().expect("a docs/ entry").file_name();
            name.to_string_lossy().ends_with(".md")
        })
        .count();
    assert_eq!(
        pages.len(),
        chapters + 1,
        "the guide should have a page for the README and one for each docs/*.md: add a \
         `page!` line in src/lib.rs"
    );
    let mut ids = HashMap::new();
    let mut broken = Vec::new();
    for page in &pages {
        for problem in broken_links(page, &mut ids) {
            broken.push(format!("{}: {problem}", page.display()));
        }
    }
    assert!(broken.is_empty(), "\n{}", broken.join("\n"));
}

#[test]
fn the_pictures_are_embedded_in_the_rendered_guide() {
    let doc = build_docs();
    for (chapter, module) in [
        ("docs/01-blocking-requests.md", "lesson_01"),
        ("docs/02-concurrent-requests.md", "lesson_02"),
        ("docs/benchmarks.md", "benchmarks"),
    ] {
        let markdown = std::fs::read_to_string(root().join(chapter)).expect("a chapter");
        let pictures = markdown.matches(".svg)").count();
        assert!(pictures > 0, "{chapter} should show a picture");
        let html = std::fs::read_to_string(doc.join(format!("miniloop/guide/{module}/index.html")))
            .expect("the chapter's page");
        let embedded = attribute_values(&html, "src")
            .iter()
            .filter(|source| source.starts_with("data:image/svg+xml;base64,"))
            .count();
        assert_eq!(
            embedded, pictures,
            "{chapter}: each picture should be embedded"
        );
    }
}

#[test]
fn attributes_are_read_quoted_or_not_and_never_from_scripts() {
    let html = r#"<a href="../x.html#top" id=7 data-x><script>let s = ` src="${f}"`;</script>
        <img src=data:image/png;base64,AA>"#;
    assert_eq!(attribute_values(html, "href"), ["../x.html#top"]);
    assert_eq!(attribute_values(html, "id"), ["7"]);
    assert_eq!(attribute_values(html, "src"), ["data:image/png;base64,AA"]);
}
