//! Reading a response off the socket: the head (status line and headers), then the body,
//! framed by `Content-Length`, by chunked encoding, or by the end of the connection.

use std::io;

use super::parse::{
    body_framing, count_scanned, find_head_end, parse_chunk_size, parse_head, quote, Framing, Head,
};
use super::{fetch_error, Response, MAX_BODY_BYTES, MAX_HEAD_BYTES};
use crate::net::TcpStream;

/// How many bytes one read asks the socket for.
const READ_SIZE: usize = 8 * 1024;
/// The longest chunk-size line we accept (the size in hex, plus any `;extension`).
const MAX_CHUNK_LINE_BYTES: usize = 4 * 1024;

/// A response being read: the socket, the bytes read from it but not used yet, and the URL
/// that every error names.
#[derive(Debug)]
pub(crate) struct ResponseReader<'url> {
    stream: TcpStream,
    /// Unused bytes are `buffer[start..]`: a read may bring the end of the head and the
    /// start of the body together.
    buffer: Vec<u8>,
    start: usize,
    url: &'url str,
    /// Head bytes used so far, interim `1xx` heads included, measured against the cap.
    head_bytes: usize,
    /// How much of `buffer[start..]` has been searched already for what we wait for (the end
    /// of the head, a line break): the next search resumes there, so bytes that arrive in
    /// many small reads are looked at once, not once per read. Back to 0 when bytes are used.
    searched: usize,
}

impl<'url> ResponseReader<'url> {
    pub(crate) fn new(stream: TcpStream, url: &'url str) -> Self {
        ResponseReader {
            stream,
            buffer: Vec::new(),
            start: 0,
            url,
            head_bytes: 0,
            searched: 0,
        }
    }

    /// Reads the whole response: the head, then the body as the head frames it.
    pub(crate) async fn read_response(mut self) -> io::Result<Response> {
        let head = loop {
            let head = self.read_head().await?;
            // `100 Continue`, `103 Early Hints`: interim answers; the real one follows.
            if !(100..200).contains(&head.status) {
                break head;
            }
        };
        let framing = body_framing(head.status, &head.headers)
            .map_err(|detail| self.error(io::ErrorKind::InvalidData, detail))?;
        let body = match framing {
            Framing::Empty => Vec::new(),
            Framing::Length(length) => self.read_sized_body(length).await?,
            Framing::Chunked => self.read_chunked_body().await?,
            Framing::UntilClose => self.read_until_close().await?,
        };
        let Head {
            status,
            reason,
            headers,
        } = head;
        Ok(Response {
            status,
            reason,
            headers,
            body,
        })
    }

    /// Reads up to the empty line that ends a head, and parses it.
    async fn read_head(&mut self) -> io::Result<Head> {
        loop {
            match find_head_end(&self.buffer[self.start..], self.searched) {
                Ok((head_len, used)) => {
                    let head = &self.buffer[self.start..self.start + head_len];
                    let text = String::from_utf8_lossy(head).into_owned();
                    self.consume(used);
                    self.head_bytes += used;
                    if self.head_bytes > MAX_HEAD_BYTES {
                        return Err(self.head_too_large());
                    }
                    return parse_head(&text)
                        .map_err(|detail| self.error(io::ErrorKind::InvalidData, detail));
                }
                Err(resume_at) => self.searched = resume_at,
            }
            if self.head_bytes + self.buffer.len() - self.start > MAX_HEAD_BYTES {
                return Err(self.head_too_large());
            }
            if self.fill().await? == 0 {
                let received = self.head_bytes + self.buffer.len() - self.start;
                let detail = match received {
                    0 => "the server closed the connection without answering; it may have crashed \
                          or rejected the request; check the server's log"
                        .to_owned(),
                    _ => format!(
                        "the server closed the connection in the middle of the response headers \
                         (after {received} bytes); the response was cut short; try again, or \
                         check the server's log"
                    ),
                };
                return Err(self.error(io::ErrorKind::UnexpectedEof, detail));
            }
        }
    }

