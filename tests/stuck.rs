//! The loop that says it is stuck (`src/event_loop/stuck.rs`): when nothing can ever wake it,
//! `run` panics with a report instead of waiting forever; while anything still can (a waker
//! on another thread, a timer, a socket, a `Handle`, a blocking job, a channel), it never does.
//!
//! Every test runs its loop under the watchdog (`common::within`): without the check, the
//! tests that expect the report hang, and the watchdog fails them after 10 s with a message
//! that is not the report.
//!
//! No test measures the check's cost on the busy path: it runs only where the loop is about
//! to wait with no deadline (`wait_for_work`), which a busy loop never reaches.

mod common;
use common::{expect_panic, within, Count, DropCounter, WATCHDOG};

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use miniloop::task::Builder;
use miniloop::JoinHandle;

/// The report's first line (`STUCK` in `src/event_loop/stuck.rs`).
const HEADLINE: &str = "miniloop: the event loop is stuck: every task is waiting and nothing \
     can ever wake one (no timer, no socket, no waker held outside the loop)";
/// How the report names the main future.
const MAIN: &str = "main (the future given to `run` or `run_until_complete`)";
/// The report's line when a spawn location is missing.
const TRACE_HINT: &str = "(run with MINILOOP_TRACE=1 to see where each task was spawned)";

/// When the threads of the "never fires" tests act: longer than the check's second look
/// (50 ms after the first), so that a first look that wrongly saw the loop stuck would be
/// confirmed by the second, and reported, before the thread acts.
const LATER: Duration = Duration::from_millis(150);

/// Breaks the poll contract: `Pending`, and the waker is kept nowhere.
struct Forgetful;

impl Future for Forgetful {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// Keeps the contract the way a leaf waiting on another thread does: on its first poll it
/// hands its waker to a thread, which calls it after `delay`; that thread holds the only waker.
struct WokenByThread {
    delay: Delay,
    shared: Option<Arc<Mutex<Wait>>>,
}

/// What `WokenByThread` shares with its thread: whether the wait is over, and the waker.
type Wait = (bool, Option<Waker>);

/// When the waking thread wakes.
#[derive(Clone, Copy, Debug)]
enum Delay {
    /// After this long.
    Sleep(Duration),
    /// A race: once the thread has started, the poll spins `poll` rounds before it returns
    /// `Pending` while the thread spins `thread` rounds before it wakes, so the wake lands
    /// anywhere from inside the poll to after the loop has started to wait.
    Race { poll: u32, thread: u32 },
}

/// Spins `rounds` times without being optimized away.
fn spin(rounds: u32) {
    for round in 0..rounds {
        std::hint::black_box(round);
    }
}

impl WokenByThread {
    fn new(delay: Delay) -> Self {
        WokenByThread {
            delay,
            shared: None,
        }
    }
}

impl Future for WokenByThread {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(shared) = &self.shared {
            let mut shared = shared.lock().unwrap();
            if shared.0 {
                return Poll::Ready(());
            }
            shared.1 = Some(cx.waker().clone()); // the latest waker, as a leaf must keep
            return Poll::Pending;
        }
        let shared = Arc::new(Mutex::new((false, Some(cx.waker().clone()))));
        self.shared = Some(Arc::clone(&shared));
        let delay = self.delay;
        let has_started = Arc::new(AtomicBool::new(false));
        let started = Arc::clone(&has_started);
        std::thread::spawn(move || {
            started.store(true, Ordering::SeqCst);
            match delay {
                Delay::Sleep(duration) => std::thread::sleep(duration),
                Delay::Race { thread, .. } => spin(thread),
            }
            let waker = {
                let mut shared = shared.lock().unwrap();
                shared.0 = true;
                shared.1.take()
            };
            // By value: the thread's clone goes only after the wake is sent.
            waker.expect("the first poll left its waker").wake();
        });
        if let Delay::Race { poll, .. } = delay {
            while !has_started.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            spin(poll);
        }
        Poll::Pending
    }
}

