//! `Handle`: spawning onto a loop from other threads (`src/event_loop/handle.rs`).
//!
//! Every test runs under a watchdog: a broken queue or shutdown rule leaves a `JoinHandle`
//! that never completes, which must fail the test, not hang it.

mod common;

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use common::{expect_panic, within, Count, DropCounter, WATCHDOG};
use futures::channel::oneshot;
use miniloop::{sleep, EventLoop, Handle, JoinHandle};

#[test]
fn a_thread_spawns_onto_an_idle_running_loop_and_the_loop_runs_every_task() {
    within(WATCHDOG, || {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let (handles_tx, handles_rx) = oneshot::channel::<Vec<JoinHandle<u64>>>();
        let spawner = std::thread::spawn(move || {
            // Give the loop time to go idle, so the spawns must wake it up.
            std::thread::sleep(Duration::from_millis(20));
            let joins = (1..=100u64)
                .map(|n| handle.spawn(async move { n }))
                .collect();
            assert!(
                handles_tx.send(joins).is_ok(),
                "the loop waits for the handles"
            );
        });
        let total = event_loop.run_until_complete(async {
            let joins = handles_rx.await.expect("the spawner sends its handles");
            let mut total = 0;
            for join in joins {
                total += join.await.expect("no task fails");
            }
            total
        });
        spawner.join().unwrap();
        assert_eq!(total, 5050);
        assert_eq!(event_loop.live_tasks(), 0);
    });
}

#[test]
fn tasks_spawned_before_the_loop_runs_start_when_it_runs() {
    within(
        WATCHDOG,
        tasks_spawned_before_the_loop_runs_start_when_it_runs_body,
    );
}

fn tasks_spawned_before_the_loop_runs_start_when_it_runs_body() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let joins = std::thread::spawn(move || {
        (0..10u32)
            .map(|n| handle.spawn(async move { n * 2 }))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let doubled = event_loop.run_until_complete(async {
        let mut doubled = Vec::new();
        for join in joins {
            doubled.push(join.await.unwrap());
        }
        doubled
    });
    assert_eq!(doubled, (0..10).map(|n| n * 2).collect::<Vec<_>>());
}

#[test]
fn a_remotely_spawned_task_gets_a_slot_its_wakers_find() {
    within(
        WATCHDOG,
        a_remotely_spawned_task_gets_a_slot_its_wakers_find_body,
    );
}

fn a_remotely_spawned_task_gets_a_slot_its_wakers_find_body() {
    // A timer wakes the task through its header's key, which the loop assigns when it takes
    // the task in: a wrong key would leave it asleep forever (the watchdog would fail).
    within(WATCHDOG, || {
        let event_loop = EventLoop::new();
        let handle = event_loop.handle();
        let join = std::thread::spawn(move || {
            handle.spawn(async {
                for _ in 0..3 {
                    sleep(Duration::from_millis(1)).await;
                }
                "slept"
            })
        })
        .join()
        .unwrap();
        let id = join.id();
        assert_eq!(id.to_string(), "task#r1");
        let local = event_loop.spawn(async {});
        assert_eq!(local.id().to_string(), "task#1", "local tasks count apart");
        let answer = event_loop.run_until_complete(async { join.await.unwrap() });
        assert_eq!(answer, "slept");
    });
}

/// Guarantee (issue 20, item 5): tasks spawned through a `Handle` get distinct ids, counted
/// up per loop (`task#r1`, `task#r2`, ...), from whichever thread spawns them, so the trace
/// and `JoinHandle::id` tell them apart. Fails with `Shared::next_remote_id` always returning
/// 1 (mutation tried by hand): every remote task was then `task#r1`.
#[test]
fn remote_spawns_get_distinct_increasing_ids() {
    within(WATCHDOG, remote_spawns_get_distinct_increasing_ids_body);
}

fn remote_spawns_get_distinct_increasing_ids_body() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let first = handle.spawn(async { 1 });
    let second = std::thread::spawn({
        let handle = handle.clone();
        move || handle.spawn(async { 2 })
    })
    .join()
    .unwrap();
    let third = handle.spawn(async { 3 });
    let ids = [first.id(), second.id(), third.id()];
    assert_eq!(
        ids.map(|id| id.to_string()),
        ["task#r1", "task#r2", "task#r3"]
    );
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    let outputs = event_loop
        .run_until_complete(async { [first.await, second.await, third.await].map(Result::unwrap) });
    assert_eq!(outputs, [1, 2, 3]);
}

#[test]
fn handle_current_inside_a_loop_spawns_on_that_loop() {
    within(
        WATCHDOG,
        handle_current_inside_a_loop_spawns_on_that_loop_body,
    );
}

fn handle_current_inside_a_loop_spawns_on_that_loop_body() {
    let answer = miniloop::run(async {
        let handle = Handle::current();
        let join = std::thread::spawn(move || handle.spawn(async { 41 + 1 }))
            .join()
            .unwrap();
        join.await.unwrap()
    });
    assert_eq!(answer, 42);
}

