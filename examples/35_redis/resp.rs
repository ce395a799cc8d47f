//! RESP2, the Redis protocol: requests in, replies out. No runtime, no sockets: bytes only.
//!
//! A request is an array of bulk strings (`*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n`, what every client
//! library sends), or an *inline* command: one line of words (`GET key\r\n`, what `telnet`
//! and `redis-cli` in inline mode send). A reply is a simple string (`+OK`), an error
//! (`-ERR ...`), an integer (`:3`), a bulk string (`$5\r\nhello`, or `$-1` for nil) or an
//! array of replies (`*-1` for a nil array).
//!
//! # Rules this module keeps
//! - Nothing a client declares sizes an allocation: a bulk length over 512 MiB or an array of
//!   more than 1 048 576 elements is refused when its header arrives, before a byte of it is
//!   stored, and the bytes that do arrive are kept only as they arrive (Redis's own limits,
//!   `proto-max-bulk-len` and its multibulk cap).
//! - Parsing resumes where it stopped: a request that arrives a byte at a time is read once,
//!   not re-read from its start at every byte, so a slow client costs the server what it
//!   sends and no more.
//! - A complete request is handed out as slices of the bytes it came in (no copy, no
//!   allocation per argument); inline requests, whose quotes and escapes change the bytes,
//!   are copied into one scratch buffer.
//! - Every malformed request is a [`ProtocolError`] whose text is the Redis error a client
//!   expects (`Protocol error: invalid bulk length`); the connection then sends it and
//!   closes, as Redis does, since nothing after a framing error can be trusted.

use std::fmt;
use std::ops::Range;

/// The longest bulk string a request may carry: 512 MiB, Redis's `proto-max-bulk-len`.
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// The most elements a request's array may have: 1 048 576, Redis's cap.
pub const MAX_ARRAY_LEN: usize = 1024 * 1024;
/// The longest inline request, or header line (`*3`, `$5`), without its line ending: 64 KiB.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// A malformed request; `Display` gives the error line Redis sends for it (without `-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(String);

impl ProtocolError {
    fn new(detail: impl Into<String>) -> ProtocolError {
        ProtocolError(detail.into())
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR Protocol error: {}", self.0)
    }
}

/// Where the parser stopped inside a request that has not fully arrived.
#[derive(Debug, Default)]
enum Progress {
    /// Nothing read yet: the next byte says array (`*`) or inline.
    #[default]
    Start,
    /// Inside an array: `remaining` elements to go; the next one starts at `at`.
    Array { remaining: usize, at: usize },
    /// An inline line: no line ending within the first `scanned` bytes.
    Inline { scanned: usize },
}

/// A complete request: its arguments, as slices of the bytes they arrived in.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    bytes: &'a [u8],
    ranges: &'a [Range<usize>],
}

impl<'a> Request<'a> {
    /// The request whose argument `i` is `bytes[ranges[i]]`.
    pub fn new(bytes: &'a [u8], ranges: &'a [Range<usize>]) -> Request<'a> {
        Request { bytes, ranges }
    }

    /// A copy that owns its bytes, for a transaction's queue.
    pub fn to_owned(self) -> OwnedRequest {
        let mut bytes = Vec::new();
        let mut ranges = Vec::with_capacity(self.len());
        for arg in self.args() {
            ranges.push(bytes.len()..bytes.len() + arg.len());
            bytes.extend_from_slice(arg);
        }
        OwnedRequest { bytes, ranges }
    }

    /// How many arguments, the command name included.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Argument `index` (0 is the command name).
    pub fn arg(&self, index: usize) -> &'a [u8] {
        &self.bytes[self.ranges[index].clone()]
    }

    /// Every argument, in order.
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.ranges.iter().map(move |range| &bytes[range.clone()])
    }
}

/// A request that owns its bytes (queued by `MULTI`, run by `EXEC`).
#[derive(Clone, Debug)]
pub struct OwnedRequest {
    bytes: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl OwnedRequest {
    /// The request, to read or run.
    pub fn as_request(&self) -> Request<'_> {
        Request::new(&self.bytes, &self.ranges)
    }
}

