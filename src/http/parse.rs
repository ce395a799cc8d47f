//! The pure half of reading a response: where the head ends, the status line and headers, how
//! the body is framed, chunk sizes. No I/O here, so the unit tests below feed it strings.

/// How much of a server's line an error message quotes.
const QUOTE_CHARS: usize = 60;

/// The status line and headers of a response.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) reason: String,
    pub(super) headers: Vec<(String, String)>,
}

/// Where the body ends (RFC 9112, section 6.3, for a response to a `GET`).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Framing {
    /// 204 and 304 have no body, whatever their headers say.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`: size lines in hex, then the data, up to a 0-size chunk.
    Chunked,
    /// Neither: the body is everything until the server closes the connection.
    UntilClose,
}

/// Finds the empty line that ends a head, looking at `bytes[from..]` only: `from` is where
/// the search stopped last time, on a shorter prefix of the same bytes. A head that arrives
/// in many small reads is then scanned once, not once per read. Returns the head's length (up
/// to and including its last line break) and how many bytes the head and the empty line use
/// together; or, while the head has not ended, where the next search should resume.
pub(super) fn find_head_end(bytes: &[u8], from: usize) -> Result<(usize, usize), usize> {
    let mut index = from.min(bytes.len());
    while let Some(offset) = bytes[index..].iter().position(|&byte| byte == b'\n') {
        let line_break = index + offset;
        count_scanned(offset + 1);
        match &bytes[line_break + 1..] {
            [b'\n', ..] => return Ok((line_break + 1, line_break + 2)),
            [b'\r', b'\n', ..] => return Ok((line_break + 1, line_break + 3)),
            // Too few bytes after this line break to tell: look at it again next time.
            [] | [b'\r'] => return Err(line_break),
            _ => index = line_break + 1,
        }
    }
    count_scanned(bytes.len() - index);
    Err(bytes.len())
}

#[cfg(test)]
thread_local! {
    /// How many bytes this thread has looked at while searching for the end of a head or of a
    /// line: the work measure of the tests that bytes arriving in small pieces are searched
    /// once, not once per piece (`response.rs`).
    pub(super) static BYTES_SCANNED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Adds to `BYTES_SCANNED` in tests; nothing at all otherwise.
#[inline]
pub(super) fn count_scanned(bytes: usize) {
    #[cfg(test)]
    BYTES_SCANNED.with(|scanned| scanned.set(scanned.get() + bytes));
    #[cfg(not(test))]
    let _ = bytes;
}

/// Parses `HTTP/1.1 200 OK` and the `Name: value` lines after it.
pub(super) fn parse_head(text: &str) -> Result<Head, String> {
    let mut lines = text.lines();
    let status_line = lines.next().unwrap_or_default();
    // Parsed first, so that a server that does not speak HTTP at all is told so.
    let (status, reason) = parse_status_line(status_line)?;
    if let Some(what) = forbidden_character(status_line) {
        return Err(format!(
            "the status line `{}` has {what} in it; a status line is plain text ending in a \
             line break (RFC 9112, section 4), so the response is refused; check the server",
            quote(status_line)
        ));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(format!(
                "the header line `{}` starts with a space (obsolete line folding, which HTTP/1.1 \
                 forbids); check the server",
                quote(line)
            ));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "the header line `{}` has no `:`; headers look like `Content-Length: 42`; check \
                 the server",
                quote(line)
            ));
        };
        if name.is_empty() || name.bytes().any(|byte| byte <= b' ' || byte == 0x7f) {
            return Err(format!(
                "the header line `{}` has no valid name before its `:`; headers look like \
                 `Content-Length: 42`; check the server",
                quote(line)
            ));
        }
        // Checked before the trim, which would hide a CR at the end of the value.
        if let Some(what) = forbidden_character(value) {
            return Err(format!(
                "the header `{}` has {what} in its value (`{}`); RFC 9110 (section 5.5) forbids \
                 CR, LF and NUL in header values, so the response is refused; check the server",
                quote(name),
                quote(value.trim())
            ));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Head {
        status,
        reason: reason.to_owned(),
        headers,
    })
}

/// Names the first character that may not appear inside a line of a head: a CR that does not
/// end the line (`str::lines` has taken the line's own `\r\n` or `\n` off already) or a NUL.
/// A reader that took the CR for a line break would see a header the server did not send.
fn forbidden_character(line: &str) -> Option<&'static str> {
    if line.contains('\r') {
        Some("a carriage return (CR) that does not end the line")
    } else if line.contains('\0') {
        Some("a NUL byte")
    } else {
        None
    }
}

