//! Lesson 35's Redis server, driven by clients no one here wrote: the `redis` crate's
//! synchronous client for every command, and raw bytes over `std::net::TcpStream` for the
//! input that client would refuse to send. `redis-cli` too, where it is installed.
//!
//! Each test starts the real program (`examples/35_redis`, built by `cargo test`) on a free
//! port, reads its "ready" line for the address, and stops it with `SHUTDOWN` (or kills it
//! if the test failed first). No test depends on timing beyond generous bounds: where time is
//! the subject (a client served while another waits), two durations are compared.
// Only with the `lessons` feature (on by default): lesson 35 starts the slow-sites server.
#![cfg(feature = "lessons")]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::example_path;
use common::lesson_output::{assert_quoted_in_chapter, numbers_after, run_lesson};
use redis::{Commands, Value};

/// Every socket read in these tests gives up after this long, so a hang is a failure.
const PATIENCE: Duration = Duration::from_secs(20);

/// The server program, running.
struct Server {
    child: Child,
    address: SocketAddr,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

impl Server {
    /// Starts `example` (`35_redis` or its tokio twin) on a free port with `options`.
    fn start(example: &str, options: &[&str]) -> Server {
        let mut child = Command::new(example_path(example))
            .args(["--port", "0"])
            .args(options)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server should start");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut ready = String::new();
        stdout
            .read_line(&mut ready)
            .expect("the server prints a line");
        let address = ready
            .split("connections on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|address| address.parse().ok())
            .unwrap_or_else(|| panic!("no address in the ready line {ready:?}"));
        let stdout = std::thread::spawn(move || {
            let mut rest = ready;
            let _ = stdout.read_to_string(&mut rest);
            rest
        });
        let mut stderr_pipe = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        Server {
            child,
            address,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    fn start_miniloop() -> Server {
        Server::start("35_redis", &[])
    }

    fn client(&self) -> redis::Connection {
        let url = format!("redis://{}/", self.address);
        let connection = redis::Client::open(url)
            .expect("a valid URL")
            .get_connection_with_timeout(PATIENCE)
            .expect("the server accepts connections");
        connection.set_read_timeout(Some(PATIENCE)).unwrap();
        connection
    }

    fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(self.address).expect("the server accepts connections");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    /// Sends `SHUTDOWN`; returns whether the program exited with success, and its output.
    fn shut_down(mut self) -> (bool, String, String) {
        let mut stream = self.raw();
        stream.write_all(b"SHUTDOWN\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(rest.is_empty(), "SHUTDOWN has no reply: {rest:?}");
        let status = wait_with_patience(&mut self.child);
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status.success(), stdout, stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stdout.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_with_patience(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < PATIENCE, "the server did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends `bytes`, then reads until the server closes the connection.
fn send_and_read_to_close(stream: &mut TcpStream, bytes: &[u8]) -> String {
    stream.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&reply).into_owned()
}

/// Sends `bytes`, then reads exactly `expected.len()` bytes and compares.
fn exchange(stream: &mut TcpStream, bytes: &[u8], expected: &str) {
    stream.write_all(bytes).unwrap();
    let mut reply = vec![0; expected.len()];
    stream
        .read_exact(&mut reply)
        .unwrap_or_else(|error| panic!("waiting for {expected:?} after {bytes:?}: {error}"));
    assert_eq!(String::from_utf8_lossy(&reply), expected, "after {bytes:?}");
}

fn error_of(result: redis::RedisResult<Value>) -> String {
    let error = result.expect_err("the server answers with an error");
    format!(
        "{} {}",
        error.code().unwrap_or("?"),
        error.detail().unwrap_or("")
    )
}

/// The commands of the issue, each once, with the `redis` crate; run against both servers.
fn every_command(server: &Server) {
    let mut con = server.client();
    let ping: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(ping, "PONG");
    let echo: String = redis::cmd("ECHO").arg("hi there").query(&mut con).unwrap();
    assert_eq!(echo, "hi there");

    let _: () = con.set("name", "miniloop").unwrap();
    let name: String = con.get("name").unwrap();
    assert_eq!(name, "miniloop");
    let missing: Option<String> = con.get("nothing").unwrap();
    assert_eq!(missing, None);
    let first: Option<String> = redis::cmd("SET")
        .arg("once")
        .arg("1")
        .arg("NX")
        .query(&mut con)
        .unwrap();
    let second: Option<String> = redis::cmd("SET")
        .arg("once")
        .arg("2")
        .arg("NX")
        .query(&mut con)
        .unwrap();
    assert_eq!((first.as_deref(), second), (Some("OK"), None));
    let absent: Option<String> = redis::cmd("SET")
        .arg("absent")
        .arg("x")
        .arg("XX")
        .query(&mut con)
        .unwrap();
    assert_eq!(absent, None);
    let _: () = redis::cmd("SET")
        .arg("once")
        .arg("3")
        .arg("XX")
        .query(&mut con)
        .unwrap();
    assert_eq!(con.get::<_, String>("once").unwrap(), "3");
    let _: () = redis::cmd("SET")
        .arg("ex")
        .arg("v")
        .arg("EX")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("px")
        .arg("v")
        .arg("PX")
        .arg(100_000)
        .query(&mut con)
        .unwrap();
    let ttl: i64 = con.ttl("ex").unwrap();
    assert!((99..=100).contains(&ttl), "TTL after EX 100: {ttl}");
    let ttl: i64 = con.ttl("px").unwrap();
    assert!((99..=100).contains(&ttl), "TTL after PX 100000: {ttl}");
    assert_eq!(con.ttl::<_, i64>("name").unwrap(), -1);
    assert_eq!(con.ttl::<_, i64>("nothing").unwrap(), -2);
    assert!(con.expire::<_, bool>("name", 50).unwrap());
    assert!(!con.expire::<_, bool>("nothing", 50).unwrap());
    let ttl: i64 = con.ttl("name").unwrap();
    assert!((49..=50).contains(&ttl), "TTL after EXPIRE 50: {ttl}");

    assert_eq!(
        con.exists::<_, i64>(&["name", "name", "nothing"]).unwrap(),
        2
    );
    assert_eq!(con.incr::<_, _, i64>("counter", 1).unwrap(), 1);
    let by: i64 = redis::cmd("INCRBY")
        .arg("counter")
        .arg(41)
        .query(&mut con)
        .unwrap();
    assert_eq!(by, 42);
    let incr: i64 = redis::cmd("INCR").arg("counter").query(&mut con).unwrap();
    assert_eq!(incr, 43);
    assert_eq!(
        con.del::<_, i64>(&["counter", "once", "nothing"]).unwrap(),
        2
    );

    assert_eq!(con.lpush::<_, _, i64>("list", "b").unwrap(), 1);
    assert_eq!(con.lpush::<_, _, i64>("list", "a").unwrap(), 2);
    assert_eq!(con.rpush::<_, _, i64>("list", &["c", "d"]).unwrap(), 4);
    let popped: Option<String> = redis::cmd("LPOP").arg("list").query(&mut con).unwrap();
    assert_eq!(popped.as_deref(), Some("a"));
    let popped: Vec<String> = redis::cmd("LPOP")
        .arg("list")
        .arg(2)
        .query(&mut con)
        .unwrap();
    assert_eq!(popped, ["b", "c"]);
    let range: Vec<String> = con.lrange("list", 0, -1).unwrap();
    assert_eq!(range, ["d"]);

    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("tester")
        .query(&mut con)
        .unwrap();
    let client_name: Option<String> = redis::cmd("CLIENT").arg("GETNAME").query(&mut con).unwrap();
    assert_eq!(client_name.as_deref(), Some("tester"));
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
    assert!(list.contains("name=tester"), "{list}");

    let commands: Value = redis::cmd("COMMAND").query(&mut con).unwrap();
    let Value::Array(entries) = commands else {
        panic!("COMMAND answers an array: {commands:?}")
    };
    let count: i64 = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    assert_eq!(entries.len() as i64, count);
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("get")
        .query(&mut con)
        .unwrap();
    let Value::Array(info) = info else {
        panic!("{info:?}")
    };
    let Value::Array(get) = &info[0] else {
        panic!("{info:?}")
    };
    assert_eq!(get[0], Value::BulkString(b"get".to_vec()));
    assert_eq!(get[1], Value::Int(2), "GET's arity");

    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 4, "name, ex, px, list");
    let _: () = redis::cmd("FLUSHDB").query(&mut con).unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 0);

    let quit: String = redis::cmd("QUIT").query(&mut con).unwrap();
    assert_eq!(quit, "OK");
    assert!(
        redis::cmd("PING").query::<String>(&mut con).is_err(),
        "closed after QUIT"
    );
}

#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn every_command_through_the_redis_crate() {
    let server = Server::start_miniloop();
    every_command(&server);
    let (success, stdout, stderr) = server.shut_down();
    assert!(success, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("shut down cleanly"), "{stdout}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// The tokio twin runs the same command code: the same answers.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn the_tokio_twin_answers_every_command_the_same() {
    let server = Server::start("35_redis_tokio", &[]);
    every_command(&server);
    transactions_as_redis_runs_them(&server);
    blpop_is_released_by_a_push_from_another_client(&server);
    let (success, _, stderr) = server.shut_down();
    assert!(success, "{stderr}");
}

fn transactions_as_redis_runs_them(server: &Server) {
    let mut con = server.client();
    let _: () = con.set("word", "hello").unwrap();
    // An error while running (INCR on a word) is that command's answer; the others run.
    let results: Vec<redis::RedisResult<Value>> = redis::pipe()
        .atomic()
        .ignore_errors()
        .cmd("SET")
        .arg("a")
        .arg("1")
        .cmd("INCR")
        .arg("word")
        .cmd("INCR")
        .arg("a")
        .query(&mut con)
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert!(results[1].is_err(), "{results:?}");
    assert_eq!(
        results[2].as_ref().ok(),
        Some(&Value::Int(2)),
        "{results:?}"
    );

    // An error while queuing (a wrong number of arguments) discards the whole transaction.
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let queued: String = redis::cmd("SET").arg("b").arg("1").query(&mut con).unwrap();
    assert_eq!(queued, "QUEUED");
    let arity = error_of(redis::cmd("GET").query(&mut con));
    assert_eq!(arity, "ERR wrong number of arguments for 'get' command");
    let aborted = error_of(redis::cmd("EXEC").query(&mut con));
    assert!(aborted.starts_with("EXECABORT"), "{aborted}");
    assert!(!con.exists::<_, bool>("b").unwrap());

    // DISCARD, and the errors without MULTI.
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let _: String = redis::cmd("SET").arg("c").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("DISCARD").query(&mut con).unwrap();
    assert!(!con.exists::<_, bool>("c").unwrap());
    assert_eq!(
        error_of(redis::cmd("EXEC").query(&mut con)),
        "ERR EXEC without MULTI"
    );

    // FETCH inside a transaction: a hit is answered, a miss refused (waiting is not allowed),
    // and the other commands run.
    let facebook: String = redis::cmd("FETCH").arg("facebook").query(&mut con).unwrap();
    assert!(facebook.starts_with("Hello from facebook"), "{facebook}");
    let results: Vec<redis::RedisResult<Value>> = redis::pipe()
        .atomic()
        .ignore_errors()
        .cmd("FETCH")
        .arg("facebook")
        .cmd("FETCH")
        .arg("apple")
        .cmd("SET")
        .arg("after")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        results[0].as_ref().ok(),
        Some(&Value::BulkString(facebook.into_bytes()))
    );
    let refused = results[1]
        .as_ref()
        .expect_err("a miss inside EXEC is refused");
    let detail = refused.detail().unwrap_or_default();
    assert!(
        detail.contains("waiting is not allowed inside a transaction"),
        "{refused}"
    );
    assert!(results[2].is_ok(), "{results:?}");
    assert_eq!(con.get::<_, String>("after").unwrap(), "yes");
    assert!(
        !con.exists::<_, bool>("apple").unwrap(),
        "the refused FETCH stored nothing"
    );
}

#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn transactions_behave_as_in_redis() {
    let server = Server::start_miniloop();
    transactions_as_redis_runs_them(&server);
    // On miniloop, the refusal says what FETCH would have waited for (`WouldSuspend`).
    let mut con = server.client();
    let _: () = redis::cmd("MULTI").query(&mut con).unwrap();
    let _: String = redis::cmd("FETCH").arg("amazon").query(&mut con).unwrap();
    let exec = redis::cmd("EXEC").query::<Value>(&mut con);
    let message = error_of(exec);
    assert!(
        message.contains("(it would wait for a socket to become"),
        "{message}"
    );
}

/// Pub/sub across two connections, with the crate's `PubSub`.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn publish_reaches_every_subscriber_and_only_them() {
    let server = Server::start_miniloop();
    let mut first = server.client();
    let mut second = server.client();
    let mut publisher = server.client();
    let mut sub_1 = first.as_pubsub();
    sub_1.subscribe("news").unwrap();
    sub_1.subscribe("weather").unwrap();
    let mut sub_2 = second.as_pubsub();
    sub_2.subscribe("news").unwrap();
    sub_1.set_read_timeout(Some(PATIENCE)).unwrap();
    sub_2.set_read_timeout(Some(PATIENCE)).unwrap();

    assert_eq!(publisher.publish::<_, _, i64>("news", "extra!").unwrap(), 2);
    assert_eq!(
        publisher.publish::<_, _, i64>("weather", "rain").unwrap(),
        1
    );
    assert_eq!(
        publisher.publish::<_, _, i64>("nobody", "hello?").unwrap(),
        0
    );
    let message = sub_2.get_message().unwrap();
    assert_eq!(
        (
            message.get_channel_name(),
            message.get_payload::<String>().unwrap()
        ),
        ("news", "extra!".to_owned())
    );
    let received: Vec<(String, String)> = (0..2)
        .map(|_| {
            let message = sub_1.get_message().unwrap();
            (
                message.get_channel_name().to_owned(),
                message.get_payload().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        received,
        [
            ("news".into(), "extra!".into()),
            ("weather".into(), "rain".into())
        ]
    );
    sub_2.unsubscribe("news").unwrap();
    drop(sub_2);
    // The connection left pub/sub mode and runs commands again.
    assert_eq!(second.get::<_, Option<String>>("x").unwrap(), None);
    assert_eq!(publisher.publish::<_, _, i64>("news", "again").unwrap(), 1);

    // While subscribed, only the pub/sub commands are allowed (raw, since the crate would
    // not send them).
    let mut raw = server.raw();
    exchange(
        &mut raw,
        b"SUBSCRIBE c\r\nGET x\r\nPING\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n\
         -ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n\
         *2\r\n$4\r\npong\r\n$0\r\n\r\n",
    );
}

fn blpop_is_released_by_a_push_from_another_client(server: &Server) {
    let mut waiter = server.client();
    let mut pusher = server.client();
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("waiter")
        .query(&mut waiter)
        .unwrap();
    let blocked = std::thread::spawn(move || {
        let popped: Option<(String, String)> = redis::cmd("BLPOP")
            .arg("queue")
            .arg("other")
            .arg(15)
            .query(&mut waiter)
            .unwrap();
        popped
    });
    wait_until(PATIENCE, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut pusher).unwrap();
        list.lines()
            .any(|line| line.contains("name=waiter") && line.ends_with("blocked=1"))
    });
    // The server serves others while one client blocks.
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut pusher).unwrap(),
        "PONG"
    );
    assert_eq!(
        pusher
            .rpush::<_, _, i64>("other", &["job-1", "job-2"])
            .unwrap(),
        2
    );
    assert_eq!(
        blocked.join().unwrap(),
        Some(("other".into(), "job-1".into()))
    );
    // Exactly one element went to the waiter; the other stayed.
    let left: Vec<String> = pusher.lrange("other", 0, -1).unwrap();
    assert_eq!(left, ["job-2"]);
    // A BLPOP whose time runs out answers nil.
    let started = Instant::now();
    let timed_out: Option<(String, String)> = redis::cmd("BLPOP")
        .arg("empty")
        .arg(0.05)
        .query(&mut pusher)
        .unwrap();
    assert_eq!(timed_out, None);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn blpop_waits_without_blocking_the_server() {
    let server = Server::start_miniloop();
    blpop_is_released_by_a_push_from_another_client(&server);
    // A client that leaves while blocked gets nothing: the element stays for the next one.
    let mut raw = server.raw();
    raw.write_all(b"BLPOP leaving 0\r\n").unwrap();
    let mut con = server.client();
    wait_until(PATIENCE, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        list.contains("blocked=1")
    });
    drop(raw);
    wait_until(PATIENCE, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        !list.contains("blocked=1")
    });
    let _: i64 = con.rpush("leaving", "kept").unwrap();
    assert_eq!(
        con.lrange::<_, Vec<String>>("leaving", 0, -1).unwrap(),
        ["kept"]
    );
}

fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "the condition never came true");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keys expire by their timer on the loop: `DBSIZE` (which does not look at deadlines)
/// drops by itself, with no command touching the key.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn keys_expire_by_their_timers() {
    let server = Server::start_miniloop();
    let mut con = server.client();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(30)
        .query(&mut con)
        .unwrap();
    let _: () = con.set("later", "v").unwrap();
    assert!(con.expire::<_, bool>("later", 1).unwrap());
    let _: () = con.set("kept", "v").unwrap();
    let _: () = redis::cmd("SET")
        .arg("persisted")
        .arg("v")
        .arg("EX")
        .arg(1)
        .query(&mut con)
        .unwrap();
    let _: () = con.persist("persisted").unwrap();
    assert_eq!(redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap(), 4);
    wait_until(PATIENCE, || {
        redis::cmd("DBSIZE").query::<i64>(&mut con).unwrap() == 2
    });
    assert_eq!(con.get::<_, Option<String>>("short").unwrap(), None);
    assert_eq!(con.ttl::<_, i64>("short").unwrap(), -2);
    assert_eq!(con.get::<_, String>("kept").unwrap(), "v");
    assert_eq!(con.get::<_, String>("persisted").unwrap(), "v");
    // Overwriting a key drops its time to live; a new one replaces the old.
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .arg("PX")
        .arg(40)
        .query(&mut con)
        .unwrap();
    let _: () = con.set("k", "w").unwrap();
    assert_eq!(con.ttl::<_, i64>("k").unwrap(), -1);
}

