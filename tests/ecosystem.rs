//! The proof behind `docs/ecosystem.md`, section by section:
//!
//! - **Runs unchanged**: libraries that need nothing from a runtime but wakers (futures'
//!   channels and `select!`, async-channel, tokio's `sync` module, async-lock, hyper) do their
//!   job on a miniloop loop, each in a test that would hang or fail if a wake were lost.
//! - **Does not run**: tokio's `time`, `spawn` and `net` look for tokio's runtime on the
//!   current thread and panic without it; the chapter quotes the message, `NO_TOKIO_RUNTIME`.
//! - **The bridge**: async-compat's `Compat` makes them work, for what is created inside it,
//!   and not for a tokio future created before it (the pitfall).
//! - **Moving to tokio**: the chapter's table names every item `src/lib.rs` re-exports, and
//!   the chapter's diff is the real diff of `examples/ported_miniloop.rs` and
//!   `examples/ported_tokio.rs`, which print the same lines.

mod common;
use common::lesson_output::run_lesson;
use common::{within, WATCHDOG};

use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use async_compat::Compat;
use futures::{SinkExt, StreamExt};

fn ms(count: u64) -> Duration {
    Duration::from_millis(count)
}

// ---------------------------------------------------------------------------------------------
// Runs unchanged

/// futures' bounded `mpsc` (capacity 1, so the producer waits for the reader), its `oneshot`,
/// and `futures::select!` over both, in a loop.
#[test]
fn futures_channels_and_select_run_unchanged() {
    let log = within(WATCHDOG, || {
        miniloop::run(async {
            let (mut numbers, mut received) = futures::channel::mpsc::channel::<u32>(1);
            let (stop, mut stopped) = futures::channel::oneshot::channel::<&str>();
            let producer = miniloop::spawn(async move {
                for number in 1..=4 {
                    numbers.send(number).await.expect("the reader is there");
                }
                // The reader is already queued to take the last number; the stop comes
                // after it, so that the two are never ready at once.
                miniloop::sleep(ms(5)).await;
                stop.send("no more").expect("the reader is there");
                numbers // kept alive until here: the stream ends by the stop, not by a drop
            });
            let mut log = Vec::new();
            loop {
                futures::select! {
                    number = received.next() => log.push(format!("got {}", number.unwrap())),
                    why = stopped => {
                        log.push(format!("stop: {}", why.unwrap()));
                        break;
                    }
                }
            }
            drop(producer.await.expect("the producer does not panic"));
            log
        })
    });
    assert_eq!(log, ["got 1", "got 2", "got 3", "got 4", "stop: no more"]);
}

/// async-channel, bounded to 2: two producers outrun two consumers and wait for room; the
/// consumers stop when the last sender is dropped.
#[test]
fn async_channel_runs_unchanged() {
    let (sums, most_queued) = within(WATCHDOG, || {
        miniloop::run(async {
            let (sender, receiver) = async_channel::bounded::<u32>(2);
            let mut producers = Vec::new();
            for start in [0, 100] {
                let sender = sender.clone();
                producers.push(miniloop::spawn(async move {
                    let mut most_queued = 0;
                    for number in start..start + 10 {
                        sender.send(number).await.expect("the consumers are there");
                        most_queued = most_queued.max(sender.len());
                    }
                    most_queued
                }));
            }
            drop(sender);
            let consumers: Vec<_> = (0..2)
                .map(|_| {
                    let receiver = receiver.clone();
                    miniloop::spawn(async move {
                        let mut sum = 0;
                        while let Ok(number) = receiver.recv().await {
                            sum += number;
                            miniloop::yield_now().await; // slower than the producers
                        }
                        sum
                    })
                })
                .collect();
            let mut most_queued = 0;
            for producer in producers {
                most_queued = most_queued.max(producer.await.unwrap());
            }
            let mut sums = Vec::new();
            for consumer in consumers {
                sums.push(consumer.await.unwrap());
            }
            (sums, most_queued)
        })
    });
    assert_eq!(
        sums.iter().sum::<u32>(),
        45 + 1045,
        "every number arrives once"
    );
    assert!(
        sums.iter().all(|&sum| sum > 0),
        "both consumers take part: {sums:?}"
    );
    assert_eq!(
        most_queued, 2,
        "the producers filled the channel and waited"
    );
}

