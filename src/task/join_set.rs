//! [`JoinSet`]: a group of tasks, awaited in the order they finish, aborted together.
//!
//! Python's `asyncio.TaskGroup` and tokio's `JoinSet` answer the same need: start a number of
//! tasks, collect their results as they come, and make sure none outlives the group. Here the
//! set owns the tasks' `JoinHandle`s; [`JoinSet::join_next`] gives the next result to
//! arrive, and dropping the set aborts every task still in it.
//!
//! # Rules this module keeps
//! - A wake costs O(1), whatever the size of the set: each member's handle is polled with a
//!   waker of its own (`ChildWaker`, shared with `src/join.rs`), which files the member's slot in the `ready` list and
//!   wakes the task awaiting the set. `join_next` polls only the members in that list, never
//!   the others (the same design as `as_completed` in `src/join.rs`).
//! - Results come in the order the tasks finish. Each member's waker goes into its task's join
//!   cell when it joins the set (`spawn` polls the new handle once), so the task's completion
//!   itself files the member: the list is in completion order, and `join_next` takes it from
//!   the front.
//! - Dropping the set aborts every member left: each task's future is dropped at its loop's
//!   next turn, before any task woken after the drop runs.
//!
//! # Why a slot table
//! A member is found from its waker by its slot index: no search, and no `Arc` per member
//! beyond its waker. A slot is reused once its member is gone; a wake still in flight for the
//! old member then polls the new one once for nothing, which a `JoinHandle` answers at once.

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_task::waker_ref;

use super::{AbortHandle, JoinError, JoinHandle};
use crate::join::{ChildWaker, WokenList};
use crate::sync_first::{is_suspend_allowed, note_suspend};

/// A group of tasks whose results come back in the order the tasks finish; dropping the
/// group aborts every task still in it.
///
/// Add tasks with [`spawn`](JoinSet::spawn) or [`spawn_local`](JoinSet::spawn_local), take
/// results with [`join_next`](JoinSet::join_next), stop them all with
/// [`abort_all`](JoinSet::abort_all) or [`shutdown`](JoinSet::shutdown). The set is `Send`
/// when `T` is.
///
/// # Examples
/// A group whose first failure stops the rest, as Python's `asyncio.TaskGroup` does:
/// ```
/// use std::time::Duration;
///
/// miniloop::run(async {
///     let mut group = miniloop::JoinSet::new();
///     for (name, ms) in [("slow", 50), ("fails", 10), ("fast", 5)] {
///         group.spawn(async move {
///             miniloop::sleep(Duration::from_millis(ms)).await;
///             if name == "fails" { Err(name) } else { Ok(name) }
///         });
///     }
///     let mut finished = Vec::new();
///     while let Some(result) = group.join_next().await {
///         match result.expect("no task panics") {
///             Ok(name) => finished.push(name),
///             Err(_) => group.shutdown().await, // aborts "slow", waits until it is gone
///         }
///     }
///     assert_eq!(finished, ["fast"]);
/// });
/// ```
pub struct JoinSet<T> {
    /// The members, by slot; `None` is a free slot (its index is in `free`).
    members: Vec<Option<Member<T>>>,
    free: Vec<usize>,
    /// How many members are in the set.
    len: usize,
    /// Slots whose member was woken, in wake order; shared with the members' wakers.
    ready: Arc<WokenList>,
    /// Slots taken from `ready` and not yet looked at: `join_next` returns after the first
    /// result, and the rest wait here, ahead of anything woken since. Only the set touches it,
    /// so looking at a slot takes no lock.
    taken: VecDeque<usize>,
    /// Results of tasks that had finished before they joined the set (`insert`).
    finished: VecDeque<Result<T, JoinError>>,
}