/// Sync first: a miss waits for the origin, and only that client waits; the hit after it
/// answers at once.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn fetch_waits_for_the_origin_only_on_a_miss_and_only_for_its_client() {
    let server = Server::start_miniloop();
    let mut other = server.client();
    // A raw client sends the FETCH (google answers after 600 ms) and does not read yet.
    let mut fetcher = server.raw();
    let started = Instant::now();
    fetcher.write_all(b"FETCH google\r\n").unwrap();
    // Until its answer arrives, another client PINGs, and every PING is answered at once:
    // the loop is never held by the miss, before, during or after the origin's wait.
    let (mut pings, mut slowest) = (0, Duration::ZERO);
    fetcher.set_nonblocking(true).unwrap();
    while matches!(fetcher.peek(&mut [0]), Err(ref error) if error.kind() == std::io::ErrorKind::WouldBlock)
    {
        let asked = Instant::now();
        assert_eq!(
            redis::cmd("PING").query::<String>(&mut other).unwrap(),
            "PONG"
        );
        slowest = slowest.max(asked.elapsed());
        pings += 1;
        assert!(started.elapsed() < PATIENCE, "the FETCH never came back");
    }
    fetcher.set_nonblocking(false).unwrap();
    let mut reply = String::new();
    BufReader::new(&fetcher).read_line(&mut reply).unwrap();
    let miss_took = started.elapsed();
    assert!(reply.starts_with('$'), "{reply:?}");
    assert!(
        pings >= 2,
        "only {pings} PINGs while the miss waited {miss_took:?}"
    );
    assert!(
        slowest * 5 < miss_took,
        "a PING took {slowest:?} while the miss took {miss_took:?}"
    );
    // The hit is the cached value, without the origin's delay.
    let asked = Instant::now();
    let hit: String = redis::cmd("FETCH").arg("google").query(&mut other).unwrap();
    assert!(hit.starts_with("Hello from google"), "{hit}");
    assert!(asked.elapsed() * 5 < miss_took, "{:?}", asked.elapsed());
    assert_eq!(other.get::<_, String>("google").unwrap(), hit);
    // Keys that are not pages of the origin are refused with a reason.
    let refused = error_of(redis::cmd("FETCH").arg("no such page").query(&mut other));
    assert!(refused.contains("a key to fetch is a path"), "{refused}");
    let missing = error_of(redis::cmd("FETCH").arg("nosuchsite").query(&mut other));
    assert!(missing.contains("the origin answered 404"), "{missing}");
}

