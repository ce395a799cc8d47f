//! One client's task on miniloop: read, run every complete command, write the replies once,
//! read again. The tokio twin (`examples/35_redis_tokio/main.rs`) has the same loop with
//! tokio's sockets; everything else is the shared command code.
//!
//! # Rules this module keeps
//! - Pipelining: every complete request in the buffer runs before anything is written, and
//!   their replies leave in one write, as Redis does. A client that sends sixteen commands
//!   in one packet gets sixteen replies in one packet.
//! - Output is bounded: once [`OUTPUT_HIGH_WATER`] (64 KiB) of replies wait, they are written
//!   before the next command runs, and while they cannot be written the client's commands
//!   are not read. A client that sends and never reads holds at most 64 KiB of replies plus
//!   the one being built (a value is at most 512 MiB), and its commands wait in its own
//!   socket, not in our memory.
//! - A client that accepts none of its pending replies for the stall limit (10 s unless
//!   `--stall-limit` says otherwise) is disconnected, with a line on stderr: it reads
//!   nothing, and its replies would wait for ever.
//! - Input is bounded: a request still incomplete past [`MAX_QUERY_BUFFER`] (1 GiB, Redis's
//!   `client-query-buffer-limit`) closes the connection.
//! - Nothing a client does stops the others: every wait here is an `.await`, so a slow, silent
//!   or half-sent client is a task that waits, and the loop serves the rest meanwhile.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use miniloop::net::TcpStream;
use miniloop::{select, spawn_eager, timeout, Either};

use crate::commands::{self, Ctx, Outcome, Session};
use crate::resp::{self, InputBuffer, Parsed, RequestParser};
use crate::settings::Config;
use crate::shared::{lock, ClientId, Delivery, SharedState};
use crate::{load_from_origin, Miniloop};

/// Replies waiting beyond this are written before the next command runs: 64 KiB.
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// A request still incomplete past this closes the connection: 1 GiB.
pub const MAX_QUERY_BUFFER: usize = 1024 * 1024 * 1024;
/// An output buffer emptied after a large reply is shrunk back to this.
const OUTPUT_KEPT: usize = 64 * 1024;

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed, or the socket failed.
    Closed,
    /// `QUIT`, or a protocol error (its reply was sent).
    Done,
    /// The client read none of its replies for the stall limit.
    Stalled,
    /// Too many unread messages: evicted by a publisher.
    Evicted,
    /// `SHUTDOWN`.
    Shutdown,
}

impl From<io::Error> for End {
    fn from(_: io::Error) -> End {
        End::Closed
    }
}

/// The client's registration in the shared state, undone however the task ends (also when
/// the loop drops it at shutdown).
struct Registration {
    shared: SharedState,
    id: ClientId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.shared).disconnect(self.id);
    }
}

/// The task of one connection.
pub async fn serve_client(
    stream: TcpStream,
    peer: SocketAddr,
    shared: SharedState,
    config: Arc<Config>,
) {
    // Replies are written once per batch, so there is nothing for Nagle's algorithm to
    // gather, only a delayed ACK to wait for (see the chapter: mini-redis).
    let _ = stream.set_nodelay(true);
    let id = lock(&shared).connect(peer.to_string());
    let registration = Registration {
        shared: shared.clone(),
        id,
    };
    let mut client = Client {
        stream,
        shared,
        config,
        session: Session::new(id),
        input: InputBuffer::new(),
        parser: RequestParser::new(),
        out: Vec::new(),
    };
    let end = client.run().await;
    match end {
        End::Stalled => eprintln!(
            "redis: disconnected client {id} ({peer}): it read none of its replies for {:?} \
             (the stall limit; `--stall-limit` changes it)",
            client.config.stall_limit
        ),
        End::Evicted => eprintln!(
            "redis: disconnected client {id} ({peer}): over 32 MiB of unread pub/sub messages"
        ),
        End::Closed | End::Done | End::Shutdown => {}
    }
    drop(registration);
}

/// Everything one connection's task owns.
struct Client {
    stream: TcpStream,
    shared: SharedState,
    config: Arc<Config>,
    session: Session,
    input: InputBuffer,
    parser: RequestParser,
    /// Replies not written yet.
    out: Vec<u8>,
}

impl Client {
    async fn run(&mut self) -> End {
        loop {
            if let Err(end) = self.run_requests().await {
                return end;
            }
            if let Err(end) = self.flush().await {
                return end;
            }
            let read = if self.session.subscriptions > 0 {
                self.read_or_message().await
            } else {
                self.read().await
            };
            if let Err(end) = read {
                return end;
            }
        }
    }

    /// Runs every complete request in the input buffer, appending the replies.
    async fn run_requests(&mut self) -> Result<(), End> {
        loop {
            let parsed = match self.parser.parse(self.input.unread()) {
                Ok(parsed) => parsed,
                Err(error) => {
                    resp::error(&mut self.out, &error.to_string());
                    self.flush().await?;
                    return Err(End::Done);
                }
            };
            let used = match parsed {
                Parsed::Incomplete if self.input.len() > MAX_QUERY_BUFFER => {
                    resp::error(
                        &mut self.out,
                        "ERR Protocol error: a request over 1 GiB; send smaller values",
                    );
                    self.flush().await?;
                    return Err(End::Done);
                }
                Parsed::Incomplete => return Ok(()),
                Parsed::Nothing { used } => {
                    self.input.consume(used);
                    continue;
                }
                Parsed::Request { used } => used,
            };
            let outcome = {
                let request = self.parser.request(self.input.unread());
                let mut ctx = Ctx {
                    shared: &self.shared,
                    session: &mut self.session,
                    out: &mut self.out,
                    runtime: &Miniloop {
                        origin: &self.config.origin,
                    },
                };
                commands::execute(&mut ctx, request)
            };
            self.input.consume(used);
            match outcome {
                Outcome::Replied => {}
                Outcome::Fetch(key) => self.fetch(key).await?,
                Outcome::Block { deadline } => self.wait_for_list(deadline).await?,
                Outcome::Quit => {
                    self.flush().await?;
                    return Err(End::Done);
                }
                Outcome::Shutdown => return Err(End::Shutdown),
            }
            if self.out.len() >= OUTPUT_HIGH_WATER {
                self.flush().await?;
            }
        }
    }