/// tokio's `mpsc` and `oneshot` between tasks, and `Notify`: a permit stored by
/// `notify_one` before anyone waits, and a waiter woken by a later `notify_one`.
#[test]
fn tokio_sync_mpsc_and_notify_run_unchanged() {
    let (total, order) = within(WATCHDOG, || {
        miniloop::run(async {
            let (sender, mut receiver) = tokio::sync::mpsc::channel::<u32>(1);
            let producer = miniloop::spawn(async move {
                for number in 1..=5 {
                    sender.send(number).await.expect("the receiver is there");
                }
            });
            let mut total = 0;
            while let Some(number) = receiver.recv().await {
                total += number;
            }
            producer.await.unwrap();

            let notify = std::sync::Arc::new(tokio::sync::Notify::new());
            notify.notify_one(); // no one waits: the permit is kept
            notify.notified().await; // and taken here, at once
            let (said, heard) = tokio::sync::oneshot::channel();
            let waiter = miniloop::spawn({
                let notify = notify.clone();
                async move {
                    notify.notified().await;
                    said.send("woken").unwrap();
                }
            });
            miniloop::sleep(ms(5)).await; // the waiter is waiting by now
            let mut order = vec!["notify"];
            notify.notify_one();
            order.push(heard.await.expect("the waiter sends"));
            waiter.await.unwrap();
            (total, order)
        })
    });
    assert_eq!(total, 15);
    assert_eq!(order, ["notify", "woken"]);
}

