//! Lesson 10: counting waits through delegation
//!
//! Machine A waits 5 times, then hands control to machine B, which waits 10 times
//! and returns "Hello World". The driver only ever resumes A, yet it counts all 15
//! waits: B's waits pass up through A unchanged, and B's return value comes back to
//! A like a function's. This is the walkthrough's Python example 10, where
//! `coroutine_a` runs `coroutine_b` with `yield from`.
//!
//! Delegation in Rust: A owns B inside one of its own variants, `DelegatingToB`,
//! and forwards every resume to it until B is done. Lesson 11 shows that an
//! `async fn` builds exactly this shape for you.
//!
//! Run it:     cargo run --example 10_counting_waits
//! Read:       docs/10-counting-waits.md
//! Debug it:   break on `10_counting_waits::CoroutineA::forward_to_b`; `print *self`
//!             shows B nested inside A, with B's own pause point
//!
//! It prints `Hello World`, then `Waited 15 times`.

/// How many times each machine waits before it moves on.
const WAITS_IN_A: u32 = 5;
const WAITS_IN_B: u32 = 10;

/// What one call to `resume` produced. `T` is what the machine returns when it is
/// done: A returns nothing, B returns a string. Lesson 11 meets this same shape in
/// std, as `Poll<T>`.
#[derive(Debug)]
enum Step<T> {
    /// Paused at a wait (Python's bare `yield`).
    Waiting,
    /// Ran to the end and returned this value (Python's `return`).
    Done(T),
}

/// `coroutine_b`: `for _ in range(10): yield`, then `return "Hello World"`.
#[derive(Debug)]
enum CoroutineB {
    NotStarted,
    /// Paused at the wait inside the loop, after `waits_done` waits.
    PausedInLoop {
        waits_done: u32,
    },
    Finished,
}

impl CoroutineB {
    /// Runs from the current pause point to the next wait, or to the end.
    fn resume(&mut self) -> Step<&'static str> {
        let waits_done = match *self {
            CoroutineB::NotStarted => 0,
            CoroutineB::PausedInLoop { waits_done } => waits_done,
            CoroutineB::Finished => panic!(
                "`CoroutineB::resume` called after B finished; \
                 stop resuming once it returns `Step::Done`"
            ),
        };
        if waits_done < WAITS_IN_B {
            *self = CoroutineB::PausedInLoop {
                waits_done: waits_done + 1,
            };
            return Step::Waiting;
        }
        *self = CoroutineB::Finished;
        Step::Done("Hello World")
    }
}

/// `coroutine_a`: five waits, then `result = yield from coroutine_b()`, then
/// `print(result)`. The variant `DelegatingToB` is where A keeps B while B runs.
#[derive(Debug)]
enum CoroutineA {
    NotStarted,
    /// Paused at the wait inside A's own loop, after `waits_done` waits.
    PausedInLoop {
        waits_done: u32,
    },
    /// Inside `yield from`: B lives here, and A's resumes go to it.
    DelegatingToB {
        coroutine_b: CoroutineB,
    },
    Finished,
}

impl CoroutineA {
    /// Runs from the current pause point to the next wait (its own or B's), or to
    /// the end.
    fn resume(&mut self) -> Step<()> {
        let waits_done = match *self {
            CoroutineA::NotStarted => 0,
            CoroutineA::PausedInLoop { waits_done } => waits_done,
            CoroutineA::DelegatingToB { .. } => return self.forward_to_b(),
            CoroutineA::Finished => panic!(
                "`CoroutineA::resume` called after A finished; \
                 stop resuming once it returns `Step::Done`"
            ),
        };
        if waits_done < WAITS_IN_A {
            *self = CoroutineA::PausedInLoop {
                waits_done: waits_done + 1,
            };
            return Step::Waiting;
        }
        // Leaving the loop reaches `yield from coroutine_b()`. B starts inside this
        // same resume: handing over control costs the driver no extra wait, which
        // is why the total is 5 + 10 and not 16.
        *self = CoroutineA::DelegatingToB {
            coroutine_b: CoroutineB::NotStarted,
        };
        self.forward_to_b()
    }

    /// `yield from`: resumes B once and passes its wait up as A's own; when B
    /// returns, A takes the value and runs the rest of its body.
    fn forward_to_b(&mut self) -> Step<()> {
        let CoroutineA::DelegatingToB { coroutine_b } = self else {
            unreachable!("`forward_to_b` is only called while A delegates to B");
        };
        let step = coroutine_b.resume();
        match step {
            // The driver can't tell this wait came from B: to it, A waited.
            Step::Waiting => Step::Waiting,
            Step::Done(result) => {
                println!("{result}");
                // B is dropped here, with the variant that held it.
                *self = CoroutineA::Finished;
                Step::Done(())
            }
        }
    }
}

/// Python's `coroutine_a()`: builds the machine and runs none of its code.
fn coroutine_a() -> CoroutineA {
    CoroutineA::NotStarted
}

/// The driver from Python's `main`: resumes A until it is done and counts every
/// wait it sees on the way.
fn run_counting_waits(routine: &mut CoroutineA) -> u32 {
    let mut wait_counter = 0;
    loop {
        let step = routine.resume();
        match step {
            Step::Waiting => wait_counter += 1,
            Step::Done(()) => return wait_counter,
        }
    }
}

fn main() {
    let mut routine = coroutine_a();
    let wait_counter = run_counting_waits(&mut routine);
    println!("Waited {wait_counter} times");
}
