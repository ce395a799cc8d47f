//! `JoinSet`: results in completion order, `len`, `abort_all`, `shutdown`, and no task that
//! outlives its dropped group.

mod common;
use common::{Count, DropCounter};

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use miniloop::JoinSet;

/// Sleeps `ms` milliseconds, then returns it.
async fn after(ms: u64) -> u64 {
    miniloop::sleep(Duration::from_millis(ms)).await;
    ms
}

/// Spawns one member per number, each waiting for its own release; returns the releases.
fn members_waiting_for_release(set: &mut JoinSet<usize>, count: usize) -> Vec<oneshot::Sender<()>> {
    (0..count)
        .map(|number| {
            let (release, released) = oneshot::channel();
            set.spawn(async move {
                released.await.expect("the test releases every member");
                number
            });
            release
        })
        .collect()
}

/// The order the members below are released in, so finish in: not the order they were spawned.
const FINISH_ORDER: [usize; 4] = [2, 0, 3, 1];

#[test]
fn results_come_in_the_order_the_tasks_finish() {
    let order = miniloop::run(async {
        let mut set = JoinSet::new();
        let mut releases: Vec<_> = members_waiting_for_release(&mut set, 4)
            .into_iter()
            .map(Some)
            .collect();
        miniloop::yield_now().await; // every member runs and waits
        let mut order = Vec::new();
        for number in FINISH_ORDER {
            releases[number].take().unwrap().send(()).unwrap();
        }
        // All four finish during the same turn, in release order; `join_next` is awaited
        // only now.
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        order
    });
    assert_eq!(order, FINISH_ORDER);
}

/// Completion order is the order the members finish, whatever order the loop runs them in:
/// under 200 seeded orders the members finish in different orders, and `join_next` follows
/// each. (The test above fixes one order by hand; this one lets the explorer vary it.)
#[miniloop::test(schedules = 200)]
async fn results_follow_the_finishing_order_in_every_task_order() {
    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut set = JoinSet::new();
    for number in 0..4 {
        let finished = std::sync::Arc::clone(&finished);
        set.spawn(async move {
            for _ in 0..number % 2 {
                miniloop::yield_now().await;
            }
            finished.lock().unwrap().push(number);
            number
        });
    }
    let mut order = Vec::new();
    while let Some(result) = set.join_next().await {
        order.push(result.unwrap());
    }
    assert_eq!(order, *finished.lock().unwrap());
}

/// The members' wakers go in when they join: tasks that finish while nobody awaits the set
/// still come out in the order they finished, not the order they were spawned. Fails with
/// `insert` filing each new member as woken instead of leaving its waker (mutation tried by
/// hand): spawn order.
#[test]
fn tasks_that_finished_before_anyone_looked_still_come_in_completion_order() {
    let order = miniloop::run(async {
        let mut set = JoinSet::new();
        let mut releases: Vec<_> = members_waiting_for_release(&mut set, 4)
            .into_iter()
            .map(Some)
            .collect();
        miniloop::yield_now().await; // every member runs and waits
        for number in FINISH_ORDER {
            releases[number].take().unwrap().send(()).unwrap();
        }
        miniloop::yield_now().await; // and finishes, in release order
        assert_eq!(set.len(), 4, "nobody has looked yet");
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        order
    });
    assert_eq!(order, FINISH_ORDER);
}

/// With timers: the shorter sleep comes out first.
#[test]
#[cfg_attr(
    miri,
    ignore = "miri's clock moves with the work it interprets: first polls far apart"
)]
fn the_shortest_sleep_comes_out_first() {
    let order = miniloop::run(async {
        let mut set = JoinSet::new();
        for ms in [40, 10, 30, 20] {
            set.spawn(after(ms));
        }
        let mut order = Vec::new();
        while let Some(result) = set.join_next().await {
            order.push(result.unwrap());
        }
        order
    });
    assert_eq!(order, [10, 20, 30, 40]);
}

