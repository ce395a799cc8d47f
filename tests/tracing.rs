//! The `tracing` feature (`src/trace/tracing_bridge.rs`): a subscriber of our own collects what
//! the loop emits, and the tests read it back: the `task` span of each task, entered for each
//! poll; wakes with their origin; timers; the slow-poll warning; a bad `MINILOOP_*` value
//! reported through `tracing` rather than on stderr.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
#[cfg(feature = "observe")] // for the tests of the loop's events
use std::task::{Poll, Waker};
#[cfg(feature = "observe")]
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use miniloop::EventLoop;

mod common;

/// What the subscriber saw, in order. Spans are named by their `task.id` field.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    NewSpan {
        name: String,
        fields: Fields,
    },
    Enter(String),
    Exit(String),
    Close(String),
    Event {
        target: String,
        level: tracing::Level,
        fields: Fields,
        /// The `task.id` of the span the event happened in, if any.
        in_task: Option<String>,
    },
}

type Fields = BTreeMap<String, String>;

#[derive(Default)]
struct FieldsVisitor(Fields);

impl Visit for FieldsVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

/// A layer that writes down everything into a shared list.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Seen>>>);

impl Collector {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, seen: Seen) {
        self.0.lock().unwrap().push(seen);
    }

    /// Runs `body` with this collector as the thread's subscriber.
    fn collect<R>(&self, body: impl FnOnce() -> R) -> R {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        tracing::subscriber::with_default(subscriber, body)
    }
}

/// The `task.id` a span was created with, kept in the span's extensions.
struct TaskIdOfSpan(String);

