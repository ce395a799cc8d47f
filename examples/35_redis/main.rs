//! Lesson 35: the capstone, a Redis server on miniloop
//!
//! Everything the lessons built, in one program that real clients talk to: a
//! task per connection on one thread (lessons 13 and 18), replies to a whole
//! pipeline in one write, a timer per key that has a time to live (a sleeping
//! task, cancelled by dropping it: lesson 31), clients that wait for each other
//! through a mailbox and a waker (BLPOP, pub/sub: lesson 33), and a FETCH
//! command that runs sync first (lesson 19): a cache hit answers without the
//! connection's task ever suspending, a miss waits for the slow-sites server
//! while every other client is served, and inside MULTI/EXEC, where nothing may
//! wait, a miss is an error (`run_now`).
//!
//! Run it:     cargo run --example 35_redis                 (a scripted demo, ~1 s)
//!             cargo run --example 35_redis -- --port 6380  (a real server)
//!             redis-cli -p 6380                            (then talk to it)
//! Read:       docs/35-redis-on-miniloop.md
//! Debug it:   break on `35_redis::commands::execute`: `bt` shows the poll of the
//!             connection's task under it, and `print request` the command
//! Compare:    examples/35_redis_tokio/main.rs, the same commands on tokio
//!
//! The files: `resp.rs` (the protocol), `keyspace.rs` (keys, values, expiry),
//! `shared.rs` (what the connections share), `commands.rs` (every command),
//! `connection.rs` (one client's task), `demo.rs` (the scripted demo). All but
//! `connection.rs`, `demo.rs` and this file are runtime-free: the tokio twin
//! uses them as they are.
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) scales the demo's
//! delays; the server itself ignores it.

mod commands;
mod connection;
mod demo;
mod keyspace;
mod resp;
mod settings;
mod shared;

use std::process::ExitCode;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use miniloop::http::{SlowServer, LESSON_SITES};
use miniloop::net::TcpListener;
use miniloop::{run_now, select, Either};

use commands::Runtime;
use keyspace::{Bytes, TimerHandle};
use settings::{Config, Server};
use shared::{expire_key, lock, new_state, Shared, SharedState};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        return demo::run();
    }
    match settings::parse_args(&args, "35_redis") {
        Ok(Some(server)) => serve_from_command_line(server),
        Ok(None) => ExitCode::SUCCESS, // `--help` printed the usage
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The real server: the origin, Ctrl-C, the loop, until `SHUTDOWN` or a signal.
fn serve_from_command_line(server: Server) -> ExitCode {
    // Without `--origin`, the lessons' slow-sites server runs on a thread of this process.
    let (origin, _slow_sites) = match server.origin {
        Some(url) => (url, None),
        None => match SlowServer::start(&LESSON_SITES) {
            Ok(slow) => (format!("http://{}", slow.address()), Some(slow)),
            Err(error) => {
                eprintln!("error: cannot start the slow-sites server for FETCH: {error}");
                return ExitCode::FAILURE;
            }
        },
    };
    let config = Arc::new(Config {
        listen: server.listen,
        origin,
        stall_limit: server.stall_limit,
    });
    let shared = new_state(start_expiry_timer);
    let on_signal = shared.clone();
    // The handler runs on a thread of its own; the wake inside `request_shutdown` reaches the
    // loop through its remote queue and interrupts its wait.
    if let Err(error) = ctrlc::set_handler(move || lock(&on_signal).request_shutdown()) {
        eprintln!("warning: Ctrl-C will not stop the server cleanly: {error}");
    }
    let served = miniloop::run(serve(config, shared, |address, origin| {
        println!(
            "miniloop redis: ready to accept connections on {address} (FETCH loads from {origin})"
        );
    }));
    match served {
        Ok(()) => {
            println!("miniloop redis: shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Listens, reports where (`ready`), and accepts until a shutdown is requested. Returning
/// ends the loop, which drops every connection's task and closes its socket.
pub async fn serve(
    config: Arc<Config>,
    shared: SharedState,
    ready: impl FnOnce(std::net::SocketAddr, &str),
) -> std::io::Result<()> {
    let listener = TcpListener::bind(&config.listen).await?;
    ready(listener.local_addr()?, &config.origin);
    loop {
        // The shutdown first: a flood of connections must not keep the server from stopping.
        let stop = std::future::poll_fn(|cx| lock(&shared).poll_shutdown(cx));
        match select(stop, listener.accept()).await {
            Either::Left(()) => return Ok(()),
            Either::Right(Ok((stream, peer))) => {
                let task = connection::serve_client(stream, peer, shared.clone(), config.clone());
                drop(miniloop::spawn(task));
            }
            Either::Right(Err(error)) => {
                // Out of file descriptors, say: the clients we have keep being served.
                eprintln!("redis: accepting a connection failed: {error}; retrying in 100 ms");
                miniloop::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A key's timer: a task that sleeps on the loop's timer heap until the deadline, then
/// removes the key. Cancelling it is aborting the task, which drops the sleep and takes its
/// entry out of the heap (lesson 31).
fn start_expiry_timer(shared: Weak<Mutex<Shared>>, key: Bytes, deadline: Instant) -> TimerHandle {
    let timer = miniloop::task::Builder::new()
        .name("expiry")
        .spawn(async move {
            miniloop::sleep_until(deadline).await;
            expire_key(&shared, &key, deadline);
        });
    TimerHandle::new(move || timer.abort())
}

/// `FETCH`'s slow part: `GET origin/path` with miniloop's HTTP client.
pub async fn load_from_origin(origin: String, path: String) -> Result<Bytes, String> {
    let url = format!("{origin}/{path}");
    let response = miniloop::http::get(&url)
        .await
        .map_err(|error| format!("ERR FETCH could not load it: {error}"))?;
    if !response.is_success() {
        return Err(format!(
            "ERR FETCH {path}: the origin answered {} {}; `redis-cli GET` works on any key, \
             FETCH only on the origin's pages",
            response.status, response.reason
        ));
    }
    Ok(response.body)
}

/// The runtime half of the commands, on miniloop.
pub struct Miniloop<'a> {
    /// Where `FETCH` loads from.
    pub origin: &'a str,
}

impl Runtime for Miniloop<'_> {
    /// `FETCH` inside `MULTI`/`EXEC`: `run_now` polls it once in a section where waiting is
    /// forbidden. A hit finishes in that poll; a miss reaches the origin's socket, which
    /// notes what it would wait for and returns `Pending`, and `run_now` drops it and says so.
    fn fetch_now(&self, shared: &SharedState, key: &[u8], out: &mut Vec<u8>) {
        let origin = self.origin.to_owned();
        let attempt = run_now(commands::fetch(shared.clone(), key.to_vec(), move |path| {
            load_from_origin(origin, path)
        }));
        match attempt {
            Ok(result) => commands::fetch_reply(out, &result),
            Err(would_suspend) => commands::fetch_would_wait(out, key, would_suspend.reason()),
        }
    }
}