/// async-lock's `Mutex`, held across a miniloop sleep by three tasks, lets one in at a time;
/// its `Semaphore` of two lets two. The tasks are `spawn_local`: the counters are `Rc`s.
#[test]
fn async_lock_mutex_and_semaphore_run_unchanged() {
    let (mutex_most, semaphore_most, entries) = within(WATCHDOG, || {
        miniloop::run(async {
            let inside = Rc::new(Cell::new(0));
            let most = Rc::new(Cell::new(0));
            let mutex = Rc::new(async_lock::Mutex::new(Vec::new()));
            let semaphore = Rc::new(async_lock::Semaphore::new(2));
            let mut tasks = Vec::new();
            for task in 0..3 {
                let (inside, most, mutex) = (inside.clone(), most.clone(), mutex.clone());
                tasks.push(miniloop::spawn_local(async move {
                    let mut entries = mutex.lock().await;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    miniloop::sleep(ms(2)).await; // the lock is held across the await
                    entries.push(task);
                    inside.set(inside.get() - 1);
                }));
            }
            for task in tasks.drain(..) {
                task.await.unwrap();
            }
            let mutex_most = most.replace(0);
            for _ in 0..4 {
                let (inside, most, semaphore) = (inside.clone(), most.clone(), semaphore.clone());
                tasks.push(miniloop::spawn_local(async move {
                    let _permit = semaphore.acquire().await;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    miniloop::sleep(ms(2)).await;
                    inside.set(inside.get() - 1);
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let entries = mutex.lock().await.clone();
            (mutex_most, most.get(), entries)
        })
    });
    assert_eq!(mutex_most, 1, "the mutex lets one task in at a time");
    assert_eq!(semaphore_most, 2, "the semaphore lets two in at a time");
    assert_eq!(
        entries,
        [0, 1, 2],
        "the mutex is fair: first come, first served"
    );
}

/// A hyper round trip on miniloop's sockets, the shortest there is: one connection, one
/// `GET`. `tests/hyper.rs` has the rest (keep-alive, `POST` bodies, the slow-sites server).
#[test]
fn hyper_round_trip_runs_unchanged() {
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::rt::TokioIo;

    let answer = within(WATCHDOG, || {
        miniloop::run(async {
            let listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let address = listener.local_addr().unwrap();
            let server = miniloop::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let hello = |request: hyper::Request<hyper::body::Incoming>| async move {
                    let text = format!("hello, {}", request.uri().path());
                    Ok::<_, hyper::Error>(hyper::Response::new(Full::new(bytes::Bytes::from(text))))
                };
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(hello))
                    .await
            });
            let stream = miniloop::net::TcpStream::connect(address).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            let client = miniloop::spawn(connection);
            let request = hyper::Request::get("/miniloop")
                .header("host", "localhost")
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            drop(sender); // the client's connection ends, and with it the server's
            client.await.unwrap().unwrap();
            server.await.unwrap().unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        })
    });
    assert_eq!(answer, "hello, /miniloop");
}

// ---------------------------------------------------------------------------------------------
// Does not run: tokio's runtime-bound parts

/// What tokio's `time`, `spawn` and `net` panic with when no tokio runtime is entered on the
/// thread that calls them; `docs/ecosystem.md` quotes it.
const NO_TOKIO_RUNTIME: &str =
    "there is no reactor running, must be called from the context of a Tokio 1.x runtime";

/// Runs `body` as a miniloop task and returns the message it panicked with.
fn panic_of_task<F: std::future::Future + Send + 'static>(body: F) -> String
where
    F::Output: Send,
{
    let result = within(WATCHDOG, || {
        miniloop::run(async { miniloop::spawn(body).await })
    });
    let error = match result {
        Ok(_) => panic!("the task should have panicked"),
        Err(error) => error,
    };
    assert!(error.is_panic(), "{error}");
    common::panic_message(&*error.into_panic()).to_owned()
}

#[test]
fn tokio_sleep_on_a_miniloop_loop_panics() {
    let message = panic_of_task(async { tokio::time::sleep(ms(1)).await });
    assert_eq!(message, NO_TOKIO_RUNTIME);
}

#[test]
fn tokio_spawn_on_a_miniloop_loop_panics() {
    let message = panic_of_task(async { tokio::spawn(async {}).await });
    assert_eq!(message, NO_TOKIO_RUNTIME);
}

#[test]
fn tokio_tcp_connect_on_a_miniloop_loop_panics() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let message = panic_of_task(async move { tokio::net::TcpStream::connect(address).await });
    assert_eq!(message, NO_TOKIO_RUNTIME);
}

/// The chapter quotes the message these tests read, word for word, in a block of its own.
#[test]
fn the_chapter_quotes_tokio_s_panic_message() {
    let section = chapter_section("What does not run, and why");
    assert!(
        section.contains(&format!("```text\n{NO_TOKIO_RUNTIME}\n```")),
        "docs/ecosystem.md should quote tokio's panic as the tests see it:\n{NO_TOKIO_RUNTIME}"
    );
}

// ---------------------------------------------------------------------------------------------
// The bridge: async-compat

/// Inside `Compat::new(async { ... })`, tokio's timer, `spawn` and sockets work on a miniloop
/// loop. The spawned task runs on async-compat's own thread, where its tokio runtime lives.
#[test]
fn async_compat_runs_tokio_time_spawn_and_net_inside_compat() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (loop_thread, spawned_on, echoed) = within(WATCHDOG, || {
        miniloop::run(Compat::new(async {
            tokio::time::sleep(ms(5)).await;
            let spawned_on =
                tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
                    .await
                    .unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            client.write_all(b"ping").await.unwrap();
            let mut echoed = [0; 4];
            server.read_exact(&mut echoed).await.unwrap();
            let loop_thread = std::thread::current().name().map(str::to_owned);
            (loop_thread, spawned_on, echoed)
        }))
    });
    assert_eq!(&echoed, b"ping");
    assert_ne!(
        loop_thread, spawned_on,
        "the spawned task ran on another thread"
    );
    assert_eq!(spawned_on.as_deref(), Some("async-compat/tokio-1"));
}

