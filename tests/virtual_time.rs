//! Virtual time (`EventLoop::builder().start_paused(true)`, issue 19): hours of timers in
//! milliseconds, in the order real time gives; deadlines met exactly; the clock moved by hand;
//! and no jump while a socket or a blocking job may still answer.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::lesson_output::{assert_lines, assert_quoted_in_chapter, numbers_after, run_lesson};
use common::{within, WATCHDOG};
use miniloop::time::{self, advance, interval};
use miniloop::{select, sleep, spawn, spawn_blocking, timeout, Either, EventLoop};

const HOUR: Duration = Duration::from_secs(3600);

/// A loop with a paused virtual clock.
fn paused_loop() -> EventLoop {
    EventLoop::builder().start_paused(true).build()
}

/// Three tasks that sleep `unit`s (a: 1 then 5, b: 2, 2 then 3, c: 5) and note each wake,
/// with the time since the start as measured by `time::now`. No two wakes fall at the same
/// time, so a real run has one order too, however late each wake is (by less than a unit).
async fn three_sleepers(unit: Duration) -> Vec<(String, Duration)> {
    let start = time::now();
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = [("a", vec![1, 5]), ("b", vec![2, 2, 3]), ("c", vec![5])]
        .into_iter()
        .map(|(name, units)| {
            let log = Arc::clone(&log);
            spawn(async move {
                for (step, units) in units.into_iter().enumerate() {
                    sleep(unit * units).await;
                    let at = time::now() - start;
                    log.lock()
                        .unwrap()
                        .push((format!("{name}{}", step + 1), at));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    log
}

/// The first test: sleeps of hours finish at once, with the wakes in the order a
/// real-time run of the same program gives, each at exactly its virtual time. Fails if the
/// clock does not jump (the watchdog stops the seven-hour wait after 10 s) or jumps to the
/// wrong time.
#[test]
fn hours_of_sleeps_finish_at_once_in_the_order_real_time_gives() {
    let (virtual_log, wall) = within(WATCHDOG, || {
        let wall = Instant::now();
        let log = paused_loop().run_until_complete(three_sleepers(HOUR));
        (log, wall.elapsed())
    });
    let real_log = miniloop::run(three_sleepers(Duration::from_millis(50)));
    let names = |log: &[(String, Duration)]| -> Vec<String> {
        log.iter().map(|(name, _)| name.clone()).collect()
    };
    assert_eq!(names(&virtual_log), ["a1", "b1", "b2", "c1", "a2", "b3"]);
    assert_eq!(names(&virtual_log), names(&real_log), "real: {real_log:?}");
    let hours: Vec<Duration> = virtual_log.iter().map(|(_, at)| *at).collect();
    assert_eq!(hours, [1, 2, 4, 5, 6, 7].map(|n| HOUR * n), "exact times");
    // The watchdog is what fails if the clock does not jump: real time would take 7 hours.
    assert!(wall < WATCHDOG);
}

/// A `timeout` fires at exactly its virtual deadline, and work that ends first wins at
/// exactly its own time.
#[test]
fn a_timeout_fires_exactly_at_its_virtual_deadline() {
    let (late, early) = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let start = time::now();
            let late = timeout(HOUR, sleep(HOUR * 2)).await;
            let late = (late.is_err(), time::now() - start);
            let start = time::now();
            let early = timeout(HOUR * 2, async {
                sleep(HOUR).await;
                "done"
            })
            .await;
            (late, (early, time::now() - start))
        })
    });
    assert_eq!(
        late,
        (true, HOUR),
        "the timeout fires at one hour, not later"
    );
    assert_eq!(early, (Ok("done"), HOUR));
}

/// An interval of one minute ticks 1440 times over a virtual day, each tick on time (none
/// skipped, none late), and the day ends exactly a day after the start.
#[test]
fn an_interval_ticks_once_a_minute_for_a_whole_virtual_day() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let (ticks, on_time, day) = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let start = time::now();
            let mut ticker = interval(Duration::from_secs(60));
            let (mut ticks, mut on_time) = (0, 0);
            loop {
                let scheduled = ticker.tick().await;
                if scheduled >= start + DAY {
                    break;
                }
                ticks += 1;
                on_time += usize::from(scheduled == time::now());
            }
            (ticks, on_time, time::now() - start)
        })
    });
    assert_eq!(ticks, 24 * 60);
    assert_eq!(on_time, ticks, "every tick came when it was scheduled");
    assert_eq!(day, DAY);
}

