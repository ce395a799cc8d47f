//! One turn of the event loop, and the one place where tasks are polled.
//!
//! `Core::run_until_complete` repeats the turn until the main future is done (chapter:
//! `docs/event-loop.md`, "Step by step: one turn"):
//!
//! 1. move wakes and spawns from other threads into the run queue (`collect_remote_wakes`),
//!    so that a task woken from afar while the loop waited runs in this turn;
//! 2. poll the `run_until_complete` future if it was woken;
//! 3. poll each task that was in the run queue when step 3 began (`run_ready_tasks`; a task
//!    woken during the turn waits for the next one, so a task that keeps waking itself
//!    cannot starve others);
//! 4. fire the timers whose deadline has passed (`fire_due_timers`);
//! 5. if nothing is runnable, block once (`wait_for_work`): until the earliest deadline, an
//!    I/O event or a remote wake. A wait with no deadline that nothing could ever end panics
//!    instead, with a report of what every task waits for (`event_loop/stuck.rs`). On a paused
//!    virtual clock (`start_paused`) the wait for a timer becomes a jump of the clock to it
//!    (`event_loop/auto_advance.rs`).
//!
//! `yield_now` also does step 1 before it queues its own task (`take_in_remote_work`): a task
//! woken from another thread before the yield is then ahead of the yielder in the queue, as
//! `yield_now` promises ("every other ready task runs first").
//!
//! The loop's state (`Core`) and its public face (`EventLoop`, `run`, `spawn`) are in
//! `event_loop.rs`; this file is what a debugger steps through.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_task::waker_ref;

use super::scheduler::{shrink_buffer, Taken};
use super::stuck::Verdict;
use super::Core;
use crate::reactor::Reactor;
use crate::task::{Header, JoinError, Polled, TaskRef};
use crate::trace::{Observer, WakeOrigin};
use crate::waker::TaskKey;