/// Pipelined requests are all answered, in order. (That the replies leave in one write is
/// measured, not tested: a client cannot tell one write from sixteen quick ones; see the
/// chapter's "Measured".)
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn a_pipeline_is_answered_in_order() {
    let server = Server::start_miniloop();
    let mut raw = server.raw();
    let mut pipeline = Vec::new();
    let mut expected = String::new();
    for index in 0..16 {
        pipeline.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
        expected.push_str(&format!(":{}\r\n", index + 1));
    }
    raw.write_all(&pipeline).unwrap();
    let mut reply = vec![0; expected.len()];
    raw.read_exact(&mut reply).unwrap();
    assert_eq!(String::from_utf8_lossy(&reply), expected);
    // Inline commands, as telnet sends them, with quotes.
    exchange(
        &mut raw,
        b"SET greeting \"hello world\"\r\nGET greeting\r\n",
        "+OK\r\n$11\r\nhello world\r\n",
    );
}

/// Each malformed request gets Redis's protocol error, and the connection is closed; the
/// server and every other client go on, and every acknowledged SET is still there.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn malformed_requests_get_redis_errors_and_nothing_is_lost() {
    let server = Server::start_miniloop();
    let mut con = server.client();
    let _: () = con.set("safe", "1").unwrap();
    let cases: [(&[u8], &str); 8] = [
        (
            b"*1\r\n:5\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*1\r\n$4\r\nPINGxx",
            "-ERR Protocol error: expected CRLF after a bulk string of 4 bytes\r\n",
        ),
        (
            b"*1\r\n$-3\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$four\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*two\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        // Only the header is sent: refused before a byte of the 600 MB is stored or awaited.
        (
            b"*1\r\n$600000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1048577\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"SET a \"unclosed\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (index, (bytes, expected)) in cases.iter().enumerate() {
        let mut raw = server.raw();
        let before = format!("SET case{index} ok\r\n");
        let reply = send_and_read_to_close(&mut raw, &[before.as_bytes(), bytes].concat());
        assert_eq!(reply, format!("+OK\r\n{expected}"), "{bytes:?}");
        // The SET acknowledged before the bad bytes is visible to the next GET.
        assert_eq!(con.get::<_, String>(format!("case{index}")).unwrap(), "ok");
    }
    // Errors that keep the connection: unknown command, wrong arity, wrong type.
    let mut raw = server.raw();
    exchange(
        &mut raw,
        b"FLY me to\r\nGET\r\nSET word hello\r\nINCR word\r\nLPUSH word x\r\nPING\r\n",
        "-ERR unknown command 'FLY', with args beginning with: 'me' 'to' \r\n\
         -ERR wrong number of arguments for 'get' command\r\n+OK\r\n\
         -ERR value is not an integer or out of range\r\n\
         -WRONGTYPE Operation against a key holding the wrong kind of value\r\n+PONG\r\n",
    );
    assert_eq!(con.get::<_, String>("safe").unwrap(), "1");
    assert_eq!(
        redis::cmd("PING").query::<String>(&mut con).unwrap(),
        "PONG"
    );
}

/// Half a command, then the client goes: nothing of it is applied, and nothing else breaks.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn a_client_that_sends_half_a_command_and_leaves_changes_nothing() {
    let server = Server::start_miniloop();
    for half in [
        &b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$5\r\nval"[..],
        b"SET half value",
    ] {
        let mut raw = server.raw();
        raw.write_all(half).unwrap();
        drop(raw);
    }
    let mut con = server.client();
    let _: () = con.set("whole", "1").unwrap();
    assert_eq!(con.get::<_, Option<String>>("half").unwrap(), None);
    assert_eq!(con.get::<_, String>("whole").unwrap(), "1");
    wait_until(PATIENCE, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        list.lines().count() == 1
    });
}

