//! `spawn_local`: tasks whose futures and outputs are not `Send`, their handles, their
//! wakers on other threads; `AbortHandle`; `futures::select!` on `JoinHandle`s.

mod common;
use common::{expect_panic, within, Count, DropCounter, WATCHDOG};

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::ThreadId;
use std::time::Duration;

use miniloop::{AbortHandle, EventLoop, JoinHandle, JoinSet};

// Compile-time promises: the handle of a task whose output is `Send` is `Send + Sync` (and
// `Unpin`, and `UnwindSafe`), whatever task made it; an `AbortHandle` is all of that for any
// task; the handle of a `!Send` output is still `Unpin` and `UnwindSafe`. (That it is not
// `Send` is the `compile_fail` example on `JoinHandle`.)
const _: () = {
    const fn send_sync_unpin<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}
    const fn unpin_unwind_safe<T: Unpin + UnwindSafe + RefUnwindSafe>() {}
    const fn clone_send_sync<T: Clone + Send + Sync>() {}
    send_sync_unpin::<JoinHandle<u8>>();
    send_sync_unpin::<AbortHandle>();
    clone_send_sync::<AbortHandle>();
    unpin_unwind_safe::<JoinHandle<Rc<u8>>>();
    unpin_unwind_safe::<JoinHandle<std::marker::PhantomPinned>>();
    send_sync_unpin::<JoinSet<u8>>();
};

/// Records the thread it is dropped on.
struct NotesDropThread(Rc<Cell<Option<ThreadId>>>);

impl Drop for NotesDropThread {
    fn drop(&mut self) {
        self.0.set(Some(std::thread::current().id()));
    }
}

#[test]
// The point of the test: a `RefCell` borrow (not `Send`) held across awaits, on one thread.
#[allow(clippy::await_holding_refcell_ref)]
fn a_local_task_holds_an_rc_and_a_refcell_borrow_across_awaits() {
    let log = miniloop::run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let in_task = Rc::clone(&log);
        let handle = miniloop::spawn_local(async move {
            let mut borrowed = in_task.borrow_mut(); // a `RefCell` borrow held across awaits
            for step in 0..3 {
                borrowed.push(step);
                miniloop::sleep(Duration::from_millis(1)).await;
            }
            drop(borrowed);
            Rc::strong_count(&in_task)
        });
        assert_eq!(handle.await.unwrap(), 2, "the task and main share the `Rc`");
        Rc::try_unwrap(log)
            .expect("the task's clone is gone")
            .into_inner()
    });
    assert_eq!(log, [0, 1, 2]);
}

#[test]
fn a_not_send_output_comes_back_through_the_handle() {
    let event_loop = EventLoop::new();
    let handle = event_loop.spawn_local(async { Rc::new(RefCell::new(String::from("local"))) });
    let output = event_loop.run_until_complete(async { handle.await.unwrap() });
    output.borrow_mut().push_str(" output");
    assert_eq!(*output.borrow(), "local output");
    assert_eq!(Rc::strong_count(&output), 1);
}

/// Hands its waker to another thread, which wakes it (once the `Rc` is held); `Ready` on the
/// poll after that.
struct WokenFromAfar {
    to_thread: Option<mpsc::Sender<Waker>>,
}