/// Parses `HTTP/1.x CODE REASON` into the code and the reason.
fn parse_status_line(line: &str) -> Result<(u16, &str), String> {
    let not_http = || {
        format!(
            "the response does not start with an HTTP/1.x status line like `HTTP/1.1 200 OK` \
             (got `{}`); is the server at this address speaking HTTP?",
            quote(line)
        )
    };
    let (version, rest) = line.split_once(' ').ok_or_else(not_http)?;
    if !version.starts_with("HTTP/1.") {
        return Err(not_http());
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = match code.parse::<u16>() {
        Ok(status) if code.len() == 3 && (100..=999).contains(&status) => status,
        _ => {
            return Err(format!(
                "the status code `{}` in `{}` is not a three-digit number; check the server",
                quote(code),
                quote(line)
            ))
        }
    };
    Ok((status, reason))
}

/// Decides where the body of a response with this status and these headers ends.
pub(super) fn body_framing(status: u16, headers: &[(String, String)]) -> Result<Framing, String> {
    if status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let values = |wanted: &'static str| {
        headers
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(wanted))
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
    };
    // With several codings, chunked must come last; anything else ends at the close. Empty
    // elements (`chunked,`, an empty `Transfer-Encoding:` line) are no coding at all: RFC 9110
    // section 5.6.1 says to ignore them. Counted as one, an empty last element would hide the
    // `chunked` before it, and an empty header would override `Content-Length`.
    let mut codings = values("transfer-encoding").filter(|coding| !coding.is_empty());
    if let Some(last) = codings.next_back() {
        let framing = if last.eq_ignore_ascii_case("chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
        return Ok(framing);
    }
    // `Content-Length` is a number, not a list (RFC 9110 section 8.6; `4, 4` is tolerated as
    // one value repeated), so an empty element there stays an error rather than being skipped.
    let mut length = None;
    for text in values("content-length") {
        let parsed = match text.parse::<u64>() {
            Ok(parsed) if text.bytes().all(|byte| byte.is_ascii_digit()) => parsed,
            _ => {
                return Err(format!(
                    "`Content-Length: {}` is not a number of bytes; check the server",
                    quote(text)
                ))
            }
        };
        if length.is_some_and(|length| length != parsed) {
            return Err(format!(
                "the response gives two different lengths (`Content-Length` {} and {parsed}); \
                 it cannot be read safely; check the server",
                length.unwrap_or_default()
            ));
        }
        length = Some(parsed);
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Parses a chunk-size line: hex digits, then optionally `;name=value` extensions.
pub(super) fn parse_chunk_size(line: &str) -> Result<u64, String> {
    let digits = line.split(';').next().unwrap_or_default().trim();
    let is_hex = !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_hexdigit());
    match u64::from_str_radix(digits, 16) {
        Ok(size) if is_hex => Ok(size),
        _ => Err(format!(
            "the chunk size `{}` is not a hexadecimal number of bytes (like `1a`); this is not \
             a well-formed chunked body; check the server",
            quote(line)
        )),
    }
}

/// The start of `text`, for quoting in an error, with control characters escaped.
pub(super) fn quote(text: &str) -> String {
    let mut quoted: String = text
        .chars()
        .take(QUOTE_CHARS)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn a_head_ends_at_the_first_empty_line_with_or_without_carriage_returns() {
        assert_eq!(
            find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", 0),
            Ok((23, 25))
        );
        assert_eq!(
            find_head_end(b"HTTP/1.1 200 OK\nA: b\n\nbody", 0),
            Ok((21, 22))
        );
        // Not ended yet: resume at the last line break, which needs the bytes after it.
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", 0), Err(22));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n\r", 0), Err(22));
        assert_eq!(find_head_end(b"HTTP/1.1 200 OK\r\nA: b", 0), Err(21));
    }

    /// A search resumed where the last one stopped finds the same end as one from the start,
    /// whichever way the bytes were split into reads.
    #[test]
    fn a_resumed_search_finds_the_same_end() {
        let head = b"HTTP/1.1 200 OK\r\nA: b\r\nC: d\n\r\nbody";
        let whole = find_head_end(head, 0);
        assert_eq!(whole, Ok((28, 30)));
        for step in 1..head.len() {
            let mut resume_at = 0;
            let mut found = None;
            for end in (step..head.len()).step_by(step).chain([head.len()]) {
                match find_head_end(&head[..end], resume_at) {
                    Ok(found_here) => {
                        found = Some(found_here);
                        break;
                    }
                    Err(next) => resume_at = next,
                }
            }
            assert_eq!(found, whole.ok(), "reads of {step} bytes");
        }
    }

    #[test]
    fn heads_parse_into_status_reason_and_headers_in_order() {
        let head =
            parse_head("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-Empty:\r\n").unwrap();
        assert_eq!(head.status, 404);
        assert_eq!(head.reason, "Not Found");
        assert_eq!(
            head.headers,
            [header("Content-Length", "3"), header("X-Empty", "")]
        );
        assert_eq!(parse_head("HTTP/1.0 200").unwrap().reason, "");
    }

    #[test]
    fn malformed_heads_are_errors_that_quote_the_line() {
        let error = |text: &str| parse_head(text).unwrap_err();
        assert!(error("SSH-2.0-OpenSSH\r\n").contains("speaking HTTP?"));
        assert!(error("HTTP/2 200 OK\r\n").contains("HTTP/1.x"));
        assert!(error("HTTP/1.1 2x0 OK\r\n").contains("`2x0`"));
        assert!(error("HTTP/1.1 20 OK\r\n").contains("three-digit"));
        assert!(
            error("HTTP/1.1 200 OK\r\nno colon here\r\n").contains("`no colon here` has no `:`")
        );
        assert!(error("HTTP/1.1 200 OK\r\n: value\r\n").contains("no valid name"));
        assert!(error("HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n").contains("folding"));
        assert!(quote(&"x".repeat(100)).ends_with('…'));
    }

    /// Guards "malformed responses are errors" for RFC 9110 section 5.5: a CR, LF or NUL in
    /// a field value is invalid and dangerous (a CR can split the value into a second header
    /// for a reader that treats it as a line break). They used to be returned verbatim, and a
    /// CR at the end of a value was trimmed away unseen.
    #[test]
    fn a_bare_cr_or_a_nul_in_a_header_value_is_refused_naming_the_header() {
        let error = |text: &str| parse_head(text).unwrap_err();
        for (head, name) in [
            (
                "HTTP/1.1 200 OK\r\nX-Split: a\rSet-Cookie: b\r\n",
                "X-Split",
            ),
            ("HTTP/1.1 200 OK\r\nX-Trailing: a\r\r\n", "X-Trailing"),
            ("HTTP/1.1 200 OK\nX-Bare:\ra\n", "X-Bare"),
            ("HTTP/1.1 200 OK\r\nA: ok\r\nX-Nul: a\0b\r\n", "X-Nul"),
        ] {
            let message = error(head);
            assert!(
                message.contains(&format!("the header `{name}`")),
                "{head:?}: {message}"
            );
            assert!(message.contains("RFC 9110"), "{head:?}: {message}");
        }
        assert!(error("HTTP/1.1 200 O\rK\r\n").contains("status line"));
        assert!(error("HTTP/1.1 200 O\0K\r\n").contains("status line"));
        // A tab inside a value is allowed.
        let head = parse_head("HTTP/1.1 200 OK\r\nX-Tab: a\tb\r\n").unwrap();
        assert_eq!(head.headers, [header("X-Tab", "a\tb")]);
    }

    #[test]
    fn the_body_is_framed_by_encoding_then_length_then_close() {
        let framing = |status, headers: &[(String, String)]| body_framing(status, headers);
        let chunked = [
            header("Transfer-Encoding", "gzip, chunked"),
            header("Content-Length", "9"),
        ];
        assert_eq!(framing(200, &chunked), Ok(Framing::Chunked));
        assert_eq!(
            framing(200, &[header("transfer-encoding", "gzip")]),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            framing(200, &[header("content-length", "42")]),
            Ok(Framing::Length(42))
        );
        assert_eq!(
            framing(200, &[header("Content-Length", "4, 4")]),
            Ok(Framing::Length(4))
        );
        assert_eq!(framing(200, &[]), Ok(Framing::UntilClose));
        assert_eq!(
            framing(204, &[header("Content-Length", "9")]),
            Ok(Framing::Empty)
        );
        assert!(framing(200, &[header("Content-Length", "+4")]).is_err());
        assert!(framing(
            200,
            &[header("Content-Length", "4"), header("Content-Length", "5")]
        )
        .unwrap_err()
        .contains("two different lengths"));
    }

    /// Guards "the body ends where the server says" against empty list elements, which RFC
    /// 9110 section 5.6.1 says to ignore: `chunked,` or an extra empty `Transfer-Encoding`
    /// line used to make the last coding `""`, so the chunk framing leaked into the body, and
    /// an empty `Transfer-Encoding` overrode `Content-Length`.
    #[test]
    fn empty_transfer_encoding_elements_are_ignored() {
        let framing = |headers: &[(String, String)]| body_framing(200, headers);
        for value in [
            "chunked,",
            "chunked, ",
            ",chunked",
            "gzip,,chunked",
            " , chunked ,,",
        ] {
            assert_eq!(
                framing(&[header("Transfer-Encoding", value)]),
                Ok(Framing::Chunked),
                "{value:?}"
            );
        }
        assert_eq!(
            framing(&[
                header("Transfer-Encoding", "chunked"),
                header("Transfer-Encoding", "")
            ]),
            Ok(Framing::Chunked)
        );
        assert_eq!(
            framing(&[
                header("Content-Length", "5"),
                header("Transfer-Encoding", ""),
                header("transfer-encoding", " , "),
            ]),
            Ok(Framing::Length(5))
        );
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(parse_chunk_size("1a"), Ok(26));
        assert_eq!(parse_chunk_size("0"), Ok(0));
        assert_eq!(parse_chunk_size("FF;name=value"), Ok(255));
        for bad in ["", "zz", "+1", "1 2", "fffffffffffffffff"] {
            assert!(parse_chunk_size(bad).is_err(), "{bad:?}");
        }
    }
}
