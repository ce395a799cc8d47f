//! An exhaustive interleaving check (loom) of how a task on the multi-thread runtime waits for
//! a socket (`src/multi_thread/driver.rs`, `IoSource`, and `Registered::poll_io` in
//! `src/net.rs`). The question: can a readiness event fall between a task's "would block" and
//! the filing of its waker, and be lost?
//!
//! `IoSource` uses std's `Mutex` and atomics, which loom cannot see into, so this file
//! re-states it with loom's types, step for step, with `src/`'s names and orderings (as
//! `tests/loom_mt_park.rs` does for the sleep protocol). The socket itself is an atomic flag
//! (the kernel's "readable"), and edge-triggered readiness is what the other thread does:
//! it makes the socket readable, and only then delivers the event (`IoDriver::poll`'s
//! `dispatch`), once. A task that read the flag as empty and filed its waker must be woken by
//! that event; otherwise it waits for ever on a readable socket. Each model checks, after both
//! threads end: the task got the data, or its waker was woken.
//!
//! Run it with the other models (`loom/Cargo.toml` says why this is a package of its own):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use loom::sync::Mutex;
use loom::thread;

/// Which rule of the protocol a model keeps or breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// What `src/` does: read the count, try, and file only if the count has not moved
    /// (checked under the lock `dispatch` takes).
    Src,
    /// No count: file the waker after "would block", as the single loop may (its events are
    /// handled on the same thread, between polls). The event that came in between finds no
    /// waker.
    NoCount,
    /// The count read *after* the attempt: an event between the attempt and that read is
    /// already in the count, so the check passes and the waker is filed too late.
    CountAfterAttempt,
}

/// `IoSource`, one direction: the event count and the filed wakers (a waker here is the flag
/// it sets when woken).
#[derive(Default)]
struct IoSource {
    tick: AtomicU64,
    waiters: Mutex<Vec<Arc<AtomicBool>>>,
}

impl IoSource {
    /// `IoSource::tick`.
    fn tick(&self) -> u64 {
        self.tick.load(Ordering::Acquire)
    }

    /// `IoSource::file`: `false` means "an event came since `tick`: try again".
    fn file(&self, waker: &Arc<AtomicBool>, tick: u64, protocol: Protocol) -> bool {
        let mut waiters = self.waiters.lock().unwrap();
        if protocol != Protocol::NoCount && self.tick.load(Ordering::Acquire) != tick {
            return false;
        }
        waiters.push(Arc::clone(waker));
        true
    }

    /// `IoSource::dispatch`: counts the event and takes the wakers; they are woken after the
    /// lock is released, as `IoDriver::poll`'s caller does.
    fn dispatch(&self) {
        let woken: Vec<_> = {
            let mut waiters = self.waiters.lock().unwrap();
            self.tick.fetch_add(1, Ordering::Release);
            waiters.drain(..).collect()
        };
        for waker in woken {
            waker.store(true, Ordering::SeqCst);
        }
    }
}

/// What one poll of the reading task ended with.
#[derive(Debug, PartialEq, Eq)]
enum Polled {
    Ready,
    Pending,
}

/// `Registered::poll_io` for a read: the loop of count, attempt, file.
fn poll_read(
    source: &IoSource,
    readable: &AtomicBool,
    waker: &Arc<AtomicBool>,
    protocol: Protocol,
) -> Polled {
    loop {
        let mut tick = source.tick();
        // The system call: takes the data if there is any, else "would block". A
        // compare-exchange, not a `swap`: loom 0.7 lets a plain store slip between the read
        // and the write of a `swap` (tokio-rs/loom#254, #389), which makes a `swap` read a
        // value already overwritten and fails `Src` for a reason no machine has.
        if readable
            .compare_exchange(true, false, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return Polled::Ready;
        }
        if protocol == Protocol::CountAfterAttempt {
            tick = source.tick();
        }
        if source.file(waker, tick, protocol) {
            return Polled::Pending;
        }
        // An event came during the attempt: try again.
    }
}

/// One task reads while data arrives and its event is delivered on another thread.
fn model(protocol: Protocol) {
    loom::model(move || {
        let source = Arc::new(IoSource::default());
        let readable = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(AtomicBool::new(false));

        let sender = {
            let (source, readable) = (Arc::clone(&source), Arc::clone(&readable));
            thread::spawn(move || {
                readable.store(true, Ordering::SeqCst); // the data arrives: an edge
                source.dispatch(); // the driver collects the edge's one event
            })
        };
        let polled = poll_read(&source, &readable, &waker, protocol);
        sender.join().unwrap();

        if polled == Polled::Pending {
            assert!(
                waker.load(Ordering::SeqCst),
                "the task waits on a readable socket and nobody will wake it: the event fell \
                 between its \"would block\" and its filed waker"
            );
        }
    });
}

#[test]
fn an_event_during_the_attempt_is_never_lost() {
    model(Protocol::Src);
}

#[test]
#[should_panic(expected = "nobody will wake it")]
fn broken_no_count_loses_the_event() {
    model(Protocol::NoCount);
}

#[test]
#[should_panic(expected = "nobody will wake it")]
fn broken_count_read_after_the_attempt_loses_the_event() {
    model(Protocol::CountAfterAttempt);
}
