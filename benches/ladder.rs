//! The optimization ladder: the loops the lessons build, on the same workloads, up to tokio.
//!
//! | function | the loop | where |
//! |---|---|---|
//! | `rung1_busy_loop` | lesson 12: polls every task every turn, no wakers | `ladder/rung1_busy.rs` |
//! | `rung2_waker_loop` | async-book style: `Arc<Mutex<Option<BoxFuture>>>` tasks, an mpsc run queue | `ladder/rung2_waker.rs` |
//! | `rung3_miniloop` | the crate as it is | `src/` |
//! | `rung4_tokio_current_thread` | the peer | tokio |
//!
//! Groups are `ladder_<workload>`; the workloads are the same generic futures as in
//! `vs_tokio.rs` (`support/workloads.rs`). Rung 2 has no timers, so it sits out `sleep_many`. `yield_among_waiters` is
//! the workload where wakers pay: one busy task among a thousand idle ones.
//! The story of what each rung changed and bought is `docs/benchmarks.md`.
//!
//! Run:     cargo bench --bench ladder
//! Report:  python3 scripts/bench_report.py

#[path = "support/harness.rs"]
mod harness;
#[path = "ladder/rung1_busy.rs"]
mod rung1_busy;
#[path = "ladder/rung2_waker.rs"]
mod rung2_waker;
// Shared with `vs_tokio.rs`, which uses every runtime and workload; the ladder uses a few.
#[allow(dead_code)]
#[path = "support/runtimes.rs"]
mod runtimes;
#[allow(dead_code)]
#[path = "support/workloads.rs"]
mod workloads;

use criterion::{criterion_group, criterion_main, Criterion};

use harness::{bench_block_on, new_group};
use rung1_busy::BusyLoop;
use rung2_waker::WakerLoop;
use runtimes::{Miniloop, Tokio};
use workloads::*;

fn ladder_spawn_many(c: &mut Criterion) {
    let mut group = new_group(c, "ladder_spawn_many", SPAWN_MANY as u64);
    let answer = spawn_many_answer();
    bench_block_on(
        &mut group,
        "rung1_busy_loop",
        &BusyLoop,
        spawn_many::<BusyLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung2_waker_loop",
        &WakerLoop,
        spawn_many::<WakerLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung3_miniloop",
        &Miniloop::default(),
        spawn_many::<Miniloop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung4_tokio_current_thread",
        &Tokio::current_thread(),
        spawn_many::<Tokio>,
        answer,
    );
    group.finish();
}

fn ladder_yield_many(c: &mut Criterion) {
    let mut group = new_group(
        c,
        "ladder_yield_many",
        (YIELD_TASKS * YIELDS_PER_TASK) as u64,
    );
    bench_block_on(
        &mut group,
        "rung1_busy_loop",
        &BusyLoop,
        yield_many::<BusyLoop>,
        YIELD_TASKS,
    );
    bench_block_on(
        &mut group,
        "rung2_waker_loop",
        &WakerLoop,
        yield_many::<WakerLoop>,
        YIELD_TASKS,
    );
    bench_block_on(
        &mut group,
        "rung3_miniloop",
        &Miniloop::default(),
        yield_many::<Miniloop>,
        YIELD_TASKS,
    );
    bench_block_on(
        &mut group,
        "rung4_tokio_current_thread",
        &Tokio::current_thread(),
        yield_many::<Tokio>,
        YIELD_TASKS,
    );
    group.finish();
}

/// Where wakers pay: one busy task among many idle ones.
fn ladder_yield_among_waiters(c: &mut Criterion) {
    let mut group = new_group(c, "ladder_yield_among_waiters", WAITER_YIELDS as u64);
    let answer = WAITERS + 1;
    bench_block_on(
        &mut group,
        "rung1_busy_loop",
        &BusyLoop,
        yield_among_waiters::<BusyLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung2_waker_loop",
        &WakerLoop,
        yield_among_waiters::<WakerLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung3_miniloop",
        &Miniloop::default(),
        yield_among_waiters::<Miniloop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung4_tokio_current_thread",
        &Tokio::current_thread(),
        yield_among_waiters::<Tokio>,
        answer,
    );
    group.finish();
}

fn ladder_ping_pong(c: &mut Criterion) {
    let mut group = new_group(c, "ladder_ping_pong", PING_PONG_PAIRS as u64);
    let answer = ping_pong_answer();
    bench_block_on(
        &mut group,
        "rung1_busy_loop",
        &BusyLoop,
        ping_pong::<BusyLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung2_waker_loop",
        &WakerLoop,
        ping_pong::<WakerLoop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung3_miniloop",
        &Miniloop::default(),
        ping_pong::<Miniloop>,
        answer,
    );
    bench_block_on(
        &mut group,
        "rung4_tokio_current_thread",
        &Tokio::current_thread(),
        ping_pong::<Tokio>,
        answer,
    );
    group.finish();
}

fn ladder_sleep_many(c: &mut Criterion) {
    let mut group = new_group(c, "ladder_sleep_many", TIMERS);
    bench_block_on(
        &mut group,
        "rung1_busy_loop",
        &BusyLoop,
        sleep_many::<BusyLoop>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "rung3_miniloop",
        &Miniloop::default(),
        sleep_many::<Miniloop>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "rung4_tokio_current_thread",
        &Tokio::current_thread(),
        sleep_many::<Tokio>,
        TIMERS,
    );
    group.finish();
}

criterion_group!(
    benches,
    ladder_spawn_many,
    ladder_yield_many,
    ladder_yield_among_waiters,
    ladder_ping_pong,
    ladder_sleep_many
);
criterion_main!(benches);
