//! Lesson 12: a busy event loop
//!
//! An event loop from scratch, in this one file: tasks you can create from inside
//! other tasks, handles you can `.await` for a task's result, a `sleep`, and a loop
//! that polls every task in turn until the main one is done. This retells the
//! walkthrough's Python example 12 (its `Future`, `Task` and `EventLoop` classes
//! and the countdown program).
//!
//! It works, and it has one flaw on purpose: it is busy. Nobody ever wakes a
//! task; the loop polls every task again and again, and a sleeping task answers
//! `Pending` millions of times a second. The last lines show the price: the CPU
//! time is close to the run time, though the program mostly waits, and each task
//! was polled millions of times to print 14 lines. Lesson 13 runs the same program
//! on miniloop, whose loop sleeps instead; lesson 26 adds the missing waker to this
//! loop, in one file.
//!
//! Run it:     cargo run --example 12_busy_event_loop
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 12_busy_event_loop
//! Read:       docs/12-busy-event-loop.md
//! Debug it:   break on `12_busy_event_loop::poll_task`; `print task.task_id` shows
//!             which task runs, `print task.polls` how often it has been polled
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every delay:
//! 0.1 runs the 10-second countdown in about one second. It changes no line except
//! the two timings and the poll counts.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Set once in `main`, before anything sleeps; read by every `sleep`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// A busy sleep: `Pending` until the deadline has passed.
#[derive(Debug)]
struct Sleep {
    deadline: Instant,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<()> {
        // We keep no waker and tell nobody when the deadline comes: the loop will
        // poll us again on its next round anyway. That is the whole flaw.
        if Instant::now() >= self.deadline {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Sleeps for `delay` times the time scale. The deadline is fixed here, when the
/// `Sleep` is built; `sleep(...).await` builds and first polls it in one go.
fn sleep(delay: Duration) -> Sleep {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Sleep {
        deadline: Instant::now() + delay.mul_f64(time_scale),
    }
}

/// Python's `Future`: empty until the task finishes, then its output. The task
/// fills it and the `JoinHandle` empties it, so both hold an `Rc` to it.
type ResultSlot<T> = Rc<RefCell<Option<T>>>;

/// What you `.await` to get a task's output (Python awaits the `Task` itself).
#[derive(Debug)]
struct JoinHandle<T> {
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
            // Busy, like `Sleep`: the loop comes back to whoever awaits us.
            None => Poll::Pending,
        }
    }
}

/// A future the loop owns and polls, plus what you need to tell tasks apart.
/// Python's `Task` is also the `Future` you await; we split the two halves:
/// the loop keeps the `Task`, you keep the `JoinHandle`.
struct Task {
    task_id: u64,
    polls: u64,
    /// Boxed so tasks of different future types fit in one queue; pinned
    /// because `poll` needs it to stay put once it has started.
    future: Pin<Box<dyn Future<Output = ()>>>,
}

impl fmt::Debug for Task {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A `dyn Future` has no `Debug`; the id and poll count are what you need.
        formatter
            .debug_struct("Task")
            .field("task_id", &self.task_id)
            .field("polls", &self.polls)
            .finish_non_exhaustive()
    }
}

/// What happened when the loop polled a task once.
#[derive(Debug)]
enum PollOutcome {
    Finished,
    Waiting,
}

/// Polls one task once: the moment to break on.
fn poll_task(task: &mut Task) -> PollOutcome {
    task.polls += 1;
    // A waker that does nothing, because nothing waits to be woken: every task
    // still queued gets polled on the next round whether it is ready or not.
    let mut context = Context::from_waker(Waker::noop());
    let poll = task.future.as_mut().poll(&mut context);
    match poll {
        Poll::Ready(()) => PollOutcome::Finished,
        Poll::Pending => PollOutcome::Waiting,
    }
}

