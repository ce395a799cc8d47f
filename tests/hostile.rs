//! Regression tests for the bugs that hostile use of the loop found (misuse, odd storage,
//! spikes, wakes from other threads): one test or more per bug, each named for the guarantee
//! it protects. docs/reliability.md ("Bugs found by hostile use") lists the bugs, the test
//! that guards each and the change to `src/` that the test catches.

mod common;

use std::cell::RefCell;
use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use common::{within, Count, DropCounter, WATCHDOG};
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

/// `yield_now` promises that every other ready task runs before the yielding one continues.
/// A task woken from another thread is ready too: here the wake lands (and the waking thread
/// has finished) before the second `yield_now`, so the woken task must have run when that
/// yield returns. Tried from the main future and from a spawned task, since the two are
/// polled at different points of a turn.
///
/// Guards: a remote wake is never a turn behind a local one (`yield_now`'s contract).
#[test]
fn yield_now_lets_a_task_woken_from_another_thread_run() {
    async fn scenario() {
        let (sender, receiver) = futures::channel::oneshot::channel::<u32>();
        let waiter = miniloop::spawn(async move { receiver.await.unwrap() });
        miniloop::yield_now().await; // the waiter's first poll: it waits for the oneshot
        assert!(!waiter.is_finished());
        std::thread::spawn(move || sender.send(7).unwrap())
            .join()
            .unwrap();
        miniloop::yield_now().await;
        assert!(
            waiter.is_finished(),
            "a task woken from another thread before `yield_now` has run when it returns"
        );
        assert_eq!(waiter.await.unwrap(), 7);
    }
    within(WATCHDOG, || {
        miniloop::run(scenario());
        miniloop::run(async { miniloop::spawn(scenario()).await.unwrap() });
    });
}

/// The other side of the fix above: `yield_now` takes remote wakes in during a poll, and one
/// of them may be for the very task that is yielding (it was woken from afar while it ran).
/// That task is out of its slot, so its "already queued from afar" flag can't be cleared
/// then; if the key were simply dropped, the flag would stay set and every later wake from
/// another thread would be ignored: the task would hang. The key waits for the next turn.
///
/// Guards: no lost wake-up when a task is woken from another thread during its own poll and
/// then yields.
#[test]
fn a_task_woken_from_afar_during_its_own_poll_still_gets_later_remote_wakes() {
    within(WATCHDOG, || {
        let answer = miniloop::run(async {
            miniloop::spawn(async {
                let waker =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
                std::thread::spawn(move || waker.wake()).join().unwrap();
                miniloop::yield_now().await;
                let (sender, receiver) = futures::channel::oneshot::channel();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    sender.send("woken from afar again").unwrap();
                });
                receiver.await.unwrap()
            })
            .await
            .unwrap()
        });
        assert_eq!(answer, "woken from afar again");
    });
}

/// `live_tasks` counts a task from the moment `spawn` returns, also when it was spawned
/// through a `Handle` from another thread and the loop has not had a turn to take it in.
///
/// Guards: `live_tasks` never under-reports (a program waiting for it to reach 0 would stop
/// early).
#[test]
fn live_tasks_counts_a_task_spawned_through_a_handle_before_the_loop_takes_it_in() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let join = std::thread::spawn(move || handle.spawn(async { 5 }))
        .join()
        .unwrap();
    assert_eq!(
        event_loop.live_tasks(),
        1,
        "counted as soon as `spawn` returned"
    );
    assert_eq!(event_loop.run_until_complete(join).unwrap(), 5);
    assert_eq!(event_loop.live_tasks(), 0);
}

/// Open file descriptors of this process (Linux: the entries of `/proc/self/fd`).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// A `Handle` may outlive its loop (a thread keeps it). It must not keep the loop's poller
/// open: the eventfd that lets other threads interrupt the poller's wait is closed when the
/// loop is dropped, whatever handles remain; and a spawn through such a handle still fails
/// cleanly (its task is cancelled).
///
/// Guards: a dropped loop gives back its file descriptors (50 dropped loops with a kept
/// handle each used to leave 50 eventfds open).
#[test]
#[cfg_attr(miri, ignore = "sockets and /proc: not available under miri")]
fn a_handle_that_outlives_its_loop_keeps_no_descriptor_open() {
    const LOOPS: usize = 50;
    let before = open_descriptors();
    let mut handles = Vec::new();
    for _ in 0..LOOPS {
        let event_loop = EventLoop::new();
        handles.push(event_loop.handle());
        // A socket opens the loop's reactor (an epoll instance and its eventfd).
        event_loop.run_until_complete(async {
            let listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            drop(listener);
        });
    }
    let after = open_descriptors();
    // Other tests of this binary may run meanwhile and hold a few descriptors; a leak here
    // is one per loop.
    assert!(
        after < before + LOOPS / 2,
        "{LOOPS} dropped loops with a kept Handle left {} descriptors open",
        after.saturating_sub(before)
    );
    let late = handles[0].spawn(async { 1 });
    let outcome = miniloop::run(late);
    assert!(outcome.unwrap_err().is_cancelled());
}

