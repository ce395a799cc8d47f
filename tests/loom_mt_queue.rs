//! An exhaustive interleaving check (loom) of the multi-thread runtime's local run queue,
//! `src/multi_thread/queue.rs`: one owner pushing and popping, thieves taking half at a time.
//!
//! Like `tests/loom_join.rs`, this compiles the real module: under `--cfg loom` it takes its
//! atomics, `Arc` and `UnsafeCell` from loom, and shrinks the ring to 4 slots so that a few
//! pushes fill it and wrap around. loom runs each model under every interleaving (up to
//! `LOOM_MAX_PREEMPTIONS` forced thread switches) and fails it if:
//!
//! - two threads touch a slot without one happening before the other, where one of them
//!   writes (loom's `UnsafeCell` tracks each access): an owner pushing into a slot a thief is
//!   still copying out, a thief reading a slot before the push that filled it is visible;
//! - an element is lost or duplicated: each one counts its drops, and every model checks at its
//!   end that each was dropped exactly once (whoever received it drops it at once, and what is
//!   left in a queue is dropped with the queue's owner).
//!
//! The `broken_` models switch on one deliberate bug of the module (`Bug`, compiled in under
//! loom only), each a rule of its module docs broken at one place; loom must catch each one
//! (`#[should_panic]`), which proves the models can fail.
//!
//! Run it with the other loom models (`loom/Cargo.toml` says why this is a package of its own):
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test --manifest-path loom/Cargo.toml --release
//! ```
#![allow(unexpected_cfgs)] // `loom` is set only by the command above; see Cargo.toml
#![cfg(loom)]

#[path = "../src/multi_thread/queue.rs"]
#[allow(dead_code)]
mod queue;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use loom::thread;
use queue::{local, with_bug, Bug, Local, LOCAL_QUEUE_CAPACITY};

/// An element that counts its drops in `drops[id]`.
struct Item {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, Ordering::Relaxed);
    }
}

/// The elements of one run of a model: `item(id)` makes element `id`, and `check` asserts at
/// the end that each was dropped exactly once.
struct Items {
    drops: Arc<Vec<AtomicUsize>>,
}

impl Items {
    fn new(count: usize) -> Self {
        Items {
            drops: Arc::new((0..count).map(|_| AtomicUsize::new(0)).collect()),
        }
    }

    fn item(&self, id: usize) -> Item {
        Item {
            id,
            drops: Arc::clone(&self.drops),
        }
    }

    fn check(&self) {
        let drops: Vec<_> = self
            .drops
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .collect();
        assert!(
            drops.iter().all(|&d| d == 1),
            "each element must be received (and dropped) exactly once; drops by id: {drops:?}"
        );
    }
}

/// For pushes that must not overflow.
fn no_overflow(_: Vec<Item>) {
    panic!("the queue overflowed");
}

/// A thief with a queue of its own: steals once from `victim`, then drops what it got and
/// its queue (which drops whatever the steal left in it).
fn steal_once(victim: queue::Stealer<Item>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (mut mine, _): (Local<Item>, _) = local();
        drop(victim.steal_into(&mut mine));
    })
}

/// Model 1: one thief steals while the owner fills the ring from empty and wraps round into
/// slot 0, which the thief may be copying out; then the owner pops.
///
/// Every step of the owner's comes after the spawn, so nothing orders it with the thief but
/// the queue's own atomics: the thief may read a slot just filled, and the owner may write a
/// slot just stolen.
fn owner_and_one_thief() {
    assert_eq!(
        LOCAL_QUEUE_CAPACITY, 4,
        "the models are sized for a ring of 4"
    );
    loom::model(|| {
        let items = Items::new(5);
        let (mut owner, stealer) = local();
        let thief = steal_once(stealer);
        // Five pushes into four slots: the fifth goes into slot 0 if the thief has finished
        // with it, else (a steal under way, or none yet) to `overflow`.
        let mut overflowed = Vec::new();
        for id in 0..5 {
            owner.push_back(items.item(id), &mut |batch| overflowed.extend(batch));
        }
        drop(owner.pop());
        thief.join().unwrap();
        drop((owner, overflowed));
        items.check();
    });
}

#[test]
fn owner_and_one_thief_receive_every_element_once() {
    owner_and_one_thief();
}

/// Model 2: two thieves on a full queue while the owner pops (perhaps during a steal) and
/// pushes three more, round into the slots the thieves copy out.
#[test]
fn owner_and_two_thieves_receive_every_element_once() {
    loom::model(|| {
        let items = Items::new(7);
        let (mut owner, stealer) = local();
        for id in 0..4 {
            owner.push_back(items.item(id), &mut no_overflow);
        }
        let stealer = Arc::new(stealer);
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let victim = Arc::clone(&stealer);
                thread::spawn(move || {
                    let (mut mine, _): (Local<Item>, _) = local();
                    drop(victim.steal_into(&mut mine));
                })
            })
            .collect();
        drop(owner.pop());
        let mut overflowed = Vec::new();
        for id in 4..7 {
            owner.push_back(items.item(id), &mut |batch| overflowed.extend(batch));
        }
        for thief in thieves {
            thief.join().unwrap();
        }
        drop((owner, overflowed));
        items.check();
    });
}

/// Model 3: a push into a full ring (an overflow) races a steal. The overflow hands out
/// either the ring's newer half and the new element, or the new element alone (a steal was
/// under way), or retries after losing its CAS to the thief; each batch is in push order.
#[test]
fn an_overflow_racing_a_steal_hands_out_every_element_once() {
    loom::model(|| {
        let items = Items::new(6);
        let (mut owner, stealer) = local();
        for id in 0..4 {
            owner.push_back(items.item(id), &mut no_overflow);
        }
        let thief = steal_once(stealer);
        let mut batches = Vec::new();
        for id in 4..6 {
            owner.push_back(items.item(id), &mut |batch| batches.push(batch));
        }
        for batch in &batches {
            let ids: Vec<_> = batch.iter().map(|item| item.id).collect();
            assert!(
                ids.is_sorted(),
                "an overflow batch out of push order: {ids:?}"
            );
        }
        drop(owner.pop());
        thief.join().unwrap();
        drop((owner, batches));
        items.check();
    });
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_a_claim_that_moves_both_halves_lets_the_owner_overwrite_a_slot_being_stolen() {
    with_bug(Bug::StealMovesBothHalves, owner_and_one_thief);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_a_push_that_loads_head_relaxed_overwrites_a_slot_being_stolen() {
    with_bug(Bug::PushLoadsHeadRelaxed, owner_and_one_thief);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_a_push_that_stores_tail_relaxed_lets_a_thief_read_an_unwritten_slot() {
    with_bug(Bug::PushStoresTailRelaxed, owner_and_one_thief);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_a_thief_that_loads_tail_relaxed_reads_an_unwritten_slot() {
    with_bug(Bug::StealLoadsTailRelaxed, owner_and_one_thief);
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_a_thief_that_releases_relaxed_lets_the_owner_overwrite_a_slot_being_stolen() {
    with_bug(Bug::StealReleasesRelaxed, owner_and_one_thief);
}