/// While a task waits for a socket, the clock does not jump: a one-hour sleep raced against
/// a read that a thread answers after a tenth of a real second loses to the read. Once nobody
/// waits for the socket, the next hour is skipped at once again. Fails with the reactor's
/// filed wakers left out of `is_outside_work_pending` (tried by hand): the sleep won at once.
#[test]
#[cfg_attr(miri, ignore = "opens sockets, which miri does not support")]
fn the_clock_does_not_jump_while_a_task_waits_for_a_socket() {
    let (winner, waited, then) = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let listener = miniloop::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let address = listener.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let mut client = std::net::TcpStream::connect(address).unwrap();
                std::thread::sleep(Duration::from_millis(100));
                client.write_all(b"ready").unwrap();
                client // kept open until joined
            });
            let (mut stream, _) = listener.accept().await.unwrap();
            let start = time::now();
            let mut buffer = [0; 5];
            let winner = match select(stream.read(&mut buffer), sleep(HOUR)).await {
                Either::Left(read) => format!("read {} bytes", read.unwrap()),
                Either::Right(()) => "the one-hour sleep".to_string(),
            };
            let waited = time::now() - start;
            drop(peer.join().unwrap());
            let start = time::now();
            sleep(HOUR).await;
            (winner, waited, time::now() - start)
        })
    });
    assert_eq!(winner, "read 5 bytes");
    assert!(
        waited < HOUR,
        "the clock followed the real wait, not the timer: {waited:?}"
    );
    assert_eq!(then, HOUR, "with no socket awaited, the clock jumps again");
}

/// While a `spawn_blocking` job started from the loop runs, the clock does not jump: the job
/// (a tenth of a real second) beats a one-hour sleep. After it, the clock jumps again.
/// Fails with the job's count left out of `is_outside_work_pending` (tried by hand): the
/// sleep won at once.
#[test]
fn the_clock_does_not_jump_while_a_blocking_job_runs() {
    let (winner, waited, then) = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let start = time::now();
            let job = spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(100));
                7
            });
            let winner = match select(job, sleep(HOUR)).await {
                Either::Left(output) => format!("the job, with {}", output.unwrap()),
                Either::Right(()) => "the one-hour sleep".to_string(),
            };
            let waited = time::now() - start;
            let start = time::now();
            sleep(HOUR).await;
            (winner, waited, time::now() - start)
        })
    });
    assert_eq!(winner, "the job, with 7");
    assert!(waited < HOUR, "{waited:?}");
    assert_eq!(then, HOUR, "with the job done, the clock jumps again");
}

/// A job nobody awaits (its `JoinHandle` dropped) holds the clock too, and when it ends the
/// loop looks again at once: nothing else wakes it (no task awaits the job's result), so the
/// job's end itself must, or the loop would sleep out its hour of real time. Found by the
/// third mutation run (issue 20): with `== 1` made `!= 1` in `Shared::blocking_job_ended`
/// (the last job's end then wakes nobody) this test hung until the watchdog.
#[test]
fn the_end_of_a_detached_blocking_job_lets_the_clock_jump_at_once() {
    // The watchdog (ten real seconds) is the check: the loop must not wait its hour.
    let waited = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let start = time::now();
            drop(spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(50))
            }));
            sleep(HOUR).await;
            time::now() - start
        })
    });
    assert!(waited >= HOUR, "{waited:?}");
}

/// `advance` moves the clock by hand and runs the tasks whose timers fell due, in deadline
/// order, before it returns; a timer not yet due stays pending.
#[test]
fn advance_moves_the_clock_by_hand_and_runs_the_tasks_it_made_due() {
    let log = within(WATCHDOG, || {
        paused_loop().run_until_complete(async {
            let log = Arc::new(Mutex::new(Vec::new()));
            for minutes in [30, 10, 90] {
                let log = Arc::clone(&log);
                spawn(async move {
                    sleep(Duration::from_secs(60 * minutes)).await;
                    log.lock().unwrap().push(minutes);
                });
            }
            miniloop::yield_now().await; // the tasks file their timers
            advance(HOUR).await;
            let after_an_hour = log.lock().unwrap().clone();
            advance(HOUR).await;
            let after_two_hours = log.lock().unwrap().clone();
            (after_an_hour, after_two_hours)
        })
    });
    assert_eq!(log, (vec![10, 30], vec![10, 30, 90]));
}

