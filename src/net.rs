//! TCP sockets that wait without blocking: [`TcpListener`] and [`TcpStream`].
//!
//! Lessons 01 and 02 fetch pages over real sockets (chapter: `docs/reactor.md`). Every
//! operation here has the same shape (`Registered::poll_io`): try the system call on the
//! non-blocking socket; if the OS says "would block", file the task's waker with the reactor
//! and return `Pending`; the reactor wakes the task when the socket becomes ready, and the
//! next poll tries again.
//!
//! The module is in five parts: this file (a socket's entry in the reactor, the errors, and
//! the listener, the simplest socket), `net/addresses.rs` (what `bind` and `connect` accept,
//! and name resolution), `net/tcp_stream.rs`, `net/split.rs` (a stream in two halves) and
//! `net/io_traits.rs` (the ecosystem's `AsyncRead`/`AsyncWrite`).
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
//! - Every I/O step takes `&self`: the OS keeps one socket's two directions apart, and the
//!   reactor keeps a waker list per direction, so a reader and a writer (two halves, two
//!   tasks) never take each other's wake.
//!
//! # Cancel safety
//! Dropping a future of this module before it finishes (a `select` that another branch won, a
//! `timeout`) is safe for the steps that do at most one system call that moves data: `read`,
//! `write`, `accept`, and the `poll_*` methods. Such a step either finished in the poll that
//! returned `Ready`, or moved nothing. The steps that loop (`read_exact`, `write_all`) are not:
//! what they moved before the drop is not reported. Each method's docs say which it is.
//!
//! # Traits
//! [`TcpStream`], `&TcpStream` and the split halves implement `futures_io::AsyncRead` and
//! `AsyncWrite`, so `futures::io` (`copy`, `BufReader`, ...) and protocol crates written
//! against those traits run on miniloop's sockets; with the `tokio-io` feature they implement
//! tokio's `AsyncRead`/`AsyncWrite` too, which is what hyper-util's `TokioIo` wraps for hyper.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use mio::event::Source;

use crate::event_loop::with_current_core;
use crate::multi_thread::RuntimeIo;
use crate::reactor::{Direction, IoKey, OrphanedKeys};
use crate::sync_first::{is_suspend_allowed, note_suspend};
use crate::waker::LoopId;

mod addresses;
mod io_traits;
mod split;
mod tcp_stream;

use addresses::resolve;
pub use addresses::ToSocketAddrs;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp_stream::TcpStream;

/// Messages for misuse, kept in one place and tested.
pub(crate) const SOCKET_OUTSIDE_LOOP: &str = "a `miniloop::net` socket was used outside an \
     event loop; sockets wait through the loop's reactor; use it inside \
     `miniloop::run(async { ... })` (or `Runtime::block_on` and the tasks of a multi-thread \
     runtime)";
pub(crate) const SOCKET_ON_OTHER_LOOP: &str = "a `miniloop::net` socket was used on an event \
     loop or runtime other than the one that opened it; its readiness events go to that one; \
     keep each socket on the loop (and thread), or the multi-thread runtime, that created it";

/// A socket's entry in the reactor of the loop that opened it, or in the I/O driver of the
/// runtime that did.
#[derive(Debug)]
enum IoRegistration {
    Loop(LoopRegistration),
    /// On the multi-thread runtime, whose workers share one driver (`multi_thread/driver.rs`).
    Runtime(RuntimeIo),
}

/// A socket's entry in its loop's reactor.
#[derive(Debug)]
struct LoopRegistration {
    home: LoopId,
    key: IoKey,
    /// Where the key goes if the socket is dropped out of its loop's reach (see `deregister`).
    orphaned: Arc<OrphanedKeys>,
}

