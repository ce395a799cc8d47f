//! The slow-sites server's side of one connection: read the request, choose the answer and its
//! delay, wait, answer, close.

use std::fmt::Write as _;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use super::Site;
use crate::net::TcpStream;

/// The longest request head the server reads, and the longest `/delay/<ms>` it honours.
const MAX_REQUEST_BYTES: usize = 8 * 1024;
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A client that connects and sends nothing is dropped after this long.
const REQUEST_TIME_LIMIT: Duration = Duration::from_secs(10);

/// One connection's task: read the request, wait the site's delay, answer, close.
pub(super) async fn answer_connection(mut stream: TcpStream, sites: Arc<[Site]>) {
    let request = crate::timeout(REQUEST_TIME_LIMIT, read_request_head(&mut stream)).await;
    let answer = match request {
        Ok(Ok(head)) => route(&head, &sites),
        Ok(Err(RequestError::Closed)) | Err(_) => return,
        Ok(Err(RequestError::TooLarge)) => Answer::now(431, "the request head is over 8 KiB\n"),
    };
    if !answer.delay.is_zero() {
        crate::sleep(answer.delay).await;
    }
    let bytes = answer.into_bytes();
    if stream.write_all(&bytes).await.is_ok() {
        let _ = stream.shutdown(Shutdown::Write);
    }
}

#[derive(Debug)]
enum RequestError {
    Closed,
    TooLarge,
}

/// Reads the request up to its empty line (a `GET` has no body) and returns it as text.
async fn read_request_head(stream: &mut TcpStream) -> Result<String, RequestError> {
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    let is_complete = |head: &[u8]| {
        head.windows(4).any(|window| window == b"\r\n\r\n") || head.ends_with(b"\n\n")
    };
    while !is_complete(&head) {
        if head.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(RequestError::Closed),
            Ok(read) => head.extend_from_slice(&chunk[..read]),
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// What to send back, and after how long.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
    delay: Duration,
}

impl Answer {
    fn now(status: u16, body: impl Into<String>) -> Answer {
        Answer {
            status,
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            _ => "Request Header Fields Too Large",
        };
        format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.status,
            self.body.len(),
            self.body
        )
        .into_bytes()
    }
}

/// Chooses the answer for a request head.
fn route(head: &str, sites: &[Site]) -> Answer {
    let request_line = head.lines().next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (Some(method), Some(target), Some(_version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Answer::now(400, "expected a request line like `GET /google HTTP/1.1`\n");
    };
    if method != "GET" {
        return Answer::now(405, format!("only GET is served here, not {method}\n"));
    }
    let name = target_path(target).trim_start_matches('/');
    if name.is_empty() {
        return Answer::now(200, site_list(sites));
    }
    if let Some(millis) = name.strip_prefix("delay/") {
        return match millis.parse::<u64>().map(Duration::from_millis) {
            Ok(delay) if delay <= MAX_DELAY => Answer {
                status: 200,
                body: format!("answered after {millis} ms\n"),
                delay,
            },
            _ => Answer::now(
                400,
                format!("`/delay/{millis}` needs a whole number of milliseconds up to 60000\n"),
            ),
        };
    }
    match sites.iter().find(|site| site.name == name) {
        Some(site) => Answer {
            status: 200,
            body: format!("Hello from {name}, after {:?}\n", site.delay),
            delay: site.delay,
        },
        None => Answer::now(
            404,
            format!("no site called `{name}` here\n{}", site_list(sites)),
        ),
    }
}

/// The path of a request target, without its query. RFC 9112 (section 3.2.2) says a server
/// must accept the absolute form too (`GET http://host:port/google HTTP/1.1`, what a client
/// sends to a proxy, and hyper's client when asked to), so its scheme and authority go.
fn target_path(target: &str) -> &str {
    let path = match target.split_once("://") {
        Some((_scheme, rest)) => rest.find(['/', '?']).map_or("", |at| &rest[at..]),
        None => target,
    };
    path.split('?').next().unwrap_or_default()
}

/// The index page, also the body of every 404: each site and its delay.
fn site_list(sites: &[Site]) -> String {
    let mut list = String::from("sites on this server (GET /<name>):\n");
    for site in sites {
        let _ = writeln!(list, "  /{}  answers after {:?}", site.name, site.delay);
    }
    list.push_str("  /delay/<ms>  answers after <ms> milliseconds\n");
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITES: [Site; 2] = [
        Site::new("fast", Duration::ZERO),
        Site::new("slow", Duration::from_millis(5)),
    ];

    fn answer(request_line: &str) -> Answer {
        route(&format!("{request_line}\r\nHost: x\r\n\r\n"), &SITES)
    }

    #[test]
    fn requests_are_routed_by_name_and_delay() {
        let slow = answer("GET /slow HTTP/1.1");
        assert_eq!((slow.status, slow.delay), (200, Duration::from_millis(5)));
        let delayed = answer("GET /delay/7?x=1 HTTP/1.1");
        assert_eq!(
            (delayed.status, delayed.delay),
            (200, Duration::from_millis(7))
        );
        assert_eq!(answer("GET / HTTP/1.1").status, 200);
    }

    /// Guarantee: a request target in absolute form is routed by its path, as RFC 9112 asks
    /// (it was a 404 for "no site called `http:`").
    #[test]
    fn absolute_form_targets_are_routed_by_their_path() {
        let slow = answer("GET http://127.0.0.1:8000/slow HTTP/1.1");
        assert_eq!((slow.status, slow.delay), (200, Duration::from_millis(5)));
        let delayed = answer("GET http://localhost/delay/7?x=1 HTTP/1.1");
        assert_eq!(
            (delayed.status, delayed.delay),
            (200, Duration::from_millis(7))
        );
        for index in [
            "GET http://localhost HTTP/1.1",
            "GET http://localhost?x HTTP/1.1",
        ] {
            let answer = answer(index);
            assert_eq!(answer.status, 200, "{index}");
            assert!(answer.body.starts_with("sites on this server"), "{index}");
        }
        assert_eq!(answer("GET http://localhost/nope HTTP/1.1").status, 404);
    }

    #[test]
    fn bad_requests_get_4xx_answers_at_once() {
        let missing = answer("GET /nope HTTP/1.1");
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("/fast") && missing.body.contains("/slow"));
        assert_eq!(answer("POST /fast HTTP/1.1").status, 405);
        assert_eq!(answer("GET /delay/soon HTTP/1.1").status, 400);
        assert_eq!(answer("GET /delay/60001 HTTP/1.1").status, 400);
        assert_eq!(answer("hello").status, 400);
        assert!(answer("GET /nope HTTP/1.1").delay.is_zero());
    }
}
