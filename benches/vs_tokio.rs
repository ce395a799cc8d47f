//! miniloop against tokio and two small executors, one criterion group per workload.
//!
//! Every function of a group runs the same future (`support/workloads.rs`, written once over
//! the `Runtime` trait of `support/runtimes.rs`); only the runtime changes. The function names
//! are the runtimes': `miniloop`, `tokio_current_thread`, `tokio_multi_thread`,
//! `async_executor_local`, `futures_local_pool`. The `floor_*` groups run the channel-bound
//! workloads' futures with no executor at all, the limit any scheduler can reach.
//!
//! Run:     cargo bench --bench vs_tokio
//! Report:  python3 scripts/bench_report.py   (table, ratios, `docs/benchmarks.svg`)
//! Read:    docs/benchmarks.md
//!
//! CI runs this file in test mode (`cargo test --benches`): each function runs once and
//! asserts its answer.

#[path = "support/harness.rs"]
mod harness;
#[path = "support/runtimes.rs"]
mod runtimes;
#[path = "support/workloads.rs"]
mod workloads;

use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

use harness::{bench_block_on, new_group};
use runtimes::{AsyncExecutorLocal, FuturesLocalPool, Joined, Miniloop, Runtime, Tokio};
use workloads::{
    ping_pong_answer, ping_pong_floor, ping_pong_rounds_answer, ping_pong_rounds_floor,
    remote_wake_answer, spawn_many_answer, spawn_many_remote_answer, FloorWakers, RemoteEcho,
    CHAIN_DEPTH, PING_PONG_PAIRS, REMOTE_ROUNDS, ROUNDS, SPAWN_MANY, SPAWN_REMOTE, TIMERS, WAITERS,
    WAITER_YIELDS, YIELDS_PER_TASK, YIELD_TASKS,
};

/// Benches the generic workload `workloads::$workload` on every runtime of the suite, each
/// under its criterion function name, checking `$answer` on every iteration.
macro_rules! bench_on_every_runtime {
    ($group:expr, $workload:ident, $answer:expr) => {{
        // Each runtime is a temporary of its own call, so it is shut down before the next
        // one starts (an idle multi-thread runtime would still own two worker threads).
        use workloads::$workload as workload;
        let (group, answer) = ($group, $answer);
        bench_block_on(
            group,
            "miniloop",
            &Miniloop::default(),
            workload::<Miniloop>,
            answer,
        );
        bench_block_on(
            group,
            "tokio_current_thread",
            &Tokio::current_thread(),
            workload::<Tokio>,
            answer,
        );
        bench_block_on(
            group,
            "tokio_multi_thread",
            &Tokio::multi_thread(),
            workload::<Tokio>,
            answer,
        );
        bench_block_on(
            group,
            "async_executor_local",
            &AsyncExecutorLocal,
            workload::<AsyncExecutorLocal>,
            answer,
        );
        bench_block_on(
            group,
            "futures_local_pool",
            &FuturesLocalPool,
            workload::<FuturesLocalPool>,
            answer,
        );
    }};
}

fn spawn_many(c: &mut Criterion) {
    let mut group = new_group(c, "spawn_many", SPAWN_MANY as u64);
    let answer = spawn_many_answer();
    bench_on_every_runtime!(&mut group, spawn_many, answer);
    group.finish();
}

/// `spawn_many` with tasks that need not be `Send`: miniloop's `spawn_local` against tokio's
/// `spawn_local` inside a `LocalSet` on its current-thread runtime (the only place tokio runs
/// such tasks). Same shape as `spawn_many`: 10 000 no-op tasks, every handle awaited. The
/// miniloop function goes through `Runtime::block_on`, the frame that
/// `scripts/callgrind_per_op.py` counts iterations by.
fn spawn_local_many(c: &mut Criterion) {
    let mut group = new_group(c, "spawn_local_many", SPAWN_MANY as u64);
    let answer = spawn_many_answer();
    bench_block_on(
        &mut group,
        "miniloop",
        &Miniloop::default(),
        spawn_local_many_miniloop,
        answer,
    );
    let tokio = Tokio::current_thread();
    let local_set = tokio::task::LocalSet::new();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            assert_eq!(
                local_set.block_on(&tokio.0, spawn_local_many_tokio()),
                answer
            )
        })
    });
    group.finish();
}

