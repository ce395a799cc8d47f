//! Lesson 09: interleaved machines
//!
//! Lesson 05 interleaved two lists of WAIT markers; lesson 06 built a function that
//! pauses and resumes. Here the two ideas meet: each request is a resumable machine
//! that waits a few times and then returns its reply, and a round-robin loop resumes
//! them in turn. This is the walkthrough's Python example 9, which rewrites example 5
//! with generators. The shorter request still finishes first, but now the waits come
//! from code that runs, not from a list that was written out in advance.
//!
//! Run it:     cargo run --example 09_interleaved_machines
//! Read:       docs/09-interleaved-machines.md
//! Debug it:   break on `09_interleaved_machines::Request::resume`; `print *self`
//!             shows the pause point, the waits done so far and the reply to come
//!
//! It prints `Request Two!!!`, then `Request One!!!`.

use std::collections::VecDeque;

/// What one call to `resume` produced: Python's bare `yield` or its `return value`.
/// Lessons 06 to 08 called these `Yielded` and `Returned`. Here every yield means
/// "not done yet", so the variants take lesson 05's words for it.
#[derive(Debug)]
enum Step {
    /// The machine paused at a wait; resume it again later.
    Waiting,
    /// The machine ran to its end and returned this reply.
    Done(&'static str),
}

/// A request written as a resumable machine: `for _ in range(waits): yield`, then
/// `return reply`. Each variant is a place where the code can be paused.
#[derive(Debug)]
enum Request {
    /// Built but never resumed: no code has run yet, as with a fresh generator.
    NotStarted { waits: u32, reply: &'static str },
    /// Paused at the wait inside the loop; `waits_done` is the loop counter that
    /// Python keeps in the generator's frame, kept here in the variant instead.
    PausedAtWait {
        waits_done: u32,
        waits: u32,
        reply: &'static str,
    },
    /// Returned its reply; there is nothing left to run.
    Finished,
}

impl Request {
    /// Runs from the current pause point to the next one (a wait, or the end).
    fn resume(&mut self) -> Step {
        let (waits_done, waits, reply) = match *self {
            Request::NotStarted { waits, reply } => (0, waits, reply),
            Request::PausedAtWait {
                waits_done,
                waits,
                reply,
            } => (waits_done, waits, reply),
            // Python raises `StopIteration` again here; Rust's own futures panic
            // when polled after they finished, and so do we.
            Request::Finished => panic!(
                "`Request::resume` called after the request finished; \
                 drop the machine once `resume` returns `Step::Done`"
            ),
        };
        // The loop's test: one more wait, or leave the loop and return.
        if waits_done < waits {
            *self = Request::PausedAtWait {
                waits_done: waits_done + 1,
                waits,
                reply,
            };
            Step::Waiting
        } else {
            *self = Request::Finished;
            Step::Done(reply)
        }
    }
}

/// Python's `request_1_generator()`: builds the machine, runs none of its code.
fn request_one() -> Request {
    Request::NotStarted {
        waits: 3,
        reply: "Request One!!!",
    }
}

/// Python's `request_2_generator()`: the same shape with a single wait.
fn request_two() -> Request {
    Request::NotStarted {
        waits: 1,
        reply: "Request Two!!!",
    }
}

/// Resumes one request once; `Some(reply)` when it has finished (Python's `process`).
fn process(request: &mut Request) -> Option<&'static str> {
    let step = request.resume();
    match step {
        Step::Waiting => None,
        Step::Done(reply) => Some(reply),
    }
}

fn main() {
    // A queue rather than Python's list with `del`: a machine that is still
    // waiting goes to the back, so each one gets a turn before any gets two.
    let mut run_queue = VecDeque::from([request_one(), request_two()]);
    while let Some(mut request) = run_queue.pop_front() {
        let finished = process(&mut request);
        match finished {
            Some(reply) => println!("{reply}"),
            None => run_queue.push_back(request),
        }
    }
}
