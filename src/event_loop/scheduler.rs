//! The loop's task table and run queue: which tasks exist, and which are ready to poll.
//!
//! Only the loop's own thread touches a `Scheduler` (it sits in a `RefCell` inside the loop's
//! `Core`), so nothing here is atomic. Other threads reach it through the remote queue in
//! `waker.rs`.
//!
//! # Rules this module keeps
//! - A key is in `run_queue` at most once: `is_scheduled` is set when it is pushed and
//!   cleared when it is popped, *before* the poll, so a wake during the poll queues it again.
//! - A slot's `generation` changes every time the slot is reused, so a key from a finished
//!   task (held by an old waker) never schedules the task that reuses its slot.
//! - No user code runs while a `Scheduler` is borrowed: tasks are moved out before they are
//!   polled or dropped.
//!
//! # Why a table of slots and not a list of `Arc`s
//! The run queue holds 8-byte keys. Pushing and popping one touches no reference count, which
//! is what makes a same-thread wake cost a few nanoseconds (`yield_many` in
//! `docs/benchmarks.md`). The table is also the list of every unfinished task, which the loop
//! needs when it shuts down.

use crate::task::{TaskId, TaskRef};
use crate::waker::TaskKey;

/// One entry of the task table.
struct Slot {
    generation: u32,
    is_scheduled: bool,
    state: SlotState,
}

/// What a slot holds.
enum SlotState {
    /// Free; its index is in `free`.
    Vacant,
    /// A task waiting to be polled, or waiting for a wake.
    Parked(TaskRef),
    /// The task is out of the table because the loop is polling it right now.
    Polling,
}

/// What `take_for_poll` found under a key.
pub(crate) enum Taken {
    /// The task to poll; put it back with `put_back` or release the slot with `remove`.
    Task(TaskRef),
    /// The key is stale (its task finished) or the task is already being polled.
    Nothing,
}

/// The loop's task table and run queue.
pub(crate) struct Scheduler {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The keys to poll at the next turn, in the order they were woken (first in, first out,
    /// so every ready task gets its turn). The turn swaps the whole queue out for an empty
    /// one and polls what it took: a task woken meanwhile lands in the new queue and waits
    /// for the next turn. A `Vec` and not a `VecDeque`: the queue is only pushed to and
    /// taken whole, never popped one by one (a push is then a store and an increment).
    pub(crate) run_queue: Vec<TaskKey>,
    /// Set when the `run_until_complete` future was woken; it is polled between batches.
    pub(crate) is_main_woken: bool,
    next_task_id: u64,
    live_tasks: usize,
    /// The generation a slot starts with when `reserve_slot` creates it. Slots cut off the
    /// table's end by `shrink_when_idle` may come back at the same index; starting them past
    /// every generation they had keeps old keys stale.
    fresh_generation: u32,
    /// `next_task_id` when `shrink_when_idle` last looked at the table (see there).
    task_id_at_last_shrink: u64,
    /// The slot in use that stopped the last cut of the table (see `shrink_when_idle`).
    shrink_blocked_at: Option<usize>,
}

/// Buffers are never shrunk below this many entries: the bursts of an ordinary program are
/// kept for reuse, and only a real spike is given back.
pub(crate) const KEEP_ENTRIES: usize = 1024;

/// Cuts the vacant slots off the end of a slot table (`is_vacant`; `on_cut` sees each before
/// it goes) and rebuilds its free list highest index first, so that `pop` hands out the lowest
/// slot. Returns the index of the last slot kept: the one that stopped the cut. Shared by the
/// task table and the timer queue (`shrink_when_idle` in both).
pub(crate) fn cut_vacant_tail<T>(
    slots: &mut Vec<T>,
    free: &mut Vec<u32>,
    is_vacant: impl Fn(&T) -> bool,
    on_cut: impl FnMut(&T),
) -> Option<usize> {
    let kept = slots
        .iter()
        .rposition(|slot| !is_vacant(slot))
        .map_or(0, |last| last + 1);
    slots[kept..].iter().for_each(on_cut);
    slots.truncate(kept);
    free.clear();
    let vacant = slots.iter().enumerate().rev();
    free.extend(
        vacant
            .filter(|(_, slot)| is_vacant(slot))
            .map(|(index, _)| index as u32),
    );
    kept.checked_sub(1)
}

/// Gives back the unused capacity of `buffer` when it is under a quarter full and larger
/// than `KEEP_ENTRIES`, keeping room for twice what it holds. Called on idle turns only.
pub(crate) fn shrink_buffer<T>(buffer: &mut Vec<T>) {
    if buffer.capacity() > KEEP_ENTRIES && buffer.len() * 4 < buffer.capacity() {
        buffer.shrink_to((buffer.len() * 2).max(KEEP_ENTRIES));
    }
}

impl Scheduler {
    pub(crate) fn new() -> Self {
        Scheduler {
            slots: Vec::new(),
            free: Vec::new(),
            run_queue: Vec::new(),
            is_main_woken: false,
            next_task_id: 1,
            live_tasks: 0,
            fresh_generation: 0,
            task_id_at_last_shrink: 1,
            shrink_blocked_at: None,
        }
    }

