//! One worker thread: its run queue, and the loop that feeds it: its own tasks first, then the
//! shared queue, then other workers' queues (stealing), then sleep.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::task::{JoinError, Polled, TaskRef};

use super::queue::Local;
use super::{state, Shared, StatsSlot, Timers};

/// Every this many tasks a worker looks at the shared queue before its own (so that tasks
/// queued from outside are not starved by a worker whose own queue never empties) and fires
/// due timers. tokio uses the same number (a prime, so that it does not fall into step with a
/// program's own periods).
const CHECK_INTERVAL: u32 = 61;

/// What a worker thread shares with the tasks it polls: its queue (a task spawned or woken
/// here goes into it, without a lock), its LIFO slot, and the runtime.
pub(super) struct WorkerContext {
    pub(super) shared: Arc<Shared>,
    pub(super) index: usize,
    pub(super) local: RefCell<Local<TaskRef>>,
    /// The task woken or spawned last on this worker, which runs next, ahead of the queue: a
    /// task that sends a message and waits for the answer hands over to the receiver at once,
    /// while what both touched is still in this core's cache (tokio's "LIFO slot"). Other
    /// workers cannot steal it; `MAX_LIFO_POLLS` keeps two such tasks from starving the queue.
    pub(super) lifo: Cell<Option<TaskRef>>,
}

impl WorkerContext {
    /// A wake or a spawn on this worker: the task goes into the LIFO slot, and the one that
    /// was there to the back of the queue, where other workers can steal it.
    pub(super) fn schedule(&self, task: TaskRef) {
        if let Some(previous) = self.lifo.replace(Some(task)) {
            let len = self.push_back(previous);
            // The queue holds work this worker will not get to next: let a sleeper steal it.
            if len >= 1 {
                self.shared.notify_parked();
            }
        }
    }

    /// A task woken during its own poll (a yield): to the back of the queue, behind the
    /// others, and a sleeper is woken only if there is more than this worker runs next.
    pub(super) fn push_yielded(&self, task: TaskRef) {
        if self.push_back(task) > 1 {
            self.shared.notify_parked();
        }
    }

    /// Pushes to the back of the queue (half of it overflows to the shared queue if it is
    /// full); the queue's length after.
    fn push_back(&self, task: TaskRef) -> usize {
        let mut local = self.local.borrow_mut();
        local.push_back(task, &mut |batch| self.shared.overflow(batch));
        local.len()
    }

    /// Whether the LIFO slot holds a task.
    fn has_lifo(&self) -> bool {
        let task = self.lifo.take();
        let has = task.is_some();
        self.lifo.set(task);
        has
    }
}

/// At most this many tasks in a row from the LIFO slot (tokio's number): two tasks that keep
/// waking each other would otherwise run for ever while the queue waits.
const MAX_LIFO_POLLS: u8 = 3;

pub(super) struct Worker {
    context: Rc<WorkerContext>,
    is_searching: bool,
    tick: u32,
    /// Tasks taken from the LIFO slot in a row.
    lifo_polls: u8,
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
            lifo_polls: 0,
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
            let task = self.context.lifo.take();
            let task = task.or_else(|| self.context.local.borrow_mut().pop());
            match task {
                Some(task) => drop(task),
                None => break,
            }
        }
    }

    fn next_task(&mut self) -> Option<TaskRef> {
        if let Some(task) = self.context.lifo.take() {
            if self.lifo_polls < MAX_LIFO_POLLS {
                self.lifo_polls += 1;
                return Some(task);
            }
            // Its turn is over: behind the queue, which runs first now.
            self.context.push_yielded(task);
        }
        self.lifo_polls = 0;
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
            // The last searcher found work: another sleeper looks for the rest, even when no
            // queue holds any (as tokio does). Waking one only if work was left was tried: it
            // cut the context switches per wake from a foreign thread from 1.43 to 0.93, and
            // made each round trip slower, about 37 -> 50 µs (`cargo bench --bench
            // mt_switches`; docs/benchmarks.md, "Many threads"): the worker woken here is often
            // still awake, searching, when the next wake comes, and takes it without a
            // sleeping thread's wake-up latency.
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
                    self.context.push_yielded(task);
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

    /// Every `CHECK_INTERVAL` tasks: fire due timers and collect ready sockets, if no
    /// sleeping worker keeps them.
    fn maintenance(&mut self) {
        let shared = &*self.context.shared;
        if !shared.timers.take_role(self.context.index) {
            return;
        }
        if let Some(driver) = shared.io_driver() {
            // Just a look (timeout zero): this worker has tasks to run.
            driver.poll(Some(Duration::ZERO), &mut self.due);
        }
        shared.timers.fire_and_release(&mut self.due);
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
        // Borrowed, not cloned: an `Arc` clone is an atomic add on a count that wakes from
        // other threads touch too (`multi_thread::find`).
        let shared = &*self.context.shared;
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
                    let timeout = Timers::timeout(deadline);
                    let parker = &shared.parkers[index];
                    match shared.io_driver() {
                        Some(driver) => parker.park_in_driver(timeout, driver, &mut self.due),
                        None => parker.park(timeout),
                    }
                    // Sockets that became ready are in `due` already; now the timers.
                    shared.timers.fire_and_release(&mut self.due);
                    for waker in self.due.drain(..) {
                        waker.wake(); // into this worker's queue: this thread is the worker
                    }
                }
                Err(()) => shared.parkers[index].park(None),
            }
            if self.context.has_lifo() || !self.context.local.borrow().is_empty() {
                // Timers and sockets woke tasks into our LIFO slot and queue.
                if !shared.idle.unpark_self(index) {
                    self.is_searching = true; // someone chose us meanwhile: we search
                }
                if !self.context.local.borrow().is_empty() {
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
