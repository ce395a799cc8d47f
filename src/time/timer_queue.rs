//! The loop's timer queue: a binary heap of `(deadline, seq)` with lazy removal.
//!
//! # Rules this module keeps
//! - Entries are ordered by `deadline`, then by `seq`; `seq` is handed out when a `Sleep` is
//!   created, so equal deadlines fire in creation order.
//! - Cancelling a timer frees its slot in O(1) and leaves its heap entry behind; the entry is
//!   recognised as stale (its slot no longer holds its `seq`) and skipped when it reaches the
//!   top. When stale entries outnumber live ones, the heap is rebuilt, so a million created and
//!   cancelled timeouts do not grow memory without bound.
//! - A timer fires only when `deadline <= now`, never before.
//!
//! # Why nanoseconds and not `Instant`s in the heap
//! A heap entry keeps its deadline as nanoseconds since the queue's `epoch` (a `u64`), not as
//! an `Instant`. Popping from a heap of 10 000 timers compares entries about 25 times, and
//! comparing two `Instant`s compares a seconds field, then a nanoseconds field; comparing two
//! `u64`s is one instruction, and the entry shrinks from 32 to 24 bytes. In `sleep_many` that
//! took a pop from 481 to 284 instructions (`docs/benchmarks.md`). The conversion is exact (an
//! `Instant` counts nanoseconds here), so a timer still never fires early; deadlines before
//! the epoch count as 0 (due at once) and those more than 584 years away as never.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::{Duration, Instant};

/// One heap entry: when (nanoseconds since the queue's epoch), tie-breaker, and where the
/// waker is. Ordered by those fields in that order.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    at: u64,
    seq: u64,
    slot: u32,
}

/// What a registered timer's slot holds.
#[derive(Debug)]
enum TimerSlot {
    Vacant,
    /// Not yet due; the waker of the task that waits.
    Waiting {
        seq: u64,
        waker: Waker,
    },
    /// Due; the `Sleep` has not looked yet.
    Fired {
        seq: u64,
    },
}

/// A registration, kept by the `Sleep` that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    seq: u64,
}

/// What `poll_timer` found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TimerState {
    /// The deadline passed and the timer fired; the registration is released.
    Fired,
    /// Still waiting; the waker on file is the latest one.
    Waiting,
}

/// Heaps smaller than this are never rebuilt: rebuilding costs more than it saves.
const MIN_COMPACT_LEN: usize = 64;

