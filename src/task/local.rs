//! `Local`: how a future that is not `Send` becomes a task, for `spawn_local`.
//!
//! A `Task<F>` is `Send` and `Sync` because `F` is `Send` (its wakers and handles go to any
//! thread, `task.rs`). A future that holds an `Rc` or a `RefCell` borrow across an `.await`
//! is not, yet it is perfectly fine on a single-threaded loop as long as it never leaves the
//! loop's thread. `Local<F>` wraps such a future, says `Send` on its behalf, and `task.rs`
//! keeps that promise by where the task's one `TaskRef` may go ("Rules this module keeps",
//! there): made on the loop's thread, straight into its table, dropped there, and the future
//! with it.
//!
//! # Why a wrapper, not a second kind of task
//! A local task is a `Task<Local<F>>`, polled by the same `poll_future` as any other task.
//! A second type parameter on `Task` would rename every copy of `Task<...>::poll_future<...>`,
//! the names the debugging chapter breaks on (`docs/debugging.md`); a wrapper only shows up
//! inside the brackets. And `spawn_local` costs what `spawn` costs: the wrapper adds one word
//! to the task and nothing to a poll.
//!
//! # The check on drop
//! As a last line of defence against a path the rules above missed, `Local`'s `Drop` checks
//! that it runs on the thread that spawned it: one thread-local address compared with the
//! one stored at spawn, on drop only, never on a poll. On any other thread it must not drop
//! the future (another thread may share its `Rc`s) and cannot move it elsewhere (it is
//! pinned), so it prints what happened and aborts the process.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{allocate, Header, JoinHandle, TaskRef};

thread_local! {
    /// A byte whose address names the thread it belongs to. `const`-initialised and without
    /// a `Drop`, so reading its address is a register offset, and works even while the thread
    /// tears down its other thread-locals (a loop kept in a `thread_local!` is dropped then).
    static THREAD_MARK: u8 = const { 0 };
}

/// The address of this thread's `THREAD_MARK`: different on every thread alive at the same
/// time. (A thread that has exited may leave its address to a new one; a future whose home
/// thread is gone has outlived its loop, which the rules in `task.rs` rule out anyway.)
fn thread_mark() -> usize {
    #[cfg(test)]
    tests::count_thread_mark_read();
    THREAD_MARK.with(|mark| std::ptr::from_ref(mark) as usize)
}

pin_project! {
    /// A `spawn_local` task's future, with the thread it must be dropped on.
    pub(crate) struct Local<F> {
        #[pin]
        future: F,
        // `thread_mark()` of the spawning thread, which is the loop's. (A plain comment:
        // `pin_project!` takes no doc comment on a field.)
        home: usize,
    }

    impl<F> PinnedDrop for Local<F> {
        fn drop(this: Pin<&mut Self>) {
            // The only check: `poll` below has none.
            if thread_mark() != this.home {
                dropped_off_its_thread();
            }
        }
    }
}

// SAFETY: a `Local` is made only by `new_local_task`, on the thread of the loop it is spawned
// on, and goes straight into a `Task` whose one `TaskRef` goes into that loop's table. That
// `TaskRef` never leaves the thread: the loop is not `Send`, and the one path that moves
// `TaskRef`s between threads, `Handle::spawn`, makes its tasks with `new_task`, which requires
// `Send`. The future is polled and dropped only by the holder of the `TaskRef` (`task.rs`),
// and `TaskRef`'s `Drop` drops it if nobody else did, so it never goes with the allocation on
// whatever thread lets go of the last `Arc`. So the `F` inside is only ever touched on the
// thread that made it, which is all that `F: !Send` asks. Its `Drop` checks that once more.
#[allow(unsafe_code)]
unsafe impl<F> Send for Local<F> {}

impl<F: Future> Future for Local<F> {
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

impl<F> fmt::Debug for Local<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Local")
            .field("home", &format_args!("{:#x}", self.home))
            .finish_non_exhaustive()
    }
}

/// Allocates a local task (`spawn_local`): `future` and its output need not be `Send`. Must be
/// called on the thread of the loop that will own the returned `TaskRef` (see `Local`).
#[inline(always)] // the spawn path, as for `new_task`
pub(crate) fn new_local_task<F>(header: Header, future: F) -> (TaskRef, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let home = thread_mark();
    allocate(header, Local { future, home })
}

