//! The runtimes under test, behind one small trait, so that every workload is written once.
//!
//! A workload (`workloads.rs`) is a generic `async fn` over [`Runtime`]: miniloop, tokio and
//! the other peers run the *same* futures, and only `spawn`, `block_on` and `yield_now` change.
//! The ladder's own loops (`benches/ladder/`) implement the same trait.
//!
//! # Why a trait with static `spawn`
//! Code inside a task spawns with `miniloop::spawn` or `tokio::spawn`: a free function that
//! finds the running loop through a thread-local. The peers that have no such function
//! (`async-executor`, `futures`' `LocalPool`) get one here, over a thread-local executor, so
//! the workloads look the same everywhere. That costs a thread-local lookup per spawn (~1 ns).

use std::cell::RefCell;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::LocalSpawnExt;

/// What a workload needs from a runtime.
pub trait Runtime: 'static {
    /// What `spawn` returns; awaiting it gives the task's output (a panic fails the bench).
    type JoinHandle<T: Send + 'static>: Future<Output = T> + Unpin;

    /// Spawns from inside the running loop (`miniloop::spawn`, `tokio::spawn`).
    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Lets the task run on without anyone awaiting it. Dropping the handle does that on
    /// miniloop and tokio; `async-executor` and `LocalPool` cancel on drop, so they override this.
    fn detach<T: Send + 'static>(handle: Self::JoinHandle<T>) {
        drop(handle);
    }

    /// Spawns from outside the running loop, before `block_on`.
    fn spawn_outside<F>(&self, future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::spawn(future)
    }

    /// Runs the loop until `future` completes (`run_until_complete`, `block_on`).
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output;

    /// Steps aside once so every other ready task runs first.
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        YieldNow { has_yielded: false }
    }
}

/// Runtimes with timers of their own.
pub trait Timers: Runtime {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static;
}

/// Runtimes with a `timeout` combinator (`None` when the deadline passed first).
pub trait Timeouts: Timers {
    fn timeout<F>(duration: Duration, future: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send;
}

/// The plain `yield_now` for the runtimes that have none: wake ourselves, answer `Pending`
/// once. miniloop's `yield_now` is the same code.
#[derive(Debug)]
pub struct YieldNow {
    has_yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_yielded {
            return Poll::Ready(());
        }
        self.has_yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A join handle whose output is a `Result`, unwrapped: a task that panics fails the bench.
#[derive(Debug)]
pub struct Joined<H>(pub H);

impl<H, T, E> Future for Joined<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: Debug,
{
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(result) => Poll::Ready(result.expect("no task panics in a benchmark")),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---- miniloop ----

/// One `EventLoop`, reused by every iteration (as a program would reuse its loop), and its
/// `Handle` for spawning from outside.
#[derive(Debug)]
pub struct Miniloop(pub miniloop::EventLoop, miniloop::Handle);

impl Default for Miniloop {
    fn default() -> Self {
        let event_loop = miniloop::EventLoop::new();
        let handle = event_loop.handle();
        Miniloop(event_loop, handle)
    }
}

impl Runtime for Miniloop {
    type JoinHandle<T: Send + 'static> = Joined<miniloop::JoinHandle<T>>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Joined(miniloop::spawn(future))
    }

    /// Through the loop's `Handle`, as from another thread: the task goes through the remote
    /// spawn queue (as tokio's `Runtime::spawn` goes through its inject queue).
    fn spawn_outside<F>(&self, future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Joined(self.1.spawn(future))
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        self.0.run_until_complete(future)
    }

    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        miniloop::yield_now()
    }
}

impl Timers for Miniloop {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        miniloop::sleep(duration)
    }
}

impl Timeouts for Miniloop {
    fn timeout<F>(duration: Duration, future: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let timeout = miniloop::timeout(duration, future);
        async move { timeout.await.ok() }
    }
}

// ---- tokio ----

/// A tokio runtime, current-thread or multi-thread; both spawn with `tokio::spawn`.
#[derive(Debug)]
pub struct Tokio(pub tokio::runtime::Runtime);

impl Tokio {
    pub fn current_thread() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio's current-thread runtime should start");
        Tokio(runtime)
    }

    /// One worker per core (tokio's default).
    pub fn multi_thread() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("tokio's multi-thread runtime should start");
        Tokio(runtime)
    }
}

impl Runtime for Tokio {
    type JoinHandle<T: Send + 'static> = Joined<tokio::task::JoinHandle<T>>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Joined(tokio::spawn(future))
    }

    /// `Runtime::spawn` from the bench thread: the runtime is not running it.
    fn spawn_outside<F>(&self, future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Joined(self.0.spawn(future))
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }
}

impl Timers for Tokio {
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }
}

impl Timeouts for Tokio {
    fn timeout<F>(duration: Duration, future: F) -> impl Future<Output = Option<F::Output>> + Send
    where
        F: Future + Send + 'static,
        F::Output: Send,
    {
        let timeout = tokio::time::timeout(duration, future);
        async move { timeout.await.ok() }
    }
}

// ---- async-executor's LocalExecutor ----

thread_local! {
    /// The thread's executor; `'static` because it lives as long as the thread.
    static LOCAL_EXECUTOR: async_executor::LocalExecutor<'static> =
        const { async_executor::LocalExecutor::new() };
}

/// `async_executor::LocalExecutor` driven by `futures::executor::block_on(executor.run(..))`.
#[derive(Debug, Default)]
pub struct AsyncExecutorLocal;

impl Runtime for AsyncExecutorLocal {
    type JoinHandle<T: Send + 'static> = async_executor::Task<T>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LOCAL_EXECUTOR.with(|executor| executor.spawn(future))
    }

    fn detach<T: Send + 'static>(handle: Self::JoinHandle<T>) {
        handle.detach();
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        LOCAL_EXECUTOR.with(|executor| futures::executor::block_on(executor.run(future)))
    }
}

// ---- futures' LocalPool ----

thread_local! {
    /// The thread's pool, and a spawner for it (which works while `run_until` runs).
    static LOCAL_POOL: (RefCell<futures::executor::LocalPool>, futures::executor::LocalSpawner) = {
        let pool = futures::executor::LocalPool::new();
        let spawner = pool.spawner();
        (RefCell::new(pool), spawner)
    };
}

/// `futures::executor::LocalPool`; join handles are its `RemoteHandle`s.
#[derive(Debug, Default)]
pub struct FuturesLocalPool;

impl Runtime for FuturesLocalPool {
    type JoinHandle<T: Send + 'static> = futures::future::RemoteHandle<T>;

    fn spawn<F>(future: F) -> Self::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        LOCAL_POOL.with(|(_, spawner)| {
            spawner
                .spawn_local_with_handle(future)
                .expect("the thread's `LocalPool` lives as long as the thread")
        })
    }

    fn detach<T: Send + 'static>(handle: Self::JoinHandle<T>) {
        handle.forget();
    }

    #[inline(never)] // one frame per iteration: `scripts/callgrind_per_op.py` counts its calls
    fn block_on<F: Future + 'static>(&self, future: F) -> F::Output {
        LOCAL_POOL.with(|(pool, _)| pool.borrow_mut().run_until(future))
    }
}
