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
//! | gather, as_completed; the first one wins: select, race | 02, 14 | [`join_all`], [`as_completed`], [`select`], [`race`], [`Either`] | [`guide::event_loop`] |
//! | sync code from async, async from sync | 15–18 | [`blocking`], [`run`], [`Handle`] | [`guide::two_worlds`] |
//! | sync-first tasks, no-suspend sections | 19 | [`spawn_eager`], [`run_now`] | [`guide::sync_first`] |
//! | seeing it run: trace, slow polls, timeline | 01, 02, 15 | [`trace`] | [`guide::seeing_it_run`], [`guide::debugging`] |
//! | the Rust half: a waker loop in one file, wakers by hand, `Pin` | 26–28 | `std::task::Waker`, `std::pin::Pin` | [`guide::lesson_26`] to [`guide::lesson_28`] |
//! | the Rust half: `Send` and `spawn_local`, cancellation, select and task groups, channels, streams | 30–34 | [`spawn_local`], [`JoinHandle::abort`], [`timeout`], [`select`], [`race`], [`JoinSet`], [`AbortHandle`], [`interval`], [`as_completed`] | [`guide::lesson_30`] to [`guide::lesson_34`], [`guide::tasks_beyond_python`] |
//! | the capstone: a Redis server that real clients use | 35 | [`net`], [`spawn_eager`], [`run_now`], [`select`] | [`guide::lesson_35`] |
//! | testing every order: seeded schedules, `#[miniloop::test]` | 36 | [`explore`], [`test`], [`EventLoop::builder`] | [`guide::lesson_36`] |
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
// future that is not `Send` in that allocation (`src/task/local.rs`); each block is allowed on
// its own, with a `// SAFETY:` comment (docs/reliability.md).
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod blocking;
pub mod event_loop;
pub mod explore;
pub mod http;
mod join;
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

/// The chapters of `docs/`, compiled into the crate docs so that every code block in them is
/// tested by `cargo test`.
pub mod guide {
    #[doc = include_str!("../README.md")]
    pub mod readme {}
    #[doc = include_str!("../docs/01-blocking-requests.md")]
    pub mod lesson_01 {}
    #[doc = include_str!("../docs/02-concurrent-requests.md")]
    pub mod lesson_02 {}
    #[doc = include_str!("../docs/03-waiting-list.md")]
    pub mod lesson_03 {}
    #[doc = include_str!("../docs/04-one-at-a-time.md")]
    pub mod lesson_04 {}
    #[doc = include_str!("../docs/05-interleaving.md")]
    pub mod lesson_05 {}
    #[doc = include_str!("../docs/06-resumable-function.md")]
    pub mod lesson_06 {}
    #[doc = include_str!("../docs/07-delegation.md")]
    pub mod lesson_07 {}
    #[doc = include_str!("../docs/08-machines-are-iterators.md")]
    pub mod lesson_08 {}
    #[doc = include_str!("../docs/09-interleaved-machines.md")]
    pub mod lesson_09 {}
    #[doc = include_str!("../docs/10-counting-waits.md")]
    pub mod lesson_10 {}
    #[doc = include_str!("../docs/11-async-fn-is-a-state-machine.md")]
    pub mod lesson_11 {}
    #[doc = include_str!("../docs/12-busy-event-loop.md")]
    pub mod lesson_12 {}
    #[doc = include_str!("../docs/13-real-event-loop.md")]
    pub mod lesson_13 {}
    #[doc = include_str!("../docs/14-sequential-vs-gather.md")]
    pub mod lesson_14 {}
    #[doc = include_str!("../docs/15-blocking-inside-async.md")]
    pub mod lesson_15 {}
    #[doc = include_str!("../docs/16-async-inside-sync.md")]
    pub mod lesson_16 {}
    #[doc = include_str!("../docs/17-cpu-bound-work.md")]
    pub mod lesson_17 {}
    #[doc = include_str!("../docs/18-waiting-costs-no-thread.md")]
    pub mod lesson_18 {}
    #[doc = include_str!("../docs/19-sync-first.md")]
    pub mod lesson_19 {}
    #[doc = include_str!("../docs/20-lost-wakeup.md")]
    pub mod lesson_20 {}
    #[doc = include_str!("../docs/21-stale-waker.md")]
    pub mod lesson_21 {}
    #[doc = include_str!("../docs/22-poll-after-ready.md")]
    pub mod lesson_22 {}
    #[doc = include_str!("../docs/23-queue-grows-per-wake.md")]
    pub mod lesson_23 {}
    #[doc = include_str!("../docs/24-loop-never-exits.md")]
    pub mod lesson_24 {}
    #[doc = include_str!("../docs/25-blocking-inside-poll.md")]
    pub mod lesson_25 {}
    #[doc = include_str!("../docs/26-waker-loop-in-one-file.md")]
    pub mod lesson_26 {}
    #[doc = include_str!("../docs/27-waker-by-hand.md")]
    pub mod lesson_27 {}
    #[doc = include_str!("../docs/28-pin-shown.md")]
    pub mod lesson_28 {}
    #[doc = include_str!("../docs/29-poll-contract-broken.md")]
    pub mod lesson_29 {}
    #[doc = include_str!("../docs/30-send-and-spawn-local.md")]
    pub mod lesson_30 {}
    #[doc = include_str!("../docs/31-cancellation-is-dropping.md")]
    pub mod lesson_31 {}
    #[doc = include_str!("../docs/32-select-and-task-groups.md")]
    pub mod lesson_32 {}
    #[doc = include_str!("../docs/33-channels-are-wakers-in-a-box.md")]
    pub mod lesson_33 {}
    #[doc = include_str!("../docs/34-streams.md")]
    pub mod lesson_34 {}
    #[doc = include_str!("../docs/tasks-beyond-python.md")]
    pub mod tasks_beyond_python {}
    #[doc = include_str!("../docs/35-redis-on-miniloop.md")]
    pub mod lesson_35 {}
    #[doc = include_str!("../docs/36-seeded-schedules.md")]
    pub mod lesson_36 {}
    #[doc = include_str!("../docs/event-loop.md")]
    pub mod event_loop {}
    #[doc = include_str!("../docs/tasks-and-wakers.md")]
    pub mod tasks_and_wakers {}
    #[doc = include_str!("../docs/timers.md")]
    pub mod timers {}
    #[doc = include_str!("../docs/seeing-it-run.md")]
    pub mod seeing_it_run {}
    #[doc = include_str!("../docs/debugging.md")]
    pub mod debugging {}
    #[doc = include_str!("../docs/benchmarks.md")]
    pub mod benchmarks {}
    #[doc = include_str!("../docs/reactor.md")]
    pub mod reactor {}
    #[doc = include_str!("../docs/two-worlds.md")]
    pub mod two_worlds {}
    #[doc = include_str!("../docs/sync-first.md")]
    pub mod sync_first {}
    #[doc = include_str!("../docs/reliability.md")]
    pub mod reliability {}
}
