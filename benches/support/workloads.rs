//! The workloads, each written once, generic over the runtime (`runtimes.rs`).
//!
//! Each returns its answer so that the benchmark can assert it: in test mode
//! (`cargo test --benches`) every workload runs once and is checked. The sizes are constants
//! here; `vs_tokio.rs` reports them to criterion as the group's throughput, and
//! `scripts/bench_report.py` divides by it to print time per operation.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle as ThreadHandle;
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

use crate::runtimes::{Runtime, Timeouts, Timers};

/// Tasks in `spawn_many` and in the ladder's `spawn_many`.
pub const SPAWN_MANY: usize = 10_000;
/// Tasks spawned from outside the loop in `spawn_many_remote`.
pub const SPAWN_REMOTE: usize = 1_000;
/// Tasks and yields per task in `yield_many`.
pub const YIELD_TASKS: usize = 200;
pub const YIELDS_PER_TASK: usize = 1_000;
/// Idle tasks, and yields of the one busy task, in the ladder's `yield_among_waiters`.
pub const WAITERS: usize = 1_000;
pub const WAITER_YIELDS: usize = 1_000;
/// Depth of `chained_spawn`.
pub const CHAIN_DEPTH: usize = 1_000;
/// Pairs of tasks in `ping_pong`.
pub const PING_PONG_PAIRS: usize = 1_000;
/// Round trips of the long-lived pair in `ping_pong_rounds`.
pub const ROUNDS: u64 = 10_000;
/// Timers in `sleep_many` and `timeout_cancel`.
pub const TIMERS: u64 = 10_000;
/// Round trips to the other thread in `remote_wake`.
pub const REMOTE_ROUNDS: u64 = 100;

// ---- spawning ----

/// 10 000 no-op tasks spawned from inside the loop; every handle is awaited.
pub async fn spawn_many<R: Runtime>() -> usize {
    let handles: Vec<_> = (0..SPAWN_MANY)
        .map(|i| R::spawn(async move { i }))
        .collect();
    let mut sum = 0;
    for handle in handles {
        sum += handle.await;
    }
    sum
}

pub fn spawn_many_answer() -> usize {
    SPAWN_MANY * (SPAWN_MANY - 1) / 2
}

/// 1 000 tasks spawned before the loop runs (`spawn_outside`), then joined inside it.
pub fn spawn_many_remote<R: Runtime>(runtime: &R) -> usize {
    let handles: Vec<_> = (0..SPAWN_REMOTE)
        .map(|i| runtime.spawn_outside(async move { i }))
        .collect();
    runtime.block_on(async move {
        let mut sum = 0;
        for handle in handles {
            sum += handle.await;
        }
        sum
    })
}

pub fn spawn_many_remote_answer() -> usize {
    SPAWN_REMOTE * (SPAWN_REMOTE - 1) / 2
}

/// Each task spawns the next, 1 000 deep; the last one reports the depth.
pub async fn chained_spawn<R: Runtime>() -> usize {
    let (done_tx, done_rx) = oneshot::channel();
    chain::<R>(CHAIN_DEPTH, done_tx);
    done_rx.await.expect("the chain ends")
}

fn chain<R: Runtime>(depth: usize, done_tx: oneshot::Sender<usize>) {
    if depth == 0 {
        let _ = done_tx.send(CHAIN_DEPTH);
    } else {
        R::detach(R::spawn(async move { chain::<R>(depth - 1, done_tx) }));
    }
}

// ---- yielding ----