    /// How many tasks have been spawned and not yet finished.
    pub(crate) fn live_tasks(&self) -> usize {
        self.live_tasks
    }

    /// Picks a slot and an id for a new task; `insert` must follow before any other call.
    #[inline]
    pub(crate) fn reserve(&mut self) -> (TaskKey, TaskId) {
        let id = TaskId(self.next_task_id);
        self.next_task_id += 1;
        (self.reserve_slot(), id)
    }

    /// Picks a slot for a task that has its id already (spawned through a `Handle`); `insert`
    /// must follow before any other call.
    #[inline(always)] // on every spawn; out of line since `TaskRef` has a `Drop` otherwise
    pub(crate) fn reserve_slot(&mut self) -> TaskKey {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|index| *index < TaskKey::UNASSIGNED.index)
                    .expect("more than 4 billion live tasks in one loop");
                self.slots.push(Slot {
                    generation: self.fresh_generation,
                    is_scheduled: false,
                    state: SlotState::Vacant,
                });
                index
            }
        };
        let generation = self.slots[index as usize].generation;
        TaskKey { index, generation }
    }

    /// Stores a new task under the key `reserve` gave, and queues its first poll.
    #[inline(always)] // on every spawn; LLVM left it out of line otherwise
    pub(crate) fn insert(&mut self, key: TaskKey, task: TaskRef) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(
            matches!(slot.state, SlotState::Vacant),
            "`insert` follows `reserve`"
        );
        slot.state = SlotState::Parked(task);
        slot.is_scheduled = true;
        self.run_queue.push(key);
        self.live_tasks += 1;
    }

    /// Marks the slot `reserve` gave as taken by a task that is being polled right now (an
    /// eager spawn); `put_back` or `remove` follows.
    pub(crate) fn insert_polling(&mut self, key: TaskKey) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(matches!(slot.state, SlotState::Vacant), "follows `reserve`");
        slot.state = SlotState::Polling;
        self.live_tasks += 1;
    }

    /// Queues the task under `key` unless it is queued already or the key is stale.
    #[inline(always)] // on every wake; LLVM left it out of line otherwise
    pub(crate) fn schedule(&mut self, key: TaskKey) {
        if key == TaskKey::MAIN {
            self.is_main_woken = true;
            return;
        }
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return;
        };
        let is_live = slot.generation == key.generation && !matches!(slot.state, SlotState::Vacant);
        if is_live && !slot.is_scheduled {
            slot.is_scheduled = true;
            self.run_queue.push(key);
        }
    }

    /// The task under `key`, if it is parked there (for the remote path, which must clear the
    /// task's remote flag).
    pub(crate) fn parked_task(&self, key: TaskKey) -> Option<&TaskRef> {
        let slot = self.slots.get(key.index as usize)?;
        match &slot.state {
            SlotState::Parked(task) if slot.generation == key.generation => Some(task),
            _ => None,
        }
    }

    /// Every task in the table with its key, for the stuck check (`stuck.rs`); `None` if a
    /// task is out of the table being polled, which the check, run between turns, never sees.
    pub(crate) fn parked_tasks(&self) -> Option<Vec<(TaskKey, &TaskRef)>> {
        let mut tasks = Vec::with_capacity(self.live_tasks);
        for (index, slot) in self.slots.iter().enumerate() {
            let key = TaskKey {
                index: index as u32,
                generation: slot.generation,
            };
            match &slot.state {
                SlotState::Vacant => {}
                SlotState::Parked(task) => tasks.push((key, task)),
                SlotState::Polling => return None,
            }
        }
        Some(tasks)
    }

    /// Whether the task under `key` is out of its slot because it is being polled now.
    pub(crate) fn is_polling(&self, key: TaskKey) -> bool {
        let slot = self.slots.get(key.index as usize);
        slot.is_some_and(|slot| {
            slot.generation == key.generation && matches!(slot.state, SlotState::Polling)
        })
    }

    /// Moves the task under `key` out of the table for polling.
    #[inline]
    pub(crate) fn take_for_poll(&mut self, key: TaskKey) -> Taken {
        let Some(slot) = self.slots.get_mut(key.index as usize) else {
            return Taken::Nothing;
        };
        if slot.generation != key.generation {
            return Taken::Nothing;
        }
        // Cleared before the poll: a wake during the poll must queue the task again.
        slot.is_scheduled = false;
        match std::mem::replace(&mut slot.state, SlotState::Polling) {
            SlotState::Parked(task) => Taken::Task(task),
            other => {
                slot.state = other;
                Taken::Nothing
            }
        }
    }

    /// Returns a task that answered `Pending` to its slot.
    #[inline(always)] // on every `Pending`; out of line since `TaskRef` has a `Drop` otherwise
    pub(crate) fn put_back(&mut self, key: TaskKey, task: TaskRef) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(matches!(slot.state, SlotState::Polling));
        slot.state = SlotState::Parked(task);
    }

    /// Frees the slot of a task that finished. Its key becomes stale.
    #[inline(always)] // on every finish; out of line since `TaskRef` has a `Drop` otherwise
    pub(crate) fn remove(&mut self, key: TaskKey) {
        let slot = &mut self.slots[key.index as usize];
        slot.state = SlotState::Vacant;
        slot.is_scheduled = false;
        slot.generation = slot.generation.wrapping_add(1);
        // The slot that stopped the last cut of the table stays off the free list, so that
        // the next idle turn can cut there (`shrink_when_idle`); anything else is reused.
        if self.shrink_blocked_at != Some(key.index as usize) {
            self.free.push(key.index);
        }
        self.live_tasks -= 1;
    }

    /// Gives back memory after a spike of tasks, on a turn where the loop is about to wait
    /// (never on the busy path). The run queue's spare capacity goes, and the vacant slots at
    /// the end of the table are cut off. Slots in the middle stay: a live task's key is its
    /// index. A task still running near the end stops the cut, so a rebuild also sorts the
    /// free list to hand out the lowest slot first: new tasks then stay low, and once the
    /// blocking task is gone the next idle turn cuts again.
    ///
    /// Cost: O(1) when there is nothing to give back. A rebuild costs O(table) and is tried
    /// when the table is under a quarter full and either a quarter of its length in tasks
    /// were spawned since the last try (O(1) amortised per spawn) or the task that stopped
    /// the last cut has finished (at most once per task).
    pub(crate) fn shrink_when_idle(&mut self) {
        shrink_buffer(&mut self.run_queue);
        let len = self.slots.len();
        let is_mostly_vacant = len > KEEP_ENTRIES && self.live_tasks * 4 < len;
        if !is_mostly_vacant {
            return;
        }
        let is_unblocked = self.shrink_blocked_at.is_some_and(|index| {
            matches!(self.slots.get(index), Some(slot) if matches!(slot.state, SlotState::Vacant))
        });
        let spawned_since = self.next_task_id - self.task_id_at_last_shrink;
        if !is_unblocked && spawned_since < (len / 4) as u64 {
            return;
        }
        self.task_id_at_last_shrink = self.next_task_id;
        let mut fresh_generation = self.fresh_generation;
        self.shrink_blocked_at = cut_vacant_tail(
            &mut self.slots,
            &mut self.free,
            |slot| matches!(slot.state, SlotState::Vacant),
            |cut| fresh_generation = fresh_generation.max(cut.generation.wrapping_add(1)),
        );
        self.fresh_generation = fresh_generation;
        let kept = self.slots.len();
        self.slots.shrink_to(kept.max(KEEP_ENTRIES));
        shrink_buffer(&mut self.free);
    }

    /// The task table's length and capacity, in slots (for the memory tests).
    pub(crate) fn table_size(&self) -> (usize, usize) {
        (self.slots.len(), self.slots.capacity())
    }

    /// Takes every parked task out of the table and frees the slots: the loop is shutting
    /// down and will cancel them (outside this borrow, since dropping a future runs user code).
    pub(crate) fn take_all(&mut self) -> Vec<TaskRef> {
        let mut tasks = Vec::new();
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if !matches!(slot.state, SlotState::Parked(_)) {
                continue;
            }
            if let SlotState::Parked(task) = std::mem::replace(&mut slot.state, SlotState::Vacant) {
                tasks.push(task);
            }
            slot.is_scheduled = false;
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(index as u32);
            self.live_tasks -= 1;
        }
        self.run_queue.clear();
        tasks
    }
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("live_tasks", &self.live_tasks)
            .field("run_queue", &self.run_queue.len())
            .field("is_main_woken", &self.is_main_woken)
            .finish()
    }
}

