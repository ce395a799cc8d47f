//! The socket API around the lessons' `async fn`s (`src/net/`): every address form `bind` and
//! `connect` take, the round trip to std and back, the descriptor, the split halves used by
//! two futures and by two tasks at once, and reads that are cancelled without losing a byte.
//! Loopback only; every test runs under a watchdog.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd};
use std::pin::pin;
use std::time::Duration;

use common::{expect_panic, within, WATCHDOG};
use futures::future::{select, Either};
use miniloop::net::{TcpListener, TcpStream};

/// A listener on a free loopback port, and its address.
async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback should bind");
    let address = listener.local_addr().unwrap();
    (listener, address)
}

/// A connected pair: (client end, server end).
async fn pair() -> (TcpStream, TcpStream) {
    let (listener, address) = listen().await;
    let client = TcpStream::connect(address).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// Connects with `address` to `listener` and checks that the connection is the one accepted.
async fn connects(listener: &TcpListener, address: impl miniloop::net::ToSocketAddrs) {
    let client = TcpStream::connect(address).await.unwrap();
    let (_, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
}

/// Proves that `bind` and `connect` take every form std's `ToSocketAddrs` does: `SocketAddr`
/// and its two halves, `(ip, port)` with each kind of IP, `&str`, `String`, `&String`,
/// `(host, port)` with a name and with a literal, and a slice, tried in order.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn bind_and_connect_take_every_address_form_std_takes() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let port_zero = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
            for listener in [
                TcpListener::bind(SocketAddr::from(port_zero)).await,
                TcpListener::bind(port_zero).await,
                TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await,
                TcpListener::bind((IpAddr::from(Ipv4Addr::LOCALHOST), 0)).await,
                TcpListener::bind(("127.0.0.1", 0)).await,
                TcpListener::bind(("localhost".to_owned(), 0)).await,
                TcpListener::bind(String::from("127.0.0.1:0")).await,
                TcpListener::bind(&String::from("127.0.0.1:0")).await,
            ] {
                let listener = listener.expect("every form binds");
                assert!(listener.local_addr().unwrap().ip().is_loopback());
            }

            let (listener, address) = listen().await;
            let port = address.port();
            let text = address.to_string();
            connects(&listener, address).await;
            connects(&listener, &address).await;
            connects(&listener, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).await;
            connects(&listener, (Ipv4Addr::LOCALHOST, port)).await;
            connects(&listener, (IpAddr::from([127, 0, 0, 1]), port)).await;
            connects(&listener, text.as_str()).await;
            connects(&listener, &text).await;
            connects(&listener, text.clone()).await;
            connects(&listener, ("localhost", port)).await;
            connects(&listener, ("127.0.0.1".to_owned(), port)).await;
            // A slice is tried in order: the first address refuses, the second accepts.
            let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let refusing = refused.local_addr().unwrap();
            drop(refused);
            connects(&listener, &[refusing, address][..]).await;
        });
    });
}

/// Proves that the errors still say what was being done, to which address, and how to fix it,
/// whatever form the address came in; and that an empty list is an error, not a panic.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn address_errors_name_the_address_and_the_fix() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let address = refused.local_addr().unwrap();
            drop(refused);
            let error = TcpStream::connect((Ipv4Addr::LOCALHOST, address.port()))
                .await
                .unwrap_err();
            let message = error.to_string();
            assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
            assert!(
                message.starts_with(&format!("connecting to {address} failed: ")),
                "{message}"
            );
            assert!(
                message.contains("cargo run --example slow_server"),
                "{message}"
            );

            let (taken, taken_address) = listen().await;
            let error = TcpListener::bind(taken_address).await.unwrap_err();
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("binding to {taken_address} failed: ")),
                "{error}"
            );
            drop(taken);

            let error = TcpStream::connect(&[][..]).await.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
            assert!(
                error.to_string().contains("list of addresses is empty"),
                "{error}"
            );

            let error = TcpStream::connect("127.0.0.1").await.unwrap_err();
            assert!(
                error.to_string().contains("resolving \"127.0.0.1\" failed"),
                "{error}"
            );
        });
    });
}

