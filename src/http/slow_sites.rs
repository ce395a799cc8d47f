//! The slow-sites server: an HTTP server on miniloop whose pages take a chosen time to answer.
//!
//! Lessons 01 and 02 need websites that answer slowly and always at the same pace, without
//! the internet (chapter: `docs/reactor.md`, "The HTTP client on top"). This server plays them: `GET /google` answers after Google's delay,
//! `GET /delay/250` after 250 ms, and `GET /` lists the sites. It is itself a miniloop
//! program: one task accepts connections and spawns a task per connection, which reads the
//! request, sleeps, and answers.
//!
//! Start it in your process with [`SlowServer::start`] (its own thread and loop, on a free
//! loopback port, stopped when the handle is dropped), or on its own with
//! `cargo run --example slow_server -- --port 8080`.
//!
//! # Rules this module keeps
//! - It listens where it is told, and the helpers only ever tell it `127.0.0.1`.
//! - One request per connection, answered with `Content-Length` and `Connection: close`.
//! - Dropping a [`SlowServer`] stops its loop, closes its sockets and joins its thread before
//!   `drop` returns: no thread outlives the handle, and the port refuses connections after.
//!
//! # Why its own thread and loop, and not tasks in the lesson's loop
//! Lesson 01 has no event loop to share, and in lesson 02 the server's tasks would mix with the
//! five requests in every trace and every breakpoint. On its own thread the server is a
//! separate program, as a website would be, and stopping it is one remote wake.

mod routes;

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::net::TcpListener;
use routes::answer_connection;

/// The five sites of the lessons, with the walkthrough's names and our delays.
pub const LESSON_SITES: [Site; 5] = [
    Site::new("google", Duration::from_millis(600)),
    Site::new("facebook", Duration::from_millis(200)),
    Site::new("amazon", Duration::from_millis(400)),
    Site::new("apple", Duration::from_millis(300)),
    Site::new("netflix", Duration::from_millis(500)),
];

/// One page of the slow-sites server: its name (the path, without `/`) and its delay. Made by
/// [`Site::new`]; `#[non_exhaustive]` keeps room for more (a status, a body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Site {
    /// The path the site answers on, without the leading `/`: `google` for `GET /google`.
    pub name: &'static str,
    /// How long the server waits before it answers.
    pub delay: Duration,
}

impl Site {
    /// A site called `name` that answers after `delay`.
    pub const fn new(name: &'static str, delay: Duration) -> Site {
        Site { name, delay }
    }

    /// The same site with its delay multiplied by `factor` (the lessons' time scale).
    ///
    /// # Panics
    /// If `factor` is negative, not finite, or makes the delay overflow (as
    /// [`Duration::mul_f64`]).
    #[must_use = "`scaled` returns a new site and leaves this one as it was"]
    pub fn scaled(self, factor: f64) -> Site {
        Site::new(self.name, self.delay.mul_f64(factor))
    }
}

/// The slow-sites server, running on a background thread with its own event loop.
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// use miniloop::http::{Site, SlowServer};
///
/// let server = SlowServer::start(&[Site::new("tortoise", Duration::from_millis(30))]).unwrap();
/// let started = Instant::now();
/// let response = miniloop::run(miniloop::http::get(&server.url("tortoise"))).unwrap();
/// assert_eq!(response.status, 200);
/// assert!(started.elapsed() >= Duration::from_millis(30));
/// drop(server); // stops the loop and joins the thread
/// ```
#[derive(Debug)]
pub struct SlowServer {
    address: SocketAddr,
    stop: Arc<StopSignal>,
    /// `Option` so that `Drop` can take it to join it.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowServer {
    /// Starts the server on a free port of `127.0.0.1`.
    ///
    /// # Errors
    /// If a site name is not a plain path segment (letters, digits, `-`, `_`; not `delay`),
    /// or the thread or the socket cannot be created.
    pub fn start(sites: &[Site]) -> io::Result<SlowServer> {
        SlowServer::start_on("127.0.0.1:0", sites)
    }

    /// Starts the server on `address` (`127.0.0.1:8080`; port 0 picks a free one).
    ///
    /// # Errors
    /// As [`SlowServer::start`], and if `address` is in use.
    pub fn start_on(address: &str, sites: &[Site]) -> io::Result<SlowServer> {
        check_site_names(sites)?;
        let sites: Arc<[Site]> = sites.into();
        let stop = Arc::new(StopSignal::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let address = address.to_owned();
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("slow-sites".into())
                .spawn(move || run_server_thread(&address, sites, &stop, &ready_tx))?
        };
        // The thread reports once it listens (or why it could not); until then there is no
        // address to hand out.
        let bound = ready_rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "the slow-sites server thread stopped before it listened; see its panic above",
            ))
        });
        match bound {
            Ok(address) => Ok(SlowServer {
                address,
                stop,
                thread: Some(thread),
            }),
            Err(error) => {
                let _ = thread.join();
                Err(error)
            }
        }
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The URL of `path` on this server: `url("google")` is `http://127.0.0.1:PORT/google`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.address, path.trim_start_matches('/'))
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread was printed when it happened; re-raising it here
            // could abort the process if we are already unwinding.
            let _ = thread.join();
        }
    }
}

