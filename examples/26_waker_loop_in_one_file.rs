//! Lesson 26: a waker loop in one file
//!
//! Lesson 12's countdown program again, on a loop you can read in one sitting:
//! about 150 lines of code, std only, no miniloop code. It is lesson 12's loop
//! plus the piece lesson 12 left out, the waker. A task is polled when something
//! wakes it, a `sleep` files its deadline and its waker in a heap, and a loop with
//! nothing to poll parks its thread until the earliest deadline. Lesson 13 ran the
//! same program on miniloop; here every line of the loop is in front of you.
//!
//! The last lines show what the waker buys: the CPU time is close to zero, and
//! each task is polled about once per wake (lesson 12 polls each one millions
//! of times, and now prints how many).
//!
//! Run it:     cargo run --example 26_waker_loop_in_one_file
//!             MINILOOP_TIME_SCALE=0.1 cargo run --example 26_waker_loop_in_one_file
//! Read:       docs/26-waker-loop-in-one-file.md (which part of `src/` does each part)
//! Debug it:   break on `26_waker_loop_in_one_file::Executor::poll_task`: 16 stops,
//!             `print task_id` says whose poll it is
//!
//! `MINILOOP_TIME_SCALE` (a positive number, default 1.0) multiplies every delay:
//! 0.1 runs the 10-second countdown in about one second. It changes no line except
//! the two timings: a task is polled once per wake at any scale.

use std::cell::{Cell, RefCell};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// The loop: a task table, a run queue of ids, a waker that pushes an id back, a heap
// of deadlines, and `park_timeout`. std only.
// ---------------------------------------------------------------------------------

type TaskId = u64;

/// The ids of woken tasks, oldest first. The loop and every waker share it, and a
/// `Waker` may be called from any thread, so it is an `Arc<Mutex<…>>`, not an `Rc`.
type RunQueue = Arc<Mutex<VecDeque<TaskId>>>;

/// What a task's `Waker` points at: made once per task, reused for every poll.
struct TaskWaker {
    task_id: TaskId,
    run_queue: RunQueue,
    /// Set while the id sits in the run queue: a second wake before the poll adds
    /// nothing, so one poll answers any number of wakes.
    is_queued: AtomicBool,
    /// The thread that runs the loop, parked when there is nothing to do.
    loop_thread: Thread,
    wakes: AtomicU64,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
        if !self.is_queued.swap(true, SeqCst) {
            self.run_queue.lock().unwrap().push_back(self.task_id);
            // From another thread this ends the loop's park. From the loop's own
            // thread it leaves a token that ends the next park at once: one spare
            // round, never a lost wake (lesson 20).
            self.loop_thread.unpark();
        }
    }
}

/// A task: its future (boxed, so that futures of any type share one table; pinned,
/// because it must not move once polled: lesson 28) and its one waker.
struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    waker: Waker,
    shared: Arc<TaskWaker>,
    polls: u64,
}

/// A deadline and the waker to call when it has passed. Ordered by deadline only.
struct Timer {
    deadline: Instant,
    waker: Waker,
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.deadline.cmp(&other.deadline)
    }
}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}
impl Eq for Timer {}

/// The loop's state. `RefCell`s because tasks reach it (to spawn, to sleep) while
/// it runs; the loop holds no borrow while it polls.
struct Executor {
    tasks: RefCell<HashMap<TaskId, Task>>,
    run_queue: RunQueue,
    /// `BinaryHeap` keeps the largest on top; `Reverse` puts the earliest there.
    timers: RefCell<BinaryHeap<Reverse<Timer>>>,
    next_task_id: Cell<TaskId>,
    /// (task, polls, wakes) of every finished task, for the last lines.
    finished: RefCell<Vec<(TaskId, u64, u64)>>,
}