#[test]
fn len_counts_the_tasks_whose_result_was_not_returned_and_an_empty_set_gives_none() {
    miniloop::run(async {
        let mut set = JoinSet::new();
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
        set.spawn(after(1));
        set.spawn_local(async { *Rc::new(2) }); // a `!Send` future
        assert_eq!(set.len(), 2);
        miniloop::sleep(Duration::from_millis(10)).await;
        assert_eq!(set.len(), 2, "finished, but not yet returned");
        set.join_next().await.unwrap().unwrap();
        assert_eq!(set.len(), 1);
        set.join_next().await.unwrap().unwrap();
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

/// `abort_all` cancels every member that had not finished; each result still comes out.
#[test]
fn abort_all_cancels_the_unfinished_members() {
    let (finished, cancelled) = miniloop::run(async {
        let mut set = JoinSet::new();
        set.spawn(async { 0 });
        for ms in [3_600_000, 7_200_000] {
            set.spawn(after(ms));
        }
        miniloop::yield_now().await; // the first finishes
        set.abort_all();
        assert_eq!(set.len(), 3);
        let (mut finished, mut cancelled) = (Vec::new(), 0);
        while let Some(result) = set.join_next().await {
            match result {
                Ok(value) => finished.push(value),
                Err(error) => {
                    assert!(error.is_cancelled());
                    cancelled += 1;
                }
            }
        }
        (finished, cancelled)
    });
    assert_eq!(finished, [0]);
    assert_eq!(cancelled, 2);
}

/// Dropping a set aborts its members: by the time the dropping task's next turn comes,
/// every member's future is gone, and none ran past its sleep. Fails with `JoinSet`'s `Drop`
/// doing nothing (mutation tried by hand): the members stay alive, waiting.
#[test]
fn no_task_outlives_its_dropped_set() {
    let drops = Count::default();
    let finished = Count::default();
    let live = {
        let (drops, finished) = (drops.clone(), finished.clone());
        miniloop::run(async move {
            let mut set = JoinSet::new();
            for _ in 0..5 {
                let counter = DropCounter::new(&drops);
                let finished = finished.clone();
                set.spawn(async move {
                    let _counter = counter;
                    miniloop::sleep(Duration::from_secs(3600)).await;
                    finished.bump();
                });
            }
            miniloop::yield_now().await; // every member runs and waits
            assert_eq!(drops.get(), 0);
            drop(set);
            miniloop::yield_now().await; // the aborted members go first
            drops.get()
        })
    };
    assert_eq!(
        live, 5,
        "every member's future was dropped before main's next turn"
    );
    assert_eq!(finished.get(), 0);
}

/// A set held by a task that is aborted goes with it, and takes its members along: structured
/// concurrency across two levels.
#[test]
fn aborting_the_task_that_owns_a_set_ends_the_set_s_tasks_too() {
    let drops = Count::default();
    let inner_drops = drops.clone();
    let gone = miniloop::run(async move {
        let owner = miniloop::spawn(async move {
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let counter = DropCounter::new(&inner_drops);
                set.spawn(async move {
                    let _counter = counter;
                    miniloop::sleep(Duration::from_secs(3600)).await;
                });
            }
            set.join_next().await;
        });
        miniloop::yield_now().await;
        miniloop::yield_now().await;
        owner.abort();
        assert!(owner.await.unwrap_err().is_cancelled());
        miniloop::yield_now().await;
        drops.get()
    });
    assert_eq!(gone, 3);
}

/// Python's `TaskGroup`: the first member that fails makes the caller stop the others
/// (`shutdown`), and they are gone, none of them finished, by the time it returns.
#[test]
fn a_failing_member_leads_the_caller_to_shut_the_group_down() {
    let drops = Count::default();
    let finished = Rc::new(RefCell::new(Vec::new()));
    let outcome = {
        let (drops, finished) = (drops.clone(), Rc::clone(&finished));
        miniloop::run(async move {
            let mut group = JoinSet::new();
            for (name, ms) in [
                ("a", 3_600_000),
                ("b", 3_600_000),
                ("fails", 5),
                ("c", 3_600_000),
            ] {
                let counter = DropCounter::new(&drops);
                let finished = Rc::clone(&finished);
                group.spawn_local(async move {
                    let _counter = counter;
                    miniloop::sleep(Duration::from_millis(ms)).await;
                    if name == "fails" {
                        panic!("{name} failed");
                    }
                    finished.borrow_mut().push(name);
                });
            }
            let first = group.join_next().await.unwrap();
            let error = first.expect_err("the failing member comes first");
            assert!(error.is_panic());
            assert_eq!(group.len(), 3);
            group.shutdown().await;
            assert!(group.is_empty());
            (error.to_string(), drops.get())
        })
    };
    assert!(
        outcome
            .0
            .ends_with("panicked with message \"fails failed\""),
        "{}",
        outcome.0
    );
    assert_eq!(
        outcome.1, 4,
        "every member's future is gone when `shutdown` returns"
    );
    assert!(finished.borrow().is_empty());
}

/// The `AbortHandle` `spawn` returns stops that one member.
#[test]
fn the_abort_handle_from_spawn_stops_one_member() {
    miniloop::run(async {
        let mut set = JoinSet::new();
        let slow = set.spawn(after(3_600_000));
        set.spawn(after(1));
        slow.abort();
        let first = set.join_next().await.unwrap();
        assert!(
            first.unwrap_err().is_cancelled(),
            "the aborted one ends first"
        );
        assert_eq!(set.join_next().await.unwrap().unwrap(), 1);
        assert!(slow.is_finished());
    });
}

/// A member woken from another thread reaches the set's awaiting task (the members' wakers
/// are ordinary wakers), and a set whose output is `Send` may itself move between threads.
/// The watchdog (`timeout`) fails the test, naming the set's pending member, if the wake
/// from the other thread were lost.
#[miniloop::test(timeout = "10s")]
async fn a_member_woken_from_another_thread_is_joined() {
    let mut set = JoinSet::new();
    let (sender, receiver) = futures::channel::oneshot::channel();
    set.spawn(async move { receiver.await.unwrap() });
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(5));
        sender.send(7_u32).unwrap();
    });
    assert_eq!(set.join_next().await.unwrap().unwrap(), 7);
}

#[test]
fn join_set_spawn_outside_a_loop_panics_like_spawn() {
    let message = common::expect_panic(|| {
        let mut set = JoinSet::new();
        set.spawn(async { 1 });
    });
    assert!(message.starts_with("`miniloop::spawn` called outside an event loop"));
}