/// Slowloris: forty clients send their SET a byte at a time, all at once; meanwhile another
/// client's commands are answered at every step, and in the end every slow SET lands.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn slowloris_clients_do_not_hold_up_the_others() {
    let server = Server::start_miniloop();
    let mut slow: Vec<(TcpStream, Vec<u8>)> = (0..40)
        .map(|index| {
            let stream = server.raw();
            stream.set_nodelay(true).unwrap();
            let command = format!("*3\r\n$3\r\nSET\r\n$6\r\nslow{index:02}\r\n$5\r\nvalue\r\n");
            (stream, command.into_bytes())
        })
        .collect();
    let mut fast = server.client();
    let length = slow[0].1.len();
    for at in 0..length {
        for (stream, command) in &mut slow {
            stream.write_all(&command[at..at + 1]).unwrap();
        }
        // Every slow client is mid-command, and the fast one is answered.
        if at + 1 < length {
            let _: () = fast.set("fast", at).unwrap();
            assert_eq!(fast.get::<_, usize>("fast").unwrap(), at);
        }
    }
    for (stream, _) in &mut slow {
        let mut reply = [0; 5];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+OK\r\n");
    }
    for index in 0..40 {
        assert_eq!(
            fast.get::<_, String>(format!("slow{index:02}")).unwrap(),
            "value"
        );
    }
}

