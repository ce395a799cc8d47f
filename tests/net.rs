//! `miniloop::net` and the reactor (reliability checklist, "Reactor and I/O"): loopback echo,
//! draining accepts, deregistration, cross-thread wakes into a loop blocked in the poller,
//! misuse outside a loop, and 5 000 connections held open on one thread. Loopback only,
//! bounded in count and time; every test runs under a watchdog.

mod common;

use std::net::Shutdown;
use std::time::{Duration, Instant};

use common::{expect_panic, within, WATCHDOG};
use futures::channel::oneshot;
use miniloop::net::{TcpListener, TcpStream};
use miniloop::EventLoop;

/// A listener on a free loopback port, and the address to reach it.
async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback should bind");
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

/// Proves the round trip: bytes written by a client task come back from a server task, and
/// the client reads end-of-file after the server shuts down its side.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn loopback_echo_works_end_to_end() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (listener, address) = listen().await;
            let server = miniloop::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut received = Vec::new();
                stream.read_to_end(&mut received).await.unwrap();
                stream.write_all(&received).await.unwrap();
                stream.shutdown(Shutdown::Write).unwrap();
            });
            let mut client = TcpStream::connect(&address).await.unwrap();
            // Bigger than a socket buffer, so both sides have to wait for each other.
            let message: Vec<u8> = (0..1_000_000u32).map(|n| n as u8).collect();
            client.write_all(&message).await.unwrap();
            client.shutdown(Shutdown::Write).unwrap();
            let mut echo = Vec::new();
            client.read_to_end(&mut echo).await.unwrap();
            assert!(echo == message, "the echo differs from the message");
            server.await.unwrap();
        });
    });
}

/// Proves that two connections that are both waiting before the first `accept` are both
/// accepted: readiness is edge-triggered, so `accept` must try before it waits.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_second_pending_connection_is_still_accepted() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (listener, address) = listen().await;
            let first = TcpStream::connect(&address).await.unwrap();
            let second = TcpStream::connect(&address).await.unwrap();
            let (_, first_peer) = listener.accept().await.unwrap();
            let (_, second_peer) = listener.accept().await.unwrap();
            let mut peers = [first_peer, second_peer];
            peers.sort();
            let mut expected = [first.local_addr().unwrap(), second.local_addr().unwrap()];
            expected.sort();
            assert_eq!(peers, expected);
        });
    });
}

/// Proves that every socket leaves the reactor when it is dropped: inside the loop at once,
/// and outside it (no loop running) through the orphan list.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn dropping_sockets_deregisters_them() {
    within(WATCHDOG, || {
        let event_loop = EventLoop::new();
        assert_eq!(event_loop.registered_sockets(), 0);
        let (listener, client) = event_loop.run_until_complete(async {
            let (listener, address) = listen().await;
            let client = TcpStream::connect(&address).await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            assert_eq!(event_loop.registered_sockets(), 3);
            drop(server_side);
            assert_eq!(event_loop.registered_sockets(), 2);
            (listener, client)
        });
        drop(client);
        assert_eq!(event_loop.registered_sockets(), 1);
        drop(listener);
        assert_eq!(event_loop.registered_sockets(), 0);
        // The loop frees the orphaned slots at its next wait, and carries on as before.
        let reconnected = event_loop.run_until_complete(async {
            let (listener, address) = listen().await;
            let client = TcpStream::connect(&address).await.unwrap();
            let (_server_side, _) = listener.accept().await.unwrap();
            event_loop.registered_sockets() == 3 && client.peer_addr().is_ok()
        });
        assert!(reconnected);
        assert_eq!(event_loop.registered_sockets(), 0);
    });
}

/// Proves that a wake from another thread interrupts a loop blocked in the poller: one task
/// waits on a socket that never gets data, so the loop has no timer and blocks in
/// `epoll_wait`; a std thread then completes a oneshot that a second task awaits.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_cross_thread_wake_interrupts_a_loop_blocked_in_the_reactor() {
    let delay = Duration::from_millis(50);
    let waited = within(WATCHDOG, move || {
        miniloop::run(async move {
            let (listener, address) = listen().await;
            let _client = TcpStream::connect(&address).await.unwrap();
            let (mut silent, _) = listener.accept().await.unwrap();
            let _reader = miniloop::spawn(async move {
                let _ = silent.read(&mut [0; 8]).await; // never answered
            });
            let (done_tx, done_rx) = oneshot::channel();
            let waiter = miniloop::spawn(async move { done_rx.await.unwrap() });
            let started = Instant::now();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                done_tx.send("from another thread").unwrap();
            });
            assert_eq!(waiter.await.unwrap(), "from another thread");
            started.elapsed()
        })
    });
    assert!(waited >= delay);
    assert!(
        waited < Duration::from_secs(2),
        "the wake took {waited:?} to arrive"
    );
}

