//! Lesson 13: the real event loop
//!
//! Lesson 12's countdown program on miniloop's `EventLoop`. The program barely
//! changes; the loop under it does. Here a sleeping task files its deadline and
//! its waker in the loop's timer queue and is not polled again until that timer
//! fires, and a loop with nothing to do blocks in the kernel until the earliest
//! deadline. The last two lines show what that buys: the same run time as lesson
//! 12, and almost no CPU time.
//!
//! Run it:     cargo run --example 13_real_event_loop
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 13_real_event_loop
//! Read:       docs/13-real-event-loop.md
//! Debug it:   break on `miniloop::event_loop::Core::poll_task` (11 stops: a first
//!             poll, then one per timer that fired); `print key` is the task's slot,
//!             `print (*body.pointer).future` the countdown's state machine
//! Compare:    diff examples/13_real_event_loop.rs examples/13_real_event_loop_tokio.rs
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every delay:
//! 0.1 runs the 10-second countdown in about one second. It changes no line except
//! the two timings.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use miniloop::{sleep, spawn, EventLoop};

/// Set once in `main`, before anything sleeps; read by `seconds`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// A number of the walkthrough's seconds, times the time scale: Python's
/// `sleep(1)` becomes `sleep(seconds(1.0))`.
fn seconds(count: f64) -> Duration {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Duration::from_secs_f64(count * time_scale)
}

/// `RUSAGE_THREAD` counts the loop's thread only (Linux); elsewhere we fall back to
/// the whole process. Same as lesson 12, so the two CPU lines compare like for like.
#[cfg(target_os = "linux")]
const RUSAGE_WHO: libc::c_int = libc::RUSAGE_THREAD;
#[cfg(not(target_os = "linux"))]
const RUSAGE_WHO: libc::c_int = libc::RUSAGE_SELF;

/// CPU time (user plus system) burned so far. std can't read it, hence `libc`.
fn cpu_time() -> Duration {
    // SAFETY: `rusage` holds only integers (two `timeval`s and `c_long`s), and
    // all-zero bytes are a valid value for every one of them.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `&mut usage` points to a live, writable `rusage` for the whole
    // call, which is all `getrusage` needs; it keeps no pointer afterwards.
    let status = unsafe { libc::getrusage(RUSAGE_WHO, &mut usage) };
    assert!(
        status == 0,
        "getrusage failed: {}",
        std::io::Error::last_os_error()
    );
    duration_from_timeval(usage.ru_utime) + duration_from_timeval(usage.ru_stime)
}

fn duration_from_timeval(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).expect("CPU time should never be negative");
    let micros = u64::try_from(time.tv_usec).expect("CPU time should never be negative");
    Duration::from_secs(seconds) + Duration::from_micros(micros)
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

// The program: Python's `countdown`, `do_stuff`, `do_more_stuff` and `main`, as in
// lesson 12. Only `sleep` and `spawn` come from the runtime now.

async fn countdown() {
    for count in (1..=10).rev() {
        println!("{count}");
        // One poll files the timer and returns `Pending`; the next poll comes when
        // the timer fires. Lesson 12 polled this line millions of times a second.
        sleep(seconds(1.0)).await;
    }
    println!("TAKE OFF!!!!!");
}

async fn do_stuff() {
    sleep(seconds(1.0)).await;
    println!("Doing more stuff");
    let result = do_more_stuff().await;
    println!("{result}");
}

async fn do_more_stuff() -> &'static str {
    sleep(seconds(2.0)).await;
    "Hello World"
}

/// Python's `main` coroutine (Rust's `fn main` is the program's entry point).
async fn main_task() {
    // Python's `loop.create_task`: the task starts at the loop's next turn, whether
    // or not anyone awaits its handle. `spawn` finds the loop through a thread-local,
    // so it panics, with a hint, when no loop is running on this thread.
    let countdown_handle = spawn(countdown());
    sleep(seconds(0.5)).await;
    do_stuff().await;
    // The handle keeps our waker; the countdown's last poll wakes us. `Err` would
    // mean the countdown panicked or was cancelled, which this program never does.
    countdown_handle
        .await
        .expect("the countdown task should run to the end");
    println!("Main is exiting");
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
        .expect("the time scale is set once, before the loop starts");

    let started_at = Instant::now();
    let cpu_at_start = cpu_time();
    // The loop object lesson 12 wrote by hand, now miniloop's. `main_task` is not a
    // task: `run_until_complete` polls it itself, between batches of tasks.
    // `miniloop::run(main_task())` does these two lines in one.
    let event_loop = EventLoop::new();
    event_loop.run_until_complete(main_task());
    let run_time = started_at.elapsed();
    let cpu_used = cpu_time().saturating_sub(cpu_at_start);

    println!("Run time: {:.3} seconds", run_time.as_secs_f64());
    println!("CPU time: {:.3} seconds", cpu_used.as_secs_f64());
}