/// Every timer of one loop.
#[derive(Debug)]
pub(crate) struct TimerQueue {
    /// The zero of the heap's clock: when the queue was made.
    epoch: Instant,
    heap: BinaryHeap<Reverse<Entry>>,
    slots: Vec<TimerSlot>,
    free: Vec<u32>,
    live: usize,
}

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            epoch: Instant::now(),
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl TimerQueue {
    /// `instant` on the heap's clock: nanoseconds since `epoch`, 0 before it, saturated at
    /// `u64::MAX` (584 years on).
    fn ticks(&self, instant: Instant) -> u64 {
        let since_epoch = instant.saturating_duration_since(self.epoch);
        u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
    }

    /// Files a timer that wakes `waker` at `deadline`.
    pub(crate) fn register(&mut self, deadline: Instant, seq: u64, waker: Waker) -> TimerKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(TimerSlot::Vacant);
                u32::try_from(self.slots.len() - 1).expect("more than 4 billion live timers")
            }
        };
        self.slots[slot as usize] = TimerSlot::Waiting { seq, waker };
        self.heap.push(Reverse(Entry {
            at: self.ticks(deadline),
            seq,
            slot,
        }));
        self.live += 1;
        TimerKey { slot, seq }
    }

    /// Checks a registration. Fired: releases it. Waiting: keeps the newest waker on file
    /// (the task may be polled with a different waker than the one it registered with).
    pub(crate) fn poll_timer(&mut self, key: TimerKey, waker: &Waker) -> TimerState {
        match &mut self.slots[key.slot as usize] {
            TimerSlot::Fired { seq } if *seq == key.seq => {
                self.release(key.slot);
                TimerState::Fired
            }
            TimerSlot::Waiting { seq, waker: stored } if *seq == key.seq => {
                if !stored.will_wake(waker) {
                    stored.clone_from(waker);
                }
                TimerState::Waiting
            }
            _ => unreachable!("a `Sleep` polls only its own live registration"),
        }
    }

    /// Forgets a registration whose `Sleep` was dropped. Returns the waker it held, so that
    /// the caller drops it outside any borrow.
    pub(crate) fn cancel(&mut self, key: TimerKey) -> Option<Waker> {
        let slot = self.slots.get_mut(key.slot as usize)?;
        let waker = match std::mem::replace(slot, TimerSlot::Vacant) {
            TimerSlot::Waiting { seq, waker } if seq == key.seq => Some(waker),
            TimerSlot::Fired { seq } if seq == key.seq => None,
            other => {
                *slot = other; // not ours: leave it
                return None;
            }
        };
        self.free.push(key.slot);
        self.live -= 1;
        self.compact_if_mostly_stale();
        waker
    }

    /// The earliest deadline still waiting, dropping stale entries from the top on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse(entry)) = self.heap.peek() {
            if self.is_waiting(entry) {
                return Some(self.epoch + Duration::from_nanos(entry.at));
            }
            self.heap.pop();
        }
        None
    }

    /// Fires every timer with `deadline <= now`: marks it fired and moves its waker to `due`.
    /// The caller wakes them after it releases its borrow of the queue.
    pub(crate) fn fire_due(&mut self, now: Instant, due: &mut Vec<Waker>) {
        let now = self.ticks(now);
        while let Some(Reverse(entry)) = self.heap.peek() {
            if entry.at > now {
                break;
            }
            let Reverse(entry) = self.heap.pop().expect("peeked just above");
            let slot = &mut self.slots[entry.slot as usize];
            if let TimerSlot::Waiting { seq, .. } = slot {
                if *seq == entry.seq {
                    let seq = *seq;
                    if let TimerSlot::Waiting { waker, .. } =
                        std::mem::replace(slot, TimerSlot::Fired { seq })
                    {
                        due.push(waker);
                    }
                }
            }
        }
    }

    /// Whether no timer is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries in the heap, stale ones included (for the memory tests).
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Drops every registration (the loop is shutting down) and returns the wakers.
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        self.heap.clear();
        self.free.clear();
        self.live = 0;
        let slots = std::mem::take(&mut self.slots);
        slots
            .into_iter()
            .filter_map(|slot| match slot {
                TimerSlot::Waiting { waker, .. } => Some(waker),
                _ => None,
            })
            .collect()
    }

    fn is_waiting(&self, entry: &Entry) -> bool {
        matches!(self.slots[entry.slot as usize], TimerSlot::Waiting { seq, .. } if seq == entry.seq)
    }

    fn release(&mut self, slot: u32) {
        self.slots[slot as usize] = TimerSlot::Vacant;
        self.free.push(slot);
        self.live -= 1;
    }

    /// Rebuilds the heap from its live entries when stale ones are more than three in four.
    /// Each rebuild costs O(n) and happens after at least n/2 cancellations: O(1) amortised.
    fn compact_if_mostly_stale(&mut self) {
        if self.heap.len() < MIN_COMPACT_LEN || self.heap.len() < 4 * self.live {
            return;
        }
        let slots = &self.slots;
        self.heap.retain(|Reverse(entry)| {
            matches!(slots[entry.slot as usize], TimerSlot::Waiting { seq, .. } | TimerSlot::Fired { seq } if seq == entry.seq)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn equal_deadlines_fire_in_seq_order_and_never_early() {
        let mut timers = TimerQueue::default();
        let start = Instant::now();
        let at = start + Duration::from_millis(5);
        let second = timers.register(at, 2, noop());
        let first = timers.register(at, 1, noop());
        let mut due = Vec::new();
        timers.fire_due(start, &mut due);
        assert!(due.is_empty(), "nothing is due before the deadline");
        assert_eq!(timers.poll_timer(first, &noop()), TimerState::Waiting);
        timers.fire_due(at, &mut due);
        assert_eq!(due.len(), 2);
        assert_eq!(timers.poll_timer(first, &noop()), TimerState::Fired);
        assert_eq!(timers.poll_timer(second, &noop()), TimerState::Fired);
        assert!(timers.is_empty());
    }

    #[test]
    fn cancelled_timers_are_skipped_and_the_heap_stays_small() {
        let mut timers = TimerQueue::default();
        let far = Instant::now() + Duration::from_secs(3600);
        let keep = timers.register(far, 0, noop());
        for seq in 1..10_000 {
            let key = timers.register(far, seq, noop());
            assert!(timers.cancel(key).is_some());
        }
        assert!(
            timers.heap_len() < 4 * MIN_COMPACT_LEN,
            "heap kept {} entries",
            timers.heap_len()
        );
        assert_eq!(timers.next_deadline(), Some(far));
        assert!(timers.cancel(keep).is_some());
        assert_eq!(timers.next_deadline(), None);
    }
}
