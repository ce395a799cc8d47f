//! Lesson 19: sync first
//!
//! Most calls to a cache hit, and a hit needs no waiting at all. Yet a spawned
//! task always waits for the loop's next turn before it runs its first line.
//! RedisGears' "sync" executions and Python 3.12's eager tasks turn that
//! around: run the new task right away, on the caller's stack, and only hand it
//! to the loop if it really has to wait. This lesson counts the students of a
//! course through a cache three ways: a plain `spawn`, an eager `spawn_eager`,
//! and inside a no-suspend section (`run_now`, like Redis's `MULTI`/`EXEC`),
//! where a miss is an error instead of a wait.
//!
//! Run it:     cargo run --example 19_sync_first
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 19_sync_first
//! Read:       docs/19-sync-first.md
//! Debug it:   break on `19_sync_first::cached_count` and `bt`: at the plain hit
//!             the poll comes from `Core::run_ready_tasks` (the loop's next turn);
//!             at the eager hit from `Core::spawn_eager`, right under
//!             `eager_spawns`: the same poll, on the caller's stack
//!
//! The database is a 50 ms sleep, times `MINILOOP_TIME_SCALE` (a positive
//! number, default 1.0). The only line that depends on time is the section's
//! error, which names the sleep and its time left, rounded up to the millisecond.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use miniloop::{is_suspend_allowed, run_now, sleep, spawn, spawn_eager};

/// Students per course, shared by every task. A std `Mutex`: it is never held
/// across an `.await`, so a task never waits for it while another one runs.
type Cache = Arc<Mutex<BTreeMap<&'static str, u32>>>;

/// A cache with one course in it: "rust" hits, everything else misses.
fn new_cache() -> Cache {
    Arc::new(Mutex::new(BTreeMap::from([("rust", 31)])))
}

/// The fast, synchronous part: look in the cache. Break here.
fn cached_count(cache: &Cache, course: &str) -> Option<u32> {
    cache
        .lock()
        .expect("nobody panics holding the cache")
        .get(course)
        .copied()
}

/// The slow part: a round trip to the database.
async fn query_database(course: &'static str) -> u32 {
    sleep(seconds(0.05)).await;
    course.len() as u32 * 7
}

/// RedisGears' `CountStudents`: a hit returns at once, a miss queries the
/// database and fills the cache. Everything before the query runs synchronously.
async fn count_students(cache: Cache, course: &'static str) -> u32 {
    if let Some(count) = cached_count(&cache, course) {
        return count;
    }
    println!("  {course}: not in the cache; querying the database");
    let count = query_database(course).await;
    cache
        .lock()
        .expect("nobody panics holding the cache")
        .insert(course, count);
    count
}

/// The same, but it asks first whether it may wait (RedisGears' `isAsyncAllow`)
/// and refuses cleanly instead of starting a query it could not finish.
async fn count_students_or_refuse(cache: Cache, course: &'static str) -> Result<u32, String> {
    if cached_count(&cache, course).is_none() && !is_suspend_allowed() {
        return Err(format!(
            "{course}: not in the cache, and waiting is not allowed here"
        ));
    }
    Ok(count_students(cache, course).await)
}

/// Part 1: a plain spawn runs nothing until the loop's next turn, hit or miss.
async fn plain_spawns(cache: Cache) {
    let hit = spawn(count_students(cache.clone(), "rust"));
    println!(
        "plain spawn, hit: finished when spawn returned? {}",
        hit.is_finished()
    );
    println!(
        "  rust: {} students",
        hit.await.expect("counting never panics")
    );
}

/// Part 2: an eager spawn runs the task now, up to its first real wait.
async fn eager_spawns(cache: Cache) {
    let hit = spawn_eager(count_students(cache.clone(), "rust"));
    println!(
        "eager spawn, hit: finished when spawn returned? {}",
        hit.is_finished()
    );
    println!(
        "  rust: {} students",
        hit.await.expect("counting never panics")
    );

    // The miss prints its "querying" line before `spawn_eager` returns: it ran
    // synchronously until the database made it wait.
    println!("eager spawn, miss:");
    let miss = spawn_eager(count_students(cache.clone(), "go"));
    println!("  finished when spawn returned? {}", miss.is_finished());
    println!(
        "  go: {} students",
        miss.await.expect("counting never panics")
    );
}

/// Part 3: inside a section, a hit is `Ok` and a miss is an error, not a wait.
fn sections(cache: &Cache) {
    println!(
        "section, hit: {:?}",
        run_now(count_students(cache.clone(), "rust"))
    );
    println!("section, miss:");
    let miss = run_now(count_students(cache.clone(), "zig"));
    match miss {
        Ok(count) => println!("  unexpectedly counted {count}"),
        Err(error) => {
            println!("  Err(WouldSuspend)");
            // The reason names the timer and how long it had left: the database's
            // delay, rounded up to the millisecond (50ms, or 5ms at scale 0.1).
            println!("  error: {error}");
        }
    }
    // `run_now` dropped the half-run query: nothing reached the cache.
    println!(
        "  zig cached afterwards? {}",
        cached_count(cache, "zig").is_some()
    );
    let checked = run_now(count_students_or_refuse(cache.clone(), "zig"));
    println!("section, miss, checked first: {checked:?}");
}

fn main() {
    let time_scale = match time_scale_from_env() {
        Ok(time_scale) => time_scale,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    TIME_SCALE
        .set(time_scale)
        .expect("the time scale is set once, at the start");
    let cache = new_cache();
    miniloop::run(plain_spawns(cache.clone()));
    miniloop::run(eager_spawns(cache.clone()));
    // `run_now` needs no loop: a section never waits, so nothing has to wake it.
    sections(&cache);
}

/// Set once in `main`; read by `seconds`.
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