/// Runs `body` under the watchdog and returns the message it panicked with.
fn stuck_message(body: impl FnOnce() + Send + 'static) -> String {
    expect_panic(|| within(WATCHDOG, body))
}

/// A loop that keeps no task's spawn location unless the task is named (no trace, no
/// slow-poll detector, whatever the environment says).
fn quiet_loop() -> miniloop::EventLoop {
    miniloop::EventLoop::builder()
        .trace(false)
        .slow_poll_threshold(None)
        .record_timeline(false)
        .build()
}

// ---- the report fires ----

/// Guarantee: main awaiting a future that kept no waker is reported, with the cause and the
/// lesson that shows it. Without the check: a hang, failed by the watchdog.
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks")]
fn fires_when_main_awaits_a_future_that_kept_no_waker() {
    let message = stuck_message(|| miniloop::run(Forgetful));
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], HEADLINE, "{message}");
    assert_eq!(lines[1], format!("  {MAIN}: nothing kept its waker"));
    assert!(
        lines[2].starts_with(
            "the likely cause: a future returned `Poll::Pending` without keeping `cx.waker()`"
        ),
        "{message}"
    );
    assert!(lines[2].contains("29_poll_contract_broken"), "{message}");
    assert!(
        lines[2].contains("docs/29-poll-contract-broken.md"),
        "{message}"
    );
    assert_eq!(lines.len(), 3, "{message}");
}

/// Guarantee: main awaiting the handle of a task that kept no waker is reported, and the
/// report names the task and where it was spawned (a named task keeps its location).
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks")]
fn fires_when_main_awaits_a_named_task_that_kept_no_waker_and_names_it() {
    let message = stuck_message(|| {
        quiet_loop().run_until_complete(async {
            let _ = Builder::new().name("forgetful").spawn(Forgetful).await;
        })
    });
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], HEADLINE, "{message}");
    assert_eq!(
        lines[1],
        format!("  {MAIN}: waits for task#1 \"forgetful\", which is stuck too")
    );
    assert!(
        lines[2].starts_with("  task#1 \"forgetful\" (spawned at tests/stuck.rs:"),
        "{message}"
    );
    assert!(lines[2].ends_with("): nothing kept its waker"), "{message}");
    assert!(lines[3].starts_with("the likely cause"), "{message}");
    assert!(!message.contains(TRACE_HINT), "{message}");
}

/// An unnamed task keeps no spawn location unless the loop traces: the report then says how to
/// get it.
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks")]
fn an_unnamed_task_gets_the_hint_to_trace() {
    let message = stuck_message(|| {
        quiet_loop().run_until_complete(async {
            let _ = miniloop::spawn(Forgetful).await;
        })
    });
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[2], "  task#1: nothing kept its waker", "{message}");
    assert_eq!(lines[3], TRACE_HINT, "{message}");
}

/// Guarantee: the note of who awaits a handle survives the pruning of thousands of later
/// notes. Main polls the stuck task's handle once (its note is filed), then spawns and awaits
/// 2 000 other tasks (a note each, pruned again and again), then awaits the handle again with
/// the same waker, which files no new note: only the first one can name main. A pruning that
/// dropped it (or kept an older note instead of the newest) leaves the handle's waker unnamed,
/// so the check counts it as outside, never reports, and the watchdog fails the test.
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks")]
fn fires_when_the_note_naming_main_outlives_thousands_of_later_notes() {
    let message = stuck_message(|| {
        quiet_loop().run_until_complete(async {
            let mut stuck = Builder::new().name("forgetful").spawn(Forgetful);
            let mut is_first_poll = true;
            std::future::poll_fn(|cx| {
                assert!(Pin::new(&mut stuck).poll(cx).is_pending());
                if std::mem::take(&mut is_first_poll) {
                    cx.waker().wake_by_ref(); // come back once: the note is filed now
                    return Poll::Pending;
                }
                Poll::Ready(())
            })
            .await;
            for n in 0..2_000u32 {
                let done = miniloop::spawn(async move {
                    miniloop::yield_now().await; // so that main's await leaves its waker
                    n
                })
                .await;
                assert_eq!(done.unwrap(), n);
            }
            let _ = stuck.await;
        })
    });
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], HEADLINE, "{message}");
    assert_eq!(
        lines[1],
        format!("  {MAIN}: waits for task#1 \"forgetful\", which is stuck too"),
        "{message}"
    );
}

