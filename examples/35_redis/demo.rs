//! The scripted demo that `cargo run --example 35_redis` (and the tour) runs: the server on
//! a thread of its own, on a free port, and two tiny clients, A and B, that talk to it in
//! plain RESP over `std::net`, printing what they send and what comes back as `redis-cli`
//! prints it. About a second, then `SHUTDOWN`.
//!
//! The server's loop records its trace (`TraceLog`): the demo prints the trace of one
//! `FETCH` hit, and waits on it where the script needs the server to have reached a point
//! (a client blocked, a key's timer fired) rather than sleeping and hoping.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use miniloop::http::{Site, SlowServer};
use miniloop::trace::TraceLog;
use miniloop::EventLoop;

use crate::settings::{Config, DEFAULT_STALL_LIMIT};
use crate::shared::new_state;
use crate::{serve, start_expiry_timer};

/// How long the demo waits for any one answer before it gives up with an error.
const PATIENCE: Duration = Duration::from_secs(20);

/// A reply, as the tiny client reads it.
#[derive(Debug, PartialEq)]
enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// `redis-cli`'s way of printing a reply, one line per element.
    fn lines(&self) -> Vec<String> {
        match self {
            Reply::Status(text) => vec![text.clone()],
            Reply::Error(text) => vec![format!("(error) {text}")],
            Reply::Integer(value) => vec![format!("(integer) {value}")],
            Reply::Bulk(None) | Reply::Array(None) => vec!["(nil)".into()],
            Reply::Bulk(Some(bytes)) => vec![format!("{:?}", String::from_utf8_lossy(bytes))],
            Reply::Array(Some(items)) if items.is_empty() => vec!["(empty array)".into()],
            Reply::Array(Some(items)) => items
                .iter()
                .enumerate()
                .flat_map(|(index, item)| {
                    let prefix = format!("{}) ", index + 1);
                    item.lines()
                        .into_iter()
                        .enumerate()
                        .map(move |(line, text)| {
                            let lead = if line == 0 {
                                prefix.clone()
                            } else {
                                " ".repeat(prefix.len())
                            };
                            format!("{lead}{text}")
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.lines() {
            writeln!(f, "   {line}")?;
        }
        Ok(())
    }
}

/// One of the demo's two clients: a blocking socket, RESP arrays out, replies in.
struct TinyClient {
    name: &'static str,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl TinyClient {
    fn connect(name: &'static str, address: SocketAddr) -> io::Result<TinyClient> {
        let stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(PATIENCE))?;
        Ok(TinyClient {
            name,
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
        })
    }

    /// Sends one command and prints it as typed.
    fn send(&mut self, args: &[&str]) -> io::Result<()> {
        let shown: Vec<String> = args
            .iter()
            .map(|arg| {
                if arg.contains(' ') {
                    format!("{arg:?}")
                } else {
                    (*arg).to_owned()
                }
            })
            .collect();
        println!("{}> {}", self.name, shown.join(" "));
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(request.as_bytes())
    }

    /// Reads one reply and prints it.
    fn print_reply(&mut self) -> io::Result<Reply> {
        let reply = self.reply()?;
        print!("{reply}");
        Ok(reply)
    }

    /// Sends a command and prints its reply.
    fn call(&mut self, args: &[&str]) -> io::Result<Reply> {
        self.send(args)?;
        self.print_reply()
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn reply(&mut self) -> io::Result<Reply> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || {
            rest.parse::<i64>().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {line:?}"))
            })
        };
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(number()?),
            "$" if number()? < 0 => Reply::Bulk(None),
            "$" => {
                let mut bytes = vec![0; number()? as usize + 2];
                self.reader.read_exact(&mut bytes)?;
                bytes.truncate(bytes.len() - 2);
                Reply::Bulk(Some(bytes))
            }
            "*" if number()? < 0 => Reply::Array(None),
            "*" => {
                let items = (0..number()?)
                    .map(|_| self.reply())
                    .collect::<io::Result<_>>()?;
                Reply::Array(Some(items))
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a RESP reply: {line:?}"),
                ))
            }
        })
    }

    /// Sends a command and reads its reply without printing either.
    fn quietly(&mut self, args: &[&str]) -> io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.writer.write_all(request.as_bytes())?;
        self.reply()
    }

    /// Asks `CLIENT LIST`, without printing, until client `id` is blocked.
    fn wait_until_blocked(&mut self, id: u64) -> io::Result<()> {
        let started = Instant::now();
        let wanted = format!("id={id} ");
        loop {
            if let Reply::Bulk(Some(list)) = self.quietly(&["CLIENT", "LIST"])? {
                let list = String::from_utf8_lossy(&list);
                if list
                    .lines()
                    .any(|line| line.starts_with(&wanted) && line.ends_with("blocked=1"))
                {
                    return Ok(());
                }
            }
            if started.elapsed() > PATIENCE {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("client {id} never blocked"),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether a reply has arrived that nobody has read yet (without waiting for one).
    fn has_reply_waiting(&mut self) -> io::Result<bool> {
        if !self.reader.buffer().is_empty() {
            return Ok(true);
        }
        self.writer.set_nonblocking(true)?;
        let mut byte = [0];
        let peeked = self.writer.peek(&mut byte);
        self.writer.set_nonblocking(false)?;
        match peeked {
            Ok(count) => Ok(count > 0),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(error) => Err(error),
        }
    }
}

/// Waits for the first `spawn task#N` after event `from` that is not a key's timer (that is,
/// the eager task of a `FETCH`); returns its index and its name, `task#N`.
fn wait_for_spawn(log: &TraceLog, from: usize) -> io::Result<(usize, String)> {
    let started = Instant::now();
    loop {
        let events = log.describe();
        let found = events
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, event)| event.starts_with("spawn task#") && !event.contains("expiry"));
        if let Some((at, event)) = found {
            return Ok((at, event["spawn ".len()..].to_owned()));
        }
        if started.elapsed() > PATIENCE {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the server's trace never showed the FETCH task's spawn",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until the server's trace, from event `from` on, has an event that reads `wanted`
/// (timings left out); returns its index.
fn wait_for_event(log: &TraceLog, from: usize, wanted: &str) -> io::Result<usize> {
    let started = Instant::now();
    loop {
        let events = log.describe();
        if let Some(at) = events.iter().skip(from).position(|event| event == wanted) {
            return Ok(from + at);
        }
        if started.elapsed() > PATIENCE {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the server's trace never showed {wanted:?}"),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs the demo; exit code 0 if every step worked.
pub fn run() -> ExitCode {
    match script() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the demo stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

fn script() -> io::Result<()> {
    let scale = time_scale_from_env().map_err(io::Error::other)?;
    let origin_delay = Duration::from_millis(300).mul_f64(scale);
    let origin = SlowServer::start(&[
        Site::new("apple", origin_delay),
        Site::new("banana", origin_delay),
    ])?;
    let log = TraceLog::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let config = Arc::new(Config {
        listen: "127.0.0.1:0".into(),
        origin: format!("http://{}", origin.address()),
        stall_limit: DEFAULT_STALL_LIMIT,
    });
    let server_log = log.clone();
    let server = std::thread::spawn(move || {
        let event_loop = EventLoop::builder().trace_into(server_log).build();
        let shared = new_state(start_expiry_timer);
        event_loop.run_until_complete(serve(config, shared, move |address, _| {
            let _ = ready_tx.send(address);
        }))
    });
    let address = ready_rx
        .recv()
        .map_err(|_| io::Error::other("the server thread ended before it listened"))?;
    println!("server: ready, on a free port of 127.0.0.1 (its own thread, its own loop)");
    println!("        FETCH loads from the slow-sites server, whose pages take {origin_delay:?}");

    // Connected in this order, A's connection is the server's task#1 and B's task#2.
    let mut a = TinyClient::connect("A", address)?;
    let mut b = TinyClient::connect("B", address)?;

    println!("\n1. Strings, counters, errors");
    a.call(&["PING"])?;
    a.call(&["SET", "greeting", "hello"])?;
    a.call(&["GET", "greeting"])?;
    a.call(&["INCR", "greeting"])?;
    a.call(&["INCRBY", "visits", "10"])?;
    a.call(&["NOSUCHCOMMAND", "x"])?;

    println!("\n2. Expiry: a timer per key, on the loop");
    let mark = log.describe().len();
    a.call(&["SET", "session", "alive", "PX", "100"])?;
    a.call(&["DBSIZE"])?;
    wait_for_event(&log, mark, "finished task#3 \"expiry\"")?;
    println!("   (the server's trace: finished task#3 \"expiry\": the key's timer ran)");
    a.call(&["DBSIZE"])?;
    a.call(&["GET", "session"])?;

    println!("\n3. FETCH, sync first: a miss waits for the origin, and only A waits");
    let mark = log.describe().len();
    let a_started = Instant::now();
    a.send(&["FETCH", "apple"])?;
    // The eager FETCH task's first poll ends `pending` at the origin's socket: from then on
    // A's task waits for it, and the loop is free for B.
    let (spawned, task) = wait_for_spawn(&log, mark)?;
    wait_for_event(&log, spawned, &format!("poll {task} -> pending"))?;
    let b_started = Instant::now();
    b.call(&["PING"])?;
    let b_waited = b_started.elapsed();
    println!(
        "   (B got its answer while A was still waiting: {})",
        if a.has_reply_waiting()? { "no" } else { "yes" }
    );
    a.print_reply()?;
    let a_waited = a_started.elapsed();
    println!(
        "Timing: B waited {:.3} ms for PONG, A waited {:.3} ms for the miss",
        b_waited.as_secs_f64() * 1000.0,
        a_waited.as_secs_f64() * 1000.0
    );
    let mark = log.describe().len();
    a.call(&["FETCH", "apple"])?;
    let (spawned, task) = wait_for_spawn(&log, mark)?;
    let finished = wait_for_event(&log, spawned, &format!("finished {task}"))?;
    // A silent PING from A: once it is answered, everything the server did for the FETCH is
    // in the trace, up to the PING's own `sockets ready`. Had A's task had to wait for the
    // FETCH task, its second poll (the one that wrote the reply) would show before it.
    a.quietly(&["PING"])?;
    let next = wait_for_event(&log, finished, "sockets ready: 1")?;
    // The poll of A's task that read the FETCH (and the wake before it), then what happened
    // inside that poll: the trace lists a poll's inner events after the poll itself.
    let events = log.describe();
    let mut before: Vec<&String> = events[..spawned]
        .iter()
        .filter(|event| *event != "idle")
        .collect();
    let lead = before.split_off(before.len().saturating_sub(2));
    println!("   the hit, in the server's trace (what happened inside a poll is listed after it):");
    let inside = events[spawned..next]
        .iter()
        .filter(|event| *event != "idle");
    for event in lead.into_iter().chain(inside) {
        println!("     {event}");
    }

    println!("\n4. MULTI/EXEC: nothing may wait inside a transaction");
    a.call(&["MULTI"])?;
    a.call(&["SET", "fruit", "banana"])?;
    a.call(&["FETCH", "banana"])?;
    a.call(&["FETCH", "apple"])?;
    a.call(&["EXEC"])?;

    println!("\n5. BLPOP: a client waits, the server does not");
    a.send(&["BLPOP", "jobs", "5"])?;
    b.wait_until_blocked(1)?;
    println!("   (A is blocked: its task waits on its mailbox; B's CLIENT LIST says blocked=1)");
    b.call(&["RPUSH", "jobs", "build"])?;
    a.print_reply()?;

    println!("\n6. Pub/sub: one subscriber set per channel");
    a.call(&["SUBSCRIBE", "news"])?;
    b.call(&["PUBLISH", "news", "hello, subscribers"])?;
    a.print_reply()?;

    println!("\n7. Shutdown");
    b.send(&["SHUTDOWN"])?;
    match b.reply() {
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            println!("   (no reply: the server closed the connection, as Redis does)");
        }
        other => println!("   unexpected: {other:?}"),
    }
    let served = server
        .join()
        .map_err(|_| io::Error::other("the server thread panicked"))?;
    served?;
    println!("server: stopped; its loop dropped every connection's task, and its thread returned");
    drop(origin);
    Ok(())
}

/// Reads `MINILOOP_TIME_SCALE`: 1.0 when unset, an error message when unusable.
/// Same as lesson 12.
fn time_scale_from_env() -> Result<f64, String> {
    let Some(raw) = std::env::var_os("MINILOOP_TIME_SCALE") else {
        return Ok(1.0);
    };
    let text = raw.to_string_lossy();
    let parsed = text.trim().parse::<f64>();
    // The upper bound keeps `Duration::from_secs_f64` far from overflowing.
    match parsed {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!(
            "`MINILOOP_TIME_SCALE` must be a number greater than 0 and at most 1000, \
             like 0.1 (got {text:?}); it multiplies every delay, so unset it or use 1 \
             for real time"
        )),
    }
}
