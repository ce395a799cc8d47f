//! Timers: `sleep`, `sleep_until`, `timeout`, `interval` (reliability checklist §3.5
//! "Timers"): never early, ties in creation order, edge durations, cancellation, no spinning.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::{
    counting_waker, thread_cpu_time, within, Count, DropCounter, PollCounter, Trace, WATCHDOG,
};
use futures::channel::{mpsc, oneshot};
use futures::StreamExt;
use miniloop::{sleep, sleep_until, timeout, EventLoop};

/// Proves that `sleep(d)` never completes before `d` has passed, over 50 sleeps of odd,
/// mostly sub-millisecond durations (where rounding to milliseconds would show), and that
/// none is absurdly late.
#[test]
fn sleep_never_completes_before_its_duration() {
    let runs = miniloop::run(async {
        let mut runs = Vec::new();
        for i in 1..=50u32 {
            let duration = Duration::from_micros(97) * i;
            let start = Instant::now();
            sleep(duration).await;
            runs.push((duration, start.elapsed()));
        }
        runs
    });
    for (duration, elapsed) in runs {
        assert!(
            elapsed >= duration,
            "sleep({duration:?}) completed after {elapsed:?}"
        );
        assert!(
            elapsed < duration + Duration::from_millis(500),
            "sleep({duration:?}) took {elapsed:?}"
        );
    }
}