/// Guarantee: two tasks awaiting each other's handles are reported, each waiting for the
/// other: their wakers sit only in each other's join cells.
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks")]
fn fires_for_two_tasks_awaiting_each_other() {
    let message = stuck_message(|| {
        quiet_loop().run_until_complete(async {
            type Slot = Arc<Mutex<Option<JoinHandle<()>>>>;
            let first_slot: Slot = Arc::default();
            let second_slot: Slot = Arc::default();
            let (first_handle, second_handle) = (Arc::clone(&first_slot), Arc::clone(&second_slot));
            let first = Builder::new().name("first").spawn(async move {
                miniloop::yield_now().await; // until main has filed both handles
                let second = second_handle.lock().unwrap().take().unwrap();
                let _ = second.await;
            });
            let second = Builder::new().name("second").spawn(async move {
                miniloop::yield_now().await;
                let first = first_handle.lock().unwrap().take().unwrap();
                let _ = first.await;
            });
            *first_slot.lock().unwrap() = Some(first);
            *second_slot.lock().unwrap() = Some(second);
            Forgetful.await;
        })
    });
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines[0], HEADLINE, "{message}");
    assert_eq!(lines[1], format!("  {MAIN}: nothing kept its waker"));
    assert!(
        lines[2].starts_with("  task#1 \"first\" (spawned at tests/stuck.rs:")
            && lines[2].ends_with("): waits for task#2 \"second\", which is stuck too"),
        "{message}"
    );
    assert!(
        lines[3].starts_with("  task#2 \"second\" (spawned at tests/stuck.rs:")
            && lines[3].ends_with("): waits for task#1 \"first\", which is stuck too"),
        "{message}"
    );
}

/// Guarantee: a loop that is stuck right after its last wake from another thread is still
/// reported. That thread wakes main by value and its waker is spent, so the loop must not
/// count it; `Waker::wake` lets go of it before the loop can hear of the wake. Varied timing
/// over 20 rounds, as in the stress test; with the waker let go of after the wake, a round
/// whose loop looked in between would wait forever (the watchdog).
#[test]
#[cfg_attr(miri, ignore = "waits 50 ms between two looks, 20 times")]
fn fires_right_after_the_last_wake_from_another_thread() {
    let mut random = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..20 {
        let delay = Delay::Race {
            poll: (random.next() % 20_000) as u32,
            thread: (random.next() % 20_000) as u32,
        };
        let message = stuck_message(move || {
            miniloop::run(async move {
                WokenByThread::new(delay).await;
                Forgetful.await;
            })
        });
        assert!(message.starts_with(HEADLINE), "{message}");
    }
}

/// The second look waits in the reactor when the loop has one: a loop with an open socket
/// that no task waits on is still reported.
#[test]
#[cfg_attr(miri, ignore = "opens sockets")]
fn fires_on_a_loop_with_a_socket_nobody_waits_on() {
    let message = stuck_message(|| {
        miniloop::run(async {
            let _listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a local port is free");
            Forgetful.await;
        })
    });
    assert!(message.starts_with(HEADLINE), "{message}");
    assert!(
        message.contains(&format!("  {MAIN}: nothing kept its waker")),
        "{message}"
    );
}

// ---- and never fires while a wake is possible ----

/// Guarantee: a waker held by another thread, which wakes it later, keeps the loop waiting:
/// main's own, and a task's that main awaits.
#[test]
#[cfg_attr(miri, ignore = "sleeps on threads")]
fn never_fires_while_another_thread_holds_the_waker() {
    let started = Instant::now();
    within(WATCHDOG, || {
        miniloop::run(WokenByThread::new(Delay::Sleep(LATER)));
        miniloop::run(async {
            miniloop::spawn(WokenByThread::new(Delay::Sleep(LATER)))
                .await
                .unwrap();
        });
    });
    assert!(started.elapsed() >= 2 * LATER);
}

