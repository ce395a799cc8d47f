//! An exhaustive interleaving check (loom) of the lock-free join cell, `src/task/join_cell.rs`:
//! how a task's output reaches its `JoinHandle`.
//!
//! Unlike `tests/loom_wake.rs`, which re-states its protocol, this file compiles the real
//! module: `join_cell.rs` takes its atomics and its `UnsafeCell` from loom under `--cfg loom`.
//! loom runs each model under every interleaving (up to `LOOM_MAX_PREEMPTIONS` forced thread
//! switches) and fails a model if:
//!
//! - the two sides touch a cell at once where one of them writes (loom's `UnsafeCell` tracks
//!   every access): a waker dropped while the other side wakes it, an output read while it is
//!   written;
//! - a wake is lost: the handle answered `Pending`, the task completed, and the waker the handle
//!   left last was never woken;
//! - an output or a waker is dropped twice or never (the counts checked at the end of each
//!   model).
//!
//! Run it with the wake models (`loom/Cargo.toml` says why this is a package of its own):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

#[path = "../src/task/join_cell.rs"]
#[allow(dead_code)]
mod join_cell;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};

use join_cell::JoinCell;
use loom::thread;

/// A waker that counts its wakes; its `Arc`'s strong count tells how many clones are alive.
#[derive(Default)]
struct CountingWaker {
    wakes: AtomicUsize,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counter));
    (counter, waker)
}

/// An output that counts how often it is dropped.
struct Output {
    value: u32,
    drops: Arc<AtomicUsize>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// The task side completes on its own thread while the handle side runs `during` on this one;
/// then, with the task side done, `after` runs on the handle side. Returns how often the
/// output was dropped by then (and checks that freeing the cell drops nothing more).
fn race<R>(
    during: impl FnOnce(&JoinCell<Output>) -> R,
    after: impl FnOnce(&JoinCell<Output>, R),
) -> usize {
    let drops = Arc::new(AtomicUsize::new(0));
    let cell = Arc::new(JoinCell::new());
    let task_side = {
        let cell = Arc::clone(&cell);
        let drops = Arc::clone(&drops);
        thread::spawn(move || {
            // SAFETY: this thread is the only task side.
            unsafe { cell.complete(Output { value: 42, drops }) };
        })
    };
    let seen = during(&cell);
    task_side.join().unwrap();
    after(&cell, seen);
    let dropped = drops.load(Ordering::SeqCst);
    drop(cell);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        dropped,
        "the output is dropped once both sides are done, not with the cell: \
         a waker can keep a finished task's allocation alive for long"
    );
    dropped
}

/// After the task side is done: a handle that last heard `Pending` must have been woken
/// through the waker it left, and must now find the output.
///
/// # Safety
/// The caller is the handle side, before `detach`.
unsafe fn finish_awaiting(
    cell: &JoinCell<Output>,
    last: Poll<u32>,
    woken: &CountingWaker,
    waker: &Waker,
) {
    let value = match last {
        Poll::Ready(value) => value,
        Poll::Pending => {
            assert_eq!(
                woken.wakes.load(Ordering::SeqCst),
                1,
                "the last waker left was woken once"
            );
            // SAFETY: passed on from our caller.
            match unsafe { cell.poll_take(waker, || {}) } {
                Poll::Ready(output) => output.value,
                Poll::Pending => panic!("the task completed but the handle still says Pending"),
            }
        }
    };
    assert_eq!(value, 42);
}

#[test]
fn join_a_handle_awaiting_the_output_is_woken_and_gets_it_once() {
    loom::model(|| {
        let (counter, waker) = counting_waker();
        let drops = race(
            // SAFETY: this thread is the only handle side.
            |cell| unsafe { cell.poll_take(&waker, || {}).map(|output| output.value) },
            |cell, first| {
                // SAFETY: still the handle side; `detach` is its last call.
                unsafe {
                    finish_awaiting(cell, first, &counter, &waker);
                    cell.detach();
                }
            },
        );
        assert_eq!(drops, 1, "the output is dropped exactly once");
        drop(waker);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "every waker clone is dropped"
        );
    });
}

#[test]
fn join_a_handle_that_changes_waker_gets_the_wake_on_the_new_one() {
    loom::model(|| {
        let (first_counter, first) = counting_waker();
        let (second_counter, second) = counting_waker();
        let drops = race(
            |cell| {
                // SAFETY: this thread is the only handle side.
                unsafe {
                    match cell.poll_take(&first, || {}) {
                        // The awaiting task moved (a `select!` re-polled it with another
                        // waker): from now on only the new waker may be relied on.
                        Poll::Pending => cell.poll_take(&second, || {}).map(|output| output.value),
                        Poll::Ready(output) => Poll::Ready(output.value),
                    }
                }
            },
            |cell, last| {
                // SAFETY: still the handle side; `detach` is its last call.
                unsafe {
                    finish_awaiting(cell, last, &second_counter, &second);
                    cell.detach();
                }
            },
        );
        assert_eq!(drops, 1);
        drop((first, second));
        assert_eq!(
            Arc::strong_count(&first_counter),
            1,
            "the first waker is released"
        );
        assert_eq!(
            Arc::strong_count(&second_counter),
            1,
            "the second waker is released"
        );
    });
}

#[test]
fn join_a_handle_dropped_while_the_task_completes_drops_output_and_waker_once() {
    loom::model(|| {
        let (counter, waker) = counting_waker();
        let drops = race(
            |cell| {
                // SAFETY: this thread is the only handle side; `detach` is its last call.
                unsafe {
                    let _ = cell.poll_take(&waker, || {}); // leaves a waker, or takes the output
                    cell.detach();
                }
            },
            |_, ()| {},
        );
        assert_eq!(drops, 1, "whoever holds the output last drops it, once");
        drop(waker);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "the stored waker is released"
        );
    });
}

#[test]
fn join_a_handle_dropped_unpolled_leaves_the_output_to_the_task_side() {
    loom::model(|| {
        // SAFETY: this thread is the only handle side; `detach` is its only call.
        let drops = race(|cell| unsafe { cell.detach() }, |_, ()| {});
        assert_eq!(drops, 1);
    });
}
