//! Helpers shared by the integration tests: counters for drops and polls (async-task's
//! `DropCounter`/`PollCounter`, as plain types), a counting waker, a panicking `Drop`, the
//! calling thread's CPU time, and a watchdog that turns a hang into a failure.
#![allow(dead_code)] // each test file uses a different subset

pub mod lesson_output;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::task::ArcWake;

/// How long a test that could hang (a lost wake-up, a starved task) may run before the
/// watchdog fails it. Far above what any test here needs, even on a loaded 2-core machine.
pub const WATCHDOG: Duration = Duration::from_secs(10);

/// A counter shared between a test and the values it hands out.
#[derive(Clone, Debug, Default)]
pub struct Count(Arc<AtomicUsize>);

impl Count {
    /// The current value.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Adds one.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value that adds one to its `Count` when it is dropped. Move it into a future to count
/// how many times that future is dropped, or return it from a task to count output drops.
#[derive(Debug)]
pub struct DropCounter {
    drops: Count,
}

impl DropCounter {
    pub fn new(drops: &Count) -> Self {
        DropCounter {
            drops: drops.clone(),
        }
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.drops.bump();
    }
}

/// A future that adds one to its `Count` each time it is polled, then polls `inner`.
pub struct PollCounter<F> {
    inner: Pin<Box<F>>,
    polls: Count,
}

impl<F: Future> PollCounter<F> {
    pub fn new(polls: &Count, inner: F) -> Self {
        PollCounter {
            inner: Box::pin(inner),
            polls: polls.clone(),
        }
    }
}

impl<F: Future> Future for PollCounter<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.bump();
        self.inner.as_mut().poll(cx)
    }
}

/// A value whose `Drop` panics with `message`: for "a panic in `Drop` is contained" tests.
#[derive(Debug)]
pub struct PanicOnDrop(pub &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// A waker that counts its wakes, for the stale-waker rule ("polled with A, then B: only B
/// is woken").
#[derive(Debug, Default)]
pub struct CountingWaker {
    wakes: Count,
}

impl ArcWake for CountingWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.wakes.bump();
    }
}

/// A `Waker` and the count of its wakes.
pub fn counting_waker() -> (Waker, Count) {
    let inner = Arc::new(CountingWaker::default());
    let wakes = inner.wakes.clone();
    (futures::task::waker(inner), wakes)
}

/// An ordered record of events, shared between tasks.
#[derive(Clone, Debug, Default)]
pub struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    pub fn push(&self, event: impl Into<String>) {
        self.0
            .lock()
            .expect("no test panics while holding the trace")
            .push(event.into());
    }

    pub fn events(&self) -> Vec<String> {
        self.0
            .lock()
            .expect("no test panics while holding the trace")
            .clone()
    }
}

/// CPU time (user + system) spent so far by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let usage = thread_rusage();
    let to_duration = |time: libc::timeval| {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    };
    to_duration(usage.ru_utime) + to_duration(usage.ru_stime)
}

fn thread_rusage() -> libc::rusage {
    // SAFETY: `rusage` is a plain C struct of integers, for which all-zeroes is a valid value;
    // `getrusage` only writes through the pointer, which points at that live, writable,
    // correctly aligned local for the whole call. `RUSAGE_THREAD` (Linux) asks about the
    // calling thread only, which is the one this test runs its loop on.
    let (result, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let result = libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        (result, usage)
    };
    assert_eq!(
        result,
        0,
        "getrusage(RUSAGE_THREAD) failed: {}",
        std::io::Error::last_os_error()
    );
    usage
}

/// Runs `body` on a fresh thread and returns its result; fails the test if it takes longer
/// than `limit`, so a lost wake-up shows up as a failure and not as a hung `cargo test`.
/// A panic in `body` is re-raised here with its own payload.
pub fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let output = body();
        let _ = done_tx.send(());
        output
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(output) => output,
            Err(payload) => std::panic::resume_unwind(payload),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the loop did not finish within {limit:?}: a wake-up was lost or a task starved")
        }
    }
}

/// The text of a panic payload (`panic!("literal")` gives a `&str`, `panic!("{x}")` a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<not a string>")
}

/// Runs `body`, expects it to panic, and returns the panic message.
pub fn expect_panic(body: impl FnOnce()) -> String {
    let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .expect_err("this call should have panicked");
    panic_message(&*payload).to_owned()
}

/// Path of a built example (a lesson), found from the test binary's own location:
/// `target/<profile>/deps/<test>` → `target/<profile>/examples/<name>`. Plain `cargo test`
/// builds the examples before it runs any test; `cargo test --test X` alone does not.
pub fn example_path(name: &str) -> std::path::PathBuf {
    let mut dir = std::env::current_exe().expect("the test binary should know its own path");
    dir.pop(); // the binary itself
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "example `{name}` is not built at {}; run plain `cargo test` (it builds the examples) \
         or `cargo build --examples` first",
        path.display()
    );
    path
}

/// The 14 lines of the countdown program (lesson 12, the walkthrough's example 12).
pub const COUNTDOWN: [&str; 14] = [
    "10",
    "9",
    "Doing more stuff",
    "8",
    "7",
    "Hello World",
    "6",
    "5",
    "4",
    "3",
    "2",
    "1",
    "TAKE OFF!!!!!",
    "Main is exiting",
];