/// A client that sends many GETs of a large value and reads nothing: the server keeps at
/// most 64 KiB of replies plus one reply for it (its memory does not grow with the 200 MiB
/// asked for), serves everyone else, and disconnects it after the stall limit.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn a_client_that_reads_nothing_is_bounded_then_disconnected() {
    let server = Server::start("35_redis", &["--stall-limit", "1"]);
    let mut con = server.client();
    let big = vec![b'x'; 1024 * 1024];
    let _: () = con.set("big", &big[..]).unwrap();
    let rss_before = resident_kib(server.child.id());
    let mut reader = server.raw();
    let gets = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(200);
    reader.write_all(gets.as_bytes()).unwrap();
    // Others are served while it stalls.
    for _ in 0..10 {
        assert_eq!(
            redis::cmd("PING").query::<String>(&mut con).unwrap(),
            "PONG"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let rss_stalled = resident_kib(server.child.id());
    assert!(
        rss_stalled < rss_before + 16 * 1024,
        "the server grew from {rss_before} KiB to {rss_stalled} KiB for a client that reads nothing"
    );
    // It is disconnected after the stall limit (one second here), without reading a byte.
    wait_until(PATIENCE, || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut con).unwrap();
        list.lines().count() == 1
    });
    // What it can still read is the little that had been sent before.
    let mut received = Vec::new();
    let _ = reader.read_to_end(&mut received);
    assert!(
        received.len() < 20 * 1024 * 1024,
        "{} bytes of 200 MiB came through",
        received.len()
    );
    assert_eq!(con.get::<_, Vec<u8>>("big").unwrap().len(), big.len());
    let (success, _, stderr) = server.shut_down();
    assert!(success);
    assert!(
        stderr.contains("it read none of its replies for 1s"),
        "{stderr}"
    );
}

