//! Regression tests for the bugs that hostile use of the loop found (misuse, odd storage,
//! spikes, wakes from other threads): one test or more per bug, each named for the guarantee
//! it protects. docs/reliability.md ("Bugs found by hostile use") lists the bugs, the test
//! that guards each and the change to `src/` that the test catches.

mod common;

use std::cell::RefCell;
use std::future::pending;
use std::time::Duration;

use common::{Count, DropCounter};
use miniloop::{sleep, EventLoop};

/// An `EventLoop` kept in a `thread_local!` is dropped while its thread exits. If the loop's
/// own `thread_local!` (the "current loop" slot) was torn down first, the drop must still
/// work: a panic inside a thread-local destructor aborts the whole process. Both orders of
/// destruction are tried: thread-local destructors run in the reverse order of the slots'
/// first use, so touching the loop's slot first makes it outlive miniloop's, and the
/// other way round.
///
/// Guards: dropping a loop never panics, wherever it is stored; every unfinished future is
/// still dropped exactly once.
#[test]
fn a_loop_kept_in_a_thread_local_is_dropped_cleanly_at_thread_exit_in_either_order() {
    thread_local! {
        static KEPT: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
    }
    for loop_slot_first in [true, false] {
        let drops = Count::default();
        let drops_in_thread = drops.clone();
        let thread = std::thread::spawn(move || {
            let fill_the_slot = || {
                KEPT.with(|kept| *kept.borrow_mut() = Some(EventLoop::new()));
            };
            if loop_slot_first {
                fill_the_slot();
            }
            // Runs the loop once: this is miniloop's first use of its own slot.
            miniloop::run(async {});
            if !loop_slot_first {
                fill_the_slot();
            }
            KEPT.with(|kept| {
                let kept = kept.borrow();
                let event_loop = kept.as_ref().unwrap();
                let guard = DropCounter::new(&drops_in_thread);
                event_loop.spawn(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(3600)).await;
                });
                let guard = DropCounter::new(&drops_in_thread);
                event_loop.spawn(async move {
                    let _guard = guard;
                    pending::<()>().await;
                });
                event_loop.run_until_complete(miniloop::yield_now());
            });
            // The thread ends here, with the loop and its two waiting tasks in `KEPT`.
        });
        thread
            .join()
            .expect("the thread that kept a loop in a thread-local exits cleanly");
        assert_eq!(
            drops.get(),
            2,
            "both unfinished futures are dropped when the kept loop is (loop slot first: \
             {loop_slot_first})"
        );
    }
}
