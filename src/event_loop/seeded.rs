//! Seeded schedule exploration: the loop's one switch that changes *which* ready task runs
//! first, so that a test can try many legal orders and replay any one of them from a seed.
//!
//! With [`Builder::seed`](super::Builder::seed), each turn polls its ready tasks in an order
//! drawn from a small seeded generator instead of first-in, first-out, and holds some of them
//! back to the next turn, as if the loop had reached them a moment later. One seed is one
//! interleaving of the tasks' steps, the same on every run. `src/explore.rs` runs a test body
//! under many seeds; lesson 36 (`docs/36-seeded-schedules.md`) finds an order bug with it.
//!
//! # What the seed decides, and what it does not
//! The seed decides every choice the loop makes about order: the order of each turn's ready
//! tasks, and which of them wait a turn. Timers that fire together, sockets that are ready
//! together and wakes from other threads all end as keys in the run queue, whose order the
//! next turn draws afresh, so their own order does not matter. What the seed cannot decide is
//! what happens outside the loop: when the OS says a real socket is ready, when another thread
//! wakes a task, when a wall-clock timer comes due. A test whose tasks wait only on each other
//! (channels, `yield_now`, `JoinHandle`s) replays exactly; one that races a real socket or a
//! thread may replay differently. The main future (the one given to `run_until_complete`) is
//! still polled first in each turn it is woken: spawn the actors whose order matters as tasks.
//!
//! # Why holding back, not only shuffling
//! A shuffle only reorders the tasks of one turn. Two tasks that each take one step per turn
//! (`yield_now` queues the yielder for the *next* turn) would then always meet at the same
//! step: task A's third step could never run before task B's second. Holding a task back one
//! turn in four lets any step of one task fall between any two of another's, which is what a
//! real executor does when one task is woken a little later (tokio's LIFO slot, another
//! worker thread, a slower socket). The first task of each turn is never held back, so a
//! turn with ready tasks always polls one: the loop still makes progress, and a task that is
//! held back is polled at a later turn with probability 1.
//!
//! # The generator
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
//! one 64-bit word of state, an add and three xor-shift-multiplies per number, and every seed,
//! zero included, gives a full-period stream. Written here rather than taken from a crate
//! because it is six lines, and because the numbers it draws must never change under a replay
//! command someone saved: a dependency's update could change them.
//!
//! # Rules this module keeps
//! - With no seed set, the loop's order is exactly the FIFO of `turn.rs`: the switch is one
//!   load and a branch per turn, not per poll.
//! - A held-back key goes back into the run queue with its `is_scheduled` still set, so it is
//!   in the queue once, as `scheduler.rs` promises.

use super::Core;

/// One ready task in this many is held back to the next turn (never the first of a turn).
pub(crate) const HOLD_BACK_ONE_IN: u64 = 4;

/// The seeded generator behind a loop's order; `Copy`, so the loop keeps it in a `Cell`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SeededOrder {
    state: u64,
}

impl SeededOrder {
    pub(crate) fn new(seed: u64) -> SeededOrder {
        SeededOrder { state: seed }
    }

    /// The next number of the SplitMix64 stream.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`): the high half of a 64 x 64-bit product, which is
    /// unbiased enough for choosing among a run queue and costs no division.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates: every order of `items` equally likely.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for last in (1..items.len()).rev() {
            let pick = self.below(last + 1);
            items.swap(last, pick);
        }
    }
}

impl Core {
    /// `run_ready_tasks` when the loop has a seed: this turn's batch in a drawn order, some
    /// of it held back to the next turn. Out of line, so the FIFO path is unchanged.
    #[cold]
    #[inline(never)]
    pub(super) fn run_ready_tasks_seeded(&self, mut order: SeededOrder) {
        let mut batch = self.turn_batch.borrow_mut();
        std::mem::swap(&mut *batch, &mut self.scheduler.borrow_mut().run_queue);
        order.shuffle(&mut batch);
        for (position, &key) in batch.iter().enumerate() {
            if position > 0 && order.next_u64().is_multiple_of(HOLD_BACK_ONE_IN) {
                // Still marked scheduled: a wake before the next turn does not queue it twice.
                self.scheduler.borrow_mut().run_queue.push(key);
                continue;
            }
            self.run_task(key);
        }
        batch.clear();
        self.seeded.set(Some(order));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator is SplitMix64 itself: the first numbers for seed 0 are the published ones
    /// (the reference C code's output), so a saved seed replays the same order in every
    /// version of miniloop. Fails if a constant or a shift is changed.
    #[test]
    fn the_generator_is_splitmix64() {
        let mut order = SeededOrder::new(0);
        assert_eq!(order.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(order.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(order.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn a_shuffle_is_a_permutation_and_each_seed_has_its_own() {
        let shuffled = |seed| {
            let mut items: Vec<u32> = (0..10).collect();
            SeededOrder::new(seed).shuffle(&mut items);
            items
        };
        let mut sorted = shuffled(7);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_eq!(shuffled(7), shuffled(7));
        let distinct: std::collections::HashSet<Vec<u32>> = (0..20).map(shuffled).collect();
        assert!(
            distinct.len() > 15,
            "20 seeds gave {} orders",
            distinct.len()
        );
    }
}
