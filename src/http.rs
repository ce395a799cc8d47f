//! A tiny HTTP/1.1 client, [`get`], and the lessons' slow-sites server, `SlowServer`.
//!
//! Lessons 01 and 02 fetch five pages, first one after another, then all at once; `get` is what
//! lesson 02 awaits (chapter: `docs/reactor.md`, and `docs/02-concurrent-requests.md` for the
//! lesson). It is a few hundred lines you can read in one sitting: parse the URL, connect with
//! [`TcpStream::connect`], send one request, read the status line, the headers and the body.
//! Every wait in it is a socket wait through the loop's reactor, so a hundred `get`s in a
//! hundred tasks share one thread.
//!
//! # Rules this module keeps
//! - Plain `http://` only. An `https://` URL gets an error that says TLS is out of scope and
//!   how to reach a plain-HTTP server instead; any other scheme, or a malformed URL, gets an
//!   error that shows a URL that works.
//! - One request per connection (`Connection: close`): no keep-alive, no pipelining, no
//!   redirects. A 404 or a 500 is a [`Response`] like any other, as in Python's `requests`.
//! - The body ends where the server says: `Content-Length`, chunked encoding, or the server
//!   closing the connection when neither is given. A connection that closes early is an error,
//!   never a silently short body.
//! - Nothing the server claims sizes an allocation: the headers are capped at 64 KiB
//!   ([`MAX_HEAD_BYTES`]) and the body at 16 MiB ([`MAX_BODY_BYTES`]), however it is framed;
//!   bodies grow as bytes arrive, not as `Content-Length` promises.
//! - Errors are `std::io::Error`s that start with ``cannot fetch `URL`:`` and say what went
//!   wrong and how to fix it. Malformed responses are errors, never panics, and never passed
//!   on: a header value with a CR or a NUL in it (RFC 9110, section 5.5) is refused.
//! - Host names are resolved on the blocking pool (by `TcpStream::connect`), never on the
//!   loop's thread; numeric addresses and `localhost` need no lookup.
//!
//! # The `lessons` feature
//! The slow-sites server (`SlowServer`, `Site`, `LESSON_SITES`, the `slow_sites` module) is
//! the lessons' fixture, not something a program needs in order to fetch a page: it is compiled
//! only with the `lessons` feature, which is on by default so that `cargo run` and `cargo test`
//! work with no flags. [`get`] is always there.
//!
//! # Why not hyper or reqwest
//! They are the right choice for a real program, and they bring TLS, pools and HTTP/2 with
//! them: tens of thousands of lines between your `await` and the socket. The lessons want the
//! opposite: a client short enough to step through in a debugger, from `get` down to the
//! reactor, with nothing in between that you have not read.

mod parse;
mod response;
#[cfg(feature = "lessons")]
pub mod slow_sites;
mod url;

use std::fmt;
use std::io;

use crate::net::TcpStream;
use response::ResponseReader;
#[cfg(feature = "lessons")]
pub use slow_sites::{Site, SlowServer, LESSON_SITES};
use url::Url;