/// What one call to [`RequestParser::parse`] found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request, `used` bytes long: read it with [`RequestParser::request`], then drop
    /// those bytes from the buffer.
    Request { used: usize },
    /// Bytes that carry no request (an empty line, `*0`): drop `used` bytes and go on.
    Nothing { used: usize },
    /// The request has not fully arrived; call again with the same bytes and more.
    Incomplete,
}

/// Reads requests one after another from a connection's buffer, resuming where it stopped.
///
/// The buffer passed to `parse` must start where the previous complete request ended, and,
/// while a request is incomplete, hold the same bytes as before plus whatever arrived since.
#[derive(Debug, Default)]
pub struct RequestParser {
    progress: Progress,
    /// The arguments of the request being read: ranges of the buffer (arrays) or of
    /// `scratch` (inline). Reused from request to request, so steady traffic allocates none.
    ranges: Vec<Range<usize>>,
    /// Inline arguments after unquoting.
    scratch: Vec<u8>,
    is_inline: bool,
}

impl RequestParser {
    /// A parser at the start of a connection.
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Looks for a request at the start of `buffer`.
    pub fn parse(&mut self, buffer: &[u8]) -> Result<Parsed, ProtocolError> {
        if let Progress::Start = self.progress {
            let Some(&first) = buffer.first() else {
                return Ok(Parsed::Incomplete);
            };
            self.ranges.clear();
            if first == b'*' {
                let Some((count, line_end)) = read_header_line(buffer, 0)? else {
                    return Ok(Parsed::Incomplete);
                };
                let count = match parse_length(count) {
                    // `*0` and `*-1` are requests with nothing in them: Redis skips them.
                    Some(count) if count <= 0 => return Ok(Parsed::Nothing { used: line_end }),
                    Some(count) if count as u64 <= MAX_ARRAY_LEN as u64 => count as usize,
                    _ => return Err(ProtocolError::new("invalid multibulk length")),
                };
                self.is_inline = false;
                self.progress = Progress::Array {
                    remaining: count,
                    at: line_end,
                };
            } else {
                self.is_inline = true;
                self.progress = Progress::Inline { scanned: 0 };
            }
        }
        match self.progress {
            Progress::Array { .. } => self.parse_array(buffer),
            Progress::Inline { .. } => self.parse_inline(buffer),
            Progress::Start => unreachable!("set above"),
        }
    }

    /// The request that the last `parse` returned as `Parsed::Request`, read from the same
    /// `buffer`.
    pub fn request<'a>(&'a self, buffer: &'a [u8]) -> Request<'a> {
        let bytes = if self.is_inline {
            &self.scratch
        } else {
            buffer
        };
        Request {
            bytes,
            ranges: &self.ranges,
        }
    }

    fn parse_array(&mut self, buffer: &[u8]) -> Result<Parsed, ProtocolError> {
        let Progress::Array {
            mut remaining,
            mut at,
        } = self.progress
        else {
            unreachable!("called for arrays only");
        };
        while remaining > 0 {
            let Some(&kind) = buffer.get(at) else {
                break;
            };
            if kind != b'$' {
                return Err(ProtocolError::new(format!(
                    "expected '$', got '{}'",
                    char::from(kind).escape_default()
                )));
            }
            let Some((length, line_end)) = read_header_line(buffer, at)? else {
                break;
            };
            let length = match parse_length(length) {
                Some(length) if (0..=MAX_BULK_LEN as i64).contains(&length) => length as usize,
                _ => return Err(ProtocolError::new("invalid bulk length")),
            };
            let end = line_end + length;
            if buffer.len() < end + 2 {
                break;
            }
            if &buffer[end..end + 2] != b"\r\n" {
                return Err(ProtocolError::new(format!(
                    "expected CRLF after a bulk string of {length} bytes"
                )));
            }
            self.ranges.push(line_end..end);
            at = end + 2;
            remaining -= 1;
        }
        if remaining == 0 {
            self.progress = Progress::Start;
            Ok(Parsed::Request { used: at })
        } else {
            self.progress = Progress::Array { remaining, at };
            Ok(Parsed::Incomplete)
        }
    }

