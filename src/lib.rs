//! miniloop: learn how `async`/`await` works by building a real event loop.
//!
//! Start with the lessons (`cargo run` walks through them in order); this crate is what they
//! lead to. The map, in reading order:
//!
//! | idea | lessons | module | chapter |
//! |---|---|---|---|
//! | why async: blocking vs concurrent requests | 01, 02 | [`net`], [`http`] | [`guide::lesson_01`], [`guide::lesson_02`], [`guide::reactor`] |
//! | waiting without blocking | 03–05 | – | [`guide::lesson_03`] to [`guide::lesson_05`] |
//! | resumable functions, delegation | 06–10 | – | [`guide::lesson_06`] to [`guide::lesson_10`] |
//! | `async fn` is a state machine | 11 | `std::future::Future` | [`guide::lesson_11`] |
//! | an event loop, tasks | 12, 13 | [`event_loop`], [`task`] | [`guide::event_loop`] |
//! | tasks that stay on one thread, stopping tasks, groups of tasks | – | [`spawn_local`], [`AbortHandle`], [`JoinSet`] | [`guide::tasks_and_wakers`] |
//! | wakers instead of spinning (`src/waker.rs`) | 13 | [`JoinHandle`], [`yield_now`] | [`guide::tasks_and_wakers`] |
//! | timers | 13 | [`time`] | [`guide::timers`] |
//! | I/O readiness (`src/reactor.rs`) | 01, 02 | [`net`] | [`guide::reactor`] |
//! | gather, `as_completed`; the first one wins: select, race | 02, 14 | [`join_all`], [`as_completed`], [`select`], [`race`], [`Either`] | [`guide::event_loop`] |
//! | sync code from async, async from sync | 15–18 | [`blocking`], [`run`], [`Handle`] | [`guide::two_worlds`] |
//! | sync-first tasks, no-suspend sections | 19 | [`spawn_eager`], [`run_now`] | [`guide::sync_first`] |
//! | seeing it run: trace, slow polls, timeline | 01, 02, 15 | [`trace`] | [`guide::seeing_it_run`], [`guide::debugging`] |
//! | the Rust half: a waker loop in one file, wakers by hand, `Pin` | 26–28 | `std::task::Waker`, `std::pin::Pin` | [`guide::lesson_26`] to [`guide::lesson_28`] |
//! | the Rust half: `Send` and `spawn_local`, cancellation, select and task groups, channels, streams | 30–34 | [`spawn_local`], [`JoinHandle::abort`], [`timeout`], [`select`], [`race`], [`JoinSet`], [`AbortHandle`], [`interval`], [`as_completed`] | [`guide::lesson_30`] to [`guide::lesson_34`], [`guide::tasks_beyond_python`] |
//! | the capstone: a Redis server that real clients use | 35 | [`net`], [`spawn_eager`], [`run_now`], [`select`] | [`guide::lesson_35`] |
//! | testing every order: seeded schedules, `#[miniloop::test]` | 36 | [`explore`], [`test`], [`EventLoop::builder`] | [`guide::lesson_36`] |
//! | virtual time: a paused clock that jumps to the next timer | 37 | [`time::now`], [`time::advance`], [`time::pause`], [`time::resume`] | [`guide::timers`], [`guide::lesson_37`] |
//! | many threads: work stealing, measured; the lost wake-up only many threads have | 38, 39 | [`multi_thread`] | [`guide::lesson_38`], [`guide::lesson_39`] |
//!
//! # A first program
//! ```
//! use std::time::Duration;
//!
//! let total = miniloop::run(async {
//!     let handles: Vec<_> = (1..=3u64)
//!         .map(|n| miniloop::spawn(async move {
//!             miniloop::sleep(Duration::from_millis(10 * n)).await;
//!             n
//!         }))
//!         .collect();
//!     let mut total = 0;
//!     for handle in handles {
//!         total += handle.await.expect("no task panics");
//!     }
//!     total
//! });
//! assert_eq!(total, 6);
//! ```
#![warn(missing_docs, missing_debug_implementations)]
// `unsafe` is denied everywhere but where it buys measured speed: the one-allocation task in
// `src/task.rs`, its join cell in `src/task/join_cell.rs`, the two callers of the cell's
// `unsafe fn`s (`src/task/join_handle.rs`, `src/blocking.rs`), and the wrapper that puts a
// future that is not `Send` in that allocation (`src/task/local.rs`), the multi-thread
// runtime's work-stealing run queue (`src/multi_thread/queue.rs`), and the two places where
// that runtime turns a task's state word into the right to poll it (`src/multi_thread.rs`,
// `src/multi_thread/worker.rs`); each block is allowed on its own, with a `// SAFETY:` comment
// (docs/reliability.md).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]
// `cargo clippy -- -W clippy::pedantic` was read through (issue 16) and what was right was
// fixed; these are the pedantic lints this crate does not follow, each for one reason.
#![allow(
    // `#[must_use]` goes where dropping the value is a bug (builders, handles, `scaled`),
    // with a message saying what to do, not on every getter.
    clippy::must_use_candidate,
    // Each `#[inline(always)]` is on the scheduler's hot path and was measured
    // (docs/benchmarks.md, "Inside rung 3").
    clippy::inline_always,
    // Slot indexes and generations are `u32` by design, packed into one word with the other
    // half (`src/event_loop/scheduler.rs`, `src/waker.rs`): four billion live tasks would
    // need hundreds of gigabytes first. The float casts draw a timeline's pixels.
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    // A `Debug` impl shows what `dbg!` and gdb's `print` need and leaves out what is large or
    // says nothing (a response's body, a waker, a boxed future).
    clippy::missing_fields_in_debug,
    // `if … { panic!(…) }` keeps a long, formatted message readable; `assert!` would wrap it.
    clippy::manual_assert,
    // A two-arm `match` shows both cases at the same depth; `if let … else` is no clearer.
    clippy::single_match_else,
    // A closure that names its argument (`|waker| waker.wake()`) reads as well as a path.
    clippy::redundant_closure_for_method_calls,
    // Durations are written in the unit the text talks about (a 600 ms delay, a 60 s limit).
    clippy::duration_suboptimal_units,
    // Every `Duration` subtraction is guarded by a comparison just before it, or is in a test.
    clippy::unchecked_time_subtraction,
    // `release` and `released`, a channel's two ends: names alike on purpose.
    clippy::similar_names
)]

