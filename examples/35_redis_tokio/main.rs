//! Lesson 35: the Redis server, on tokio
//!
//! The twin of `examples/35_redis/`: the same protocol, keyspace and commands
//! (the files are included as they are), on tokio's current-thread runtime. Only
//! the runtime's half differs: sockets, `spawn`, timers, `select!`. It exists to
//! be measured against (`scripts/redis_bench.sh`), the way lesson 13 has a
//! tokio twin.
//!
//! Run it:     cargo run --release --example 35_redis_tokio -- --port 6381
//! Read:       docs/35-redis-on-miniloop.md, "The tokio twin"
//! Compare:    examples/35_redis/connection.rs and `serve_client` below
//!
//! Where miniloop has something tokio lacks, the twin does this instead:
//! - `spawn_eager`: tokio's `spawn` always queues the task. The twin awaits the
//!   FETCH future inside the connection's own task, which is just as sync first
//!   (a hit is ready at the first poll) but puts the load in no task of its own.
//! - `run_now`: inside MULTI/EXEC the twin polls FETCH once with `futures`'
//!   `now_or_never`; a miss is refused the same way, but `None` cannot say what
//!   the future would have waited for, so the error has no reason in it.

#[path = "../35_redis/commands.rs"]
mod commands;
#[path = "../35_redis/keyspace.rs"]
mod keyspace;
#[path = "../35_redis/resp.rs"]
mod resp;
#[path = "../35_redis/settings.rs"]
mod settings;
#[path = "../35_redis/shared.rs"]
mod shared;

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use futures::FutureExt;
use miniloop::http::{SlowServer, LESSON_SITES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use commands::{Ctx, Outcome, Runtime, Session};
use keyspace::{Bytes, TimerHandle};
use resp::{InputBuffer, Parsed, RequestParser};
use settings::{Config, Server};
use shared::{expire_key, lock, new_state, ClientId, Delivery, Shared, SharedState};

/// Same as `OUTPUT_HIGH_WATER` in `examples/35_redis/connection.rs`.
const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Same as `MAX_QUERY_BUFFER` there.
const MAX_QUERY_BUFFER: usize = 1024 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = match settings::parse_args(&args, "35_redis_tokio") {
        Ok(Some(server)) => server,
        Ok(None) => return ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    serve_from_command_line(server)
}

fn serve_from_command_line(server: Server) -> ExitCode {
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
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start tokio's runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let shared = new_state(start_expiry_timer);
    let on_signal = shared.clone();
    if let Err(error) = ctrlc::set_handler(move || lock(&on_signal).request_shutdown()) {
        eprintln!("warning: Ctrl-C will not stop the server cleanly: {error}");
    }
    let served = runtime.block_on(serve(config, shared));
    // Dropping the runtime drops every connection's task and closes its socket.
    drop(runtime);
    match served {
        Ok(()) => {
            println!("tokio redis: shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Arc<Config>, shared: SharedState) -> io::Result<()> {
    let listener = TcpListener::bind(&config.listen).await?;
    println!(
        "tokio redis: ready to accept connections on {} (FETCH loads from {})",
        listener.local_addr()?,
        config.origin
    );
    loop {
        tokio::select! {
            biased;
            () = poll_fn(|cx| lock(&shared).poll_shutdown(cx)) => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tokio::spawn(serve_client(stream, peer, shared.clone(), config.clone()));
                }
                Err(error) => {
                    eprintln!("redis: accepting a connection failed: {error}; retrying in 100 ms");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// A key's timer: a tokio task that sleeps until the deadline; cancelling it aborts it.
fn start_expiry_timer(shared: Weak<Mutex<Shared>>, key: Bytes, deadline: Instant) -> TimerHandle {
    let timer = tokio::spawn(async move {
        tokio::time::sleep_until(deadline.into()).await;
        expire_key(&shared, &key, deadline);
    });
    TimerHandle::new(move || timer.abort())
}

/// `FETCH`'s slow part on tokio: a plain HTTP/1.1 GET, read to the end.
async fn load_from_origin(origin: String, path: String) -> Result<Bytes, String> {
    let failed = |error: io::Error| format!("ERR FETCH could not load it: {error}");
    let host = origin.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.map_err(failed)?;
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(failed)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.map_err(failed)?;
    let Some(head_end) = response.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Err("ERR FETCH could not load it: the origin's answer is not HTTP".into());
    };
    let status_line = String::from_utf8_lossy(&response[..head_end]);
    let status_line = status_line.lines().next().unwrap_or_default();
    if status_line.split(' ').nth(1) != Some("200") {
        return Err(format!(
            "ERR FETCH {path}: the origin answered {}; `redis-cli GET` works on any key, \
             FETCH only on the origin's pages",
            status_line.split_once(' ').map_or("", |(_, rest)| rest)
        ));
    }
    Ok(response[head_end + 4..].to_vec())
}

/// The runtime half of the commands, on tokio.
struct Tokio<'a> {
    origin: &'a str,
}

impl Runtime for Tokio<'_> {
    /// Polls `FETCH` once (`now_or_never`); a miss that would wait is refused.
    fn fetch_now(&self, shared: &SharedState, key: &[u8], out: &mut Vec<u8>) {
        let origin = self.origin.to_owned();
        let attempt = commands::fetch(shared.clone(), key.to_vec(), move |path| {
            load_from_origin(origin, path)
        })
        .now_or_never();
        match attempt {
            Some(result) => commands::fetch_reply(out, &result),
            None => commands::fetch_would_wait(out, key, None),
        }
    }
}

/// Why a connection ended (as in `connection.rs`).
#[derive(Debug)]
enum End {
    Closed,
    Done,
    Stalled,
    Evicted,
    Shutdown,
}

impl From<io::Error> for End {
    fn from(_: io::Error) -> End {
        End::Closed
    }
}

struct Registration {
    shared: SharedState,
    id: ClientId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.shared).disconnect(self.id);
    }
}

async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    shared: SharedState,
    config: Arc<Config>,
) {
    let _ = stream.set_nodelay(true);
    let id = lock(&shared).connect(peer.to_string());
    let registration = Registration {
        shared: shared.clone(),
        id,
    };
    let mut client = Client {
        stream,
        shared,
        config,
        session: Session::new(id),
        input: InputBuffer::new(),
        parser: RequestParser::new(),
        out: Vec::new(),
    };
    match client.run().await {
        End::Stalled => eprintln!(
            "redis: disconnected client {id} ({peer}): it read none of its replies for {:?}",
            client.config.stall_limit
        ),
        End::Evicted => eprintln!(
            "redis: disconnected client {id} ({peer}): over 32 MiB of unread pub/sub messages"
        ),
        End::Closed | End::Done | End::Shutdown => {}
    }
    drop(registration);
}

struct Client {
    stream: TcpStream,
    shared: SharedState,
    config: Arc<Config>,
    session: Session,
    input: InputBuffer,
    parser: RequestParser,
    out: Vec<u8>,
}

impl Client {
    async fn run(&mut self) -> End {
        loop {
            if let Err(end) = self.run_requests().await {
                return end;
            }
            if let Err(end) = self.flush().await {
                return end;
            }
            let read = if self.session.subscriptions > 0 {
                self.read_or_message().await
            } else {
                self.read().await
            };
            if let Err(end) = read {
                return end;
            }
        }
    }

    async fn run_requests(&mut self) -> Result<(), End> {
        loop {
            let parsed = match self.parser.parse(self.input.unread()) {
                Ok(parsed) => parsed,
                Err(error) => {
                    resp::error(&mut self.out, &error.to_string());
                    self.flush().await?;
                    return Err(End::Done);
                }
            };
            let used = match parsed {
                Parsed::Incomplete if self.input.len() > MAX_QUERY_BUFFER => {
                    resp::error(
                        &mut self.out,
                        "ERR Protocol error: a request over 1 GiB; send smaller values",
                    );
                    self.flush().await?;
                    return Err(End::Done);
                }
                Parsed::Incomplete => return Ok(()),
                Parsed::Nothing { used } => {
                    self.input.consume(used);
                    continue;
                }
                Parsed::Request { used } => used,
            };
            let outcome = {
                let request = self.parser.request(self.input.unread());
                let mut ctx = Ctx {
                    shared: &self.shared,
                    session: &mut self.session,
                    out: &mut self.out,
                    runtime: &Tokio {
                        origin: &self.config.origin,
                    },
                };
                commands::execute(&mut ctx, request)
            };
            self.input.consume(used);
            match outcome {
                Outcome::Replied => {}
                Outcome::Fetch(key) => self.fetch(key).await?,
                Outcome::Block { deadline } => self.wait_for_list(deadline).await?,
                Outcome::Quit => {
                    self.flush().await?;
                    return Err(End::Done);
                }
                Outcome::Shutdown => return Err(End::Shutdown),
            }
            if self.out.len() >= OUTPUT_HIGH_WATER {
                self.flush().await?;
            }
        }
    }

    /// `FETCH` in the connection's own task: a hit is ready at the first poll, a miss waits.
    async fn fetch(&mut self, key: Vec<u8>) -> Result<(), End> {
        let origin = self.config.origin.clone();
        let mut loading = Box::pin(commands::fetch(self.shared.clone(), key, move |path| {
            load_from_origin(origin, path)
        }));
        let result = match (&mut loading).now_or_never() {
            Some(result) => result,
            None => {
                self.flush().await?;
                loading.await
            }
        };
        commands::fetch_reply(&mut self.out, &result);
        Ok(())
    }

    async fn wait_for_list(&mut self, deadline: Option<Instant>) -> Result<(), End> {
        self.flush().await?;
        let id = self.session.id;
        loop {
            let Client {
                stream,
                shared,
                input,
                out,
                ..
            } = self;
            let served = poll_fn(|cx| lock(shared).poll_mailbox(id, out, cx));
            let read = read_into(stream, input);
            let waited = async {
                tokio::select! {
                    biased;
                    delivery = served => Ok(delivery),
                    read = read => Err(read),
                }
            };
            let outcome = match deadline {
                Some(deadline) => {
                    timeout(deadline.saturating_duration_since(Instant::now()), waited).await
                }
                None => Ok(waited.await),
            };
            match outcome {
                Ok(Ok(Delivery::Delivered)) => return Ok(()),
                Ok(Ok(Delivery::Evicted)) => return Err(End::Closed),
                Ok(Err(read)) => {
                    if read? == 0 || self.input.len() > MAX_QUERY_BUFFER {
                        return Err(End::Closed);
                    }
                }
                Err(_elapsed) => {
                    let mut shared = lock(&self.shared);
                    let was_waiting = shared.unblock(id);
                    if !was_waiting && shared.take_mailbox(id, &mut self.out) {
                        return Ok(());
                    }
                    resp::null_array(&mut self.out);
                    return Ok(());
                }
            }
        }
    }

    async fn read(&mut self) -> Result<(), End> {
        match read_into(&mut self.stream, &mut self.input).await? {
            0 => Err(End::Closed),
            _ => Ok(()),
        }
    }

    async fn read_or_message(&mut self) -> Result<(), End> {
        let id = self.session.id;
        let Client {
            stream,
            shared,
            input,
            out,
            ..
        } = self;
        let outcome = tokio::select! {
            biased;
            read = read_into(stream, input) => Err(read),
            delivery = poll_fn(|cx| lock(shared).poll_mailbox(id, out, cx)) => Ok(delivery),
        };
        match outcome {
            Err(read) => match read? {
                0 => Err(End::Closed),
                _ => {
                    lock(&self.shared).take_mailbox(id, &mut self.out);
                    Ok(())
                }
            },
            Ok(Delivery::Delivered) => Ok(()),
            Ok(Delivery::Evicted) => Err(End::Evicted),
        }
    }

    async fn flush(&mut self) -> Result<(), End> {
        let mut written = 0;
        let id = self.session.id;
        while written < self.out.len() {
            let Client {
                stream,
                shared,
                config,
                out,
                ..
            } = self;
            let outcome = tokio::select! {
                biased;
                write = timeout(config.stall_limit, stream.write(&out[written..])) => Ok(write),
                () = poll_fn(|cx| lock(shared).poll_evicted(id, cx)) => Err(End::Evicted),
            };
            match outcome? {
                Ok(Ok(0)) => return Err(End::Closed),
                Ok(Ok(count)) => written += count,
                Ok(Err(error)) => return Err(error.into()),
                Err(_elapsed) => return Err(End::Stalled),
            }
        }
        self.out.clear();
        if self.out.capacity() > 16 * 64 * 1024 {
            self.out.shrink_to(64 * 1024);
        }
        Ok(())
    }
}

async fn read_into(stream: &mut TcpStream, input: &mut InputBuffer) -> io::Result<usize> {
    let count = stream.read(input.spare()).await?;
    input.filled(count);
    Ok(count)
}
