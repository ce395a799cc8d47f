//! A worker's local run queue: a bounded ring that one thread pushes to and pops from, and that
//! other threads steal half of at a time, with no lock.
//!
//! Each worker of the multi-thread runtime owns a [`Local`]; every other worker holds its
//! [`Stealer`]. The owner pushes the tasks it wakes and pops the next one to run; a worker with
//! nothing to do takes about half of someone else's tasks in one go ([`Stealer::steal_into`]).
//! When the ring is full, [`Local::push_back`] hands half of it to the runtime's shared queue
//! in one batch, so a busy worker never blocks and its extra work becomes visible to all.
//!
//! # The ring and its indices
//! `slots` is a ring of [`LOCAL_QUEUE_CAPACITY`] cells, each holding an element or nothing
//! (`MaybeUninit`). A position is a `u32` that only counts up (wrapping); its slot is
//! `position % capacity`. Three positions describe the queue:
//!
//! - `tail`: where the next push goes. Written **only by the owner**, so the owner keeps its
//!   own copy in `Local` and publishes each new value in `Inner::tail` for the thieves.
//! - `real`: the next element to take. The owner's `pop` and a thief's claim both advance it,
//!   by compare-and-swap, so each element goes to exactly one of them.
//! - `steal`: where the elements a thief has claimed but not yet copied out begin. Equal to
//!   `real` when no steal is under way.
//!
//! Elements live in `real..tail`; slots in `steal..real` are being copied out by a thief; the
//! rest are free, and only the owner writes into free slots.
//!
//! # Why `head` packs two positions
//! A steal cannot be one atomic step: it must claim elements, then copy them out of their
//! slots, and the copy takes time. If claiming advanced a single head index, the owner would
//! see those slots as free at once and could push new elements into them while the thief is
//! still reading them. So the thief claims by advancing `real` only, copies, and then releases
//! by moving `steal` up to meet `real`. Meanwhile the owner's `pop` keeps working (it advances
//! `real`), but the owner measures free room from `steal`, so it never writes into a slot a
//! thief may be reading. Both halves sit in one `AtomicU64` (`steal` in the high 32 bits, `real`
//! in the low 32) because each decision needs both at once: "is a steal under way?" is
//! `steal != real`, and a CAS on the pair fails if either half moved.
//!
//! Only one steal runs at a time per queue: a thief that finds `steal != real` gives up
//! (returns `None`) instead of waiting, since another thief is already spreading this queue's
//! work.
//!
//! # Who writes what
//! | field | owner | thief |
//! |---|---|---|
//! | `tail` | stores each push (Release) | loads (Acquire) |
//! | `head.real` | CAS in `pop`, in an overflow | CAS to claim |
//! | `head.steal` | CAS in `pop` and overflow, only when no steal is under way | CAS to release |
//! | slots in `tail..steal + capacity` (free) | writes | never |
//! | slots in `real..tail` | moves out what `pop` claimed | moves out what it claimed |
//!
//! # Memory orderings, and the pairs they form
//! Two pairs carry the elements from thread to thread:
//!
//! 1. **Owner's `tail` store (Release) → thief's `tail` load (Acquire).** The owner writes a
//!    slot, then publishes the new `tail`; a thief that sees that `tail` also sees the slot's
//!    contents before it copies them out.
//! 2. **Thief's release of `steal` (CAS, Release half of AcqRel) → owner's `head` load
//!    (Acquire) before a push.** The thief's reads of its claimed slots happen before the owner
//!    learns that those slots are free, so a push never overwrites an element still being read.
//!    A thief filling its own queue (`steal_into`'s destination) is an owner there and follows
//!    the same rule.
//!
//! Pair 1 also bounds a claim. A claim's CAS succeeds only if `head` has not moved since the
//! thief loaded it, and the `tail` the thief loaded in between was stored by a push that
//! happened before the claim (pair 1), so that push saw this `head` or an older one, with a
//! `steal` no greater; and a push never goes `capacity` past the `steal` it saw. Hence
//! `tail - real <= capacity`, and a claim takes at most half.
//!
//! The claim and `pop` CASes are AcqRel too, as tokio's are, though no data rides on them: a
//! claimed slot was published by pair 1, a popped one was written by the popping thread. On
//! x86 every read-modify-write is a full barrier whatever the ordering, so this costs nothing
//! there. The loom model switches each ordering of pairs 1 and 2 to Relaxed, one at a time,
//! and catches every one.
//!
//! The owner reads and writes its own slots on its own thread; nothing needs ordering there.
//! The length hints (`len`, `is_empty`) may be stale the moment they return.
//!
//! # Why wrapping `u32` positions are safe
//! The capacity, 256, divides 2³², so `position % 256` stays the right slot when a position
//! wraps from `u32::MAX` to 0, and `tail.wrapping_sub(x)` is the true distance as long as the
//! true distance is below 2³², which holds since it never exceeds 256. The remaining risk is
//! ABA: a thief loads `head`, is descheduled, and its CAS succeeds because `head` came back to
//! the same 64-bit value, which takes exactly 2³² pops meanwhile, four billion tasks while one
//! thread sleeps between two instructions. (tokio widened its indices from 16 to 32 bits for
//! this reason.)
//!
//! # Under loom
//! `tests/loom_mt_queue.rs` compiles this very file with loom's atomics and cells and a
//! capacity of 4, and runs small models under every interleaving. Under `--cfg loom` only, a
//! model can switch on one deliberate bug ([`Bug`]) to show that loom catches it; outside loom
//! [`Bug`] is never switched on and the checks fold away.
//!
//! The protocol is tokio's (`runtime/scheduler/multi_thread/queue.rs`), without its metrics or
//! its LIFO slot, and with the owner's `tail` kept in `Local` instead of read back unsynchronized.