/// Proves that timers sharing one deadline fire in the order their `Sleep`s were created, even
/// when they are first polled in the opposite order (the tasks are spawned in reverse), and
/// that all of them fire.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: assumes spawning 100 tasks takes less than the 20 ms deadline; under miri the clock passes it first (the model test checks the order with sleeps filed in time)"
)]
fn equal_deadlines_fire_in_creation_order_whatever_the_poll_order() {
    let trace = Trace::default();
    let recorded = trace.clone();
    miniloop::run(async move {
        let deadline = Instant::now() + Duration::from_millis(20);
        let sleeps: Vec<_> = (0..100).map(|n| (n, sleep_until(deadline))).collect();
        let mut handles = Vec::new();
        for (n, sleep) in sleeps.into_iter().rev() {
            let trace = recorded.clone();
            handles.push(miniloop::spawn(async move {
                trace.push(format!("polled {n}"));
                sleep.await;
                trace.push(format!("fired {n}"));
            }));
        }
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let events = trace.events();
    let polled: Vec<String> = (0..100).rev().map(|n| format!("polled {n}")).collect();
    let fired: Vec<String> = (0..100).map(|n| format!("fired {n}")).collect();
    assert_eq!(
        events[..100],
        polled[..],
        "the sleeps were polled newest first"
    );
    assert_eq!(events[100..], fired[..], "but fired oldest first");
}

/// Proves that `Duration::ZERO` and a deadline in the past complete at once, and that
/// `Duration::MAX` neither overflows nor fires (a timeout around it elapses instead).
#[test]
fn zero_past_and_max_durations_work() {
    let (max_sleep, max_timeout) = within(WATCHDOG, || {
        miniloop::run(async {
            sleep(Duration::ZERO).await;
            let past = Instant::now()
                .checked_sub(Duration::from_secs(1))
                .unwrap_or_else(Instant::now);
            sleep_until(past).await;
            let max_sleep = timeout(Duration::from_millis(10), sleep(Duration::MAX)).await;
            let max_timeout = timeout(Duration::MAX, async { 7 }).await;
            (max_sleep, max_timeout)
        })
    });
    let elapsed = max_sleep.expect_err("a sleep of Duration::MAX never completes");
    assert_eq!(elapsed.to_string(), "deadline has elapsed (10ms)");
    assert_eq!(max_timeout, Ok(7));
}

/// Proves that `timeout` returns `Ok` for a future that finishes in time, and `Err(Elapsed)`
/// (printed as `deadline has elapsed (5ms)`) for one that does not, no earlier than the
/// deadline, dropping the slow future.
#[test]
fn timeout_gives_the_output_or_elapsed_and_drops_the_slow_future() {
    let slow_drops = Count::default();
    let guard = DropCounter::new(&slow_drops);
    let (fast, slow, waited) = miniloop::run(async move {
        let fast = timeout(Duration::from_secs(3600), async {
            sleep(Duration::from_millis(1)).await;
            "fast"
        })
        .await;
        let start = Instant::now();
        let slow = timeout(Duration::from_millis(5), async move {
            let _guard = guard;
            sleep(Duration::from_secs(3600)).await;
        })
        .await;
        (fast, slow, start.elapsed())
    });
    assert_eq!(fast, Ok("fast"));
    assert_eq!(
        slow.expect_err("the slow future times out").to_string(),
        "deadline has elapsed (5ms)"
    );
    assert!(
        waited >= Duration::from_millis(5),
        "timed out after {waited:?}"
    );
    assert_eq!(slow_drops.get(), 1);
}

/// Proves that `interval` ticks once at once, then on a fixed schedule: the instants it
/// returns are exactly `period` apart, and no tick completes before its instant.
#[test]
fn interval_ticks_at_least_a_period_apart() {
    let period = Duration::from_millis(10);
    let (start, ticks) = miniloop::run(async move {
        let start = Instant::now();
        let mut interval = miniloop::interval(period);
        let mut ticks = Vec::new();
        for _ in 0..5 {
            let scheduled = interval.tick().await;
            ticks.push((scheduled, Instant::now()));
        }
        (start, ticks)
    });
    let (first, _) = ticks[0];
    assert!(
        first >= start && first - start < Duration::from_millis(5),
        "the first tick is at once"
    );
    for pair in ticks.windows(2) {
        let ((previous, _), (scheduled, completed)) = (pair[0], pair[1]);
        assert!(
            scheduled - previous >= period,
            "ticks {:?} apart",
            scheduled - previous
        );
        assert!(
            completed >= scheduled,
            "a tick completed before its instant"
        );
    }
    let (_, last_completed) = ticks[4];
    assert!(last_completed - start >= 4 * period);
}

/// Proves that a `Sleep` dropped before its deadline never wakes the task that polled it:
/// after the deadline has passed, that task has still been polled only once.
#[test]
fn a_dropped_sleep_never_wakes_its_task() {
    let polls = Count::default();
    let polls_at_check = miniloop::run(async {
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let task = miniloop::spawn(PollCounter::new(&polls, async move {
            let mut early = sleep(Duration::from_millis(10));
            assert!(
                futures::poll!(&mut early).is_pending(),
                "filed in the timer queue"
            );
            drop(early); // the `Sleep` itself (a `pin!` would keep it alive to the block's end)
            go_rx.await.unwrap();
        }));
        sleep(Duration::from_millis(40)).await; // well past the dropped sleep's deadline
        let polls_at_check = polls.get();
        go_tx.send(()).unwrap();
        task.await.unwrap();
        polls_at_check
    });
    assert_eq!(polls_at_check, 1, "the dropped sleep woke its task");
    assert_eq!(polls.get(), 2, "then the channel woke it once");
}

/// Proves that a sleep polled with waker A and then with waker B wakes only B when it fires
/// (the stale-waker rule), and then completes.
#[test]
fn a_sleep_wakes_only_the_latest_waker_it_was_polled_with() {
    let (a_wakes, b_wakes) = miniloop::run(async {
        let (waker_a, a_wakes) = counting_waker();
        let (waker_b, b_wakes) = counting_waker();
        let mut timer = pin!(sleep(Duration::from_millis(5)));
        assert!(timer
            .as_mut()
            .poll(&mut Context::from_waker(&waker_a))
            .is_pending());
        assert!(timer
            .as_mut()
            .poll(&mut Context::from_waker(&waker_b))
            .is_pending());
        sleep(Duration::from_millis(20)).await;
        let counts = (a_wakes.get(), b_wakes.get());
        assert_eq!(
            timer.as_mut().poll(&mut Context::from_waker(&waker_b)),
            Poll::Ready(())
        );
        counts
    });
    assert_eq!((a_wakes, b_wakes), (0, 1));
}

/// Proves that the loop does not spin while it waits for a timer: across a 300 ms `sleep`
/// inside `run`, the loop's thread uses under 10% of that time in CPU.
#[test]
#[cfg_attr(
    miri,
    ignore = "calls getrusage, a foreign function miri cannot run, and measures CPU time"
)]
fn an_idle_loop_waiting_for_a_timer_uses_almost_no_cpu() {
    const NAP: Duration = Duration::from_millis(300);
    // Its own thread, so that nothing else (the harness, other tests) is counted.
    let (cpu, wall) = within(WATCHDOG, || {
        miniloop::run(async {
            let cpu_before = thread_cpu_time();
            let start = Instant::now();
            sleep(NAP).await;
            (thread_cpu_time() - cpu_before, start.elapsed())
        })
    });
    assert!(wall >= NAP);
    assert!(
        cpu < NAP / 10,
        "the loop used {cpu:?} of CPU in a {wall:?} sleep"
    );
}

