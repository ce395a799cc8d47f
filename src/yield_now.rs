//! [`yield_now`]: step aside so that every other ready task runs first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives every other ready task a turn before this one continues.
///
/// The first poll wakes its own task, which puts it at the back of the run queue, and returns
/// `Pending`; the next poll completes. This is the `await asyncio.sleep(0)` of miniloop.
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
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
