//! Lesson 31: cancellation is dropping
//!
//! A Rust future is cancelled by dropping it. There is no exception and no signal:
//! the future stops at the `.await` where it last returned `Pending`, nothing after
//! that `.await` ever runs, and the only code that runs at all is `Drop`, the
//! destructors of what the future held at that point, synchronously. Three
//! consequences, each shown by what it prints:
//!
//! 1. A task aborted at each of its `.await`s in turn: the steps before the abort
//!    ran, not one line after it did, the guard's `Drop` ran, and the `JoinHandle`
//!    says "cancelled".
//! 2. A `timeout` around a half-finished read: the bytes the dropped future had read
//!    are dropped with it, and the next read starts mid-frame. A reader that keeps its
//!    buffer outside the future (cancel-safe) loses nothing, and the retry completes.
//! 3. Cleanup that must `.await` cannot go in `Drop`, which cannot await: `Drop`
//!    spawns a task for it, which finishes after the cancelled future is gone.
//!
//! Run it:     cargo run --example 31_cancellation_is_dropping
//! Read:       docs/31-cancellation-is-dropping.md
//! Debug it:   break on `31_cancellation_is_dropping::note_drop`, then `bt`: below
//!             the guard's `drop` is `drop_in_place` of the worker's state machine
//!             (`worker::{async_fn_env#0}`), called by the loop (`Core::poll_task`),
//!             which found the abort request; no line of the task is on the stack
//!
//! Every delay is a few milliseconds (about 0.2 s in all), so this lesson has no
//! time scale. No line it prints depends on timing: each part is ordered by the
//! loop's rules, not by a race (the comments say which rule).

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use miniloop::net::{TcpListener, TcpStream};
use miniloop::{sleep, spawn, timeout, JoinError, JoinHandle};

/// How long each step of the worker (part 1) and the cleanup (part 3) waits.
const STEP: Duration = Duration::from_millis(10);

/// The worker's number of steps: one `.await` each.
const STEPS: u32 = 3;

/// What happened, in order. Shared by main and a spawned task, so `Arc<Mutex<_>>`:
/// `miniloop::spawn` asks for a `Send` future.
#[derive(Clone, Debug, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The `JoinHandle`'s answer, as one line: `Ok(output)`, or `Err(task#1 was cancelled)`
/// (a `JoinError`'s own words: cancelled, or panicked with its message).
fn describe<T: std::fmt::Debug>(outcome: &Result<T, JoinError>) -> String {
    match outcome {
        Ok(output) => format!("Ok({output:?})"),
        Err(error) => format!("Err({error})"),
    }
}

/// A `timeout`'s answer, as one line: `Ok(...)`, or `Err(deadline has elapsed (20ms))`.
fn describe_timeout<T: std::fmt::Debug>(outcome: &Result<T, miniloop::Elapsed>) -> String {
    match outcome {
        Ok(output) => format!("Ok({output:?})"),
        Err(elapsed) => format!("Err({elapsed})"),
    }
}

// ---------------------------------------------------------------------------------
// Part 1: a task aborted at each of its `.await`s in turn.
// ---------------------------------------------------------------------------------

/// Owned by the worker's future; its `Drop` is the one piece of the task that runs
/// when the task is cancelled.
#[derive(Debug)]
struct Guard {
    log: Log,
}

impl Drop for Guard {
    fn drop(&mut self) {
        note_drop(&self.log, "Drop of the guard");
    }
}

/// A named function for the breakpoint: `Drop::drop` has an awkward name in gdb.
#[inline(never)]
fn note_drop(log: &Log, event: &str) {
    log.push(event);
}

/// Three steps, each an `.await` on a sleep.
async fn worker(log: Log) -> &'static str {
    let _guard = Guard { log: log.clone() };
    for step in 1..=STEPS {
        log.push(format!("start {step}"));
        sleep(STEP).await; // a cancellation lands here: this step's `end` never runs
        log.push(format!("end {step}"));
    }
    "all steps done"
}