    fn parse_inline(&mut self, buffer: &[u8]) -> Result<Parsed, ProtocolError> {
        let Progress::Inline { scanned } = self.progress else {
            unreachable!("called for inline requests only");
        };
        let Some(newline) = find_byte(b'\n', &buffer[scanned..]).map(|at| scanned + at) else {
            if buffer.len() > MAX_LINE_LEN {
                return Err(ProtocolError::new("too big inline request"));
            }
            self.progress = Progress::Inline {
                scanned: buffer.len(),
            };
            return Ok(Parsed::Incomplete);
        };
        self.progress = Progress::Start;
        if newline > MAX_LINE_LEN {
            return Err(ProtocolError::new("too big inline request"));
        }
        let line = buffer[..newline]
            .strip_suffix(b"\r")
            .unwrap_or(&buffer[..newline]);
        split_inline(line, &mut self.scratch, &mut self.ranges)?;
        let used = newline + 1;
        if self.ranges.is_empty() {
            Ok(Parsed::Nothing { used })
        } else {
            Ok(Parsed::Request { used })
        }
    }
}

/// The header line starting at `at` (`*3\r\n`, `$5\r\n`): its number's text and where the
/// line ends. `None` while the line has not fully arrived.
fn read_header_line(buffer: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    let rest = &buffer[at + 1..];
    match find_byte(b'\r', rest) {
        Some(cr) if cr > MAX_LINE_LEN => Err(ProtocolError::new("too big count string")),
        Some(cr) if cr + 1 < rest.len() => {
            if rest[cr + 1] != b'\n' {
                return Err(ProtocolError::new("expected CRLF after a length"));
            }
            Ok(Some((&rest[..cr], at + 1 + cr + 2)))
        }
        Some(_) => Ok(None),
        None if rest.len() > MAX_LINE_LEN => Err(ProtocolError::new("too big count string")),
        None => Ok(None),
    }
}

/// A decimal length as Redis reads one: optional `-`, digits, no `+`, no spaces, at most 18
/// digits (more could overflow, and no real length needs them).
fn parse_length(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits
        .iter()
        .fold(0i64, |value, digit| value * 10 + i64::from(digit - b'0'));
    Some(if negative { -value } else { value })
}

fn find_byte(wanted: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&byte| byte == wanted)
}

/// Splits an inline line into arguments the way `redis-cli` and Redis do: words separated by
/// spaces; `"double quotes"` with `\n`, `\r`, `\t`, `\b`, `\a`, `\\`, `\"` and `\xHH`
/// escapes; `'single quotes'` with `\'`. A closing quote must be followed by a space or the
/// end of the line.
fn split_inline(
    line: &[u8],
    scratch: &mut Vec<u8>,
    ranges: &mut Vec<Range<usize>>,
) -> Result<(), ProtocolError> {
    scratch.clear();
    ranges.clear();
    let unbalanced = || ProtocolError::new("unbalanced quotes in request");
    let mut at = 0;
    loop {
        while at < line.len() && line[at].is_ascii_whitespace() {
            at += 1;
        }
        if at == line.len() {
            return Ok(());
        }
        let start = scratch.len();
        match line[at] {
            b'"' => {
                at += 1;
                loop {
                    match line.get(at) {
                        None => return Err(unbalanced()),
                        Some(b'"') => break,
                        Some(b'\\') if at + 3 < line.len() && line[at + 1] == b'x' => {
                            match (hex_digit(line[at + 2]), hex_digit(line[at + 3])) {
                                (Some(high), Some(low)) => {
                                    scratch.push(high * 16 + low);
                                    at += 4;
                                }
                                _ => {
                                    scratch.push(b'x');
                                    at += 2;
                                }
                            }
                        }
                        Some(b'\\') if at + 1 < line.len() => {
                            scratch.push(match line[at + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            });
                            at += 2;
                        }
                        Some(&byte) => {
                            scratch.push(byte);
                            at += 1;
                        }
                    }
                }
                at += 1; // the closing quote
                if line.get(at).is_some_and(|byte| !byte.is_ascii_whitespace()) {
                    return Err(unbalanced());
                }
            }
            b'\'' => {
                at += 1;
                loop {
                    match line.get(at) {
                        None => return Err(unbalanced()),
                        Some(b'\'') => break,
                        Some(b'\\') if line.get(at + 1) == Some(&b'\'') => {
                            scratch.push(b'\'');
                            at += 2;
                        }
                        Some(&byte) => {
                            scratch.push(byte);
                            at += 1;
                        }
                    }
                }
                at += 1;
                if line.get(at).is_some_and(|byte| !byte.is_ascii_whitespace()) {
                    return Err(unbalanced());
                }
            }
            _ => {
                while at < line.len() && !line[at].is_ascii_whitespace() {
                    scratch.push(line[at]);
                    at += 1;
                }
            }
        }
        ranges.push(start..scratch.len());
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).map(|digit| digit as u8)
}

