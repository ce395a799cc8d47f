//! The multi-thread runtime (`src/multi_thread.rs`): the API it shares with the single loop,
//! its shutdown, its sleep protocol and its timers.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{expect_panic, within, Count, DropCounter, WATCHDOG};
use miniloop::multi_thread::Runtime;
use miniloop::{sleep, spawn, yield_now};

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a long loop (1 100 tasks): longer than the watchdog under miri; tests/multi_thread_stress.rs runs these paths with small counts"
)]
fn tasks_spawned_inside_and_outside_all_finish_with_their_outputs() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let outside: Vec<_> = (0..100u64).map(|n| rt.spawn(async move { n })).collect();
        let sum = rt.block_on(async move {
            let inside: Vec<_> = (0..1000u64)
                .map(|n| {
                    spawn(async move {
                        yield_now().await;
                        n * 2
                    })
                })
                .collect();
            let mut sum = 0;
            for handle in inside.into_iter().chain(outside) {
                sum += handle.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 999 * 1000 + 99 * 100 / 2);
        // A worker lets go of a task just after its handle got the output: wait for that.
        while rt.live_tasks() != 0 {
            std::thread::yield_now();
        }
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a long loop (200 tasks of 100 000 multiplications): longer than the watchdog under miri; tests/multi_thread_stress.rs runs these paths with small counts"
)]
fn both_workers_poll_tasks_when_one_task_spawns_them_all() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        // Spawned by a task, so onto one worker's own queue: the other must steal.
        rt.block_on(rt.spawn(async {
            // Fewer than a local queue holds (256), so none overflow to the shared queue.
            let handles: Vec<_> = (0..200)
                .map(|_| {
                    spawn(async {
                        // Some CPU work, so that the other worker has time to steal.
                        let mut x = 1u64;
                        for i in 0..100_000u64 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
                        }
                        std::hint::black_box(x)
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }))
        .unwrap();
        let stats = rt.worker_stats();
        assert!(
            stats.iter().all(|worker| worker.polls > 0),
            "every worker ran tasks: {stats:?}"
        );
        assert!(stats.iter().map(|w| w.stolen).sum::<u64>() > 0, "{stats:?}");
    });
}

#[test]
fn sleep_timeout_and_interval_work_on_the_workers() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let elapsed = rt.block_on(async {
            let start = Instant::now();
            let sleepers: Vec<_> = (1..=20u64)
                .map(|n| {
                    spawn(async move {
                        sleep(Duration::from_millis(n * 2)).await;
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for sleeper in sleepers {
                total += sleeper.await.unwrap();
            }
            assert_eq!(total, 210);
            let late = miniloop::timeout(Duration::from_millis(5), sleep(Duration::from_secs(60)));
            assert!(late.await.is_err());
            start.elapsed()
        });
        assert!(elapsed >= Duration::from_millis(45), "{elapsed:?}");
        assert!(!rt.has_timers(), "fired and dropped sleeps leave the queue");
    });
}

#[test]
fn a_panicking_task_is_reported_and_the_runtime_goes_on() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        rt.block_on(async {
            let bad = spawn(async { panic!("boom") });
            let error = bad.await.unwrap_err();
            assert!(error.is_panic());
            assert_eq!(spawn(async { 5 }).await.unwrap(), 5);
        });
    });
}

#[test]
fn abort_cancels_a_waiting_task_and_drops_its_future() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let drops = Count::default();
        let guard = DropCounter::new(&drops);
        rt.block_on(async move {
            let sleeper = spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            });
            yield_now().await;
            sleeper.abort();
            assert!(sleeper.await.unwrap_err().is_cancelled());
        });
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn dropping_the_runtime_cancels_every_unfinished_task_once() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let drops = Count::default();
        let handles: Vec<_> = (0..50)
            .map(|n| {
                let guard = DropCounter::new(&drops);
                rt.spawn(async move {
                    let _guard = guard;
                    if n % 2 == 0 {
                        sleep(Duration::from_secs(3600)).await; // waits on a timer
                    } else {
                        std::future::pending::<()>().await; // waits on nothing at all
                    }
                })
            })
            .collect();
        rt.block_on(sleep(Duration::from_millis(20)));
        drop(rt);
        assert_eq!(drops.get(), 50, "every future dropped exactly once");
        // The handles answer, on any executor, after their runtime is gone.
        miniloop::run(async move {
            for handle in handles {
                assert!(handle.await.unwrap_err().is_cancelled());
            }
        });
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a long loop (400 spawns from 4 threads): longer than the watchdog under miri; tests/multi_thread_stress.rs runs these paths with small counts"
)]
fn a_handle_spawns_from_other_threads_and_wakes_come_from_anywhere() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let handle = rt.handle();
        let (sender, receiver) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let handle = handle.clone();
                let sender = sender.clone();
                std::thread::spawn(move || {
                    for n in 0..100u64 {
                        sender
                            .send(handle.spawn(async move { t * 1000 + n }))
                            .unwrap();
                    }
                })
            })
            .collect();
        drop(sender);
        for thread in threads {
            thread.join().unwrap();
        }
        let joins: Vec<_> = receiver.into_iter().collect();
        let sum = rt.block_on(async move {
            let mut sum = 0;
            for join in joins {
                sum += join.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..4).map(|t| t * 100_000 + 4950).sum::<u64>());
        // A task woken from a foreign thread through a channel.
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let waiter = rt.spawn(async move { rx.await.unwrap() });
        std::thread::spawn(move || tx.send(7).unwrap())
            .join()
            .unwrap();
        assert_eq!(rt.block_on(waiter).unwrap(), 7);
    });
}

