//! Lesson 05: interleaving two requests
//!
//! The same two requests as lesson 04, but now no request gets to hold the loop. We
//! keep the unfinished requests in a queue, poll the one at the front once, and put it
//! at the back if it is still waiting. Each request gets one turn per round, so the
//! request with fewer waits finishes first. This retells the Python walkthrough's loop
//! that takes turns over a list of request lists: concurrency with a single thread.
//!
//! Run it:     cargo run --example 05_interleaving
//! Read:       docs/05-interleaving.md
//! Debug it:   break on `Request::poll`; `print self.name` alternates between
//!             `request one` and `request two` until request two is done
//!
//! It prints the same lines as the Python example (see the chapter).

use std::collections::VecDeque;

/// One answer from a request: Python's `WAIT` marker, or the value it was waiting for.
///
/// Same as lesson 03. Rust's futures answer with `std::task::Poll` instead.
#[derive(Debug, Clone, Copy)]
enum Progress {
    /// Not finished yet: poll again later.
    Waiting,
    /// Finished, carrying the response.
    Done(&'static str),
}

/// A pretend network request whose answers are all known in advance.
///
/// Same as lesson 03.
#[derive(Debug)]
struct Request {
    /// Only for messages and the debugger, so you can tell requests apart.
    name: &'static str,
    /// Every answer the request will give, in order; the last one is `Done`.
    answers: Vec<Progress>,
    /// How many answers have been handed out so far: a cursor, so the debugger shows
    /// the whole list and how far along it we are.
    position: usize,
}

impl Request {
    /// Builds a request that will hand out `answers` one per poll.
    fn new(name: &'static str, answers: Vec<Progress>) -> Request {
        Request {
            name,
            answers,
            position: 0,
        }
    }

    /// Asks the request once: returns the next answer and moves past it.
    ///
    /// # Panics
    ///
    /// If it is polled again after it answered `Done`, the same rule Rust's futures
    /// have after `Ready`.
    fn poll(&mut self) -> Progress {
        let answer = self.answers.get(self.position).copied();
        match answer {
            Some(progress) => {
                self.position += 1;
                progress
            }
            None => panic!(
                "`{}` polled after its last answer; it has nothing left to hand out; \
                 stop polling a request once it answers `Done`",
                self.name
            ),
        }
    }
}

/// Polls the requests in turns, once each per round, printing each result as it
/// arrives, until every request is done.
///
/// This is the first event loop of the course: a queue of unfinished work and a loop
/// that gives each piece a short turn.
fn run_round_robin(requests: Vec<Request>) {
    // A queue, not Python's "delete from the list while walking it": we take from the
    // front and put unfinished requests at the back, so no request is skipped and each
    // one waits at most one round for its next turn.
    let mut run_queue = VecDeque::from(requests);

    while let Some(mut request) = run_queue.pop_front() {
        let progress = request.poll();
        match progress {
            // Not done: its next turn comes after everyone else has had one.
            Progress::Waiting => run_queue.push_back(request),
            // Done: print and let the request drop, so nobody polls it again.
            Progress::Done(result) => println!("{result}"),
        }
    }
}

fn main() {
    let request_one = Request::new(
        "request one",
        vec![
            Progress::Waiting,
            Progress::Waiting,
            Progress::Waiting,
            Progress::Done("Request One!!!"),
        ],
    );
    let request_two = Request::new(
        "request two",
        vec![Progress::Waiting, Progress::Done("Request Two!!!")],
    );

    // Request one is still first in line, yet request two's result prints first.
    run_round_robin(vec![request_one, request_two]);
}
