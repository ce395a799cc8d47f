//! TCP sockets that wait without blocking: [`TcpListener`] and [`TcpStream`].
//!
//! Lessons 01 and 02 fetch pages over real sockets (chapter: `docs/reactor.md`). Every
//! operation here has the same shape (`IoRegistration::poll_io`): try the system call on the
//! non-blocking socket; if the OS says "would block", file the task's waker with the reactor
//! and return `Pending`; the reactor wakes the task when the socket becomes ready, and the
//! next poll tries again.
//!
//! # Rules this module keeps
//! - A socket belongs to the loop that opened it; using it from another loop panics with a
//!   message rather than waiting forever for events that go elsewhere.
//! - A socket leaves the reactor before its file descriptor is closed; dropped where its loop
//!   can't be reached, it leaves its key for the loop to free (`reactor.rs`, "Rules").
//! - Errors are `std::io::Error`s that say what was being done and to which address.
//! - Host names are resolved on the blocking pool (`spawn_blocking`), never on the loop's
//!   thread: `getaddrinfo` can take seconds, and the other tasks would wait that long.
//!   Numeric addresses and `localhost` need no lookup and are answered in place, so a full
//!   pool never holds them up.
//!
//! # Why no `AsyncRead`/`AsyncWrite` traits
//! The `futures-io` traits would let ecosystem utilities drive these sockets, at the price of
//! one more dependency and `poll_*` methods that the lessons do not need. The `async fn`s here
//! (`read`, `write_all`, ...) are what the lessons use; adding the traits later is additive.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::event_loop::with_current_core;
use crate::reactor::{Direction, IoKey, OrphanedKeys};
use crate::sync_first::{is_suspend_allowed, note_suspend};
use crate::waker::LoopId;

/// Messages for misuse, kept in one place and tested.
pub(crate) const SOCKET_OUTSIDE_LOOP: &str = "a `miniloop::net` socket was used outside an \
     event loop; sockets wait through the loop's reactor; use it inside \
     `miniloop::run(async { ... })`";
pub(crate) const SOCKET_ON_OTHER_LOOP: &str = "a `miniloop::net` socket was used on an event \
     loop other than the one that opened it; its readiness events go to that loop; keep each \
     socket on the loop (and thread) that created it";

/// A socket's entry in its loop's reactor.
#[derive(Debug)]
struct IoRegistration {
    home: LoopId,
    key: IoKey,
    /// Where the key goes if the socket is dropped out of its loop's reach (see `deregister`).
    orphaned: Arc<OrphanedKeys>,
}

impl IoRegistration {
    /// Registers `source` with the reactor of the loop running on this thread.
    fn new(source: &mut impl Source) -> io::Result<IoRegistration> {
        let registered = with_current_core(|core| {
            let registered = core.with_reactor(|reactor| {
                let key = reactor.register(source)?;
                Ok::<_, io::Error>((key, reactor.orphaned_keys()))
            });
            let (key, orphaned) = registered??;
            Ok(IoRegistration {
                home: core.id(),
                key,
                orphaned,
            })
        });
        match registered {
            Some(result) => result,
            None => panic!("{SOCKET_OUTSIDE_LOOP}"),
        }
    }

    /// Tries `operation`; on "would block", files the task's waker for `direction`.
    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut operation: impl FnMut() -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        match operation() {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock && !is_suspend_allowed() => {
                // Inside `run_now`: say what we would wait for, and file nothing.
                note_suspend(|| format!("a socket to become {}", direction.ready_word()));
                Poll::Pending
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                // No event can slip in between the attempt and the filing: the loop handles
                // events only between polls, and an edge that comes later is reported later.
                self.file_waker(cx, direction);
                Poll::Pending
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                cx.waker().wake_by_ref(); // a signal interrupted the call: try again soon
                Poll::Pending
            }
            result => Poll::Ready(result),
        }
    }

    fn file_waker(&self, cx: &mut Context<'_>, direction: Direction) {
        let filed = with_current_core(|core| {
            if core.id() != self.home {
                return false;
            }
            core.with_existing_reactor(|reactor| {
                reactor.file_waker(self.key, direction, cx.waker())
            })
            .is_some()
        });
        match filed {
            Some(true) => {}
            Some(false) => panic!("{SOCKET_ON_OTHER_LOOP}"),
            None => panic!("{SOCKET_OUTSIDE_LOOP}"),
        }
    }

    /// Leaves the reactor. Out of the home loop's reach (no loop running here, another loop,
    /// or the reactor busy), the key goes to the reactor's orphan list instead: closing the
    /// descriptor takes it out of epoll, and the reactor frees the slot at its next wait.
    fn deregister(&self, source: &mut impl Source) {
        let wakers = with_current_core(|core| {
            if core.id() != self.home {
                return None;
            }
            core.with_existing_reactor(|reactor| reactor.deregister(self.key, source))
        })
        .flatten();
        match wakers {
            Some(wakers) => drop(wakers), // outside every borrow: dropping a waker may run code
            None => self.orphaned.push(self.key),
        }
    }
}

