//! Lesson 04: two requests, one at a time
//!
//! Two pretend requests: the first answers after three waits, the second after one.
//! We poll the first until it is done, and only then start on the second. The second
//! request could have finished much sooner, but it sits untouched the whole time: one
//! request blocks the other. This retells the Python walkthrough's example that
//! drains one list of `WAIT` markers before it touches the next.
//!
//! Run it:     cargo run --example 04_one_at_a_time
//! Read:       docs/04-one-at-a-time.md
//! Debug it:   break on `Request::poll`; `print *self` shows `request one` four times
//!             before `request two` appears at all
//!
//! It prints the same lines as the Python example (see the chapter).

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

/// Polls `request` until it answers `Done`, and returns the result.
///
/// Same as lesson 03. While this function loops, its caller is stuck here: that is
/// what makes the second request wait for the first.
fn wait_for_result(request: &mut Request) -> &'static str {
    loop {
        let progress = request.poll();
        match progress {
            // We have nothing else to do with the time, so we ask again at once.
            Progress::Waiting => {}
            Progress::Done(result) => return result,
        }
    }
}

fn main() {
    let mut request_one = Request::new(
        "request one",
        vec![
            Progress::Waiting,
            Progress::Waiting,
            Progress::Waiting,
            Progress::Done("Request One!!!"),
        ],
    );
    // The quick one: a single wait. Its position stays at 0 until request one is done.
    let mut request_two = Request::new(
        "request two",
        vec![Progress::Waiting, Progress::Done("Request Two!!!")],
    );

    let result_one = wait_for_result(&mut request_one);
    println!("{result_one}");

    let result_two = wait_for_result(&mut request_two);
    println!("{result_two}");
}
