//! Sockets on the multi-thread runtime (`src/multi_thread/driver.rs`): the workers share one
//! I/O driver, waited in by the worker that keeps the timers. Each test runs under a watchdog:
//! a lost readiness event shows up as a hang, which the watchdog turns into a failure.
//! Loopback only. Not run under miri, which has no TCP sockets.
#![cfg(not(miri))]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{expect_panic, within, WATCHDOG};
use miniloop::multi_thread::Runtime;
use miniloop::net::{TcpListener, TcpStream};
use miniloop::{sleep, spawn, yield_now};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

/// An echo server on the runtime: one task per connection, each echoing until its client
/// closes. Returns the address.
async fn start_echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            drop(spawn(async move {
                let mut buffer = [0; 1024];
                loop {
                    let read = stream.read(&mut buffer).await.unwrap();
                    if read == 0 {
                        break;
                    }
                    stream.write_all(&buffer[..read]).await.unwrap();
                }
            }));
        }
    }));
    address
}

#[test]
fn many_clients_talk_to_an_echo_server_on_two_workers() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let (clients, rounds) = (32, 50);
        let checked = rt.block_on(async move {
            let address = start_echo_server().await;
            let tasks: Vec<_> = (0..clients)
                .map(|client| {
                    spawn(async move {
                        let mut stream = TcpStream::connect(address).await.unwrap();
                        for round in 0..rounds {
                            let message = format!("client {client} round {round}");
                            stream.write_all(message.as_bytes()).await.unwrap();
                            let mut echo = vec![0; message.len()];
                            stream.read_exact(&mut echo).await.unwrap();
                            assert_eq!(echo, message.as_bytes());
                        }
                        rounds
                    })
                })
                .collect();
            let mut checked = 0;
            for task in tasks {
                checked += task.await.unwrap();
            }
            checked
        });
        assert_eq!(checked, clients * rounds);
        // Both workers ran tasks: the sockets were not all served by one.
        let stats = rt.worker_stats();
        assert!(stats.iter().all(|worker| worker.polls > 0), "{stats:?}");
    });
}

/// Two tasks bounce one byte over a socket pair, many times, on two workers: each read waits
/// for an event that the other worker's write causes, while the worker that keeps the driver
/// may be collecting it. An event taken between a task's "would block" and the filing of its
/// waker, with nothing to count it, would be lost, and this would hang (the driver's module
/// docs); `tests/loom_mt_io.rs` proves the protocol, this runs the real one.
#[test]
fn ping_pong_over_sockets_between_workers_loses_no_event() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let rounds = 3000;
        let pairs = 4;
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let mut tasks = Vec::new();
            for _ in 0..pairs {
                let mut client = TcpStream::connect(address).await.unwrap();
                let (mut server, _) = listener.accept().await.unwrap();
                client.set_nodelay(true).unwrap();
                server.set_nodelay(true).unwrap();
                tasks.push(spawn(async move {
                    let mut byte = [0u8];
                    for round in 0..rounds {
                        server.read_exact(&mut byte).await.unwrap();
                        assert_eq!(byte[0], (round % 251) as u8);
                        server.write_all(&byte).await.unwrap();
                    }
                }));
                tasks.push(spawn(async move {
                    let mut byte = [0u8];
                    for round in 0..rounds {
                        client.write_all(&[(round % 251) as u8]).await.unwrap();
                        client.read_exact(&mut byte).await.unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
    });
}

/// `block_on`'s own future waits on a socket (no task): the worker that sleeps in the driver
/// wakes the calling thread.
#[test]
fn block_on_itself_waits_on_a_socket() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let answer = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50)); // after block_on waits
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                std::io::Write::write_all(&mut stream, b"ping").unwrap();
            });
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0; 4];
            stream.read_exact(&mut buffer).await.unwrap();
            client.join().unwrap();
            buffer
        });
        assert_eq!(&answer, b"ping");
    });
}

/// The runtime's first socket is opened while its one worker sleeps as the timer keeper, on
/// its condition variable, until a deadline a minute away. That worker must move into the
/// driver (`Shared::open_io_driver` wakes it), or the connection below is not seen for a
/// minute and the watchdog fails the test.
#[test]
fn the_first_socket_moves_a_sleeping_timer_keeper_into_the_driver() {
    within(WATCHDOG, || {
        let rt = runtime(1);
        let far_timer = rt.spawn(sleep(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(50)); // the worker files it and sleeps
                                                       // From block_on's thread, while the worker sleeps: the runtime's first socket.
        let got = rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                std::net::TcpStream::connect(address).unwrap()
            });
            let (_stream, peer) = listener.accept().await.unwrap();
            let connected = client.join().unwrap();
            peer == connected.local_addr().unwrap()
        });
        assert!(got);
        far_timer.abort();
    });
}