/// Guarantee: a sleeping timer is a deadline: no report, even beside a stuck task.
#[test]
#[cfg_attr(miri, ignore = "sleeps")]
fn never_fires_while_a_timer_sleeps() {
    within(WATCHDOG, || {
        miniloop::run(async {
            drop(miniloop::spawn(Forgetful)); // stuck for good, and nobody awaits it
            miniloop::sleep(LATER).await;
        });
    });
}

/// Guarantee: a task waiting on a socket (a listener accepting) is not stuck: a client
/// connects later, from a thread.
#[test]
#[cfg_attr(miri, ignore = "opens sockets")]
fn never_fires_while_a_socket_waits() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a local port is free");
            let address = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                std::thread::sleep(LATER);
                std::net::TcpStream::connect(address).expect("the listener accepts")
            });
            let (_stream, _) = listener.accept().await.expect("the client connects");
            drop(client.join().unwrap());
        });
    });
}

/// Guarantee: a `Handle` can spawn, so while another thread holds one the loop is not stuck,
/// even with main waiting on a future that kept no waker. The thread spawns a task later and
/// drops the `Handle`; only when that task has run is the loop reported.
#[test]
#[cfg_attr(miri, ignore = "sleeps on threads")]
fn never_fires_while_another_thread_holds_a_handle() {
    let has_run = Arc::new(AtomicBool::new(false));
    let ran = Arc::clone(&has_run);
    let started = Instant::now();
    let message = stuck_message(move || {
        let event_loop = miniloop::EventLoop::new();
        let handle = event_loop.handle();
        let (sender, receiver) = futures::channel::oneshot::channel::<()>();
        let spawner = std::thread::spawn(move || {
            std::thread::sleep(LATER);
            drop(handle.spawn(async move {
                receiver.await.unwrap();
                ran.store(true, Ordering::SeqCst);
            }));
            drop(handle);
            sender.send(()).unwrap(); // after the drop: when the task ends, no Handle is left
        });
        let _join_later = JoinOnDrop(Some(spawner));
        event_loop.run_until_complete(Forgetful);
    });
    assert!(message.starts_with(HEADLINE), "{message}");
    assert!(
        has_run.load(Ordering::SeqCst),
        "the task spawned through the Handle ran"
    );
    assert!(started.elapsed() >= LATER);
}

/// Joins a thread when dropped (also while a panic unwinds).
struct JoinOnDrop(Option<std::thread::JoinHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

/// Guarantee: a `JoinHandle` held by another thread can `abort` its task, which wakes it: the
/// loop waits for that, then reports what is still stuck (main), and no longer the task.
#[test]
#[cfg_attr(miri, ignore = "sleeps on threads")]
fn never_fires_while_another_thread_holds_a_join_handle() {
    let drops = Count::default();
    let dropped = drops.clone();
    let started = Instant::now();
    let message = stuck_message(move || {
        miniloop::run(async move {
            let guard = DropCounter::new(&dropped);
            let task = miniloop::spawn(async move {
                let _guard = guard;
                Forgetful.await;
            });
            let aborter = std::thread::spawn(move || {
                std::thread::sleep(LATER);
                task.abort();
            });
            let _join_later = JoinOnDrop(Some(aborter));
            Forgetful.await;
        })
    });
    assert!(message.starts_with(HEADLINE), "{message}");
    assert!(
        !message.contains("task#1"),
        "the aborted task is gone: {message}"
    );
    assert_eq!(drops.get(), 1);
    assert!(started.elapsed() >= LATER);
}

/// Guarantee: a handle that main polled, and that was then polled again by someone else
/// (another thread, after a turn or within the same poll; or main itself with another waker),
/// no longer holds main's waker: main's waker on a timer thread is then its only one, and the
/// loop must not count it as kept inside. Fails if a handle polled off the loop's thread does
/// not mark its task `UNKNOWN`, or if the notes of one poll are read oldest first.
#[test]
#[cfg_attr(miri, ignore = "sleeps on threads")]
fn never_fires_when_a_handle_main_polled_is_polled_again_by_someone_else() {
    /// Polls `handle` once with a waker that is not main's.
    fn poll_elsewhere(handle: &mut JoinHandle<()>) {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(handle).poll(&mut cx).is_pending());
    }
    for case in [
        "a thread, a turn later",
        "a thread, same poll",
        "this thread, same poll",
    ] {
        within(WATCHDOG, move || {
            miniloop::run(async move {
                let mut stuck = miniloop::spawn(Forgetful);
                assert!(futures::poll!(&mut stuck).is_pending()); // main's waker goes in
                if case == "a thread, a turn later" {
                    miniloop::yield_now().await; // the loop names main as the awaiter
                }
                if case == "this thread, same poll" {
                    poll_elsewhere(&mut stuck);
                } else {
                    let thread = std::thread::spawn(move || {
                        poll_elsewhere(&mut stuck);
                        stuck
                    });
                    stuck = thread.join().unwrap();
                }
                // main's only waker now: on a timer thread, which wakes it `LATER`.
                WokenByThread::new(Delay::Sleep(LATER)).await;
                drop(stuck);
            });
        });
    }
}