/// How much a connection's input buffer grows by when it is full, and its size at first.
const READ_CHUNK: usize = 4 * 1024;
/// An empty input buffer bigger than this (it held a large request) is freed, so that an
/// idle client keeps no more than `READ_CHUNK` of memory.
const KEEP_AT_MOST: usize = 64 * 1024;

/// A connection's bytes between the socket and the parser: read into the tail, parsed and
/// dropped from the head. Runtime-free: a runtime reads into [`InputBuffer::spare`], then
/// calls [`InputBuffer::filled`].
#[derive(Debug, Default)]
pub struct InputBuffer {
    bytes: Vec<u8>,
    start: usize,
    end: usize,
}

impl InputBuffer {
    /// An empty buffer; it allocates at the first read.
    pub fn new() -> InputBuffer {
        InputBuffer::default()
    }

    /// The bytes read and not parsed yet.
    pub fn unread(&self) -> &[u8] {
        &self.bytes[self.start..self.end]
    }

    /// How many bytes wait to be parsed.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Drops the first `count` unread bytes (a request that was run).
    pub fn consume(&mut self, count: usize) {
        self.start += count;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.bytes.len() > KEEP_AT_MOST {
                self.bytes = Vec::new();
            }
        }
    }

    /// Room for the next read, at least `READ_CHUNK` bytes: the unread bytes move to the
    /// front, and the buffer doubles only when they fill it. It grows as bytes arrive, never
    /// by what a header announces.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.end < READ_CHUNK {
            if self.start > 0 {
                self.bytes.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.bytes.len() - self.end < READ_CHUNK {
                let size = (self.bytes.len() * 2).max(self.end + READ_CHUNK);
                self.bytes.resize(size, 0);
            }
        }
        &mut self.bytes[self.end..]
    }

    /// Records that the last read put `count` bytes into [`InputBuffer::spare`].
    pub fn filled(&mut self, count: usize) {
        self.end += count;
    }
}

// Replies. Each appends one reply to a connection's output buffer, so that the replies to a
// pipeline of requests leave in one write.