#[test]
fn handle_current_outside_a_loop_says_how_to_get_one() {
    within(
        WATCHDOG,
        handle_current_outside_a_loop_says_how_to_get_one_body,
    );
}

fn handle_current_outside_a_loop_says_how_to_get_one_body() {
    let message = expect_panic(|| {
        let _ = Handle::current();
    });
    assert!(message.contains("outside an event loop"), "{message}");
    assert!(message.contains("event_loop.handle()"), "{message}");
}

#[test]
fn a_spawn_onto_a_loop_that_is_gone_is_cancelled_at_once_not_left_hanging() {
    within(
        WATCHDOG,
        a_spawn_onto_a_loop_that_is_gone_is_cancelled_at_once_not_left_hanging_body,
    );
}

fn a_spawn_onto_a_loop_that_is_gone_is_cancelled_at_once_not_left_hanging_body() {
    let drops = Count::default();
    let handle = EventLoop::new().handle(); // the loop is dropped at the end of the statement
    let guard = DropCounter::new(&drops);
    let join = handle.spawn(async move {
        let _guard = guard;
        "never runs"
    });
    assert_eq!(
        drops.get(),
        1,
        "the future is dropped on the spawning thread, at once"
    );
    assert!(join.is_finished());
    let error = miniloop::run(join).expect_err("the task cannot run");
    assert!(error.is_cancelled(), "{error}");
}

#[test]
fn tasks_still_queued_when_the_loop_is_dropped_are_cancelled_once() {
    within(
        WATCHDOG,
        tasks_still_queued_when_the_loop_is_dropped_are_cancelled_once_body,
    );
}

fn tasks_still_queued_when_the_loop_is_dropped_are_cancelled_once_body() {
    let drops = Count::default();
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let joins: Vec<_> = (0..5)
        .map(|_| {
            let guard = DropCounter::new(&drops);
            handle.spawn(async move {
                let _guard = guard;
            })
        })
        .collect();
    drop(event_loop); // never ran: the tasks never left the queue
    assert_eq!(drops.get(), 5);
    for join in joins {
        let error = miniloop::run(join).expect_err("cancelled with the loop");
        assert!(error.is_cancelled());
    }
}

#[test]
fn an_abort_before_the_loop_takes_the_task_in_means_it_never_runs() {
    within(
        WATCHDOG,
        an_abort_before_the_loop_takes_the_task_in_means_it_never_runs_body,
    );
}

fn an_abort_before_the_loop_takes_the_task_in_means_it_never_runs_body() {
    let event_loop = EventLoop::new();
    let handle = event_loop.handle();
    let (ran_tx, ran_rx) = std_mpsc::channel();
    let join = handle.spawn(async move {
        let _ = ran_tx.send(());
    });
    join.abort();
    let error = event_loop
        .run_until_complete(join)
        .expect_err("aborted before its first poll");
    assert!(error.is_cancelled());
    assert!(ran_rx.try_recv().is_err(), "the aborted task never ran");
    assert_eq!(event_loop.live_tasks(), 0);
}

/// Tasks each thread spawns in `many_threads_spawning_at_once_lose_no_task` (fewer under miri,
/// which runs a thousand times slower).
const SPAWNS_PER_THREAD: u64 = if cfg!(miri) { 10 } else { 250 };

#[test]
fn many_threads_spawning_at_once_lose_no_task() {
    within(WATCHDOG, || {
        let event_loop = EventLoop::new();
        let (joins_tx, joins_rx) = std_mpsc::channel::<JoinHandle<u64>>();
        let threads: Vec<_> = (0..4u64)
            .map(|thread| {
                let handle = event_loop.handle();
                let joins_tx = joins_tx.clone();
                std::thread::spawn(move || {
                    for n in 0..SPAWNS_PER_THREAD {
                        let join = handle.spawn(async move {
                            miniloop::yield_now().await;
                            thread * 1000 + n
                        });
                        joins_tx.send(join).unwrap();
                    }
                })
            })
            .collect();
        drop(joins_tx);
        let total = event_loop.run_until_complete(async move {
            let mut total = 0;
            let mut count = 0;
            // Collect the handles as they come: the threads spawn while the loop runs.
            loop {
                match joins_rx.try_recv() {
                    Ok(join) => {
                        total += join.await.unwrap();
                        count += 1;
                    }
                    Err(std_mpsc::TryRecvError::Empty) => miniloop::yield_now().await,
                    Err(std_mpsc::TryRecvError::Disconnected) => break,
                }
            }
            assert_eq!(count, 4 * SPAWNS_PER_THREAD);
            total
        });
        for thread in threads {
            thread.join().unwrap();
        }
        let expected: u64 = (0..4u64)
            .flat_map(|thread| (0..SPAWNS_PER_THREAD).map(move |n| thread * 1000 + n))
            .sum();
        assert_eq!(total, expected);
    });
}
