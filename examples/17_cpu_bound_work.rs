//! Lesson 17: CPU-bound work
//!
//! Lesson 15 blocked the loop with a sleep; a long computation blocks it the
//! same way, and there is no `.await` to put in the middle of a loop that adds
//! numbers. Async does not make computing faster: one loop is one thread, one
//! core. This lesson sums squares three ways: inline in async code (a ticker
//! beside it stalls), on `spawn_blocking` (the ticker keeps its time), and four
//! sums at once on `spawn_blocking`, which spreads them over the cores.
//! Each part prints its CPU time over its run time: the number of cores the
//! program kept busy, on average (1.0: one core the whole time). On a quiet
//! machine the four jobs at once go towards the number of cores; on a busy one
//! every part drops, because a thread waiting for a core burns no CPU time.
//!
//! Run it:     cargo run --example 17_cpu_bound_work
//!             cargo run --release --example 17_cpu_bound_work
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 17_cpu_bound_work
//! Read:       docs/17-cpu-bound-work.md
//! Debug it:   break on `17_cpu_bound_work::sum_of_squares` and `info threads`:
//!             the first stop is on the main thread (the loop's), the next ones
//!             on `miniloop-blocking` threads; `print count` is the job size
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies the job
//! size and the ticker's period. It changes the `Job size` line and the timing
//! lines, nothing else. A release build runs the sums several times faster.
//! The CPU time is read with `getrusage` through `libc` (std can't), as in
//! lessons 12 and 13, but for the whole process: the pool's threads count too.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use miniloop::task::Builder;
use miniloop::time::interval;
use miniloop::{join_all, spawn_blocking, yield_now};

/// Set once in `main`; read by `seconds` and `job_size`.
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

/// How many numbers one job squares: about half a second in a debug build.
fn job_size() -> u64 {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    (20_000_000.0 * time_scale).round().max(1_000.0) as u64
}

/// How many jobs the last part runs, one after another and then at once.
const JOBS: usize = 4;

/// The CPU-bound work: no `.await` anywhere, so it runs start to end in one go.
fn sum_of_squares(count: u64) -> u128 {
    let mut total: u128 = 0;
    for number in 1..=count {
        // `black_box` stops the optimizer from replacing the loop with the formula.
        let number = u128::from(black_box(number));
        total += number * number;
    }
    total
}

/// What `sum_of_squares` must return: n(n+1)(2n+1)/6.
fn is_right(count: u64, sum: u128) -> bool {
    let last = u128::from(count);
    sum == last * (last + 1) * (2 * last + 1) / 6
}

/// CPU time (user plus system) of the whole process so far: every thread,
/// the loop's and the pool's. std can't read it, hence `libc`.
fn process_cpu_time() -> Duration {
    // SAFETY: `rusage` holds only integers (two `timeval`s and `c_long`s), and
    // all-zero bytes are a valid value for every one of them.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `&mut usage` points to a live, writable `rusage` for the whole
    // call, which is all `getrusage` needs; it keeps no pointer afterwards.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
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

/// Starts a stopwatch for wall time and CPU time together.
struct Stopwatch {
    started_at: Instant,
    cpu_at_start: Duration,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        Stopwatch {
            started_at: Instant::now(),
            cpu_at_start: process_cpu_time(),
        }
    }

    /// The run time so far, and the CPU time over it: how many cores were busy
    /// on average (1.0: one, the whole time).
    fn read(&self) -> (Duration, f64) {
        let run_time = self.started_at.elapsed();
        let cpu_time = process_cpu_time().saturating_sub(self.cpu_at_start);
        let ratio = cpu_time.as_secs_f64() / run_time.as_secs_f64().max(1e-9);
        (run_time, ratio)
    }
}

/// Ticks every 0.02 s until `stop` is set; returns the worst lateness seen.
async fn tick_until_stopped(stop: Arc<AtomicBool>) -> Duration {
    let mut ticker = interval(seconds(0.02));
    let mut worst = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let scheduled_at = ticker.tick().await;
        worst = worst.max(scheduled_at.elapsed());
    }
    worst
}