/// The most bytes a response's status line and headers may take (64 KiB). A server that sends
/// more without the empty line that ends them gets an error instead of our memory.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The most bytes a response's body may take (16 MiB), whatever frames it: `get` keeps the
/// whole body in memory, so a server that sends more (or announces more in `Content-Length`
/// or a chunk size) gets an error instead of our memory. Large downloads want a client that
/// streams the body to a file, which this one does not do.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// A complete HTTP response: status, headers and the whole body.
///
/// Only [`get`] makes one. The fields are there to read; `#[non_exhaustive]` keeps room for
/// more (the HTTP version, the trailers) without breaking code that reads these.
///
/// # Examples
/// ```
/// # #[cfg(feature = "lessons")] {
/// use std::time::Duration;
/// use miniloop::http::{Site, SlowServer};
///
/// let server = SlowServer::start(&[Site::new("example", Duration::from_millis(1))]).unwrap();
/// let response = miniloop::run(miniloop::http::get(&server.url("example"))).unwrap();
/// assert_eq!(response.status, 200);
/// assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
/// assert!(response.text().contains("example"));
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code: 200, 404, ...
    pub status: u16,
    /// The words after the code on the status line ("OK", "Not Found"); may be empty.
    pub reason: String,
    /// Every header, in the order the server sent them, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header called `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text; bytes that are not UTF-8 become `�`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body can be megabytes; its length is what a `dbg!` or a gdb `print` needs.
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Fetches `url` with one HTTP/1.1 `GET` and returns the whole response.
///
/// Only `http://` URLs work (see the module docs for why). Any status counts as a response,
/// 404 included; check [`Response::status`]. To give up after a while, wrap the call in
/// [`miniloop::timeout`](crate::timeout): dropping the future closes the connection.
///
/// # Errors
/// An `io::Error` whose message starts with ``cannot fetch `URL`:``, for:
/// - a URL that is not `http://` (`https://` gets an explanation about TLS), or is malformed:
///   no scheme, no host, a bad port (`+8080` included), an IPv6 address without its brackets
///   or with anything but `:port` after them (kind `InvalidInput` or `Unsupported`);
/// - a failed connection, e.g. refused (the message names the address and how to start the
///   slow-sites server);
/// - a response that is not HTTP, has headers over [`MAX_HEAD_BYTES`], a body over
///   [`MAX_BODY_BYTES`] (sent or announced), or a header value with a CR or a NUL in it
///   (RFC 9110 forbids them; the error names the header) (kind `InvalidData`), or ends
///   early, like a body shorter than its `Content-Length` (kind `UnexpectedEof`).
///
/// # Panics
/// If called outside an event loop (the socket needs the loop's reactor).
///
/// # Examples
/// ```
/// let error = miniloop::run(miniloop::http::get("https://example.com/")).unwrap_err();
/// assert!(error.to_string().contains("TLS is out of scope"));
/// ```
pub async fn get(url: &str) -> io::Result<Response> {
    let parsed = Url::parse(url)?;
    let mut stream = TcpStream::connect(&parsed.socket_address())
        .await
        .map_err(|error| fetch_error(url, error.kind(), error))?;
    // The request is one small write; without this, Nagle's algorithm may hold it back.
    let _ = stream.set_nodelay(true);
    let request = request_head(&parsed);
    if let Err(error) = stream.write_all(request.as_bytes()).await {
        return Err(fetch_error(
            url,
            error.kind(),
            format_args!("sending the request failed: {error}"),
        ));
    }
    ResponseReader::new(stream, url).read_response().await
}

/// The request we send: a `GET` that asks the server to close the connection afterwards, so
/// that "read until closed" is a valid way to find the end of the body.
fn request_head(url: &Url) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: miniloop/{version}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        path = url.path,
        host = url.host_header(),
        version = env!("CARGO_PKG_VERSION"),
    )
}

/// An error about fetching `url`: ``cannot fetch `URL`: DETAIL``.
pub(crate) fn fetch_error(url: &str, kind: io::ErrorKind, detail: impl fmt::Display) -> io::Error {
    io::Error::new(kind, format!("cannot fetch `{url}`: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_host_and_asks_to_close() {
        let url = Url::parse("http://127.0.0.1:8080/google?q=1").unwrap();
        assert_eq!(
            request_head(&url),
            format!(
                "GET /google?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: miniloop/{}\r\n\
                 Accept: */*\r\nConnection: close\r\n\r\n",
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn headers_are_found_whatever_their_case() {
        let response = Response {
            status: 200,
            reason: "OK".into(),
            headers: vec![("Content-Length".into(), "2".into())],
            body: b"hi".to_vec(),
        };
        assert_eq!(response.header("content-length"), Some("2"));
        assert_eq!(response.header("x-missing"), None);
        assert!(response.is_success());
        assert_eq!(
            format!("{response:?}"),
            r#"Response { status: 200, reason: "OK", headers: [("Content-Length", "2")], body_len: 2 }"#
        );
    }
}