/// The memory policy's boundaries, each checked on its exact edge: issue 20's third mutation
/// run found that only the spike test (`tests/spike_memory.rs`, "most of a spike comes back")
/// watched this code, so changing when it shrinks, or how far, passed every test. Each test
/// names the mutants it fails under (docs/reliability.md, "Mutation runs", third run).
#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{new_task, Header, Origin};
    use crate::waker::LoopId;

    /// Spawns a task (a future that never runs: these tests never poll) into `scheduler`.
    fn spawn(scheduler: &mut Scheduler) -> TaskKey {
        let (key, id) = scheduler.reserve();
        let header = Header::new(id, LoopId::next(), key, Origin::here(), false);
        let (task, _handle) = new_task(header, async {});
        scheduler.insert(key, task);
        key
    }

    /// A scheduler with `count` tasks in slots `0..count`, their run queue drained as a turn
    /// would, and their keys.
    fn with_tasks(count: usize) -> (Scheduler, Vec<TaskKey>) {
        let mut scheduler = Scheduler::new();
        let keys: Vec<TaskKey> = (0..count).map(|_| spawn(&mut scheduler)).collect();
        scheduler.run_queue.clear();
        (scheduler, keys)
    }

    fn slots(scheduler: &Scheduler) -> usize {
        scheduler.table_size().0
    }

    /// `shrink_when_idle`, and whether it looked at the table (a rebuild of the free list,
    /// O(table)): it sets `task_id_at_last_shrink` each time it does.
    fn shrink(scheduler: &mut Scheduler) -> bool {
        let before = scheduler.task_id_at_last_shrink;
        scheduler.shrink_when_idle();
        scheduler.task_id_at_last_shrink != before
    }

    /// Fails if `shrink_buffer` does nothing, with either comparison flipped or `&&` made
    /// `||`, with `len * 4` made `len / 4`, or with the room kept (`len * 2`) made `len + 2`
    /// or `len / 2`. (`capacity > KEEP_ENTRIES` made `>=` changes nothing: shrinking a
    /// buffer of exactly `KEEP_ENTRIES` to `KEEP_ENTRIES` is no change.)
    #[test]
    fn shrink_buffer_gives_back_only_what_is_under_a_quarter_used_and_keeps_twice_the_length() {
        let buffer_of = |len: usize| {
            let mut buffer: Vec<u8> = Vec::with_capacity(8 * KEEP_ENTRIES);
            buffer.resize(len, 0);
            shrink_buffer(&mut buffer);
            buffer.capacity()
        };
        // Almost empty: down to the floor.
        assert_eq!(buffer_of(10), KEEP_ENTRIES);
        // Under a quarter: keeps room for twice its length.
        let kept = buffer_of(1000);
        assert!((2000..8 * KEEP_ENTRIES).contains(&kept), "{kept}");
        // Exactly a quarter full: kept whole.
        assert_eq!(buffer_of(2 * KEEP_ENTRIES), 8 * KEEP_ENTRIES);
        // More than a quarter: kept whole.
        assert_eq!(buffer_of(3 * KEEP_ENTRIES), 8 * KEEP_ENTRIES);
        // At the floor: kept.
        let mut small: Vec<u8> = Vec::with_capacity(KEEP_ENTRIES);
        shrink_buffer(&mut small);
        assert_eq!(small.capacity(), KEEP_ENTRIES);
    }

    /// The table is cut once it is *under* a quarter full, not at a quarter. Fails with
    /// `live_tasks * 4 < len` made `<=`, `*` made `+` or `/`, `&&` made `||`, and with
    /// `shrink_when_idle` emptied.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of tasks: minutes under miri, and no unsafe here"
    )]
    fn the_task_table_is_cut_when_under_a_quarter_full_and_not_at_a_quarter() {
        let (mut scheduler, keys) = with_tasks(4 * KEEP_ENTRIES);
        for &key in &keys[KEEP_ENTRIES..] {
            scheduler.remove(key);
        }
        // A quarter live (1 024 of 4 096): kept.
        shrink(&mut scheduler);
        assert_eq!(slots(&scheduler), 4 * KEEP_ENTRIES);
        // One fewer: cut after the last live slot.
        scheduler.remove(keys[KEEP_ENTRIES - 1]);
        assert!(shrink(&mut scheduler));
        assert_eq!(slots(&scheduler), KEEP_ENTRIES - 1);
    }

    /// A table of `KEEP_ENTRIES` slots or fewer is never cut, even empty. Fails with
    /// `len > KEEP_ENTRIES` made `>=`, and with its `&&` made `||`.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of tasks: minutes under miri, and no unsafe here"
    )]
    fn a_table_no_longer_than_the_floor_is_kept_even_when_empty() {
        let (mut scheduler, keys) = with_tasks(KEEP_ENTRIES);
        for &key in &keys {
            scheduler.remove(key);
        }
        assert!(!shrink(&mut scheduler));
        assert_eq!(slots(&scheduler), KEEP_ENTRIES);
    }

    /// A second spike comes back as the first did: the tasks spawned since the last cut are
    /// counted from it. Fails with `next_task_id - task_id_at_last_shrink` made `/` (a
    /// ratio of about 2, never a quarter of the table: the second spike would be kept).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of tasks: minutes under miri, and no unsafe here"
    )]
    fn a_second_spike_of_tasks_is_given_back_as_well() {
        let mut scheduler = Scheduler::new();
        for _ in 0..2 {
            let keys: Vec<TaskKey> = (0..4 * KEEP_ENTRIES)
                .map(|_| spawn(&mut scheduler))
                .collect();
            scheduler.run_queue.clear();
            for key in keys {
                scheduler.remove(key);
            }
            assert!(shrink(&mut scheduler));
            assert_eq!(slots(&scheduler), 0);
        }
    }

    /// A live task near the end stops the cut; once it finishes, the next idle turn cuts,
    /// however few tasks were spawned since. Fails with `!is_unblocked` made `is_unblocked`
    /// (the `!` deleted).
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of tasks: minutes under miri, and no unsafe here"
    )]
    fn a_cut_stopped_by_a_live_task_happens_once_that_task_finishes() {
        let (mut scheduler, keys) = with_tasks(4 * KEEP_ENTRIES);
        let (last, rest) = keys.split_last().unwrap();
        for &key in rest {
            scheduler.remove(key);
        }
        assert!(shrink(&mut scheduler)); // looked, and the last slot stopped it
        assert_eq!(slots(&scheduler), 4 * KEEP_ENTRIES);
        scheduler.remove(*last);
        shrink(&mut scheduler); // (no spawn since: `shrink`'s sign of a look cannot tell)
        assert_eq!(slots(&scheduler), 0);
    }

    /// Looking at a mostly vacant table that a live task keeps long costs O(table), so it is
    /// done once per a quarter of the table's length in spawns, not on every idle turn.
    /// Fails with `spawned_since < len / 4` made `==` (a look on nearly every turn) or with
    /// `/` made `%` (`len % 4` is 0: a look on every turn). (`<` made `<=` moves each look by
    /// one spawn: the same cost.)
    #[test]
    #[cfg_attr(
        miri,
        ignore = "thousands of tasks: minutes under miri, and no unsafe here"
    )]
    fn looks_at_a_blocked_table_are_amortised_over_spawns() {
        let (mut scheduler, keys) = with_tasks(4 * KEEP_ENTRIES);
        for &key in &keys[..keys.len() - 1] {
            scheduler.remove(key);
        }
        assert!(shrink(&mut scheduler)); // blocked by the last task, which stays
        let mut looks = 0;
        for _ in 0..3 * KEEP_ENTRIES {
            let key = spawn(&mut scheduler);
            scheduler.run_queue.clear();
            scheduler.remove(key);
            if shrink(&mut scheduler) {
                looks += 1;
            }
        }
        // 3 072 spawns, one look per 1 024 (a quarter of 4 096 slots).
        assert!(
            (2..=3).contains(&looks),
            "{looks} looks in 3 072 idle turns"
        );
    }
}
