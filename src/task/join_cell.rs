//! Where a task's output waits for its `JoinHandle`: one atomic word and two cells, no lock.
//!
//! Two sides share a `JoinCell`. The **task side** (the loop that finishes the task, or the
//! pool thread of a `spawn_blocking` job) puts the output in once. The **handle side** (the
//! one `JoinHandle`, on any thread) leaves the waker of whoever awaits it, takes the output,
//! or is dropped. Three bits of `state` say who may touch which cell:
//!
//! - `COMPLETE`: the task side is done. Set once, by the task side, right after writing the
//!   output into `output`. Before it is set `output` is the task side's; after it, the handle
//!   side's. If the handle is gone already, the task side drops the output instead of storing
//!   it, and sets `COMPLETE` with a plain store: nobody else looks at the cell any more.
//! - `JOIN_WAKER`: a waker is in `waker`. Set by the handle side after writing one, and only
//!   while `COMPLETE` is unset. While it is set both sides may *read* the waker (the task side
//!   wakes it by reference) and neither may change it. The handle clears it, while `COMPLETE`
//!   is unset, to put a new waker in; the task side clears it once it has woken the waker.
//! - `DETACHED`: the handle was dropped and will not look again. A handle that sees
//!   `COMPLETE` without `JOIN_WAKER` knows the task side will never touch the cell again, and
//!   is dropped without setting it.
//!
//! A waker left in the cell after the task completes is dropped by whichever side comes last:
//! the task side clearing `JOIN_WAKER`, or the handle when it is dropped. An output nobody
//! took is dropped the same way, as soon as both sides are done, not when the task's
//! allocation is freed (a waker may keep that alive for long); only an empty `Option` is
//! left for the allocation to free.
//!
//! # Why not a `Mutex`
//! It was one, and a lock plus an unlock is two atomic read-modify-writes. A spawned task
//! took the lock three times (finishing, the handle's poll, the handle's drop): six atomics
//! that cost about 20 ns per task on this machine. Here finishing is one `fetch_or`, a handle
//! that finds the output ready reads it after one load and is dropped after another, and a
//! handle dropped early costs one `fetch_or`, after which finishing costs none
//! (`docs/benchmarks.md`, "Inside rung 3"). The price is the `unsafe` below, each block
//! saying which rule above makes it sound, and a loom model that runs this very file under
//! every interleaving (`tests/loom_join.rs`).
//!
//! The same protocol is tokio's (`JOIN_INTEREST`, `JOIN_WAKER` and `COMPLETE` in its task
//! state), cut down to a task with one handle and no reference count in the word.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::{Poll, Waker};

use self::sync::{AtomicUsize, Ordering, UnsafeCell};

/// The output is in `output`.
const COMPLETE: usize = 1;
/// A waker is in `waker`.
const JOIN_WAKER: usize = 2;
/// The handle is gone.
const DETACHED: usize = 4;

/// The output of a task, on its way to the task's `JoinHandle`.
pub(crate) struct JoinCell<V> {
    state: AtomicUsize,
    output: UnsafeCell<Option<V>>,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are shared between the task side and the handle side, which may be on
// different threads; the state bits decide which side may touch each cell at any moment (see
// the module's documentation), and each access below says which bit allows it. `V: Send`
// because the output is written on one thread and taken, or dropped, on another.
#[allow(unsafe_code)]
unsafe impl<V: Send> Sync for JoinCell<V> {}
// SAFETY: as for `Sync`; moving the cell moves an output and a waker, both `Send`.
#[allow(unsafe_code)]
unsafe impl<V: Send> Send for JoinCell<V> {}

impl<V> JoinCell<V> {
    pub(crate) fn new() -> Self {
        JoinCell {
            state: AtomicUsize::new(0),
            output: UnsafeCell::new(None),
            waker: UnsafeCell::new(None),
        }
    }

    /// Whether the output has been put in (it may have been taken since).
    pub(crate) fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// The three bits as the stuck-loop check reads them (`event_loop/stuck.rs`), from one
    /// `Acquire` load. Only the bits: the check never reads the waker itself, which the handle
    /// side may be replacing on another thread at that very moment.
    pub(crate) fn view(&self) -> JoinView {
        let state = self.state.load(Ordering::Acquire);
        JoinView {
            is_complete: state & COMPLETE != 0,
            has_waker: state & JOIN_WAKER != 0,
            is_detached: state & DETACHED != 0,
        }
    }

