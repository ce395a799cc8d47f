//! [`TcpListener`]: a socket waiting for connections.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use super::{resolve, with_context, Registered, TcpStream, ToSocketAddrs};
use crate::reactor::Direction;

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
                Ok(io) => return Ok(TcpListener::from_mio(io)?),
                Err(error) => last_error = Some(with_context(error, "binding to", candidate)),
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
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// One step of [`accept`](Self::accept): takes a queued connection, or files the task's
    /// waker and returns `Pending` until one arrives.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self
            .socket
            .poll_io(cx, Direction::Read, mio::net::TcpListener::accept)
        {
            Poll::Ready(Ok((io, peer))) => Poll::Ready(TcpStream::from_mio(io).map(|s| (s, peer))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address this listener is bound to (with the real port if you asked for port 0).
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