/// Proves that a task's sleep still completes on time, never early, while another thread keeps
/// waking the loop (each remote wake ends a blocking wait before the deadline).
#[test]
fn a_sleeping_task_is_undisturbed_by_wakes_from_another_thread() {
    let (slept, messages) = within(WATCHDOG, || {
        miniloop::run(async {
            let sleeper = miniloop::spawn(async {
                let start = Instant::now();
                sleep(Duration::from_millis(100)).await;
                start.elapsed()
            });
            let (tx, rx) = mpsc::unbounded();
            let sender = std::thread::spawn(move || {
                for n in 0..5 {
                    // Paced, so that most messages find the loop blocked in its timed wait.
                    std::thread::sleep(Duration::from_millis(10));
                    tx.unbounded_send(n).unwrap();
                }
            });
            let messages: Vec<u32> = rx.collect().await;
            sender.join().unwrap();
            (sleeper.await.unwrap(), messages)
        })
    });
    assert_eq!(messages, [0, 1, 2, 3, 4]);
    assert!(
        slept >= Duration::from_millis(100),
        "the sleep completed after {slept:?}"
    );
}

/// Proves that timers created and cancelled in bulk do not pile up in the heap: a million
/// timeouts whose future finishes first leave a heap that stays small throughout.
///
/// Each timeout wraps a future that is pending once (`yield_now`), so its sleep really is
/// filed before it is cancelled; a timeout around a `ready` future completes on its first poll
/// without ever filing its sleep, and would prove nothing. A long timer stays filed
/// meanwhile, so the heap always has one live entry among the stale ones.
#[test]
#[cfg_attr(
    miri,
    ignore = "a long loop: a million timeouts; the heap compaction has its own unit test, which miri runs"
)]
fn a_million_cancelled_timeouts_leave_the_timer_heap_small() {
    const TIMEOUTS: u32 = 1_000_000;
    let event_loop = EventLoop::new();
    let long_timer = event_loop.spawn(sleep(Duration::from_secs(3600)));
    let largest_heap = event_loop.run_until_complete(async {
        let mut largest_heap = 0;
        for n in 0..TIMEOUTS {
            let answered = timeout(Duration::from_secs(3600), miniloop::yield_now()).await;
            assert!(answered.is_ok());
            if n % 1_000 == 0 {
                largest_heap = largest_heap.max(event_loop.timer_heap_len());
            }
        }
        largest_heap
    });
    assert!(
        largest_heap < 1_000,
        "the timer heap grew to {largest_heap} entries"
    );
    assert!(
        event_loop.timer_heap_len() < 1_000,
        "{} entries left",
        event_loop.timer_heap_len()
    );
    assert!(!long_timer.is_finished());
}

/// Guarantee (issue 20, item 2): a timer that fired, but whose `Sleep` is dropped before it
/// is polled again, leaves the timer queue. Here a `timeout` whose future and timer both come
/// due in the same turn (the loop is held past both deadlines): the future wins, and the
/// timeout's fired `Sleep` is dropped unpolled. Fails with the `Fired` guard in
/// `TimerQueue::cancel` made `false` (mutation tried by hand): the slot then stays taken, and
/// the loop counts a timer that nobody will ever collect.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: assumes the first poll comes before the 5 ms deadlines; under miri the clock passes them first"
)]
fn a_fired_timer_whose_sleep_is_dropped_unpolled_leaves_the_queue() {
    let event_loop = EventLoop::new();
    let outcome = event_loop.run_until_complete(async {
        let task = miniloop::spawn(async {
            timeout(Duration::from_millis(5), sleep(Duration::from_millis(5))).await
        });
        miniloop::yield_now().await; // the task has filed both timers
        assert!(event_loop.has_timers());
        // Hold the loop past both deadlines: the next `fire_due` fires them together.
        std::thread::sleep(Duration::from_millis(20));
        task.await.expect("the task does not panic")
    });
    assert!(outcome.is_ok(), "the future came first: {outcome:?}");
    assert!(!event_loop.has_timers(), "a fired timer is still filed");
}

/// Guarantee (issue 20, item 4): `EventLoop::timer_heap_len` gives the exact number of timer
/// entries, those of the in-order lane plus those of the heap. Five sleeps filed 10, 20, 30
/// (in order: the lane), then 5, 15 (out of order: the heap) hours from now make 5 entries.
/// Fails with `EventLoop::timer_heap_len` or `TimerQueue::heap_len` returning 0 or 1, or with
/// `heap_len` multiplying its two parts (3 * 2 = 6), mutations tried by hand.
#[test]
fn timer_heap_len_counts_the_lane_and_the_heap_exactly() {
    let event_loop = EventLoop::new();
    let base = Instant::now() + Duration::from_secs(3600);
    let filed = event_loop.run_until_complete(async {
        let sleepers: Vec<_> = [10, 20, 30, 5, 15]
            .into_iter()
            .map(|hours| miniloop::spawn(sleep_until(base + Duration::from_secs(3600 * hours))))
            .collect();
        miniloop::yield_now().await; // each sleeper was polled once, in spawn order
        let filed = event_loop.timer_heap_len();
        sleepers[0].abort(); // a cancelled entry stays until it reaches the front
        miniloop::yield_now().await;
        (filed, event_loop.timer_heap_len())
    });
    assert_eq!(filed, (5, 5));
}

