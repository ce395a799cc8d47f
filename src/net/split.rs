//! A [`TcpStream`] in two halves, so that one task can read while another writes.
//!
//! Nothing here needs a lock: every step of a stream takes `&self` (the OS keeps the two
//! directions apart, and the reactor keeps one waker list per direction), so a half is just a
//! way to hold the stream that allows only its own direction. Borrowed halves hold a
//! `&TcpStream`; owned halves share an `Arc<TcpStream>`, and the socket closes when the last
//! half is dropped.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::sync::Arc;

use super::tcp_stream::{read_exact, read_to_end, write_all};
use super::TcpStream;

/// The reading half of a borrowed [`TcpStream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a> {
    pub(super) stream: &'a TcpStream,
}

/// The writing half of a borrowed [`TcpStream::split`].
#[derive(Debug)]
pub struct WriteHalf<'a> {
    pub(super) stream: &'a TcpStream,
}

impl<'a> ReadHalf<'a> {
    /// The two halves of `stream` (`&mut`: nobody else uses it while they live).
    pub(super) fn pair(stream: &'a mut TcpStream) -> (ReadHalf<'a>, WriteHalf<'a>) {
        let stream = &*stream;
        (ReadHalf { stream }, WriteHalf { stream })
    }
}

/// The reading half of [`TcpStream::into_split`], for a task of its own.
#[derive(Debug)]
pub struct OwnedReadHalf {
    pub(super) stream: Arc<TcpStream>,
}

/// The writing half of [`TcpStream::into_split`], for a task of its own. Dropping it shuts
/// down the writing side, so the peer reads end-of-file.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    pub(super) stream: Arc<TcpStream>,
    /// `false` once `reunite` has taken the stream back: the stream carries on whole.
    shutdown_on_drop: bool,
}

impl OwnedReadHalf {
    pub(super) fn pair(stream: Arc<TcpStream>) -> (OwnedReadHalf, OwnedWriteHalf) {
        let writer = OwnedWriteHalf {
            stream: Arc::clone(&stream),
            shutdown_on_drop: true,
        };
        (OwnedReadHalf { stream }, writer)
    }

    /// Puts the stream back together from its two halves.
    ///
    /// # Errors
    /// [`ReuniteError`], holding both halves, if they come from two different streams.
    ///
    /// # Panics
    /// Never: two halves of one stream hold its only two references, so once the writer is
    /// dropped the reader's is the last.
    pub fn reunite(self, writer: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.stream, &writer.stream) {
            return Err(ReuniteError(self, writer));
        }
        let mut writer = writer;
        writer.shutdown_on_drop = false;
        drop(writer);
        Ok(Arc::try_unwrap(self.stream)
            .expect("the two halves held the only references, and the writer has let go"))
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may have closed already; there is nobody to tell if this fails.
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}

/// The two halves given to [`OwnedReadHalf::reunite`] came from different streams; both are
/// inside, unchanged.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the read half and the write half come from different streams; reunite the halves \
             that one `into_split` returned",
        )
    }
}

impl Error for ReuniteError {}

/// The `async fn`s of the reading halves: the same as [`TcpStream`]'s, with the same cancel
/// safety (see there).
macro_rules! read_methods {
    ($half:ty) => {
        impl $half {
            /// Reads some bytes into `buffer`; `Ok(0)` means the peer closed its side. Cancel
            /// safe, as [`TcpStream::read`].
            ///
            /// # Errors
            /// As [`TcpStream::read`].
            pub async fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
                std::future::poll_fn(|cx| self.stream.poll_read(cx, buffer)).await
            }

            /// Fills `buffer` completely. Not cancel safe, as [`TcpStream::read_exact`].
            ///
            /// # Errors
            /// As [`TcpStream::read_exact`]: `UnexpectedEof` if the peer closes first.
            pub async fn read_exact(&mut self, buffer: &mut [u8]) -> io::Result<()> {
                read_exact(&self.stream, buffer).await
            }

            /// Reads until the peer closes its side. Cancel safe, as
            /// [`TcpStream::read_to_end`].
            ///
            /// # Errors
            /// As [`TcpStream::read_to_end`].
            pub async fn read_to_end(&mut self, buffer: &mut Vec<u8>) -> io::Result<usize> {
                read_to_end(&self.stream, buffer).await
            }
        }

        impl AsRef<TcpStream> for $half {
            fn as_ref(&self) -> &TcpStream {
                &self.stream
            }
        }
    };
}

/// The `async fn`s of the writing halves: the same as [`TcpStream`]'s.
macro_rules! write_methods {
    ($half:ty) => {
        impl $half {
            /// Writes some of `bytes`. Cancel safe, as [`TcpStream::write`].
            ///
            /// # Errors
            /// As [`TcpStream::write`].
            pub async fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                std::future::poll_fn(|cx| self.stream.poll_write(cx, bytes)).await
            }

            /// Writes all of `bytes`. Not cancel safe, as [`TcpStream::write_all`].
            ///
            /// # Errors
            /// As [`TcpStream::write_all`].
            pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
                write_all(&self.stream, bytes).await
            }
        }

        impl AsRef<TcpStream> for $half {
            fn as_ref(&self) -> &TcpStream {
                &self.stream
            }
        }
    };
}

read_methods!(ReadHalf<'_>);
read_methods!(OwnedReadHalf);
write_methods!(WriteHalf<'_>);
write_methods!(OwnedWriteHalf);