use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use self::sync::Ordering::{AcqRel, Acquire, Relaxed, Release};
use self::sync::{Arc, AtomicU32, AtomicU64, Ordering, UnsafeCell};

/// How many elements a local queue holds. A power of two, so that a position's slot is a mask
/// and wrapping positions stay consistent (see the module docs).
#[cfg(not(loom))]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 256;
/// Under loom the ring is tiny, so that a model reaches "full" and wraps around in a few steps.
#[cfg(loom)]
pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 4;

const CAPACITY: u32 = LOCAL_QUEUE_CAPACITY as u32;
const MASK: u32 = CAPACITY - 1;
/// The most a steal takes, the least it leaves room for in its destination, and how many
/// elements an overflow moves out (plus the one being pushed).
const HALF: u32 = CAPACITY / 2;

const _: () = assert!(
    LOCAL_QUEUE_CAPACITY.is_power_of_two() && LOCAL_QUEUE_CAPACITY >= 2,
    "the capacity must be a power of two (a position's slot is a mask)"
);

/// What the owner and the thieves share. Aligned to 128 bytes (two cache lines): each queue's
/// indices are written on every push and pop, and two queues allocated one after the other
/// must not share a line (the reason is in `StatsSlot`'s docs, `src/multi_thread.rs`).
#[repr(align(128))]
struct Inner<T> {
    /// `steal` (high half) and `real` (low half): see the module docs.
    head: AtomicU64,
    /// The owner's `tail`, published for thieves.
    tail: AtomicU32,
    slots: Box<[UnsafeCell<MaybeUninit<T>>; LOCAL_QUEUE_CAPACITY]>,
}

// SAFETY: the slots are shared between the owner and thieves on other threads; the protocol in
// the module docs gives each slot one user at a time, and moves each element from one thread
// to another at most once, which needs `T: Send` and nothing more (no `&T` is ever shared).
#[allow(unsafe_code)]
unsafe impl<T: Send> Sync for Inner<T> {}
// SAFETY: as for `Sync`: what moves with `Inner` is elements, which are `Send`.
#[allow(unsafe_code)]
unsafe impl<T: Send> Send for Inner<T> {}