/// One task of the set: its handle, and the waker the handle is polled with.
struct Member<T> {
    handle: JoinHandle<T>,
    waker: Arc<ChildWaker>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// # Examples
    /// ```
    /// let set = miniloop::JoinSet::<u32>::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> JoinSet<T> {
        JoinSet {
            members: Vec::new(),
            free: Vec::new(),
            len: 0,
            ready: Arc::new(WokenList::default()),
            taken: VecDeque::new(),
            finished: VecDeque::new(),
        }
    }

    /// How many tasks are in the set: spawned, and whose result `join_next` has not returned.
    /// An aborted task stays in it until `join_next` returns its cancellation.
    ///
    /// # Examples
    /// ```
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     set.spawn(async { 1 });
    ///     set.spawn(async { 2 });
    ///     assert_eq!(set.len(), 2);
    ///     set.join_next().await;
    ///     assert_eq!(set.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no task left.
    ///
    /// # Examples
    /// ```
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     set.spawn(async { "only" });
    ///     assert!(!set.is_empty());
    ///     set.join_next().await;
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The result of the next task to finish, in the order they finish: `Ok` with its output,
    /// or the [`JoinError`] of a task that panicked or was aborted. `None` once the set is
    /// empty. Cancel-safe: dropping the future it returns loses no result.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     for ms in [30, 10, 20] {
    ///         set.spawn(async move {
    ///             miniloop::sleep(Duration::from_millis(ms)).await;
    ///             ms
    ///         });
    ///     }
    ///     let mut order = Vec::new();
    ///     while let Some(result) = set.join_next().await {
    ///         order.push(result.unwrap());
    ///     }
    ///     assert_eq!(order, [10, 20, 30]);
    /// });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Aborts every task in the set. They stay in it: `join_next` returns each one's result,
    /// a cancellation unless it finished first.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     set.spawn(miniloop::sleep(Duration::from_secs(3600)));
    ///     set.abort_all();
    ///     assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort_all(&mut self) {
        for member in self.members.iter().flatten() {
            member.handle.abort();
        }
    }

    /// Aborts every task in the set and waits until each is gone (its future dropped), which
    /// empties the set. The results are dropped.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    ///
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     let handle = set.spawn(miniloop::sleep(Duration::from_secs(3600)));
    ///     set.shutdown().await;
    ///     assert!(set.is_empty() && handle.is_finished());
    /// });
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Takes `handle` in as a member, and leaves the member's waker in the task's join cell
    /// now, so that the task's completion files the member (completion order, from the start).
    /// A task that had finished already (not one spawned just now: `spawn` only queues it)
    /// has its result kept aside for `join_next`, first in line.
    fn insert(&mut self, mut handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        self.len += 1;
        let slot = self.free.pop().unwrap_or(self.members.len());
        let waker = ChildWaker::new(slot, &self.ready, false);
        match handle.poll_with_waker(&waker_ref(&waker)) {
            Poll::Pending => {
                let member = Some(Member { handle, waker });
                match self.members.get_mut(slot) {
                    Some(free_slot) => *free_slot = member,
                    None => self.members.push(member),
                }
            }
            Poll::Ready(result) => {
                self.free
                    .extend((slot < self.members.len()).then_some(slot));
                self.finished.push_back(result);
            }
        }
        abort
    }

    /// One poll of `join_next`.
    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        if let Some(result) = self.finished.pop_front() {
            self.len -= 1;
            return Poll::Ready(Some(result));
        }
        loop {
            let Some(slot) = self.next_listed(cx) else {
                note_suspend(|| "a task of the `JoinSet` to finish".to_string());
                return Poll::Pending;
            };
            let Some(member) = self.members[slot].as_mut() else {
                continue; // a wake in flight for a member that is gone
            };
            member.waker.unlist();
            #[cfg(test)]
            tests::count_member_poll();
            let polled = member.handle.poll_with_waker(&waker_ref(&member.waker));
            if let Poll::Ready(result) = polled {
                self.members[slot] = None;
                self.free.push(slot);
                self.len -= 1;
                return Poll::Ready(Some(result));
            }
        }
    }

    /// The next member slot to look at: the ones taken from the ready list already, then the
    /// ready list, whose lock is taken once for all the slots in it. When nothing is left,
    /// files the waker of the task awaiting the set (unless inside `run_now`, whose waker
    /// must not replace the real one) and returns `None`.
    fn next_listed(&mut self, cx: &Context<'_>) -> Option<usize> {
        if let Some(slot) = self.taken.pop_front() {
            return Some(slot);
        }
        // Inside `run_now` the section's no-op waker must not replace the real one.
        self.taken = self.ready.take(is_suspend_allowed().then_some(cx.waker()));
        self.taken.pop_front()
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns `future` on the event loop running on this thread, as [`crate::spawn`] does,
    /// into the set. The returned [`AbortHandle`] stops this one task.
    ///
    /// # Panics
    /// If no event loop is running on this thread; the message names the fix.
    ///
    /// # Examples
    /// ```
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     set.spawn(async { 6 * 7 });
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 42);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send,
    {
        let handle = crate::spawn(future);
        self.insert(handle)
    }

    /// Spawns `future`, which need not be `Send`, on the event loop running on this thread, as
    /// [`crate::spawn_local`] does, into the set.
    ///
    /// # Panics
    /// If no event loop is running on this thread; the message names the fix.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    ///
    /// miniloop::run(async {
    ///     let mut set = miniloop::JoinSet::new();
    ///     let shared = Rc::new(5);
    ///     set.spawn_local(async move { *shared + 1 });
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 6);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        let handle = crate::spawn_local(future);
        self.insert(handle)
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