fn task_id_of<S: Subscriber + for<'a> LookupSpan<'a>>(id: &Id, ctx: &Context<'_, S>) -> String {
    let span = ctx.span(id).expect("the registry knows every open span");
    let extensions = span.extensions();
    extensions
        .get::<TaskIdOfSpan>()
        .map(|task| task.0.clone())
        .unwrap_or_else(|| format!("span {}", span.name()))
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Collector {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = FieldsVisitor::default();
        attrs.record(&mut fields);
        let task_id = fields.0.get("task.id").cloned().unwrap_or_default();
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(TaskIdOfSpan(task_id));
        }
        self.push(Seen::NewSpan {
            name: attrs.metadata().name().to_string(),
            fields: fields.0,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.push(Seen::Enter(task_id_of(id, &ctx)));
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.push(Seen::Exit(task_id_of(id, &ctx)));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.push(Seen::Close(task_id_of(&id, &ctx)));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = FieldsVisitor::default();
        event.record(&mut fields);
        let in_task = ctx
            .event_span(event)
            .and_then(|span| span.extensions().get::<TaskIdOfSpan>().map(|t| t.0.clone()));
        self.push(Seen::Event {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            fields: fields.0,
            in_task,
        });
    }
}

/// The events with this target, as (fields, the task span they happened in).
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn events_of(seen: &[Seen], wanted: &str) -> Vec<(Fields, Option<String>)> {
    seen.iter()
        .filter_map(|seen| match seen {
            Seen::Event {
                target,
                fields,
                in_task,
                ..
            } if target == wanted => Some((fields.clone(), in_task.clone())),
            _ => None,
        })
        .collect()
}

/// The `task` span created for the task named `name`: its fields.
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn task_span(seen: &[Seen], name: &str) -> Fields {
    seen.iter()
        .find_map(|seen| match seen {
            Seen::NewSpan { name: span, fields }
                if span == "task" && fields.get("task.name").map(String::as_str) == Some(name) =>
            {
                Some(fields.clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no `task` span for {name:?} in {seen:#?}"))
}

/// A task gets a `task` span at spawn, like tokio's: its id, its name and the line that
/// spawned it. The span is entered for each poll (twice here: pending, then ready), whatever
/// the task logs is nested under it, each poll ends with a `poll` event, and the span closes
/// when the task ends.
#[test]
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn each_task_has_a_span_entered_for_each_poll() {
    let collector = Collector::default();
    let spawned_on = line!() + 4;
    collector.collect(|| {
        let event_loop = EventLoop::new();
        event_loop.run_until_complete(async {
            let worker = miniloop::task::Builder::new().name("worker").spawn(async {
                tracing::info!(step = 1, "inside the worker");
                miniloop::yield_now().await;
                tracing::info!(step = 2, "inside the worker");
            });
            worker.await.unwrap();
        });
    });
    let seen = collector.seen();
    let span = task_span(&seen, "worker");
    let id = span["task.id"].clone();
    assert_eq!(id, "1", "{span:?}");
    assert_eq!(span["loc.file"], "tests/tracing.rs", "{span:?}");
    assert_eq!(span["loc.line"], spawned_on.to_string(), "{span:?}");

    let enters = seen
        .iter()
        .filter(|s| **s == Seen::Enter(id.clone()))
        .count();
    let exits = seen
        .iter()
        .filter(|s| **s == Seen::Exit(id.clone()))
        .count();
    assert_eq!(
        (enters, exits),
        (2, 2),
        "one enter and exit per poll: {seen:#?}"
    );

    let logged = events_of(&seen, "tracing");
    assert_eq!(logged.len(), 2, "{seen:#?}");
    assert!(
        logged
            .iter()
            .all(|(_, in_task)| in_task.as_deref() == Some("1")),
        "the task's own events are nested under its span: {logged:?}"
    );

    let outcomes: Vec<_> = events_of(&seen, "miniloop::task")
        .into_iter()
        .filter(|(_, in_task)| in_task.as_deref() == Some("1"))
        .map(|(fields, _)| {
            let what = fields["message"].clone();
            let detail = fields.get("outcome").or(fields.get("how")).cloned();
            format!("{what} {}", detail.unwrap_or_default())
        })
        .collect();
    assert_eq!(outcomes, ["poll pending", "poll ready", "end finished"]);
    assert!(
        seen.contains(&Seen::Close(id)),
        "the span closes when the task ends: {seen:#?}"
    );
}

/// A wake names its task and where it came from: the loop's thread (and then it happens
/// inside the waking task's span), or another thread, by that thread's name.
#[test]
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn wakes_say_where_they_came_from() {
    let collector = Collector::default();
    collector.collect(|| {
        let event_loop = EventLoop::new();
        event_loop.run_until_complete(async {
            // The sleeper waits on a channel that the waker task fills: a same-thread wake.
            let (sender, receiver) = futures::channel::oneshot::channel::<()>();
            let sleeper = miniloop::task::Builder::new()
                .name("sleeper")
                .spawn(async { receiver.await.unwrap() });
            let waker = miniloop::task::Builder::new()
                .name("waker")
                .spawn(async move { sender.send(()).unwrap() });
            sleeper.await.unwrap();
            waker.await.unwrap();

            // The far task hands its waker, on its first poll, to a thread named "far-waker",
            // which wakes it: the thread waits for the waker, so no timing is involved.
            let (waker_sender, waker_receiver) = std::sync::mpsc::channel::<Waker>();
            let thread = std::thread::Builder::new()
                .name("far-waker".into())
                .spawn(move || waker_receiver.recv().unwrap().wake())
                .unwrap();
            let mut polled_before = false;
            let far = miniloop::task::Builder::new()
                .name("far")
                .spawn(std::future::poll_fn(move |cx| {
                    if polled_before {
                        return Poll::Ready(());
                    }
                    polled_before = true;
                    waker_sender.send(cx.waker().clone()).unwrap();
                    Poll::Pending
                }));
            far.await.unwrap();
            thread.join().unwrap();
        });
    });
    let seen = collector.seen();
    let id_of = |name| task_span(&seen, name)["task.id"].clone();
    let (sleeper, waker, far) = (id_of("sleeper"), id_of("waker"), id_of("far"));
    let wakes = events_of(&seen, "miniloop::task::waker");
    let wake_of = |task: &str| {
        wakes
            .iter()
            .find(|(fields, _)| fields["task.id"] == task)
            .unwrap_or_else(|| panic!("no wake of task {task}: {wakes:#?}"))
            .clone()
    };
    let (fields, in_task) = wake_of(&sleeper);
    assert_eq!(fields["op"], "waker.wake");
    assert_eq!(fields["from"], "the loop's thread");
    assert_eq!(in_task, Some(waker), "woken during the waker's poll");
    let (fields, in_task) = wake_of(&far);
    assert_eq!(fields["from"], "thread \"far-waker\"");
    assert_eq!(in_task, None, "collected by the loop, between polls");
}

/// A timer that fires says so, and the loop's blocking wait before it is an `idle` event.
#[test]
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn timers_and_idle_waits_are_events() {
    let collector = Collector::default();
    collector.collect(|| {
        EventLoop::new().run_until_complete(async {
            miniloop::spawn(miniloop::sleep(Duration::from_millis(2)))
                .await
                .unwrap();
        });
    });
    let seen = collector.seen();
    let fired = events_of(&seen, "miniloop::time");
    assert!(
        fired.iter().any(|(fields, _)| fields["count"] == "1"),
        "{seen:#?}"
    );
    let idle = events_of(&seen, "miniloop::event_loop");
    assert!(
        idle.iter()
            .any(|(fields, _)| fields["message"] == "idle" && fields.contains_key("waited")),
        "{seen:#?}"
    );
}

/// The slow-poll warning goes to the subscriber, at `WARN`, inside the slow task's span, with
/// the task's name and spawn line as fields.
#[test]
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
fn a_slow_poll_is_a_warning_event() {
    let collector = Collector::default();
    collector.collect(|| {
        let event_loop = EventLoop::builder()
            .slow_poll_threshold(Some(Duration::from_millis(5)))
            .build();
        event_loop.run_until_complete(async {
            miniloop::task::Builder::new()
                .name("blocker")
                .spawn(async { std::thread::sleep(Duration::from_millis(10)) })
                .await
                .unwrap();
        });
    });
    let seen = collector.seen();
    let id = task_span(&seen, "blocker")["task.id"].clone();
    let warning = seen
        .iter()
        .find_map(|seen| match seen {
            Seen::Event {
                target,
                level,
                fields,
                in_task,
            } if target == "miniloop::slow_poll" => Some((*level, fields.clone(), in_task.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no slow-poll warning: {seen:#?}"));
    assert_eq!(warning.0, tracing::Level::WARN);
    assert_eq!(warning.1["task.name"], "blocker");
    assert_eq!(warning.1["loc.file"], "tests/tracing.rs");
    assert!(
        warning.1["message"].contains("held the event loop"),
        "{warning:?}"
    );
    assert_eq!(warning.2, Some(id));
}

/// Whether the loop emits is decided once, when it is built: a loop built while no subscriber
/// listens has no task spans (and, with no other switch on, no observer at all, so its hot
/// path is the feature-off one), and emits nothing even into a subscriber set later.
#[test]
fn a_loop_built_without_a_subscriber_emits_nothing() {
    let event_loop = EventLoop::new();
    let collector = Collector::default();
    collector.collect(|| {
        event_loop.run_until_complete(async { miniloop::spawn(async {}).await.unwrap() });
    });
    assert_eq!(collector.seen(), []);
}

// ---- bad `MINILOOP_*` values (in a child process: they are read once per process) ----

/// The variable that makes `env_warning_child` do its work (a no-op in a normal run).
const CHILD_SWITCH: &str = "MINILOOP_TRACING_TEST_CHILD";
/// What the child prints for each warning event it collected.
const CHILD_SAW: &str = "child saw warning:";

/// Not a test of its own: with a subscriber set, starts a loop (which reads the environment)
/// and prints the warnings the subscriber got.
#[test]
fn env_warning_child() {
    if std::env::var_os(CHILD_SWITCH).is_none() {
        return;
    }
    let collector = Collector::default();
    collector.collect(|| miniloop::run(async {}));
    for seen in collector.seen() {
        if let Seen::Event {
            target,
            level: tracing::Level::WARN,
            fields,
            ..
        } = seen
        {
            println!("{CHILD_SAW} {target} {}", fields["message"]);
        }
    }
}

/// With a subscriber, a bad `MINILOOP_TRACE` or `MINILOOP_SLOW_POLL_MS` is a `WARN` event
/// (target `miniloop::env`) and nothing on stderr.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn bad_env_values_are_warned_through_tracing_not_stderr() {
    let this_binary = std::env::current_exe().expect("the test binary knows its own path");
    let output = Command::new(this_binary)
        .args([
            "env_warning_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SWITCH, "1")
        .env("MINILOOP_TRACE", "maybe")
        .env("MINILOOP_SLOW_POLL_MS", "fast")
        .output()
        .expect("the test binary runs as a child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let warnings: Vec<&str> = stdout
        .lines()
        // The first may share its line with libtest's `test env_warning_child ...`.
        .filter_map(|line| line.split_once(CHILD_SAW).map(|(_, warning)| warning))
        .collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(
        warnings[0].starts_with(" miniloop::env ignoring MINILOOP_TRACE=\"maybe\""),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with(" miniloop::env ignoring MINILOOP_SLOW_POLL_MS=\"fast\""),
        "{warnings:?}"
    );
    assert!(!stderr.contains("MINILOOP_"), "nothing on stderr: {stderr}");
}

// ---- the Perfetto recipe of `docs/seeing-it-run.md` ----

/// `cargo run --example tracing_perfetto -- FILE` writes a Chrome JSON trace: one slice
/// (`B` then `E`) named `task` per poll, with the task's fields as args, and a mark per event,
/// named by its message. (That Perfetto opens such a file is Perfetto's promise; this checks
/// the file has what the chapter says it shows.)
#[test]
#[cfg(feature = "observe")] // the loop's events come from `observe`'s hooks
#[cfg_attr(miri, ignore = "starts a child process")]
fn the_perfetto_example_writes_a_slice_per_poll() {
    let path =
        std::env::temp_dir().join(format!("miniloop-tracing-test-{}.json", std::process::id()));
    let output = Command::new(common::example_path("tracing_perfetto"))
        .arg(&path)
        .env_remove("MINILOOP_TRACE")
        .env_remove("MINILOOP_SLOW_POLL_MS")
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("wrote "), "{stdout}");
    let json = std::fs::read_to_string(&path).expect("the example wrote its file");
    std::fs::remove_file(&path).ok();
    assert!(json.trim_start().starts_with('[') && json.trim_end().ends_with(']'));
    let count = |needle: &str| json.matches(needle).count();
    let begins = count(r#""name":"task","ph":"B""#);
    let ends = count(r#""name":"task","ph":"E""#);
    // 5 tasks: each polled once or twice (the downloads and the waiter twice).
    assert!((5..=10).contains(&begins), "{begins} slices:\n{json}");
    assert_eq!(begins, ends, "{json}");
    for mark in [
        r#""name":"poll""#,
        r#""name":"timers fired""#,
        r#""name":"wake task#5 \"waiter\"""#,
        r#""name":"download started""#,
        r#""task.name":"\"blocker\"""#,
    ] {
        assert!(json.contains(mark), "no {mark} in\n{json}");
    }
    assert!(json.contains("held the event loop"), "{json}");
    assert!(stderr.contains("from=thread \"helper thread\""), "{stderr}");
}