    /// The task side: puts the output in and wakes the handle's waker. A second call (which
    /// the task side does not make) drops its value. A panic in the waker or in the output's
    /// `Drop` is contained: it is someone else's code, and the loop must go on.
    ///
    /// # Safety
    /// Only the task side calls this, never from two threads at once.
    #[allow(unsafe_code)]
    #[inline]
    pub(crate) unsafe fn complete(&self, value: V) {
        // Inlined up to the `fetch_or`: a task whose handle is alive and not awaited yet (every
        // task of `spawn_many` but the first) costs a load, a store and one atomic, not a call.
        let state = self.state.load(Ordering::Acquire);
        if state & (COMPLETE | DETACHED) == 0 {
            // SAFETY: `COMPLETE` is unset, so `output` is the task side's, and we are it. It
            // is empty (only this line fills it, once: a second report finds `COMPLETE`), so
            // it is written over without a check for an old value to drop.
            unsafe { self.output.with_mut(|output| output.write(Some(value))) };
            let before = self.state.fetch_or(COMPLETE, Ordering::AcqRel);
            if before & (DETACHED | JOIN_WAKER) != 0 {
                // SAFETY: passed on from our caller.
                unsafe { self.wake_or_drop(before) };
            }
            // Otherwise nobody awaits the handle yet; its next poll finds the output.
            return;
        }
        if state & (COMPLETE | JOIN_WAKER) != 0 {
            // SAFETY: passed on from our caller.
            return unsafe { self.complete_unheard(state, value) };
        }
        // `DETACHED` alone, inlined too: a task whose handle was dropped at once (a detached
        // spawn, `chained_spawn`). The handle is gone for good and left no waker, so nobody
        // writes `state` or touches the cells any more, and the `Acquire` above has seen all
        // it did: a plain store marks the cell complete, and the output nobody will read is
        // dropped rather than stored.
        self.state.store(state | COMPLETE, Ordering::Release);
        drop_quietly(value);
    }

    /// `complete` when nobody will read `value`: the cell is complete already, or the handle
    /// is gone (`state`, as `complete` loaded it, has `COMPLETE` or `DETACHED`).
    ///
    /// # Safety
    /// As for `complete`.
    #[allow(unsafe_code)]
    #[inline(never)]
    unsafe fn complete_unheard(&self, state: usize, value: V) {
        if state & COMPLETE != 0 {
            drop_quietly(value); // only the task side sets `COMPLETE`: this is a second report
            return;
        }
        // The handle is gone for good (`detach` is its last call), so no other thread writes
        // `state` or touches the cells any more, and the `Acquire` in `complete` has seen all
        // it did. Nobody will read the output: drop it rather than store it, and mark the cell
        // complete with a plain store instead of a read-modify-write. (`chained_spawn`, whose
        // handles are dropped at once, saves one atomic per task.)
        if state & JOIN_WAKER != 0 {
            // SAFETY: `JOIN_WAKER` with `DETACHED` leaves the waker to the task side.
            drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
        }
        self.state.store(state | COMPLETE, Ordering::Release);
        drop_quietly(value);
    }

