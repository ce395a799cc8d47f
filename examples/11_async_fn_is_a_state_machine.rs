//! Lesson 11: `async fn` is a state machine
//!
//! Lesson 10's program again, written the way you would write it today: two
//! `async fn`s and `.await`. The hand-written enums are gone because the compiler
//! writes them now. Each `async fn` becomes an enum with one variant per `.await`,
//! and `.await` forwards every `Pending` up to whoever polls, as `forward_to_b` did.
//! This retells the walkthrough's Python example 11, where `async def` and `await`
//! replace generators and `yield from`.
//!
//! The two pieces the compiler can't write are here by hand: `Sleep`, a leaf
//! future that says `Pending` a set number of times, and `block_on`, a driver that
//! polls until the answer is `Ready`.
//!
//! Run it:     cargo run --example 11_async_fn_is_a_state_machine
//! Read:       docs/11-async-fn-is-a-state-machine.md
//! Debug it:   break on `Sleep`'s poll, `'11_async_fn_is_a_state_machine::{impl#1}::poll'`
//!             (quotes included); `bt` shows who polled it; `up` to `block_on` and
//!             `print *future.pointer` shows the compiler's enum, e.g. `Suspend1`,
//!             with the future it awaits inside `__awaitee`
//!
//! It prints `Hello World`, then `Waited for 15 cycles`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

/// Every `Pending` any `Sleep` has returned (Python's global `cycles`).
///
/// A `static` because the count must outlive each `Sleep` and be readable from
/// `main` without passing it through both `async fn`s. It is an atomic only
/// because Rust requires a shared `static` to be safe across threads; this
/// program has one thread, so `Relaxed` ordering is enough. A `Cell` in a
/// `thread_local!` would work too, at the cost of a closure at every use.
static WAITED_CYCLES: AtomicUsize = AtomicUsize::new(0);

/// A leaf future: `Pending` for `cycles_left` polls, then `Ready`. It plays the
/// role of lesson 10's `for _ in range(n): yield` loop.
#[derive(Debug)]
struct Sleep {
    cycles_left: u32,
}

impl Sleep {
    fn new(cycles: u32) -> Sleep {
        Sleep {
            cycles_left: cycles,
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<()> {
        if self.cycles_left == 0 {
            return Poll::Ready(());
        }
        self.cycles_left -= 1;
        WAITED_CYCLES.fetch_add(1, Ordering::Relaxed);
        // A real leaf future would keep `_context.waker()` and call it when the
        // wait is over. `block_on` polls again anyway, so nobody needs waking.
        Poll::Pending
    }
}

// Lesson 10 wrote the enum by hand; here the compiler writes it. Put the two next
// to each other (the right column is what gdb's `print` shows, under
// `coroutine_a::{async_fn_env#0}`):
//
//   lesson 10, `CoroutineA`              compiler, `coroutine_a`
//   NotStarted                           Unresumed
//   PausedInLoop { waits_done }          Suspend0 { __awaitee: Sleep { cycles_left } }
//   DelegatingToB { coroutine_b }        Suspend1 { __awaitee: <coroutine_b's enum> }
//   Finished                             Returned
//   (we panicked instead)                Panicked: a poll panicked; never poll again
//
// One difference: our loop counter moved into `Sleep`, a future of its own, so
// `coroutine_a` has two `.await`s and the compiler gives it two `Suspend` variants.

/// Python's `coroutine_a`. Calling it builds the enum in `Unresumed`; no line of
/// the body runs until the first poll.
async fn coroutine_a() {
    Sleep::new(5).await;
    // The `.await` below is lesson 10's `forward_to_b`: poll the inner future,
    // pass its `Pending` up, take its output when it is `Ready`.
    let result = coroutine_b().await;
    println!("{result}");
}

/// Python's `coroutine_b`: ten cycles of sleep, then a value for its caller.
async fn coroutine_b() -> &'static str {
    Sleep::new(10).await;
    "Hello World"
}

/// Polls `future` until it is `Ready`, then returns its output: lesson 10's
/// driver loop, written against std's `Future` instead of our `resume`.
fn block_on<F: Future>(future: F) -> F::Output {
    // `poll` takes `Pin<&mut Self>`: a suspended `async fn` may hold references
    // into itself, so it must not move once polled. `pin!` fixes it on this frame.
    let mut future = pin!(future);
    // A waker that does nothing: this loop never waits between polls, so there
    // is nobody to wake. Lesson 12 keeps this choice; lesson 13 replaces it.
    let mut context = Context::from_waker(Waker::noop());
    loop {
        let poll = future.as_mut().poll(&mut context);
        match poll {
            Poll::Ready(output) => return output,
            // Nothing to wait for: poll again at once.
            Poll::Pending => {}
        }
    }
}

fn main() {
    block_on(coroutine_a());
    let cycles = WAITED_CYCLES.load(Ordering::Relaxed);
    println!("Waited for {cycles} cycles");
}
