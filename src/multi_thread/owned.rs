//! The runtime's list of its unfinished tasks, so that shutdown can reach and cancel every one.
//!
//! A task that waits is held only by its wakers, and those may sit anywhere: in the timer
//! queue, in another waiting task's join cell, in a channel. At shutdown a task's waker may
//! be inside another waiting task, and that one's inside the first: nothing outside would ever
//! drop them, their futures would never be dropped, and a `JoinHandle` held elsewhere would
//! wait for ever. So the runtime holds an `Arc` of its own to each task (`TaskHold`), from spawn
//! to finish, and at shutdown cancels every task that is still idle.
//!
//! Spawns come from every worker at once, so the list is split into shards by task id, each
//! under its own lock: two workers spawning at the same time rarely take the same lock. A
//! task's slot in its shard is kept in its state word (`state.rs`), so removing it is an index.

use std::sync::{Mutex, MutexGuard};

use crate::task::{Header, TaskHold, TaskRef};

use super::state;

#[derive(Debug, Default)]
struct Shard {
    slots: Vec<Option<TaskHold>>,
    free: Vec<u32>,
    is_closed: bool,
}

#[derive(Debug)]
pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
}

impl OwnedTasks {
    pub(crate) fn new(workers: usize) -> OwnedTasks {
        let shards = (workers * 4).next_power_of_two();
        OwnedTasks {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
        }
    }

    fn shard(&self, header: &Header) -> MutexGuard<'_, Shard> {
        let index = (header.id.0 as usize) & (self.shards.len() - 1);
        // Only `Vec` pushes and takes happen under these locks.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Lists a new task, and writes its slot into its state word. `Err` gives the task back if
    /// the runtime has shut down (the caller then drops it, which cancels it).
    pub(crate) fn insert(&self, task: TaskRef) -> Result<TaskRef, TaskRef> {
        let header = task.header();
        let mut shard = self.shard(header);
        if shard.is_closed {
            return Err(task);
        }
        let slot = match shard.free.pop() {
            Some(slot) => slot,
            None => {
                shard.slots.push(None);
                u32::try_from(shard.slots.len() - 1).expect("fewer than 2^32 tasks per shard")
            }
        };
        header
            .schedule_word()
            .store(state::new_word(slot), std::sync::atomic::Ordering::Relaxed);
        shard.slots[slot as usize] = Some(task.hold());
        Ok(task)
    }

    /// Takes a finished task off the list.
    pub(crate) fn remove(&self, header: &Header) {
        let slot = state::slot(header);
        let hold = {
            let mut shard = self.shard(header);
            let hold = shard.slots.get_mut(slot as usize).and_then(Option::take);
            if hold.is_some() {
                shard.free.push(slot);
            }
            hold
        };
        drop(hold); // outside the lock: it may be the task's last `Arc`
    }

    /// Shutdown: refuses later inserts and returns every task still listed.
    pub(crate) fn close(&self) -> Vec<TaskHold> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            shard.is_closed = true;
            all.extend(shard.slots.drain(..).flatten());
            shard.free.clear();
        }
        all
    }

    /// How many tasks are listed (spawned, not finished).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                shard.slots.len() - shard.free.len()
            })
            .sum()
    }
}