/// A `Local` is being dropped on a thread that is not its loop's: say so and abort. Never
/// returns; `#[cold]`, so the check costs the drop one compare and a branch not taken.
#[cold]
#[inline(never)]
fn dropped_off_its_thread() -> ! {
    // `writeln!` and not `eprintln!`: a failed write to stderr must not become a panic here.
    let _ = writeln!(
        std::io::stderr(),
        "miniloop: the future of a `spawn_local` task is being dropped on a thread that is not \
         its event loop's; it need not be `Send`, so dropping it here could race with that \
         thread; aborting the process; this is a bug in miniloop (a task's `TaskRef` left its \
         loop's thread): please report it with this backtrace:\n{}",
        std::backtrace::Backtrace::force_capture()
    );
    std::process::abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{JoinError, Origin, Polled, TaskId};
    use crate::waker::{LoopId, TaskKey};
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};
    use std::task::Waker;

    // These drive a local task by hand, without a loop, to exercise under miri
    // (`scripts/miri.sh` runs the unit tests) the `unsafe` that `spawn_local` leans on: a
    // `!Send` future and output in a `Task`, its waker on another thread, its allocation freed
    // there.

    thread_local! {
        /// How often this thread has read its `THREAD_MARK` (each test runs on its own thread).
        static MARK_READS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn count_thread_mark_read() {
        MARK_READS.with(|reads| reads.set(reads.get() + 1));
    }

    fn mark_reads() -> usize {
        MARK_READS.with(Cell::get)
    }

    fn header() -> Header {
        Header::new(
            TaskId(1),
            LoopId::NONE,
            TaskKey::MAIN,
            Origin::default(),
            false,
        )
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
        let (task, mut handle) = new_local_task(header(), async move {
            let borrowed = Rc::clone(&in_task); // an `Rc` held across the pause
            gate.await;
            borrowed.borrow_mut().push(2);
            in_task // a `!Send` output
        });
        let (task, first) = task.poll();
        assert!(matches!(first, Polled::Pending));
        let waker = kept_waker.lock().unwrap().take().expect("the poll kept its waker");
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
        let (task, mut handle) = new_local_task(header(), async move {
            let _held = in_task;
            gate.await;
        });
        let (task, _) = task.poll();
        assert_eq!(Rc::strong_count(&held), 2);
        drop(task); // not failed, not finished: `TaskRef`'s `Drop` cancels it, here
        assert_eq!(Rc::strong_count(&held), 1, "the future was dropped on this thread");
        assert!(matches!(
            poll_handle(&mut handle),
            Poll::Ready(Err(error)) if error.is_cancelled()
        ));
        drop(handle);
        let waker = kept_waker.lock().unwrap().take().expect("the poll kept its waker");
        drop(kept_waker);
        std::thread::spawn(move || drop(waker)) // the last `Arc`: freed over there
            .join()
            .unwrap();
    }

    /// `spawn_local` pays for its thread check on drop only: the mark is read once at spawn
    /// and once at drop, however often the task is polled.
    #[test]
    fn a_local_task_reads_its_thread_mark_at_spawn_and_drop_never_per_poll() {
        let before = mark_reads();
        let (task, handle) = new_local_task(header(), async {
            for _ in 0..100 {
                crate::yield_now().await;
            }
        });
        assert_eq!(mark_reads(), before + 1, "once at spawn");
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
        assert_eq!(mark_reads(), before + 2, "and once more when the future was dropped");
        task.release_finished();
        drop(handle);
        assert_eq!(mark_reads(), before + 2);
    }

    /// The name of the child test below, as the test harness knows it.
    const CHILD: &str = "task::local::tests::child_drops_a_local_future_on_another_thread";

    /// The last line of defence aborts the process, so it is watched from outside: this test
    /// runs the test binary again with only the child below, which drops a `Local` on another
    /// thread, and checks that it died with the message rather than ran on.
    #[test]
    #[cfg_attr(miri, ignore = "runs a child process, which miri does not support")]
    fn a_local_future_dropped_off_its_thread_aborts_the_process_with_a_message() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", CHILD, "--ignored", "--nocapture", "--test-threads=1"])
            .env("MINILOOP_LOCAL_DROP_CHILD", "1")
            .output()
            .expect("the test binary should run again");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "the child should have aborted:\n{stderr}");
        assert!(
            stderr.contains("is being dropped on a thread that is not its event loop's"),
            "{stderr}"
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(!stdout.contains("dropped on the wrong thread, and lived"), "{stdout}");
    }

    #[test]
    #[ignore = "run by the test above, in a child process that it expects to abort"]
    fn child_drops_a_local_future_on_another_thread() {
        if std::env::var_os("MINILOOP_LOCAL_DROP_CHILD").is_none() {
            return; // run by hand, with `--ignored`: nothing to do outside the child
        }
        let local = Box::pin(Local {
            future: std::future::ready(()),
            home: thread_mark(),
        });
        std::thread::spawn(move || drop(local)).join().ok();
        println!("dropped on the wrong thread, and lived");
    }
}