impl IoRegistration {
    /// Registers `source` with the reactor of the loop running on this thread, or the driver
    /// of the runtime this thread belongs to.
    #[track_caller]
    fn new(source: &mut impl Source) -> io::Result<IoRegistration> {
        let registered = with_current_core(|core| {
            let registered = core.with_reactor(|reactor| {
                let key = reactor.register(source)?;
                Ok::<_, io::Error>((key, reactor.orphaned_keys()))
            });
            let (key, orphaned) = registered??;
            Ok(IoRegistration::Loop(LoopRegistration {
                home: core.id(),
                key,
                orphaned,
            }))
        });
        if let Some(result) = registered {
            return result;
        }
        match RuntimeIo::register(source) {
            Some(result) => result.map(IoRegistration::Runtime),
            None => panic!("{SOCKET_OUTSIDE_LOOP}"),
        }
    }

    /// The events the socket was sent so far in `direction`, read before each attempt. Only
    /// the runtime counts them (`multi_thread/driver.rs` says why); the loop never needs to.
    fn tick(&self, direction: Direction) -> u64 {
        match self {
            IoRegistration::Loop(_) => 0,
            IoRegistration::Runtime(runtime) => runtime.tick(direction),
        }
    }

    /// Whether the socket is known to be drained in `direction` (empty to read, full to
    /// write) since event `tick`: only the runtime keeps track.
    fn is_drained(&self, direction: Direction, tick: u64) -> bool {
        match self {
            IoRegistration::Loop(_) => false,
            IoRegistration::Runtime(runtime) => runtime.is_drained(direction, tick),
        }
    }

    /// Notes that the socket was drained in `direction` after event `tick`.
    fn mark_drained(&self, direction: Direction, tick: u64) {
        if let IoRegistration::Runtime(runtime) = self {
            runtime.mark_drained(direction, tick);
        }
    }

    /// Files the task's waker after an attempt that would block. `Ok(false)`: an event came
    /// since `tick` was read, and the caller tries again instead of waiting.
    #[track_caller]
    fn file_waker(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        tick: u64,
    ) -> io::Result<bool> {
        let registration = match self {
            IoRegistration::Loop(registration) => registration,
            IoRegistration::Runtime(runtime) => return runtime.file_waker(cx, direction, tick),
        };
        let filed = with_current_core(|core| {
            if core.id() != registration.home {
                return false;
            }
            core.with_existing_reactor(|reactor| {
                reactor.file_waker(registration.key, direction, cx.waker());
            })
            .is_some()
        });
        match filed {
            Some(true) => Ok(true),
            Some(false) => panic!("{SOCKET_ON_OTHER_LOOP}"),
            None if crate::multi_thread::is_inside() => panic!("{SOCKET_ON_OTHER_LOOP}"),
            None => panic!("{SOCKET_OUTSIDE_LOOP}"),
        }
    }

    /// Leaves the reactor of the home loop, which must be running on this thread; the
    /// misuse message otherwise. The socket stays open (`into_std`), so epoll must forget it
    /// now: the orphan list, which counts on the close, would leave it registered. A socket
    /// of the runtime leaves its driver from any thread.
    fn deregister_at_home(&self, source: &mut impl Source) -> Result<(), &'static str> {
        let registration = match self {
            IoRegistration::Loop(registration) => registration,
            IoRegistration::Runtime(runtime) => {
                runtime.deregister(source);
                return Ok(());
            }
        };
        let wakers = with_current_core(|core| {
            if core.id() != registration.home {
                return Err(SOCKET_ON_OTHER_LOOP);
            }
            core.with_existing_reactor(|reactor| reactor.deregister(registration.key, source))
                .ok_or(SOCKET_ON_OTHER_LOOP)
        });
        match wakers {
            Some(Ok(wakers)) => {
                drop(wakers); // outside every borrow: dropping a waker may run code
                Ok(())
            }
            Some(Err(message)) => Err(message),
            None => Err(SOCKET_OUTSIDE_LOOP),
        }
    }

    /// Leaves the reactor as the socket closes. Out of the home loop's reach (no loop running
    /// here, another loop, or the reactor busy), the key goes to the reactor's orphan list
    /// instead: closing the descriptor takes it out of epoll, and the reactor frees the slot
    /// at its next wait.
    fn deregister_before_close(&self, source: &mut impl Source) {
        if self.deregister_at_home(source).is_err() {
            if let IoRegistration::Loop(registration) = self {
                registration.orphaned.push(registration.key);
            }
        }
    }
}