/// `+OK`, `+PONG`, `+QUEUED`: a status line (no CR or LF in it).
pub fn simple(out: &mut Vec<u8>, status: &str) {
    out.push(b'+');
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `-ERR ...`: `message` starts with the error's kind (`ERR`, `WRONGTYPE`, `EXECABORT`). Line
/// breaks in it become spaces: an error is one line.
pub fn error(out: &mut Vec<u8>, message: &str) {
    out.push(b'-');
    out.extend(message.bytes().map(|byte| {
        if byte == b'\r' || byte == b'\n' {
            b' '
        } else {
            byte
        }
    }));
    out.extend_from_slice(b"\r\n");
}

/// `:42`
pub fn integer(out: &mut Vec<u8>, value: i64) {
    out.push(b':');
    push_decimal(out, value);
    out.extend_from_slice(b"\r\n");
}

/// `$5\r\nhello\r\n`
pub fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'$');
    push_decimal(out, bytes.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// `$-1`: nil, as `GET` of a missing key answers.
pub fn null_bulk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// `*-1`: a nil array, as `BLPOP` answers when its time is up.
pub fn null_array(out: &mut Vec<u8>) {
    out.extend_from_slice(b"*-1\r\n");
}

/// `*3`: an array of `len` replies, which the caller appends next.
pub fn array_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    push_decimal(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` in decimal; no `format!`, which costs more than the rest of a `GET`.
fn push_decimal(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses every request in `bytes`, in one go, as owned strings.
    fn parse_all(bytes: &[u8]) -> Result<Vec<Vec<String>>, ProtocolError> {
        let mut parser = RequestParser::new();
        let mut requests = Vec::new();
        let mut at = 0;
        loop {
            match parser.parse(&bytes[at..])? {
                Parsed::Request { used } => {
                    let request = parser.request(&bytes[at..]);
                    requests.push(
                        request
                            .args()
                            .map(|arg| String::from_utf8_lossy(arg).into_owned())
                            .collect(),
                    );
                    at += used;
                }
                Parsed::Nothing { used } => at += used,
                Parsed::Incomplete => return Ok(requests),
            }
        }
    }

    #[test]
    fn arrays_and_inline_commands_pipelined() {
        let bytes = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*0\r\n\r\nSET \"a b\" 'it\\'s' \"\\x41\\n\"\r\n";
        assert_eq!(
            parse_all(bytes).unwrap(),
            [
                vec!["GET", "k"],
                vec!["PING"],
                vec!["SET", "a b", "it's", "A\n"]
            ]
        );
    }

    #[test]
    fn a_request_arriving_a_byte_at_a_time_is_read_once() {
        let bytes = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut parser = RequestParser::new();
        for end in 0..bytes.len() {
            assert_eq!(parser.parse(&bytes[..end]), Ok(Parsed::Incomplete), "{end}");
        }
        assert_eq!(
            parser.parse(bytes),
            Ok(Parsed::Request { used: bytes.len() })
        );
        let request = parser.request(bytes);
        assert_eq!(request.len(), 3);
        assert_eq!(request.arg(2), b"value");
    }

    #[test]
    fn malformed_requests_get_redis_errors() {
        let cases: [(&[u8], &str); 9] = [
            (b"*1\r\n:3\r\n", "expected '$', got ':'"),
            (b"*1\r\n$-1\r\n", "invalid bulk length"),
            (b"*1\r\n$abc\r\n", "invalid bulk length"),
            (b"*1\r\n$536870913\r\n", "invalid bulk length"),
            (b"*1048577\r\n", "invalid multibulk length"),
            (b"*x\r\n", "invalid multibulk length"),
            (
                b"*1\r\n$4\r\nPINGxx",
                "expected CRLF after a bulk string of 4 bytes",
            ),
            (b"GET \"unclosed\r\n", "unbalanced quotes in request"),
            (b"*1\r\n$3\rX", "expected CRLF after a length"),
        ];
        for (bytes, expected) in cases {
            let error = parse_all(bytes).unwrap_err();
            assert_eq!(error.to_string(), format!("ERR Protocol error: {expected}"));
        }
        let long = vec![b'a'; MAX_LINE_LEN + 1];
        assert!(parse_all(&long).is_err(), "an endless inline line");
    }

    #[test]
    fn replies_are_encoded_as_resp2() {
        let mut out = Vec::new();
        simple(&mut out, "OK");
        error(&mut out, "ERR two\nlines");
        integer(&mut out, -1234567890123);
        bulk(&mut out, b"hi");
        null_bulk(&mut out);
        array_header(&mut out, 2);
        null_array(&mut out);
        assert_eq!(
            out,
            b"+OK\r\n-ERR two lines\r\n:-1234567890123\r\n$2\r\nhi\r\n$-1\r\n*2\r\n*-1\r\n"
        );
        let mut out = Vec::new();
        integer(&mut out, i64::MIN);
        assert_eq!(out, format!(":{}\r\n", i64::MIN).as_bytes());
    }
}