/// The pitfall: `Compat` helps only while it polls. A tokio future created before it (here
/// `tokio::time::sleep`, which looks for the runtime when it is called) panics as it would
/// without `Compat`, and so does one in a miniloop task spawned from inside it.
#[test]
fn a_tokio_future_created_outside_compat_still_panics() {
    let message = common::expect_panic(|| {
        miniloop::run(Compat::new(tokio::time::sleep(ms(1))));
    });
    assert_eq!(message, NO_TOKIO_RUNTIME);

    let spawned = within(WATCHDOG, || {
        miniloop::run(Compat::new(async {
            miniloop::spawn(async { tokio::time::sleep(ms(1)).await }).await
        }))
    });
    let error = spawned.expect_err("the miniloop task is polled outside the `Compat`");
    assert_eq!(
        common::panic_message(&*error.into_panic()),
        NO_TOKIO_RUNTIME
    );
}

// ---------------------------------------------------------------------------------------------
// Moving to tokio

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The section of `docs/ecosystem.md` that starts with the heading `title`.
fn chapter_section(title: &str) -> String {
    let chapter = read("docs/ecosystem.md");
    let start = chapter
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("docs/ecosystem.md has no section \"## {title}\""));
    let section = &chapter[start + 1..];
    let end = section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3);
    section[..end].to_owned()
}

/// The names `src/lib.rs` makes public at the crate root: its `pub mod`s and what its
/// `pub use`s re-export (`pub use a::{b, c};` and `pub use a::b;`, over one line or several).
fn crate_root_items() -> BTreeSet<String> {
    let lib = read("src/lib.rs");
    let mut items = BTreeSet::new();
    let mut statement = String::new();
    for line in lib.lines().map(str::trim) {
        if let Some(module) = line
            .strip_prefix("pub mod ")
            .and_then(|rest| rest.strip_suffix(';'))
        {
            items.insert(module.to_owned());
        }
        if statement.is_empty() && !line.starts_with("pub use ") {
            continue;
        }
        statement.push_str(line);
        statement.push(' ');
        if !line.ends_with(';') {
            continue;
        }
        let path = statement
            .trim()
            .trim_start_matches("pub use ")
            .trim_end_matches(';');
        let names = match path.split_once('{') {
            Some((_, group)) => group.trim_end_matches('}').split(',').collect(),
            None => vec![path.rsplit("::").next().unwrap_or(path)],
        };
        for name in names {
            let name = name.trim();
            let name = name.rsplit(" as ").next().unwrap_or(name);
            if !name.is_empty() {
                items.insert(name.to_owned());
            }
        }
        statement.clear();
    }
    items
}

/// The backticked names in the first column of the table in "Moving to tokio", without a
/// `miniloop::` in front or `()` behind.
fn table_names() -> Vec<String> {
    let section = chapter_section("Moving to tokio");
    let mut names = Vec::new();
    for row in section.lines().filter(|line| line.starts_with("| `")) {
        let first_cell = row.split('|').nth(1).unwrap_or_default();
        for span in first_cell.split('`').skip(1).step_by(2) {
            let name = span.trim_start_matches("miniloop::").trim_end_matches("()");
            names.push(name.to_owned());
        }
    }
    names
}

