//! miniloop's sockets through tokio's `AsyncRead`/`AsyncWrite` (the `tokio-io` feature):
//! tokio's own extension traits and `copy` drive them, with no tokio runtime anywhere.
//!
//! A plain `cargo test` turns the feature on: Cargo.toml lists this crate among its own
//! dev-dependencies with `tokio-io`. The first test fails if that ever stops being true, so
//! the others can't silently compile to nothing.

#[test]
// A test that fails, rather than a `const` assertion that stops every test from compiling:
// the other files' tests still run and this one names the cause.
#[allow(clippy::assertions_on_constants)]
fn cargo_test_builds_with_the_tokio_io_feature() {
    assert!(
        cfg!(feature = "tokio-io"),
        "`cargo test` should turn on `tokio-io` (the dev-dependency of miniloop on itself, in \
         Cargo.toml); without it this file tests nothing"
    );
}

#[cfg(feature = "tokio-io")]
mod common;

#[cfg(feature = "tokio-io")]
mod with_the_feature {
    use super::common::{within, WATCHDOG};
    use miniloop::net::{TcpListener, TcpStream};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    /// Proves tokio's `AsyncReadExt`/`AsyncWriteExt` on a miniloop stream, called as trait
    /// methods: `write_all`, `shutdown` (the peer reads end-of-file), `read_to_end`,
    /// `read_u32`, and `BufReader::read_line`, inside `miniloop::run` and nothing else.
    #[test]
    #[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
    fn tokio_extension_traits_run_on_a_miniloop_socket() {
        within(WATCHDOG, || {
            miniloop::run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let address = listener.local_addr().unwrap();
                let message: Vec<u8> = (0..300_000u32).map(|n| n as u8).collect();
                let expected = message.clone();
                let client = miniloop::spawn(async move {
                    let mut client = TcpStream::connect(address).await.unwrap();
                    AsyncWriteExt::write_all(&mut client, &message)
                        .await
                        .unwrap();
                    AsyncWriteExt::shutdown(&mut client).await.unwrap();
                    let number = AsyncReadExt::read_u32(&mut client).await.unwrap();
                    let mut line = String::new();
                    BufReader::new(client).read_line(&mut line).await.unwrap();
                    (number, line)
                });
                let (mut server, _) = listener.accept().await.unwrap();
                let mut received = Vec::new();
                AsyncReadExt::read_to_end(&mut server, &mut received)
                    .await
                    .unwrap();
                assert!(received == expected, "the bytes differ");
                AsyncWriteExt::write_all(&mut server, &7u32.to_be_bytes())
                    .await
                    .unwrap();
                AsyncWriteExt::write_all(&mut server, b"a line\nand more")
                    .await
                    .unwrap();
                drop(server);
                let (number, line) = client.await.unwrap();
                assert_eq!(number, 7);
                assert_eq!(line, "a line\n");
            });
        });
    }

    /// Proves `tokio::io::copy` between the owned halves of one miniloop stream (an echo), and
    /// tokio's vectored write through `write_vectored`.
    #[test]
    #[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
    fn tokio_copy_echoes_through_the_owned_halves() {
        within(WATCHDOG, || {
            miniloop::run(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let address = listener.local_addr().unwrap();
                let echo = miniloop::spawn(async move {
                    let (server, _) = listener.accept().await.unwrap();
                    let (mut reader, mut writer) = server.into_split();
                    tokio::io::copy(&mut reader, &mut writer).await.unwrap()
                });
                let mut client = TcpStream::connect(address).await.unwrap();
                let pieces = [
                    std::io::IoSlice::new(b"head "),
                    std::io::IoSlice::new(b"body"),
                ];
                assert!(tokio::io::AsyncWrite::is_write_vectored(&client));
                let written = AsyncWriteExt::write_vectored(&mut client, &pieces)
                    .await
                    .unwrap();
                assert_eq!(written, 9, "loopback takes 9 bytes in one writev");
                AsyncWriteExt::shutdown(&mut client).await.unwrap();
                let mut echoed = String::new();
                AsyncReadExt::read_to_string(&mut client, &mut echoed)
                    .await
                    .unwrap();
                assert_eq!(echoed, "head body");
                assert_eq!(echo.await.unwrap(), 9);
            });
        });
    }
}