impl Future for WokenFromAfar {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.to_thread.take() {
            Some(to_thread) => {
                to_thread.send(cx.waker().clone()).unwrap();
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

/// The key-based remote wake reaches a local task: its waker, sent to another thread, wakes
/// it there and is dropped there, while the task, its `Rc` and its future stay on the loop's
/// thread. Fails with the remote wake path doing nothing (mutation tried by hand: `wake_remote`
/// returning early): the watchdog fires.
#[test]
fn a_local_task_is_woken_by_its_waker_from_another_thread() {
    let loop_thread = within(WATCHDOG, || {
        let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
        let waking = std::thread::spawn(move || {
            let waker = waker_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(5)); // the loop is parked by now
            waker.wake_by_ref();
            drop(waker); // the last clone of it, on this thread
        });
        let dropped_on = Rc::new(Cell::new(None));
        let guard = NotesDropThread(Rc::clone(&dropped_on));
        let polls = miniloop::run(async move {
            let handle = miniloop::spawn_local(async move {
                let guard = guard; // an `Rc` inside, held across the pause
                WokenFromAfar {
                    to_thread: Some(waker_tx),
                }
                .await;
                drop(guard);
                "woken"
            });
            handle.await.unwrap()
        });
        assert_eq!(polls, "woken");
        waking.join().unwrap();
        let dropped_on = dropped_on.get().expect("the future was dropped");
        assert_eq!(dropped_on, std::thread::current().id());
        dropped_on
    });
    assert_ne!(loop_thread, std::thread::current().id());
}

#[test]
fn spawn_local_outside_a_loop_panics_with_what_to_do() {
    let message = expect_panic(|| {
        drop(miniloop::spawn_local(async { Rc::new(1) }));
    });
    assert!(message.starts_with("`miniloop::spawn_local` called outside an event loop"));
    assert!(message.contains("wrap your program in `miniloop::run(async { ... })`"));
}

/// `#[track_caller]`: the panic names the caller's line, not miniloop's.
#[test]
fn spawn_local_outside_a_loop_blames_the_callers_line() {
    let (location_tx, location_rx) = mpsc::channel();
    let previous = std::panic::take_hook();
    // The hook is the process's: keep only this test's panic (others may run meanwhile).
    std::panic::set_hook(Box::new(move |info| {
        let message = common::panic_message(info.payload());
        if message.starts_with("`miniloop::spawn_local` called outside") {
            let _ = location_tx.send(info.location().map(|at| at.file().to_owned()));
        }
    }));
    let outcome = std::panic::catch_unwind(|| miniloop::spawn_local(async {}));
    std::panic::set_hook(previous);
    assert!(outcome.is_err());
    let file = location_rx.recv().unwrap().expect("a location");
    assert!(file.ends_with("tests/local.rs"), "{file}");
}

/// Dropping the loop cancels its local tasks on its own thread, before it returns; their
/// handles then say so.
#[test]
fn a_dropped_loop_drops_its_local_tasks_on_its_thread() {
    let drops = Count::default();
    let dropped_on = Rc::new(Cell::new(None));
    let event_loop = EventLoop::new();
    let guard = NotesDropThread(Rc::clone(&dropped_on));
    let counter = DropCounter::new(&drops);
    let handle = event_loop.spawn_local(async move {
        let _guards = (guard, counter);
        std::future::pending::<()>().await;
    });
    event_loop.run_until_complete(miniloop::yield_now()); // the task runs and waits
    assert_eq!(drops.get(), 0);
    drop(event_loop);
    assert_eq!(drops.get(), 1);
    assert_eq!(dropped_on.get(), Some(std::thread::current().id()));
    let error = miniloop::run(handle).unwrap_err();
    assert!(error.is_cancelled());
}

/// An `AbortHandle` taken from a local task's handle, sent to another thread, aborts the
/// task there: the future is dropped on the loop's thread and the handle hears `cancelled`.
#[test]
fn an_abort_handle_from_another_thread_cancels_a_local_task() {
    within(WATCHDOG, || {
        let drops = Count::default();
        let counter = DropCounter::new(&drops);
        let dropped_on = Rc::new(Cell::new(None));
        let guard = NotesDropThread(Rc::clone(&dropped_on));
        let outcome = miniloop::run(async move {
            let handle = miniloop::spawn_local(async move {
                let _guards = (guard, counter);
                miniloop::sleep(Duration::from_secs(3600)).await;
            });
            let abort = handle.abort_handle();
            assert_eq!(abort.id(), handle.id());
            assert!(!abort.is_finished());
            let aborting = abort.clone();
            std::thread::spawn(move || aborting.abort()).join().unwrap();
            let outcome = handle.await;
            assert!(abort.is_finished());
            outcome
        });
        assert!(outcome.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 1);
        assert_eq!(dropped_on.get(), Some(std::thread::current().id()));
    });
}

/// The abort flag is shared: aborting through the `AbortHandle` is what `JoinHandle::abort`
/// does, and after the task finished it changes nothing.
#[test]
fn abort_after_the_task_finished_changes_nothing() {
    miniloop::run(async {
        let handle = miniloop::spawn(async { 5 });
        let abort = handle.abort_handle();
        miniloop::yield_now().await;
        assert!(abort.is_finished());
        abort.abort();
        assert_eq!(handle.await.unwrap(), 5);
    });
}

/// `JoinHandle` is a `FusedFuture`: `select!` takes it without `.fuse()`, and skips it once
/// it has returned. Fails with `is_terminated` always `false` (mutation tried by hand): the
/// second round polls the finished handle again, which panics.
#[test]
fn select_takes_join_handles_as_they_are_and_skips_a_finished_one() {
    use futures::future::FusedFuture;
    let order = miniloop::run(async {
        let (release, released) = futures::channel::oneshot::channel::<()>();
        let mut release = Some(release);
        let mut first = miniloop::spawn(async {
            miniloop::yield_now().await;
            "first"
        });
        let mut second = miniloop::spawn_local(async {
            released.await.unwrap(); // only once `first` has been selected
            Rc::new("second")
        });
        let mut order = Vec::new();
        for _ in 0..2 {
            futures::select! {
                name = first => order.push(name.unwrap()),
                name = second => order.push(*name.unwrap()),
            }
            if let Some(release) = release.take() {
                release.send(()).unwrap();
            }
        }
        assert!(first.is_terminated() && second.is_terminated());
        order
    });
    assert_eq!(order, ["first", "second"]);
}

#[test]
fn a_handle_is_not_terminated_until_it_returned_its_result() {
    use futures::future::FusedFuture;
    miniloop::run(async {
        let mut handle = miniloop::spawn(async { 1 });
        miniloop::yield_now().await;
        assert!(handle.is_finished(), "the task finished");
        assert!(
            !handle.is_terminated(),
            "but the handle has not returned it yet"
        );
        assert_eq!((&mut handle).await.unwrap(), 1);
        assert!(handle.is_terminated());
    });
}

/// `task::Builder::spawn_local` names the task and keeps it local like `spawn_local`.
#[test]
fn a_named_local_task_runs_like_any_other() {
    let answer = miniloop::run(async {
        let shared = Rc::new(Cell::new(1));
        let in_task = Rc::clone(&shared);
        let handle = miniloop::task::Builder::new()
            .name("local")
            .spawn_local(async move {
                miniloop::yield_now().await;
                in_task.set(in_task.get() + 1);
            });
        handle.await.unwrap();
        shared.get()
    });
    assert_eq!(answer, 2);
}

/// A waker whose last drop spawns a local task on the current loop, and keeps its handle.
struct SpawnsWhenDropped {
    drops: Count,
    spawned: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl futures::task::ArcWake for SpawnsWhenDropped {
    fn wake_by_ref(_: &Arc<Self>) {}
}

impl Drop for SpawnsWhenDropped {
    fn drop(&mut self) {
        let counter = DropCounter::new(&self.drops);
        let handle = miniloop::spawn_local(async move {
            let _counter = counter;
            std::future::pending::<()>().await;
        });
        *self.spawned.lock().unwrap() = Some(handle);
    }
}

/// The one path where a loop's table is dropped with a task in it: a task spawned after the
/// loop's shutdown dropped its last futures (here by a timer's waker, dropped when the timers
/// are cleared). Its future is dropped by the table's drop, on the loop's thread, and its
/// handle hears `cancelled`, although the handle (its output is `Send`) keeps the task alive
/// and could have carried it to another thread. Fails with `TaskRef`'s `Drop` doing nothing
/// (mutation tried by hand): the future is never dropped, and the handle never hears.
#[test]
fn a_task_spawned_while_the_loop_is_torn_down_is_cancelled_on_its_thread() {
    let drops = Count::default();
    let spawned = Arc::new(Mutex::new(None));
    let event_loop = EventLoop::new();
    let waker = futures::task::waker(Arc::new(SpawnsWhenDropped {
        drops: drops.clone(),
        spawned: Arc::clone(&spawned),
    }));
    // Outlives the loop, so that its timer, and the waker's last clone in it, stay filed until
    // the loop shuts down.
    let mut sleep = Box::pin(miniloop::sleep(Duration::from_secs(3600)));
    event_loop.run_until_complete(async {
        let polled = sleep.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(polled.is_pending());
    });
    drop(waker);
    drop(event_loop);
    drop(sleep); // its loop is gone: nothing to cancel
    let handle = spawned
        .lock()
        .unwrap()
        .take()
        .expect("the waker spawned when dropped");
    assert_eq!(
        drops.get(),
        1,
        "the late task's future was dropped with the loop"
    );
    let outcome = std::thread::spawn(move || miniloop::run(handle))
        .join()
        .unwrap();
    assert!(outcome.unwrap_err().is_cancelled());
}
