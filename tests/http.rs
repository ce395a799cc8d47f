//! `miniloop::http`: the GET client against small in-test servers (happy paths, bad input and
//! faults), and the slow-sites server. Everything runs on 127.0.0.1 with ports picked by the
//! OS, and every test runs under a watchdog, so a hang is a failure.
// Only with the `lessons` feature (on by default): most tests here start the slow-sites server.
#![cfg(feature = "lessons")]

mod common;

use std::io::{self, Read, Write};
use std::net::TcpListener as StdListener;
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{within, WATCHDOG};
use miniloop::http::{self, Response, Site, SlowServer};

/// What an in-test server does with its one connection after reading the request head.
type Script = Box<dyn FnOnce(&mut std::net::TcpStream) + Send>;

/// Starts a server on a free loopback port that takes one connection, reads the request head
/// and runs `script` on the connection; returns the URL of `/` on it and the server thread.
fn one_shot_server(script: Script) -> (String, thread::JoinHandle<()>) {
    let listener = StdListener::bind("127.0.0.1:0").expect("loopback should have a free port");
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the client should connect");
        read_request_head(&mut stream);
        script(&mut stream);
    });
    (url, server)
}

fn read_request_head(stream: &mut std::net::TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

/// A script that sends `bytes`, then closes the connection.
fn send_and_close(bytes: impl Into<Vec<u8>>) -> Script {
    let bytes = bytes.into();
    Box::new(move |stream| {
        let _ = stream.write_all(&bytes);
    })
}

/// A script that sends `bytes` and keeps the connection open until the client closes it:
/// the client must find the end of the body without the close.
fn send_and_hold(bytes: impl Into<Vec<u8>>) -> Script {
    let bytes = bytes.into();
    Box::new(move |stream| {
        let _ = stream.write_all(&bytes);
        let _ = stream.read_to_end(&mut Vec::new());
    })
}

/// Fetches `url` on a fresh loop, under the watchdog.
fn fetch(url: &str) -> io::Result<Response> {
    let url = url.to_owned();
    within(WATCHDOG, move || miniloop::run(http::get(&url)))
}

/// Serves `script` once and fetches it.
fn fetch_from(script: Script) -> io::Result<Response> {
    let (url, server) = one_shot_server(script);
    let result = fetch(&url);
    server.join().expect("the in-test server should not panic");
    result
}

fn error_text(result: io::Result<Response>) -> (io::ErrorKind, String) {
    let error = result.expect_err("this fetch should fail");
    (error.kind(), error.to_string())
}

// ---- happy paths ----

/// Proves that a `Content-Length` body is read exactly, without waiting for the server to
/// close the connection.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn content_length_bodies_end_at_the_length() {
    let response = fetch_from(send_and_hold(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello",
    ))
    .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.reason, "OK");
    assert_eq!(response.header("x-test"), Some("yes"));
    assert_eq!(response.body, b"hello");
}

/// Proves that a chunked body is reassembled from several chunks, even when it arrives one
/// byte at a time, and ends at the zero-size chunk without trailers.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn chunked_bodies_are_reassembled_from_several_chunks() {
    let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
    let trickle: Script = Box::new(move |stream| {
        stream.set_nodelay(true).unwrap();
        for byte in response.as_bytes() {
            if stream.write_all(&[*byte]).is_err() {
                return;
            }
        }
        let _ = stream.read_to_end(&mut Vec::new());
    });
    let response = fetch_from(trickle).unwrap();
    assert_eq!(response.text(), "Wikipedia in\r\n\r\nchunks.");
}

/// Proves that without a length or an encoding, the body is everything until the close.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn close_delimited_bodies_end_at_the_close() {
    let response = fetch_from(send_and_close("HTTP/1.0 200 OK\r\n\r\nuntil the end")).unwrap();
    assert_eq!(response.body, b"until the end");
}

