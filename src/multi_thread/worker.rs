//! One worker thread: its run queue, and the loop that feeds it: its own tasks first, then the
//! shared queue, then other workers' queues (stealing), then sleep.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::task::{JoinError, Polled, TaskRef};

use super::queue::Local;
use super::{state, Shared, StatsSlot, Timers};

/// Every this many tasks a worker looks at the shared queue before its own (so that tasks
/// queued from outside are not starved by a worker whose own queue never empties) and fires
/// due timers. tokio uses the same number (a prime, so that it does not fall into step with a
/// program's own periods).
const CHECK_INTERVAL: u32 = 61;

/// What a worker thread shares with the tasks it polls: its queue (a task spawned or woken
/// here goes into it, without a lock) and the runtime.
pub(super) struct WorkerContext {
    pub(super) shared: Arc<Shared>,
    pub(super) index: usize,
    pub(super) local: RefCell<Local<TaskRef>>,
}

impl WorkerContext {
    /// Queues a task on this worker (a spawn or a wake on this thread), and wakes a sleeping
    /// worker if this one now has more than it is running (it may steal some).
    pub(super) fn push(&self, task: TaskRef) {
        let len = {
            let mut local = self.local.borrow_mut();
            local.push_back(task, &mut |batch| self.shared.overflow(batch));
            local.len()
        };
        if len > 1 {
            self.shared.notify_parked();
        }
    }
}

pub(super) struct Worker {
    context: Rc<WorkerContext>,
    is_searching: bool,
    tick: u32,
    /// xorshift state: where to start looking for a victim, so that thieves spread out.
    rng: u32,
    /// Reused for batches from the shared queue and fired timers.
    batch: Vec<TaskRef>,
    due: Vec<std::task::Waker>,
}

impl Worker {
    pub(super) fn new(context: Rc<WorkerContext>) -> Worker {
        let rng = 0x9E37_79B9_u32.wrapping_mul(context.index as u32 + 1) | 1;
        Worker {
            context,
            is_searching: false,
            tick: 0,
            rng,
            batch: Vec::new(),
            due: Vec::new(),
        }
    }

    fn shared(&self) -> &Shared {
        &self.context.shared
    }

    /// The worker's life: run tasks until the runtime shuts down, then cancel what is left in
    /// its queue.
    pub(super) fn run(mut self) {
        let index = self.context.index;
        self.shared().stats[index].record_thread();
        while !self.shared().is_shut_down() {
            self.tick = self.tick.wrapping_add(1);
            if self.tick.is_multiple_of(CHECK_INTERVAL) {
                self.maintenance();
            }
            match self.next_task() {
                Some(task) => self.run_task(task),
                None => self.park(),
            }
        }
        // Cancel what is left: dropping a `TaskRef` cancels its task (its future is dropped
        // here). Dropping a future may wake or spawn tasks, which land in this queue again.
        loop {
            let task = self.context.local.borrow_mut().pop();
            match task {
                Some(task) => drop(task),
                None => break,
            }
        }
    }

    fn next_task(&mut self) -> Option<TaskRef> {
        if self.tick.is_multiple_of(CHECK_INTERVAL) {
            if let Some(task) = self.shared().injector.pop() {
                return Some(task);
            }
        }
        if let Some(task) = self.context.local.borrow_mut().pop() {
            return Some(task);
        }
        if let Some(task) = self.take_from_injector() {
            return Some(task);
        }
        self.steal()
    }

    /// A share of the shared queue: its length divided by the workers, so that one worker does
    /// not take it all while others sleep, and at most half of this worker's queue.
    fn take_from_injector(&mut self) -> Option<TaskRef> {
        let shared = &self.context.shared;
        if shared.injector.is_empty() {
            return None;
        }
        let share = shared.injector.len() / shared.workers() + 1;
        let max = share.min(super::queue::LOCAL_QUEUE_CAPACITY / 2);
        shared.injector.pop_batch(max, &mut self.batch);
        let mut batch = self.batch.drain(..);
        let first = batch.next();
        let mut local = self.context.local.borrow_mut();
        for task in batch {
            local.push_back(task, &mut |overflow| shared.overflow(overflow));
        }
        first
    }

