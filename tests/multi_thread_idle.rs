//! Idle CPU of the multi-thread runtime: with every task waiting, its workers sleep
//! (`Worker::park`), one of them until the earliest timer (`timers.rs`), and burn no CPU, as
//! the single loop's idle test (`tests/timers.rs`) checks for one thread.
//!
//! Its own test binary, so that no other test of the same run loads the machine while it
//! measures. The CPU time is the workers' own (`Runtime::worker_stats`, read from `/proc`),
//! so the test's thread, which waits in `block_on`, is not counted.

mod common;

use std::future::pending;
use std::time::{Duration, Instant};

use common::{within, WATCHDOG};
use miniloop::multi_thread::Runtime;
use miniloop::{sleep, spawn};

fn workers_cpu(runtime: &Runtime) -> Duration {
    runtime
        .worker_stats()
        .iter()
        .map(|stats| stats.cpu_time)
        .sum()
}

/// Two workers, one task asleep for 300 ms and one waiting for a wake that never comes: over
/// those 300 ms both workers together use under a tenth of it. A worker that spins instead of
/// sleeping uses all of it.
#[test]
#[cfg_attr(
    miri,
    ignore = "reads the workers' CPU time from /proc, which miri's isolation does not offer"
)]
fn idle_workers_waiting_for_a_timer_use_almost_no_cpu() {
    const NAP: Duration = Duration::from_millis(300);
    let (cpu, wall, busy) = within(WATCHDOG, || {
        let runtime = Runtime::builder().worker_threads(2).build().unwrap();
        // Some work first: each worker's thread has run, so each has a CPU time to read.
        runtime.block_on(async {
            let tasks: Vec<_> = (0..200u64)
                .map(|n| {
                    spawn(async move {
                        let mut x = n;
                        for i in 0..20_000u64 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                        }
                        x
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let busy = workers_cpu(&runtime);
        let (cpu, wall) = runtime.block_on(async {
            let forever = spawn(pending::<()>());
            let sleeper = spawn(async {
                let start = Instant::now();
                sleep(NAP).await;
                start.elapsed()
            });
            // Give both tasks their first poll before the measurement starts.
            sleep(Duration::from_millis(10)).await;
            let cpu_before = workers_cpu(&runtime);
            let slept = sleeper.await.unwrap();
            let cpu = workers_cpu(&runtime) - cpu_before;
            forever.abort();
            (cpu, slept)
        });
        (cpu, wall, busy)
    });
    assert!(
        busy > Duration::ZERO,
        "the workers' CPU time reads as zero after real work: /proc gave nothing, so this \
         test would measure nothing"
    );
    eprintln!("two idle workers: {cpu:?} of CPU in {wall:?} (busy before: {busy:?})");
    assert!(wall >= NAP, "the sleep ended after {wall:?}");
    assert!(
        cpu < NAP / 10,
        "two idle workers used {cpu:?} of CPU during a {wall:?} sleep"
    );
}