    /// `FETCH`, sync first (lesson 19): the load runs as an eager task, polled at once on
    /// this stack. A cache hit finishes inside `spawn_eager`, and its reply is appended in
    /// this same poll of the connection's task: no suspension, no trip through the run
    /// queue. A miss runs up to its first real wait; then this client (only this one) waits.
    async fn fetch(&mut self, key: Vec<u8>) -> Result<(), End> {
        let origin = self.config.origin.clone();
        let loading = spawn_eager(commands::fetch(self.shared.clone(), key, move |path| {
            load_from_origin(origin, path)
        }));
        if !loading.is_finished() {
            // The earlier replies of a pipeline go out before we wait.
            self.flush().await?;
        }
        let result = loading
            .await
            .unwrap_or_else(|error| Err(format!("ERR FETCH failed: {error}")));
        commands::fetch_reply(&mut self.out, &result);
        Ok(())
    }

    /// `BLPOP` on empty lists: waits until another client's push lands in the mailbox, the
    /// deadline passes (reply `*-1`), or the client leaves. Bytes it sends meanwhile are
    /// kept, and run after the `BLPOP` is answered, as Redis does.
    async fn wait_for_list(&mut self, deadline: Option<Instant>) -> Result<(), End> {
        self.flush().await?;
        loop {
            let Client {
                stream,
                shared,
                session,
                input,
                out,
                ..
            } = self;
            let id = session.id;
            let served = poll_fn(|cx| lock(shared).poll_mailbox(id, out, cx));
            let read = read_into(stream, input);
            let waited = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    timeout(left, select(served, read)).await
                }
                None => Ok(select(served, read).await),
            };
            match waited {
                Ok(Either::Left(Delivery::Delivered)) => return Ok(()),
                Ok(Either::Left(Delivery::Evicted)) => return Err(End::Closed),
                Ok(Either::Right(read)) => {
                    if read? == 0 {
                        return Err(End::Closed);
                    }
                    if self.input.len() > MAX_QUERY_BUFFER {
                        return Err(End::Closed);
                    }
                }
                Err(_elapsed) => {
                    let mut shared = lock(&self.shared);
                    let was_waiting = shared.unblock(id);
                    // Served in the same turn as the deadline: the element is the answer.
                    if !was_waiting && shared.take_mailbox(id, &mut self.out) {
                        return Ok(());
                    }
                    resp::null_array(&mut self.out);
                    return Ok(());
                }
            }
        }
    }

    /// Reads more requests; `Err(Closed)` when the client has gone.
    async fn read(&mut self) -> Result<(), End> {
        match read_into(&mut self.stream, &mut self.input).await? {
            0 => Err(End::Closed),
            _ => Ok(()),
        }
    }

    /// A subscriber waits for a request or a message, whichever comes first: the read is
    /// polled first, so a flood of messages cannot stop it from unsubscribing.
    async fn read_or_message(&mut self) -> Result<(), End> {
        let Client {
            stream,
            shared,
            session,
            input,
            out,
            ..
        } = self;
        let id = session.id;
        let read = read_into(stream, input);
        let message = poll_fn(|cx| lock(shared).poll_mailbox(id, out, cx));
        match select(read, message).await {
            Either::Left(Err(error)) => Err(error.into()),
            Either::Left(Ok(0)) => Err(End::Closed),
            Either::Left(Ok(_)) => {
                // Messages that came with the request go out with its reply.
                lock(&self.shared).take_mailbox(id, &mut self.out);
                Ok(())
            }
            Either::Right(Delivery::Delivered) => Ok(()),
            Either::Right(Delivery::Evicted) => Err(End::Evicted),
        }
    }

    /// Writes every pending reply, or ends the connection: the client closed, it took no
    /// byte for the stall limit, or (a subscriber) it was evicted meanwhile.
    async fn flush(&mut self) -> Result<(), End> {
        let mut written = 0;
        while written < self.out.len() {
            let write = timeout(
                self.config.stall_limit,
                self.stream.write(&self.out[written..]),
            );
            let id = self.session.id;
            let shared = &self.shared;
            let evicted = poll_fn(|cx| lock(shared).poll_evicted(id, cx));
            match select(write, evicted).await {
                Either::Left(Ok(Ok(0))) => return Err(End::Closed),
                Either::Left(Ok(Ok(count))) => written += count,
                Either::Left(Ok(Err(error))) => return Err(error.into()),
                Either::Left(Err(_elapsed)) => return Err(End::Stalled),
                Either::Right(()) => return Err(End::Evicted),
            }
        }
        self.out.clear();
        if self.out.capacity() > 16 * OUTPUT_KEPT {
            self.out.shrink_to(OUTPUT_KEPT);
        }
        Ok(())
    }
}

/// One read into the buffer's spare room; `Ok(0)` when the client closed its side.
async fn read_into(stream: &mut TcpStream, input: &mut InputBuffer) -> io::Result<usize> {
    let count = stream.read(input.spare()).await?;
    input.filled(count);
    Ok(count)
}
