//! Lesson 06: a resumable function
//!
//! A list of answers (lessons 03 to 05) cannot run code between its answers. A
//! resumable function can: it runs until a pause point, hands control back to its
//! caller, and later carries on from that exact spot. Python has this built in as a
//! generator, paused at `yield` and resumed with `send`. Stable Rust has no
//! generators, so we write the machine by hand: an enum with one variant per place it
//! can be stopped at, and a `resume` method that runs from there to the next one.
//!
//! Run it:     cargo run --example 06_resumable_function
//! Read:       docs/06-resumable-function.md
//! Debug it:   break on `Greeter::resume`; `print *self` shows where it paused
//!
//! It prints the same lines as the Python example (see the chapter).

/// Where the greeter stopped last time: one variant per pause point.
///
/// The body we are retelling prints "Hello", pauses, prints "World" and returns
/// "Result". Those are its only stopping places: before the first line, at the pause,
/// and after the end.
#[derive(Debug)]
enum Greeter {
    /// Created, but none of the body has run yet.
    NotStarted,
    /// Printed "Hello" and paused; the next resume prints "World".
    PausedAfterHello,
    /// Ran to the end and handed back its result; there is nothing left to run.
    Finished,
}

/// What one call to `resume` produced.
#[derive(Debug)]
enum Step {
    /// The machine paused and will carry on when resumed. Python's bare `yield`
    /// hands back `None`; we hand back nothing at all.
    Yielded,
    /// The machine reached its end and returned this value. Python reports it as
    /// `StopIteration.value`; here it is an ordinary return value.
    Returned(&'static str),
}

impl Greeter {
    /// Runs the body from the current pause point to the next one.
    ///
    /// Before it returns, each arm records where the body stopped, so the next call
    /// picks up from there. That assignment is the whole trick: the "paused function"
    /// is nothing but this enum value.
    ///
    /// # Panics
    ///
    /// If resumed after it finished. Python raises `StopIteration` again there; we
    /// panic instead, as many Rust futures do when polled after `Ready`.
    fn resume(&mut self) -> Step {
        match self {
            Greeter::NotStarted => {
                println!("Hello");
                *self = Greeter::PausedAfterHello;
                Step::Yielded
            }
            Greeter::PausedAfterHello => {
                println!("World");
                *self = Greeter::Finished;
                Step::Returned("Result")
            }
            Greeter::Finished => panic!(
                "`Greeter` resumed after it finished; it has already returned its result; \
                 stop resuming once you get `Step::Returned`"
            ),
        }
    }
}

fn main() {
    // Building the machine runs none of its body. Calling a generator function in
    // Python is the same: it only builds the generator.
    let mut greeter = Greeter::NotStarted;
    println!("Starting");

    // The caller decides when the body runs. Each pass runs it up to the next pause;
    // between passes we are free to do our own work, here one line of printing.
    loop {
        let step = greeter.resume();
        match step {
            Step::Yielded => println!("Paused"),
            Step::Returned(result) => {
                println!("Finished with {result}");
                break;
            }
        }
    }
}