    /// `complete` after it set `COMPLETE`, when the bits before (`before`) say that the handle
    /// went meanwhile (the output is ours to drop) or that a waker waits to be woken.
    ///
    /// # Safety
    /// As for `complete`; only `complete` calls it, right after its `fetch_or`.
    #[allow(unsafe_code)]
    #[inline(never)]
    unsafe fn wake_or_drop(&self, before: usize) {
        if before & DETACHED != 0 {
            // SAFETY: the handle is gone and never looks again, so the output is ours.
            drop_quietly_if_some(unsafe { self.output.with_mut(|output| (*output).take()) });
            if before & JOIN_WAKER != 0 {
                // SAFETY: the handle left its waker flagged when it went: it is ours too. (If
                // the flag is unset, the handle drops the waker itself: touching it here too
                // was a race that the loom model found, `tests/loom_join.rs`.)
                drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
            }
            return;
        }
        // SAFETY: `JOIN_WAKER` is set: both sides may read the waker, neither changes it.
        unsafe {
            self.waker.with(|waker| {
                if let Some(waker) = &*waker {
                    let _ = catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref()));
                }
            });
        }
        let before = self.state.fetch_and(!JOIN_WAKER, Ordering::AcqRel);
        if before & DETACHED != 0 {
            // SAFETY: the handle was dropped while `JOIN_WAKER` was set, so it left the waker
            // to us, and it never looks again.
            drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
        }
    }

    /// The handle side: the output if it is in, otherwise `Pending` with `waker` left to be
    /// woken when it comes (replacing an older waker that would not wake the same task).
    ///
    /// `before_new_waker` runs when a new waker is about to go in: after the task side has
    /// let go of the old one (`JOIN_WAKER` unset), before the old one is dropped. The stuck
    /// check hangs its bookkeeping there (`JoinHandle::poll`); the cell does not care what it
    /// does, and it runs at most once per call.
    ///
    /// # Panics
    /// If the output was taken already: a `JoinHandle` returns its result once.
    ///
    /// # Safety
    /// Only the handle side calls this and `try_take`, never from two threads at once, and
    /// never after `detach`.
    #[allow(unsafe_code)]
    #[inline]
    pub(crate) unsafe fn poll_take(
        &self,
        waker: &Waker,
        before_new_waker: impl FnOnce(),
    ) -> Poll<V> {
        // Inlined up to here: a handle awaited after its task finished (every handle of
        // `spawn_many` but the first) costs a load and a test, not a call.
        let state = self.state.load(Ordering::Acquire);
        if state & COMPLETE != 0 {
            // SAFETY: passed on from our caller.
            return Poll::Ready(unsafe { self.take_output() });
        }
        // SAFETY: passed on from our caller.
        unsafe { self.leave_waker(state, waker, before_new_waker) }
    }

    /// `poll_take` when the output is not in yet (`state`, as `poll_take` loaded it, has no
    /// `COMPLETE`): leaves `waker`, unless the cell holds one that wakes the same task.
    ///
    /// # Safety
    /// As for `poll_take`.
    #[allow(unsafe_code)]
    #[inline(never)]
    unsafe fn leave_waker(
        &self,
        mut state: usize,
        waker: &Waker,
        before_new_waker: impl FnOnce(),
    ) -> Poll<V> {
        if state & JOIN_WAKER != 0 {
            // SAFETY: `JOIN_WAKER` is set: reading the waker is allowed.
            let is_same = unsafe {
                self.waker.with(|stored| {
                    (*stored)
                        .as_ref()
                        .is_some_and(|stored| stored.will_wake(waker))
                })
            };
            if is_same {
                return Poll::Pending;
            }
            // Take the waker back to replace it; this fails only if the task side has set
            // `COMPLETE` meanwhile (nothing else changes the word under the handle's feet).
            match self.state.compare_exchange(
                state,
                state & !JOIN_WAKER,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => state &= !JOIN_WAKER,
                // SAFETY: passed on from our caller.
                Err(_) => return Poll::Ready(unsafe { self.take_output() }),
            }
        }
        before_new_waker();
        // SAFETY: `JOIN_WAKER` is unset, so the task side does not read the waker: it is ours.
        // (If `COMPLETE` is set meanwhile, the task side saw no `JOIN_WAKER` and leaves it.)
        let old = unsafe {
            self.waker
                .with_mut(|stored| (*stored).replace(waker.clone()))
        };
        drop(old);
        match self.state.compare_exchange(
            state,
            state | JOIN_WAKER,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Poll::Pending,
            Err(_) => {
                // `COMPLETE` came first. The waker we left is still ours: take it back.
                // SAFETY: `JOIN_WAKER` is unset, as above.
                drop(unsafe { self.waker.with_mut(|stored| (*stored).take()) });
                // SAFETY: passed on from our caller.
                Poll::Ready(unsafe { self.take_output() })
            }
        }
    }

    /// The handle side: the output if it is in, without leaving a waker (a `run_now` section,
    /// which must not replace the waker of a task that really awaits this handle).
    ///
    /// # Safety
    /// As for `poll_take`.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn try_take(&self) -> Option<V> {
        // SAFETY: passed on from our caller.
        self.is_complete().then(|| unsafe { self.take_output() })
    }

    /// The handle side: whether the output has been taken (`COMPLETE` is set and `output` is
    /// empty), for `FusedFuture::is_terminated`. Reads only.
    ///
    /// # Safety
    /// Only the handle side calls this, never after `detach`, and never while a handle-side call
    /// that writes (`poll_take`, `try_take`) runs. Two `is_taken` at once are fine: both read.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn is_taken(&self) -> bool {
        if self.state.load(Ordering::Acquire) & COMPLETE == 0 {
            return false;
        }
        // SAFETY: `COMPLETE` is set, so `output` is the handle side's, and the task side never
        // touches it again; the caller is the handle side, and nothing on that side writes it
        // meanwhile (above).
        unsafe { self.output.with(|output| (*output).is_none()) }
    }

    /// The handle side, when the handle is dropped: the task side drops the output if it
    /// comes later; if it came already, it is dropped here. A panic in the output's `Drop` or
    /// the waker's is contained, as on the task side: `drop(handle)` must not panic, and a
    /// handle dropped during an unwind would otherwise abort the process.
    ///
    /// # Safety
    /// Only the handle side calls this, once, and calls nothing after it.
    #[allow(unsafe_code)]
    #[inline]
    pub(crate) unsafe fn detach(&self) {
        let state = self.state.load(Ordering::Acquire);
        if state & (COMPLETE | JOIN_WAKER) != COMPLETE {
            // SAFETY: passed on from our caller.
            return unsafe { self.detach_announced() };
        }
        // Inlined up to here: the task side is done with the cell for good. It has put the
        // output in and has no waker of ours left to wake (clearing `JOIN_WAKER` is its last
        // access), and the `Acquire` above has seen all it did. Nobody reads `DETACHED` any
        // more, so it is not set: one read-modify-write fewer for every handle that got its
        // output, and no call.
        // SAFETY: `COMPLETE` is set and the handle has not detached before: the output is ours.
        let output = unsafe { self.output.with_mut(|output| (*output).take()) };
        // SAFETY: the task side has cleared `JOIN_WAKER` (or never saw it), so it reads the
        // waker no more: it is ours.
        drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
        drop_quietly_if_some(output);
    }

    /// `detach` while the task side may still touch the cell (it has not completed, or it
    /// has a waker of ours to wake): sets `DETACHED`, then drops what that leaves to the
    /// handle.
    ///
    /// # Safety
    /// As for `detach`, which is its only caller.
    #[allow(unsafe_code)]
    #[inline(never)]
    unsafe fn detach_announced(&self) {
        let before = self.state.fetch_or(DETACHED, Ordering::AcqRel);
        if before & COMPLETE == 0 {
            if before & JOIN_WAKER == 0 {
                // SAFETY: `JOIN_WAKER` is unset: the waker is ours, and `DETACHED` tells the
                // task side to leave it (it reads it only if `JOIN_WAKER` was set).
                drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
            }
            return; // the task side drops the output when it comes
        }
        // SAFETY: `COMPLETE` is set and the handle has not detached before: the output is ours.
        let output = unsafe { self.output.with_mut(|output| (*output).take()) };
        if before & JOIN_WAKER == 0 {
            // SAFETY: the task side has cleared `JOIN_WAKER` (or never saw it), so it reads
            // the waker no more: it is ours.
            drop_quietly_if_some(unsafe { self.waker.with_mut(|waker| (*waker).take()) });
        }
        drop_quietly_if_some(output);
    }

    /// # Safety
    /// `COMPLETE` is set, and the caller is the handle side, before `detach`.
    #[allow(unsafe_code)]
    unsafe fn take_output(&self) -> V {
        // SAFETY: `COMPLETE` is set and the handle is not detached: `output` is the handle
        // side's, and the caller is it.
        let output = unsafe { self.output.with_mut(|output| (*output).take()) };
        output.expect("`JoinHandle` polled after it returned its result; await it once")
    }
}

