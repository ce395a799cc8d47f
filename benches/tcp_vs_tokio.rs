//! TCP round trips over loopback: miniloop's reactor (`miniloop::net`) against tokio's
//! current-thread runtime (`tokio::net`), in one run.
//!
//! Each runtime sets up the same thing once: an echo server (an accept task plus a task per
//! connection) and `CONNECTIONS` client connections, all on the runtime's one thread. One
//! iteration then spawns a task per client, and each task sends `ROUND_TRIPS` messages of
//! `MESSAGE_BYTES` bytes and waits for each echo before sending the next. So an iteration is
//! `CONNECTIONS * ROUND_TRIPS` request/response pairs, with `CONNECTIONS` of them in flight at
//! once: what the loop measures is readiness handling, not connection setup.
//!
//! Run:     cargo bench --bench tcp_vs_tokio
//! Read:    docs/benchmarks.md (the `tcp_round_trips` group)
//!
//! CI runs this file in test mode (`cargo test --benches`): each function runs once and
//! asserts that every echo came back intact.

use std::io;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Connections open at once, each driven by its own task.
const CONNECTIONS: usize = 100;
/// Request/response pairs per connection in one iteration.
const ROUND_TRIPS: usize = 10;
/// Bytes per message, each way.
const MESSAGE_BYTES: usize = 64;

/// The message a client sends on round trip `round`: its own number and the round, so an
/// echo that went to the wrong connection, or came back stale, fails the check.
fn message(client: usize, round: usize) -> [u8; MESSAGE_BYTES] {
    let mut message = [0; MESSAGE_BYTES];
    message[..8].copy_from_slice(&(client as u64).to_le_bytes());
    message[8..16].copy_from_slice(&(round as u64).to_le_bytes());
    message
}

/// What every iteration must return: the number of echoes that matched.
const ANSWER: usize = CONNECTIONS * ROUND_TRIPS;

// ---- miniloop ----

/// A miniloop event loop with the echo server running on it and the clients connected.
struct MiniloopSetup {
    event_loop: miniloop::EventLoop,
    clients: Vec<miniloop::net::TcpStream>,
}

fn miniloop_setup() -> MiniloopSetup {
    use miniloop::net::{TcpListener, TcpStream};

    let event_loop = miniloop::EventLoop::new();
    let clients = event_loop.run_until_complete(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback binds");
        let address = listener.local_addr().unwrap().to_string();
        // The server tasks stay in the loop between iterations, waiting on their sockets.
        miniloop::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept works");
                stream.set_nodelay(true).unwrap();
                miniloop::spawn(miniloop_echo(stream));
            }
        });
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let client = TcpStream::connect(&address)
                .await
                .expect("loopback connects");
            client.set_nodelay(true).unwrap();
            clients.push(client);
        }
        clients
    });
    MiniloopSetup {
        event_loop,
        clients,
    }
}

async fn miniloop_echo(mut stream: miniloop::net::TcpStream) {
    let mut buffer = [0; MESSAGE_BYTES];
    while stream.read_exact(&mut buffer).await.is_ok() {
        stream
            .write_all(&buffer)
            .await
            .expect("the client reads its echo");
    }
}

async fn miniloop_client(
    mut stream: miniloop::net::TcpStream,
    client: usize,
) -> io::Result<(miniloop::net::TcpStream, usize)> {
    let mut matched = 0;
    let mut echo = [0; MESSAGE_BYTES];
    for round in 0..ROUND_TRIPS {
        let sent = message(client, round);
        stream.write_all(&sent).await?;
        stream.read_exact(&mut echo).await?;
        matched += usize::from(echo == sent);
    }
    Ok((stream, matched))
}

/// One iteration: a task per client, all round trips, the clients handed back for the next.
fn miniloop_iteration(setup: &mut MiniloopSetup) -> usize {
    let clients = std::mem::take(&mut setup.clients);
    let (clients, matched) = setup.event_loop.run_until_complete(async move {
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(client, stream)| miniloop::spawn(miniloop_client(stream, client)))
            .collect();
        let mut clients = Vec::with_capacity(CONNECTIONS);
        let mut matched = 0;
        for task in tasks {
            let (stream, client_matched) = task.await.unwrap().expect("round trips work");
            clients.push(stream);
            matched += client_matched;
        }
        (clients, matched)
    });
    setup.clients = clients;
    matched
}

// ---- tokio, the same shape ----

/// A tokio current-thread runtime with the echo server spawned on it and the clients connected.
struct TokioSetup {
    runtime: tokio::runtime::Runtime,
    clients: Vec<tokio::net::TcpStream>,
}

fn tokio_setup() -> TokioSetup {
    use tokio::net::{TcpListener, TcpStream};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio starts");
    let clients = runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback binds");
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept works");
                stream.set_nodelay(true).unwrap();
                tokio::spawn(tokio_echo(stream));
            }
        });
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let client = TcpStream::connect(address)
                .await
                .expect("loopback connects");
            client.set_nodelay(true).unwrap();
            clients.push(client);
        }
        clients
    });
    TokioSetup { runtime, clients }
}

async fn tokio_echo(mut stream: tokio::net::TcpStream) {
    let mut buffer = [0; MESSAGE_BYTES];
    while stream.read_exact(&mut buffer).await.is_ok() {
        stream
            .write_all(&buffer)
            .await
            .expect("the client reads its echo");
    }
}

async fn tokio_client(
    mut stream: tokio::net::TcpStream,
    client: usize,
) -> io::Result<(tokio::net::TcpStream, usize)> {
    let mut matched = 0;
    let mut echo = [0; MESSAGE_BYTES];
    for round in 0..ROUND_TRIPS {
        let sent = message(client, round);
        stream.write_all(&sent).await?;
        stream.read_exact(&mut echo).await?;
        matched += usize::from(echo == sent);
    }
    Ok((stream, matched))
}

fn tokio_iteration(setup: &mut TokioSetup) -> usize {
    let clients = std::mem::take(&mut setup.clients);
    let (clients, matched) = setup.runtime.block_on(async move {
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(client, stream)| tokio::spawn(tokio_client(stream, client)))
            .collect();
        let mut clients = Vec::with_capacity(CONNECTIONS);
        let mut matched = 0;
        for task in tasks {
            let (stream, client_matched) = task.await.unwrap().expect("round trips work");
            clients.push(stream);
            matched += client_matched;
        }
        (clients, matched)
    });
    setup.clients = clients;
    matched
}

// ---- the group ----

fn tcp_round_trips(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_round_trips");
    group.throughput(Throughput::Elements(ANSWER as u64));

    let mut miniloop = miniloop_setup();
    group.bench_function("miniloop", |b| {
        b.iter(|| assert_eq!(miniloop_iteration(&mut miniloop), ANSWER));
    });
    drop(miniloop);

    let mut tokio = tokio_setup();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| assert_eq!(tokio_iteration(&mut tokio), ANSWER));
    });
    drop(tokio);

    group.finish();
}

criterion_group!(benches, tcp_round_trips);
criterion_main!(benches);