/// The owner's end of a local run queue: pushes and pops. It moves to its worker thread
/// (`Send`) and stays there (`!Sync`); use `&mut` to push, pop, or receive a steal.
pub(crate) struct Local<T> {
    inner: Arc<Inner<T>>,
    /// The one true `tail`: only this handle writes it (`Inner::tail` is its published copy).
    tail: u32,
    _not_sync: PhantomData<Cell<()>>,
}

/// The thieves' end of a local run queue: shared by every other worker (`Send + Sync`).
pub(crate) struct Stealer<T> {
    inner: Arc<Inner<T>>,
}

/// A new, empty local queue: the owner's end and the thieves' end.
pub(crate) fn local<T>() -> (Local<T>, Stealer<T>) {
    local_from(0)
}

/// `local`, with every position starting at `start` (a test starts near `u32::MAX` to wrap).
fn local_from<T>(start: u32) -> (Local<T>, Stealer<T>) {
    let slots: Box<[_]> = (0..LOCAL_QUEUE_CAPACITY)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let Ok(slots) = slots.try_into() else {
        unreachable!("the iterator yields exactly LOCAL_QUEUE_CAPACITY slots")
    };
    let inner = Arc::new(Inner {
        head: AtomicU64::new(pack(start, start)),
        tail: AtomicU32::new(start),
        slots,
    });
    let stealer = Stealer {
        inner: Arc::clone(&inner),
    };
    let local = Local {
        inner,
        tail: start,
        _not_sync: PhantomData,
    };
    (local, stealer)
}

impl<T> Local<T> {
    /// How many elements wait in the queue (those a thief is copying out do not count). Exact
    /// but for thieves, which may take some at any moment.
    pub(crate) fn len(&self) -> usize {
        // Relaxed: only a number comes out; no slot is read on its strength.
        let (_, real) = unpack(self.inner.head.load(Relaxed));
        self.tail.wrapping_sub(real) as usize
    }

    /// Whether the queue holds nothing to pop.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `task` at the back. When the ring is full, moves its newer half and `task` out
    /// instead, oldest first, and gives them to `overflow` as one batch (the runtime puts them
    /// in its shared queue under one lock); the owner keeps the older half, which it runs next.
    ///
    /// A full ring that a thief is copying out of is about to have room, so then only `task`
    /// goes to `overflow`, alone, rather than waiting for the thief.
    pub(crate) fn push_back(&mut self, mut task: T, overflow: &mut dyn FnMut(Vec<T>)) {
        loop {
            // Acquire: pairs with a thief's release of `steal` (pair 2 in the module docs), so
            // the slots it read are ours to overwrite.
            let (steal, real) = unpack(
                self.inner
                    .head
                    .load(ordering(Acquire, Bug::PushLoadsHeadRelaxed)),
            );
            if self.tail.wrapping_sub(steal) < CAPACITY {
                self.publish_one(task);
                return;
            }
            if steal != real {
                overflow(vec![task]);
                return;
            }
            match self.overflow_half(real, task) {
                Ok(batch) => {
                    overflow(batch);
                    return;
                }
                // A thief claimed some elements since the load: there may be room now.
                Err(back) => task = back,
            }
        }
    }

    /// Writes `task` at `tail` and publishes it. The slot is free: `tail - steal < capacity`.
    fn publish_one(&mut self, task: T) {
        let tail = self.tail;
        // SAFETY: the slot at `tail` is free (the caller checked `tail - steal < capacity`
        // after an Acquire load of `head`), and only the owner, which we are, writes free
        // slots.
        #[allow(unsafe_code)]
        unsafe {
            self.inner.write(tail, task);
        }
        self.tail = tail.wrapping_add(1);
        // Release: pairs with a thief's Acquire load of `tail` (pair 1), which then sees the
        // element in the slot.
        self.inner
            .tail
            .store(self.tail, ordering(Release, Bug::PushStoresTailRelaxed));
    }

