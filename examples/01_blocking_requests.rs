//! Lesson 01: blocking requests
//!
//! Five requests to five slow websites, made the ordinary way: connect, send the
//! request, wait for the whole answer, and only then move on to the next site. While
//! the program waits for one site it can do nothing else, so the run time is the sum
//! of the five waits. This retells the walkthrough's Python example 1 (`requests.get`
//! in a `for` loop), with a tiny GET written here on `std::net`.
//!
//! The five websites are the slow-sites server, started in this process on a free
//! loopback port: the same five names, each answering after its own delay (0.2 to
//! 0.6 seconds), so the lesson works offline and gives the same order every run.
//!
//! Run it:     cargo run --example 01_blocking_requests
//!             cargo run --example 01_blocking_requests -- http://127.0.0.1:8080/google
//!             (plain-http URLs as arguments are fetched instead of the five sites)
//! Read:       docs/01-blocking-requests.md
//! Debug it:   break on `01_blocking_requests::blocking_get`, then on
//!             `miniloop::event_loop::Core::poll_task`: it stops on the server's
//!             thread, and `thread apply 1 bt` shows this one asleep in `recv`
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies the sites'
//! delays. It changes no line except the timings.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use miniloop::http::{SlowServer, LESSON_SITES};
use miniloop::trace::Timeline;

/// The parts of an `http://` URL that a request needs.
#[derive(Debug)]
struct Target<'url> {
    host: &'url str,
    port: u16,
    path: &'url str,
}

/// Splits `http://host[:port][/path]`. `miniloop::http` parses more carefully; this
/// is enough for the lesson, and it refuses what it can't fetch with a reason.
fn parse_url(url: &str) -> Result<Target<'_>, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        let why = match url.starts_with("https://") {
            true => "this lesson speaks plain HTTP only (TLS is out of scope)",
            false => "only `http://` URLs are supported",
        };
        return Err(format!(
            "cannot fetch `{url}`: {why}; use an `http://` URL, like the slow-sites \
             server's (`cargo run --example slow_server`): `http://127.0.0.1:8080/google`"
        ));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').unwrap_or((authority, "80"));
    let port = port.parse::<u16>().map_err(|_| {
        format!("cannot fetch `{url}`: the port `{port}` is not a number from 0 to 65535")
    })?;
    if host.is_empty() {
        return Err(format!(
            "cannot fetch `{url}`: the URL has no host after `http://`"
        ));
    }
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target { host, port, path })
}

/// Fetches `url` and returns the raw response. Every call in here blocks the thread:
/// `connect` until the connection is up, `read_to_end` until the server has sent its
/// whole answer and closed the connection. That wait is the slow site's delay.
fn blocking_get(url: &str) -> Result<Vec<u8>, String> {
    let target = parse_url(url)?;
    let address = format!("{}:{}", target.host, target.port);
    let failed = |doing: &str, error: std::io::Error| {
        format!("cannot fetch `{url}`: {doing} {address} failed: {error}")
    };
    let mut stream =
        TcpStream::connect(address.as_str()).map_err(|error| failed("connecting to", error))?;
    // A server that never answers would block us for ever; give up after a while.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    // `Connection: close` asks the server to hang up after answering, so "read to
    // the end" reads exactly one whole response.
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n",
        target.path
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| failed("sending the request to", error))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|error| failed("reading the response from", error))?;
    Ok(response)
}

/// The page's name for the report: the last part of its path, like Python's
/// `page.rsplit("/", 1)[1]` (or the host, if the path is empty).
fn page_name(url: &str) -> String {
    let name = url.trim_end_matches('/').rsplit('/').next();
    name.unwrap_or(url).to_owned()
}

/// Python's `request_page`: fetch one page, return its name and how long it took.
fn request_page(url: String) -> Result<(String, Duration), String> {
    let started = Instant::now();
    blocking_get(&url)?;
    Ok((page_name(&url), started.elapsed()))
}

/// What the program has seen so far: the sum of the request times, and the failures.
#[derive(Debug, Default)]
struct Tally {
    total_duration: Duration,
    failures: usize,
}

/// Prints one request's result: Python's `print(f"Requested {name} in ...")`.
fn report(finished: Result<(String, Duration), String>, tally: &mut Tally) {
    match finished {
        Ok((name, duration)) => {
            tally.total_duration += duration;
            println!("Requested {name} in {:.2} seconds", duration.as_secs_f64());
        }
        Err(message) => {
            tally.failures += 1;
            eprintln!("error: {message}");
        }
    }
}

/// Python's `main`: the pages one after another. Each `request_page` returns only
/// when its page has arrived, so the next request waits for it. Each request is also
/// drawn on `timeline`: it holds the thread from start to end, so it is all "running".
fn request_all(urls: Vec<String>, timeline: &mut Timeline) -> Tally {
    let started = Instant::now();
    let mut tally = Tally::default();
    for url in urls {
        let request_started = started.elapsed();
        let name = page_name(&url);
        let finished = request_page(url);
        let request_ended = started.elapsed();
        let running = vec![(request_started, request_ended)];
        timeline.add_row(name, request_started, request_ended, running);
        report(finished, &mut tally);
    }
    println!(
        "Run time {:.2} seconds, cumulative run time {:.2} seconds",
        started.elapsed().as_secs_f64(),
        tally.total_duration.as_secs_f64()
    );
    tally
}

/// Draws the timeline: a staircase, each request starting where the last one ended.
/// `MINILOOP_TIMELINE_SVG=path.svg` also writes it as a picture.
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
    // No URLs given: start the slow-sites server on its own thread. It stops when
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

    let mut timeline = Timeline::default();
    let tally = request_all(urls, &mut timeline);
    draw(&timeline);
    if tally.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