/// Guards "the body ends where the server says, with any chunked framing removed" against
/// empty list elements (RFC 9110 section 5.6.1: a recipient ignores them): `chunked,` and a
/// second, empty `Transfer-Encoding` line used to hand back the chunk sizes inside the body,
/// and an empty `Transfer-Encoding` used to override `Content-Length` (so the body ran on to
/// the close).
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn empty_transfer_encoding_elements_do_not_change_the_framing() {
    let chunked_body = "5\r\nhello\r\n0\r\n\r\n";
    for encoding in [
        "Transfer-Encoding: chunked,\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n",
    ] {
        let response = fetch_from(send_and_close(format!(
            "HTTP/1.1 200 OK\r\n{encoding}\r\n{chunked_body}"
        )))
        .unwrap();
        assert_eq!(response.text(), "hello", "{encoding:?}");
    }
    let response = fetch_from(send_and_close(
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n\r\nhello, and more",
    ))
    .unwrap();
    assert_eq!(response.text(), "hello");
}

/// Proves that interim `100 Continue` answers are skipped, and 204 has no body.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn interim_answers_are_skipped_and_204_has_no_body() {
    let response = fetch_from(send_and_hold(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
    ))
    .unwrap();
    assert_eq!(response.status, 204);
    assert!(response.body.is_empty());
}

// ---- bad input ----

/// Proves that a refused connection names the address and says how to start a server there.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_refused_connection_names_the_address_and_suggests_the_slow_server() {
    // Bind, note the port, close: nothing listens there now.
    let address = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (kind, message) = error_text(fetch(&format!("http://{address}/google")));
    assert_eq!(kind, io::ErrorKind::ConnectionRefused);
    assert!(
        message.starts_with(&format!("cannot fetch `http://{address}/google`:")),
        "{message}"
    );
    assert!(
        message.contains(&format!("connecting to {address} failed")),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "cargo run --example slow_server -- --port {}",
            address.port()
        )),
        "{message}"
    );
}

/// Proves that an `https://` URL gets the TLS explanation and a way forward.
#[test]
fn https_urls_explain_that_tls_is_out_of_scope() {
    let (kind, message) = error_text(fetch("https://example.com/"));
    assert_eq!(kind, io::ErrorKind::Unsupported);
    assert_eq!(
        message,
        "cannot fetch `https://example.com/`: miniloop's HTTP client speaks plain HTTP only \
         (TLS is out of scope); use an `http://` URL, for example the lessons' slow-sites server \
         (`cargo run --example slow_server`)"
    );
}

/// Proves that other schemes and malformed URLs say what is wrong and show a URL that works.
#[test]
fn malformed_urls_say_what_is_wrong_and_show_a_valid_example() {
    let cases = [
        ("ftp://example.com/file", "supports only `http://` URLs"),
        ("example.com/google", "has no scheme"),
        ("http:///google", "has no host"),
        (
            "http://127.0.0.1:eighty/",
            "the port `eighty` is not a number from 1 to 65535",
        ),
        ("http://127.0.0.1:70000/", "the port `70000`"),
    ];
    for (url, expected) in cases {
        let (kind, message) = error_text(fetch(url));
        assert!(
            matches!(
                kind,
                io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
            ),
            "{url}: {kind:?}"
        );
        assert!(
            message.starts_with(&format!("cannot fetch `{url}`: ")),
            "{message}"
        );
        assert!(message.contains(expected), "{url}: {message}");
        assert!(
            message.contains("http://127.0.0.1:8080/google"),
            "{url}: {message}"
        );
    }
}

/// Guards "a malformed URL is an error, never a request to another address": each of these
/// used to connect somewhere (`[::1]:80`, port 8080 for `+8080`, host `::1` port 8080 split
/// at the last colon) instead of saying what is wrong.
#[test]
fn urls_with_junk_around_the_address_are_refused_before_connecting() {
    let cases = [
        ("http://[::1]x:8080/", "only `:port` may follow the `]`"),
        ("http://[::1]]:8080/", "only `:port` may follow the `]`"),
        (
            "http://127.0.0.1:+8080/",
            "the port `+8080` is not a number",
        ),
        ("http://::1:8080/", "an IPv6 address goes in brackets"),
    ];
    for (url, expected) in cases {
        let (kind, message) = error_text(fetch(url));
        assert_eq!(kind, io::ErrorKind::InvalidInput, "{url}: {message}");
        assert!(
            message.starts_with(&format!("cannot fetch `{url}`: ")),
            "{message}"
        );
        assert!(message.contains(expected), "{url}: {message}");
    }
}

