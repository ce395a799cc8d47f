//! How many times the OS switches threads per wake from outside the runtime: the count that
//! `vs_tokio_mt`'s `mt_remote_wake` times, which on this 2-core machine moves by ±30% between
//! runs while this count moves by a few percent.
//!
//! A task on the multi-thread runtime (two workers) and a plain std thread bounce a number
//! `ROUNDS` times: the task sends over a std channel and awaits the answer on a futures
//! channel, which the thread's send wakes. Per round trip it prints the wall time and the
//! voluntary and involuntary context switches of the whole process (summed over
//! `/proc/self/task/*/status`, read before and after), for miniloop's runtime and tokio's, each
//! run `RUNS` times in alternation. A voluntary switch is a thread going to sleep; a round trip
//! needs at least one (the echo thread waiting for the next number) and at most about three
//! (the worker, the echo thread, and a second worker woken for nothing).
//!
//! Run:   cargo bench --bench mt_switches
//!
//! `cargo test --benches` (CI) runs it once with a few rounds and checks the answers only.
//! Linux only (it reads `/proc`); elsewhere it says so and exits.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;

const ROUNDS: u64 = 20_000;
const RUNS: usize = 5;
const WORKERS: usize = 2;

/// One run, per round trip: wall time, voluntary and involuntary switches.
type Measured = (Duration, f64, f64);

/// Voluntary and involuntary context switches of each thread of this process so far, by
/// thread id.
fn switches() -> Option<HashMap<String, (u64, u64)>> {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let entry = entry.ok()?;
        // A thread that ended since the listing has no status any more: skipped.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let mut counts = (0, 0);
        for line in status.lines() {
            let field = |name: &str| line.strip_prefix(name)?.trim().parse::<u64>().ok();
            if let Some(count) = field("voluntary_ctxt_switches:") {
                counts.0 = count;
            }
            if let Some(count) = field("nonvoluntary_ctxt_switches:") {
                counts.1 = count;
            }
        }
        threads.insert(entry.file_name().to_string_lossy().into_owned(), counts);
    }
    Some(threads)
}

/// The switches between two snapshots, summed over the threads alive at the second (a thread
/// that ended in between, such as an earlier run's worker, takes its counts with it).
fn switches_since(before: &HashMap<String, (u64, u64)>) -> (u64, u64) {
    let after = switches().unwrap_or_default();
    after.iter().fold((0, 0), |total, (thread, now)| {
        let then = before.get(thread).copied().unwrap_or((0, 0));
        (total.0 + (now.0 - then.0), total.1 + (now.1 - then.1))
    })
}

/// One measured run: `rounds` round trips through `block_on_spawned`, which runs the future
/// as a task on the runtime and waits for it. Returns (time, voluntary, involuntary) per round.
fn measure(
    rounds: u64,
    block_on_spawned: impl FnOnce(
        std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>,
    ) -> u64,
) -> Measured {
    let (to_thread, thread_receiver) = std::sync::mpsc::channel::<u64>();
    let (thread_sender, mut from_thread) = mpsc::unbounded();
    let echo = std::thread::spawn(move || {
        for round in thread_receiver {
            thread_sender
                .unbounded_send(round + 1)
                .expect("the task waits for the answer");
        }
    });
    let task = Box::pin(async move {
        let mut total = 0;
        for round in 0..rounds {
            to_thread.send(round).expect("the echo thread runs");
            total += from_thread.next().await.expect("the echo thread answers");
        }
        total
    });
    let before = switches().unwrap_or_default();
    let start = Instant::now();
    let total = block_on_spawned(task);
    let elapsed = start.elapsed();
    let (voluntary, involuntary) = switches_since(&before);
    echo.join()
        .expect("the echo thread ends when the task drops its sender");
    assert_eq!(total, rounds * (rounds + 1) / 2, "every answer came back");
    let per_round = |count: u64| count as f64 / rounds as f64;
    (
        elapsed / u32::try_from(rounds).expect("a few thousand rounds"),
        per_round(voluntary),
        per_round(involuntary),
    )
}

fn miniloop_run(rounds: u64) -> Measured {
    let runtime = miniloop::multi_thread::Runtime::builder()
        .worker_threads(WORKERS)
        .build()
        .expect("the runtime starts");
    std::thread::sleep(Duration::from_millis(50)); // the workers are up and asleep
    measure(rounds, |task| {
        runtime
            .block_on(runtime.spawn(task))
            .expect("the task does not panic")
    })
}

fn tokio_run(rounds: u64) -> Measured {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("the runtime starts");
    std::thread::sleep(Duration::from_millis(50));
    measure(rounds, |task| {
        runtime
            .block_on(runtime.spawn(task))
            .expect("the task does not panic")
    })
}

fn main() {
    if switches().is_none() {
        println!("mt_switches reads /proc/self/task, which this system does not have; skipped");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then one short run
    // each, to check the answers.
    let is_bench = std::env::args().any(|arg| arg == "--bench");
    let (rounds, runs) = if is_bench { (ROUNDS, RUNS) } else { (200, 1) };
    println!(
        "{rounds} round trips between a task on a {WORKERS}-worker runtime and a std thread, \
         per round trip:"
    );
    println!("run  runtime       time  voluntary  involuntary");
    let mut rows: Vec<(&str, Vec<Measured>)> =
        vec![("miniloop", Vec::new()), ("tokio", Vec::new())];
    for run in 1..=runs {
        for (name, results) in &mut rows {
            let result = if *name == "miniloop" {
                miniloop_run(rounds)
            } else {
                tokio_run(rounds)
            };
            println!(
                "{run:<4} {name:<9} {:>8.1?} {:>10.2} {:>12.2}",
                result.0, result.1, result.2
            );
            results.push(result);
        }
    }
    for (name, results) in &mut rows {
        let median = |values: &mut Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let mut times: Vec<f64> = results.iter().map(|r| r.0.as_secs_f64() * 1e6).collect();
        let mut voluntary: Vec<f64> = results.iter().map(|r| r.1).collect();
        let mut involuntary: Vec<f64> = results.iter().map(|r| r.2).collect();
        println!(
            "median {name:<9} {:>6.1}µs {:>10.2} {:>12.2}",
            median(&mut times),
            median(&mut voluntary),
            median(&mut involuntary)
        );
    }
}