pub mod blocking;
pub mod event_loop;
pub mod explore;
pub mod http;
mod join;
pub mod multi_thread;
pub mod net;
mod reactor;
mod select;
mod sync_first;
pub mod task;
pub mod time;
pub mod trace;
mod waker;
mod yield_now;

// So that `#[miniloop::test]`, whose expansion names `::miniloop`, works in this crate's own
// unit tests too.
extern crate self as miniloop;

pub use blocking::spawn_blocking;
pub use event_loop::{run, spawn, spawn_local, EventLoop, Handle};
pub use join::{as_completed, join_all, AsCompleted, JoinAll};
pub use select::{race, select, Either, Race, Select};
pub use sync_first::{is_suspend_allowed, run_now, spawn_eager, WouldSuspend};
pub use task::{AbortHandle, JoinError, JoinHandle, JoinSet, TaskId};
pub use time::{interval, sleep, sleep_until, timeout, Elapsed, Interval, Sleep, Timeout};
pub use yield_now::{yield_now, YieldNow};

/// Runs an `async fn` test on a fresh event loop: `#[miniloop::test]` instead of `#[test]`.
///
/// Options, each optional, separated by commas:
/// - `timeout = "5s"` (or `"500ms"`, `"2m"`): a watchdog; a run that has not finished by then
///   fails with the list of tasks still pending, instead of hanging CI.
/// - `schedules = 500`: runs the test under 500 seeded task orders, stops at the first that
///   fails, and prints its seed and the line that replays it.
/// - `seed = 0x…`: runs the test once, in the order of that seed (the replay).
/// - `start_paused = true`: the loop's clock is virtual and starts paused
///   ([`Builder::start_paused`](event_loop::Builder::start_paused)): sleeps end as soon as
///   every task waits. The watchdog's `timeout` stays on the wall clock.
///
/// With neither `schedules` nor `seed`, the test runs once, in the default order; the
/// environment variable `MINILOOP_SEED=0x…` replays a seed without editing the test. The
/// test may return `()` or a `Result` (an `Err` fails it). What a seed decides, and the runner
/// behind this: [`explore`]; lesson 36 uses it to find an order bug.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// #[miniloop::test(timeout = "5s")]
/// async fn a_task_answers() {
///     let task = miniloop::spawn(async {
///         miniloop::sleep(Duration::from_millis(1)).await;
///         42
///     });
///     assert_eq!(task.await.unwrap(), 42);
/// }
/// ```
/// A mistake is a compile error that says what to write instead:
/// ```compile_fail
/// #[miniloop::test(sedules = 500)] // unknown option `sedules`; the options are ...
/// async fn typo() {}
/// ```
/// ```compile_fail
/// #[miniloop::test]
/// fn not_async() {} // `#[miniloop::test]` goes on an `async fn` with no arguments
/// ```
pub use miniloop_macros::test;