// ---- faults ----

/// Proves that a server closing in the middle of the headers, or of a chunked body, gives an
/// error and never a short response.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_server_closing_mid_response_is_an_error() {
    let (kind, message) = error_text(fetch_from(send_and_close("HTTP/1.1 200 OK\r\nContent-Le")));
    assert_eq!(kind, io::ErrorKind::UnexpectedEof);
    assert!(
        message.contains("in the middle of the response headers (after 27 bytes)"),
        "{message}"
    );

    let (kind, message) = error_text(fetch_from(send_and_close(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi",
    )));
    assert_eq!(kind, io::ErrorKind::UnexpectedEof);
    assert!(
        message.contains("the rest of a 4-byte chunk (got 2)"),
        "{message}"
    );

    let (_, message) = error_text(fetch_from(send_and_close("")));
    assert!(
        message.contains("closed the connection without answering"),
        "{message}"
    );
}

/// Proves that a body shorter than its `Content-Length` is an error naming both numbers.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_lying_content_length_is_an_error_naming_both_numbers() {
    let (kind, message) = error_text(fetch_from(send_and_close(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly 10 b",
    )));
    assert_eq!(kind, io::ErrorKind::UnexpectedEof);
    assert!(
        message.contains("promised 100 bytes of body (`Content-Length: 100`) but closed the connection after sending 9"),
        "{message}"
    );
}

/// Proves that a server that never answers is cut off by `miniloop::timeout` with `Elapsed`,
/// and that the dropped request closes its connection (the server thread sees the close).
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_server_that_never_answers_is_cut_off_by_timeout() {
    let (url, server) = one_shot_server(Box::new(|stream| {
        let _ = stream.read_to_end(&mut Vec::new()); // waits for the client to give up
    }));
    let started = Instant::now();
    let outcome = within(WATCHDOG, move || {
        miniloop::run(miniloop::timeout(
            Duration::from_millis(100),
            http::get(&url),
        ))
    });
    let elapsed = outcome.expect_err("the server never answers");
    assert_eq!(elapsed.to_string(), "deadline has elapsed (100ms)");
    assert!(started.elapsed() >= Duration::from_millis(100));
    server
        .join()
        .expect("the server thread ends once the client has closed");
}

/// Proves that responses which are not well-formed HTTP are errors, never panics.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn malformed_status_lines_and_headers_are_errors() {
    let cases = [
        (
            "SSH-2.0-OpenSSH_9.6\r\n\r\n",
            "is the server at this address speaking HTTP?",
        ),
        ("HTTP/1.1 2x0 OK\r\n\r\n", "the status code `2x0`"),
        (
            "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            "`no colon` has no `:`",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
            "`Content-Length: lots` is not a number",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "the chunk size `zz`",
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            "instead of a line break",
        ),
        ("\u{0}\u{1}\u{2}\r\n\r\n", "speaking HTTP?"),
    ];
    for (response, expected) in cases {
        let (kind, message) = error_text(fetch_from(send_and_close(response)));
        assert_eq!(kind, io::ErrorKind::InvalidData, "{response:?}");
        assert!(message.contains(expected), "{response:?}: {message}");
    }
}

/// Guards "malformed responses are errors, never passed on" for RFC 9110 section 5.5: a
/// header value with a bare CR or a NUL used to reach `Response::headers` verbatim, where a
/// program that copies it on (into a log line, another request) could be tricked by it.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn header_values_with_a_bare_cr_or_a_nul_are_refused() {
    for (header, name) in [
        ("X-Split: a\rSet-Cookie: evil=1", "X-Split"),
        ("X-Nul: a\0b", "X-Nul"),
    ] {
        let (kind, message) = error_text(fetch_from(send_and_close(format!(
            "HTTP/1.1 200 OK\r\n{header}\r\nContent-Length: 2\r\n\r\nhi"
        ))));
        assert_eq!(kind, io::ErrorKind::InvalidData, "{message}");
        assert!(
            message.contains(&format!("the header `{name}`")),
            "{message}"
        );
    }
}

