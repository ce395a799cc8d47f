//! The loop's timer queue: timers ordered by `(deadline, seq)`, with lazy removal. They wait
//! in one of two places: an **in-order lane** (a `VecDeque`) for timers filed in deadline
//! order, which is most of them, and a binary heap for the rest.
//!
//! # Rules this module keeps
//! - Entries are ordered by `deadline`, then by `seq`; `seq` is handed out when a `Sleep` is
//!   created, so equal deadlines fire in creation order.
//! - Cancelling a timer frees its slot in O(1) and leaves its heap entry behind; the entry is
//!   recognised as stale (its slot no longer holds its `seq`) and skipped when it reaches the
//!   top. When stale entries outnumber live ones, the heap and the lane are rebuilt, so a
//!   million created and cancelled timeouts do not grow memory without bound.
//! - The lane is sorted: a timer joins it only if it sorts after the lane's last entry.
//!   Firing takes the earlier of the lane's front and the heap's top, so the two together fire
//!   in `(deadline, seq)` order, as one heap would.
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
//!
//! # Why a lane beside the heap
//! A program files most timers in deadline order: every `timeout` and `sleep` of the same
//! length, every `interval`, a batch of requests with growing delays. For those, a heap pays
//! O(log n) to push and to pop what a queue does in O(1). The lane takes every timer that
//! sorts after the lane's last one, and the heap keeps only the ones that arrive out of order.
//! In `sleep_many` (10 000 timers filed in order) that took a timer with its task from 2 216
//! to 1 972 instructions (`docs/benchmarks.md`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::event_loop::cut_vacant_tail;

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
    /// Timers filed in order: sorted by `(at, seq)`, earliest at the front.
    lane: VecDeque<Entry>,
    slots: Vec<TimerSlot>,
    free: Vec<u32>,
    live: usize,
    /// Timers filed since `shrink_when_idle` last rebuilt the queue (see there).
    registered_since_shrink: usize,
    /// The slot in use that stopped the last cut of the slot table (see `shrink_when_idle`).
    shrink_blocked_at: Option<usize>,
}

/// Buffers of the queue are never shrunk below this many entries (the bursts of an ordinary
/// program stay allocated for reuse; only a real spike is given back).
const KEEP_ENTRIES: usize = 1024;

