//! The criterion plumbing shared by `vs_tokio.rs` and `ladder.rs`.

use std::fmt::Debug;
use std::future::Future;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

use crate::runtimes::Runtime;

/// A group for one workload. `operations` is the work in one iteration (tasks, yields, round
/// trips); `scripts/bench_report.py` reads it back to print time per operation.
///
/// Flat sampling with 30 samples: some iterations take tens of milliseconds (200 000 yields),
/// and criterion's default (100 samples of 1, 2, 3... iterations) would need minutes for them.
pub fn new_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    operations: u64,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(operations))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30);
    group
}

/// Adds `function` to `group`: `runtime.block_on(workload())`, asserting the answer.
pub fn bench_block_on<R, W, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    function: &str,
    runtime: &R,
    workload: W,
    answer: Fut::Output,
) where
    R: Runtime,
    W: Fn() -> Fut,
    Fut: Future + 'static,
    Fut::Output: PartialEq + Debug,
{
    group.bench_function(function, |b| {
        b.iter(|| assert_eq!(runtime.block_on(workload()), answer))
    });
}