impl Core {
    pub(super) fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        let mut future = pin!(future);
        let waker = waker_ref(&self.main_waker);
        let mut cx = Context::from_waker(&waker);
        self.scheduler.borrow_mut().is_main_woken = true;
        loop {
            self.turn_clock.set(None);
            // Step 1 costs one load on a turn that has nothing from afar (most turns of a
            // busy loop); the check sits here, inlined, and the work in a call.
            if self.shared.has_remote_wakes() {
                self.collect_remote_wakes();
            }
            let is_main_woken = std::mem::take(&mut self.scheduler.borrow_mut().is_main_woken);
            if is_main_woken {
                // The slow-poll detector watches the main future too: it is where a beginner
                // blocks first. One branch when nothing is observed.
                let started = self.observer.get().map(|_| Instant::now());
                let poll = future.as_mut().poll(&mut cx);
                if let (Some(observer), Some(started)) = (self.observer.get(), started) {
                    observer.main_polled(&self.main_waker.header, started);
                }
                if let Poll::Ready(output) = poll {
                    return output;
                }
            }
            self.run_ready_tasks();
            // Steps 4 and 5 cost one check each on a turn that has nothing for them.
            if !self.timers.borrow().is_empty() {
                self.fire_due_timers();
            }
            // Busy and no sockets to look at: straight on to the next turn.
            let is_runnable = self.is_runnable();
            let has_reactor = self.reactor.borrow().is_some();
            if !is_runnable {
                self.shrink_when_idle();
            }
            if !is_runnable || has_reactor {
                self.wait_for_work(is_runnable, has_reactor);
            }
        }
    }

    /// Gives back what a spike of tasks or timers left allocated, on a turn where the loop
    /// is about to wait anyway. Each check is O(1) unless there is a spike to give back
    /// (`Scheduler::shrink_when_idle`, `TimerQueue::shrink_when_idle`).
    #[cold]
    fn shrink_when_idle(&self) {
        self.scheduler.borrow_mut().shrink_when_idle();
        self.timers.borrow_mut().shrink_when_idle();
        shrink_buffer(&mut self.turn_batch.borrow_mut());
        shrink_buffer(&mut self.remote_batch.borrow_mut());
        shrink_buffer(&mut self.remote_spawn_batch.borrow_mut());
        shrink_buffer(&mut self.due_wakers.borrow_mut());
    }

    /// Whether the next turn has something to poll: the main future or a queued task.
    #[inline]
    pub(super) fn is_runnable(&self) -> bool {
        let scheduler = self.scheduler.borrow();
        scheduler.is_main_woken || !scheduler.run_queue.is_empty()
    }

    /// Polls each task that is in the run queue now; tasks woken meanwhile wait a turn.
    fn run_ready_tasks(&self) {
        // A loop built with a seed draws the order instead (`seeded.rs`): one branch a turn.
        if let Some(order) = self.seeded.get() {
            return self.run_ready_tasks_seeded(order);
        }
        // This turn's batch is the whole run queue, swapped for the empty batch buffer: a
        // wake during the polls below goes into that fresh queue, for the next turn. (Only
        // this function touches `turn_batch`, so its borrow may span the polls.)
        let mut batch = self.turn_batch.borrow_mut();
        std::mem::swap(&mut *batch, &mut self.scheduler.borrow_mut().run_queue);
        for &key in batch.iter() {
            self.run_task(key);
        }
        batch.clear(); // its capacity serves the next turn
    }

    /// Takes the task under `key` out of the table and polls it (or cancels it, if its
    /// `JoinHandle` asked: the task's own poll checks that first).
    pub(super) fn run_task(&self, key: TaskKey) {
        let taken = self.scheduler.borrow_mut().take_for_poll(key);
        let Taken::Task(task) = taken else { return };
        self.poll_task(key, task);
    }

    /// The one place where a task's future is polled. Break here in a debugger to see every
    /// poll: `print key` is the task's slot, `print *task.header()` whose it is.
    #[inline(never)]
    pub(super) fn poll_task(&self, key: TaskKey, task: TaskRef) {
        // The observed poll is a separate, cold function, so that with every switch off this
        // path is the same machine code as a build without the `observe` feature. (Merging
        // the two answers here instead cost 10% of `yield_many`: docs/benchmarks.md.)
        if let Some(observer) = self.observer.get() {
            return self.poll_task_observed(observer, key, task);
        }
        let (task, polled) = task.poll();
        self.after_poll(key, task, polled);
    }

    /// `poll_task` when something is recording: times the poll and reports it (an aborted
    /// task is reported as ended, with no poll).
    #[cold]
    #[inline(never)]
    fn poll_task_observed(&self, observer: &Observer, key: TaskKey, task: TaskRef) {
        if task.header().is_abort_requested.load(Ordering::Acquire) {
            observer.ended(task.header(), "cancelled");
            return self.after_poll(key, task, Polled::Aborted);
        }
        observer.poll_started(task.header());
        let started = Instant::now();
        let (task, polled) = task.poll();
        observe_poll(observer, task.header(), started, &polled);
        self.after_poll(key, task, polled);
    }

    /// Parks a task that answered `Pending`, or frees the slot of one that ended.
    #[inline(always)]
    fn after_poll(&self, key: TaskKey, task: TaskRef, polled: Polled) {
        let error = match polled {
            Polled::Pending => return self.scheduler.borrow_mut().put_back(key, task),
            Polled::Ready => {
                self.scheduler.borrow_mut().remove(key);
                // The future is gone already; the last `Arc` frees the task.
                return task.release_finished();
            }
            Polled::Panicked(payload) => JoinError::panicked(task.header().id, payload),
            Polled::Aborted => JoinError::cancelled(task.header().id),
        };
        self.scheduler.borrow_mut().remove(key);
        task.fail(error);
    }

    /// Step 1 of a turn, for `yield_now`: moves what other threads woke or spawned into the
    /// run queue now, ahead of the yielding task.
    pub(crate) fn take_in_remote_work(&self) {
        if self.shared.has_remote_wakes() {
            self.collect_remote_wakes();
        }
    }

    /// Moves keys woken from other threads into the run queue.
    fn collect_remote_wakes(&self) {
        let mut batch = self.remote_batch.borrow_mut();
        if !self.shared.take_remote_wakes(&mut batch) {
            return;
        }
        self.take_in_remote_spawns();
        self.take_in_timer_cancels();
        let mut scheduler = self.scheduler.borrow_mut();
        let mut is_any_deferred = false;
        for key in batch.drain(..) {
            // A task that is being polled right now (`yield_now` takes wakes in during a
            // poll) is out of its slot, so its remote flag can't be cleared here: leave its
            // key for the next turn's step 1, which finds it parked. Its poll ends first, and
            // it is polled again after, as a wake during a poll promises. (Its waking
            // thread's name stays filed for that turn too.)
            if scheduler.is_polling(key) {
                self.shared.requeue_remote_wake(key);
                is_any_deferred = true;
                continue;
            }
            // Who woke, for the trace (`None` unless the loop traces). Taken for every key, a
            // finished task's too, so that no name is left behind, and before the flag below
            // is cleared: a later wake of the same task notes its name only after that.
            let woken_by = self.shared.remote_wakers.as_ref().and_then(|w| w.take(key));
            // Clear the flag before the coming poll: a wake after this point queues again.
            let header = if key == TaskKey::MAIN {
                Some(&self.main_waker.header)
            } else {
                scheduler.parked_task(key).map(TaskRef::header)
            };
            if let Some(header) = header {
                // A swap, not a store: reading the flag is what synchronises with the waker
                // that set it, so the poll sees everything that thread wrote before it woke
                // us (found by the loom model in `tests/loom_wake.rs`).
                header.is_remote_queued.swap(false, Ordering::AcqRel);
                if let Some(observer) = self.observer.get() {
                    observer.woke(header, WakeOrigin::OtherThread(woken_by));
                }
            }
            scheduler.schedule(key);
        }
        drop(scheduler);
        if is_any_deferred {
            self.shared.raise_remote_flag();
        }
    }

    /// Gives each task spawned through a `Handle` a slot, and queues its first poll.
    fn take_in_remote_spawns(&self) {
        let mut spawned = self.remote_spawn_batch.borrow_mut();
        self.shared.take_remote_spawns(&mut spawned);
        if spawned.is_empty() {
            return;
        }
        let mut scheduler = self.scheduler.borrow_mut();
        for task in spawned.drain(..) {
            let key = scheduler.reserve_slot();
            task.header().set_key(key);
            if let Some(observer) = self.observer.get() {
                observer.spawned(task.header());
            }
            scheduler.insert(key, task);
        }
    }

    /// Wakes the tasks whose timers are due (the turn calls it only if a timer exists).
    pub(super) fn fire_due_timers(&self) {
        let mut due = self.due_wakers.borrow_mut();
        self.timers.borrow_mut().fire_due(self.now(), &mut due);
        if let Some(observer) = self.observer.get() {
            observer.timers_fired(due.len());
        }
        for waker in due.drain(..) {
            waker.wake();
        }
    }

    /// Blocks the thread until there may be work: the earliest timer, an I/O event or a
    /// remote wake. If something is runnable already (the turn calls this then only if there
    /// is a reactor) it does not block, but still collects ready I/O, so that busy tasks
    /// cannot starve sockets.
    fn wait_for_work(&self, is_runnable: bool, has_reactor: bool) {
        // Checked before blocking; a remote wake that lands after this check leaves a token
        // (an unpark, or a count in the poller's eventfd), and the wait returns at once.
        let is_remote_woken = self.shared.has_remote_wakes();
        let timeout = if is_runnable || is_remote_woken {
            Some(Duration::ZERO)
        } else {
            let next_deadline = self.timers.borrow_mut().next_deadline();
            next_deadline.map(|deadline| deadline.saturating_duration_since(self.now()))
        };
        // A paused virtual clock jumps instead of waiting (one branch for a real-clock loop).
        if let (Some(clock), Some(timeout)) = (&self.clock, timeout) {
            if clock.is_paused() && !timeout.is_zero() {
                return self.wait_on_paused_clock(clock, timeout, has_reactor);
            }
        }
        // A wait with no deadline ends only if someone wakes the loop. If nobody can, say so
        // and panic rather than wait forever (`stuck.rs`). Only here, on the way into an
        // endless wait: the busy path never comes this way, so the check costs it nothing.
        if timeout.is_none() {
            match self.check_stuck(has_reactor) {
                Verdict::MayWake => {}
                Verdict::LookAgain => return, // the next turn waits, and looks, again
                Verdict::Stuck(report) => report.raise(),
            }
        }
        let idle_since = self.observer.get().map(|_| Instant::now());
        match timeout {
            _ if has_reactor => self.wait_for_io(timeout),
            // A remote wake is waiting: the next turn collects it.
            Some(Duration::ZERO) => return,
            Some(timeout) => std::thread::park_timeout(timeout),
            None => std::thread::park(),
        }
        if let (Some(observer), Some(idle_since)) = (self.observer.get(), idle_since) {
            if timeout != Some(Duration::ZERO) {
                observer.idled(idle_since.elapsed());
            }
        }
    }

    /// Blocks in the reactor, then wakes the tasks whose sockets are ready.
    pub(super) fn wait_for_io(&self, timeout: Option<Duration>) {
        let mut woken = self.due_wakers.borrow_mut();
        let waited = self.with_existing_reactor(|reactor| reactor.wait(timeout, &mut woken));
        if let Some(Err(error)) = waited {
            // The poller itself failed (not a socket): the loop can no longer wait for anything.
            panic!("the I/O reactor's wait failed: {error}; the event loop cannot go on");
        }
        if let Some(observer) = self.observer.get() {
            observer.io_ready(woken.len());
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
    }

    /// Drops every unfinished task and timer. Repeats, because dropping a future may spawn.
    pub(super) fn shut_down(&self) {
        // Tasks spawned through a `Handle` that never got in: cancelled like the rest, and no
        // `Handle` can add more from now on.
        for task in self.shared.close_remote_spawns() {
            let task_id = task.header().id;
            task.fail(JoinError::cancelled(task_id));
        }
        for round in 1.. {
            let tasks = self.scheduler.borrow_mut().take_all();
            if tasks.is_empty() {
                break;
            }
            if round > super::MAX_SHUTDOWN_ROUNDS {
                self.leak_on_shutdown(tasks);
                break;
            }
            for task in tasks {
                let task_id = task.header().id;
                if let Some(observer) = self.observer.get() {
                    observer.ended(task.header(), "cancelled");
                }
                task.fail(JoinError::cancelled(task_id));
            }
        }
        let wakers = self.timers.borrow_mut().clear();
        drop(wakers);
        let io_wakers = self.with_existing_reactor(Reactor::take_all_wakers);
        drop(io_wakers);
        self.shared.lock_remote_queue().clear();
    }
}

/// Reports one poll to the observer: trace line, slow-poll check, timeline, and the end of
/// the task if it ended.
fn observe_poll(observer: &Observer, header: &Header, started: Instant, polled: &Polled) {
    let (answer, ended) = match polled {
        Polled::Pending => ("pending", None),
        Polled::Ready => ("ready", Some("finished")),
        Polled::Panicked(_) => ("panicked", Some("panicked")),
        // Aborted between `poll_task_observed`'s check and the poll: not polled after all.
        Polled::Aborted => ("cancelled", Some("cancelled")),
    };
    observer.polled(header, started, answer, ended);
}
