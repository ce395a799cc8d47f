//! hyper on miniloop, proved: hyper's HTTP/1 server serves on a miniloop `TcpListener`, and
//! hyper's HTTP/1 client fetches from it and from the lessons' slow-sites server, all through
//! hyper-util's `TokioIo` over miniloop's `tokio-io` traits, with `miniloop::spawn` running
//! hyper's connection futures. `examples/hyper_hello.rs` is checked here too.
//! Loopback only; every test runs under a watchdog.
// Only with the `lessons` feature (on by default): some tests fetch from the slow-sites server.
#![cfg(feature = "lessons")]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use common::{example_path, within, WATCHDOG};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use miniloop::http::{Site, SlowServer};
use miniloop::net::{TcpListener, TcpStream};

/// The test server's service: `GET /PATH` answers "you asked for /PATH"; `POST` answers with
/// the length and the byte sum of the body it received.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let text = if request.method() == Method::POST {
        let body = request.into_body().collect().await?.to_bytes();
        let sum: u64 = body.iter().map(|&byte| u64::from(byte)).sum();
        format!("{} bytes, sum {sum}", body.len())
    } else {
        format!("you asked for {}", request.uri().path())
    };
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// hyper's server on a miniloop listener: accepts and spawns a hyper connection per client;
/// returns the address to reach it.
async fn start_hyper_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(miniloop::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            drop(miniloop::spawn(async move {
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await
                    .unwrap();
            }));
        }
    }));
    address
}

/// hyper's client on a new miniloop connection to `address`; its connection future runs on a
/// task of its own.
async fn hyper_client(address: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(address).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    drop(miniloop::spawn(async move {
        let _ = connection.await; // ends with an error when the server closes first: fine
    }));
    sender
}

/// Sends `request` and returns the status and the body as text.
async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> (StatusCode, String) {
    // Ready first: the connection's task may still be finishing the previous exchange (on
    // the multi-thread runtime it runs on another worker at the same time), and a request
    // sent before then is refused ("connection was not ready").
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A `GET` in origin form (`GET /path`, the host in `Host:`), as a client sends it to a server
/// (the absolute form, `GET http://host/path`, is for proxies).
fn get(address: SocketAddr, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header(hyper::header::HOST, address.to_string())
        .body(Full::default())
        .unwrap()
}

/// hyper's server and client talking over miniloop sockets: three requests on one keep-alive
/// connection, a 1 MiB upload (more than the socket buffers hold, so hyper's reads and writes
/// wait for the sockets), five connections at once, and miniloop's own HTTP client against
/// hyper's server.
async fn hyper_conversation() {
    let address = start_hyper_server().await;
    let mut sender = hyper_client(address).await;
    for path in ["/one", "/two", "/three"] {
        let (status, body) = send(&mut sender, get(address, path)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("you asked for {path}"));
    }

    let upload: Vec<u8> = (0..1 << 20).map(|n: u32| (n % 256) as u8).collect();
    let sum: u64 = upload.iter().map(|&byte| u64::from(byte)).sum();
    let post = Request::post("/upload")
        .header(hyper::header::HOST, address.to_string())
        .body(Full::new(Bytes::from(upload)))
        .unwrap();
    let (status, body) = send(&mut sender, post).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, format!("1048576 bytes, sum {sum}"));

    let clients = (0..5).map(|n| {
        miniloop::spawn(async move {
            let mut sender = hyper_client(address).await;
            send(&mut sender, get(address, &format!("/client{n}")))
                .await
                .1
        })
    });
    let answers: Vec<String> = miniloop::join_all(clients)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<String> = (0..5)
        .map(|n| format!("you asked for /client{n}"))
        .collect();
    assert_eq!(answers, expected);

    let response = miniloop::http::get(&format!("http://{address}/from-miniloop"))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "you asked for /from-miniloop");
}

/// The conversation on the single loop.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn hyper_serves_and_fetches_on_miniloop() {
    within(WATCHDOG, || miniloop::run(hyper_conversation()));
}

/// The same conversation on the multi-thread runtime, two workers: hyper's connection tasks
/// move between workers, and their sockets wait in the driver the workers share
/// (`src/multi_thread/driver.rs`).
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn hyper_serves_and_fetches_on_the_multi_thread_runtime() {
    within(WATCHDOG, || {
        let runtime = miniloop::multi_thread::Runtime::builder()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(hyper_conversation());
    });
}

/// Proves hyper's client against a server it was not written with: the lessons' slow-sites
/// server (`src/http/slow_sites.rs`, miniloop's own HTTP code, on a thread of its own) answers
/// hyper's request after the site's delay, and closes the connection as it says it will.
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn hyper_fetches_from_the_slow_sites_server() {
    let server = SlowServer::start(&[Site::new("hare", Duration::from_millis(20))])
        .expect("the slow-sites server starts on a free port");
    let address = server.address();
    let (status, body) = within(WATCHDOG, move || {
        miniloop::run(async move {
            let mut sender = hyper_client(address).await;
            send(&mut sender, get(address, "/hare")).await
        })
    });
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("hare"), "{body}");
}

/// Proves `examples/hyper_hello.rs` on each of its four runtimes (miniloop's loop and
/// multi-thread runtime, and tokio's two): with `--fetch 2` it serves, fetches its
/// own page twice with hyper's client, and prints both answers; a bad argument exits with 2
/// and the usage.
#[test]
#[cfg_attr(miri, ignore = "starts a child process")]
fn the_hyper_hello_example_serves_and_fetches_itself_on_every_runtime() {
    for runtime in ["miniloop", "tokio", "miniloop-mt", "tokio-mt"] {
        let output = Command::new(example_path("hyper_hello"))
            .args(["--runtime", runtime, "--port", "0", "--fetch", "2"])
            .output()
            .expect("the example runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{runtime}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 3, "{stdout}");
        assert!(
            lines[0].starts_with(&format!(
                "hyper on {runtime}: listening on http://127.0.0.1:"
            )),
            "{stdout}"
        );
        assert_eq!(lines[1..], ["GET / -> 200 OK: Hello, world!"; 2]);
    }
    let output = Command::new(example_path("hyper_hello"))
        .args(["--runtime", "nodejs"])
        .output()
        .expect("the example runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown runtime `nodejs`"), "{stderr}");
    assert!(
        stderr.contains("usage: cargo run --release --example hyper_hello"),
        "{stderr}"
    );
}
