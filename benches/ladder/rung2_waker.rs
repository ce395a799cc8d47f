//! Rung 2: the first waker-driven loop, the way most people write one first.
//!
//! This is the executor of the async book's "build an executor" chapter, with what a
//! benchmark needs added: join handles (a `oneshot` channel per task) and a `block_on` that
//! polls the main future in place. Each task is an `Arc<Task>` holding its boxed future behind
//! a `Mutex`; waking clones the `Arc` and sends it down an `mpsc` channel, which is the run
//! queue. Only woken tasks are polled, which is the whole gain over rung 1.
//!
//! What it pays for, per spawn: the `Arc<Task>`, the boxed future, the oneshot's `Arc`, and a
//! channel send; per wake: an `Arc` clone and a channel send (atomics, since `Sender` is
//! thread-safe); per poll: a `Mutex` lock.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::task::Context;

use futures::channel::oneshot;
use futures::future::BoxFuture;
use futures::task::{waker_ref, ArcWake};
use futures::FutureExt;

use crate::runtimes::{Joined, Runtime};

/// A spawned future and the way back onto the run queue.
struct Task {
    /// `Mutex` because a `Waker` must be `Send + Sync`, and this `Task` is the waker.
    future: Mutex<Option<BoxFuture<'static, ()>>>,
    run_queue_tx: Sender<Arc<Task>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A boxed `dyn Future` has no `Debug`.
        formatter.debug_struct("Task").finish_non_exhaustive()
    }
}

impl ArcWake for Task {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        let task = Arc::clone(arc_self);
        // A closed run queue means the loop is gone; the wake has nowhere to go.
        let _ = arc_self.run_queue_tx.send(task);
    }
}

/// The main future's waker: it only raises a flag, checked between tasks.
#[derive(Debug)]
struct MainWaker {
    is_woken: AtomicBool,
}

impl ArcWake for MainWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.is_woken.store(true, Ordering::Release);
    }
}

thread_local! {
    /// The running loop's run queue, for `spawn` from inside a task.
    static RUN_QUEUE_TX: RefCell<Option<Sender<Arc<Task>>>> = const { RefCell::new(None) };
}

fn spawn_task(future: BoxFuture<'static, ()>) {
    let run_queue_tx = RUN_QUEUE_TX.with(|slot| slot.borrow().clone());
    let run_queue_tx = run_queue_tx.expect("rung 2: spawn called outside `block_on`");
    let task = Arc::new(Task {
        future: Mutex::new(Some(future)),
        run_queue_tx: run_queue_tx.clone(),
    });
    run_queue_tx.send(task).expect("the loop is running");
}

/// The async book's `Executor::run` body: poll one task if it is still unfinished.
fn poll_task(task: Arc<Task>) {
    let mut future_slot = task.future.lock().expect("no poll panics");
    if let Some(mut future) = future_slot.take() {
        let waker = waker_ref(&task);
        let mut context = Context::from_waker(&waker);
        if future.as_mut().poll(&mut context).is_pending() {
            *future_slot = Some(future);
        }
    }
}

/// Rung 2 as a benchmark runtime: a fresh run queue per `block_on`.
#[derive(Debug, Default)]
pub struct WakerLoop;

impl Runtime for WakerLoop {
    type JoinHandle<T: Send + 'static> = Joined<oneshot::Receiver<T>>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (output_tx, output_rx) = oneshot::channel();
        spawn_task(
            async move {
                let _ = output_tx.send(future.await);
            }
            .boxed(),
        );
        Joined(output_rx)
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        let (run_queue_tx, run_queue_rx): (_, Receiver<Arc<Task>>) = channel();
        RUN_QUEUE_TX.with(|slot| *slot.borrow_mut() = Some(run_queue_tx));
        let main_waker = Arc::new(MainWaker {
            is_woken: AtomicBool::new(true),
        });
        let waker = waker_ref(&main_waker);
        let mut context = Context::from_waker(&waker);
        let mut future = pin!(future);
        let output = loop {
            if main_waker.is_woken.swap(false, Ordering::AcqRel) {
                if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
                    break output;
                }
            }
            // Blocks when nothing is ready and the main future was not woken. In these
            // workloads only a task wakes the main future, while being polled here, so the
            // flag is up before we would block (a wake from another thread would be missed).
            let next = if main_waker.is_woken.load(Ordering::Acquire) {
                run_queue_rx.try_recv().ok()
            } else {
                Some(run_queue_rx.recv().expect("the loop holds a sender"))
            };
            if let Some(task) = next {
                poll_task(task);
            }
        };
        RUN_QUEUE_TX.with(|slot| slot.borrow_mut().take());
        output
    }
}
