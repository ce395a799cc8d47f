//! [`TcpStream`]: a TCP connection, its `async fn`s and the `poll_*` steps under them.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::{resolve, with_context, Registered, ToSocketAddrs};
use crate::reactor::Direction;

/// A TCP connection.
///
/// Three ways to use it, all on the same socket:
/// - the `async fn`s here ([`read`](Self::read), [`write_all`](Self::write_all), ...), which
///   the lessons use;
/// - the traits: `futures_io::AsyncRead`/`AsyncWrite` (so `futures::io::copy`, `BufReader`,
///   async-tungstenite, ...), and with the `tokio-io` feature tokio's (so hyper through
///   hyper-util's `TokioIo`);
/// - the steps under both, [`poll_read`](Self::poll_read) and [`poll_write`](Self::poll_write),
///   for a hand-written future.
///
/// To read in one task while another writes, [`split`](Self::split) it (borrowed halves, for
/// two futures of one task) or [`into_split`](Self::into_split) it (owned halves, for two
/// spawned tasks).
pub struct TcpStream {
    socket: Registered<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `address`, trying each address it stands for until one accepts.
    ///
    /// `address` is anything std's `connect` takes (see [`ToSocketAddrs`]): a `SocketAddr`,
    /// `(ip, port)`, `"127.0.0.1:8080"`, `("localhost", 8080)`, a `String`, a slice of
    /// addresses. A numeric address is used as it is, and `localhost` is `127.0.0.1`, then
    /// `::1` (RFC 6761), without a lookup. Any other name is looked up on the blocking pool
    /// ([`spawn_blocking`](crate::spawn_blocking)), so while every pool thread is busy, the
    /// connect waits for one to come free (see `MINILOOP_BLOCKING_THREADS`).
    ///
    /// Cancel safe in the sense that matters: dropping the future closes the half-open socket.
    ///
    /// # Errors
    /// The last address's error, naming it and, for a refused connection, how to start a
    /// server there; or the resolver's.
    ///
    /// # Panics
    /// Outside an event loop (the socket registers with the loop's reactor).
    pub async fn connect(address: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addresses = address.to_addresses();
        let mut last_error = None;
        for candidate in resolve(addresses).await? {
            match Self::connect_to(candidate).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = Some(with_context(&error, "connecting to", candidate)),
            }
        }
        Err(last_error.expect("`resolve` returns at least one address"))
    }

    /// One connection attempt: start it, then wait until the socket is writable, which is how
    /// the OS says the handshake ended (well or not).
    async fn connect_to(address: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(address)?)?;
        poll_fn(|cx| {
            stream.socket.poll_io(
                cx,
                Direction::Write,
                |io| {
                    if let Some(error) = io.take_error()? {
                        return Err(error);
                    }
                    match io.peer_addr() {
                        Ok(_) => Ok(()),
                        // Still shaking hands: wait for the next writable edge.
                        Err(error) if error.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(error) => Err(error),
                    }
                },
                |_| false,
            )
        })
        .await?;
        Ok(stream)
    }

    #[track_caller]
    pub(super) fn from_mio(io: mio::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            socket: Registered::new(io)?,
        })
    }

    /// Takes over a connected stream made with std (`std::net::TcpStream::connect`); it is
    /// switched to non-blocking mode and registered with this thread's loop.
    ///
    /// # Errors
    /// If the socket can't be made non-blocking or registered.
    ///
    /// # Panics
    /// Outside an event loop.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Gives the socket back to std: it leaves the reactor, and is switched back to blocking
    /// mode, as std's sockets are made. Bytes the peer sent and nobody read yet stay in the
    /// socket, for std to read.
    ///
    /// # Errors
    /// If the socket can't be switched back to blocking mode.
    ///
    /// # Panics
    /// Where the loop that opened the socket is not running on this thread: the reactor must
    /// forget a socket that stays open, and only its own loop can reach it.
    #[track_caller]
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let stream = std::net::TcpStream::from(self.socket.into_inner());
        stream.set_nonblocking(false)?;
        Ok(stream)
    }

    /// One read step: reads what has arrived into `buffer` (`Ok(0)`: the peer closed its side),
    /// or, if nothing has, files the task's waker for "readable" and returns `Pending`.
    ///
    /// Cancel safe: bytes are taken from the socket only in a call that returns them.
    pub fn poll_read(&self, cx: &mut Context<'_>, buffer: &mut [u8]) -> Poll<io::Result<usize>> {
        let room = buffer.len();
        self.socket.poll_io(
            cx,
            Direction::Read,
            |mut io| io.read(buffer),
            |&read| read > 0 && read < room,
        )
    }

    /// One write step: writes some of `bytes` and returns how many, or, if the send buffer is
    /// full, files the task's waker for "writable" and returns `Pending`.
    ///
    /// Cancel safe: bytes are handed to the OS only in a call that reports them.
    pub fn poll_write(&self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        self.socket.poll_io(
            cx,
            Direction::Write,
            |mut io| io.write(bytes),
            |&written| written > 0 && written < bytes.len(),
        )
    }

    /// [`poll_write`](Self::poll_write) from several buffers at once (one `writev`): what
    /// hyper uses to send headers and body in one system call.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_io(
            cx,
            Direction::Write,
            |mut io| io.write_vectored(buffers),
            |&written| written > 0 && written < buffers.iter().map(|buffer| buffer.len()).sum(),
        )
    }

    /// Reads some bytes into `buffer`; `Ok(0)` means the peer closed its side.
    ///
    /// Cancel safe: if the future is dropped before it finishes, no byte was read, and the next
    /// `read` gets them all.
    ///
    /// # Errors
    /// The socket's error, as the OS reports it: `ConnectionReset` when the peer dropped the
    /// connection, for instance.
    pub async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buffer)).await
    }

    /// Fills `buffer` completely, or fails with `UnexpectedEof` if the peer closes first.
    ///
    /// Not cancel safe: dropped half way, the bytes read so far are in `buffer` but nothing
    /// says how many. To read with a deadline, put the deadline around the whole exchange.
    ///
    /// # Errors
    /// `UnexpectedEof` if the peer closes its side before `buffer` is full, or the socket's
    /// error, as for [`read`](Self::read).
    pub async fn read_exact(&mut self, buffer: &mut [u8]) -> io::Result<()> {
        read_exact(self, buffer).await
    }

    /// Reads until the peer closes its side, appending to `buffer`; returns the bytes read.
    ///
    /// Cancel safe: every byte read is appended to `buffer` before the next wait, so a dropped
    /// call loses nothing (`buffer`'s length says how much came).
    ///
    /// # Errors
    /// The socket's error, as for [`read`](Self::read); the bytes read before it are in
    /// `buffer`.
    pub async fn read_to_end(&mut self, buffer: &mut Vec<u8>) -> io::Result<usize> {
        read_to_end(self, buffer).await
    }

    /// Writes some of `bytes`; returns how many were written.
    ///
    /// Cancel safe: if the future is dropped before it finishes, no byte was written.
    ///
    /// # Errors
    /// The socket's error, as the OS reports it: `BrokenPipe` or `ConnectionReset` when the
    /// peer has closed the connection, for instance.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, bytes)).await
    }

    /// Writes all of `bytes`.
    ///
    /// Not cancel safe: dropped half way, some of `bytes` may have been sent, and nothing says
    /// how many.
    ///
    /// # Errors
    /// `WriteZero` if the socket takes no more bytes, or the socket's error, as for
    /// [`write`](Self::write).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_all(self, bytes).await
    }

    /// Splits the stream into a read half and a write half that borrow it, so that one future
    /// can read while another writes (two futures of one task: `join`, `select`). The halves
    /// can't outlive the stream; to give them to two spawned tasks, use
    /// [`into_split`](Self::into_split).
    ///
    /// # Examples
    /// ```
    /// use futures::io::AsyncWriteExt;
    /// use miniloop::net::{TcpListener, TcpStream};
    ///
    /// miniloop::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     // An echo: the server's halves copy what it reads back to the client, then close
    ///     // the writing side, so the client's `read_to_end` ends.
    ///     let echo = async {
    ///         let (mut reader, mut writer) = server.split();
    ///         futures::io::copy(&mut reader, &mut writer).await.unwrap();
    ///         writer.close().await.unwrap();
    ///     };
    ///     let talk = async {
    ///         client.write_all(b"ping").await.unwrap();
    ///         client.shutdown(std::net::Shutdown::Write).unwrap();
    ///         let mut answer = Vec::new();
    ///         client.read_to_end(&mut answer).await.unwrap();
    ///         answer
    ///     };
    ///     let ((), answer) = futures::join!(echo, talk);
    ///     assert_eq!(answer, b"ping");
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        ReadHalf::pair(self)
    }

    /// Splits the stream into two owned halves, one to read and one to write, which can go
    /// to two spawned tasks. [`OwnedReadHalf::reunite`] puts them back together.
    ///
    /// Dropping the write half shuts down the writing side (the peer reads end-of-file), as
    /// tokio's does; the socket closes when both halves are gone.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        OwnedReadHalf::pair(Arc::new(self))
    }

    /// Closes the reading side, the writing side (the peer then reads end-of-file), or both.
    ///
    /// # Errors
    /// The OS's error, such as `NotConnected` once the peer has reset the connection.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.io().shutdown(how)
    }

    /// This end's address.
    ///
    /// # Errors
    /// The OS's error; on a connected socket there is rarely one.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.io().local_addr()
    }

    /// The other end's address.
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone, or another error from the OS.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket.io().peer_addr()
    }

    /// Turns Nagle's algorithm off (`true`) so small writes leave at once.
    ///
    /// # Errors
    /// The OS's error for the socket option.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket.io().set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off (see [`set_nodelay`](Self::set_nodelay)).
    ///
    /// # Errors
    /// The OS's error for the socket option.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket.io().nodelay()
    }
}

/// The loop behind `read_exact`, shared with the read halves.
pub(super) async fn read_exact(stream: &TcpStream, buffer: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buffer.len() {
        match poll_fn(|cx| stream.poll_read(cx, &mut buffer[filled..])).await? {
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

/// The loop behind `read_to_end`, shared with the read halves.
pub(super) async fn read_to_end(stream: &TcpStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    let start = buffer.len();
    let mut chunk = [0; 8192];
    loop {
        match poll_fn(|cx| stream.poll_read(cx, &mut chunk)).await? {
            0 => return Ok(buffer.len() - start),
            read => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

/// The loop behind `write_all`, shared with the write halves.
pub(super) async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match poll_fn(|cx| stream.poll_write(cx, bytes)).await? {
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

#[cfg(unix)]
impl std::os::fd::AsFd for TcpStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.io().as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.io().as_raw_fd()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}