thread_local! {
    /// This thread's loop: how `spawn` and `sleep` find it (lesson 12's `RUNNING_LOOP`).
    static EXECUTOR: Executor = Executor {
        tasks: RefCell::new(HashMap::new()),
        run_queue: Arc::new(Mutex::new(VecDeque::new())),
        timers: RefCell::new(BinaryHeap::new()),
        next_task_id: Cell::new(1),
        finished: RefCell::new(Vec::new()),
    };
}

/// Runs `future` as task 1, and every task it spawns, until task 1 is done.
/// Returns its output and (task, polls, wakes) for each task that finished.
fn run<F: Future + 'static>(future: F) -> (F::Output, Vec<(TaskId, u64, u64)>) {
    let main = spawn(future);
    EXECUTOR.with(|executor| {
        loop {
            // 1. Poll every woken task. The lock is held for the pop only: the task's
            //    poll may wake tasks, which pushes to this queue.
            while let Some(task_id) = pop_front(&executor.run_queue) {
                executor.poll_task(task_id);
            }
            if main.slot.borrow().output.is_some() {
                break;
            }
            // 2. Wake the tasks whose deadline has passed: step 1 polls them next.
            executor.fire_due_timers();
            // 3. Nothing woken? Sleep in the kernel until the earliest deadline.
            executor.wait_for_work();
        }
        // Python's `stop`: drop what is left (this program leaves nothing).
        drop(executor.tasks.take());
        drop(executor.timers.take());
        let mut finished = executor.finished.take();
        finished.sort();
        let output = main.slot.borrow_mut().output.take();
        (
            output.expect("the loop stops once task 1 is done"),
            finished,
        )
    })
}

fn pop_front(run_queue: &RunQueue) -> Option<TaskId> {
    run_queue.lock().unwrap().pop_front()
}

impl Executor {
    /// Files a new task and queues its first poll (which no wake asked for).
    fn spawn_task(&self, future: Pin<Box<dyn Future<Output = ()>>>) {
        let task_id = self.next_task_id.replace(self.next_task_id.get() + 1);
        let shared = Arc::new(TaskWaker {
            task_id,
            run_queue: Arc::clone(&self.run_queue),
            is_queued: AtomicBool::new(true),
            loop_thread: std::thread::current(),
            wakes: AtomicU64::new(0),
        });
        self.run_queue.lock().unwrap().push_back(task_id);
        let waker = Waker::from(Arc::clone(&shared));
        let task = Task {
            future,
            waker,
            shared,
            polls: 0,
        };
        self.tasks.borrow_mut().insert(task_id, task);
    }

    /// Polls one woken task. It leaves the table while it runs, so that it can spawn
    /// (which borrows the table) during its own poll.
    fn poll_task(&self, task_id: TaskId) {
        let Some(mut task) = self.tasks.borrow_mut().remove(&task_id) else {
            return; // a wake for a task that has finished goes nowhere
        };
        // Cleared before the poll: a wake during the poll queues the task again.
        task.shared.is_queued.store(false, SeqCst);
        task.polls += 1;
        let mut context = Context::from_waker(&task.waker);
        match task.future.as_mut().poll(&mut context) {
            Poll::Pending => drop(self.tasks.borrow_mut().insert(task_id, task)),
            Poll::Ready(()) => {
                let wakes = task.shared.wakes.load(SeqCst);
                self.finished
                    .borrow_mut()
                    .push((task_id, task.polls, wakes));
            }
        }
    }

    /// Wakes every task whose deadline has passed.
    fn fire_due_timers(&self) {
        let now = Instant::now();
        let mut due = Vec::new();
        let mut timers = self.timers.borrow_mut();
        while timers
            .peek()
            .is_some_and(|Reverse(timer)| timer.deadline <= now)
        {
            due.push(timers.pop().expect("peeked just above").0.waker);
        }
        drop(timers); // a waker is not ours to know: call it with no borrow held
        due.into_iter().for_each(Waker::wake);
    }

    /// Parks the thread until the earliest deadline, unless a task is woken already.
    /// A wake from anywhere unparks it sooner.
    fn wait_for_work(&self) {
        if !self.run_queue.lock().unwrap().is_empty() {
            return;
        }
        let next_deadline = self.timers.borrow().peek().map(|Reverse(t)| t.deadline);
        match next_deadline {
            Some(deadline) => {
                std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
            }
            None => std::thread::park(),
        }
    }
}

