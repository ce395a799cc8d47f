//! The ecosystem's `AsyncRead` and `AsyncWrite` for [`TcpStream`], `&TcpStream` and the split
//! halves: `futures_io`'s always, tokio's with the `tokio-io` feature.
//!
//! Every method is one `TcpStream::poll_read`/`poll_write` step, so each is cancel safe, and
//! each waits in the reactor exactly like the `async fn`s do. `poll_flush` has nothing to do
//! (these sockets keep no buffer of their own: what `poll_write` accepted is the kernel's), and
//! `poll_close`/`poll_shutdown` shut down the writing side, so the peer reads end-of-file.
//!
//! `&TcpStream` implements both traits, as async-std's and smol's streams do: several futures
//! can share one stream without a split. The halves are the safer choice: each allows one
//! direction only.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, WriteHalf};

impl AsRef<TcpStream> for TcpStream {
    fn as_ref(&self) -> &TcpStream {
        self
    }
}

/// The stream under any of the types below (`Pin::as_ref` would shadow `AsRef::as_ref`).
fn stream<T: AsRef<TcpStream> + ?Sized>(holder: &T) -> &TcpStream {
    holder.as_ref()
}

macro_rules! futures_read {
    ($($reader:ty),*) => {$(
        impl futures_io::AsyncRead for $reader {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buffer: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                TcpStream::poll_read(stream(&*self), cx, buffer)
            }
        }
    )*};
}

macro_rules! futures_write {
    ($($writer:ty),*) => {$(
        impl futures_io::AsyncWrite for $writer {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bytes: &[u8],
            ) -> Poll<io::Result<usize>> {
                TcpStream::poll_write(stream(&*self), cx, bytes)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buffers: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                TcpStream::poll_write_vectored(stream(&*self), cx, buffers)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(stream(&*self).shutdown(Shutdown::Write))
            }
        }
    )*};
}

futures_read!(TcpStream, &TcpStream, ReadHalf<'_>, OwnedReadHalf);
futures_write!(TcpStream, &TcpStream, WriteHalf<'_>, OwnedWriteHalf);

#[cfg(feature = "tokio-io")]
mod tokio_traits {
    use std::io::{self, IoSlice};
    use std::net::Shutdown;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::{stream, OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, WriteHalf};
    use tokio::io::ReadBuf;

    macro_rules! tokio_read {
        ($($reader:ty),*) => {$(
            impl tokio::io::AsyncRead for $reader {
                fn poll_read(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buffer: &mut ReadBuf<'_>,
                ) -> Poll<io::Result<()>> {
                    // Zeroes the unfilled part the first time (safe code can't hand the OS
                    // uninitialised memory); a `ReadBuf` remembers it, so once per buffer.
                    let unfilled = buffer.initialize_unfilled();
                    let read = std::task::ready!(TcpStream::poll_read(stream(&*self), cx, unfilled))?;
                    buffer.advance(read);
                    Poll::Ready(Ok(()))
                }
            }
        )*};
    }

    macro_rules! tokio_write {
        ($($writer:ty),*) => {$(
            impl tokio::io::AsyncWrite for $writer {
                fn poll_write(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    bytes: &[u8],
                ) -> Poll<io::Result<usize>> {
                    TcpStream::poll_write(stream(&*self), cx, bytes)
                }

                fn poll_write_vectored(
                    self: Pin<&mut Self>,
                    cx: &mut Context<'_>,
                    buffers: &[IoSlice<'_>],
                ) -> Poll<io::Result<usize>> {
                    TcpStream::poll_write_vectored(stream(&*self), cx, buffers)
                }

                fn is_write_vectored(&self) -> bool {
                    true
                }

                fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                    Poll::Ready(Ok(()))
                }

                fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                    Poll::Ready(stream(&*self).shutdown(Shutdown::Write))
                }
            }
        )*};
    }

    tokio_read!(TcpStream, &TcpStream, ReadHalf<'_>, OwnedReadHalf);
    tokio_write!(TcpStream, &TcpStream, WriteHalf<'_>, OwnedWriteHalf);
}