    /// Reads a body of exactly `length` bytes.
    async fn read_sized_body(&mut self, length: u64) -> io::Result<Vec<u8>> {
        if length > MAX_BODY_BYTES as u64 {
            return Err(self.body_too_large(&format!(
                "the server announces a body of {length} bytes (`Content-Length: {length}`)"
            )));
        }
        let mut body = Vec::new();
        let received = self.take_into(length, &mut body).await?;
        if received < length {
            return Err(self.error(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the server promised {length} bytes of body (`Content-Length: {length}`) but \
                     closed the connection after sending {received}; the response was cut short; \
                     try again, or check the server"
                ),
            ));
        }
        Ok(body)
    }

    /// Reads a chunked body: `size-in-hex CRLF data CRLF`, repeated, ending with a size of 0
    /// and optional trailer lines (which we read and drop).
    async fn read_chunked_body(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let size_line = self.read_line("a chunk size", MAX_CHUNK_LINE_BYTES).await?;
            let Some(size_line) = size_line else {
                return Err(self.cut_short_chunked("a chunk size"));
            };
            let size = parse_chunk_size(&size_line)
                .map_err(|detail| self.error(io::ErrorKind::InvalidData, detail))?;
            if size == 0 {
                break;
            }
            if body.len() as u64 + size > MAX_BODY_BYTES as u64 {
                return Err(self.body_too_large(&format!(
                    "a chunk of {size} bytes takes the chunked body, {} bytes so far, past the cap",
                    body.len()
                )));
            }
            let received = self.take_into(size, &mut body).await?;
            if received < size {
                return Err(self.cut_short_chunked(&format!(
                    "the rest of a {size}-byte chunk (got {received})"
                )));
            }
            match self
                .read_line("the end of a chunk", MAX_CHUNK_LINE_BYTES)
                .await?
            {
                Some(line) if line.is_empty() => {}
                Some(line) => {
                    return Err(self.error(
                        io::ErrorKind::InvalidData,
                        format!(
                            "a {size}-byte chunk is followed by `{}` instead of a line break; \
                             the chunk sizes do not match the data; check the server",
                            quote(&line)
                        ),
                    ))
                }
                None => return Err(self.cut_short_chunked("the line break after a chunk")),
            }
        }
        // Trailer lines until an empty one. A server that closes right after the last chunk
        // has sent the whole body already, so we accept that too.
        let mut trailer_bytes = 0;
        while let Some(line) = self.read_line("a trailer line", MAX_HEAD_BYTES).await? {
            if line.is_empty() {
                break;
            }
            trailer_bytes += line.len() + 2;
            if trailer_bytes > MAX_HEAD_BYTES {
                return Err(self.head_too_large());
            }
        }
        Ok(body)
    }

    /// Reads until the server closes the connection, or one byte past the cap.
    async fn read_until_close(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let cap = MAX_BODY_BYTES as u64;
        if self.take_into(cap + 1, &mut body).await? > cap {
            return Err(self.body_too_large(
                "the body, which runs until the server closes the connection (no \
                 `Content-Length`, not chunked), goes on past the cap",
            ));
        }
        Ok(body)
    }

    /// Moves up to `count` bytes into `body`, reading as needed; returns how many it moved,
    /// which is less than `count` only if the server closed the connection first.
    async fn take_into(&mut self, count: u64, body: &mut Vec<u8>) -> io::Result<u64> {
        let mut taken = 0;
        loop {
            let available = &self.buffer[self.start..];
            let step = usize::try_from(count - taken)
                .map_or(available.len(), |wanted| wanted.min(available.len()));
            body.extend_from_slice(&available[..step]);
            self.consume(step);
            taken += step as u64;
            if taken == count || self.fill().await? == 0 {
                return Ok(taken);
            }
        }
    }

    /// Reads one line (ending in `\n`, with or without `\r`) and returns it without the line
    /// break; `None` if the server closed the connection before the line ended.
    async fn read_line(&mut self, what: &str, limit: usize) -> io::Result<Option<String>> {
        loop {
            let available = &self.buffer[self.start..];
            let line_break = available[self.searched..]
                .iter()
                .position(|&byte| byte == b'\n');
            count_scanned(line_break.map_or(available.len() - self.searched, |at| at + 1));
            if let Some(offset) = line_break {
                let end = self.searched + offset;
                let line = String::from_utf8_lossy(&available[..end]);
                let line = line.strip_suffix('\r').unwrap_or(&line).to_owned();
                self.consume(end + 1);
                return Ok(Some(line));
            }
            self.searched = available.len();
            if available.len() > limit {
                return Err(self.error(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{what} runs over {limit} bytes without a line break; this is not a \
                         well-formed chunked body; check the server"
                    ),
                ));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Marks the next `count` unused bytes as used.
    fn consume(&mut self, count: usize) {
        self.start += count;
        self.searched = 0; // it counted from the old start
    }

    /// Reads more bytes from the socket into the buffer; returns how many (0: closed).
    async fn fill(&mut self) -> io::Result<usize> {
        // Forget the used bytes first, so the buffer holds one read's worth, not the body.
        self.buffer.drain(..self.start);
        self.start = 0;
        let old_len = self.buffer.len();
        self.buffer.resize(old_len + READ_SIZE, 0);
        let read = self.stream.read(&mut self.buffer[old_len..]).await;
        self.buffer.truncate(old_len + *read.as_ref().unwrap_or(&0));
        read.map_err(|error| {
            self.error(
                error.kind(),
                format!("reading the response failed: {error}; the server or the network dropped the connection"),
            )
        })
    }

    fn error(&self, kind: io::ErrorKind, detail: impl std::fmt::Display) -> io::Error {
        fetch_error(self.url, kind, detail)
    }

    fn head_too_large(&self) -> io::Error {
        self.error(
            io::ErrorKind::InvalidData,
            format!(
                "the response headers run over {} KiB without the empty line that ends them; \
                 this is not a well-formed HTTP response (or an unusually large one); check \
                 that the URL points at an HTTP server",
                MAX_HEAD_BYTES / 1024
            ),
        )
    }

    fn body_too_large(&self, what: &str) -> io::Error {
        self.error(
            io::ErrorKind::InvalidData,
            format!(
                "{what}: the body may not run over {} MiB (`miniloop::http::MAX_BODY_BYTES`), \
                 the most `get` keeps in memory; ask for a smaller resource, or fetch large \
                 files with a client that streams them to disk",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
        )
    }

    fn cut_short_chunked(&self, waiting_for: &str) -> io::Error {
        self.error(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the server closed the connection in the middle of a chunked body (while we \
                 waited for {waiting_for}); the response was cut short; try again, or check \
                 the server"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::super::parse::BYTES_SCANNED;

    /// Serves `response` once on a loopback port, in 16-byte writes, fetches it on this
    /// thread (so the loop's searches land in this thread's `BYTES_SCANNED`), and returns the
    /// body and how many bytes the searches looked at.
    fn fetch_in_small_pieces(response: Vec<u8>) -> (Vec<u8>, usize) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback has a free port");
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("the client connects");
            stream.set_nodelay(true).unwrap();
            let _ = stream.read(&mut [0; 1024]); // the request
            for piece in response.chunks(16) {
                stream.write_all(piece).expect("the client reads on");
            }
            let _ = stream.read_to_end(&mut Vec::new());
        });
        BYTES_SCANNED.with(|scanned| scanned.set(0));
        let fetched = crate::run(crate::http::get(&url)).expect("the response is well-formed");
        server.join().expect("the server thread does not panic");
        (fetched.body, BYTES_SCANNED.with(|scanned| scanned.get()))
    }

    /// Guards "a head costs work in proportion to its size, however it arrives": the search
    /// for the empty line that ends a head used to start over from the first byte on every
    /// read, so a 60 KB head sent one byte per read was scanned 60 000 times over. The measure is a count of the bytes looked at, not a time:
    /// whatever the pieces coalesce into, a scan that resumes looks at each byte about once,
    /// and one that restarts looks at the whole head again on each of at least 8 reads (one
    /// read brings at most `READ_SIZE` bytes), over 4 times the head in all.
    #[test]
    #[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
    fn a_head_in_small_pieces_is_scanned_once() {
        let mut response = b"HTTP/1.1 200 OK\r\n".to_vec();
        while response.len() < 60_000 {
            response.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let head_len = response.len() + b"Content-Length: 2\r\n\r\n".len();
        response.extend_from_slice(b"Content-Length: 2\r\n\r\nhi");
        let (body, scanned) = fetch_in_small_pieces(response);
        assert_eq!(body, b"hi");
        assert!(
            scanned < 2 * head_len,
            "{scanned} bytes scanned for a {head_len}-byte head"
        );
    }

    /// The same for a line of a chunked body: here a 60 KB trailer line (under the 64 KiB
    /// cap), whose line break the reader used to search for from the line's start on every
    /// read.
    #[test]
    #[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
    fn a_long_line_in_small_pieces_is_scanned_once() {
        let mut response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        response.extend_from_slice(b"2\r\nhi\r\n0\r\nX-Trailer: ");
        response.resize(response.len() + 60_000, b'a');
        response.extend_from_slice(b"\r\n\r\n");
        let total = response.len();
        let (body, scanned) = fetch_in_small_pieces(response);
        assert_eq!(body, b"hi");
        assert!(
            scanned < 2 * total,
            "{scanned} bytes scanned for a {total}-byte response"
        );
    }
}
