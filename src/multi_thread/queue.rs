//! INTERIM: a worker's local run queue as a `Mutex<VecDeque>`, with the interface of the
//! lock-free ring that replaces it (being written beside this file). Correct, not fast.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) const LOCAL_QUEUE_CAPACITY: usize = 256;

pub(crate) fn local<T>() -> (Local<T>, Stealer<T>) {
    let inner = Arc::new(Mutex::new(VecDeque::with_capacity(LOCAL_QUEUE_CAPACITY)));
    (
        Local {
            inner: Arc::clone(&inner),
        },
        Stealer { inner },
    )
}

fn lock<T>(inner: &Mutex<VecDeque<T>>) -> MutexGuard<'_, VecDeque<T>> {
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) struct Local<T> {
    inner: Arc<Mutex<VecDeque<T>>>,
}

impl<T> Local<T> {
    pub(crate) fn push_back(&mut self, task: T, overflow: &mut dyn FnMut(Vec<T>)) {
        let mut queue = lock(&self.inner);
        if queue.len() < LOCAL_QUEUE_CAPACITY {
            queue.push_back(task);
            return;
        }
        let mut batch: Vec<T> = queue.drain(..LOCAL_QUEUE_CAPACITY / 2).collect();
        drop(queue);
        batch.push(task);
        overflow(batch);
    }

    pub(crate) fn pop(&mut self) -> Option<T> {
        lock(&self.inner).pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(crate) struct Stealer<T> {
    inner: Arc<Mutex<VecDeque<T>>>,
}

impl<T> Stealer<T> {
    pub(crate) fn steal_into(&self, dst: &mut Local<T>) -> Option<T> {
        let mut stolen: Vec<T> = {
            let mut victim = lock(&self.inner);
            let take = victim.len().div_ceil(2);
            victim.drain(..take).collect()
        };
        if stolen.is_empty() {
            return None;
        }
        let first = stolen.remove(0);
        lock(&dst.inner).extend(stolen);
        Some(first)
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.inner).is_empty()
    }
}