/// The only worker never sleeps (a task that yields for ever), so nobody waits in the driver:
/// the busy worker must look at the poller itself every few dozen tasks (`maintenance`), or
/// the connection is never accepted.
#[test]
fn a_busy_worker_still_serves_sockets() {
    within(WATCHDOG, || {
        let rt = runtime(1);
        let stop = Arc::new(AtomicBool::new(false));
        let spinning = Arc::clone(&stop);
        let spinner = rt.spawn(async move {
            let mut yields = 0u64;
            while !spinning.load(Ordering::SeqCst) {
                yield_now().await;
                yields += 1;
            }
            yields
        });
        let (address_sender, address_receiver) = std::sync::mpsc::channel();
        let server = rt.spawn(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            address_sender.send(listener.local_addr().unwrap()).unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0; 5];
            stream.read_exact(&mut buffer).await.unwrap();
            buffer
        });
        let address = address_receiver.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // the server waits in `accept` by now
        let mut client = std::net::TcpStream::connect(address).unwrap();
        std::io::Write::write_all(&mut client, b"hello").unwrap();
        let got = rt.block_on(server).unwrap();
        stop.store(true, Ordering::SeqCst);
        let yields = rt.block_on(spinner).unwrap();
        assert_eq!(&got, b"hello");
        assert!(yields > 0);
    });
}

/// Shutdown cancels tasks that wait on sockets (their futures, and the sockets in them, are
/// dropped), and a socket that outlives its runtime can still be dropped.
#[test]
fn shutdown_cancels_tasks_waiting_on_sockets_and_sockets_outlive_the_runtime() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let (listener_address, waiting, kept) = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let kept = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let waiting = spawn(async move {
                let _ = listener.accept().await; // never answered
            });
            sleep(Duration::from_millis(20)).await; // it waits in the driver
            (address, waiting, kept)
        });
        drop(rt);
        let error = futures::executor::block_on(waiting).unwrap_err();
        assert!(error.is_cancelled(), "{error:?}");
        // The cancelled task's listener was closed: nobody listens there any more.
        let refused = std::net::TcpStream::connect(listener_address).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        drop(kept); // leaves the driver that outlived its runtime
    });
}

/// A connected client and server, on whichever loop or runtime polls this.
async fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

#[test]
fn a_socket_of_the_runtime_used_on_a_loop_and_a_loops_socket_on_the_runtime_say_so() {
    let rt = runtime(1);
    let (mut stream, _server) = rt.block_on(connected_pair());
    let message = expect_panic(|| {
        miniloop::run(async move {
            let mut buffer = [0; 1];
            let _ = stream.read(&mut buffer).await;
        });
    });
    assert!(
        message.contains("loop or runtime other than the one that opened it"),
        "{message}"
    );

    let (mut loop_stream, _loop_server) = miniloop::run(connected_pair());
    let message = expect_panic(|| {
        rt.block_on(async move {
            let mut buffer = [0; 1];
            let _ = loop_stream.read(&mut buffer).await;
        });
    });
    assert!(
        message.contains("loop or runtime other than the one that opened it"),
        "{message}"
    );
}

/// A runtime's sockets also work with plain std clients from other threads, many at once:
/// accepts racing reads on two workers.
#[test]
fn std_clients_from_threads_are_all_served() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let address = rt.block_on(start_echo_server());
        let clients: Vec<_> = (0..8)
            .map(|client| {
                std::thread::spawn(move || {
                    let mut stream = std::net::TcpStream::connect(address).unwrap();
                    for round in 0..20 {
                        let message = format!("{client}:{round};");
                        std::io::Write::write_all(&mut stream, message.as_bytes()).unwrap();
                        let mut echo = vec![0; message.len()];
                        std::io::Read::read_exact(&mut stream, &mut echo).unwrap();
                        assert_eq!(echo, message.as_bytes());
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().unwrap();
        }
    });
}

/// A socket is known drained only after a read that did not fill its buffer (or a "would
/// block"): 64 KiB written at once and read 100 bytes at a time must all arrive, although no
/// new event comes between most of those reads. Marking a full read as draining would leave
/// the reader waiting for an event that never comes (the watchdog fails the test).
#[test]
fn small_reads_drain_a_large_write_without_waiting_for_more_events() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let total = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let writer = spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let bytes: Vec<u8> = (0..65_536u32).map(|n| (n % 253) as u8).collect();
                stream.write_all(&bytes).await.unwrap();
                // Keep the connection open until the reader has it all: no hang-up event
                // may stand in for the data's own.
                let mut done = [0u8];
                stream.read_exact(&mut done).await.unwrap();
            });
            let mut stream = TcpStream::connect(address).await.unwrap();
            let mut received = Vec::new();
            let mut buffer = [0; 100];
            while received.len() < 65_536 {
                let read = stream.read(&mut buffer).await.unwrap();
                assert!(read > 0, "the writer closed early");
                received.extend_from_slice(&buffer[..read]);
            }
            stream.write_all(b"!").await.unwrap();
            writer.await.unwrap();
            let expected: Vec<u8> = (0..65_536u32).map(|n| (n % 253) as u8).collect();
            assert_eq!(received, expected);
            received.len()
        });
        assert_eq!(total, 65_536);
    });
}