/// A mio socket together with its entry in the reactor: the one owner of both, so that the
/// entry always goes first (`Drop`, `into_inner`).
#[derive(Debug)]
struct Registered<S: Source> {
    /// `Some` for the whole life of the value; an `Option` only so that `into_inner` can take
    /// the socket out of a type that has a `Drop` (tokio's `PollEvented` does the same).
    io: Option<S>,
    registration: IoRegistration,
}

impl<S: Source> Registered<S> {
    /// Registers `io` with the reactor of the loop running on this thread.
    #[track_caller]
    fn new(mut io: S) -> io::Result<Registered<S>> {
        let registration = IoRegistration::new(&mut io)?;
        Ok(Registered {
            io: Some(io),
            registration,
        })
    }

    fn io(&self) -> &S {
        self.io
            .as_ref()
            .expect("the socket is only taken by `into_inner`, which consumes its owner")
    }

    /// Tries `operation`; on "would block", files the task's waker for `direction`.
    /// `is_short` says whether a success moved fewer bytes than it was given room for (a
    /// read that did not fill its buffer, a write the send buffer did not take whole): then
    /// the socket is known empty (or full) until its next event, and on the runtime the next
    /// attempt files the waker without the system call that would say "would block"
    /// (`multi_thread/driver.rs`, "Known drained").
    fn poll_io<T>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut operation: impl FnMut(&S) -> io::Result<T>,
        is_short: impl Fn(&T) -> bool,
    ) -> Poll<io::Result<T>> {
        loop {
            let tick = self.registration.tick(direction);
            let result = if self.registration.is_drained(direction, tick) {
                Err(io::ErrorKind::WouldBlock.into()) // what the system call would answer
            } else {
                let result = operation(self.io());
                // Noted where the system call answered: a would-block, or a short transfer.
                let is_drained = match &result {
                    Ok(value) => is_short(value),
                    Err(error) => error.kind() == io::ErrorKind::WouldBlock,
                };
                if is_drained {
                    self.registration.mark_drained(direction, tick);
                }
                result
            };
            match result {
                Err(error)
                    if error.kind() == io::ErrorKind::WouldBlock && !is_suspend_allowed() =>
                {
                    // Inside `run_now`: say what we would wait for, and file nothing.
                    note_suspend(|| format!("a socket to become {}", direction.ready_word()));
                    return Poll::Pending;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // On the loop, no event can slip in between the attempt and the filing:
                    // the loop handles events only between polls, and an edge that comes later
                    // is reported later. On the runtime one can (another worker collects
                    // events meanwhile): then `file_waker` says so, and we try again.
                    match self.registration.file_waker(cx, direction, tick) {
                        Ok(true) => return Poll::Pending,
                        Ok(false) => continue,
                        Err(error) => return Poll::Ready(Err(error)),
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref(); // a signal interrupted the call: try again soon
                    return Poll::Pending;
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Leaves the reactor and gives the socket back, still open.
    ///
    /// # Panics
    /// With the misuse message, where the socket's loop is not running on this thread.
    #[track_caller]
    fn into_inner(mut self) -> S {
        let mut io = self.io.take().expect("taken only here");
        if let Err(message) = self.registration.deregister_at_home(&mut io) {
            self.io = Some(io); // for `Drop`, which leaves the key behind for the loop
            panic!("{message}");
        }
        io
    }
}

impl<S: Source> Drop for Registered<S> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            self.registration.deregister_before_close(&mut io);
        }
    }
}

/// Sockets and halves go into spawned tasks (`Send`) and are shared by reference between the
/// futures of one task (`Sync`): checked when the crate compiles.
const _: fn() = || {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<TcpListener>();
    send_and_sync::<TcpStream>();
    send_and_sync::<ReadHalf<'_>>();
    send_and_sync::<WriteHalf<'_>>();
    send_and_sync::<OwnedReadHalf>();
    send_and_sync::<OwnedWriteHalf>();
};

/// Adds what we were doing, and to which address, to an I/O error.
fn with_context(error: &io::Error, doing: &str, address: SocketAddr) -> io::Error {
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
///     let mut client = TcpStream::connect(address).await.unwrap();
///     client.write_all(b"hello").await.unwrap();
///     let mut echo = [0; 5];
///     client.read_exact(&mut echo).await.unwrap();
///     assert_eq!(&echo, b"hello");
///     server.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    socket: Registered<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `address` and starts listening; port 0 picks any free port (ask
    /// [`local_addr`](Self::local_addr) which). `address` is anything std's `bind` takes:
    /// `"127.0.0.1:8080"`, `(Ipv4Addr::LOCALHOST, 8080)`, a `SocketAddr`, ... (see
    /// [`ToSocketAddrs`]); each address it stands for is tried in turn.
    ///
    /// # Errors
    /// The last address's error, naming it ("binding to 127.0.0.1:8080 failed: address in
    /// use; ..."), or the resolver's.
    ///
    /// # Panics
    /// Outside an event loop (the socket registers with the loop's reactor).
    pub async fn bind(address: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addresses = address.to_addresses();
        let mut last_error = None;
        for candidate in resolve(addresses).await? {
            match mio::net::TcpListener::bind(candidate) {
                Ok(io) => return TcpListener::from_mio(io),
                Err(error) => last_error = Some(with_context(&error, "binding to", candidate)),
            }
        }
        Err(last_error.expect("`resolve` returns at least one address"))
    }

    #[track_caller]
    fn from_mio(io: mio::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            socket: Registered::new(io)?,
        })
    }

    /// Takes over a listener made with std (`std::net::TcpListener::bind`); it is switched to
    /// non-blocking mode and registered with this thread's loop.
    ///
    /// # Errors
    /// If the socket can't be made non-blocking or registered.
    ///
    /// # Panics
    /// Outside an event loop.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::from_mio(mio::net::TcpListener::from_std(listener))
    }

    /// Gives the socket back to std: it leaves the reactor, and is switched back to blocking
    /// mode, as std's sockets are made.
    ///
    /// # Errors
    /// If the socket can't be switched back to blocking mode.
    ///
    /// # Panics
    /// Where the loop that opened the socket is not running on this thread: the reactor must
    /// forget a socket that stays open, and only its own loop can reach it.
    #[track_caller]
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let listener = std::net::TcpListener::from(self.socket.into_inner());
        listener.set_nonblocking(false)?;
        Ok(listener)
    }

    /// Waits for the next connection.
    ///
    /// Cancel safe: a connection is taken from the OS's queue only in the poll that returns
    /// it, so dropping the future before then leaves every connection queued.
    ///
    /// # Errors
    /// The OS's error for the listening socket: `EMFILE` ("too many open files") when the
    /// process is out of descriptors, for instance. The listener stays usable: a server
    /// usually logs the error and accepts again.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// One step of [`accept`](Self::accept): takes a queued connection, or files the task's
    /// waker and returns `Pending` until one arrives.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self
            .socket
            .poll_io(cx, Direction::Read, mio::net::TcpListener::accept, |_| {
                false
            }) {
            Poll::Ready(Ok((io, peer))) => Poll::Ready(TcpStream::from_mio(io).map(|s| (s, peer))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address this listener is bound to (with the real port if you asked for port 0).
    ///
    /// # Errors
    /// The OS's error; on a bound listener there is rarely one.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.io().local_addr()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for TcpListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.io().as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.io().as_raw_fd()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
