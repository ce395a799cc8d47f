//! Combining futures: [`join_all`] (Python's `asyncio.gather`) and [`as_completed`], and the
//! `Group` of children with one waker each that they, and `race` (`src/select.rs`), share.
//!
//! Lesson 02 waits for five requests with `as_completed`; the gather lesson compares
//! sequential awaits with `join_all`. Both run their futures *inside the awaiting task*:
//! nothing is spawned, so the futures need not be `Send` or `'static`. To run futures as
//! separate tasks, `spawn` them and pass the `JoinHandle`s.
//!
//! # Rules this module keeps
//! - Each child future has its own waker, so a wake re-polls only the child that was woken:
//!   awaiting 10 000 futures costs O(1) per wake, not O(10 000).
//! - A child is polled only after it was woken, and never again after it completed.
//!
//! # Why not poll every child on every wake
//! That is what a first version does, and it is quadratic: with n children each completing
//! once, the awaiting task polls n children n times.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::stream::{FusedStream, Stream};
use futures_task::{waker_ref, ArcWake};

/// Waits for every future and returns their outputs in input order (`asyncio.gather`).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let outputs = miniloop::run(async {
///     let slow = async { miniloop::sleep(Duration::from_millis(20)).await; "slow" };
///     let fast = async { miniloop::sleep(Duration::from_millis(5)).await; "fast" };
///     miniloop::join_all(vec![Box::pin(slow) as std::pin::Pin<Box<dyn std::future::Future<Output = &str>>>, Box::pin(fast)]).await
/// });
/// assert_eq!(outputs, ["slow", "fast"]);
/// ```
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let group = Group::new(futures);
    let outputs = (0..group.children.len()).map(|_| None).collect();
    JoinAll { group, outputs }
}

/// The future returned by [`join_all`].
#[must_use = "futures do nothing unless you `.await` them"]
pub struct JoinAll<F: Future> {
    group: Group<F>,
    outputs: Vec<Option<F::Output>>,
}

// The outputs are plain values that are never pinned, and each child is pinned in its own box,
// so moving a `JoinAll` is fine whatever `F` and its output are.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `JoinAll` is `Unpin`: every child sits in its own pinned box.
        let this = self.get_mut();
        let outputs = &mut this.outputs;
        this.group.poll_woken_children(cx, |index, output| {
            outputs[index] = Some(output);
            ControlFlow::Continue(())
        });
        if this.group.unfinished > 0 {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut this.outputs);
        Poll::Ready(
            outputs
                .into_iter()
                .map(|output| output.expect("every child finished"))
                .collect(),
        )
    }
}

impl<F: Future> fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinAll")
            .field("futures", &self.group.children.len())
            .field("unfinished", &self.group.unfinished)
            .finish()
    }
}

/// Yields the futures' outputs in the order they complete (`asyncio.as_completed`).
///
/// Call [`AsCompleted::next`], or use the value as a [`Stream`] (with `futures::StreamExt`:
/// `.next()`, `.map()`, `.collect()`, ...); either ends with `None` once every output was
/// returned.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// miniloop::run(async {
///     let delays = [30, 10, 20];
///     let mut completed = miniloop::as_completed(delays.map(|ms| async move {
///         miniloop::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(ms) = completed.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        group: Group::new(futures),
        completed: VecDeque::new(),
    }
}

/// The value returned by [`as_completed`]; call [`AsCompleted::next`] until it gives `None`.
pub struct AsCompleted<F: Future> {
    group: Group<F>,
    /// Outputs that finished in the same poll as an earlier one, in completion order.
    completed: VecDeque<F::Output>,
}

// As for `JoinAll`: the outputs are never pinned and each child has its own pinned box.
impl<F: Future> Unpin for AsCompleted<F> {}

impl<F: Future> AsCompleted<F> {
    /// The next output to complete, or `None` once every future has been returned.
    pub async fn next(&mut self) -> Option<F::Output> {
        std::future::poll_fn(|cx| self.poll_next_output(cx)).await
    }

    /// How many outputs have not been returned yet.
    pub fn remaining(&self) -> usize {
        self.group.unfinished + self.completed.len()
    }

    fn poll_next_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        if self.completed.is_empty() && self.group.unfinished > 0 {
            let completed = &mut self.completed;
            self.group.poll_woken_children(cx, |_, output| {
                completed.push_back(output);
                ControlFlow::Continue(())
            });
        }
        match self.completed.pop_front() {
            Some(output) => Poll::Ready(Some(output)),
            None if self.group.unfinished == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

/// The outputs in completion order, then `None`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// let doubled: Vec<u64> = miniloop::run(async {
///     let completed = miniloop::as_completed([30, 10, 20].map(|ms| async move {
///         miniloop::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     completed.map(|ms| 2 * ms).collect().await
/// });
/// assert_eq!(doubled, [20, 40, 60]);
/// ```
impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.get_mut().poll_next_output(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining(), Some(self.remaining()))
    }
}

/// Terminated once every output was returned: the next poll would give `None`.
///
/// # Examples
/// ```
/// use futures::stream::{FusedStream, StreamExt};
/// miniloop::run(async {
///     let mut completed = miniloop::as_completed([async { 1 }]);
///     assert!(!completed.is_terminated());
///     assert_eq!(StreamExt::next(&mut completed).await, Some(1));
///     assert!(completed.is_terminated());
/// });
/// ```
impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.remaining() == 0
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// Futures polled together, each with its own waker.
pub(crate) struct Group<F: Future> {
    /// `None` once a child completed: it is dropped at once and never polled again.
    children: Vec<Option<Pin<Box<F>>>>,
    child_wakers: Vec<Arc<ChildWaker>>,
    woken: Arc<WokenList>,
    unfinished: usize,
}