/// 200 tasks, each yielding 1 000 times.
pub async fn yield_many<R: Runtime>() -> usize {
    let handles: Vec<_> = (0..YIELD_TASKS)
        .map(|_| {
            R::spawn(async {
                for _ in 0..YIELDS_PER_TASK {
                    R::yield_now().await;
                }
                1
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        done += handle.await;
    }
    done
}

/// One task yields 1 000 times while 1 000 others wait on a channel; then they are released.
/// A loop that polls only woken tasks polls the yielder 1 000 times; a loop without wakers
/// polls every waiter on every turn too, a million polls that find nothing to do.
pub async fn yield_among_waiters<R: Runtime>() -> usize {
    let mut release_txs = Vec::with_capacity(WAITERS);
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (release_tx, release_rx) = oneshot::channel::<()>();
            release_txs.push(release_tx);
            R::spawn(async move {
                release_rx.await.expect("every waiter is released");
                1
            })
        })
        .collect();
    let yielder = R::spawn(async {
        for _ in 0..WAITER_YIELDS {
            R::yield_now().await;
        }
        1
    });
    let mut done = yielder.await;
    for release_tx in release_txs {
        release_tx.send(()).expect("the waiter is alive");
    }
    for waiter in waiters {
        done += waiter.await;
    }
    done
}

// ---- channels ----

/// One side of a pair: send "ping" (1), wait for the answer.
async fn ping(ping_tx: oneshot::Sender<u32>, pong_rx: oneshot::Receiver<u32>) -> u32 {
    ping_tx.send(1).expect("the partner is alive");
    pong_rx.await.expect("the partner answers")
}

/// The other side: answer ping + 1.
async fn pong(ping_rx: oneshot::Receiver<u32>, pong_tx: oneshot::Sender<u32>) {
    let ping = ping_rx.await.expect("the pair sends");
    pong_tx.send(ping + 1).expect("the pair waits");
}

/// 1 000 pairs, each spawning its partner and exchanging one message each way.
pub async fn ping_pong<R: Runtime>() -> u32 {
    let handles: Vec<_> = (0..PING_PONG_PAIRS)
        .map(|_| {
            R::spawn(async {
                let (ping_tx, ping_rx) = oneshot::channel();
                let (pong_tx, pong_rx) = oneshot::channel();
                R::detach(R::spawn(pong(ping_rx, pong_tx)));
                ping(ping_tx, pong_rx).await
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await;
    }
    total
}

pub fn ping_pong_answer() -> u32 {
    2 * PING_PONG_PAIRS as u32
}

/// The floor of `ping_pong`: the same two futures per pair (channels made the same way),
/// polled alternately in place by a perfect scheduler: no executor, no task, no spawn.
#[inline(never)] // `scripts/callgrind_per_op.py --frame` counts its calls
pub fn ping_pong_floor(wakers: FloorWakers) -> u32 {
    // Made once, not per pair: a task's waker costs no allocation of its own (it points at
    // the task), so only its reference count should show here.
    let wakers = (wakers.make(), wakers.make());
    let mut total = 0;
    for _ in 0..PING_PONG_PAIRS {
        let (ping_tx, ping_rx) = oneshot::channel();
        let (pong_tx, pong_rx) = oneshot::channel();
        let (answer, ()) =
            poll_alternately(ping(ping_tx, pong_rx), pong(ping_rx, pong_tx), 4, &wakers);
        total += answer;
    }
    total
}

/// The pinging half of `ping_pong_rounds`: sends `ROUNDS` numbers, sums the answers.
async fn pinger(
    ping_tx: mpsc::UnboundedSender<u64>,
    mut pong_rx: mpsc::UnboundedReceiver<u64>,
) -> u64 {
    let mut total = 0;
    for round in 0..ROUNDS {
        ping_tx.unbounded_send(round).expect("the echo is alive");
        total += pong_rx.next().await.expect("the echo answers");
    }
    total
}

/// The answering half: echoes n + 1 until the pinger hangs up; returns how many it answered.
async fn echo(
    mut ping_rx: mpsc::UnboundedReceiver<u64>,
    pong_tx: mpsc::UnboundedSender<u64>,
) -> u64 {
    let mut answered = 0;
    while let Some(round) = ping_rx.next().await {
        pong_tx.unbounded_send(round + 1).expect("the pinger waits");
        answered += 1;
    }
    answered
}

/// A long-lived pair doing 10 000 round trips over `futures::channel::mpsc` (the same
/// channel on every runtime, so the difference is the scheduler).
pub async fn ping_pong_rounds<R: Runtime>() -> u64 {
    let (ping_tx, ping_rx) = mpsc::unbounded();
    let (pong_tx, pong_rx) = mpsc::unbounded();
    let echo_handle = R::spawn(echo(ping_rx, pong_tx));
    let pinger_handle = R::spawn(pinger(ping_tx, pong_rx));
    let total = pinger_handle.await;
    assert_eq!(echo_handle.await, ROUNDS);
    total
}

pub fn ping_pong_rounds_answer() -> u64 {
    ROUNDS * (ROUNDS + 1) / 2
}

/// The floor of `ping_pong_rounds`: the same two futures, polled alternately in place.
#[inline(never)] // `scripts/callgrind_per_op.py --frame` counts its calls
pub fn ping_pong_rounds_floor(wakers: FloorWakers) -> u64 {
    let (ping_tx, ping_rx) = mpsc::unbounded();
    let (pong_tx, pong_rx) = mpsc::unbounded();
    let max_passes = ROUNDS as usize + 2;
    let (total, answered) = poll_alternately(
        pinger(ping_tx, pong_rx),
        echo(ping_rx, pong_tx),
        max_passes,
        &(wakers.make(), wakers.make()),
    );
    assert_eq!(answered, ROUNDS);
    total
}

/// The wakers the perfect scheduler gives its two futures.
#[derive(Clone, Copy, Debug)]
pub enum FloorWakers {
    /// `Waker::noop()` for both: cloning, dropping and waking it cost nothing. This is the
    /// floor the targets are measured from.
    Noop,
    /// A reference-counted waker of its own for each future, as every runtime here gives
    /// each task: a clone is an atomic increment, a drop an atomic decrement, a wake one
    /// plain store. Still no scheduler: this shows what the channel's clones and drops of a
    /// real waker cost by themselves (`docs/benchmarks.md`, "What's left").
    Counted,
}

/// What a `FloorWakers::Counted` waker points at: a flag, so that waking does some work.
#[derive(Default)]
struct WokenFlag(AtomicBool);

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed); // a store, not a read-modify-write
    }
}

impl FloorWakers {
    /// A waker of this kind, for one future.
    fn make(self) -> Waker {
        match self {
            FloorWakers::Noop => Waker::noop().clone(),
            FloorWakers::Counted => Waker::from(Arc::new(WokenFlag::default())),
        }
    }
}

/// The perfect scheduler: polls `first`, then `second`, then `first`..., in place, each with
/// its own waker (which nobody acts on), until both are done. A real scheduler can only add to
/// this.
///
/// # Panics
/// If the two are not done after `max_passes` passes (they would never be: nothing else
/// runs to unblock them).
fn poll_alternately<A: Future, B: Future>(
    first: A,
    second: B,
    max_passes: usize,
    (first_waker, second_waker): &(Waker, Waker),
) -> (A::Output, B::Output) {
    let mut first = pin!(first);
    let mut second = pin!(second);
    let mut first_cx = Context::from_waker(first_waker);
    let mut second_cx = Context::from_waker(second_waker);
    let mut first_output = None;
    let mut second_output = None;
    for _ in 0..max_passes {
        poll_unless_done(first.as_mut(), &mut first_output, &mut first_cx);
        poll_unless_done(second.as_mut(), &mut second_output, &mut second_cx);
        if let (Some(_), Some(_)) = (&first_output, &second_output) {
            return (
                first_output.expect("checked"),
                second_output.expect("checked"),
            );
        }
    }
    panic!("the perfect scheduler's pair made no progress in {max_passes} passes; the workload deadlocks");
}

fn poll_unless_done<F: Future>(
    future: Pin<&mut F>,
    output: &mut Option<F::Output>,
    cx: &mut Context<'_>,
) {
    if output.is_none() {
        if let Poll::Ready(done) = future.poll(cx) {
            *output = Some(done);
        }
    }
}

// ---- timers ----

/// Deadlines 100 ns apart, up to 1 ms: all distinct.
fn timer_delay(i: u64) -> Duration {
    Duration::from_nanos(100 * i)
}

/// 10 000 tasks, each sleeping until its own small deadline.
pub async fn sleep_many<R: Timers>() -> u64 {
    let handles: Vec<_> = (0..TIMERS)
        .map(|i| {
            R::spawn(async move {
                R::sleep(timer_delay(i)).await;
                1
            })
        })
        .collect();
    let mut woken = 0;
    for handle in handles {
        woken += handle.await;
    }
    woken
}

/// 10 000 tasks, each with a one-minute timeout around a future that finishes on its second
/// poll: the timer is registered (the first poll is `Pending`) and then cancelled unfired.
pub async fn timeout_cancel<R: Timeouts>() -> u64 {
    let handles: Vec<_> = (0..TIMERS)
        .map(|_| {
            R::spawn(async {
                let finished = R::timeout(Duration::from_secs(60), R::yield_now()).await;
                u64::from(finished.is_some())
            })
        })
        .collect();
    let mut finished_first = 0;
    for handle in handles {
        finished_first += handle.await;
    }
    finished_first
}

// ---- waking from another thread ----

/// A std thread that answers each number it gets with that number + 1, through a
/// `futures` channel whose receiver a task of the loop awaits: each round trip wakes the
/// loop from another thread once. One thread serves every iteration of a benchmark.
#[derive(Debug)]
pub struct RemoteEcho {
    to_thread: Option<std_mpsc::Sender<u64>>,
    from_thread: Option<mpsc::UnboundedReceiver<u64>>,
    thread: Option<ThreadHandle<()>>,
}

impl RemoteEcho {
    pub fn start() -> Self {
        let (to_thread, thread_rx) = std_mpsc::channel::<u64>();
        let (thread_tx, from_thread) = mpsc::unbounded();
        let thread = std::thread::spawn(move || {
            for round in thread_rx {
                thread_tx
                    .unbounded_send(round + 1)
                    .expect("the loop's task waits");
            }
        });
        RemoteEcho {
            to_thread: Some(to_thread),
            from_thread: Some(from_thread),
            thread: Some(thread),
        }
    }
}

impl Drop for RemoteEcho {
    fn drop(&mut self) {
        drop(self.to_thread.take()); // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the echo thread does not panic");
        }
    }
}

/// `REMOTE_ROUNDS` round trips between a task blocked in the loop and `echo`'s thread.
pub fn remote_wake<R: Runtime>(runtime: &R, echo: &mut RemoteEcho) -> u64 {
    let to_thread = echo.to_thread.clone().expect("the echo thread runs");
    let mut from_thread = echo.from_thread.take().expect("one iteration at a time");
    let (total, from_thread) = runtime.block_on(async move {
        let task = R::spawn(async move {
            let mut total = 0;
            for round in 0..REMOTE_ROUNDS {
                to_thread.send(round).expect("the echo thread runs");
                total += from_thread.next().await.expect("the echo thread answers");
            }
            (total, from_thread)
        });
        task.await
    });
    echo.from_thread = Some(from_thread);
    total
}

pub fn remote_wake_answer() -> u64 {
    REMOTE_ROUNDS * (REMOTE_ROUNDS + 1) / 2
}
