//! The loop's events in the tools a tokio program uses (the `tracing` feature): `tracing-subscriber`
//! prints them on stderr, and `tracing-chrome` writes a trace that Perfetto draws (chapter:
//! `docs/seeing-it-run.md`, "With `tracing`: tokio's tools, and Perfetto").
//!
//! ```text
//! cargo run --example tracing_perfetto              # writes miniloop-trace.json in the temp dir
//! cargo run --example tracing_perfetto -- out.json  # or where you say
//! ```
//!
//! Then open <https://ui.perfetto.dev>, choose "Open trace file" and pick the file: the loop's
//! thread is one track, each poll a slice named `task` (click it for the task's id, name and
//! spawn line), and the events (wakes, timers, idle waits, the slow-poll warning, what the
//! tasks log) are marks on it.
//!
//! The program: three "downloads" that sleep (concurrent, like lesson 02), a task that blocks
//! the loop (the slow-poll detector catches it), and a task woken by another thread.

use std::io::IsTerminal;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::Subscriber;
use tracing_chrome::{ChromeLayerBuilder, EventOrSpan};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use miniloop::task::Builder;

fn main() {
    let path = match std::env::args_os().nth(1) {
        Some(path) => std::path::PathBuf::from(path),
        None => std::env::temp_dir().join("miniloop-trace.json"),
    };
    let file = std::fs::File::create(&path).unwrap_or_else(|error| {
        eprintln!(
            "cannot create {}: {error}; pass another path",
            path.display()
        );
        std::process::exit(2);
    });
    // Everything goes to the Perfetto file; stderr gets what a developer reads: `info` and
    // up, and the loop's own events (`miniloop=trace`, as `tokio=trace` would for tokio).
    let (perfetto, flush_on_drop) = ChromeLayerBuilder::new()
        .writer(file)
        .include_args(true)
        .name_fn(Box::new(name_in_perfetto))
        .build();
    let printed = Targets::new()
        .with_default(tracing::Level::INFO)
        .with_target("miniloop", tracing::Level::TRACE);
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal()) // colours for a person, not for a file
        .with_filter(printed);
    let subscriber = tracing_subscriber::registry().with(perfetto).with(stderr);
    // Before the loop is built: the loop asks once, when it is built, whether anyone listens.
    tracing::subscriber::set_global_default(subscriber).expect("no subscriber was set before");

    let event_loop = miniloop::EventLoop::builder()
        .slow_poll_threshold(Some(Duration::from_millis(20)))
        .build();
    event_loop.run_until_complete(async {
        let downloads: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                Builder::new()
                    .name(format!("download {ms}ms"))
                    .spawn(async move {
                        tracing::info!(ms, "download started");
                        miniloop::sleep(Duration::from_millis(ms)).await;
                        tracing::info!(ms, "download finished");
                    })
            })
            .collect();
        let blocker = Builder::new().name("blocker").spawn(async {
            tracing::info!("about to block the loop for 40ms");
            std::thread::sleep(Duration::from_millis(40)); // the mistake of lesson 15
        });
        let (sender, receiver) = futures::channel::oneshot::channel();
        let waiter = Builder::new().name("waiter").spawn(async move {
            let answer: u32 = receiver.await.expect("the thread sends before it ends");
            tracing::info!(answer, "the other thread answered");
        });
        let thread = std::thread::Builder::new()
            .name("helper thread".into())
            .spawn(move || {
                std::thread::sleep(Duration::from_millis(60)); // after the blocker
                sender.send(42).expect("the waiter waits");
            })
            .expect("a thread can start");
        for download in downloads {
            download.await.expect("a download does not panic");
        }
        blocker.await.expect("the blocker does not panic");
        waiter.await.expect("the waiter does not panic");
        thread.join().expect("the helper thread does not panic");
    });
    drop(flush_on_drop); // writes the end of the JSON file
    println!(
        "wrote {}: open it at https://ui.perfetto.dev (\"Open trace file\")",
        path.display()
    );
}

/// What Perfetto calls a slice or a mark: the span's name (`task`), or the event's message
/// (`poll`, `wake task#2 "download 10ms"`, `download started`) rather than its source line.
fn name_in_perfetto<S>(item: &EventOrSpan<'_, '_, S>) -> String
where
    S: Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
{
    match item {
        EventOrSpan::Span(span) => span.name().to_string(),
        EventOrSpan::Event(event) => {
            let mut message = Message::default();
            event.record(&mut message);
            message.0
        }
    }
}

/// Picks the `message` field out of an event.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}
