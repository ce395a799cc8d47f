//! hyper's hello-world server on miniloop, and the same server on tokio to compare with.
//!
//! hyper knows nothing about miniloop. It asks for a connection that implements its
//! `hyper::rt::Read`/`Write`; hyper-util's `TokioIo` makes one out of anything with tokio's
//! `AsyncRead`/`AsyncWrite`, which miniloop's `TcpStream` has (the `tokio-io` feature). hyper
//! needs no executor for HTTP/1: each connection is a future, and we spawn it ourselves.
//!
//! Run it:     cargo run --release --example hyper_hello
//!             curl http://127.0.0.1:3000/
//!             cargo run --release --example hyper_hello -- --runtime tokio
//!             cargo run --release --example hyper_hello -- --runtime miniloop-mt
//!             cargo run --example hyper_hello -- --port 0 --fetch 3
//! Read:       docs/reactor.md, "hyper on miniloop"
//! Bench:      scripts/bench_http.sh drives both runtimes with `wrk` (`--multi-thread`: the
//!             two multi-thread runtimes)
//!
//! Without `--fetch` it serves on 127.0.0.1 until you stop it (Ctrl-C). With `--fetch N` it
//! serves on a spawned task, fetches its own page N times with hyper's client over one
//! keep-alive connection, prints each answer, and exits.

use std::convert::Infallible;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What `--help` and every usage error print.
const USAGE: &str =
    "usage: cargo run --release --example hyper_hello -- [--runtime R] [--port PORT] [--fetch N]
  --runtime R   miniloop (default: the single-thread loop) or tokio (its current-thread
                runtime), for comparison; miniloop-mt or tokio-mt for the multi-thread,
                work-stealing runtimes, one worker per core
  --port PORT   the port to listen on, on 127.0.0.1 (default 3000; 0 picks a free one)
  --fetch N     fetch the page N times with hyper's client, print the answers, and exit
  --help        print this message";

/// The page every request gets.
const HELLO: &str = "Hello, world!\n";

/// Which event loop runs the server.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Runtime {
    Miniloop,
    Tokio,
    MiniloopMultiThread,
    TokioMultiThread,
}

impl Runtime {
    /// The name `--runtime` takes, which the first line printed says too.
    fn name(self) -> &'static str {
        match self {
            Runtime::Miniloop => "miniloop",
            Runtime::Tokio => "tokio",
            Runtime::MiniloopMultiThread => "miniloop-mt",
            Runtime::TokioMultiThread => "tokio-mt",
        }
    }
}

/// The command line, read.
#[derive(Debug)]
struct Options {
    runtime: Runtime,
    port: u16,
    fetches: Option<u32>,
}

/// Reads the arguments: `Ok(None)` for `--help`, an error message for anything unusable.
fn options_from_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut options = Options {
        runtime: Runtime::Miniloop,
        port: 3000,
        fetches: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str, example: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| format!("`{name}` needs a value after it, like `{name} {example}`"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--runtime" => {
                let name = value("--runtime", "tokio")?;
                let all = [
                    Runtime::Miniloop,
                    Runtime::Tokio,
                    Runtime::MiniloopMultiThread,
                    Runtime::TokioMultiThread,
                ];
                options.runtime = all
                    .into_iter()
                    .find(|runtime| runtime.name() == name)
                    .ok_or_else(|| {
                        format!(
                            "unknown runtime `{name}`; choose `miniloop`, `tokio`, \
                             `miniloop-mt` or `tokio-mt`"
                        )
                    })?;
            }
            "--port" => {
                let text = value("--port", "3000")?;
                options.port = text.parse().map_err(|_| {
                    format!("the port `{text}` is not a number from 0 to 65535; try `--port 3000`")
                })?;
            }
            "--fetch" => {
                let text = value("--fetch", "3")?;
                let count = text.parse().map_err(|_| {
                    format!("`--fetch` takes a count of requests, like `--fetch 3`; got `{text}`")
                })?;
                options.fetches = Some(count);
            }
            other => return Err(format!("unknown argument `{other}`; see `--help`")),
        }
    }
    Ok(Some(options))
}

/// The service: every request gets the same small page.
async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        HELLO.as_bytes(),
    ))))
}

/// Serves HTTP/1 on one connection until the client closes it. The same function runs on
/// both runtimes: `TokioIo` takes either runtime's socket.
async fn serve_connection<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let served = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service_fn(hello))
        .await;
    if let Err(error) = served {
        eprintln!("serving a connection failed: {error}");
    }
}

