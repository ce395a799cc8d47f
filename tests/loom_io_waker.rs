//! An exhaustive interleaving check (loom) of how a remote wake reaches a loop that blocks in
//! the OS poller: `Shared::set_io_waker` and `Shared::notify_loop` in `src/waker.rs`.
//!
//! The loop stores its reactor's waker (`io_waker`), then, before it blocks in the poller,
//! loads the "remote wakes" flag. A waking thread stores the flag, then loads `io_waker`: if it
//! is there, it writes the eventfd, which wakes the poller; if not, it `unpark`s, which does
//! not reach a loop blocked in the poller. Each side stores one thing and loads the other:
//! without a `SeqCst` fence between store and load on both sides, both may read the old value
//! (the store-buffer pattern), and the wake is lost. loom checks the fenced protocol of `src/`
//! and must fail the unfenced one.
//!
//! Run it with the other loom models (`loom/Cargo.toml` says why this is a package of its own):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// The part of `waker::Shared` this protocol touches.
#[derive(Default)]
struct Shared {
    has_remote_wakes: AtomicBool,
    /// `io_waker` holds a waker (`lock_io_waker().is_some()`).
    has_io_waker: AtomicBool,
    /// The eventfd's count: what wakes a loop blocked in the poller.
    eventfd: AtomicUsize,
}

fn run(with_fences: bool) {
    loom::model(move || {
        let shared = Arc::new(Shared::default());
        let waker = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                // `notify_loop`, after the push.
                shared.has_remote_wakes.store(true, Ordering::Release);
                if with_fences {
                    fence(Ordering::SeqCst);
                }
                if shared.has_io_waker.load(Ordering::Acquire) {
                    shared.eventfd.fetch_add(1, Ordering::Release);
                }
                // Otherwise `unpark`, which a loop blocked in the poller never sees.
            })
        };
        // The loop: `set_io_waker` as the reactor opens, then `wait_for_work`.
        shared.has_io_waker.store(true, Ordering::Release);
        if with_fences {
            fence(Ordering::SeqCst);
        }
        if !shared.has_remote_wakes.load(Ordering::Acquire) {
            // Blocked in the poller until the eventfd is written. If nobody writes it, this
            // never ends, and loom fails the model.
            while shared.eventfd.load(Ordering::Acquire) == 0 {
                thread::yield_now();
            }
        }
        waker.join().unwrap();
    });
}

#[test]
fn src_fenced_handshake_never_loses_the_wake() {
    run(true);
}

/// The loop spins "in the poller" forever in the interleaving where both sides read the old
/// value: loom reports it as a model that never makes progress.
#[test]
#[should_panic(expected = "maximum number of branches")]
fn broken_unfenced_handshake_can_lose_the_wake() {
    run(false);
}