/// A `Sleep` polled by two loops in turn (on one thread, each loop run in turn) used to be
/// filed again by each loop without leaving the other: 200 round trips left 400 entries,
/// each holding a waker, until the loops were dropped. Now a loop that polls a `Sleep` filed
/// elsewhere cancels it there first, and a `Sleep` dropped outside its loop is cancelled at
/// that loop's next turn.
///
/// Guards: a timer entry never outlives its `Sleep` by more than a turn of its loop.
#[test]
fn a_sleep_polled_by_two_loops_in_turn_leaves_no_entries_behind() {
    let first = EventLoop::new();
    let second = EventLoop::new();
    let mut sleeping = Box::pin(sleep(Duration::from_secs(3600)));
    for _ in 0..200 {
        for event_loop in [&first, &second] {
            event_loop.run_until_complete(async {
                assert!(futures::poll!(sleeping.as_mut()).is_pending());
            });
        }
    }
    drop(sleeping); // outside both loops
    for event_loop in [&first, &second] {
        event_loop.run_until_complete(async {}); // a turn, to take in the cancellations
        assert!(
            event_loop.timer_heap_len() < 64,
            "{} timer entries left behind",
            event_loop.timer_heap_len()
        );
    }
}

/// Two tasks accept on one shared listener, and two clients connect: both tasks get a
/// connection. A socket used to keep one waker per direction, so the second task to wait
/// replaced the first, whose wake was lost although a connection waited in the backlog. The
/// same with two `accept` futures joined in one task.
///
/// Guards: every task waiting on a socket is woken when it is ready (no lost wake-up).
#[test]
#[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
fn several_tasks_accepting_on_one_listener_are_all_served() {
    within(WATCHDOG, || {
        miniloop::run(async {
            let listener = Arc::new(
                miniloop::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .unwrap(),
            );
            let address = listener.local_addr().unwrap();
            let acceptors: Vec<_> = (0..2)
                .map(|_| {
                    let listener = Arc::clone(&listener);
                    miniloop::spawn(async move { listener.accept().await.map(|_| ()) })
                })
                .collect();
            miniloop::yield_now().await; // both acceptors wait now
            let clients = std::thread::spawn(move || {
                let first = std::net::TcpStream::connect(address).unwrap();
                let second = std::net::TcpStream::connect(address).unwrap();
                (first, second)
            });
            for acceptor in acceptors {
                acceptor.await.unwrap().unwrap();
            }
            let _clients = clients.join().unwrap();

            // Two `accept` futures joined inside one task.
            let clients = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let first = std::net::TcpStream::connect(address).unwrap();
                let second = std::net::TcpStream::connect(address).unwrap();
                (first, second)
            });
            let accepted = miniloop::join_all([listener.accept(), listener.accept()]).await;
            assert!(accepted.iter().all(Result::is_ok));
            let _clients = clients.join().unwrap();
        });
    });
}

/// The task table gives back a spike's slots on an idle turn by cutting them off its end
/// (`tests/spike_memory.rs` measures the memory). A slot that comes back at a cut index must
/// not take up an old generation: a waker kept from the task that once had that slot would
/// then wake (and poll) the new task. Here the first of 2 000 finished tasks keeps its
/// waker; after the cut, a new task takes slot 0 again, and the old waker is woken.
///
/// Guards: a late wake never reaches the task that reuses a finished task's slot, also
/// across a shrink of the table.
#[test]
fn a_slot_cut_from_the_task_table_comes_back_with_a_fresh_generation() {
    within(WATCHDOG, || {
        let polls = Count::default();
        let polls_in_loop = polls.clone();
        miniloop::run(async move {
            let kept = Arc::new(std::sync::Mutex::new(None));
            let handles: Vec<_> = (0..2_000)
                .map(|index| {
                    let kept = Arc::clone(&kept);
                    miniloop::spawn(std::future::poll_fn(move |cx| {
                        if index == 0 {
                            *kept.lock().unwrap() = Some(cx.waker().clone());
                        }
                        std::task::Poll::Ready(())
                    }))
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            sleep(Duration::from_millis(2)).await; // an idle turn: the table is cut
            let newcomer =
                miniloop::spawn(common::PollCounter::new(&polls_in_loop, pending::<()>()));
            miniloop::yield_now().await;
            assert_eq!(polls_in_loop.get(), 1, "the new task's first poll");
            let old_waker = kept.lock().unwrap().take().unwrap();
            old_waker.wake();
            miniloop::yield_now().await;
            miniloop::yield_now().await;
            newcomer.abort();
        });
        assert_eq!(
            polls.get(),
            1,
            "the old waker woke the task that took its slot"
        );
    });
}

/// Records the timeline of `tasks` tasks that each yield once; returns how long it took.
#[cfg(feature = "observe")] // the timeline is `observe`'s
fn record_timeline_of(tasks: usize) -> Duration {
    let event_loop = EventLoop::builder().record_timeline(true).build();
    let started = std::time::Instant::now();
    event_loop.run_until_complete(async move {
        let handles: Vec<_> = (0..tasks)
            .map(|_| miniloop::spawn(miniloop::yield_now()))
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let took = started.elapsed();
    assert_eq!(event_loop.timeline().rows().len(), tasks);
    took
}

/// Recording a timeline costs the same per task however many tasks there are. Each poll
/// looked its task's row up in a list, so recording was quadratic: 60 000 tasks took 1.09 s
/// instead of 19 ms. Ten times the tasks must take about ten times as long, not a hundred
/// (the bound is generous: 40x).
///
/// Guards: observing the loop never makes it asymptotically slower.
#[test]
#[cfg(feature = "observe")] // the timeline is `observe`'s
#[cfg_attr(miri, ignore = "tens of thousands of tasks: far too slow under miri")]
fn recording_a_timeline_is_linear_in_the_number_of_tasks() {
    record_timeline_of(1_000); // warm up the allocator
    let small = record_timeline_of(4_000);
    let large = record_timeline_of(40_000);
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(
        ratio < 40.0,
        "10x the tasks took {ratio:.0}x as long to record ({small:?} then {large:?})"
    );
}