thread_local! {
    /// Python's `EventLoop.running_loop`: the loop `run_until_complete` is running.
    /// A thread-local rather than a global: the loop and its tasks use `Rc` and
    /// `RefCell`, which must stay on one thread, and each thread may run its own
    /// loop. Tasks find it here instead of taking it as an argument, as in Python.
    static RUNNING_LOOP: RefCell<Option<Rc<EventLoop>>> = const { RefCell::new(None) };
}

/// Runs tasks round-robin until the main one finishes.
#[derive(Debug)]
struct EventLoop {
    /// `RefCell` because tasks add to it (`create_task`) while the loop runs;
    /// the loop never holds a borrow while it polls, so the two never overlap.
    run_queue: RefCell<VecDeque<Task>>,
    next_task_id: Cell<u64>,
    /// (task id, polls) of every task that has left the queue, for the last lines.
    polls_by_task: RefCell<Vec<(u64, u64)>>,
}

impl EventLoop {
    fn new() -> Rc<EventLoop> {
        Rc::new(EventLoop {
            run_queue: RefCell::new(VecDeque::new()),
            next_task_id: Cell::new(1),
            polls_by_task: RefCell::new(Vec::new()),
        })
    }

    /// The loop running on this thread, for code inside a task.
    fn running_loop() -> Rc<EventLoop> {
        let current = RUNNING_LOOP.with(|slot| slot.borrow().clone());
        match current {
            Some(event_loop) => event_loop,
            None => panic!(
                "`EventLoop::running_loop` called outside `run_until_complete`; there is \
                 no loop on this thread to run the task; call it from inside a task"
            ),
        }
    }

    /// Queues `future` as a new task and returns the handle that yields its output.
    fn create_task<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
    {
        let task_id = self.next_task_id.get();
        self.next_task_id.set(task_id + 1);
        let result = Rc::new(RefCell::new(None));
        let result_for_task = Rc::clone(&result);
        // The queue holds futures of one output type, `()`. This wrapper runs
        // `future` and parks its output in the slot the handle reads.
        let wrapper = async move {
            let output = future.await;
            *result_for_task.borrow_mut() = Some(output);
        };
        let task = Task {
            task_id,
            polls: 0,
            future: Box::pin(wrapper),
        };
        self.run_queue.borrow_mut().push_back(task);
        JoinHandle { result }
    }

    /// Runs `future` as the main task, and every task it creates, until the main
    /// task finishes; returns its output.
    fn run_until_complete<F>(self: &Rc<Self>, future: F) -> F::Output
    where
        F: Future + 'static,
    {
        RUNNING_LOOP.with(|slot| *slot.borrow_mut() = Some(Rc::clone(self)));
        let main_task = self.create_task(future);
        while !main_task.is_finished() {
            // Pop, then poll with no borrow held: the task may call `create_task`.
            let next = self.run_queue.borrow_mut().pop_front();
            let mut task = next.expect("the main task stays queued until it finishes");
            let outcome = poll_task(&mut task);
            match outcome {
                PollOutcome::Waiting => self.run_queue.borrow_mut().push_back(task),
                PollOutcome::Finished => self.retire(task),
            }
        }
        self.stop();
        let output = main_task.result.borrow_mut().take();
        output.expect("`is_finished` said the main task's output was there")
    }

    /// Python's `stop`: drop the tasks still queued (Rust's way to close them)
    /// and leave the thread with no running loop.
    fn stop(&self) {
        // Take them out first: a future's `drop` may reach for the queue itself.
        let unfinished = std::mem::take(&mut *self.run_queue.borrow_mut());
        unfinished.into_iter().for_each(|task| self.retire(task));
        RUNNING_LOOP.with(|slot| slot.borrow_mut().take());
    }

    /// Notes how often a task was polled, then drops it.
    fn retire(&self, task: Task) {
        self.polls_by_task
            .borrow_mut()
            .push((task.task_id, task.polls));
        drop(task);
    }

    /// (task id, polls) of every task, in task order.
    fn poll_counts(&self) -> Vec<(u64, u64)> {
        let mut counts = self.polls_by_task.borrow().clone();
        counts.sort();
        counts
    }
}