    /// The full ring, with no steal under way (`steal == real == head`), gives up its newer
    /// half: returns it, oldest first, with `task` last. `Err(task)` if a thief claimed
    /// elements first.
    fn overflow_half(&mut self, head: u32, task: T) -> Result<Vec<T>, T> {
        let tail = self.tail;
        debug_assert_eq!(
            tail.wrapping_sub(head),
            CAPACITY,
            "overflow of a ring that is not full"
        );
        // Claim every element at once: `head` jumps to `tail` and the queue looks empty.
        // Expecting `steal == real == head` makes this fail if a thief claimed anything since.
        if self
            .inner
            .head
            .compare_exchange(pack(head, head), pack(tail, tail), AcqRel, Acquire)
            .is_err()
        {
            return Err(task);
        }
        let mut batch = Vec::with_capacity(HALF as usize + 1);
        for position in head.wrapping_add(HALF)..head.wrapping_add(CAPACITY) {
            // SAFETY: the CAS above gave the owner every element in `head..tail`, and no
            // thief can claim any of them (claims start from `real`, now `tail`).
            #[allow(unsafe_code)]
            batch.push(unsafe { self.inner.read(position) });
        }
        batch.push(task);
        // The older half stays: positions `tail..tail + HALF` are the slots of
        // `head..head + HALF` (`tail = head + capacity`), so raising `tail` by `HALF` hands
        // those elements back to the queue, unmoved. Release, as after a push (pair 1).
        self.tail = tail.wrapping_add(HALF);
        self.inner.tail.store(self.tail, Release);
        Ok(batch)
    }

    /// Takes the oldest element (FIFO), or `None` when the queue is empty.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let mut head = self.inner.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            if real == self.tail {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // With no steal under way, `steal` follows `real`; during one it stays where the
            // thief's copy begins, and the thief moves it when done.
            let next = if steal == real {
                pack(next_real, next_real)
            } else {
                pack(steal, next_real)
            };
            match self
                .inner
                .head
                .compare_exchange_weak(head, next, AcqRel, Acquire)
            {
                Ok(_) => {
                    // SAFETY: the CAS gave this call the element at `real` (it was in
                    // `real..tail`, and `real` now points past it).
                    #[allow(unsafe_code)]
                    return Some(unsafe { self.inner.read(real) });
                }
                Err(actual) => head = actual,
            }
        }
    }
}

impl<T> Drop for Local<T> {
    /// Drops what is left, oldest first (a runtime that shuts down). Elements a thief is
    /// copying out are the thief's.
    fn drop(&mut self) {
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}

impl<T> Stealer<T> {
    /// How many elements wait in the queue: a hint, stale as soon as it returns.
    pub(crate) fn len(&self) -> usize {
        let (_, real) = unpack(self.inner.head.load(Acquire));
        let tail = self.inner.tail.load(Acquire);
        // `tail` was loaded after `head`, so it may have moved on by more than the capacity
        // (the owner popped and pushed meanwhile).
        (tail.wrapping_sub(real) as usize).min(LOCAL_QUEUE_CAPACITY)
    }