    /// Looks for work in other workers' queues (and once more in the shared queue).
    fn steal(&mut self) -> Option<TaskRef> {
        if !self.is_searching {
            if !self.shared().idle.start_searching() {
                return None;
            }
            self.is_searching = true;
        }
        let workers = self.shared().workers();
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        let start = self.rng as usize % workers;
        for offset in 0..workers {
            let victim = (start + offset) % workers;
            if victim == self.context.index {
                continue;
            }
            let stolen = {
                let mut local = self.context.local.borrow_mut();
                let before = local.len();
                let stolen = self.context.shared.stealers[victim].steal_into(&mut local);
                stolen.map(|task| (task, local.len() - before + 1))
            };
            if let Some((task, count)) = stolen {
                self.stats().stolen.bump(count as u64);
                return Some(task);
            }
        }
        self.take_from_injector()
    }

    fn run_task(&mut self, task: TaskRef) {
        if self.is_searching {
            self.is_searching = false;
            // The last searcher found work: another sleeper looks for the rest.
            if self.shared().idle.stop_searching() {
                self.shared().notify_parked();
            }
        }
        self.stats().polls.bump(1);
        state::mark_running(task.header());
        let (task, polled) = task.poll();
        match polled {
            Polled::Pending => {
                let parked = task.into_parked();
                if state::mark_idle(parked.header()) {
                    #[allow(unsafe_code)]
                    // SAFETY: `mark_idle` saw the task woken during its poll and moved it
                    // from NOTIFIED to SCHEDULED itself; the wake that set NOTIFIED made no
                    // `TaskRef` (`state.rs`), so this is again the only one.
                    let task = unsafe { parked.resume() };
                    // Woken during its own poll (a yield): to the back of this queue.
                    self.context.push(task);
                }
            }
            Polled::Ready => {
                self.finish(&task);
                task.release_finished();
            }
            Polled::Panicked(payload) => {
                self.finish(&task);
                let id = task.header().id;
                task.fail(JoinError::panicked(id, payload));
            }
            Polled::Aborted => {
                self.finish(&task);
                let id = task.header().id;
                task.fail(JoinError::cancelled(id));
            }
        }
    }

    fn finish(&self, task: &TaskRef) {
        state::mark_done(task.header());
        self.shared().owned.remove(task.header());
    }

    /// Every `CHECK_INTERVAL` tasks: fire due timers if no sleeping worker keeps them.
    fn maintenance(&mut self) {
        let shared = Arc::clone(&self.context.shared);
        shared
            .timers
            .fire_if_free(self.context.index, &mut self.due);
        for waker in self.due.drain(..) {
            waker.wake();
        }
    }

    fn stats(&self) -> &StatsSlot {
        &self.context.shared.stats[self.context.index]
    }

    /// Nothing to run anywhere: sleep until a task is queued for this worker, a timer is due
    /// (if this worker keeps the timers) or the runtime shuts down.
    fn park(&mut self) {
        let shared = Arc::clone(&self.context.shared);
        let index = self.context.index;
        let was_searching = std::mem::replace(&mut self.is_searching, false);
        if shared.idle.park(index, was_searching) {
            // The last searcher: nobody would see a task queued from now on but us.
            shared.notify_if_work_pending();
        }
        loop {
            if shared.is_shut_down() {
                shared.idle.unpark_self(index);
                return;
            }
            self.stats().parks.bump(1);
            match shared.timers.try_keep(index) {
                Ok(deadline) => {
                    shared.parkers[index].park(Timers::timeout(deadline));
                    shared.timers.fire_and_release(&mut self.due);
                    for waker in self.due.drain(..) {
                        waker.wake(); // into this worker's queue: this thread is the worker
                    }
                }
                Err(()) => shared.parkers[index].park(None),
            }
            if !self.context.local.borrow().is_empty() {
                // Timers fired tasks into our queue.
                if !shared.idle.unpark_self(index) {
                    self.is_searching = true; // someone chose us meanwhile: we search
                }
                if self.context.local.borrow().len() > 1 {
                    shared.notify_parked();
                }
                return;
            }
            if !shared.idle.is_parked(index) {
                self.is_searching = true; // chosen by `notify_parked`: look for the work
                return;
            }
            // Woken for a new earliest timer, or for nothing: sleep again.
        }
    }
}