/// The resident memory of process `pid`, in KiB (Linux's `/proc`).
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc is there");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("a VmRSS line")
}

/// A subscriber that reads nothing is evicted once 32 MiB of messages wait for it; the
/// publisher sees it go (PUBLISH counts one subscriber fewer).
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn a_subscriber_that_reads_nothing_is_evicted_past_32_mib() {
    let server = Server::start_miniloop();
    let mut subscriber = server.raw();
    exchange(
        &mut subscriber,
        b"SUBSCRIBE firehose\r\n",
        "*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n",
    );
    let mut publisher = server.client();
    let message = vec![b'm'; 1024 * 1024];
    let mut receivers = Vec::new();
    for _ in 0..64 {
        receivers.push(
            publisher
                .publish::<_, _, i64>("firehose", &message[..])
                .unwrap(),
        );
    }
    let evicted_at = receivers.iter().position(|count| *count == 0);
    assert!(
        matches!(evicted_at, Some(at) if at >= 32 && receivers[at..].iter().all(|c| *c == 0)),
        "{receivers:?}"
    );
    let (_, _, stderr) = server.shut_down();
    assert!(
        stderr.contains("over 32 MiB of unread pub/sub messages"),
        "{stderr}"
    );
}

/// Acknowledged writes from many clients at once are all visible to the next reads.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn every_acknowledged_set_is_visible_to_the_next_get() {
    let server = Server::start_miniloop();
    let address = server.address;
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            std::thread::spawn(move || {
                let mut con = redis::Client::open(format!("redis://{address}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let mut reader = redis::Client::open(format!("redis://{address}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                for round in 0..200 {
                    let key = format!("w{writer}");
                    let _: () = con.set(&key, round).unwrap();
                    assert_eq!(reader.get::<_, i64>(&key).unwrap(), round);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
}

/// Ten thousand connected clients (fewer if the system allows fewer, said on stderr): the
/// server takes them all, answers any of them, and the rest are unaffected.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn ten_thousand_connected_clients() {
    const WANTED: u64 = 10_000;
    // Our 10 000 sockets, the redis client's, and the test harness's own descriptors; the
    // server (our child) inherits the raised limit and needs as many.
    let limit = raise_open_file_limit(WANTED + 200);
    let count = if limit >= WANTED + 200 {
        WANTED
    } else {
        let count = limit.saturating_sub(200);
        eprintln!(
            "note: the open-file limit is {limit}, so this test connects {count} clients, not \
             {WANTED}; raise it (`ulimit -n 20000`) to run the full test"
        );
        count
    };
    let server = Server::start_miniloop();
    let mut con = server.client();
    let connected = |con: &mut redis::Connection| {
        let info: String = redis::cmd("INFO").query(con).unwrap();
        let line = info
            .lines()
            .find_map(|line| line.strip_prefix("connected_clients:"));
        line.and_then(|count| count.trim().parse::<u64>().ok())
            .unwrap()
    };
    // In batches of 100, each accepted before the next: the kernel completes a handshake
    // without the server, so a client that connects faster than the server accepts fills the
    // listen queue (128, std's and mio's backlog), and the SYNs the kernel then drops are
    // retried only a second later.
    let mut clients: Vec<TcpStream> = Vec::new();
    while (clients.len() as u64) < count {
        let batch = (count - clients.len() as u64).min(100);
        clients.extend((0..batch).map(|_| server.raw()));
        wait_until(PATIENCE, || connected(&mut con) == clients.len() as u64 + 1);
    }
    let _: () = con.set("shared", "value").unwrap();
    for stream in clients.iter_mut().step_by(97) {
        exchange(
            stream,
            b"*2\r\n$3\r\nGET\r\n$6\r\nshared\r\n",
            "$5\r\nvalue\r\n",
        );
    }
    drop(clients);
    wait_until(PATIENCE, || connected(&mut con) == 1);
}

/// Raises this process's soft limit on open files toward `wanted` (up to the hard limit);
/// returns the limit now in force.
fn raise_open_file_limit(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a live, writable `rlimit` for the whole call, which only writes it.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur >= wanted {
        return limit.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted.min(limit.rlim_max),
        rlim_max: limit.rlim_max,
    };
    // SAFETY: `raised` is a valid `rlimit` that the call only reads; a soft limit at or below
    // the hard one needs no privilege.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    if set == 0 {
        raised.rlim_cur
    } else {
        limit.rlim_cur
    }
}

/// `SHUTDOWN` and SIGTERM both end the server cleanly (exit code 0, the closing line).
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn shutdown_and_a_signal_end_the_server_cleanly() {
    let server = Server::start_miniloop();
    let mut con = server.client();
    let _: () = con.set("k", "v").unwrap();
    let (success, stdout, _) = server.shut_down();
    assert!(success && stdout.contains("shut down cleanly"), "{stdout}");

    let mut server = Server::start_miniloop();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("`kill` runs");
    assert!(killed.success());
    let status = wait_with_patience(&mut server.child);
    let stdout = server.stdout.take().unwrap().join().unwrap();
    assert!(status.success(), "{status}");
    assert!(stdout.contains("shut down cleanly"), "{stdout}");
}

/// The real `redis-cli`, where it is installed (`apt-get install -y redis-tools`; CI does):
/// commands as arguments, and the inline mode it uses when commands come on stdin.
#[test]
#[cfg_attr(miri, ignore = "starts the server as a child process")]
fn redis_cli_talks_to_the_server() {
    if Command::new("redis-cli").arg("--version").output().is_err() {
        eprintln!(
            "note: redis-cli is not installed, so this test checks nothing; \
             `apt-get install -y redis-tools` to run it"
        );
        return;
    }
    let server = Server::start_miniloop();
    let port = server.address.port().to_string();
    let cli = |args: &[&str], input: &str| {
        let mut child = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(cli(&["SET", "tool", "redis-cli"], ""), "OK\n");
    assert_eq!(cli(&["GET", "tool"], ""), "redis-cli\n");
    assert_eq!(
        cli(
            &[],
            "INCR hits\nINCR hits\nLPUSH l a b\nLRANGE l 0 -1\nGET nothing\n"
        ),
        "1\n2\n2\nb\na\n\n"
    );
    assert_eq!(
        cli(&["--no-raw", "LRANGE", "l", "0", "-1"], ""),
        "1) \"b\"\n2) \"a\"\n"
    );
    let error = cli(&["INCR", "tool"], "");
    assert!(error.contains("ERR value is not an integer"), "{error}");
}

/// The tour's demo: the chapter quotes its output as it is; B is answered while A's miss
/// waits; the hit is one poll of A's task with the eager FETCH task finished inside it.
#[test]
#[cfg_attr(miri, ignore = "runs the lesson as a child process")]
fn lesson_35_demo_runs_its_script_and_the_chapter_quotes_it() {
    let output = run_lesson("35_redis", None);
    assert_quoted_in_chapter("docs/35-redis-on-miniloop.md", &output, &["Timing: "]);
    assert!(output.contains("(B got its answer while A was still waiting: yes)"));
    let timing = numbers_after(&output, "Timing: ");
    let (b_waited, a_waited) = (timing[0], timing[1]);
    assert!(b_waited * 5.0 < a_waited, "{output}");
    let hit: Vec<&str> = output
        .lines()
        .skip_while(|line| !line.starts_with("   the hit, in the server's trace"))
        .skip(1)
        .take_while(|line| line.starts_with("     "))
        .map(str::trim)
        .collect();
    assert_eq!(
        hit,
        [
            "wake task#1 from the loop's thread",
            "poll task#1 -> pending", // the one poll that read the FETCH...
            "spawn task#5",           // ...spawned the eager task inside it,
            "poll task#5 -> ready",   // whose first poll was a hit,
            "finished task#5",        // and that ended there: no wake, no queue
        ]
    );
}
