//! Lesson 03: a request as a list of waits
//!
//! A network request does not answer at once. Here a request is a list written in
//! advance: "still waiting", "still waiting", "still waiting", then the result. Each
//! time you poll it, it hands back the next entry, and a loop keeps polling until the
//! result shows up. This retells the Python walkthrough's list of `WAIT` markers
//! followed by a string, walked through by a `for` loop.
//!
//! Run it:     cargo run --example 03_waiting_list
//! Read:       docs/03-waiting-list.md
//! Debug it:   break on `Request::poll`; `print *self` shows the list of answers and
//!             `position`, how many of them the loop has already taken
//!
//! It prints the same line as the Python example, with Rust's `"..."` quotes.

/// One answer from a request: Python's `WAIT` marker, or the value it was waiting for.
///
/// Rust's own futures answer with `std::task::Poll` (`Pending` or `Ready(value)`). We
/// use our own name here so that every piece of the lesson is in this file.
#[derive(Debug, Clone, Copy)]
enum Progress {
    /// Not finished yet: poll again later.
    Waiting,
    /// Finished, carrying the response.
    Done(&'static str),
}

/// A pretend network request whose answers are all known in advance.
#[derive(Debug)]
struct Request {
    /// Only for messages and the debugger, so you can tell requests apart.
    name: &'static str,
    /// Every answer the request will give, in order; the last one is `Done`.
    answers: Vec<Progress>,
    /// How many answers have been handed out so far. We keep a cursor rather than
    /// removing from the front (Python's `pop(0)`), so the debugger still shows the
    /// whole list and how far along it the loop is.
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
    /// If it is polled again after it answered `Done`. Rust's futures carry the same
    /// rule: once a future returns `Ready`, nobody should poll it again.
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
/// Nothing else can run while this loops. Lesson 05 fills those gaps with other work.
fn wait_for_result(request: &mut Request) -> &'static str {
    loop {
        let progress = request.poll();
        match progress {
            // Nothing to do but ask again. The loop never sleeps: in a real program it
            // would burn CPU while it waits (lesson 12 measures that, lesson 13 fixes it).
            Progress::Waiting => {}
            Progress::Done(result) => return result,
        }
    }
}

fn main() {
    // Three waits, then the result: the same list as the Python example.
    let mut request = Request::new(
        "request one",
        vec![
            Progress::Waiting,
            Progress::Waiting,
            Progress::Waiting,
            Progress::Done("Hello World from Request One!!!"),
        ],
    );

    let result = wait_for_result(&mut request);

    // `{:?}` prints the string in quotes, the way Python's `!r` does.
    println!("The result is {result:?}");
}