/// Proves that headers running past 64 KiB are refused with a clear error.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn headers_over_64_kib_are_refused() {
    let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
    while endless.len() < 100 * 1024 {
        endless
            .extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let (kind, message) = error_text(fetch_from(send_and_close(endless)));
    assert_eq!(kind, io::ErrorKind::InvalidData);
    assert!(message.contains("run over 64 KiB"), "{message}");
}

/// A script that sends `head`, then `body_len` bytes of `x` in 64 KiB writes, then closes;
/// it stops early, without failing, if the client hangs up first.
fn send_body_and_close(head: &'static str, body_len: usize) -> Script {
    Box::new(move |stream| {
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let block = vec![b'x'; 64 * 1024];
        let mut left = body_len;
        while left > 0 {
            let step = left.min(block.len());
            if stream.write_all(&block[..step]).is_err() {
                return;
            }
            left -= step;
        }
    })
}

/// Guards "nothing the server sends sizes our memory beyond a stated cap": a body framed by
/// the end of the connection used to grow for as long as the server kept sending. One byte
/// over `MAX_BODY_BYTES` is an error that names the cap; exactly the cap is still a body.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn a_close_delimited_body_over_the_cap_is_refused() {
    let head = "HTTP/1.0 200 OK\r\n\r\n";
    let (kind, message) = error_text(fetch_from(send_body_and_close(
        head,
        http::MAX_BODY_BYTES + 1,
    )));
    assert_eq!(kind, io::ErrorKind::InvalidData, "{message}");
    assert!(message.contains("over 16 MiB"), "{message}");
    assert!(message.contains("MAX_BODY_BYTES"), "{message}");
    let response = fetch_from(send_body_and_close(head, http::MAX_BODY_BYTES)).unwrap();
    assert_eq!(response.body.len(), http::MAX_BODY_BYTES);
}

/// The same cap for the other two framings, refused before the bytes arrive: a
/// `Content-Length` over it, and a chunk whose size would take the body over it. The server
/// holds the connection open, so a client that tried to read those bytes would hang.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn sized_and_chunked_bodies_over_the_cap_are_refused_up_front() {
    let over = http::MAX_BODY_BYTES + 1;
    for response in [
        format!("HTTP/1.1 200 OK\r\nContent-Length: {over}\r\n\r\nstart"),
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n{:x}\r\n",
            over - 5
        ),
    ] {
        let (kind, message) = error_text(fetch_from(send_and_hold(response.clone())));
        assert_eq!(kind, io::ErrorKind::InvalidData, "{response}: {message}");
        assert!(message.contains("over 16 MiB"), "{response}: {message}");
    }
}

/// Proves that one failing request does not stop the others running next to it.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn one_bad_request_never_stops_the_others() {
    let _servers = server_lock();
    let server = SlowServer::start(&[Site::new("good", Duration::from_millis(20))]).unwrap();
    let refused = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let urls = vec![
        server.url("good"),
        "https://example.com/".to_owned(),
        format!("http://{refused}/"),
        server.url("good"),
        "http://:1/".to_owned(),
    ];
    let outcomes = within(WATCHDOG, move || {
        miniloop::run(async move {
            let handles: Vec<_> = urls
                .into_iter()
                .map(|url| miniloop::spawn(async move { http::get(&url).await.map(|r| r.status) }))
                .collect();
            let mut outcomes = Vec::new();
            for handle in handles {
                outcomes.push(
                    handle
                        .await
                        .expect("a failed fetch is an error, not a panic"),
                );
            }
            outcomes
        })
    });
    let statuses: Vec<_> = outcomes
        .iter()
        .map(|outcome| outcome.as_ref().ok().copied())
        .collect();
    assert_eq!(statuses, [Some(200), None, None, Some(200), None]);
}

// ---- the slow-sites server ----

/// Tests that start a `SlowServer` take this lock, so the thread count in
/// `dropping_the_server_stops_it_and_joins_its_thread` sees only its own server.
fn server_lock() -> MutexGuard<'static, ()> {
    static SERVERS: Mutex<()> = Mutex::new(());
    SERVERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Proves that each site answers after its own delay, concurrently, and that `/delay/<ms>`
