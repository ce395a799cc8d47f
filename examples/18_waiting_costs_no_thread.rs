//! Lesson 18: waiting costs no thread
//!
//! A task that waits is a few hundred bytes in the loop's tables: its future,
//! its slot, its timer. A thread that waits is a thread: a stack, a kernel
//! task, a place in the scheduler. This lesson makes 10 000 waits both ways,
//! as tasks on one loop thread and as 10 000 OS threads, and prints the time
//! and the memory each way took. Memory is `VmRSS` (pages really in RAM) and
//! `VmSize` (address space reserved) from `/proc/self/status`, read while every
//! waiter is waiting.
//!
//! Run it:     cargo run --example 18_waiting_costs_no_thread
//!             cargo run --example 18_waiting_costs_no_thread -- 1000
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 18_waiting_costs_no_thread
//! Read:       docs/18-waiting-costs-no-thread.md
//! Debug it:   break on `18_waiting_costs_no_thread::read_memory`: it stops
//!             before and during each part; `info threads` lists 1 thread at the
//!             second stop (10 000 tasks waiting) and 10 001 at the fourth
//!
//! The argument sets how many waiters (default 10 000); if the OS refuses to
//! start that many threads, part 2 goes on with those it got and says so.
//! `MINILOOP_TIME_SCALE` (default 1.0) multiplies the one-second wait; it
//! changes no line except timings and memory figures.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use miniloop::{join_all, sleep, spawn, yield_now};

/// Set once in `main`, before anything sleeps; read by `seconds`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// A number of seconds, times the time scale. Same as lesson 13.
fn seconds(count: f64) -> Duration {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Duration::from_secs_f64(count * time_scale)
}

/// Reads `MINILOOP_TIME_SCALE`: 1.0 when unset, an error message when unusable.
/// Same as lesson 12.
fn time_scale_from_env() -> Result<f64, String> {
    let Some(raw) = std::env::var_os("MINILOOP_TIME_SCALE") else {
        return Ok(1.0);
    };
    let text = raw.to_string_lossy();
    let parsed = text.trim().parse::<f64>();
    // The upper bound keeps `Duration::from_secs_f64` far from overflowing.
    match parsed {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!(
            "`MINILOOP_TIME_SCALE` must be a number greater than 0 and at most 1000, \
             like 0.1 (got {text:?}); it multiplies every delay, so unset it or use 1 \
             for real time"
        )),
    }
}

/// The first argument, a whole number of waiters; 10 000 without one.
fn waiters_from_args() -> Result<usize, String> {
    let Some(raw) = std::env::args().nth(1) else {
        return Ok(10_000);
    };
    match raw.parse::<usize>() {
        Ok(waiters) if waiters > 0 => Ok(waiters),
        _ => Err(format!(
            "the argument is how many waiters to start, a whole number above 0 like 1000 \
             (got {raw:?})"
        )),
    }
}

/// Resident and reserved memory, in KiB, from `/proc/self/status` (Linux).
#[derive(Clone, Copy, Debug)]
struct Memory {
    resident_kib: u64,
    reserved_kib: u64,
}

/// Reads the two lines we need. Break here: every waiter is waiting.
fn read_memory() -> Option<Memory> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field_kib = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        line[name.len()..].split_whitespace().next()?.parse().ok()
    };
    Some(Memory {
        resident_kib: field_kib("VmRSS:")?,
        reserved_kib: field_kib("VmSize:")?,
    })
}

/// Prints how much memory grew between `before` and `during`.
fn print_growth(label: &str, waiters: usize, before: Option<Memory>, during: Option<Memory>) {
    let (Some(before), Some(during)) = (before, during) else {
        println!("{label} memory: not available (no /proc/self/status)");
        return;
    };
    let resident = during.resident_kib.saturating_sub(before.resident_kib) as f64;
    let reserved = during.reserved_kib.saturating_sub(before.reserved_kib) as f64;
    let per_waiter = resident / waiters as f64;
    println!(
        "{label} memory: +{:.1} MiB resident (VmRSS), {per_waiter:.2} KiB per waiter",
        resident / 1024.0
    );
    println!(
        "{label} address space: +{:.1} MiB (VmSize), {:.2} KiB per waiter",
        reserved / 1024.0,
        reserved / waiters as f64
    );
}

/// One waiting task: a `Sleep` in the loop's timer queue, no thread of its own.
async fn wait_as_a_task(wait: Duration) {
    sleep(wait).await;
}

/// Part 1: `waiters` tasks, all waiting at once on this one thread.
fn waits_as_tasks(waiters: usize, wait: Duration) {
    let started_at = Instant::now();
    let (before, during) = miniloop::run(async move {
        let before = read_memory();
        let handles: Vec<_> = (0..waiters).map(|_| spawn(wait_as_a_task(wait))).collect();
        // Our yield lets the loop poll every new task once: each files its timer.
        yield_now().await;
        let during = read_memory();
        for outcome in join_all(handles).await {
            outcome.expect("a sleeping task never panics");
        }
        (before, during)
    });
    let run_time = started_at.elapsed();
    println!("Tasks run time: {:.2} seconds", run_time.as_secs_f64());
    print_growth("Tasks", waiters, before, during);
}

/// One waiting thread: a whole stack and kernel task, for one sleep. It first
/// waits at `gate` (a lock that `waits_as_threads` holds for writing) until every thread exists,
/// so that we read the memory of all of them at once.
fn wait_as_a_thread(gate: &RwLock<()>, wait: Duration) {
    drop(gate.read().expect("no thread panics holding the gate"));
    std::thread::sleep(wait);
}

/// Part 2: `waiters` OS threads (or as many as the OS allows), one wait each.
fn waits_as_threads(waiters: usize, wait: Duration) {
    let gate = Arc::new(RwLock::new(()));
    let closed = gate.write().expect("the gate is new");
    let before = read_memory();
    let started_at = Instant::now();
    let mut threads = Vec::with_capacity(waiters);
    let mut refusal = None;
    for _ in 0..waiters {
        let gate = Arc::clone(&gate);
        // `Builder` rather than `thread::spawn`, which panics when the OS says no.
        let spawned = std::thread::Builder::new().spawn(move || wait_as_a_thread(&gate, wait));
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                refusal = Some(error);
                break;
            }
        }
    }
    let during = read_memory();
    drop(closed); // open the gate: every thread starts its sleep
    let started = threads.len();
    for thread in threads {
        thread.join().expect("a sleeping thread never panics");
    }
    let run_time = started_at.elapsed();
    match refusal {
        None => println!("Threads started: {started}"),
        Some(error) => println!("Threads started: {started} (the OS refused the next: {error})"),
    }
    println!("Threads run time: {:.2} seconds", run_time.as_secs_f64());
    print_growth("Threads", started, before, during);
}

fn main() {
    let settings = time_scale_from_env().and_then(|scale| Ok((scale, waiters_from_args()?)));
    let (time_scale, waiters) = match settings {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    TIME_SCALE
        .set(time_scale)
        .expect("the time scale is set once, before anything waits");

    println!("{waiters} waiters, each waiting the same time");
    println!("Wait time: {:.3} seconds", seconds(1.0).as_secs_f64());
    println!("Part 1: {waiters} tasks on one loop thread");
    waits_as_tasks(waiters, seconds(1.0));
    println!("Part 2: {waiters} OS threads, with std's default stack size");
    waits_as_threads(waiters, seconds(1.0));
}