/// Spawns the worker, lets it reach its `.await` number `abort_at` (0: before its
/// first poll) and aborts it there; `None` lets it finish. Returns what happened.
async fn run_worker(abort_at: Option<u32>) -> Vec<String> {
    let log = Log::default();
    let handle = spawn(worker(log.clone()));
    if let Some(abort_at) = abort_at {
        // Main sleeps one step at a time. miniloop polls main before its tasks in every
        // turn, so each of main's sleeps is filed just before the worker's sleep for the
        // same step, and ends just before it: main wakes while the worker is still parked
        // at that step's `.await`. (An abort also beats a worker that is already queued:
        // the loop checks for it before the next poll.)
        for _ in 0..abort_at {
            sleep(STEP).await;
        }
        log.push("main: abort()");
        handle.abort();
    }
    let outcome = handle.await;
    log.push(format!("main: handle.await = {}", describe(&outcome)));
    log.take()
}

fn part_1() {
    println!(
        "1. A task aborted at each of its .awaits in turn ({STEPS} steps, each awaits a {STEP:?} sleep)"
    );
    let runs = [
        ("abort before the first poll", Some(0)),
        ("abort at .await 1", Some(1)),
        ("abort at .await 2", Some(2)),
        ("abort at .await 3", Some(3)),
        ("no abort", None),
    ];
    let mut lines_after_abort = 0;
    let mut guard_drops = 0;
    for (label, abort_at) in runs {
        let events = miniloop::run(run_worker(abort_at));
        println!("   {label:<27} | {}", events.join(" | "));
        // After "main: abort()", the task's only line may be its guard's `Drop`.
        let after_abort = events
            .iter()
            .skip_while(|event| *event != "main: abort()")
            .filter(|event| event.starts_with("start") || event.starts_with("end"));
        lines_after_abort += after_abort.count();
        guard_drops += events.iter().filter(|e| *e == "Drop of the guard").count();
    }
    println!("   lines of the task that ran after its abort: {lines_after_abort}");
    println!(
        "   Drop of the guard ran {guard_drops} times: in every run that created the guard (all but the first)"
    );
}

// ---------------------------------------------------------------------------------
// Part 2: a timeout around a half-read frame.
// ---------------------------------------------------------------------------------

/// A frame is a 4-byte big-endian length, then that many bytes.
const PAYLOAD: &[u8] = b"one frame, sent in two pieces";

/// How many bytes of the payload travel with the header in the first piece.
const FIRST_PIECE_PAYLOAD: usize = 10;

/// A frame longer than this is refused: its length field is garbage.
const MAX_FRAME: usize = 1024;

/// How long each read may take before `timeout` gives up (and drops it).
const READ_TIMEOUT: Duration = Duration::from_millis(20);

/// The frame's bytes, header first.
fn frame() -> Vec<u8> {
    let length = u32::try_from(PAYLOAD.len()).expect("the payload is short");
    let mut frame = length.to_be_bytes().to_vec();
    frame.extend_from_slice(PAYLOAD);
    frame
}

/// A whole frame off the front of `buffer`, if it holds one; an error if its length
/// field cannot be right.
fn take_frame(buffer: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    let Some(header) = buffer.first_chunk::<4>() else {
        return Ok(None);
    };
    let length = u32::from_be_bytes(*header) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "frame length {length} ({:?} as text) is over the {MAX_FRAME}-byte limit; the \
                 stream is out of step with its frames (did a cancelled read drop the bytes \
                 before these?)",
                String::from_utf8_lossy(header)
            ),
        ));
    }
    if buffer.len() < 4 + length {
        return Ok(None);
    }
    let payload = buffer[4..4 + length].to_vec();
    buffer.drain(..4 + length);
    Ok(Some(payload))
}

/// A buffer that, when it is dropped, leaves a copy of what it held in `lost`: so that
/// main can print the bytes that a cancelled future took with it.
#[derive(Debug)]
struct ReadBuffer<'a> {
    bytes: Vec<u8>,
    lost: &'a RefCell<Vec<u8>>,
}

