//! Lesson 37: an hour in a millisecond
//!
//! A loop's timers only ever ask one question: what time is it? Give the loop a clock of
//! its own, stopped, and let the loop move it: when every task waits and the next thing
//! that can happen is a timer, nothing can happen before that timer, so the loop jumps the
//! clock to it instead of sleeping. A program that waits for an hour then runs in a
//! millisecond, and does exactly what it does in an hour of real time.
//!
//! 1. A retry loop with exponential backoff, against a service that is down for its first
//!    16 calls, on a loop built with `start_paused(true)`: every attempt, at its virtual time.
//! 2. A service that never comes back: the one-hour `timeout` fires at exactly 1:00:00.
//! 3. The numbers: virtual time simulated, wall time taken.
//! 4. The same retry loop on the real clock, every delay 10 000 times shorter: the same
//!    attempts, and never sooner than the virtual run says.
//!
//! Run it:     cargo run --example 37_an_hour_in_a_millisecond
//! Read:       docs/37-an-hour-in-a-millisecond.md
//! Debug it:   break on `Core::wait_on_paused_clock` (`src/event_loop/auto_advance.rs`): each stop
//!             is one jump; `print timeout` is how far the clock is about to move
//!
//! Every line is the same on every run but the wall times in parts 3 and 4.

use std::time::{Duration, Instant};

use miniloop::time::{self, timeout};
use miniloop::{sleep, EventLoop};

/// The delays of the program: the first wait between attempts (each failure doubles it,
/// up to `max_backoff`), and how long one call to the service takes.
#[derive(Clone, Copy)]
struct Delays {
    first_backoff: Duration,
    max_backoff: Duration,
    call_takes: Duration,
}

const DELAYS: Delays = Delays {
    first_backoff: Duration::from_secs(1),
    max_backoff: Duration::from_secs(5 * 60),
    call_takes: Duration::from_secs(2),
};

impl Delays {
    fn divided_by(self, n: u32) -> Delays {
        Delays {
            first_backoff: self.first_backoff / n,
            max_backoff: self.max_backoff / n,
            call_takes: self.call_takes / n,
        }
    }
}

/// How long the caller of part 2 is willing to keep trying.
const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);

/// A service that fails its first `failures` calls (or every call, with `None`).
struct FlakyService {
    calls: u32,
    failures: Option<u32>,
}

impl FlakyService {
    async fn call(&mut self, takes: Duration) -> Result<&'static str, &'static str> {
        self.calls += 1;
        sleep(takes).await;
        match self.failures {
            Some(failures) if self.calls > failures => Ok("200 OK"),
            _ => Err("503 Service Unavailable"),
        }
    }
}

/// The code under test: call until the service answers, waiting longer after each failure.
/// `on_attempt` hears of each attempt (its number, and when it started on the loop's clock).
async fn retry_with_backoff(
    service: &mut FlakyService,
    delays: Delays,
    mut on_attempt: impl FnMut(u32, Duration),
) -> (u32, &'static str) {
    let start = time::now();
    let mut backoff = delays.first_backoff;
    for attempt in 1.. {
        on_attempt(attempt, time::now() - start);
        if let Ok(answer) = service.call(delays.call_takes).await {
            return (attempt, answer);
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(delays.max_backoff);
    }
    unreachable!("`1..` does not end")
}

/// `h:mm:ss` of a whole number of seconds.
fn clock(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn part_1(event_loop: &EventLoop) -> (u32, Duration) {
    println!(
        "1. retry with backoff (1s, doubling, at most 5 min; a call takes 2s), on a paused clock"
    );
    let mut service = FlakyService {
        calls: 0,
        failures: Some(16),
    };
    event_loop.run_until_complete(async {
        let start = time::now();
        let (attempts, answer) = retry_with_backoff(&mut service, DELAYS, |attempt, at| {
            println!("   attempt {attempt:>2} at {}", clock(at));
        })
        .await;
        let took = time::now() - start;
        println!(
            "   answer {answer:?} on attempt {attempts}, at {}",
            clock(took)
        );
        (attempts, took)
    })
}

fn part_2(event_loop: &EventLoop) -> Duration {
    println!("2. a service that never comes back, under timeout(1 hour)");
    let mut service = FlakyService {
        calls: 0,
        failures: None,
    };
    event_loop.run_until_complete(async {
        let start = time::now();
        let retries = retry_with_backoff(&mut service, DELAYS, |_, _| {});
        let error = timeout(GIVE_UP_AFTER, retries)
            .await
            .expect_err("it never answers");
        let took = time::now() - start;
        println!("   gave up after {} attempts: {error}", service.calls);
        println!(
            "   at {}, exactly the deadline: {}",
            clock(took),
            took == GIVE_UP_AFTER
        );
        took
    })
}

fn part_3(simulated: Duration, wall: Duration) {
    println!("3. the numbers");
    println!(
        "   time simulated:  {} ({} s)",
        clock(simulated),
        simulated.as_secs()
    );
    println!("   wall time taken: {:.4} ms", wall.as_secs_f64() * 1e3);
    let speed_up = simulated.as_secs_f64() / wall.as_secs_f64();
    println!("   simulated / wall: {speed_up:.0} times faster than real time");
}

fn part_4(virtual_attempts: u32, virtual_took: Duration) {
    const SCALE: u32 = 10_000;
    println!("4. the same retry loop on the real clock, every delay {SCALE} times shorter");
    let mut service = FlakyService {
        calls: 0,
        failures: Some(16),
    };
    let wall = Instant::now();
    let (attempts, _) = miniloop::run(retry_with_backoff(
        &mut service,
        DELAYS.divided_by(SCALE),
        |_, _| {},
    ));
    let took = wall.elapsed();
    let scaled = virtual_took / SCALE;
    let same = attempts == virtual_attempts;
    println!("   answer on attempt {attempts}; the same as on the paused clock: {same}");
    println!(
        "   took {:.1} ms of real time; {} / {SCALE} = {:.1} ms; not sooner: {}",
        took.as_secs_f64() * 1e3,
        clock(virtual_took),
        scaled.as_secs_f64() * 1e3,
        took >= scaled
    );
}

fn main() {
    // One loop for parts 1 and 2: its clock starts paused, and only the loop moves it.
    let event_loop = EventLoop::builder().start_paused(true).build();
    let wall = Instant::now();
    let (attempts, first) = part_1(&event_loop);
    let second = part_2(&event_loop);
    part_3(first + second, wall.elapsed());
    part_4(attempts, first);
}
