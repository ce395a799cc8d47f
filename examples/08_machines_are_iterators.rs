//! Lesson 08: machines are iterators
//!
//! The resumable machine of lessons 06 and 07 hands back a value each time it pauses
//! and says when it has finished. That is all an iterator does, so the machine can
//! implement Rust's `Iterator` trait and be driven by an ordinary `for` loop. Python
//! makes the same point: a generator is an iterator that runs code between its values.
//!
//! Run it:     cargo run --example 08_machines_are_iterators
//! Read:       docs/08-machines-are-iterators.md
//! Debug it:   break on `Counter::resume`; `print *self` shows the number kept across
//!             the last pause, `bt` shows the `for` loop calling `next`
//!
//! It prints the same lines as the Python example (see the chapter).

/// How many numbers the counter yields: Python's `range(5)`, so 0 up to 4.
const LIMIT: u32 = 5;

/// Where the counter stopped last time: one variant per pause point.
///
/// The body we are retelling is a loop that prints "Yielding N" and then yields N.
/// It has one pause point, inside the loop, but it pauses there with a different
/// number each time, so that variant carries the number.
#[derive(Debug)]
enum Counter {
    /// Created, but none of the body has run yet.
    NotStarted,
    /// Printed "Yielding {number}", yielded it, and paused. The loop's variable has
    /// to survive the pause, so it lives here rather than on the stack.
    PausedAfterYield { number: u32 },
    /// The loop ran out; every later resume returns again.
    Finished,
}

/// What one call to `resume` produced.
#[derive(Debug)]
enum Step {
    /// The machine paused and handed this number to whoever resumed it.
    Yielded(u32),
    /// The machine reached its end. Python's generator returns `None` here, so this
    /// variant carries nothing.
    Returned,
}

impl Counter {
    /// Runs the body from the current pause point to the next one.
    fn resume(&mut self) -> Step {
        // Work out where the body's loop stands, from where it paused.
        let next_number = match self {
            Counter::NotStarted => 0,
            Counter::PausedAfterYield { number } => *number + 1,
            // A finished Python generator raises `StopIteration` each time it is
            // resumed; returning again is the same answer, and it keeps `next`
            // returning `None` forever, as a well-behaved iterator should.
            Counter::Finished => return Step::Returned,
        };

        if next_number < LIMIT {
            println!("Yielding {next_number}");
            *self = Counter::PausedAfterYield {
                number: next_number,
            };
            Step::Yielded(next_number)
        } else {
            *self = Counter::Finished;
            Step::Returned
        }
    }
}

/// The whole bridge from a resumable machine to a `for` loop.
///
/// A `for` loop calls `next` until it gets `None`. Python's `for` does the same
/// with `__next__` until it sees `StopIteration`.
impl Iterator for Counter {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let step = self.resume();
        match step {
            Step::Yielded(number) => Some(number),
            Step::Returned => None,
        }
    }
}

fn main() {
    // The `for` loop is the driver now: it resumes the counter, and the body below runs
    // in the gap between two resumes, the way `main` printed "Paused" in lesson 06.
    for number in Counter::NotStarted {
        println!("main got {number}");
    }
}