impl Drop for ReadBuffer<'_> {
    fn drop(&mut self) {
        *self.lost.borrow_mut() = self.bytes.clone();
    }
}

/// Reads one frame. **Not cancel-safe**: the bytes read so far live in this future
/// (`buffer` is a local held across the `.await`), so dropping the future drops them.
async fn read_frame_naive(stream: &mut TcpStream, lost: &RefCell<Vec<u8>>) -> io::Result<Vec<u8>> {
    let mut buffer = ReadBuffer {
        bytes: Vec::new(),
        lost,
    };
    loop {
        if let Some(frame) = take_frame(&mut buffer.bytes)? {
            return Ok(frame);
        }
        let mut chunk = [0; 64];
        let read = stream.read(&mut chunk).await?; // dropped here: `buffer` goes too
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffer.bytes.extend_from_slice(&chunk[..read]);
    }
}

/// The cancel-safe reader: the buffer lives in the struct, and the future of
/// `read_frame` only borrows it. Dropping that future loses nothing that was read.
#[derive(Debug)]
struct FrameReader {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl FrameReader {
    /// Reads one frame. Cancel-safe: its one `.await` is `TcpStream::read`, which
    /// reads nothing unless it completes, and what it read is in `self.buffer` before
    /// the next `.await`.
    async fn read_frame(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(frame) = take_frame(&mut self.buffer)? {
                return Ok(frame);
            }
            let mut chunk = [0; 64];
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// A connected pair of loopback sockets: (the writing end, the reading end).
async fn socket_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    // The kernel completes the handshake before `accept`: connect, then accept.
    let writer = TcpStream::connect(&address).await?;
    let (reader, _) = listener.accept().await?;
    writer.set_nodelay(true)?;
    Ok((writer, reader))
}

fn hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    hex.join(" ")
}

/// The naive reader: the timeout drops its future, and the bytes in it.
async fn naive_attempt() -> io::Result<()> {
    let frame = frame();
    let (first, second) = frame.split_at(4 + FIRST_PIECE_PAYLOAD);
    let (mut writer, mut reader) = socket_pair().await?;
    let lost = RefCell::new(Vec::new());
    writer.write_all(first).await?;
    println!(
        "   naive: sent the first piece, {} of {} bytes",
        first.len(),
        frame.len()
    );
    // `timeout` polls the read first, so the read takes the first piece before the
    // clock is even looked at; the second piece is sent only after the timeout.
    let outcome = timeout(READ_TIMEOUT, read_frame_naive(&mut reader, &lost)).await;
    println!(
        "   naive: read_frame under a {READ_TIMEOUT:?} timeout: {}",
        describe_timeout(&outcome)
    );
    let lost = lost.take();
    println!(
        "   naive: the dropped future's buffer went with it, holding {} bytes: {}",
        lost.len(),
        hex(&lost)
    );
    writer.write_all(second).await?;
    println!("   naive: sent the second piece, {} bytes", second.len());
    let unused = RefCell::new(Vec::new());
    match read_frame_naive(&mut reader, &unused).await {
        Ok(frame) => println!(
            "   naive: the retry read {:?}",
            String::from_utf8_lossy(&frame)
        ),
        Err(error) => println!("   naive: the retry starts mid-frame: {error}"),
    }
    Ok(())
}

/// The cancel-safe reader: the timeout drops the future, the buffer stays.
async fn cancel_safe_attempt() -> io::Result<()> {
    let frame = frame();
    let (first, second) = frame.split_at(4 + FIRST_PIECE_PAYLOAD);
    let (mut writer, reader) = socket_pair().await?;
    let mut reader = FrameReader {
        stream: reader,
        buffer: Vec::new(),
    };
    writer.write_all(first).await?;
    println!(
        "   cancel-safe: sent the first piece, {} of {} bytes",
        first.len(),
        frame.len()
    );
    let outcome = timeout(READ_TIMEOUT, reader.read_frame()).await;
    println!(
        "   cancel-safe: read_frame under a {READ_TIMEOUT:?} timeout: {}",
        describe_timeout(&outcome)
    );
    let kept = reader.buffer.len();
    println!(
        "   cancel-safe: the reader kept {kept} bytes in its own buffer: {}",
        hex(&reader.buffer)
    );
    writer.write_all(second).await?;
    println!(
        "   cancel-safe: sent the second piece, {} bytes",
        second.len()
    );
    match reader.read_frame().await {
        Ok(payload) => println!(
            "   cancel-safe: the retry completes the frame: {:?} ({} bytes with its header: {kept} kept + {} new)",
            String::from_utf8_lossy(&payload),
            4 + payload.len(),
            4 + payload.len() - kept
        ),
        Err(error) => println!("   cancel-safe: the retry starts mid-frame: {error}"),
    }
    Ok(())
}

fn part_2() -> io::Result<()> {
    println!(
        "2. A timeout around a half-read frame (a 4-byte length, then {} bytes; sent in two pieces over a socket)",
        PAYLOAD.len()
    );
    miniloop::run(naive_attempt())?;
    miniloop::run(cancel_safe_attempt())
}

// ---------------------------------------------------------------------------------
// Part 3: cleanup that must `.await`, handed from `Drop` to a new task.
// ---------------------------------------------------------------------------------

/// A session with records not yet sent. Sending them needs an `.await`, which `Drop`
/// cannot do: so its `Drop` spawns a task that does, and leaves that task's handle
/// where main will find it.
#[derive(Debug)]
struct Session {
    log: Log,
    unsent: Vec<&'static str>,
    cleanups: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        let unsent = std::mem::take(&mut self.unsent);
        let log = self.log.clone();
        // `spawn` needs a running loop: true here, where the loop drops an aborted task.
        let cleanup = spawn(async move {
            sleep(STEP).await; // the `.await` that `Drop` could not do: a flush, a goodbye
            log.push(format!(
                "cleanup task: flushed {} records, after the cancelled future was gone",
                unsent.len()
            ));
        });
        note_drop(
            &self.log,
            &format!(
                "Drop of the session: cannot await; spawned {}",
                cleanup.id()
            ),
        );
        self.cleanups.lock().unwrap().push(cleanup);
    }
}

