//! The two worlds and sync-first execution, measured: `spawn_blocking` round trips, eager
//! against plain spawns, and what the slow-poll detector costs when it never fires.
//!
//! Groups (the function names are what each runs):
//! - `spawn_blocking_round_trip`: 100 trivial closures sent to the blocking pool and awaited
//!   one by one, from a miniloop loop and from tokio's current-thread runtime. Each round trip
//!   is a queue push, a thread wake-up, and a wake back to the loop from another thread.
//! - `eager_vs_plain_spawn_ready`: 10 000 futures that are ready at their first poll, spawned
//!   eagerly (`miniloop_eager`), plainly (`miniloop_spawn`) and on tokio
//!   (`tokio_current_thread`), then awaited.
//! - `eager_vs_plain_spawn_pending`: the same with futures that yield once, so the eager poll
//!   is extra work rather than the whole job.
//! - `slow_poll_detector`: the `spawn_many` workload (10 000 no-op tasks) on a loop with the
//!   detector off, and with a 1 s threshold that no poll reaches.
//!
//! Run:     cargo bench --bench two_worlds_vs_tokio
//! Read:    docs/two-worlds.md and docs/sync-first.md ("Why this design")
//!
//! CI runs this file in test mode (`cargo test --benches`): each function runs once and
//! asserts its answer.

use std::future::Future;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Closures per `spawn_blocking_round_trip` iteration.
const ROUND_TRIPS: u64 = 100;
/// Futures per spawn iteration.
const FUTURES: u64 = 10_000;

/// The sum of `0..count`: what every workload here returns.
fn sum_below(count: u64) -> u64 {
    count * (count - 1) / 2
}

/// tokio's single-threaded runtime: the peer of a miniloop `EventLoop`.
fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime builds")
}

fn spawn_blocking_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_blocking_round_trip");
    group.throughput(Throughput::Elements(ROUND_TRIPS));
    let answer = sum_below(ROUND_TRIPS);

    group.bench_function("miniloop", |b| {
        b.iter(|| {
            let total = miniloop::run(async {
                let mut total = 0;
                for number in 0..ROUND_TRIPS {
                    total += miniloop::spawn_blocking(move || number).await.unwrap();
                }
                total
            });
            assert_eq!(total, answer);
        })
    });

    let runtime = tokio_current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let total = runtime.block_on(async {
                let mut total = 0;
                for number in 0..ROUND_TRIPS {
                    total += tokio::task::spawn_blocking(move || number).await.unwrap();
                }
                total
            });
            assert_eq!(total, answer);
        })
    });
    group.finish();
}

/// Spawns one future per number with `spawn`, awaits them all and sums the outputs.
async fn spawn_and_sum<Fut, Spawn, Handle, Error>(make: fn(u64) -> Fut, spawn: Spawn) -> u64
where
    Fut: Future<Output = u64>,
    Spawn: Fn(Fut) -> Handle,
    Handle: Future<Output = Result<u64, Error>>,
    Error: std::fmt::Debug,
{
    let handles: Vec<Handle> = (0..FUTURES).map(|number| spawn(make(number))).collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await.expect("no future panics");
    }
    total
}

/// A future that is ready at its first poll.
async fn ready_at_once(number: u64) -> u64 {
    number
}

/// A future that steps aside once on miniloop, then is ready.
async fn yields_once_miniloop(number: u64) -> u64 {
    miniloop::yield_now().await;
    number
}

/// The same on tokio.
async fn yields_once_tokio(number: u64) -> u64 {
    tokio::task::yield_now().await;
    number
}

/// One spawn group: eager and plain on miniloop, plain on tokio, for one kind of future.
fn eager_vs_plain<OnMiniloop, OnTokio>(
    c: &mut Criterion,
    name: &str,
    on_miniloop: fn(u64) -> OnMiniloop,
    on_tokio: fn(u64) -> OnTokio,
) where
    OnMiniloop: Future<Output = u64> + Send + 'static,
    OnTokio: Future<Output = u64> + Send + 'static,
{
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(FUTURES));
    let answer = sum_below(FUTURES);

    group.bench_function("miniloop_eager", |b| {
        b.iter(|| {
            let total = miniloop::run(spawn_and_sum(on_miniloop, miniloop::spawn_eager));
            assert_eq!(total, answer);
        })
    });
    group.bench_function("miniloop_spawn", |b| {
        b.iter(|| {
            let total = miniloop::run(spawn_and_sum(on_miniloop, miniloop::spawn));
            assert_eq!(total, answer);
        })
    });
    let runtime = tokio_current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let total = runtime.block_on(spawn_and_sum(on_tokio, tokio::spawn));
            assert_eq!(total, answer);
        })
    });
    group.finish();
}

fn eager_vs_plain_spawn_ready(c: &mut Criterion) {
    // Both runtimes run the same future; it awaits nothing runtime-specific.
    eager_vs_plain(
        c,
        "eager_vs_plain_spawn_ready",
        ready_at_once,
        ready_at_once,
    );
}

fn eager_vs_plain_spawn_pending(c: &mut Criterion) {
    eager_vs_plain(
        c,
        "eager_vs_plain_spawn_pending",
        yields_once_miniloop,
        yields_once_tokio,
    );
}

fn slow_poll_detector(c: &mut Criterion) {
    let mut group = c.benchmark_group("slow_poll_detector");
    group.throughput(Throughput::Elements(FUTURES));
    let answer = sum_below(FUTURES);
    let settings = [
        ("miniloop_detector_off", None),
        (
            "miniloop_detector_on_not_triggered",
            Some(Duration::from_secs(1)),
        ),
    ];
    for (function, threshold) in settings {
        // `trace(false)`: a `MINILOOP_TRACE` in the environment must not change what we measure.
        let event_loop = miniloop::EventLoop::builder()
            .trace(false)
            .slow_poll_threshold(threshold)
            .build();
        group.bench_function(function, |b| {
            b.iter(|| {
                let total = event_loop.run_until_complete(spawn_and_sum(
                    |number| async move { number },
                    miniloop::spawn,
                ));
                assert_eq!(total, answer);
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    spawn_blocking_round_trip,
    eager_vs_plain_spawn_ready,
    eager_vs_plain_spawn_pending,
    slow_poll_detector
);
criterion_main!(benches);