/// Which children were woken since their owner last looked, and whom to tell: shared by the
/// owner (a `Group` here, a `JoinSet` in `src/task/join_set.rs`) and its children's wakers.
#[derive(Debug, Default)]
pub(crate) struct WokenList {
    state: Mutex<WokenState>,
}

#[derive(Debug, Default)]
struct WokenState {
    /// Children's indices, in the order they were woken.
    indices: VecDeque<usize>,
    /// The waker of the task awaiting the owner; taken by the first child wake after a poll.
    parent: Option<Waker>,
}

impl WokenList {
    fn lock(&self) -> MutexGuard<'_, WokenState> {
        // Nothing under this lock panics (pushes, takes); recover if something ever did.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the indices woken so far. If `parent` is given, it is filed first (unless the
    /// one filed `will_wake` the same), so that a child woken after the take still wakes the
    /// task awaiting the owner.
    pub(crate) fn take(&self, parent: Option<&Waker>) -> VecDeque<usize> {
        let mut state = self.lock();
        if let Some(parent) = parent {
            match &state.parent {
                Some(filed) if filed.will_wake(parent) => {}
                _ => state.parent = Some(parent.clone()),
            }
        }
        std::mem::take(&mut state.indices)
    }

    /// Puts `indices` back at the front, ahead of those woken since: children taken but not
    /// looked at, whose `is_listed` flags are still set (so no wake would list them again).
    pub(crate) fn put_back(&self, indices: impl DoubleEndedIterator<Item = usize>) {
        let mut state = self.lock();
        for index in indices.rev() {
            state.indices.push_front(index);
        }
    }

    /// Forgets every index and lets go of the awaiting task's waker (the owner is done).
    pub(crate) fn clear(&self) {
        let parent = {
            let mut state = self.lock();
            state.indices.clear();
            state.parent.take()
        };
        drop(parent); // outside the lock: dropping a waker may run code
    }
}

/// A child's waker: it records the child's index once, then wakes the awaiting task.
#[derive(Debug)]
pub(crate) struct ChildWaker {
    index: usize,
    /// Set while the index is in the woken list (or taken from it and not yet looked at), so
    /// that a child woken many times is listed once.
    is_listed: AtomicBool,
    woken: Arc<WokenList>,
}

impl ChildWaker {
    /// The waker of child `index` of the owner of `woken`; `is_listed` says whether the
    /// owner has listed it already (a child that needs a first poll).
    pub(crate) fn new(index: usize, woken: &Arc<WokenList>, is_listed: bool) -> Arc<ChildWaker> {
        Arc::new(ChildWaker {
            index,
            is_listed: AtomicBool::new(is_listed),
            woken: Arc::clone(woken),
        })
    }

    /// Called just before the child is polled: a wake during the poll lists it again. A swap,
    /// not a store: reading the flag synchronises with the waker that set it (see
    /// `collect_remote_wakes` in `event_loop.rs`).
    pub(crate) fn unlist(&self) {
        self.is_listed.swap(false, Ordering::AcqRel);
    }
}

impl ArcWake for ChildWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if arc_self.is_listed.swap(true, Ordering::AcqRel) {
            return;
        }
        let parent = {
            let mut state = arc_self.woken.lock();
            state.indices.push_back(arc_self.index);
            state.parent.take()
        };
        if let Some(parent) = parent {
            parent.wake(); // outside the lock: waking runs other code
        }
    }
}

impl<F: Future> Group<F> {
    pub(crate) fn new<I: IntoIterator<Item = F>>(futures: I) -> Self {
        let children: Vec<_> = futures
            .into_iter()
            .map(|future| Some(Box::pin(future)))
            .collect();
        let woken = Arc::new(WokenList::default());
        // Every child starts out woken: each needs a first poll.
        woken.put_back(0..children.len());
        let child_wakers = (0..children.len())
            .map(|index| ChildWaker::new(index, &woken, true))
            .collect();
        Group {
            unfinished: children.len(),
            children,
            child_wakers,
            woken,
        }
    }

    /// How many children the group holds: all it was made with, none after `drop_children`.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Drops every child that has not completed, at once, and the awaiting task's waker.
    pub(crate) fn drop_children(&mut self) {
        self.children.clear();
        self.unfinished = 0;
        self.woken.clear();
    }

    /// Polls the children woken since the last call; hands each output to `on_output`. If
    /// `on_output` breaks, no other child is polled in this call (`race` wants no second
    /// output, which it would have to drop): those not reached stay listed as woken.
    pub(crate) fn poll_woken_children(
        &mut self,
        cx: &mut Context<'_>,
        mut on_output: impl FnMut(usize, F::Output) -> ControlFlow<()>,
    ) {
        let mut indices = self.woken.take(Some(cx.waker())).into_iter();
        while let Some(index) = indices.next() {
            let child_waker = &self.child_wakers[index];
            child_waker.unlist();
            let Some(child) = self.children[index].as_mut() else {
                continue;
            };
            let waker = waker_ref(child_waker);
            let mut child_cx = Context::from_waker(&waker);
            if let Poll::Ready(output) = child.as_mut().poll(&mut child_cx) {
                self.children[index] = None;
                self.unfinished -= 1;
                if on_output(index, output).is_break() {
                    self.woken.put_back(indices);
                    return;
                }
            }
        }
    }
}