/// A task that holds a session and waits, with records unsent, until it is aborted.
async fn session_task(log: Log, cleanups: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    let _session = Session {
        log: log.clone(),
        unsent: vec!["record 1", "record 2"],
        cleanups,
    };
    log.push("session: 2 records unsent, waiting");
    sleep(Duration::from_secs(3600)).await; // aborted here
    log.push("session: sent its records itself"); // never runs
}

async fn cleanup_after_abort() -> Vec<String> {
    let log = Log::default();
    let cleanups = Arc::new(Mutex::new(Vec::new()));
    let handle = spawn(session_task(log.clone(), Arc::clone(&cleanups)));
    sleep(STEP).await; // the session starts, and parks at its `.await`
    log.push("main: abort()");
    handle.abort();
    let outcome = handle.await;
    log.push(format!(
        "main: handle.await = {}: the future is gone",
        describe(&outcome)
    ));
    let waiting: Vec<JoinHandle<()>> = std::mem::take(&mut *cleanups.lock().unwrap());
    for cleanup in waiting {
        cleanup.await.expect("the cleanup task does not panic");
    }
    log.push("main: the cleanup task is done");
    log.take()
}

fn part_3() {
    println!("3. Cleanup that must .await: Drop cannot, so it spawns a task");
    for event in miniloop::run(cleanup_after_abort()) {
        println!("   {event}");
    }
}

fn main() {
    part_1();
    if let Err(error) = part_2() {
        eprintln!("error: part 2 needs two loopback sockets and could not make them: {error}");
        std::process::exit(1);
    }
    part_3();
}