/// Proves that using a socket where no loop runs panics with a message that names the fix,
/// instead of waiting for events that would never come.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_socket_used_outside_an_event_loop_panics_with_a_hint() {
    let message = expect_panic(|| {
        futures::executor::block_on(TcpListener::bind("127.0.0.1:0"))
            .map(drop)
            .unwrap();
    });
    assert!(message.contains("outside an event loop"), "{message}");
    assert!(message.contains("miniloop::run"), "{message}");

    // A listener made inside a loop and carried out of it: nothing is pending, so `accept`
    // has to wait, and there is no reactor to wait with.
    let listener = miniloop::run(async { listen().await.0 });
    let message = expect_panic(|| {
        let _ = futures::executor::block_on(listener.accept());
    });
    assert!(message.contains("outside an event loop"), "{message}");
}

/// Raises this process's open-file limit to its hard limit; returns how many descriptors
/// are allowed now.
fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live, writable `rlimit` for the whole call; `getrlimit` only writes
    // through the pointer and keeps no copy of it.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(
        status,
        0,
        "getrlimit failed: {}",
        std::io::Error::last_os_error()
    );
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `raised` is a live, initialised `rlimit`; `setrlimit` only reads it. Raising
        // the soft limit up to the hard limit needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return raised.rlim_cur;
        }
    }
    limit.rlim_cur
}

/// How many connections the 5 000-connection test opens at once.
const WANTED_CONNECTIONS: usize = 5_000;
/// Connections started together before the test yields to let the accept loop catch up: the
/// listen backlog is 128, and an overflowing backlog drops handshakes (retried after 1 s).
const CONNECT_BATCH: usize = 64;

/// Proves that one loop thread holds 5 000 connections open at once (10 000 sockets, both
/// ends on this loop), exchanges a message on each, and deregisters every one afterwards.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn five_thousand_connections_stay_open_at_once_on_one_thread() {
    // Both ends of each connection, the listener, and headroom for the rest of the process.
    let allowed = raise_open_file_limit();
    let fitting = usize::try_from(allowed.saturating_sub(200) / 2).unwrap_or(usize::MAX);
    let connections = WANTED_CONNECTIONS.min(fitting);
    if connections < WANTED_CONNECTIONS {
        println!(
            "testing {connections} connections, not {WANTED_CONNECTIONS}: the open-file hard \
             limit is {allowed}, and each connection needs two descriptors here"
        );
    }
    let started = Instant::now();
    within(Duration::from_secs(60), move || {
        hold_connections_open(connections)
    });
    let took = started.elapsed();
    println!("{connections} connections in {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "{connections} connections took {took:?}"
    );
}

fn hold_connections_open(connections: usize) {
    let event_loop = EventLoop::new();
    let (open, server) = event_loop.run_until_complete(async {
        let (listener, address) = listen().await;
        let server = miniloop::spawn(echo_then_wait_for_close(listener, connections));
        let mut exchanges = Vec::with_capacity(connections);
        for start in (0..connections).step_by(CONNECT_BATCH) {
            let end = connections.min(start + CONNECT_BATCH);
            let batch = (start..end).map(|_| TcpStream::connect(&address));
            for connected in miniloop::join_all(batch).await {
                let client = connected.expect("loopback connections should succeed");
                let number = exchanges.len() as u64;
                exchanges.push(miniloop::spawn(exchange(client, number)));
            }
            miniloop::yield_now().await; // the accept loop takes this batch off the backlog
        }
        let mut open = Vec::with_capacity(connections);
        for handle in miniloop::join_all(exchanges).await {
            open.push(handle.expect("every exchange should succeed"));
        }
        (open, server)
    });
    // Every client end and every server end, registered at once (the listener is closed:
    // the server stopped accepting after the last connection).
    assert_eq!(event_loop.registered_sockets(), 2 * connections);
    drop(open);
    let served = event_loop
        .run_until_complete(server)
        .expect("the server task should not panic");
    assert_eq!(served, connections);
    assert_eq!(event_loop.registered_sockets(), 0);
}

/// One client: sends its number, expects it back, and returns the still-open connection.
async fn exchange(mut client: TcpStream, number: u64) -> TcpStream {
    client.write_all(&number.to_le_bytes()).await.unwrap();
    let mut echo = [0; 8];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(u64::from_le_bytes(echo), number);
    client
}

/// The server: accepts `connections`, echoes 8 bytes on each and keeps it open until the
/// client closes it; returns how many connections it served.
async fn echo_then_wait_for_close(listener: TcpListener, connections: usize) -> usize {
    let mut served = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (mut stream, _) = listener.accept().await.unwrap();
        served.push(miniloop::spawn(async move {
            let mut number = [0; 8];
            stream.read_exact(&mut number).await.unwrap();
            stream.write_all(&number).await.unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).await.unwrap(); // held open until the client closes
        }));
    }
    drop(listener);
    let finished = miniloop::join_all(served).await;
    finished.into_iter().filter(Result::is_ok).count()
}