/// Inline: the sum runs inside the task's poll, on the loop's thread.
async fn sum_inline(count: u64) -> u128 {
    sum_of_squares(count)
}

/// On the pool: the task awaits a handle, and the loop's thread stays free.
async fn sum_on_the_pool(count: u64) -> u128 {
    let job = spawn_blocking(move || sum_of_squares(count));
    job.await.expect("summing never panics")
}

/// Runs `job` beside a ticker; prints whether its sum is right, its run time
/// and the ticker's worst lateness.
async fn beside_a_ticker(label: &str, job: impl std::future::Future<Output = u128>) {
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = Builder::new()
        .name("ticker")
        .spawn(tick_until_stopped(Arc::clone(&stop)));
    // Let the ticker take its first tick before the work starts.
    yield_now().await;
    let stopwatch = Stopwatch::start();
    let sum = job.await;
    let (run_time, cpu_per_wall) = stopwatch.read();
    stop.store(true, Ordering::Relaxed);
    let worst = ticker.await.expect("the ticker does not panic");
    let is_right = is_right(job_size(), sum);
    println!("{label}: the sum matches n(n+1)(2n+1)/6? {is_right}");
    println!("{label} run time: {:.2} seconds", run_time.as_secs_f64());
    println!("{label} CPU/wall: {cpu_per_wall:.1}");
    println!(
        "{label} max tick lateness: {:.3} seconds",
        worst.as_secs_f64()
    );
}

/// How many batch jobs are running right now, and the most at any moment.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static MOST_AT_ONCE: AtomicUsize = AtomicUsize::new(0);

/// One job of a batch: a sum, counted in `RUNNING` while it runs.
fn counted_job(count: u64) -> bool {
    let running = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    MOST_AT_ONCE.fetch_max(running, Ordering::SeqCst);
    let sum = sum_of_squares(count);
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    is_right(count, sum)
}

/// `JOBS` sums on the pool, each awaited before the next one starts.
async fn jobs_one_after_another(count: u64) -> bool {
    let mut all_right = true;
    for _ in 0..JOBS {
        let job = spawn_blocking(move || counted_job(count));
        all_right &= job.await.expect("summing never panics");
    }
    all_right
}

/// `JOBS` sums on the pool at once: each gets its own thread, and the OS
/// spreads the threads over the cores that are free.
async fn jobs_at_once(count: u64) -> bool {
    let jobs = (0..JOBS).map(|_| spawn_blocking(move || counted_job(count)));
    let verdicts = join_all(jobs).await;
    verdicts
        .into_iter()
        .all(|verdict| verdict.expect("summing never panics"))
}

/// Runs a batch on a fresh loop; prints its verdict, its run time, its CPU
/// time over its run time, and how many of its jobs ran at the same moment.
fn time_batch(title: &str, label: &str, batch: impl std::future::Future<Output = bool>) {
    MOST_AT_ONCE.store(0, Ordering::SeqCst);
    let stopwatch = Stopwatch::start();
    let all_right = miniloop::run(batch);
    let (run_time, cpu_per_wall) = stopwatch.read();
    println!("{title}: every sum matches? {all_right}");
    println!("{label} run time: {:.2} seconds", run_time.as_secs_f64());
    println!("{label} CPU/wall: {cpu_per_wall:.1}");
    let most = MOST_AT_ONCE.load(Ordering::SeqCst);
    println!("{label} jobs running at once, at most: {most}");
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

    println!("Each job sums the squares of 1..=n");
    let count = job_size();
    println!("Job size: n = {count}");
    miniloop::run(beside_a_ticker("Inline", sum_inline(count)));
    miniloop::run(beside_a_ticker("spawn_blocking", sum_on_the_pool(count)));

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!("Cores available: {cores}");
    let sequential = jobs_one_after_another(count);
    time_batch("4 jobs, one after another", "Sequential", sequential);
    time_batch("4 jobs at once", "Parallel", jobs_at_once(count));
}