/// `resume` lets the clock run with the real one from where it stood, `pause` stops it
/// again; a paused clock reads the same however much real time passes.
#[test]
fn resume_lets_the_clock_run_and_pause_stops_it() {
    paused_loop().run_until_complete(async {
        let paused_at = time::now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            time::now(),
            paused_at,
            "paused: the real time passed is not seen"
        );
        time::resume();
        std::thread::sleep(Duration::from_millis(2));
        let running = time::now();
        assert!(running >= paused_at + Duration::from_millis(2));
        time::pause();
        let stopped = time::now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(time::now(), stopped);
        assert!(stopped >= running);
    });
}

/// Outside any loop, and on a loop with the real clock, `time::now` is the real clock.
#[test]
fn now_is_the_real_clock_outside_a_paused_loop() {
    let before = Instant::now();
    let outside = time::now();
    let inside = miniloop::run(async { time::now() });
    let after = Instant::now();
    assert!(before <= outside && outside <= inside && inside <= after);
}

#[test]
#[should_panic(
    expected = "`time::advance` called outside an event loop; the virtual clock \
                           belongs to a loop built with `EventLoop::builder().start_paused(true)`"
)]
fn advance_outside_a_loop_says_where_the_clock_lives() {
    futures::executor::block_on(advance(HOUR));
}

#[test]
#[should_panic(
    expected = "`time::pause` called on an event loop that runs on the real clock; \
                           only a loop built with `EventLoop::builder().start_paused(true)`"
)]
fn pause_on_a_real_clock_loop_says_how_to_build_a_paused_one() {
    miniloop::run(async { time::pause() });
}

#[test]
#[should_panic(expected = "only a paused clock jumps; call `time::pause()` first")]
fn advance_on_a_resumed_clock_says_to_pause_first() {
    paused_loop().run_until_complete(async {
        time::resume();
        advance(HOUR).await;
    });
}

/// Lesson 37: the retry loop's attempts start when its backoff says, on the virtual clock; the
/// one-hour timeout fires at exactly 1:00:00; the simulated time is the two parts' sum and at
/// least a thousand times the wall time; the real-clock run agrees and is never sooner; and
/// the chapter quotes the output.
#[test]
#[cfg_attr(miri, ignore = "runs the lessons as child processes")]
fn lesson_37_an_hour_of_backoff_runs_in_a_millisecond_with_real_times() {
    let output = run_lesson("37_an_hour_in_a_millisecond", None);
    let mut expected = vec![
        "1. retry with backoff (1s, doubling, at most 5 min; a call takes 2s), on a paused clock",
    ];
    expected.extend(std::iter::repeat_n("   attempt * at *", 17));
    expected.extend([
        "   answer \"200 OK\" on attempt 17, at 0:44:05",
        "2. a service that never comes back, under timeout(1 hour)",
        "   gave up after 20 attempts: deadline has elapsed (3600s)",
        "   at 1:00:00, exactly the deadline: true",
        "3. the numbers",
        "   time simulated:  1:44:05 (6245 s)",
        "   wall time taken: * ms",
        "   simulated / wall: * times faster than real time",
        "4. the same retry loop on the real clock, every delay 10000 times shorter",
        "   answer on attempt 17; the same as on the paused clock: true",
        "   took * ms of real time; 0:44:05 / 10000 = 264.5 ms; not sooner: true",
    ]);
    assert_lines(&output, &expected);
    // Attempt n starts 2 s (its predecessor's call) plus the backoff after the one before:
    // 1, 2, 4, ... seconds, at most 300.
    let starts: Vec<f64> = output
        .lines()
        .filter(|line| line.starts_with("   attempt "))
        .map(|line| {
            let [_, h, m, s] = common::lesson_output::numbers_in(line)[..] else {
                panic!("an attempt number and h:mm:ss in {line:?}");
            };
            h * 3600.0 + m * 60.0 + s
        })
        .collect();
    let mut backoff: f64 = 1.0;
    for pair in starts.windows(2) {
        assert_eq!(pair[1] - pair[0], 2.0 + backoff, "{output}");
        backoff = (backoff * 2.0).min(300.0);
    }
    let wall_ms = numbers_after(&output, "   wall time taken: ")[0];
    let speed_up = numbers_after(&output, "   simulated / wall: ")[0];
    assert!(speed_up >= 1000.0, "{output}");
    let implied = 6245.0 * 1000.0 / wall_ms;
    assert!(
        (speed_up / implied - 1.0).abs() < 0.01,
        "the speed-up is simulated / wall: {output}"
    );
    let real_ms = numbers_after(&output, "   took ")[0];
    assert!(real_ms >= 264.5, "{output}");
    assert_quoted_in_chapter(
        "docs/37-an-hour-in-a-millisecond.md",
        &output,
        &["   wall time taken:", "   simulated / wall:", "   took "],
    );
}
