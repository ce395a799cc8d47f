//! miniloop's sockets through the `futures-io` traits: `futures::io`'s utilities
//! (`read_to_end`, `copy`, `BufReader::lines`) and a websocket (async-tungstenite), none of
//! which knows about miniloop. Loopback only; every test runs under a watchdog.

mod common;

use std::net::SocketAddr;

use common::{within, WATCHDOG};
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::StreamExt;
use miniloop::net::{TcpListener, TcpStream};

/// A listener on a free loopback port, and its address.
async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("loopback should bind");
    let address = listener.local_addr().unwrap();
    (listener, address)
}

/// Proves `AsyncRead`/`AsyncWrite` through `futures::io`'s extension traits, called as trait
/// methods (not the inherent `async fn`s of the same names): `write_all`, `close` (the peer
/// reads end-of-file), `read_to_end`; on `TcpStream` and on `&TcpStream`.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn futures_read_to_end_and_write_all_run_on_a_miniloop_socket() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let (listener, address) = listen().await;
            let message: Vec<u8> = (0..300_000u32).map(|n| n as u8).collect();
            let expected = message.clone();
            let client = miniloop::spawn(async move {
                let mut client = TcpStream::connect(address).await.unwrap();
                AsyncWriteExt::write_all(&mut client, &message)
                    .await
                    .unwrap();
                AsyncWriteExt::close(&mut client).await.unwrap();
                let mut shared = &client; // `&TcpStream` reads too
                let mut answer = String::new();
                AsyncReadExt::read_to_string(&mut shared, &mut answer)
                    .await
                    .unwrap();
                answer
            });
            let (mut server, _) = listener.accept().await.unwrap();
            let mut received = Vec::new();
            AsyncReadExt::read_to_end(&mut server, &mut received)
                .await
                .unwrap();
            assert!(received == expected, "the bytes differ");
            AsyncWriteExt::write_all(&mut server, b"got it")
                .await
                .unwrap();
            drop(server);
            assert_eq!(client.await.unwrap(), "got it");
        });
    });
}

/// Proves `futures::io::copy` between two miniloop sockets: a proxy copies one connection
/// into another while both wait in the reactor, and the byte count it returns is right.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn futures_copy_moves_a_stream_between_two_sockets() {
    const BYTES: usize = 2 << 20;
    within(WATCHDOG, || {
        miniloop::run(async {
            let (front, front_address) = listen().await;
            let (back, back_address) = listen().await;
            let proxy = miniloop::spawn(async move {
                let (incoming, _) = front.accept().await.unwrap();
                let mut outgoing = TcpStream::connect(back_address).await.unwrap();
                let copied = futures::io::copy(incoming, &mut outgoing).await.unwrap();
                outgoing.close().await.unwrap();
                copied
            });
            let sender = miniloop::spawn(async move {
                let mut sender = TcpStream::connect(front_address).await.unwrap();
                sender.write_all(&vec![42; BYTES]).await.unwrap();
            });
            let (mut sink, _) = back.accept().await.unwrap();
            let mut received = Vec::new();
            sink.read_to_end(&mut received).await.unwrap();
            sender.await.unwrap();
            assert_eq!(proxy.await.unwrap(), BYTES as u64);
            assert_eq!(received.len(), BYTES);
            assert!(received.iter().all(|&byte| byte == 42));
        });
    });
}

/// Proves `futures::io::BufReader` and its `lines` stream over a miniloop socket: lines sent
/// in pieces that cut them in the middle come out whole and in order.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn futures_bufreader_lines_reads_a_socket_line_by_line() {
    within(WATCHDOG, || {
        let lines = miniloop::run(async {
            let (listener, address) = listen().await;
            let writer = miniloop::spawn(async move {
                let mut client = TcpStream::connect(address).await.unwrap();
                for piece in [
                    "first li",
                    "ne\nsecond line\nthi",
                    "rd line\n",
                    "no newline",
                ] {
                    client.write_all(piece.as_bytes()).await.unwrap();
                    miniloop::yield_now().await;
                }
            });
            let (server, _) = listener.accept().await.unwrap();
            let lines: Vec<String> = BufReader::new(server)
                .lines()
                .map(Result::unwrap)
                .collect()
                .await;
            writer.await.unwrap();
            lines
        });
        assert_eq!(
            lines,
            ["first line", "second line", "third line", "no newline"]
        );
    });
}

/// Proves a websocket over miniloop's sockets: async-tungstenite (written against the
/// `futures-io` traits) does the handshake on both sides and echoes text and binary
/// messages, then closes cleanly.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_websocket_echoes_over_miniloop_sockets() {
    use async_tungstenite::tungstenite::Message;
    within(WATCHDOG, || {
        let echoed = miniloop::run(async {
            let (listener, address) = listen().await;
            let server = miniloop::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let mut socket = async_tungstenite::accept_async(stream).await.unwrap();
                while let Some(message) = socket.next().await {
                    let message = message.unwrap();
                    if message.is_text() || message.is_binary() {
                        socket.send(message).await.unwrap();
                    }
                }
            });
            let stream = TcpStream::connect(address).await.unwrap();
            let url = format!("ws://{address}/echo");
            let (mut socket, response) =
                async_tungstenite::client_async(url, stream).await.unwrap();
            assert_eq!(response.status(), 101, "switching protocols");
            let mut echoed = Vec::new();
            for message in [
                Message::text("hello"),
                Message::binary(vec![0, 1, 2, 255]),
                Message::text("x".repeat(100_000)),
            ] {
                socket.send(message.clone()).await.unwrap();
                let echo = socket.next().await.unwrap().unwrap();
                assert_eq!(echo, message);
                echoed.push(echo.len());
            }
            socket.close(None).await.unwrap();
            server.await.unwrap();
            echoed
        });
        assert_eq!(echoed, [5, 4, 100_000]);
    });
}