/// The server thread: bind, report the address, serve until stopped. The loop's `Drop` then
/// cancels the connection tasks and closes every socket before the thread ends.
fn run_server_thread(
    address: &str,
    sites: Arc<[Site]>,
    stop: &StopSignal,
    ready_tx: &mpsc::Sender<io::Result<SocketAddr>>,
) {
    // Quiet even under `MINILOOP_TRACE=1`: the lessons' trace should show the lesson's loop.
    let event_loop = crate::EventLoop::builder().trace(false).build();
    event_loop.run_until_complete(async {
        let listener = match TcpListener::bind(address).await {
            Ok(listener) => listener,
            Err(error) => {
                let _ = ready_tx.send(Err(error));
                return;
            }
        };
        let _ = ready_tx.send(listener.local_addr());
        let serving = pin!(serve_sites(listener, sites));
        until_stopped(stop, serving).await;
    });
}

/// Polls `future` until `stop` is signalled.
async fn until_stopped(stop: &StopSignal, mut future: impl Future<Output = ()> + Unpin) {
    poll_fn(|cx| match stop.poll_stopped(cx) {
        Poll::Ready(()) => Poll::Ready(()),
        Poll::Pending => Pin::new(&mut future).poll(cx),
    })
    .await;
}

/// Serves `sites` on `listener` for ever: an accept loop that spawns a task per connection.
/// This is what `cargo run --example slow_server` runs.
///
/// The future never completes; drop it to stop serving. A failed `accept` (out of file
/// descriptors, say) is reported on stderr and retried 100 ms later, so the server keeps
/// serving the connections it has.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use miniloop::http::{slow_sites, Site};
/// use miniloop::net::TcpListener;
///
/// miniloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let url = format!("http://{}/hare", listener.local_addr().unwrap());
///     let sites = [Site::new("hare", Duration::ZERO)];
///     miniloop::spawn(slow_sites::serve(listener, &sites));
///     let response = miniloop::http::get(&url).await.unwrap();
///     assert!(response.text().contains("hare"));
/// });
/// ```
pub fn serve(listener: TcpListener, sites: &[Site]) -> impl Future<Output = ()> + Send + 'static {
    // A copy of the sites, so the future borrows nothing and can be spawned.
    serve_sites(listener, sites.into())
}

async fn serve_sites(listener: TcpListener, sites: Arc<[Site]>) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                drop(crate::spawn(answer_connection(stream, Arc::clone(&sites))));
            }
            Err(error) => {
                crate::trace::warn(
                    crate::trace::Warning::SlowSitesServer,
                    format_args!("accepting a connection failed: {error}; retrying"),
                );
                crate::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Site names become paths, so they must be plain path segments.
fn check_site_names(sites: &[Site]) -> io::Result<()> {
    for site in sites {
        let is_plain = !site.name.is_empty()
            && site
                .name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
        if !is_plain || site.name == "delay" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the site name `{}` cannot be served; names are paths, so use letters, \
                     digits, `-` and `_` (and not `delay`, which is taken), like `google`",
                    site.name.escape_debug()
                ),
            ));
        }
    }
    Ok(())
}

/// Tells the server's loop, from another thread, to stop: a flag and the waker of the task
/// that waits for it. Waking that task from here goes through the loop's remote wake, which
/// interrupts the reactor's blocking wait.
#[derive(Debug, Default)]
struct StopSignal {
    state: Mutex<StopState>,
}

#[derive(Debug, Default)]
struct StopState {
    is_stopped: bool,
    waker: Option<Waker>,
}

impl StopSignal {
    fn lock(&self) -> MutexGuard<'_, StopState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn stop(&self) {
        let waker = {
            let mut state = self.lock();
            state.is_stopped = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake(); // outside the lock: waking runs the loop's code
        }
    }

    fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.is_stopped {
            return Poll::Ready(());
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_must_be_plain_path_segments() {
        for bad in ["", "a/b", "delay", "sp ace"] {
            assert!(
                check_site_names(&[Site::new(bad, Duration::ZERO)]).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_site_names(&LESSON_SITES).is_ok());
    }
}
