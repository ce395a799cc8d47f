//! `Local`: how a future that is not `Send` becomes a task, for `spawn_local`.
//!
//! A `Task<F>` is `Send` and `Sync` because `F` is `Send` (its wakers and handles go to any
//! thread, `task.rs`). A future that holds an `Rc` or a `RefCell` borrow across an `.await`
//! is not, yet it is perfectly fine on a single-threaded loop as long as it never leaves the
//! loop's thread. `Local<F>` wraps such a future and says `Send` on its behalf; `task.rs`
//! keeps that promise by where the task's one `TaskRef` may go ("Rules this module keeps",
//! there): made on the loop's thread, straight into its table, dropped there, and the future
//! with it.
//!
//! # Why a wrapper, not a second kind of task
//! A local task is a `Task<Local<F>>`, polled by the same `poll_future` as any other task.
//! A second type parameter on `Task` would rename every copy of `Task<...>::poll_future<...>`,
//! the names the debugging chapter breaks on (`docs/debugging.md`); a wrapper only shows up
//! inside the brackets. And the wrapper is nothing but the future: no field, no check on a
//! poll, so `spawn_local` costs what `spawn` costs.
//!
//! # The last line of defence, and why it is not in `Local`
//! The one way the rules could be broken without a `TaskRef` leaving its thread is a task
//! freed with its future still inside, on another thread (its last `Arc` a waker there).
//! `Task`'s `Drop` checks exactly that: if the future is still there and the task is local,
//! it compares the thread with the task's home, a thread number kept in two bytes of the
//! header's padding, and aborts the process if they differ (`check_home_thread`); the future
//! must not be dropped there, and cannot be moved (it is pinned). The check could have been
//! `Local`'s own `Drop`, comparing with a thread stored in `Local` at spawn; that made a local
//! task 8 bytes bigger, and `spawn_local_many` 42 instructions per task (4%) dearer than
//! `spawn_many` (`scripts/callgrind_per_op.py`), by a `memcpy` of the now larger task and two
//! thread-local reads. Here a spawn copies the loop's thread number into the header, and a
//! freed task tests one branch that is never taken.

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{allocate, Header, JoinHandle, TaskRef};

thread_local! {
    /// This thread's number for `Header::home_thread`; `0` until first asked.
    static THREAD_NUMBER: Cell<u16> = const { Cell::new(0) };
}

/// The next thread number to hand out. `0` means "not a local task" and is skipped; after
/// 65 535 threads the numbers come round again, so two threads far apart in a long process
/// may share one (the check then misses a broken rule, it never reports a sound one).
static NEXT_THREAD_NUMBER: AtomicU16 = AtomicU16::new(1);

/// The thread a local task belongs to: its loop's, numbered (never `0`, which marks a task that
/// is not local). A loop reads it once, when it is made (`Core::home_thread`), so that a
/// spawn copies a field instead of reading a thread-local.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HomeThread(u16);

impl HomeThread {
    /// The calling thread.
    pub(crate) fn current() -> HomeThread {
        HomeThread(thread_number())
    }
}

/// This thread's number, never `0`.
fn thread_number() -> u16 {
    #[cfg(test)]
    tests::count_thread_number_read();
    THREAD_NUMBER.with(|number| match number.get() {
        0 => {
            let mut fresh = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);
            while fresh == 0 {
                fresh = NEXT_THREAD_NUMBER.fetch_add(1, Ordering::Relaxed);
            }
            number.set(fresh);
            fresh
        }
        known => known,
    })
}

pin_project! {
    /// A `spawn_local` task's future: the future itself, said to be `Send` (see the `impl`).
    pub(crate) struct Local<F> {
        #[pin]
        future: F,
    }
}

// SAFETY: a `Local` is made only by `new_local_task`, on the thread of the loop it is spawned
// on, and goes straight into a `Task` whose one `TaskRef` goes into that loop's table. That
// `TaskRef` never leaves the thread: the loop is not `Send`, and the one path that moves
// `TaskRef`s between threads, `Handle::spawn`, makes its tasks with `new_task`, which requires
// `Send`. The future is polled and dropped only by the holder of the `TaskRef` (`task.rs`),
// and `TaskRef`'s `Drop` drops it if nobody else did, so it never goes with the allocation on
// whatever thread lets go of the last `Arc` (`Task`'s `Drop` checks that once more). So the `F`
// inside is only ever touched on the thread that made it, which is all that `F: !Send` asks.
#[allow(unsafe_code)]
unsafe impl<F> Send for Local<F> {}

impl<F: Future> Future for Local<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

impl<F> std::fmt::Debug for Local<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