/// waits that many milliseconds.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn the_slow_server_answers_each_site_after_its_delay() {
    let _servers = server_lock();
    let sites = [
        Site::new("hare", Duration::from_millis(10)),
        Site::new("tortoise", Duration::from_millis(150)),
    ];
    let server = SlowServer::start(&sites).unwrap();
    let urls = [
        server.url("tortoise"),
        server.url("hare"),
        server.url("delay/80"),
    ];
    let timings = within(WATCHDOG, move || {
        miniloop::run(async move {
            let started = Instant::now();
            let fetches = urls.map(|url| async move {
                let response = http::get(&url).await.expect("the slow server answers");
                (response.text(), started.elapsed())
            });
            let mut completed = miniloop::as_completed(fetches);
            let mut timings = Vec::new();
            while let Some(timing) = completed.next().await {
                timings.push(timing);
            }
            (timings, started.elapsed())
        })
    });
    let (timings, total) = timings;
    let order: Vec<_> = timings.iter().map(|(text, _)| text.clone()).collect();
    assert_eq!(
        order,
        [
            "Hello from hare, after 10ms\n",
            "answered after 80 ms\n",
            "Hello from tortoise, after 150ms\n"
        ]
    );
    assert!(timings[0].1 >= Duration::from_millis(10));
    assert!(timings[1].1 >= Duration::from_millis(80));
    assert!(timings[2].1 >= Duration::from_millis(150));
    // Concurrent: the whole batch takes about as long as the slowest site, not the sum.
    assert!(total < Duration::from_millis(150 + 10 + 80), "{total:?}");
}

/// Proves that an unknown name gets a 404 whose body lists the known names.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn unknown_sites_get_404_listing_the_known_names() {
    let _servers = server_lock();
    let server = SlowServer::start(&http::LESSON_SITES.map(|site| site.scaled(0.01))).unwrap();
    let response = fetch(&server.url("altavista")).unwrap();
    assert_eq!(
        (response.status, response.reason.as_str()),
        (404, "Not Found")
    );
    let body = response.text();
    assert!(body.contains("no site called `altavista`"), "{body}");
    for name in [
        "google",
        "facebook",
        "amazon",
        "apple",
        "netflix",
        "delay/<ms>",
    ] {
        assert!(
            body.contains(&format!("/{name}")),
            "{name} missing from {body}"
        );
    }
}

/// The threads of this process whose name starts with `slow-sites` (Linux's `/proc`).
#[cfg(target_os = "linux")]
fn slow_sites_threads() -> usize {
    let tasks = std::fs::read_dir("/proc/self/task").expect("Linux lists threads in /proc");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("slow-sites"))
        .count()
}

/// Proves that dropping the handle stops the server promptly: its port refuses connections
/// afterwards, and its thread is gone (joined), not left running.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn dropping_the_server_stops_it_and_joins_its_thread() {
    let _servers = server_lock();
    #[cfg(target_os = "linux")]
    let threads_before = slow_sites_threads();
    let server = SlowServer::start(&[Site::new("x", Duration::ZERO)]).unwrap();
    let address = server.address();
    assert_eq!(fetch(&server.url("x")).unwrap().status, 200);
    #[cfg(target_os = "linux")]
    assert_eq!(slow_sites_threads(), threads_before + 1);
    // A connection in the middle of a slow request must not hold the drop up either.
    let mut lingering = std::net::TcpStream::connect(address).unwrap();
    lingering
        .write_all(b"GET /delay/60000 HTTP/1.1\r\n\r\n")
        .unwrap();

    let started = Instant::now();
    within(WATCHDOG, move || drop(server));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    #[cfg(target_os = "linux")]
    assert_eq!(slow_sites_threads(), threads_before);
    let refused = std::net::TcpStream::connect(address).map(drop).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    // The lingering connection was closed too: end-of-file if its task had read the request,
    // a reset if it had not (unread data); never a wait.
    lingering.set_read_timeout(Some(WATCHDOG)).unwrap();
    match lingering.read(&mut [0; 16]) {
        Ok(0) => {}
        Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("the lingering connection should be closed, got {other:?}"),
    }
}

/// Proves that a site name that cannot be a path is refused when the server starts.
#[test]
fn the_server_refuses_site_names_that_are_not_paths() {
    let error = SlowServer::start(&[Site::new("a/b", Duration::ZERO)]).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error
            .to_string()
            .contains("the site name `a/b` cannot be served"),
        "{error}"
    );
}