/// Fetches `/` from `address` `count` times over one keep-alive connection with hyper's
/// client, printing each answer. `connection` is the client's connection future, which the
/// caller has to run (spawn) while the requests go out.
async fn fetch<S>(
    stream: S,
    address: SocketAddr,
    count: u32,
    spawn: impl FnOnce(ClientConnection<S>),
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("the HTTP/1 handshake needs no round trip; it only sets up the connection");
    spawn(connection);
    for _ in 0..count {
        // Origin form, as clients send to servers: the path in the request line, the host in
        // `Host:`.
        let request = Request::get("/")
            .header(hyper::header::HOST, address.to_string())
            .body(Empty::<Bytes>::new())
            .expect("a GET with a valid URI and header is a valid request");
        // Wait until the connection can take a request: its task may still be finishing the
        // previous answer (on another worker, with a multi-thread runtime), and hyper refuses
        // a request sent before that.
        if let Err(error) = sender.ready().await {
            eprintln!("the connection closed: {error}");
            return;
        }
        let response = match sender.send_request(request).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("the request failed: {error}");
                return;
            }
        };
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(error) => {
                eprintln!("reading the body failed: {error}");
                return;
            }
        };
        println!(
            "GET / -> {status}: {}",
            String::from_utf8_lossy(&body).trim_end()
        );
    }
}

/// hyper's client connection over `S`: the future that moves the bytes.
type ClientConnection<S> = hyper::client::conn::http1::Connection<TokioIo<S>, Empty<Bytes>>;

/// miniloop's accept loop: one task per connection. `TCP_NODELAY`, as every HTTP server sets
/// it: a small answer leaves at once instead of waiting for the client's ACK.
async fn accept_on_miniloop(listener: miniloop::net::TcpListener) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        drop(miniloop::spawn(serve_connection(stream)));
    }
}

/// tokio's accept loop, line for line the same.
async fn accept_on_tokio(listener: tokio::net::TcpListener) -> io::Result<()> {
    loop {
        let (stream, _peer) = listener.accept().await?;
        stream.set_nodelay(true)?;
        drop(tokio::spawn(serve_connection(stream)));
    }
}

/// The server on miniloop, or with `--fetch`, the server on a task and the client here. The
/// same future runs on the single loop and inside the multi-thread runtime's `block_on`:
/// `miniloop::spawn` and the sockets work on both.
async fn serve_on_miniloop(options: &Options) -> io::Result<()> {
    use miniloop::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
    let address = listener.local_addr()?;
    println!(
        "hyper on {}: listening on http://{address}/",
        options.runtime.name()
    );
    let Some(count) = options.fetches else {
        return accept_on_miniloop(listener).await;
    };
    let server = miniloop::spawn(accept_on_miniloop(listener));
    let stream = TcpStream::connect(address).await?;
    fetch(stream, address, count, |connection| {
        drop(miniloop::spawn(connection));
    })
    .await;
    server.abort();
    Ok(())
}

/// The same on tokio, line for line.
async fn serve_on_tokio(options: &Options) -> io::Result<()> {
    use tokio::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
    let address = listener.local_addr()?;
    println!(
        "hyper on {}: listening on http://{address}/",
        options.runtime.name()
    );
    let Some(count) = options.fetches else {
        return accept_on_tokio(listener).await;
    };
    let server = tokio::spawn(accept_on_tokio(listener));
    let stream = TcpStream::connect(address).await?;
    fetch(stream, address, count, |connection| {
        drop(tokio::spawn(connection));
    })
    .await;
    server.abort();
    Ok(())
}

/// Starts the chosen runtime and serves on it.
fn run(options: &Options) -> io::Result<()> {
    match options.runtime {
        Runtime::Miniloop => miniloop::run(serve_on_miniloop(options)),
        Runtime::MiniloopMultiThread => miniloop::multi_thread::Runtime::builder()
            .build()?
            .block_on(serve_on_miniloop(options)),
        // tokio's current-thread runtime: one thread, like miniloop's loop.
        Runtime::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()?
            .block_on(serve_on_tokio(options)),
        // And its multi-thread one, one worker per core, like miniloop's.
        Runtime::TokioMultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_io()
            .build()?
            .block_on(serve_on_tokio(options)),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match options_from_args(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}
