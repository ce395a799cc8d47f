//! The runtime's shared queue: tasks spawned or woken from outside its workers (another
//! thread, `block_on`'s caller), and a worker's overflow when its local queue is full.
//!
//! A `Mutex<VecDeque>`: it is touched only on those paths and when a worker's own queue is
//! empty, so it is not where workers meet on every task (lesson 38 measures an executor whose
//! only queue is one like this). A separate length lets a worker ask "anything here?" with one
//! load, without the lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub(crate) struct Injector<T> {
    /// `None` once the runtime has shut down: a push then gets its task back.
    queue: Mutex<Option<VecDeque<T>>>,
    len: AtomicUsize,
}

impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Injector {
            queue: Mutex::new(Some(VecDeque::new())),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<VecDeque<T>>> {
        // Only pushes and pops of a `VecDeque` happen under this lock (an allocation failure
        // aborts rather than panics): recover the data if a panic ever poisoned it.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `task`; gives it back if the runtime has shut down.
    pub(crate) fn push(&self, task: T) -> Result<(), T> {
        let mut queue = self.lock();
        match &mut *queue {
            Some(queue) => {
                queue.push_back(task);
                // `SeqCst`, after the push: a worker that is about to park reads the length
                // after it announced itself parked; one of the two sees the other
                // (`idle.rs`, "No lost wake-up").
                self.len.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            None => Err(task),
        }
    }

    /// Queues a batch (a worker's overflow); gives it back if the runtime has shut down.
    pub(crate) fn push_batch(&self, tasks: Vec<T>) -> Result<(), Vec<T>> {
        let mut queue = self.lock();
        match &mut *queue {
            Some(queue) => {
                let added = tasks.len();
                queue.extend(tasks);
                self.len.fetch_add(added, Ordering::SeqCst);
                Ok(())
            }
            None => Err(tasks),
        }
    }

    /// Takes up to `max` tasks from the front (at least one if there is one).
    pub(crate) fn pop_batch(&self, max: usize, into: &mut Vec<T>) {
        if self.is_empty() {
            return;
        }
        let mut queue = self.lock();
        if let Some(queue) = &mut *queue {
            let taken = max.max(1).min(queue.len());
            into.extend(queue.drain(..taken));
            self.len.fetch_sub(taken, Ordering::Relaxed);
        }
    }

    /// Takes one task from the front.
    pub(crate) fn pop(&self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let mut queue = self.lock();
        let task = queue.as_mut()?.pop_front()?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(task)
    }

    /// One load: whether anything waits (a hint, exact once pushes have stopped).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Shutdown: refuses every later push and returns what was queued, to be cancelled.
    pub(crate) fn close(&self) -> VecDeque<T> {
        let queue = self.lock().take().unwrap_or_default();
        self.len.store(0, Ordering::SeqCst);
        queue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_out_in_order_and_a_closed_injector_gives_tasks_back() {
        let injector = Injector::new();
        injector.push(1).unwrap();
        injector.push_batch(vec![2, 3, 4]).unwrap();
        assert_eq!(injector.len(), 4);
        let mut batch = Vec::new();
        injector.pop_batch(2, &mut batch);
        assert_eq!(batch, [1, 2]);
        assert_eq!(injector.pop(), Some(3));
        assert_eq!(injector.close(), [4]);
        assert!(injector.is_empty());
        assert_eq!(injector.push(5), Err(5));
        assert_eq!(injector.push_batch(vec![6]), Err(vec![6]));
    }
}
