//! miniloop against tokio's current-thread runtime, one criterion group per workload.
//!
//! Every group has a `miniloop` and a `tokio_current_thread` function doing the same work with
//! the same futures (channels come from `futures`, so neither runtime gets its own fast
//! channel). Run with `cargo bench --bench vs_tokio`; the figures and how to read them are in
//! `docs/benchmarks.md`. CI runs this file in test mode (`cargo test --benches`), so every
//! workload is also checked for the right answer there.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use futures::channel::oneshot;

/// Tasks spawned by `spawn_many`.
const SPAWN_MANY: usize = 10_000;
/// Tasks and yields per task in `yield_many`.
const YIELD_TASKS: usize = 200;
const YIELDS_PER_TASK: usize = 200;
/// Pairs of tasks in `ping_pong`.
const PING_PONG_PAIRS: usize = 1_000;
/// Timers in `sleep_many`.
const SLEEPERS: u64 = 10_000;
/// Depth of `chained_spawn`.
const CHAIN_DEPTH: usize = 1_000;

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio should start")
}

// ---- the workloads, written once per runtime in the same shape ----

async fn spawn_many_miniloop() -> usize {
    let handles: Vec<_> = (0..SPAWN_MANY)
        .map(|i| miniloop::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("no task panics");
    }
    sum
}

async fn spawn_many_tokio() -> usize {
    let handles: Vec<_> = (0..SPAWN_MANY)
        .map(|i| tokio::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await.expect("no task panics");
    }
    sum
}

async fn yield_many_miniloop() -> usize {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            miniloop::spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    miniloop::yield_now().await;
                }
                1
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("no task panics");
    }
    done
}

async fn yield_many_tokio() -> usize {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    tokio::task::yield_now().await;
                }
                1
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await.expect("no task panics");
    }
    done
}

/// One pair: a task sends "ping" over a oneshot, its partner answers "pong" over another.
async fn pair(spawn_partner: impl FnOnce(oneshot::Receiver<u32>, oneshot::Sender<u32>)) -> u32 {
    let (ping_tx, ping_rx) = oneshot::channel();
    let (pong_tx, pong_rx) = oneshot::channel();
    spawn_partner(ping_rx, pong_tx);
    ping_tx.send(1).expect("the partner is alive");
    pong_rx.await.expect("the partner answers")
}

async fn partner(ping_rx: oneshot::Receiver<u32>, pong_tx: oneshot::Sender<u32>) {
    let ping = ping_rx.await.expect("the pair sends");
    pong_tx.send(ping + 1).expect("the pair waits");
}

async fn ping_pong_miniloop() -> u32 {
    let handles: Vec<_> = (0..PING_PONG_PAIRS)
        .map(|_| miniloop::spawn(pair(|rx, tx| drop(miniloop::spawn(partner(rx, tx))))))
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("no task panics");
    }
    total
}

async fn ping_pong_tokio() -> u32 {
    let handles: Vec<_> = (0..PING_PONG_PAIRS)
        .map(|_| tokio::spawn(pair(|rx, tx| drop(tokio::spawn(partner(rx, tx))))))
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("no task panics");
    }
    total
}

/// Deadlines 100 ns apart: up to 1 ms, all distinct.
fn sleeper_delay(i: u64) -> Duration {
    Duration::from_nanos(100 * i)
}

async fn sleep_many_miniloop() -> u64 {
    let handles: Vec<_> = (0..SLEEPERS)
        .map(|i| {
            miniloop::spawn(async move {
                miniloop::sleep(sleeper_delay(i)).await;
                1
            })
        })
        .collect();
    let mut woken = 0;
    for handle in handles {
        woken += handle.await.expect("no task panics");
    }
    woken
}

async fn sleep_many_tokio() -> u64 {
    let handles: Vec<_> = (0..SLEEPERS)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(sleeper_delay(i)).await;
                1
            })
        })
        .collect();
    let mut woken = 0;
    for handle in handles {
        woken += handle.await.expect("no task panics");
    }
    woken
}

fn chain_miniloop(depth: usize, done: oneshot::Sender<usize>) {
    if depth == 0 {
        let _ = done.send(CHAIN_DEPTH);
    } else {
        drop(miniloop::spawn(
            async move { chain_miniloop(depth - 1, done) },
        ));
    }
}

fn chain_tokio(depth: usize, done: oneshot::Sender<usize>) {
    if depth == 0 {
        let _ = done.send(CHAIN_DEPTH);
    } else {
        drop(tokio::spawn(async move { chain_tokio(depth - 1, done) }));
    }
}

// ---- the groups ----

fn spawn_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter(|| {
            assert_eq!(
                event_loop.run_until_complete(spawn_many_miniloop()),
                expected_sum()
            )
        })
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| assert_eq!(runtime.block_on(spawn_many_tokio()), expected_sum()))
    });
    group.finish();
}

fn expected_sum() -> usize {
    SPAWN_MANY * (SPAWN_MANY - 1) / 2
}

fn yield_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_many");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter(|| {
            assert_eq!(
                event_loop.run_until_complete(yield_many_miniloop()),
                YIELD_TASKS
            )
        })
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| assert_eq!(runtime.block_on(yield_many_tokio()), YIELD_TASKS))
    });
    group.finish();
}

fn ping_pong(c: &mut Criterion) {
    let expected = 2 * PING_PONG_PAIRS as u32;
    let mut group = c.benchmark_group("ping_pong");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter(|| {
            assert_eq!(
                event_loop.run_until_complete(ping_pong_miniloop()),
                expected
            )
        })
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| assert_eq!(runtime.block_on(ping_pong_tokio()), expected))
    });
    group.finish();
}

fn sleep_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep_many");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter(|| {
            assert_eq!(
                event_loop.run_until_complete(sleep_many_miniloop()),
                SLEEPERS
            )
        })
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| assert_eq!(runtime.block_on(sleep_many_tokio()), SLEEPERS))
    });
    group.finish();
}

fn chained_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("chained_spawn");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter(|| {
            let depth = event_loop.run_until_complete(async {
                let (done_tx, done_rx) = oneshot::channel();
                chain_miniloop(CHAIN_DEPTH, done_tx);
                done_rx.await.expect("the chain ends")
            });
            assert_eq!(depth, CHAIN_DEPTH);
        })
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let depth = runtime.block_on(async {
                let (done_tx, done_rx) = oneshot::channel();
                chain_tokio(CHAIN_DEPTH, done_tx);
                done_rx.await.expect("the chain ends")
            });
            assert_eq!(depth, CHAIN_DEPTH);
        })
    });
    group.finish();
}

fn block_on_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("block_on_ready");
    let event_loop = miniloop::EventLoop::new();
    group.bench_function("miniloop", |b| {
        b.iter_batched(
            || 7,
            |n| assert_eq!(event_loop.run_until_complete(async move { n }), 7),
            BatchSize::SmallInput,
        )
    });
    let runtime = tokio_runtime();
    group.bench_function("tokio_current_thread", |b| {
        b.iter_batched(
            || 7,
            |n| assert_eq!(runtime.block_on(async move { n }), 7),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    spawn_many,
    yield_many,
    ping_pong,
    sleep_many,
    chained_spawn,
    block_on_ready
);
criterion_main!(benches);