/// `RUSAGE_THREAD` counts the loop's thread only (Linux); elsewhere we fall back to
/// the whole process, which here is that same thread plus a little startup.
#[cfg(target_os = "linux")]
const RUSAGE_WHO: libc::c_int = libc::RUSAGE_THREAD;
#[cfg(not(target_os = "linux"))]
const RUSAGE_WHO: libc::c_int = libc::RUSAGE_SELF;

/// CPU time (user plus system) burned so far. std can't read it, hence `libc`.
fn cpu_time() -> Duration {
    // SAFETY: `rusage` holds only integers (two `timeval`s and `c_long`s), and
    // all-zero bytes are a valid value for every one of them.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `&mut usage` points to a live, writable `rusage` for the whole
    // call, which is all `getrusage` needs; it keeps no pointer afterwards.
    let status = unsafe { libc::getrusage(RUSAGE_WHO, &mut usage) };
    assert!(
        status == 0,
        "getrusage failed: {}",
        std::io::Error::last_os_error()
    );
    duration_from_timeval(usage.ru_utime) + duration_from_timeval(usage.ru_stime)
}

fn duration_from_timeval(time: libc::timeval) -> Duration {
    let seconds = u64::try_from(time.tv_sec).expect("CPU time should never be negative");
    let micros = u64::try_from(time.tv_usec).expect("CPU time should never be negative");
    Duration::from_secs(seconds) + Duration::from_micros(micros)
}

/// Reads `MINILOOP_TIME_SCALE`: 1.0 when unset, an error message when unusable.
fn time_scale_from_env() -> Result<f64, String> {
    let Some(raw) = std::env::var_os("MINILOOP_TIME_SCALE") else {
        return Ok(1.0);
    };
    let text = raw.to_string_lossy();
    let parsed = text.trim().parse::<f64>();
    // The upper bound keeps `Duration::mul_f64` far from overflowing.
    match parsed {
        Ok(scale) if scale > 0.0 && scale <= 1000.0 => Ok(scale),
        _ => Err(format!(
            "`MINILOOP_TIME_SCALE` must be a number greater than 0 and at most 1000, \
             like 0.1 (got {text:?}); it multiplies every delay, so unset it or use 1 \
             for real time"
        )),
    }
}

// The program: Python's `countdown`, `do_stuff`, `do_more_stuff` and `main`.

async fn countdown() {
    for count in (1..=10).rev() {
        println!("{count}");
        sleep(Duration::from_secs(1)).await;
    }
    println!("TAKE OFF!!!!!");
}

async fn do_stuff() {
    sleep(Duration::from_secs(1)).await;
    println!("Doing more stuff");
    let result = do_more_stuff().await;
    println!("{result}");
}

async fn do_more_stuff() -> &'static str {
    sleep(Duration::from_secs(2)).await;
    "Hello World"
}

/// Python's `main` coroutine (Rust's `fn main` is the program's entry point).
async fn main_task() {
    let countdown_handle = EventLoop::running_loop().create_task(countdown());
    sleep(Duration::from_millis(500)).await;
    do_stuff().await;
    countdown_handle.await;
    println!("Main is exiting");
}

fn main() {
    let time_scale = match time_scale_from_env() {
        Ok(time_scale) => time_scale,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    TIME_SCALE
        .set(time_scale)
        .expect("the time scale is set once, before the loop starts");

    let started_at = Instant::now();
    let cpu_at_start = cpu_time();
    let event_loop = EventLoop::new();
    event_loop.run_until_complete(main_task());
    let run_time = started_at.elapsed();
    let cpu_used = cpu_time().saturating_sub(cpu_at_start);

    println!("Run time: {:.3} seconds", run_time.as_secs_f64());
    println!("CPU time: {:.3} seconds", cpu_used.as_secs_f64());
    // Nothing woke these polls: almost all of them found a sleep not yet due.
    for (task_id, polls) in event_loop.poll_counts() {
        println!("Task {task_id} was polled {polls} times");
    }
}