impl<V> std::fmt::Debug for JoinCell<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Acquire);
        f.debug_struct("JoinCell")
            .field("is_complete", &(state & COMPLETE != 0))
            .field("has_waker", &(state & JOIN_WAKER != 0))
            .field("is_detached", &(state & DETACHED != 0))
            .finish()
    }
}

/// A join cell's state bits at one moment (`JoinCell::view`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JoinView {
    /// `COMPLETE`: the task side has put the output in.
    pub(crate) is_complete: bool,
    /// `JOIN_WAKER`: a waker is in the cell, and only the task's completion wakes it.
    pub(crate) has_waker: bool,
    /// `DETACHED`: the handle was dropped. (A handle dropped after it got its output does not
    /// set it, so this says "the handle is alive" only while the task is unfinished.)
    pub(crate) is_detached: bool,
}

/// Drops `value`, containing a panic from its `Drop` (an output's `Drop` is user code).
fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// `drop_quietly` for what a side takes out of a cell, which is most often nothing: a handle
/// that got its output drops an empty `Option`, and usually no waker. Nothing to drop costs a
/// test here rather than a call (10 instructions per task in `spawn_many`).
#[inline(always)]
fn drop_quietly_if_some<T>(value: Option<T>) {
    if let Some(value) = value {
        drop_quietly(value);
    }
}