/// Proves the round trip to std: a std listener and a std stream taken over by the loop work
/// as if the loop had opened them (non-blocking, in the reactor), and a stream given back to
/// std is blocking again, out of the reactor, with the bytes nobody read still in it.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn sockets_go_from_std_and_back_to_std() {
    within(WATCHDOG, || {
        let event_loop = miniloop::EventLoop::new();
        let mut std_stream = event_loop.run_until_complete(async {
            let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let listener = TcpListener::from_std(std_listener).unwrap();
            let address = listener.local_addr().unwrap();
            let std_client = std::net::TcpStream::connect(address).unwrap();
            let mut client = TcpStream::from_std(std_client).unwrap();
            let (mut server, _) = listener.accept().await.unwrap(); // waits in the reactor
            assert_eq!(event_loop.registered_sockets(), 3);

            client.write_all(b"to the loop").await.unwrap();
            let mut received = [0; 11];
            server.read_exact(&mut received).await.unwrap();
            assert_eq!(&received, b"to the loop");

            server.write_all(b"left for std").await.unwrap();
            let std_client = client.into_std().unwrap();
            assert_eq!(event_loop.registered_sockets(), 2, "it left the reactor");
            let listener = listener.into_std().unwrap();
            assert_eq!(event_loop.registered_sockets(), 1);
            drop(listener);
            // Given back while the loop still runs, and taken over again: epoll refuses to
            // register a descriptor twice, so this fails if `into_std` left it registered.
            let mut again = TcpStream::from_std(std_client).unwrap();
            let mut first = [0; 4];
            again.read_exact(&mut first).await.unwrap();
            assert_eq!(&first, b"left");
            let std_client = again.into_std().unwrap();
            server.shutdown(Shutdown::Write).unwrap();
            std_client
        });
        // Blocking again: std's `read_to_end` waits for the rest instead of failing with
        // "would block".
        let mut rest = String::new();
        std_stream.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, " for std");
        std_stream.write_all(b"still open").unwrap();
    });
}

/// Proves that the descriptor behind `AsFd`/`AsRawFd` is the socket itself: the one std gets
/// back, and one a duplicate of which reports the same addresses.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn the_descriptor_is_the_socket_itself() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (listener, address) = listen().await;
            let listener_fd = listener.as_raw_fd();
            let duplicate =
                std::net::TcpListener::from(listener.as_fd().try_clone_to_owned().unwrap());
            assert_eq!(duplicate.local_addr().unwrap(), address);
            drop(duplicate);
            let client = TcpStream::connect(address).await.unwrap();
            let (_server, _) = listener.accept().await.unwrap();
            let duplicate = std::net::TcpStream::from(client.as_fd().try_clone_to_owned().unwrap());
            assert_eq!(
                duplicate.local_addr().unwrap(),
                client.local_addr().unwrap()
            );
            assert_eq!(duplicate.peer_addr().unwrap(), address);
            drop(duplicate);
            let client_fd = client.as_raw_fd();
            assert_eq!(client.into_std().unwrap().as_raw_fd(), client_fd);
            assert_eq!(listener.into_std().unwrap().as_raw_fd(), listener_fd);
        });
    });
}

/// How much the split tests push through: far more than the two kernel buffers hold, so
/// neither side can finish unless the other makes progress at the same time.
const LOTS: usize = 4 << 20;

fn pattern(length: usize) -> Vec<u8> {
    (0..length).map(|n| (n % 251) as u8).collect()
}

/// An echo server task for one connection: copies what it reads back until end-of-file.
async fn echo(server: TcpStream) {
    let (mut reader, mut writer) = server.into_split();
    let mut buffer = vec![0; 64 << 10];
    loop {
        let read = reader.read(&mut buffer).await.unwrap();
        if read == 0 {
            break; // dropping `writer` shuts down its side: the client reads end-of-file
        }
        writer.write_all(&buffer[..read]).await.unwrap();
    }
}

/// Proves that the borrowed halves of `split` let two futures of one task use the stream at
/// once: 4 MiB go out through an echo while they come back. With one half waiting for the
/// other, the echo's buffers would fill and both would wait for ever (the watchdog's failure).
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn borrowed_halves_read_and_write_at_the_same_time() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (mut client, server) = pair().await;
            let echoing = miniloop::spawn(echo(server));
            let message = pattern(LOTS);
            let (mut reader, mut writer) = client.split();
            let sending = async {
                writer.write_all(&message).await.unwrap();
                writer.as_ref().shutdown(Shutdown::Write).unwrap();
            };
            let receiving = async {
                let mut echoed = Vec::new();
                reader.read_to_end(&mut echoed).await.unwrap();
                echoed
            };
            let ((), echoed) = futures::join!(sending, receiving);
            assert!(echoed == message, "the echo differs from the message");
            echoing.await.unwrap();
        });
    });
}