    /// Whether the queue looks empty: a hint, as for `len`.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Moves about half of this queue's elements (rounded up) into `dst`, the thief's own
    /// queue, and returns one of them to run now.
    ///
    /// `None` when this queue is empty, when another thief is mid-steal on it, or when `dst`
    /// has less than half its room free (a steal never overflows the thief's queue).
    pub(crate) fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        let dst_tail = dst.tail;
        // Acquire: `dst` is the thief's own queue, and it is about to write free slots of it,
        // as a push does (pair 2).
        let (dst_steal, _) = unpack(dst.inner.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > HALF {
            return None;
        }
        let taken = self.claim_and_move(dst, dst_tail);
        if taken == 0 {
            return None;
        }
        let last = dst_tail.wrapping_add(taken - 1);
        // SAFETY: `claim_and_move` wrote `dst_tail..dst_tail + taken` and published none of
        // it, so only this thread, `dst`'s owner, may take the element at `last`.
        #[allow(unsafe_code)]
        let task = unsafe { dst.inner.read(last) };
        if taken > 1 {
            dst.tail = last;
            // Release: publishes the other stolen elements to `dst`'s own thieves (pair 1).
            dst.inner.tail.store(last, Release);
        }
        Some(task)
    }

    /// Claims about half of this queue, moves it to `dst`'s slots from `dst_tail` on, and
    /// releases the claim. Returns how many elements moved (0: none to take, or another thief
    /// is mid-steal). `dst` must have room for `HALF` elements from `dst_tail`.
    fn claim_and_move(&self, dst: &mut Local<T>, dst_tail: u32) -> u32 {
        let src = &*self.inner;
        let mut head = src.head.load(Acquire);
        let (first, taken) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return 0;
            }
            // Acquire: pairs with the owner's Release store of `tail` (pair 1): the elements
            // below it are in their slots.
            let tail = src.tail.load(ordering(Acquire, Bug::StealLoadsTailRelaxed));
            let available = tail.wrapping_sub(real);
            let taken = available - available / 2;
            if taken == 0 {
                return 0;
            }
            // Claim `real..real + taken` by advancing `real` alone; `steal` stays behind to
            // mark the slots as still in use until the copy below is done.
            let claimed = if bug(Bug::StealMovesBothHalves) {
                pack(real.wrapping_add(taken), real.wrapping_add(taken))
            } else {
                pack(steal, real.wrapping_add(taken))
            };
            match src
                .head
                .compare_exchange_weak(head, claimed, AcqRel, Acquire)
            {
                Ok(_) => break (real, taken),
                Err(actual) => head = actual,
            }
        };
        // The claim succeeded on the `head` the `tail` was read after, so the owner had room
        // for at most `capacity` elements beyond it (module docs, after pair 2).
        assert!(
            taken <= HALF,
            "a steal claimed {taken} elements of a ring of {CAPACITY}"
        );
        for i in 0..taken {
            // SAFETY: the claim gave this thief the elements at `first..first + taken`; the
            // slots `dst_tail..dst_tail + taken` of `dst` are free (the caller checked that
            // `dst` has `HALF` free from `dst_tail`), and `dst`'s owner is this thread.
            #[allow(unsafe_code)]
            unsafe {
                let task = src.read(first.wrapping_add(i));
                dst.inner.write(dst_tail.wrapping_add(i), task);
            }
        }
        // Release the claim: `steal` catches up with `real`, which the owner's `pop` may have
        // advanced meanwhile (no other thief moves `head` while `steal != real`).
        let mut head = pack(first, first.wrapping_add(taken));
        loop {
            let (_, real) = unpack(head);
            // AcqRel: the Release half is pair 2, the reads above happen before the owner
            // reuses these slots.
            match src.head.compare_exchange_weak(
                head,
                pack(real, real),
                ordering(AcqRel, Bug::StealReleasesRelaxed),
                Acquire,
            ) {
                Ok(_) => return taken,
                Err(actual) => head = actual,
            }
        }
    }
}

impl<T> Inner<T> {
    /// Moves the element out of the slot of `position`.
    ///
    /// # Safety
    /// The caller owns that element (by a claim, or as the owner that just wrote it) and it
    /// is there; afterwards the slot counts as empty.
    #[allow(unsafe_code)]
    unsafe fn read(&self, position: u32) -> T {
        self.slots[(position & MASK) as usize].with(|slot| {
            // SAFETY: the caller's contract: the slot holds an element, and nobody else reads
            // or writes it now.
            unsafe { (*slot).assume_init_read() }
        })
    }