/// std's atomics and an `UnsafeCell` with loom's closure-based API, or loom's own types when
/// the loom model compiles this file (`--cfg loom`, `tests/loom_join.rs`).
#[cfg(not(loom))]
mod sync {
    pub(super) use std::sync::atomic::{AtomicUsize, Ordering};

    /// `std::cell::UnsafeCell`, read and written through closures as loom's is, so that the
    /// same code runs under loom, which checks every access against the others.
    pub(super) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(super) const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }

        pub(super) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        pub(super) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod sync {
    pub(super) use loom::cell::UnsafeCell;
    pub(super) use loom::sync::atomic::{AtomicUsize, Ordering};
}

// Not under loom: loom's atomics work only inside a loom model (`tests/loom_join.rs`).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Guarantee (issue 20, item 7): a cell's `Debug` shows its three state bits as the
    /// protocol moves them; no test reached it before. Fails with the impl's body replaced by
    /// `Ok(())` (mutation tried by hand).
    #[test]
    #[allow(unsafe_code)]
    fn debug_shows_the_state_bits_as_the_protocol_moves_them() {
        let shown = |cell: &JoinCell<u8>| {
            let text = format!("{cell:?}");
            let bit = |name: &str| text.contains(&format!("{name}: true"));
            assert!(text.starts_with("JoinCell {"), "{text}");
            [bit("is_complete"), bit("has_waker"), bit("is_detached")]
        };
        let awaited = JoinCell::new();
        assert_eq!(shown(&awaited), [false, false, false]);
        // SAFETY: this test is both the one handle side and the one task side, in turn.
        unsafe {
            assert!(awaited.poll_take(Waker::noop(), || {}).is_pending());
            assert_eq!(shown(&awaited), [false, true, false], "a waker left");
            assert!(!awaited.is_taken());
            awaited.complete(7);
            assert_eq!(shown(&awaited), [true, false, false], "woken, then cleared");
            assert!(!awaited.is_taken(), "complete, not taken yet");
            assert_eq!(awaited.try_take(), Some(7));
            assert!(awaited.is_taken());
            awaited.detach();
        }
        let dropped = JoinCell::new();
        // SAFETY: as above.
        unsafe {
            dropped.detach();
            assert_eq!(shown(&dropped), [false, false, true], "the handle is gone");
            dropped.complete(8);
            assert_eq!(shown(&dropped), [true, false, true]);
        }
    }

    /// Guarantee: `poll_take` calls `before_new_waker` once each time a new waker goes in,
    /// never for a waker that `will_wake` like the one kept, and while the old waker is still
    /// in the cell (the stuck check writes down whose the new one is before the old one's
    /// count goes down: `event_loop/stuck.rs`, "Races").
    #[test]
    #[allow(unsafe_code)]
    fn the_hook_runs_once_per_new_waker_before_the_old_one_is_dropped() {
        use std::cell::Cell;
        use std::sync::Arc;
        use std::task::Wake;

        struct Counted;
        impl Wake for Counted {
            fn wake(self: Arc<Self>) {}
        }
        let first = Arc::new(Counted);
        let second = Arc::new(Counted);
        let (first_waker, second_waker) = (
            Waker::from(Arc::clone(&first)),
            Waker::from(Arc::clone(&second)),
        );
        let cell = JoinCell::<u8>::new();
        let calls = Cell::new(0);
        // SAFETY: this test is the one handle side, then the one task side.
        unsafe {
            let _ = cell.poll_take(&first_waker, || calls.set(calls.get() + 1));
            assert_eq!(calls.get(), 1, "a first waker goes in");
            // (Under miri, `will_wake` may say no for a clone: the vtable's address can differ
            // between uses, which miri mimics; the cell then replaces the waker, and calls the
            // hook, as it should.)
            let _ = cell.poll_take(&first_waker, || calls.set(calls.get() + 1));
            if !cfg!(miri) {
                assert_eq!(calls.get(), 1, "the same waker again: nothing new");
            }
            calls.set(1);
            let _ = cell.poll_take(&second_waker, || {
                calls.set(calls.get() + 1);
                // `first`: ours, `first_waker`'s, and the clone still in the cell.
                assert_eq!(
                    Arc::strong_count(&first),
                    3,
                    "the old waker is still in the cell"
                );
            });
            assert_eq!(calls.get(), 2);
            assert_eq!(
                Arc::strong_count(&first),
                2,
                "and is dropped after the hook"
            );
            cell.complete(5);
            assert_eq!(
                cell.poll_take(&first_waker, || panic!("no waker goes in")),
                Poll::Ready(5)
            );
            cell.detach();
        }
    }
}