/// Dropping the set aborts every task left in it; their results are dropped when they come.
impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
        // The members' wakers live on in their tasks' join cells until the tasks end; the
        // awaiting task's waker need not live on with them.
        self.ready.clear();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{new_task, Header, Origin, Polled, TaskId};
    use crate::waker::{LoopId, TaskKey};
    use futures::channel::oneshot;
    use std::cell::Cell;

    thread_local! {
        /// Member polls made by `join_next` on this thread (each test runs on its own).
        static MEMBER_POLLS: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn count_member_poll() {
        MEMBER_POLLS.with(|polls| polls.set(polls.get() + 1));
    }

    /// O(1) per wake: with every member waiting, each release wakes one member, and
    /// `join_next` polls that one only. Fails with `next_listed` returning every occupied slot
    /// instead of the woken ones (mutation tried by hand): n²/2 polls.
    #[test]
    fn join_next_polls_only_the_members_that_were_woken() {
        let members = if cfg!(miri) { 40 } else { 1000 };
        let polls = crate::run(async move {
            let mut set = JoinSet::new();
            let mut releases = Vec::new();
            for number in 0..members {
                let (release, released) = oneshot::channel::<()>();
                releases.push(release);
                set.spawn(async move {
                    released.await.expect("the test releases every member");
                    number
                });
            }
            crate::yield_now().await; // every member runs once and waits
            let before = MEMBER_POLLS.with(Cell::get);
            // Released last first: results follow completion, not spawn order.
            for number in (0..members).rev() {
                releases.pop().unwrap().send(()).unwrap();
                let joined = set.join_next().await.unwrap().unwrap();
                assert_eq!(joined, number);
            }
            assert!(set.join_next().await.is_none());
            MEMBER_POLLS.with(Cell::get) - before
        });
        assert_eq!(polls, members, "one member poll per completion");
    }

    /// A handle whose task had finished before it joined the set (which `spawn` never gives)
    /// is not lost: its result is the first `join_next` returns.
    #[test]
    fn a_task_that_finished_before_joining_comes_out_first() {
        let header = Header::new(
            TaskId(1),
            LoopId::NONE,
            TaskKey::MAIN,
            Origin::default(),
            false,
        );
        let (task, handle) = new_task(header, async { 5 });
        let (task, polled) = task.poll();
        assert!(matches!(polled, Polled::Ready));
        task.release_finished();
        let mut set = JoinSet::new();
        let abort = set.insert(handle);
        assert!(abort.is_finished());
        assert_eq!(set.len(), 1);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let Poll::Ready(Some(Ok(5))) = set.poll_join_next(&mut cx) else {
            panic!("the finished task's result");
        };
        assert!(set.is_empty());
        assert!(matches!(set.poll_join_next(&mut cx), Poll::Ready(None)));
    }
}
