//! Bytes and allocations per spawned task, counted by a global allocator.
//!
//! Every runtime spawns the same future (`async move { i }`, output `usize`) and awaits it,
//! one task at a time, inside one `block_on`. We count what the allocator is asked for during
//! `TASKS` spawn-and-joins, subtract an empty `block_on`, and divide: what remains is what one
//! spawned task costs (its allocations, its join handle, its wakers), with no run-queue growth
//! or handle `Vec` mixed in.
//!
//! Run:     cargo bench --bench alloc_per_task
//! It prints a markdown table and writes `target/criterion/alloc_per_task.json`, which
//! `scripts/bench_report.py` reads. In test mode (`cargo test --benches`) it runs the same way;
//! allocation counts do not depend on the optimization level.

#[allow(dead_code)]
#[path = "ladder/rung1_busy.rs"]
mod rung1_busy;
#[allow(dead_code)]
#[path = "ladder/rung2_waker.rs"]
mod rung2_waker;
#[allow(dead_code)]
#[path = "support/runtimes.rs"]
mod runtimes;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use rung1_busy::BusyLoop;
use rung2_waker::WakerLoop;
use runtimes::{AsyncExecutorLocal, FuturesLocalPool, Miniloop, Runtime, Tokio};

/// The system allocator, counting calls and requested bytes (a `realloc` counts as one
/// allocation of its new size).
#[derive(Debug)]
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees are ours; counting touches only two atomics.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which `System` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds the rest.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Spawn-and-joins counted per runtime.
const TASKS: usize = 1_000;

/// Spawns `tasks` tasks one after the other, awaiting each before the next.
async fn spawn_and_join<R: Runtime>(tasks: usize) -> usize {
    let mut sum = 0;
    for i in 0..tasks {
        sum += R::spawn(async move { i }).await;
    }
    sum
}

/// (allocations, bytes) during `runtime.block_on(spawn_and_join(tasks))`.
fn count<R: Runtime>(runtime: &R, tasks: usize) -> (u64, u64) {
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes_before = BYTES.load(Ordering::Relaxed);
    let sum = runtime.block_on(spawn_and_join::<R>(tasks));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let bytes = BYTES.load(Ordering::Relaxed) - bytes_before;
    assert_eq!(sum, tasks * tasks.saturating_sub(1) / 2);
    (allocations, bytes)
}

/// One row: what a spawned task costs on `runtime`, per task.
#[derive(Debug)]
struct Row {
    runtime: &'static str,
    allocations_per_task: f64,
    bytes_per_task: f64,
}

fn measure<R: Runtime>(name: &'static str, runtime: &R) -> Row {
    count(runtime, TASKS); // warm up: buffers reach their steady size
    let (empty_allocations, empty_bytes) = count(runtime, 0);
    let (allocations, bytes) = count(runtime, TASKS);
    Row {
        runtime: name,
        allocations_per_task: (allocations - empty_allocations) as f64 / TASKS as f64,
        bytes_per_task: (bytes - empty_bytes) as f64 / TASKS as f64,
    }
}

/// `target/criterion/alloc_per_task.json`, next to criterion's own output (the bench runs
/// from `target/<profile>/deps/`).
fn json_path() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("criterion").join("alloc_per_task.json"))
}

fn main() {
    let rows = [
        measure("miniloop", &Miniloop::default()),
        measure("tokio_current_thread", &Tokio::current_thread()),
        measure("async_executor_local", &AsyncExecutorLocal),
        measure("futures_local_pool", &FuturesLocalPool),
        measure("rung1_busy_loop", &BusyLoop),
        measure("rung2_waker_loop", &WakerLoop),
    ];
    println!("| runtime | bytes per task | allocations per task |");
    println!("|---|---:|---:|");
    let mut json = String::from("{\n");
    for (index, row) in rows.iter().enumerate() {
        println!(
            "| {} | {:.0} | {:.2} |",
            row.runtime, row.bytes_per_task, row.allocations_per_task
        );
        let comma = if index + 1 < rows.len() { "," } else { "" };
        json.push_str(&format!(
            "  \"{}\": {{\"bytes_per_task\": {:.1}, \"allocations_per_task\": {:.3}}}{comma}\n",
            row.runtime, row.bytes_per_task, row.allocations_per_task
        ));
    }
    json.push_str("}\n");
    if let Some(path) = json_path() {
        let written = path
            .parent()
            .map(std::fs::create_dir_all)
            .transpose()
            .and_then(|_| std::fs::write(&path, json));
        match written {
            Ok(()) => println!("\nwritten to {}", path.display()),
            Err(error) => eprintln!("could not write {}: {error}", path.display()),
        }
    }
}