#[test]
fn the_moving_to_tokio_table_names_every_item_of_the_crate_root() {
    let items = crate_root_items();
    assert!(
        items.len() >= 30 && items.contains("run") && items.contains("net"),
        "the `pub use` parser should find the crate root's items: {items:?}"
    );
    let names = table_names();
    let named: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let missing: Vec<&String> = items
        .iter()
        .filter(|item| !named.contains(item.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ecosystem.md, \"Moving to tokio\": add a row for each of {missing:?} (its tokio \
         equivalent, or \"none\" and the nearest thing)"
    );
    // And no row names something the crate no longer has: each name's first segment is an
    // item of the root (`EventLoop::builder` counts as `EventLoop`).
    let stale: Vec<&String> = names
        .iter()
        .filter(|name| !items.contains(name.split("::").next().unwrap_or(name)))
        .collect();
    assert!(
        stale.is_empty(),
        "docs/ecosystem.md names what the crate root does not export: {stale:?}"
    );
}

/// A line-by-line diff of `old` and `new`, as `diff -U0` prints it (hunks with no context),
/// from a longest common subsequence of their lines.
fn unified_diff_without_context(old: &[&str], new: &[&str]) -> Vec<String> {
    // common[i][j]: the length of the longest common subsequence of old[i..] and new[j..].
    let mut common = vec![vec![0usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    // Walk the table: a line both have is kept; otherwise drop from `old` or take from `new`,
    // whichever keeps the longer common rest. A run of changes between kept lines is a hunk.
    let (mut i, mut j) = (0, 0);
    let mut lines = Vec::new();
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            i += 1;
            j += 1;
            continue;
        }
        let (old_start, new_start) = (i, j);
        while (i < old.len() || j < new.len())
            && !(i < old.len() && j < new.len() && old[i] == new[j])
        {
            if j == new.len() || (i < old.len() && common[i + 1][j] >= common[i][j + 1]) {
                i += 1;
            } else {
                j += 1;
            }
        }
        // `diff` numbers an empty side by the line before it, and leaves out a count of one.
        let range = |start: usize, count: usize| match count {
            0 => format!("{start},0"),
            1 => format!("{}", start + 1),
            _ => format!("{},{count}", start + 1),
        };
        lines.push(format!(
            "@@ -{} +{} @@",
            range(old_start, i - old_start),
            range(new_start, j - new_start)
        ));
        lines.extend(old[old_start..i].iter().map(|line| format!("-{line}")));
        lines.extend(new[new_start..j].iter().map(|line| format!("+{line}")));
    }
    lines
}

#[test]
fn the_chapter_shows_the_real_diff_of_the_ported_pair() {
    let (old_path, new_path) = ("examples/ported_miniloop.rs", "examples/ported_tokio.rs");
    let (old, new) = (read(old_path), read(new_path));
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut expected = vec![format!("--- {old_path}"), format!("+++ {new_path}")];
    expected.extend(unified_diff_without_context(&old, &new));

    let section = chapter_section("Moving to tokio");
    let block: Vec<&str> = section
        .split("```diff\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("\"Moving to tokio\" shows the diff in a ```diff block")
        .lines()
        .collect();
    assert!(
        block == expected,
        "docs/ecosystem.md's diff is not `diff -U0 {old_path} {new_path}`; paste this:\n{}",
        expected.join("\n")
    );
    let changed = expected.iter().filter(|line| line.starts_with('+')).count();
    assert!(
        changed < new.len() / 5,
        "the two files should differ in their API lines only: {changed} of {} lines changed",
        new.len()
    );
}

/// The lines both sides of the ported program print: two dishes cooked before closing, the
/// souffle cancelled at closing, the waiter's list.
const KITCHEN: [&str; 4] = [
    "kitchen: soup cooked",
    "kitchen: pasta cooked",
    "kitchen: closing, 1 cook(s) at work",
    "waiter: served soup, pasta",
];

#[test]
fn the_ported_program_prints_the_same_on_both_runtimes() {
    for side in ["ported_miniloop", "ported_tokio"] {
        let output = run_lesson(side, None);
        assert_eq!(output.lines().collect::<Vec<_>>(), KITCHEN, "{side}");
    }
}