    /// Moves `value` into the slot of `position`.
    ///
    /// # Safety
    /// The slot is free (its old element, if any, was moved out) and nobody else touches it
    /// until this element is published or taken back.
    #[allow(unsafe_code)]
    unsafe fn write(&self, position: u32, value: T) {
        self.slots[(position & MASK) as usize].with_mut(|slot| {
            // SAFETY: the caller's contract: the slot is ours alone and holds nothing that
            // must be dropped.
            unsafe { (*slot).write(value) };
        });
    }
}

impl<T> std::fmt::Debug for Local<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("len", &self.len()).finish()
    }
}

impl<T> std::fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stealer").field("len", &self.len()).finish()
    }
}

fn pack(steal: u32, real: u32) -> u64 {
    (u64::from(steal) << 32) | u64::from(real)
}

/// `(steal, real)`.
fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

/// The deliberate bugs a loom model can switch on (`tests/loom_mt_queue.rs`), each one rule of
/// the module docs broken at one place.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Bug {
    /// A claim advances `steal` with `real`: the owner sees the slots as free while the thief
    /// still reads them.
    StealMovesBothHalves,
    /// A push loads `head` Relaxed: pair 2 is gone.
    PushLoadsHeadRelaxed,
    /// A push stores `tail` Relaxed: pair 1 is gone.
    PushStoresTailRelaxed,
    /// A thief loads `tail` Relaxed: pair 1 is gone from the other side.
    StealLoadsTailRelaxed,
    /// A thief releases its claim Relaxed: pair 2 is gone from the other side.
    StealReleasesRelaxed,
}

/// Whether `which` is switched on: never, outside loom.
#[cfg(not(loom))]
#[inline(always)]
fn bug(_which: Bug) -> bool {
    false
}

/// `correct`, or `Relaxed` when the loom model switched on `which`.
#[inline(always)]
fn ordering(correct: Ordering, which: Bug) -> Ordering {
    if bug(which) {
        Relaxed
    } else {
        correct
    }
}

#[cfg(loom)]
std::thread_local! {
    static BUG: Cell<Option<Bug>> = const { Cell::new(None) };
}

#[cfg(loom)]
fn bug(which: Bug) -> bool {
    BUG.with(|on| on.get() == Some(which))
}

/// Runs `f` (a loom model) with `which` switched on. loom runs a model's threads as coroutines
/// on the calling thread, so a thread-local reaches all of them, and tests running in parallel
/// do not see each other's bug.
#[cfg(loom)]
pub(crate) fn with_bug<R>(which: Bug, f: impl FnOnce() -> R) -> R {
    struct Off;
    impl Drop for Off {
        fn drop(&mut self) {
            BUG.with(|on| on.set(None));
        }
    }
    BUG.with(|on| on.set(Some(which)));
    let _off = Off;
    f()
}

/// std's atomics, `Arc` and an `UnsafeCell` with loom's closure-based API, or loom's own types
/// when the loom model compiles this file (`--cfg loom`, `tests/loom_mt_queue.rs`).
#[cfg(not(loom))]
mod sync {
    pub(super) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    pub(super) use std::sync::Arc;

    /// `std::cell::UnsafeCell`, reached through closures as loom's is.
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
    pub(super) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    pub(super) use loom::sync::Arc;
}

