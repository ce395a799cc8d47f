//! [`yield_now`]: step aside so that every other ready task runs first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives every other ready task a turn before this one continues.
///
/// The first poll wakes its own task, which puts it at the back of the run queue, and returns
/// `Pending`; the next poll completes. Tasks woken from other threads before the yield count
/// as ready: they are queued ahead of the yielding task. This is the `await asyncio.sleep(0)` of miniloop.
///
/// # Examples
/// ```
/// miniloop::run(async {
///     let other = miniloop::spawn(async { "other ran" });
///     miniloop::yield_now().await;
///     assert!(other.is_finished());
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { has_yielded: false }
}

/// The future returned by [`yield_now`].
#[must_use = "futures do nothing unless you `.await` them"]
#[derive(Debug)]
pub struct YieldNow {
    has_yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_yielded {
            return Poll::Ready(());
        }
        self.has_yielded = true;
        crate::sync_first::note_suspend(|| "`yield_now`".to_string());
        // Tasks that other threads woke before this yield are ready too: queue them first,
        // so that they run before this task continues (the loop would otherwise take them in
        // only at its next turn, after this task). One global load when nothing came from
        // afar since this thread last looked (`waker::remote_work_came`).
        if crate::waker::remote_work_came() {
            crate::event_loop::with_current_core(crate::event_loop::Core::take_in_remote_work);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
