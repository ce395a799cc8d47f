//! Lesson 07: delegation, one machine driving another
//!
//! A resumable machine can hand its work to a second machine and wait for that one's
//! result. The outer machine owns the inner one, resumes it whenever it is resumed
//! itself, and passes every pause of the inner machine straight up to its own caller.
//! The caller never sees the inner machine, only its pauses. When the inner machine
//! returns, its result lands back in the outer machine, like the return value of an
//! ordinary function call. This retells Python's `yield from`, where one generator
//! delegates to another.
//!
//! Run it:     cargo run --example 07_delegation
//! Read:       docs/07-delegation.md
//! Debug it:   break on `MachineB::resume`; `bt` shows `MachineA::resume` calling it,
//!             and `up` then `print *self` shows B living inside A
//!
//! It prints the same lines as the Python example (see the chapter).

/// What one call to `resume` produced, for both machines.
///
/// Sharing one type is what lets the outer machine pass the inner machine's pauses on
/// unchanged.
#[derive(Debug)]
enum Step {
    /// The machine paused and handed this value to whoever resumed it.
    Yielded(&'static str),
    /// The machine reached its end and returned this value.
    Returned(&'static str),
}

/// The inner machine (Python's `generator_b`): yields one value, then returns one.
#[derive(Debug)]
enum MachineB {
    /// Created, but none of the body has run yet.
    NotStarted,
    /// Yielded "Yielded From B" and paused; the next resume returns.
    PausedAfterYield,
    /// Returned "Return From B"; there is nothing left to run.
    Finished,
}

impl MachineB {
    /// Runs B from its current pause point to the next one.
    fn resume(&mut self) -> Step {
        match self {
            MachineB::NotStarted => {
                *self = MachineB::PausedAfterYield;
                Step::Yielded("Yielded From B")
            }
            MachineB::PausedAfterYield => {
                *self = MachineB::Finished;
                Step::Returned("Return From B")
            }
            MachineB::Finished => panic!(
                "`MachineB` resumed after it finished; it has already returned; \
                 stop resuming once you get `Step::Returned`"
            ),
        }
    }
}

/// The outer machine (Python's `generator_a`): runs B to the end, prints what B
/// returned, then returns a value of its own.
#[derive(Debug)]
enum MachineA {
    /// Created, but none of the body has run yet.
    NotStarted,
    /// Paused while B is paused. A owns B here: B's state lives inside A's, and
    /// nobody else can reach it.
    PausedInsideB(MachineB),
    /// Returned "Return From A"; B is gone, dropped when A left `PausedInsideB`.
    Finished,
}

impl MachineA {
    /// Runs A from its current pause point to the next one, which may be one of B's.
    fn resume(&mut self) -> Step {
        // A `loop` because starting A runs straight into B in the same call: the first
        // arm only builds B, and the next pass round the loop resumes it.
        loop {
            match self {
                MachineA::NotStarted => {
                    *self = MachineA::PausedInsideB(MachineB::NotStarted);
                }
                MachineA::PausedInsideB(inner) => {
                    let inner_step = inner.resume();
                    match inner_step {
                        // B paused, so A pauses too and passes B's value up unchanged:
                        // this is how B's yield surfaces in A's caller.
                        Step::Yielded(value) => return Step::Yielded(value),
                        // B finished. Its return value is what delegation hands back to
                        // A, and A carries on with the rest of its own body.
                        Step::Returned(value) => {
                            println!("A got {value:?}");
                            *self = MachineA::Finished;
                            return Step::Returned("Return From A");
                        }
                    }
                }
                MachineA::Finished => panic!(
                    "`MachineA` resumed after it finished; it has already returned; \
                     stop resuming once you get `Step::Returned`"
                ),
            }
        }
    }
}

fn main() {
    // Only A is in sight here: B is an inner detail that A creates for itself.
    let mut machine = MachineA::NotStarted;

    loop {
        let step = machine.resume();
        match step {
            Step::Yielded(value) => println!("Main got {value:?}"),
            Step::Returned(value) => {
                println!("Main got {value:?}");
                break;
            }
        }
    }
}