// Not under loom: loom's types work only inside a loom model (`tests/loom_mt_queue.rs`).
#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::AtomicUsize;

    /// Positions that start just below `u32::MAX`, so every test also crosses the wrap.
    const NEAR_WRAP: u32 = u32::MAX - 5;

    fn pop_all<T>(queue: &mut Local<T>) -> Vec<T> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    fn no_overflow<T>() -> impl FnMut(Vec<T>) {
        |_| panic!("the queue overflowed")
    }

    #[test]
    fn pops_in_push_order() {
        for start in [0, NEAR_WRAP] {
            let (mut queue, stealer) = local_from(start);
            assert!(queue.is_empty() && stealer.is_empty());
            for i in 0..10 {
                queue.push_back(i, &mut no_overflow());
            }
            assert_eq!((queue.len(), stealer.len()), (10, 10));
            assert_eq!(queue.pop(), Some(0));
            queue.push_back(10, &mut no_overflow());
            assert_eq!(pop_all(&mut queue), (1..=10).collect::<Vec<_>>());
            assert_eq!(queue.pop(), None);
            assert!(queue.is_empty() && stealer.is_empty());
        }
    }

    #[test]
    fn a_full_ring_hands_its_newer_half_and_the_new_task_to_overflow_in_order() {
        let capacity = LOCAL_QUEUE_CAPACITY;
        for start in [0, NEAR_WRAP] {
            let (mut queue, _stealer) = local_from(start);
            let mut batches = Vec::new();
            for i in 0..=capacity {
                queue.push_back(i, &mut |batch| batches.push(batch));
            }
            let half = capacity / 2;
            assert_eq!(batches, vec![(half..=capacity).collect::<Vec<_>>()]);
            assert_eq!(queue.len(), half);
            // The ring takes pushes again, after the older half it kept.
            queue.push_back(capacity + 1, &mut no_overflow());
            let mut kept: Vec<_> = (0..half).collect();
            kept.push(capacity + 1);
            assert_eq!(pop_all(&mut queue), kept);
        }
    }

    #[test]
    fn a_steal_takes_half_rounded_up_and_returns_the_newest_of_them() {
        for start in [0, NEAR_WRAP] {
            let (mut victim, stealer) = local_from(start);
            let (mut thief, _) = local_from(start.wrapping_add(3));
            for i in 0..7 {
                victim.push_back(i, &mut no_overflow());
            }
            assert_eq!(stealer.steal_into(&mut thief), Some(3));
            assert_eq!(pop_all(&mut thief), [0, 1, 2]);
            assert_eq!(pop_all(&mut victim), [4, 5, 6]);

            victim.push_back(7, &mut no_overflow());
            assert_eq!(
                stealer.steal_into(&mut thief),
                Some(7),
                "a lone element is stolen"
            );
            assert!(thief.is_empty() && victim.is_empty());
        }
    }

    #[test]
    fn a_steal_finds_nothing_in_an_empty_queue() {
        let (_victim, stealer) = local::<u32>();
        let (mut thief, _) = local();
        assert_eq!(stealer.steal_into(&mut thief), None);
        assert!(thief.is_empty());
    }

    #[test]
    fn a_steal_into_a_queue_more_than_half_full_takes_nothing() {
        let (mut victim, stealer) = local();
        let (mut thief, _) = local();
        victim.push_back(0, &mut no_overflow());
        let half = LOCAL_QUEUE_CAPACITY / 2;
        for i in 0..=half {
            thief.push_back(i + 1, &mut no_overflow());
        }
        assert_eq!(stealer.steal_into(&mut thief), None);
        assert_eq!((victim.len(), thief.len()), (1, half + 1));
        thief.pop();
        assert_eq!(
            stealer.steal_into(&mut thief),
            Some(0),
            "exactly half full has room"
        );
    }

    /// Counts its drops in `drops[id]`.
    struct Counted<'a> {
        id: usize,
        drops: &'a [AtomicUsize],
    }

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.drops[self.id].fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn dropping_the_owner_drops_every_element_left_once() {
        let capacity = LOCAL_QUEUE_CAPACITY;
        let drops: Vec<_> = (0..capacity + 10).map(|_| AtomicUsize::new(0)).collect();
        let drops = &drops[..];
        let (mut queue, stealer) = local_from(NEAR_WRAP);
        let mut overflowed = Vec::new();
        for id in 0..capacity + 10 {
            queue.push_back(Counted { id, drops }, &mut |batch| overflowed.extend(batch));
        }
        let popped = queue.pop().map(|task| task.id);
        assert_eq!(popped, Some(0));
        let count = |id: usize| drops[id].load(Ordering::Relaxed);
        let left: Vec<_> = (1..capacity + 10)
            .filter(|&id| !overflowed.iter().any(|task: &Counted| task.id == id))
            .collect();
        assert_eq!(left.len(), queue.len());
        assert!(
            left.iter().all(|&id| count(id) == 0),
            "dropped while queued"
        );
        drop(queue);
        // The stealer keeps the ring alive; its elements are gone all the same.
        assert!(stealer.is_empty());
        drop(overflowed);
        for id in 0..capacity + 10 {
            assert_eq!(count(id), 1, "drops of element {id}");
        }
    }

    /// One owner pushing and popping, two thieves stealing from it and from each other: every
    /// element comes out exactly once, whether popped, stolen, or overflowed.
    #[test]
    fn an_owner_and_two_thieves_see_every_element_once() {
        let count: usize = if cfg!(miri) { 600 } else { 100_000 };
        let seen: Vec<_> = (0..count).map(|_| AtomicUsize::new(0)).collect();
        let seen = &seen[..];
        let see = |id: usize| {
            seen[id].fetch_add(1, Ordering::Relaxed);
        };
        let done = AtomicBool::new(false);
        // Steals from the owner's queue, so that the owner can wait for one now and then: on a
        // busy machine the thieves might otherwise not run until it is done.
        let steals = AtomicUsize::new(0);
        let (mut owner, from_owner) = local_from(NEAR_WRAP);
        let (thief_a, from_a) = local();
        let (thief_b, from_b) = local();

        std::thread::scope(|scope| {
            let thieve = |mut mine: Local<usize>, other: Stealer<usize>| {
                let (done, from_owner, steals) = (&done, &from_owner, &steals);
                move || loop {
                    // Checked before the steals, so that the last sweep follows the owner's
                    // last pop.
                    let finished = done.load(Ordering::Acquire);
                    let got = from_owner
                        .steal_into(&mut mine)
                        .inspect(|_| {
                            steals.fetch_add(1, Ordering::Relaxed);
                        })
                        .or_else(|| other.steal_into(&mut mine));
                    match got {
                        Some(id) => see(id),
                        None if finished => {
                            pop_all(&mut mine).into_iter().for_each(see);
                            return;
                        }
                        None => std::thread::yield_now(),
                    }
                    // Leave some behind, for the other thief to steal.
                    if let Some(id) = mine.pop() {
                        see(id);
                    }
                }
            };
            scope.spawn(thieve(thief_a, from_b));
            scope.spawn(thieve(thief_b, from_a));

            for id in 0..count {
                owner.push_back(id, &mut |batch| batch.into_iter().for_each(see));
                if id % 3 == 0 {
                    owner.pop().map(see);
                }
                if id % (count / 20) == 0 {
                    let before = steals.load(Ordering::Relaxed);
                    while steals.load(Ordering::Relaxed) == before && !owner.is_empty() {
                        std::thread::yield_now();
                    }
                }
            }
            pop_all(&mut owner).into_iter().for_each(see);
            done.store(true, Ordering::Release);
        });
        let wrong: Vec<_> = (0..count)
            .filter(|&id| seen[id].load(Ordering::Relaxed) != 1)
            .take(10)
            .map(|id| (id, seen[id].load(Ordering::Relaxed)))
            .collect();
        assert!(
            wrong.is_empty(),
            "(element, times seen), first 10: {wrong:?}"
        );
        assert!(
            steals.load(Ordering::Relaxed) > 0,
            "no steal happened: the test proves nothing"
        );
    }
}