/// Proves that the owned halves of `into_split` work from two spawned tasks at once, that
/// dropping the write half shuts down its side (the peer reads end-of-file), and that
/// `reunite` puts a stream back together only from its own two halves.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn owned_halves_work_from_two_tasks_and_reunite() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (client, server) = pair().await;
            let echoing = miniloop::spawn(echo(server));
            let (mut reader, mut writer) = client.into_split();
            let message = pattern(LOTS);
            let expected = message.clone();
            let sender = miniloop::spawn(async move {
                writer.write_all(&message).await.unwrap();
                // `writer` is dropped here: the echo reads end-of-file and closes too.
            });
            let receiver = miniloop::spawn(async move {
                let mut echoed = Vec::new();
                reader.read_to_end(&mut echoed).await.unwrap();
                echoed
            });
            sender.await.unwrap();
            let echoed = receiver.await.unwrap();
            assert!(echoed == expected, "the echo differs from the message");
            echoing.await.unwrap();

            let (first_client, _first_server) = pair().await;
            let (second_client, _second_server) = pair().await;
            let (first_reader, first_writer) = first_client.into_split();
            let (second_reader, second_writer) = second_client.into_split();
            let mismatch = first_reader.reunite(second_writer).unwrap_err();
            assert!(
                mismatch.to_string().contains("different streams"),
                "{mismatch}"
            );
            let miniloop::net::ReuniteError(first_reader, second_writer) = mismatch;
            let whole = first_reader.reunite(first_writer).unwrap();
            drop(second_reader.reunite(second_writer).unwrap());
            // Reunited, the stream still writes: reuniting did not shut its side down.
            let mut whole = whole;
            whole.write_all(b"whole again").await.unwrap();
        });
    });
}

/// Proves that a `read` cancelled before it finishes loses no byte (its docs say "cancel
/// safe"): a reader races every read against `yield_now` (which wins on its second poll) and
/// against a short timeout, while a writer sends in small pieces with pauses between them,
/// so many reads are dropped while they wait; every byte must still arrive once, in order.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_cancelled_read_loses_no_bytes() {
    const PIECES: usize = 200;
    const PIECE: usize = 37;
    within(WATCHDOG, || {
        let (received, cancelled) = miniloop::run(async {
            let (mut client, mut server) = pair().await;
            let message = pattern(PIECES * PIECE);
            let expected = message.clone();
            let writer = miniloop::spawn(async move {
                for piece in message.chunks(PIECE) {
                    client.write_all(piece).await.unwrap();
                    miniloop::sleep(Duration::from_micros(200)).await;
                }
            });
            let mut received = Vec::new();
            let mut cancelled = 0;
            let mut buffer = [0; 16];
            for turn in 0.. {
                if received.len() == expected.len() {
                    break;
                }
                // Even turns race `yield_now`, polled first, which wins its second poll.
                let read = if turn % 2 == 0 {
                    let yielding = pin!(miniloop::yield_now());
                    let reading = pin!(server.read(&mut buffer));
                    match select(yielding, reading).await {
                        Either::Left(((), _dropped_read)) => None,
                        Either::Right((read, _)) => Some(read.unwrap()),
                    }
                } else {
                    let deadline = Duration::from_micros(50);
                    miniloop::timeout(deadline, server.read(&mut buffer))
                        .await
                        .ok()
                        .map(Result::unwrap)
                };
                match read {
                    None => cancelled += 1,
                    Some(0) => panic!(
                        "end-of-file after {} of {} bytes: a cancelled read lost some",
                        received.len(),
                        expected.len()
                    ),
                    Some(read) => received.extend_from_slice(&buffer[..read]),
                }
            }
            writer.await.unwrap();
            assert!(received == expected, "bytes were lost or reordered");
            (received.len(), cancelled)
        });
        assert_eq!(received, PIECES * PIECE);
        assert!(
            cancelled > 0,
            "no read was cancelled: the test tested nothing"
        );
    });
}

/// Proves that giving a socket back to std where its loop is not running panics with the
/// misuse message: the reactor, which must forget a socket that stays open, is out of reach.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn into_std_outside_the_loop_panics_with_a_hint() {
    let stream = within(WATCHDOG, || miniloop::run(async { pair().await.0 }));
    let message = expect_panic(|| drop(stream.into_std()));
    assert!(message.contains("outside an event loop"), "{message}");
}