/// Resolves `address` ("127.0.0.1:8080", "localhost:80", "example.com:80") to socket addresses.
/// Numeric addresses and `localhost` are answered in place; other names go to the blocking
/// pool, and so wait there for a free thread when it is full.
pub(crate) async fn resolve(address: &str) -> io::Result<Vec<SocketAddr>> {
    if let Ok(parsed) = address.parse::<SocketAddr>() {
        return Ok(vec![parsed]);
    }
    if let Some(loopback) = resolve_localhost(address) {
        return Ok(loopback);
    }
    let owned = address.to_owned();
    let lookup = crate::spawn_blocking(move || owned.to_socket_addrs().map(Iterator::collect));
    let resolved: io::Result<Vec<SocketAddr>> = match lookup.await {
        Ok(result) => result,
        Err(error) => Err(io::Error::other(format!(
            "name lookup did not finish: {error}"
        ))),
    };
    match resolved {
        Ok(addresses) if !addresses.is_empty() => Ok(addresses),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("resolving {address:?} found no addresses; check the host name"),
        )),
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("resolving {address:?} failed: {error}; check the host name and port, e.g. \"127.0.0.1:8080\""),
        )),
    }
}

/// `localhost:PORT` (any case, with or without the root's `.`) without asking the system:
/// RFC 6761 (section 6.3) reserves the name for the loopback addresses, so the answer is known,
/// and a lookup on the blocking pool would wait behind whatever fills the pool. IPv4 first:
/// the slow-sites server and most test servers listen on `127.0.0.1`, and a machine without
/// IPv6 still gets an address that works. `None` for anything else, or a port that is not
/// plain digits (the resolver then gives its own error).
fn resolve_localhost(address: &str) -> Option<Vec<SocketAddr>> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.strip_suffix('.').unwrap_or(host);
    if !host.eq_ignore_ascii_case("localhost") || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok()?;
    Some(vec![
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ])
}

/// Adds what we were doing, and to which address, to an I/O error.
fn with_context(error: io::Error, doing: &str, address: SocketAddr) -> io::Error {
    let hint = match error.kind() {
        io::ErrorKind::ConnectionRefused => format!(
            "; is a server listening there? start one with `cargo run --example slow_server -- --port {}`",
            address.port()
        ),
        io::ErrorKind::AddrInUse => {
            "; another program uses that port: pick another, or port 0 for any free one".to_owned()
        }
        _ => String::new(),
    };
    io::Error::new(
        error.kind(),
        format!("{doing} {address} failed: {error}{hint}"),
    )
}

/// A TCP socket waiting for connections.
///
/// # Examples
/// ```
/// use miniloop::net::{TcpListener, TcpStream};
///
/// miniloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let address = listener.local_addr().unwrap();
///     let server = miniloop::spawn(async move {
///         let (mut stream, _) = listener.accept().await.unwrap();
///         let mut buffer = [0; 5];
///         stream.read_exact(&mut buffer).await.unwrap();
///         stream.write_all(&buffer).await.unwrap(); // echo
///     });
///     let mut client = TcpStream::connect(&address.to_string()).await.unwrap();
///     client.write_all(b"hello").await.unwrap();
///     let mut echo = [0; 5];
///     client.read_exact(&mut echo).await.unwrap();
///     assert_eq!(&echo, b"hello");
///     server.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    io: mio::net::TcpListener,
    registration: IoRegistration,
}

impl TcpListener {
    /// Binds to `address` ("127.0.0.1:0" picks any free port) and starts listening.
    pub async fn bind(address: &str) -> io::Result<TcpListener> {
        let mut last_error = None;
        for candidate in resolve(address).await? {
            match mio::net::TcpListener::bind(candidate) {
                Ok(mut io) => {
                    let registration = IoRegistration::new(&mut io)?;
                    return Ok(TcpListener { io, registration });
                }
                Err(error) => last_error = Some(with_context(error, "binding to", candidate)),
            }
        }
        Err(last_error.expect("`resolve` returns at least one address"))
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (mut io, peer) = poll_fn(|cx| {
            self.registration
                .poll_io(cx, Direction::Read, || self.io.accept())
        })
        .await?;
        let registration = IoRegistration::new(&mut io)?;
        Ok((TcpStream { io, registration }, peer))
    }