/// Guarantee (issue 20, third mutation run): `EventLoop::table_sizes`, whose numbers
/// `tests/spike_memory.rs` prints when a spike is not given back, reports the tables as they
/// are: a slot per live task and per filed timer, capacities at least that, and the timers
/// in the in-order lane or the heap. Fails with `table_sizes` returning `[0; 6]` or `[1; 6]`,
/// the two mutants `cargo mutants` found that no test noticed.
#[test]
fn table_sizes_report_a_slot_per_live_task_and_per_filed_timer() {
    let event_loop = EventLoop::new();
    let sizes = event_loop.run_until_complete(async {
        let sleepers: Vec<_> = (0..100)
            .map(|_| miniloop::spawn(sleep(Duration::from_secs(3600))))
            .collect();
        miniloop::yield_now().await; // each sleeper was polled once and filed its timer
        let sizes = event_loop.table_sizes();
        drop(sleepers);
        sizes
    });
    let [slots, slot_capacity, timer_slots, timer_capacity, heap, lane] = sizes;
    assert!(slots >= 100, "100 live tasks, but {slots} task slots");
    assert!(
        slot_capacity >= slots,
        "task slot capacity {slot_capacity} < {slots} slots"
    );
    assert!(
        timer_slots >= 100,
        "100 filed timers, but {timer_slots} timer slots"
    );
    assert!(
        timer_capacity >= timer_slots,
        "timer slot capacity {timer_capacity} < {timer_slots}"
    );
    assert!(
        heap + lane >= 100,
        "100 timers, but the heap holds {heap} and the lane {lane}"
    );
}

/// Guarantee (issue 20, third mutation run): a spike of tasks is given back on the first
/// idle turn after it, not at the loop's next busy turn: checked from inside the loop, right
/// after a wait during which the loop had nothing else to do. Fails with the `!` of
/// `if !is_runnable` in `Core::run_until_complete` deleted (the table is then cut only on
/// turns that leave work behind, which this loop never has while it sleeps).
#[test]
#[cfg_attr(miri, ignore = "4 096 tasks: minutes under miri")]
fn the_idle_turn_after_a_spike_of_tasks_gives_the_task_table_back() {
    let event_loop = EventLoop::new();
    let slots = event_loop.run_until_complete(async {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..4096).map(|_| oneshot::channel::<()>()).unzip();
        let tasks: Vec<_> = receivers
            .into_iter()
            .map(|receiver| miniloop::spawn(async move { receiver.await.is_err() }))
            .collect();
        miniloop::yield_now().await; // each task ran once and waits for its sender
        let [during, ..] = event_loop.table_sizes();
        assert!(during >= 4096, "{during} slots for 4 096 live tasks");
        drop(senders); // each task wakes, and finishes at the next turn
                       // Main waits for another thread, and the loop has nothing to do meanwhile. (Not a
                       // timer: a timer fires at the end of a turn, which leaves main runnable, and the
                       // check below would then not see which kind of turn gave the table back.)
        let (wake, woken) = oneshot::channel::<()>();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            wake.send(()).unwrap();
        });
        woken.await.unwrap();
        waker.join().unwrap();
        drop(tasks);
        event_loop.table_sizes()[0]
    });
    assert_eq!(
        slots, 0,
        "the idle loop kept {slots} task slots of the spike"
    );
}

/// Proves that a miniloop timer awaited where no miniloop loop runs (here in futures'
/// `block_on`) panics with a message that names the problem.
#[test]
#[should_panic(expected = "outside an event loop")]
fn a_timer_polled_outside_a_loop_panics_with_a_clear_message() {
    futures::executor::block_on(sleep(Duration::from_millis(1)));
}

/// Proves that a `Sleep` created on one loop but polled on another works there (it files
/// itself in the loop that polls it), and that `reset` re-arms a completed sleep.
#[test]
#[cfg_attr(
    miri,
    ignore = "timing: assumes the first poll comes before the 10 ms deadline; under miri the clock passes it first"
)]
fn a_sleep_moved_between_loops_and_reset_still_waits_its_time() {
    let waited = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut timer = Box::pin(sleep(Duration::from_millis(10)));
    // Filed in a first loop, which is then dropped before the deadline.
    miniloop::run(async {
        assert!(futures::poll!(timer.as_mut()).is_pending());
    });
    miniloop::run(async {
        timer.as_mut().await;
        waited.lock().unwrap().push(started.elapsed());
        let restarted = Instant::now();
        timer.as_mut().reset(restarted + Duration::from_millis(10));
        timer.as_mut().await;
        waited.lock().unwrap().push(restarted.elapsed());
    });
    let waited = waited.lock().unwrap();
    assert!(
        waited.iter().all(|w| *w >= Duration::from_millis(10)),
        "waited {waited:?}"
    );
}
