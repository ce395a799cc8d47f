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
    #[inline]
    pub(crate) fn reserve_slot(&mut self) -> TaskKey {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|index| *index < TaskKey::UNASSIGNED.index)
                    .expect("more than 4 billion live tasks in one loop");
                self.slots.push(Slot {
                    generation: 0,
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
    #[inline]
    pub(crate) fn put_back(&mut self, key: TaskKey, task: TaskRef) {
        let slot = &mut self.slots[key.index as usize];
        debug_assert!(matches!(slot.state, SlotState::Polling));
        slot.state = SlotState::Parked(task);
    }

    /// Frees the slot of a task that finished. Its key becomes stale.
    #[inline]
    pub(crate) fn remove(&mut self, key: TaskKey) {
        let slot = &mut self.slots[key.index as usize];
        slot.state = SlotState::Vacant;
        slot.is_scheduled = false;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live_tasks -= 1;
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
