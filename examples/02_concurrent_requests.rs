//! Lesson 02: concurrent requests
//!
//! The same five requests as lesson 01, made as five miniloop tasks. Each task sends
//! its request and then waits for the answer without holding the thread: when its
//! socket has nothing to read yet, the task steps aside and the loop runs the others.
//! All five waits overlap, so the run time is about the slowest site's delay, not the
//! sum, and the results arrive in the order the sites answer. This retells the
//! walkthrough's Python example 2 (`asyncio.create_task` and `asyncio.as_completed`).
//!
//! As in lesson 01, the five sites are the slow-sites server, started in this process.
//!
//! Run it:     cargo run --example 02_concurrent_requests
//!             cargo run --example 02_concurrent_requests -- http://127.0.0.1:8080/google
//!             (plain-http URLs as arguments are fetched instead of the five sites)
//! Read:       docs/02-concurrent-requests.md
//! Debug it:   break on `miniloop::event_loop::Core::poll_task` to see each task polled,
//!             and on `miniloop::reactor::Reactor::wait` to see the loop wait for all
//!             five sockets at once; `print timeout` shows how long it may block
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies the sites'
//! delays. It changes no line except the timings.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use miniloop::http::{self, SlowServer, LESSON_SITES};
use miniloop::task::Builder;
use miniloop::trace::Timeline;
use miniloop::{as_completed, EventLoop, JoinError};

/// The page's name for the report: the last part of its path, like Python's
/// `page.rsplit("/", 1)[1]` (or the host, if the path is empty). Same as lesson 01.
fn page_name(url: &str) -> String {
    let name = url.trim_end_matches('/').rsplit('/').next();
    name.unwrap_or(url).to_owned()
}

/// Python's `request_page`, now an `async fn`: fetch one page, return its name and
/// how long it took. Each `.await` inside `http::get` may pause this task until its
/// socket is ready; the time it measures includes those pauses.
async fn request_page(url: String) -> Result<(String, Duration), String> {
    let started = Instant::now();
    http::get(&url).await.map_err(|error| error.to_string())?;
    Ok((page_name(&url), started.elapsed()))
}

/// What the program has seen so far: the sum of the request times, and the failures.
#[derive(Debug, Default)]
struct Tally {
    total_duration: Duration,
    failures: usize,
}

/// Prints one finished task's result, in the format of lesson 01.
fn report(finished: Result<Result<(String, Duration), String>, JoinError>, tally: &mut Tally) {
    match finished {
        Ok(Ok((name, duration))) => {
            tally.total_duration += duration;
            println!("Requested {name} in {:.2} seconds", duration.as_secs_f64());
        }
        Ok(Err(message)) => {
            tally.failures += 1;
            eprintln!("error: {message}");
        }
        // Only a bug in `request_page` would get here: tasks report panics as values.
        Err(join_error) => {
            tally.failures += 1;
            eprintln!("error: {join_error}");
        }
    }
}

/// Python's `main` coroutine: a task per page, then the results as they complete.
async fn request_all(urls: Vec<String>) -> Tally {
    let started = Instant::now();
    // `spawn` is `asyncio.create_task`: every request starts at the loop's next turn,
    // before we await any of them.
    // Each task is named after its page, so the timeline can label its row.
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| {
            Builder::new()
                .name(page_name(&url))
                .spawn(request_page(url))
        })
        .collect();
    let mut tally = Tally::default();
    let mut completed = as_completed(tasks);
    while let Some(finished) = completed.next().await {
        report(finished, &mut tally);
    }
    println!(
        "Run time {:.2} seconds, cumulative run time {:.2} seconds",
        started.elapsed().as_secs_f64(),
        tally.total_duration.as_secs_f64()
    );
    tally
}

/// Draws the timeline: five overlapping bars, each task waiting (`·`) on its socket
/// at the same time, running (`█`) only for the moments the loop polls it.
/// `MINILOOP_TIMELINE_SVG=path.svg` also writes it as a picture. Same as lesson 01.
fn draw(timeline: &Timeline) {
    println!("Timeline (█ running, · waiting):");
    print!("{}", timeline.render_text(50));
    if let Some(path) = std::env::var_os("MINILOOP_TIMELINE_SVG") {
        if let Err(error) = std::fs::write(&path, timeline.render_svg()) {
            eprintln!("error: could not write the timeline to {path:?}: {error}");
        }
    }
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

fn main() -> ExitCode {
    let time_scale = match time_scale_from_env() {
        Ok(time_scale) => time_scale,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sites = LESSON_SITES.map(|site| site.scaled(time_scale));
    // No URLs given: start the slow-sites server, on its own thread with its own
    // loop, so that this program's loop runs only the five requests. It stops when
    // `server` is dropped, at the end of `main`.
    let server = if args.is_empty() {
        match SlowServer::start(&sites) {
            Ok(server) => Some(server),
            Err(error) => {
                eprintln!("error: the slow-sites server did not start: {error}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let urls: Vec<String> = match &server {
        Some(server) => sites.iter().map(|site| server.url(site.name)).collect(),
        None => args,
    };

    // `asyncio.run(main())`, on a loop that records when each task runs and waits.
    let event_loop = EventLoop::builder().record_timeline(true).build();
    let tally = event_loop.run_until_complete(request_all(urls));
    draw(&event_loop.timeline());
    if tally.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