// ---- name resolution and the blocking pool (in a child process: the pool's size is read
// once per process) ----

/// The variable that makes `localhost_with_a_full_pool_child` do its work.
const CHILD_SWITCH: &str = "MINILOOP_NET_TEST_CHILD";

/// Not a test of its own: the body `localhost_resolves_without_the_blocking_pool` runs in a
/// child process whose blocking pool has one thread. A job holds that thread until the
/// connect is over; a connect that queued its name lookup behind the job would time out.
#[test]
fn localhost_with_a_full_pool_child() {
    if std::env::var_os(CHILD_SWITCH).is_none() {
        return;
    }
    miniloop::run(async {
        let (listener, address) = listen().await;
        let port = address.rsplit_once(':').unwrap().1.to_owned();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = miniloop::spawn_blocking(move || released.recv());
        let server = miniloop::spawn(async move { listener.accept().await.map(drop) });
        let connected = miniloop::timeout(
            Duration::from_secs(2),
            TcpStream::connect(&format!("localhost:{port}")),
        )
        .await;
        release.send(()).expect("the holder is waiting");
        holder.await.expect("the holder does not panic").unwrap();
        let stream = connected
            .expect("connect(\"localhost:PORT\") waited for the full blocking pool")
            .expect("the listener accepts");
        assert!(stream.peer_addr().unwrap().ip().is_loopback());
        server.await.expect("no panic").expect("accepted");
    });
}

/// Guards "a task waits only for what it asked for" for `connect("localhost:…")`: the name
/// used to be looked up on the blocking pool, so a pool whose threads were all busy stalled
/// every connect to `localhost` until one came free. It is the loopback address by definition
/// (RFC 6761), so it is now resolved in place, like a numeric address.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn localhost_resolves_without_the_blocking_pool() {
    let this_binary = std::env::current_exe().expect("the test binary knows its own path");
    let output = std::process::Command::new(this_binary)
        .args([
            "localhost_with_a_full_pool_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SWITCH, "1")
        .env("MINILOOP_BLOCKING_THREADS", "1")
        .env_remove("MINILOOP_TRACE")
        .output()
        .expect("the test binary runs as a child");
    assert!(
        output.status.success(),
        "the child failed; stderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Inside a `run_now` section a socket that would block refuses to wait, and the refusal
/// says which way it waited: "a socket to become readable" (or writable). Found by `cargo
/// mutants` (`Direction::ready_word` returning "" left every test passing).
/// Guards: `WouldSuspend`'s reason names what the section was about to wait for.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_socket_read_in_a_run_now_section_says_it_would_wait_to_become_readable() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (listener, address) = listen().await;
            let mut client = TcpStream::connect(&address).await.unwrap();
            let (_server_side, _) = listener.accept().await.unwrap();
            let refused = miniloop::run_now(async { client.read(&mut [0; 8]).await })
                .expect_err("nothing was sent, so the read would wait");
            assert_eq!(refused.reason(), Some("a socket to become readable"));
        });
    });
}

/// A writer that fills the socket's send buffer waits for it to drain: the reactor must wake
/// it on the socket's *writable* edge. 8 MB through loopback is far more than the kernel
/// buffers, so the writing task waits many times while the reading task drains. Found by
/// `cargo mutants` (waking writers only on an event that is writable *and* a hang-up passed
/// every test: no test wrote more than a buffer holds).
/// Guards: a task waiting to write is woken when it can write again.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_writer_that_fills_the_send_buffer_is_woken_when_it_drains() {
    const BYTES: usize = 8 << 20;
    within(WATCHDOG, || {
        let received = miniloop::run(async {
            let (listener, address) = listen().await;
            let mut client = TcpStream::connect(&address).await.unwrap();
            let (mut server_side, _) = listener.accept().await.unwrap();
            let writer = miniloop::spawn(async move {
                client.write_all(&vec![7; BYTES]).await.unwrap();
            });
            let mut received = 0;
            let mut buffer = vec![0; 64 << 10];
            while received < BYTES {
                let read = server_side.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the writer closed early");
                received += read;
            }
            writer.await.unwrap();
            received
        });
        assert_eq!(received, BYTES);
    });
}

/// The loop's `Debug` shows the tasks spawned through a `Handle` that wait to be taken in,
/// by id. Found by `cargo mutants` (`TaskRef`'s `Debug` returning nothing passed).
#[test]
fn a_loops_debug_shows_a_task_waiting_to_be_taken_in() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let join = handle.spawn(async { 1 });
    let shown = format!("{event_loop:?}");
    assert!(shown.contains("task#r1"), "{shown}");
    assert_eq!(event_loop.run_until_complete(join).unwrap(), 1);
}