/// Guarantee: a `spawn_blocking` job holds the awaiting task's waker in its own join cell,
/// which a pool thread completes: not stuck.
#[test]
#[cfg_attr(miri, ignore = "sleeps on a pool thread")]
fn never_fires_while_a_blocking_job_runs() {
    let answer = within(WATCHDOG, || {
        miniloop::run(async {
            miniloop::spawn(async {
                miniloop::spawn_blocking(|| {
                    std::thread::sleep(LATER);
                    7
                })
                .await
                .unwrap()
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(answer, 7);
}

/// Guarantee: a `futures::channel::oneshot` whose sender another thread holds keeps the
/// receiver's waker: not stuck.
#[test]
#[cfg_attr(miri, ignore = "sleeps on threads")]
fn never_fires_while_another_thread_holds_a_channels_sender() {
    let message = within(WATCHDOG, || {
        let (sender, receiver) = futures::channel::oneshot::channel();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(LATER);
            sender.send("sent").unwrap();
        });
        let message = miniloop::run(async { receiver.await.unwrap() });
        thread.join().unwrap();
        message
    });
    assert_eq!(message, "sent");
}

/// A small deterministic random number generator (xorshift), to vary the stress test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Guarantee, under load: 1 000 rounds in which another thread holds the only waker and wakes
/// it at a varying moment: mostly a race started once the thread runs (the poll and the
/// thread each spin a random 0-20 000 rounds), so that the wake lands before, during and
/// after the loop's check; sometimes after a short sleep. The report never fires and every
/// round ends. Half the rounds wait in the reactor (a socket is open), half in `park`; half
/// await the leaf in main, half through a spawned task's handle.
#[test]
#[cfg_attr(miri, ignore = "1 000 threads")]
fn stress_a_wake_from_another_thread_at_any_moment_never_reports() {
    within(Duration::from_secs(60), || {
        let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
        for round in 0..1_000u32 {
            let delay = match random.next() % 8 {
                0 => Delay::Sleep(Duration::from_micros(random.next() % 300)),
                _ => Delay::Race {
                    poll: (random.next() % 20_000) as u32,
                    thread: (random.next() % 20_000) as u32,
                },
            };
            let with_reactor = round % 2 == 1;
            let through_task = round % 4 >= 2;
            miniloop::run(async move {
                let _socket = if with_reactor {
                    Some(
                        miniloop::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .unwrap(),
                    )
                } else {
                    None
                };
                if through_task {
                    miniloop::spawn(WokenByThread::new(delay)).await.unwrap();
                } else {
                    WokenByThread::new(delay).await;
                }
            });
        }
    });
}
