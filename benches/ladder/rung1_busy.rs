//! Rung 1: lesson 12's busy event loop, as a benchmark runtime.
//!
//! The loop, its `Task`, `JoinHandle` and busy `Sleep` are lesson 12's
//! (`examples/12_busy_event_loop.rs`), copied with the printing and the time scale left out.
//! Nothing is ever woken: the loop polls every task in turn, ready or not, until the main task
//! has finished. Wakers exist only because `poll` needs one; they do nothing.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtimes::{Runtime, Timers};

/// A busy sleep: `Pending` until the deadline has passed (lesson 12's `Sleep`).
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

type ResultSlot<T> = Rc<RefCell<Option<T>>>;

/// What you `.await` to get a task's output; busy, like `Sleep`.
#[derive(Debug)]
pub struct JoinHandle<T> {
    result: ResultSlot<T>,
}

impl<T> JoinHandle<T> {
    fn is_finished(&self) -> bool {
        self.result.borrow().is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<T> {
        let finished = self.result.borrow_mut().take();
        match finished {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }
}

/// A boxed future the loop owns and polls.
struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A `dyn Future` has no `Debug`.
        formatter.debug_struct("Task").finish_non_exhaustive()
    }
}

thread_local! {
    static RUNNING_LOOP: RefCell<Option<Rc<EventLoop>>> = const { RefCell::new(None) };
}

/// Lesson 12's loop: round-robin over every task until the main one finishes.
#[derive(Debug)]
struct EventLoop {
    run_queue: RefCell<VecDeque<Task>>,
    next_task_id: Cell<u64>,
}

impl EventLoop {
    fn new() -> Rc<EventLoop> {
        Rc::new(EventLoop {
            run_queue: RefCell::new(VecDeque::new()),
            next_task_id: Cell::new(1),
        })
    }

    fn running_loop() -> Rc<EventLoop> {
        let current = RUNNING_LOOP.with(|slot| slot.borrow().clone());
        current.expect("rung 1: spawn called outside `run_until_complete`")
    }

    fn create_task<F: Future + 'static>(&self, future: F) -> JoinHandle<F::Output> {
        self.next_task_id.set(self.next_task_id.get() + 1);
        let result = Rc::new(RefCell::new(None));
        let result_for_task = Rc::clone(&result);
        let wrapper = async move {
            let output = future.await;
            *result_for_task.borrow_mut() = Some(output);
        };
        let task = Task {
            future: Box::pin(wrapper),
        };
        self.run_queue.borrow_mut().push_back(task);
        JoinHandle { result }
    }

    fn run_until_complete<F: Future + 'static>(self: &Rc<Self>, future: F) -> F::Output {
        RUNNING_LOOP.with(|slot| *slot.borrow_mut() = Some(Rc::clone(self)));
        let main_task = self.create_task(future);
        let mut context = Context::from_waker(Waker::noop());
        while !main_task.is_finished() {
            let next = self.run_queue.borrow_mut().pop_front();
            let mut task = next.expect("the main task stays queued until it finishes");
            match task.future.as_mut().poll(&mut context) {
                Poll::Pending => self.run_queue.borrow_mut().push_back(task),
                Poll::Ready(()) => drop(task),
            }
        }
        let unfinished = std::mem::take(&mut *self.run_queue.borrow_mut());
        drop(unfinished);
        RUNNING_LOOP.with(|slot| slot.borrow_mut().take());
        let output = main_task.result.borrow_mut().take();
        output.expect("`is_finished` said the main task's output was there")
    }
}

/// Rung 1 as a benchmark runtime: a fresh lesson-12 loop per `block_on`.
#[derive(Debug, Default)]
pub struct BusyLoop;

impl Runtime for BusyLoop {
    type JoinHandle<T: Send + 'static> = JoinHandle<T>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        EventLoop::running_loop().create_task(future)
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        EventLoop::new().run_until_complete(future)
    }
}

impl Timers for BusyLoop {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        Sleep {
            deadline: Instant::now() + duration,
        }
    }
}