// ---------------------------------------------------------------------------------
// What tasks use: `spawn` with its `JoinHandle`, and `sleep`.
// ---------------------------------------------------------------------------------

/// What a task and its `JoinHandle` share: the output, and the waker of whoever
/// awaits it.
struct JoinSlot<T> {
    output: Option<T>,
    waker: Option<Waker>,
}

struct JoinHandle<T> {
    slot: Rc<RefCell<JoinSlot<T>>>,
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.borrow_mut();
        if let Some(output) = slot.output.take() {
            return Poll::Ready(output);
        }
        // Keep the latest waker (lesson 21); the task wakes it when it finishes.
        match &mut slot.waker {
            Some(waker) => waker.clone_from(context.waker()),
            empty => *empty = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

/// Starts `future` as a task on this thread's loop.
fn spawn<F: Future + 'static>(future: F) -> JoinHandle<F::Output> {
    let slot = Rc::new(RefCell::new(JoinSlot {
        output: None,
        waker: None,
    }));
    let slot_for_task = Rc::clone(&slot);
    // The table holds `()` futures; this wrapper stores the real output, then
    // wakes whoever awaits it.
    let task = async move {
        let output = future.await;
        let waker = {
            let mut slot = slot_for_task.borrow_mut();
            slot.output = Some(output);
            slot.waker.take()
        };
        waker.into_iter().for_each(Waker::wake);
    };
    EXECUTOR.with(|executor| executor.spawn_task(Box::pin(task)));
    JoinHandle { slot }
}

/// A sleep that waits in the loop's timer heap instead of being asked "done yet?".
struct Sleep {
    deadline: Instant,
    is_filed: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        // File the deadline once, with this poll's waker: this loop polls a task only
        // when something wakes it, so the next poll is this timer's. (A sleep that may
        // be polled with another waker first must keep the latest one: lesson 21.)
        if !self.is_filed {
            let timer = Timer {
                deadline: self.deadline,
                waker: context.waker().clone(),
            };
            EXECUTOR.with(|executor| executor.timers.borrow_mut().push(Reverse(timer)));
            self.is_filed = true;
        }
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------------
// The program: lesson 12's `countdown`, `do_stuff`, `do_more_stuff` and `main`,
// line for line. Only `sleep` and `spawn` come from the loop above.
// ---------------------------------------------------------------------------------

/// Set once in `main`, before anything sleeps; read by every `sleep`.
static TIME_SCALE: OnceLock<f64> = OnceLock::new();

/// Sleeps for `delay` times the time scale. The deadline is fixed here.
fn sleep(delay: Duration) -> Sleep {
    let time_scale = TIME_SCALE.get().copied().unwrap_or(1.0);
    Sleep {
        deadline: Instant::now() + delay.mul_f64(time_scale),
        is_filed: false,
    }
}

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
    let countdown_handle = spawn(countdown());
    sleep(Duration::from_millis(500)).await;
    do_stuff().await;
    countdown_handle.await;
    println!("Main is exiting");
}

// The timings, as in lessons 12 and 13.

/// `RUSAGE_THREAD` counts the loop's thread only (Linux); elsewhere we fall back to
/// the whole process. Same as lessons 12 and 13, so the CPU lines compare.
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
/// Same as lesson 12.
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
    let ((), finished) = run(main_task());
    let run_time = started_at.elapsed();
    let cpu_used = cpu_time().saturating_sub(cpu_at_start);

    println!("Run time: {:.3} seconds", run_time.as_secs_f64());
    println!("CPU time: {:.3} seconds", cpu_used.as_secs_f64());
    // Every poll after the first was asked for by a wake.
    for (task_id, polls, wakes) in finished {
        println!("Task {task_id} was polled {polls} times and woken {wakes} times");
    }
}