/// `workloads::spawn_many` with `miniloop::spawn_local`, line for line (the same `Joined`
/// wrapper), so that its instruction count compares with `spawn_many/miniloop`'s.
async fn spawn_local_many_miniloop() -> usize {
    let handles: Vec<_> = (0..SPAWN_MANY)
        .map(|i| Joined(miniloop::spawn_local(async move { i })))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// `workloads::spawn_many` with `tokio::task::spawn_local` (inside a `LocalSet`).
async fn spawn_local_many_tokio() -> usize {
    let handles: Vec<_> = (0..SPAWN_MANY)
        .map(|i| Joined(tokio::task::spawn_local(async move { i })))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

/// Spawning from outside the running loop, before it runs: miniloop through its loop's
/// `Handle` (the remote spawn queue), tokio with `Runtime::spawn` from the bench thread (its
/// inject queue; for the multi-thread runtime that is another thread than the workers).
fn spawn_many_remote(c: &mut Criterion) {
    let mut group = new_group(c, "spawn_many_remote", SPAWN_REMOTE as u64);
    fn bench<R: Runtime>(group: &mut BenchmarkGroup<'_, WallTime>, function: &str, runtime: &R) {
        group.bench_function(function, |b| {
            b.iter(|| {
                assert_eq!(
                    workloads::spawn_many_remote(runtime),
                    spawn_many_remote_answer()
                )
            })
        });
    }
    bench(&mut group, "miniloop", &Miniloop::default());
    bench(&mut group, "tokio_current_thread", &Tokio::current_thread());
    bench(&mut group, "tokio_multi_thread", &Tokio::multi_thread());
    bench(&mut group, "async_executor_local", &AsyncExecutorLocal);
    bench(&mut group, "futures_local_pool", &FuturesLocalPool);
    group.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut group = new_group(c, "yield_many", (YIELD_TASKS * YIELDS_PER_TASK) as u64);
    bench_on_every_runtime!(&mut group, yield_many, YIELD_TASKS);
    group.finish();
}

/// One busy task among a thousand idle ones (the ladder's case for wakers).
fn yield_among_waiters(c: &mut Criterion) {
    let mut group = new_group(c, "yield_among_waiters", WAITER_YIELDS as u64);
    let answer = WAITERS + 1;
    bench_on_every_runtime!(&mut group, yield_among_waiters, answer);
    group.finish();
}

fn chained_spawn(c: &mut Criterion) {
    let mut group = new_group(c, "chained_spawn", CHAIN_DEPTH as u64);
    bench_on_every_runtime!(&mut group, chained_spawn, CHAIN_DEPTH);
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut group = new_group(c, "ping_pong", PING_PONG_PAIRS as u64);
    let answer = ping_pong_answer();
    bench_on_every_runtime!(&mut group, ping_pong, answer);
    group.finish();
}

fn ping_pong_rounds(c: &mut Criterion) {
    let mut group = new_group(c, "ping_pong_rounds", ROUNDS);
    let answer = ping_pong_rounds_answer();
    bench_on_every_runtime!(&mut group, ping_pong_rounds, answer);
    group.finish();
}

/// The perfect-scheduler floors of the two channel-bound workloads (no executor at all): with
/// wakers that cost nothing (the floor of the targets), and with reference-counted ones.
fn floors(c: &mut Criterion) {
    let floors = [
        ("perfect_scheduler", FloorWakers::Noop),
        ("perfect_scheduler_counted_wakers", FloorWakers::Counted),
    ];
    let mut group = new_group(c, "floor_ping_pong", PING_PONG_PAIRS as u64);
    for (name, wakers) in floors {
        group.bench_function(name, |b| {
            b.iter(|| assert_eq!(black_box(ping_pong_floor(wakers)), ping_pong_answer()))
        });
    }
    group.finish();

    let mut group = new_group(c, "floor_ping_pong_rounds", ROUNDS);
    for (name, wakers) in floors {
        group.bench_function(name, |b| {
            b.iter(|| {
                assert_eq!(
                    black_box(ping_pong_rounds_floor(wakers)),
                    ping_pong_rounds_answer()
                )
            })
        });
    }
    group.finish();
}

/// Timers exist on miniloop and tokio only (the two small executors have none of their own).
fn sleep_many(c: &mut Criterion) {
    let mut group = new_group(c, "sleep_many", TIMERS);
    bench_block_on(
        &mut group,
        "miniloop",
        &Miniloop::default(),
        workloads::sleep_many::<Miniloop>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "tokio_current_thread",
        &Tokio::current_thread(),
        workloads::sleep_many::<Tokio>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "tokio_multi_thread",
        &Tokio::multi_thread(),
        workloads::sleep_many::<Tokio>,
        TIMERS,
    );
    group.finish();
}

fn timeout_cancel(c: &mut Criterion) {
    let mut group = new_group(c, "timeout_cancel", TIMERS);
    bench_block_on(
        &mut group,
        "miniloop",
        &Miniloop::default(),
        workloads::timeout_cancel::<Miniloop>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "tokio_current_thread",
        &Tokio::current_thread(),
        workloads::timeout_cancel::<Tokio>,
        TIMERS,
    );
    bench_block_on(
        &mut group,
        "tokio_multi_thread",
        &Tokio::multi_thread(),
        workloads::timeout_cancel::<Tokio>,
        TIMERS,
    );
    group.finish();
}

fn remote_wake(c: &mut Criterion) {
    let mut group = new_group(c, "remote_wake", REMOTE_ROUNDS);
    fn bench<R: Runtime>(group: &mut BenchmarkGroup<'_, WallTime>, function: &str, runtime: &R) {
        let mut echo = RemoteEcho::start();
        group.bench_function(function, |b| {
            b.iter(|| {
                assert_eq!(
                    workloads::remote_wake(runtime, &mut echo),
                    remote_wake_answer()
                )
            })
        });
    }
    bench(&mut group, "miniloop", &Miniloop::default());
    bench(&mut group, "tokio_current_thread", &Tokio::current_thread());
    bench(&mut group, "tokio_multi_thread", &Tokio::multi_thread());
    bench(&mut group, "async_executor_local", &AsyncExecutorLocal);
    bench(&mut group, "futures_local_pool", &FuturesLocalPool);
    group.finish();
}

/// Entering and leaving the loop for a future that is ready at once.
fn block_on_ready(c: &mut Criterion) {
    let mut group = new_group(c, "block_on_ready", 1);
    fn bench<R: Runtime>(group: &mut BenchmarkGroup<'_, WallTime>, function: &str, runtime: &R) {
        group.bench_function(function, |b| {
            b.iter(|| {
                let seven = black_box(7_u32);
                assert_eq!(runtime.block_on(async move { seven }), 7)
            })
        });
    }
    bench(&mut group, "miniloop", &Miniloop::default());
    bench(&mut group, "tokio_current_thread", &Tokio::current_thread());
    bench(&mut group, "tokio_multi_thread", &Tokio::multi_thread());
    bench(&mut group, "async_executor_local", &AsyncExecutorLocal);
    bench(&mut group, "futures_local_pool", &FuturesLocalPool);
    group.finish();
}

criterion_group!(
    benches,
    // Before `spawn_many`, whose group starts and stops a multi-thread runtime: after that, the
    // allocator answered this group's mallocs and frees about 25 instructions per task slower
    // (`scripts/callgrind_per_op.py`, the two orders swapped), while `spawn_many` measures the
    // same in either order.
    spawn_local_many,
    spawn_many,
    spawn_many_remote,
    yield_many,
    yield_among_waiters,
    chained_spawn,
    ping_pong,
    ping_pong_rounds,
    floors,
    sleep_many,
    timeout_cancel,
    remote_wake,
    block_on_ready
);
criterion_main!(benches);