    /// The address this listener is bound to (with the real port if you asked for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.io.local_addr().ok())
            .finish()
    }
}

/// A TCP connection.
pub struct TcpStream {
    io: mio::net::TcpStream,
    registration: IoRegistration,
}

impl TcpStream {
    /// Connects to `address` ("127.0.0.1:8080", "localhost:8080"), trying each address the
    /// name resolves to until one accepts.
    ///
    /// A numeric address is used as it is, and `localhost` is `127.0.0.1`, then `::1` (RFC
    /// 6761), without a lookup. Any other name is looked up on the blocking pool
    /// ([`spawn_blocking`](crate::spawn_blocking)), so while every pool thread is busy, the
    /// connect waits for one to come free (see `MINILOOP_BLOCKING_THREADS`).
    pub async fn connect(address: &str) -> io::Result<TcpStream> {
        let mut last_error = None;
        for candidate in resolve(address).await? {
            match Self::connect_to(candidate).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(with_context(error, "connecting to", candidate)),
            }
        }
        Err(last_error.expect("`resolve` returns at least one address"))
    }

    /// One connection attempt: start it, then wait until the socket is writable, which is how
    /// the OS says the handshake ended (well or not).
    async fn connect_to(address: SocketAddr) -> io::Result<TcpStream> {
        let mut io = mio::net::TcpStream::connect(address)?;
        let registration = IoRegistration::new(&mut io)?;
        let stream = TcpStream { io, registration };
        poll_fn(|cx| {
            stream.registration.poll_io(cx, Direction::Write, || {
                if let Some(error) = stream.io.take_error()? {
                    return Err(error);
                }
                match stream.io.peer_addr() {
                    Ok(_) => Ok(()),
                    // Still shaking hands: wait for the next writable edge.
                    Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                        Err(io::ErrorKind::WouldBlock.into())
                    }
                    Err(error) => Err(error),
                }
            })
        })
        .await?;
        Ok(stream)
    }

    /// Reads some bytes into `buffer`; `Ok(0)` means the peer closed its side.
    pub async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let TcpStream { io, registration } = self;
        poll_fn(|cx| registration.poll_io(cx, Direction::Read, || io.read(buffer))).await
    }

    /// Fills `buffer` completely, or fails with `UnexpectedEof` if the peer closes first.
    pub async fn read_exact(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buffer.len() {
            match self.read(&mut buffer[filled..]).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the peer closed the connection after {filled} of {} bytes",
                            buffer.len()
                        ),
                    ))
                }
                read => filled += read,
            }
        }
        Ok(())
    }

    /// Reads until the peer closes its side, appending to `buffer`; returns the bytes read.
    pub async fn read_to_end(&mut self, buffer: &mut Vec<u8>) -> io::Result<usize> {
        let start = buffer.len();
        let mut chunk = [0; 8192];
        loop {
            match self.read(&mut chunk).await? {
                0 => return Ok(buffer.len() - start),
                read => buffer.extend_from_slice(&chunk[..read]),
            }
        }
    }

    /// Writes some of `bytes`; returns how many were written.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let TcpStream { io, registration } = self;
        poll_fn(|cx| registration.poll_io(cx, Direction::Write, || io.write(bytes))).await
    }

    /// Writes all of `bytes`.
    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.write(bytes).await? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the connection accepted no more bytes",
                    ))
                }
                written => bytes = &bytes[written..],
            }
        }
        Ok(())
    }

    /// Closes the reading side, the writing side (the peer then reads end-of-file), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown(how)
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.local_addr()
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.peer_addr()
    }

    /// Turns Nagle's algorithm off (`true`) so small writes leave at once.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.set_nodelay(nodelay)
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.io);
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.io.local_addr().ok())
            .field("peer_addr", &self.io.peer_addr().ok())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_is_the_loopback_addresses_in_any_case_and_with_the_root_dot() {
        let loopback = |port| {
            Some(vec![
                SocketAddr::from(([127, 0, 0, 1], port)),
                SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
            ])
        };
        assert_eq!(resolve_localhost("localhost:8080"), loopback(8080));
        assert_eq!(resolve_localhost("LocalHost.:80"), loopback(80));
        for other in [
            "localhost",
            "localhost:",
            "localhost:+80",
            "localhost:70000",
            "localhostx:80",
            "my.localhost:80",
            "example.com:80",
        ] {
            assert_eq!(resolve_localhost(other), None, "{other}");
        }
    }
}