#[test]
fn block_on_refuses_to_nest_in_either_kind_of_executor() {
    let rt = Arc::new(runtime(1));
    let inner = Arc::clone(&rt);
    let message = expect_panic(move || {
        miniloop::run(async move { inner.block_on(async {}) });
    });
    assert!(
        message.contains("already running on this thread"),
        "{message}"
    );
    let inner = Arc::clone(&rt);
    let message = expect_panic(move || {
        let again = Arc::clone(&inner);
        inner.block_on(async move { again.block_on(async {}) });
    });
    assert!(
        message.contains("already running on this thread"),
        "{message}"
    );
    // And `miniloop::run` inside a task of the runtime.
    let result = rt.block_on(async { spawn(async { miniloop::run(async {}) }).await });
    let error = result.unwrap_err();
    assert!(error.is_panic());
}

#[test]
fn zero_workers_is_refused_with_a_hint() {
    let error = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("worker_threads"), "{error}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "a long loop (20 000 polls): longer than the watchdog under miri; tests/multi_thread_stress.rs runs these paths with small counts"
)]
fn a_task_woken_while_it_runs_is_polled_again_never_twice_at_once() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let running = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let wakers = Arc::new(Mutex::new(Vec::<std::task::Waker>::new()));
        rt.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let (running, overlaps, wakers) = (
                        Arc::clone(&running),
                        Arc::clone(&overlaps),
                        Arc::clone(&wakers),
                    );
                    spawn(std::future::poll_fn(move |cx| {
                        if running.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                        }
                        // Every other task's waker, woken while this one runs.
                        let others = std::mem::take(&mut *wakers.lock().unwrap());
                        for waker in others {
                            waker.wake();
                        }
                        wakers.lock().unwrap().push(cx.waker().clone());
                        running.fetch_sub(1, Ordering::SeqCst);
                        static POLLS: AtomicUsize = AtomicUsize::new(0);
                        if POLLS.fetch_add(1, Ordering::SeqCst) > 20_000 {
                            for waker in std::mem::take(&mut *wakers.lock().unwrap()) {
                                waker.wake();
                            }
                            std::task::Poll::Ready(())
                        } else {
                            std::task::Poll::Pending
                        }
                    }))
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        // Not a proof (tasks are different futures here); the state machine's unit tests and
        // the stress test check one task's polls never overlap.
        let _ = overlaps.load(Ordering::SeqCst);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "starts a blocking-pool thread, which outlives the test (10 s keep-alive), and miri \
              fails a process that exits with threads still running"
)]
fn join_sets_blocking_jobs_named_tasks_and_handle_current_work_on_the_workers() {
    within(WATCHDOG, || {
        let rt = runtime(2);
        let total = rt.block_on(async {
            let mut set = miniloop::JoinSet::new();
            for n in 0..10u64 {
                set.spawn(async move { n });
            }
            let mut total = 0;
            while let Some(result) = set.join_next().await {
                total += result.unwrap();
            }
            total += miniloop::spawn_blocking(|| 100).await.unwrap();
            let named = miniloop::task::Builder::new()
                .name("named")
                .spawn(async { 1000 });
            total += named.await.unwrap();
            let handle = miniloop::multi_thread::Handle::current();
            total += spawn(async move { handle.spawn(async { 10_000 }).await.unwrap() })
                .await
                .unwrap();
            total
        });
        assert_eq!(total, 45 + 100 + 1000 + 10_000);
    });
    let message = expect_panic(|| {
        let _ = miniloop::multi_thread::Handle::current();
    });
    assert!(
        message.contains("outside a multi-thread runtime"),
        "{message}"
    );
}