/// Allocates a local task (`spawn_local`): `future` and its output need not be `Send`. Must be
/// called on `home`, the thread of the loop that will own the returned `TaskRef` (see `Local`).
#[inline(always)] // the spawn path, as for `new_task`
pub(crate) fn new_local_task<F>(
    mut header: Header,
    home: HomeThread,
    future: F,
) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    debug_assert_eq!(
        home,
        HomeThread::current(),
        "a local task is made on its home thread"
    );
    header.home_thread = home.0;
    allocate(header, Local { future })
}

/// Called by `Task`'s `Drop` when a local task whose home is thread `home` is freed with its
/// future still in it. On its home thread that is merely early: the future is dropped as usual.
/// Anywhere else, says what happened and aborts.
#[cold]
#[inline(never)]
pub(super) fn check_home_thread(home: u16) {
    if thread_number() == home {
        return;
    }
    // `writeln!` and not `eprintln!`: a failed write to stderr must not become a panic here.
    let _ = writeln!(
        std::io::stderr(),
        "miniloop: a `spawn_local` task is being freed, its future still in it, on a thread that \
         is not its event loop's; the future need not be `Send`, so dropping it here could race \
         with that thread; aborting the process; this is a bug in miniloop (the task's future \
         outlived its `TaskRef`): please report it with this backtrace:\n{}",
        std::backtrace::Backtrace::force_capture()
    );
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::tests::header;
    use crate::task::{JoinError, Polled};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    // These drive a local task by hand, without a loop, to exercise under miri
    // (`scripts/miri.sh` runs the unit tests) the `unsafe` that `spawn_local` leans on: a
    // `!Send` future and output in a `Task`, its waker on another thread, its allocation freed
    // there.

    thread_local! {
        /// How often this thread has asked for its number (each test runs on its own thread).
        static NUMBER_READS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn count_thread_number_read() {
        NUMBER_READS.with(|reads| reads.set(reads.get() + 1));
    }

    fn number_reads() -> usize {
        NUMBER_READS.with(Cell::get)
    }

    /// Answers `Pending` until `is_open`, keeping the latest waker in `waker` (which is `Send`:
    /// the test hands the waker to another thread).
    struct Gate {
        is_open: Rc<Cell<bool>>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for Gate {
        type Output = ();
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.is_open.get() {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn poll_handle<T>(handle: &mut JoinHandle<T>) -> Poll<Result<T, JoinError>> {
        Pin::new(handle).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn a_local_task_keeps_an_rc_across_a_pause_while_its_waker_visits_another_thread() {
        let is_open = Rc::new(Cell::new(false));
        let kept_waker = Arc::new(Mutex::new(None));
        let shared = Rc::new(RefCell::new(vec![1]));
        let gate = Gate {
            is_open: Rc::clone(&is_open),
            waker: Arc::clone(&kept_waker),
        };
        let in_task = Rc::clone(&shared);
        let (task, mut handle) = new_local_task(header(), HomeThread::current(), async move {
            let borrowed = Rc::clone(&in_task); // an `Rc` held across the pause
            gate.await;
            borrowed.borrow_mut().push(2);
            in_task // a `!Send` output
        });
        let (task, first) = task.poll();
        assert!(matches!(first, Polled::Pending));
        let waker = kept_waker
            .lock()
            .unwrap()
            .take()
            .expect("the poll kept its waker");
        let clone = waker.clone();
        std::thread::spawn(move || {
            clone.wake_by_ref(); // names no loop: does nothing, but touches the task's header
            drop(clone);
            waker.wake(); // by value: the count goes down on this thread
        })
        .join()
        .unwrap();
        is_open.set(true);
        let (task, second) = task.poll();
        assert!(matches!(second, Polled::Ready));
        task.release_finished();
        let Poll::Ready(Ok(output)) = poll_handle(&mut handle) else {
            panic!("the task finished");
        };
        assert!(Rc::ptr_eq(&output, &shared));
        assert_eq!(*shared.borrow(), [1, 2]);
        drop(output);
        drop(handle); // the last `Arc`: the task is freed here
        assert_eq!(Rc::strong_count(&shared), 1, "the future's clones are gone");
    }

    #[test]
    fn dropping_the_task_ref_drops_the_future_here_before_a_waker_frees_the_task_elsewhere() {
        let is_open = Rc::new(Cell::new(false));
        let kept_waker = Arc::new(Mutex::new(None));
        let held = Rc::new(());
        let gate = Gate {
            is_open: Rc::clone(&is_open),
            waker: Arc::clone(&kept_waker),
        };
        let in_task = Rc::clone(&held);
        let (task, mut handle) = new_local_task(header(), HomeThread::current(), async move {
            let _held = in_task;
            gate.await;
        });
        let (task, _) = task.poll();
        assert_eq!(Rc::strong_count(&held), 2);
        drop(task); // not failed, not finished: `TaskRef`'s `Drop` cancels it, here
        assert_eq!(
            Rc::strong_count(&held),
            1,
            "the future was dropped on this thread"
        );
        assert!(matches!(
            poll_handle(&mut handle),
            Poll::Ready(Err(error)) if error.is_cancelled()
        ));
        drop(handle);
        let waker = kept_waker
            .lock()
            .unwrap()
            .take()
            .expect("the poll kept its waker");
        drop(kept_waker);
        std::thread::spawn(move || drop(waker)) // the last `Arc`: freed over there
            .join()
            .unwrap();
    }

    /// A local task's thread is checked on no poll, and not when the task ends normally (a
    /// spawn copies its loop's number, read once when the loop was made). Fails with a check
    /// of the number in `Local::poll` (mutation tried by hand).
    #[test]
    fn a_local_task_never_reads_a_thread_number_once_spawned() {
        let (task, handle) = new_local_task(header(), HomeThread::current(), async {
            for _ in 0..100 {
                crate::yield_now().await;
            }
        });
        let spawned = number_reads();
        let mut task = task;
        let mut polls = 0;
        loop {
            let (next, polled) = task.poll();
            task = next;
            polls += 1;
            if matches!(polled, Polled::Ready) {
                break;
            }
        }
        assert_eq!(polls, 101);
        task.release_finished();
        drop(handle);
        assert_eq!(
            number_reads(),
            spawned,
            "not on a poll, not when the task ends"
        );
    }

    /// Breaks the rules on purpose, as only a bug could: takes the `Arc` out of a `TaskRef`
    /// without its `Drop`, so the future is still in the task when the last `Arc`, a waker,
    /// goes. On the task's home thread that is merely early: the future is dropped there.
    #[test]
    fn a_local_task_freed_with_its_future_on_its_own_thread_drops_it_there() {
        let (task, kept_waker, held) = local_task_left_pending();
        drop(task.into_task());
        assert_eq!(
            Rc::strong_count(&held),
            2,
            "the waker keeps the task and its future"
        );
        drop(kept_waker.lock().unwrap().take());
        assert_eq!(
            Rc::strong_count(&held),
            1,
            "freed, and the future dropped, here"
        );
    }

    /// A local task polled once, left waiting: its `TaskRef`, the waker it left, and the `Rc`
    /// its future holds. (Its handle is dropped: the waker is then the task's last `Arc` but
    /// for the `TaskRef`.)
    fn local_task_left_pending() -> (TaskRef, Arc<Mutex<Option<Waker>>>, Rc<()>) {
        let kept_waker = Arc::new(Mutex::new(None));
        let held = Rc::new(());
        let gate = Gate {
            is_open: Rc::new(Cell::new(false)),
            waker: Arc::clone(&kept_waker),
        };
        let in_task = Rc::clone(&held);
        let (task, handle) = new_local_task(header(), HomeThread::current(), async move {
            let _held = in_task;
            gate.await;
        });
        let (task, _) = task.poll();
        drop(handle);
        (task, kept_waker, held)
    }

    /// The name of the child test below, as the test harness knows it.
    const CHILD: &str = "task::local::tests::child_frees_a_local_task_with_its_future_elsewhere";

    /// Off its home thread, the last line of defence aborts the process, so it is watched from
    /// outside: this test runs the test binary again with only the child below, and checks
    /// that it died with the message rather than ran on. Fails with `check_home_thread`
    /// returning at once (mutation tried by hand).
    #[test]
    #[cfg_attr(miri, ignore = "runs a child process, which miri does not support")]
    fn a_local_task_freed_with_its_future_on_another_thread_aborts_with_a_message() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                CHILD,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("MINILOOP_LOCAL_FREE_CHILD", "1")
            .output()
            .expect("the test binary should run again");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "the child should have aborted:\n{stderr}"
        );
        assert!(
            stderr.contains("on a thread that is not its event loop's"),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            !stdout.contains("freed on the wrong thread, and lived"),
            "{stdout}"
        );
    }

    #[test]
    #[ignore = "run by the test above, in a child process that it expects to abort"]
    fn child_frees_a_local_task_with_its_future_elsewhere() {
        if std::env::var_os("MINILOOP_LOCAL_FREE_CHILD").is_none() {
            return; // run by hand, with `--ignored`: nothing to do outside the child
        }
        let (task, kept_waker, _held) = local_task_left_pending();
        drop(task.into_task());
        let waker = kept_waker.lock().unwrap().take().unwrap();
        std::thread::spawn(move || drop(waker)).join().ok();
        println!("freed on the wrong thread, and lived");
    }
}