/// The chapters of `docs/` and the README, one page each, compiled into the crate docs so that
/// every code block in them is tested by `cargo test`.
///
/// Each page is its file with the links to other files of the repository rewritten by
/// `build.rs` into links that exist in the rendered docs (see there); the module name follows
/// its rule: `docs/NN-slug.md` is `lesson_NN`, `docs/some-name.md` is `some_name`.
pub mod guide {
    /// A page of the guide: `$file` as `build.rs` rewrote it.
    macro_rules! page {
        ($module:ident, $file:literal) => {
            #[doc = include_str!(concat!(env!("OUT_DIR"), "/guide/", $file))]
            pub mod $module {}
        };
    }

    page!(readme, "README.md");
    // Their code starts the slow-sites server, which is there only with `lessons`.
    #[cfg(feature = "lessons")]
    page!(lesson_01, "docs/01-blocking-requests.md");
    #[cfg(feature = "lessons")]
    page!(lesson_02, "docs/02-concurrent-requests.md");
    page!(lesson_03, "docs/03-waiting-list.md");
    page!(lesson_04, "docs/04-one-at-a-time.md");
    page!(lesson_05, "docs/05-interleaving.md");
    page!(lesson_06, "docs/06-resumable-function.md");
    page!(lesson_07, "docs/07-delegation.md");
    page!(lesson_08, "docs/08-machines-are-iterators.md");
    page!(lesson_09, "docs/09-interleaved-machines.md");
    page!(lesson_10, "docs/10-counting-waits.md");
    page!(lesson_11, "docs/11-async-fn-is-a-state-machine.md");
    page!(lesson_12, "docs/12-busy-event-loop.md");
    page!(lesson_13, "docs/13-real-event-loop.md");
    page!(lesson_14, "docs/14-sequential-vs-gather.md");
    page!(lesson_15, "docs/15-blocking-inside-async.md");
    page!(lesson_16, "docs/16-async-inside-sync.md");
    page!(lesson_17, "docs/17-cpu-bound-work.md");
    page!(lesson_18, "docs/18-waiting-costs-no-thread.md");
    page!(lesson_19, "docs/19-sync-first.md");
    page!(lesson_20, "docs/20-lost-wakeup.md");
    page!(lesson_21, "docs/21-stale-waker.md");
    page!(lesson_22, "docs/22-poll-after-ready.md");
    page!(lesson_23, "docs/23-queue-grows-per-wake.md");
    page!(lesson_24, "docs/24-loop-never-exits.md");
    page!(lesson_25, "docs/25-blocking-inside-poll.md");
    page!(lesson_26, "docs/26-waker-loop-in-one-file.md");
    page!(lesson_27, "docs/27-waker-by-hand.md");
    page!(lesson_28, "docs/28-pin-shown.md");
    page!(lesson_29, "docs/29-poll-contract-broken.md");
    page!(lesson_30, "docs/30-send-and-spawn-local.md");
    page!(lesson_31, "docs/31-cancellation-is-dropping.md");
    page!(lesson_32, "docs/32-select-and-task-groups.md");
    page!(lesson_33, "docs/33-channels-are-wakers-in-a-box.md");
    page!(lesson_34, "docs/34-streams.md");
    page!(tasks_beyond_python, "docs/tasks-beyond-python.md");
    page!(ecosystem, "docs/ecosystem.md");
    page!(lesson_35, "docs/35-redis-on-miniloop.md");
    page!(lesson_36, "docs/36-seeded-schedules.md");
    page!(lesson_37, "docs/37-an-hour-in-a-millisecond.md");
    page!(lesson_38, "docs/38-one-loop-to-many-threads.md");
    page!(lesson_39, "docs/39-the-last-worker-to-sleep.md");
    page!(event_loop, "docs/event-loop.md");
    page!(tasks_and_wakers, "docs/tasks-and-wakers.md");
    page!(timers, "docs/timers.md");
    page!(seeing_it_run, "docs/seeing-it-run.md");
    page!(debugging, "docs/debugging.md");
    page!(benchmarks, "docs/benchmarks.md");
    page!(reactor, "docs/reactor.md");
    page!(two_worlds, "docs/two-worlds.md");
    page!(sync_first, "docs/sync-first.md");
    page!(reliability, "docs/reliability.md");
}