impl Default for TimerQueue {
    fn default() -> Self {
        TimerQueue {
            epoch: Instant::now(),
            heap: BinaryHeap::new(),
            lane: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            registered_since_shrink: 0,
            shrink_blocked_at: None,
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
        let entry = Entry {
            at: self.ticks(deadline),
            seq,
            slot,
        };
        match self.lane.back() {
            Some(last) if *last > entry => self.heap.push(Reverse(entry)),
            _ => self.lane.push_back(entry),
        }
        self.live += 1;
        self.registered_since_shrink += 1;
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
        self.free_slot(key.slot);
        self.live -= 1;
        self.compact_if_mostly_stale();
        waker
    }

    /// The earliest deadline still waiting, dropping stale entries from the top on the way.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(entry) = self.earliest() {
            if self.is_waiting(entry) {
                return Some(self.epoch + Duration::from_nanos(entry.at));
            }
            self.pop_earliest();
        }
        None
    }

    /// Fires every timer with `deadline <= now`: marks it fired and moves its waker to `due`.
    /// The caller wakes them after it releases its borrow of the queue.
    pub(crate) fn fire_due(&mut self, now: Instant, due: &mut Vec<Waker>) {
        let now = self.ticks(now);
        while let Some(entry) = self.earliest() {
            if entry.at > now {
                break;
            }
            let entry = self.pop_earliest().expect("peeked just above");
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

    /// Entries in the heap and the lane, stale ones included (for the memory tests).
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len() + self.lane.len()
    }

    /// Gives back memory after a spike of timers, on a turn where the loop is about to wait
    /// (never on the busy path): when under a quarter of the slots hold a timer, drops the
    /// stale entries of the heap and the lane, cuts the vacant slots off the end of the slot
    /// table, and returns the spare capacity of every buffer. A slot in use keeps its index
    /// (a `Sleep` holds it); a timer's `seq` is unique, so a slot that comes back at a cut
    /// index never matches an old key.
    ///
    /// A timer still waiting near the end of the table (often the very timer the idle loop
    /// waits for, given the slot most recently freed) stops the cut. So a rebuild also sorts
    /// the free list to hand out the lowest slot first: new timers then stay low, and once
    /// the blocking timer is gone the next idle turn cuts again.
    ///
    /// Cost: O(1) when there is nothing to give back. A rebuild costs O(queue) and is tried
    /// after at least a quarter of the table's length in new timers (O(1) amortised), or
    /// when the timer that stopped the last cut has left its slot (at most once per timer).
    pub(crate) fn shrink_when_idle(&mut self) {
        let len = self.slots.len();
        let is_mostly_vacant = len > KEEP_ENTRIES && self.live * 4 < len;
        if !is_mostly_vacant {
            return;
        }
        let is_unblocked = self
            .shrink_blocked_at
            .is_some_and(|index| matches!(self.slots.get(index), Some(TimerSlot::Vacant)));
        if !is_unblocked && self.registered_since_shrink < len / 4 {
            return;
        }
        self.registered_since_shrink = 0;
        self.drop_stale_entries();
        self.shrink_blocked_at = cut_vacant_tail(
            &mut self.slots,
            &mut self.free,
            |slot| matches!(slot, TimerSlot::Vacant),
            |_| {},
        );
        let keep = |len: usize| (len * 2).max(KEEP_ENTRIES);
        self.slots.shrink_to(keep(self.slots.len()));
        self.free.shrink_to(keep(self.free.len()));
        self.heap.shrink_to(keep(self.heap.len()));
        self.lane.shrink_to(keep(self.lane.len()));
    }

    /// Timer slots and their capacity, and the capacity of the heap and the lane (for the
    /// memory tests).
    pub(crate) fn table_size(&self) -> [usize; 4] {
        [
            self.slots.len(),
            self.slots.capacity(),
            self.heap.capacity(),
            self.lane.capacity(),
        ]
    }

    /// Puts a vacant slot on the free list, except the one that stopped the last cut of the
    /// table (`shrink_when_idle`): that one is kept off it, so that the next idle turn can cut
    /// the table there, instead of a new timer taking it again at once (the free list hands
    /// out the slot freed last, and an idle loop's own timer would ping-pong in it forever).
    #[inline]
    fn free_slot(&mut self, slot: u32) {
        if self.shrink_blocked_at != Some(slot as usize) {
            self.free.push(slot);
        }
    }

    /// Drops every registration (the loop is shutting down) and returns the wakers.
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        self.heap.clear();
        self.lane.clear();
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

    /// Whether the first entry in `(at, seq)` order is the heap's top rather than the lane's
    /// front; `None` if both are empty. `earliest` and `pop_earliest` both decide by it.
    fn is_heap_first(&self) -> Option<bool> {
        match (self.lane.front(), self.heap.peek()) {
            (Some(front), Some(Reverse(top))) => Some(top < front),
            (Some(_), None) => Some(false),
            (None, top) => top.map(|_| true),
        }
    }

    /// The first entry in `(at, seq)` order: the lane's front or the heap's top.
    fn earliest(&self) -> Option<&Entry> {
        match self.is_heap_first()? {
            true => self.heap.peek().map(|Reverse(top)| top),
            false => self.lane.front(),
        }
    }

    /// Removes and returns what `earliest` shows.
    fn pop_earliest(&mut self) -> Option<Entry> {
        match self.is_heap_first()? {
            true => self.heap.pop().map(|Reverse(top)| top),
            false => self.lane.pop_front(),
        }
    }

    fn is_waiting(&self, entry: &Entry) -> bool {
        matches!(self.slots[entry.slot as usize], TimerSlot::Waiting { seq, .. } if seq == entry.seq)
    }

    fn release(&mut self, slot: u32) {
        self.slots[slot as usize] = TimerSlot::Vacant;
        self.free_slot(slot);
        self.live -= 1;
    }

    /// Rebuilds the heap and the lane from their live entries when stale ones are more than
    /// three in four. Each rebuild costs O(n) and happens after at least n/2 cancellations:
    /// O(1) amortised. `retain` keeps the lane's order.
    fn compact_if_mostly_stale(&mut self) {
        let entries = self.heap_len();
        if entries < MIN_COMPACT_LEN || entries < 4 * self.live {
            return;
        }
        self.drop_stale_entries();
    }

    /// Keeps only the entries of the heap and the lane whose timer is still filed.
    fn drop_stale_entries(&mut self) {
        let slots = &self.slots;
        let is_live = |entry: &Entry| matches!(slots[entry.slot as usize], TimerSlot::Waiting { seq, .. } | TimerSlot::Fired { seq } if seq == entry.seq);
        self.heap.retain(|Reverse(entry)| is_live(entry));
        self.lane.retain(|entry| is_live(entry));
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

    /// A waker that writes its number into a shared log when woken.
    struct Numbered {
        number: u64,
        log: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
    }

    impl std::task::Wake for Numbered {
        fn wake(self: std::sync::Arc<Self>) {
            self.log.lock().unwrap().push(self.number);
        }
    }

    #[test]
    fn timers_filed_out_of_order_still_fire_in_deadline_then_seq_order() {
        let mut timers = TimerQueue::default();
        let start = timers.epoch;
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        // (milliseconds, seq): in order, then earlier ones (to the heap), equal deadlines
        // with smaller and larger seqs, and a later one that goes back to the lane.
        let filed = [
            (5, 1),
            (10, 2),
            (3, 3),
            (10, 0),
            (7, 4),
            (1, 5),
            (10, 6),
            (20, 7),
            (7, 8),
        ];
        for (millis, seq) in filed {
            let waker = std::task::Waker::from(std::sync::Arc::new(Numbered {
                number: seq,
                log: log.clone(),
            }));
            timers.register(start + Duration::from_millis(millis), seq, waker);
        }
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(1))
        );
        let mut due = Vec::new();
        for now in [0, 4, 7, 9, 10, 30] {
            timers.fire_due(start + Duration::from_millis(now), &mut due);
            due.drain(..).for_each(Waker::wake);
        }
        // By deadline; equal deadlines by seq.
        assert_eq!(*log.lock().unwrap(), [5, 3, 1, 4, 8, 0, 2, 6, 7]);
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

/// Behaviours that `cargo mutants` showed no test checked (issue 20). Each test names the
/// mutation it was seen to fail under (applied by hand, then reverted).
#[cfg(test)]
mod mutation_tests {
    use super::*;

    fn noop() -> Waker {
        Waker::noop().clone()
    }

    /// A queue with `count` far-future timers in slots `0..count`, and their keys.
    fn with_timers(count: usize) -> (TimerQueue, Vec<TimerKey>) {
        let mut timers = TimerQueue::default();
        let far = timers.epoch + Duration::from_secs(3600);
        let keys = (0..count as u64)
            .map(|seq| timers.register(far, seq, noop()))
            .collect();
        (timers, keys)
    }

    /// `shrink_when_idle`, and whether it looked at the queue (a rebuild, O(queue)): a look
    /// resets the count of registrations since the last one.
    fn shrink(timers: &mut TimerQueue) -> bool {
        let before = timers.registered_since_shrink;
        timers.shrink_when_idle();
        before != 0 && timers.registered_since_shrink == 0
    }

    /// Guarantee (issue 20, third mutation run, which found the memory policy watched only by
    /// the spike test): the timer slots are cut once under a quarter live, not at a quarter,
    /// and keep room for twice what is left. Fails with `live * 4 < len` made `<=`, `*` made
    /// `+` or `/`, `&&` made `||`, and with the room kept (`len * 2`) made `len + 2`.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of timers: minutes under miri, and no unsafe here"
    )]
    fn timer_slots_are_cut_under_a_quarter_live_and_keep_room_for_twice_the_rest() {
        let (mut timers, keys) = with_timers(4 * KEEP_ENTRIES);
        for &key in &keys[KEEP_ENTRIES + 1..] {
            timers.cancel(key);
        }
        // One over a quarter live, then exactly a quarter: kept.
        shrink(&mut timers);
        assert_eq!(timers.table_size()[0], 4 * KEEP_ENTRIES);
        timers.cancel(keys[KEEP_ENTRIES]);
        shrink(&mut timers);
        assert_eq!(timers.table_size()[0], 4 * KEEP_ENTRIES);
        // Under a quarter: cut after the last live slot, with room for twice that.
        timers.cancel(keys[KEEP_ENTRIES - 1]);
        assert!(shrink(&mut timers));
        let [slots, capacity, ..] = timers.table_size();
        assert_eq!(slots, KEEP_ENTRIES - 1);
        assert!(
            (2 * slots..4 * KEEP_ENTRIES).contains(&capacity),
            "capacity {capacity} for {slots} slots"
        );
    }

    /// Guarantee: a queue of `KEEP_ENTRIES` slots or fewer is never cut, even empty. Fails
    /// with `len > KEEP_ENTRIES` made `>=`, and with its `&&` made `||`.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "a thousand timers: slow under miri, and no unsafe here"
    )]
    fn timer_slots_no_more_than_the_floor_are_kept_even_when_empty() {
        let (mut timers, keys) = with_timers(KEEP_ENTRIES);
        for key in keys {
            timers.cancel(key);
        }
        assert!(!shrink(&mut timers));
        assert_eq!(timers.table_size()[0], KEEP_ENTRIES);
    }

    /// Guarantee: a live timer near the end stops the cut; once it leaves, the next idle turn
    /// cuts however few timers were filed since, and looks at a queue the blocker still holds
    /// are amortised: one per a quarter of its length in registrations. Fails with the `!` of
    /// `!is_unblocked` deleted, and with `registered_since_shrink < len / 4` made `==` or
    /// `/` made `%` (a look on every idle turn). (`<` made `<=` moves each look by one
    /// registration: the same cost.)
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of timers: minutes under miri, and no unsafe here"
    )]
    fn a_cut_stopped_by_a_live_timer_waits_for_it_and_looks_seldom_meanwhile() {
        let (mut timers, keys) = with_timers(4 * KEEP_ENTRIES);
        let (last, rest) = keys.split_last().unwrap();
        for &key in rest {
            timers.cancel(key);
        }
        assert!(shrink(&mut timers)); // looked; the last timer stopped the cut
        assert_eq!(timers.table_size()[0], 4 * KEEP_ENTRIES);
        let far = timers.epoch + Duration::from_secs(3600);
        let mut looks = 0;
        for seq in 0..3 * KEEP_ENTRIES as u64 {
            let key = timers.register(far, 10_000 + seq, noop());
            timers.cancel(key);
            if shrink(&mut timers) {
                looks += 1;
            }
        }
        assert!(
            (2..=3).contains(&looks),
            "{looks} looks in 3 072 idle turns"
        );
        timers.cancel(*last);
        timers.shrink_when_idle();
        assert_eq!(
            timers.table_size()[0],
            0,
            "the blocker left: the queue is cut"
        );
    }

    /// Guarantee: a timer that fired and whose `Sleep` is dropped before it looks (a `timeout`
    /// whose future won in the same turn) frees its slot: the queue is empty and the next
    /// registration reuses the slot. Fails with the `Fired` guard in `cancel` made `false`:
    /// the slot then stayed `Fired` and counted as live for ever.
    #[test]
    fn cancelling_a_fired_timer_frees_its_slot_for_the_next_registration() {
        let mut timers = TimerQueue::default();
        let at = timers.epoch + Duration::from_millis(1);
        let fired = timers.register(at, 1, noop());
        let mut due = Vec::new();
        timers.fire_due(at, &mut due);
        assert_eq!(due.len(), 1, "the timer fired");
        assert!(
            timers.cancel(fired).is_none(),
            "a fired timer holds no waker"
        );
        assert!(timers.is_empty(), "no timer is left");
        let next = timers.register(at, 2, noop());
        assert_eq!(next.slot, fired.slot, "the freed slot is reused");
        assert_eq!(timers.slots.len(), 1);
    }

    /// Guarantee: a large heap whose timers are mostly cancelled is rebuilt: 1 000 live
    /// far-future timers (999 of them in the heap, filed in falling deadline order), 999 then
    /// cancelled, leave fewer than `MIN_COMPACT_LEN` entries. Fails with `entries <
    /// MIN_COMPACT_LEN` flipped to `>` in `compact_if_mostly_stale` (1 000 entries stay).
    #[test]
    fn a_large_heap_of_mostly_cancelled_timers_shrinks_below_the_compaction_floor() {
        let mut timers = TimerQueue::default();
        let far = timers.epoch + Duration::from_secs(3600);
        let keys: Vec<TimerKey> = (0..1_000u64)
            .map(|seq| timers.register(far - Duration::from_millis(seq), seq, noop()))
            .collect();
        assert_eq!((timers.lane.len(), timers.heap.len()), (1, 999));
        for &key in &keys[1..] {
            assert!(timers.cancel(key).is_some());
        }
        assert!(
            timers.heap_len() < MIN_COMPACT_LEN,
            "{} entries left for 1 live timer",
            timers.heap_len()
        );
        assert_eq!(timers.next_deadline(), Some(far), "the live timer is kept");
    }

    /// Guarantee: `heap_len` counts exactly the entries of the lane plus those of the heap,
    /// stale ones included (the memory tests rely on it). Fails with its body replaced by 0
    /// or 1, or with `+` replaced by `*` (3 in the lane, 2 in the heap: 6, not 5).
    #[test]
    fn heap_len_counts_the_lane_and_the_heap_exactly() {
        let mut timers = TimerQueue::default();
        let start = timers.epoch;
        let mut keys = Vec::new();
        for (millis, seq) in [(10, 1), (20, 2), (30, 3), (5, 4), (15, 5)] {
            keys.push(timers.register(start + Duration::from_millis(millis), seq, noop()));
        }
        assert_eq!((timers.lane.len(), timers.heap.len()), (3, 2));
        assert_eq!(timers.heap_len(), 5);
        assert!(timers.cancel(keys[0]).is_some());
        assert_eq!(
            timers.heap_len(),
            5,
            "a cancelled entry stays until it surfaces"
        );
        let mut due = Vec::new();
        timers.fire_due(start + Duration::from_millis(12), &mut due);
        assert_eq!(
            due.len(),
            1,
            "only the 5 ms timer fires (the 10 ms one was cancelled)"
        );
        assert_eq!(
            timers.heap_len(),
            3,
            "the fired and the stale entries are gone"
        );
    }

    /// Runs `cancel` and says whether it rebuilt the heap: a cancel alone never shortens it,
    /// so a shorter heap afterwards means a rebuild.
    fn cancel_and_count(timers: &mut TimerQueue, key: TimerKey, rebuilds: &mut usize) {
        let before = timers.heap_len();
        timers.cancel(key);
        if timers.heap_len() < before {
            *rebuilds += 1;
        }
    }

    /// Guarantee: rebuilding is amortised, not one O(n) rebuild per cancel. With one live
    /// timer among 100 000 filed and cancelled ones, a rebuild happens about once every
    /// `MIN_COMPACT_LEN` cancels (O(n / MIN_COMPACT_LEN)); cancelling 10 000 live timers one
    /// by one rebuilds each time the live ones fall to a quarter (O(log n)). Fails when the
    /// stale-majority rule is dropped, so that a heap past the floor is rebuilt at every
    /// cancel (`entries < 4 * self.live` replaced by `false`: about 99 900 rebuilds).
    #[test]
    fn rebuilds_are_amortised_over_many_cancels() {
        // Fewer under miri, which runs a thousand times slower; the ratios are the same.
        let churn: u64 = if cfg!(miri) { 2_000 } else { 100_000 };
        let mut timers = TimerQueue::default();
        let far = timers.epoch + Duration::from_secs(3600);
        let _kept = timers.register(far, 0, noop());
        let mut rebuilds = 0;
        for seq in 1..=churn {
            let key = timers.register(far, seq, noop());
            cancel_and_count(&mut timers, key, &mut rebuilds);
        }
        let per_rebuild = churn as usize / rebuilds.max(1);
        assert!(
            (MIN_COMPACT_LEN / 2..=2 * MIN_COMPACT_LEN).contains(&per_rebuild),
            "{rebuilds} rebuilds for {churn} cancels: one per {per_rebuild}"
        );

        let live: u64 = if cfg!(miri) { 1_000 } else { 10_000 };
        let mut timers = TimerQueue::default();
        let keys: Vec<TimerKey> = (0..live)
            .map(|seq| timers.register(far - Duration::from_millis(seq), seq, noop()))
            .collect();
        let mut rebuilds = 0;
        for &key in &keys {
            cancel_and_count(&mut timers, key, &mut rebuilds);
        }
        // Live timers fall 10 000 -> 2 500 -> 625 -> 156 -> 39 (below the floor): 4 rebuilds.
        assert!(
            (1..=7).contains(&rebuilds),
            "{rebuilds} rebuilds while {live} timers were cancelled; log4({live}) is under 7"
        );
        assert!(timers.is_empty());
    }
}
