//! The runtime's I/O driver: one OS poller for every worker, waited in by the worker that
//! keeps the timers.
//!
//! The single loop's reactor (`src/reactor.rs`) belongs to one thread, and that thread both
//! tries the sockets and collects their events, one after the other: a task that found
//! "would block" has always filed its waker before the loop looks at the next events. Here
//! they happen on different threads at the same time, and that order is gone. A task on one
//! worker tries a read and finds nothing; before it files its waker, the data arrives and the
//! worker that waits in the poller takes the event, finds no waker, and moves on. Readiness
//! is edge-triggered, so that event never comes again: the task would wait for ever.
//!
//! So each socket counts the events it was sent, per direction (`IoSource::ticks`). A task
//! reads the count *before* it tries the socket, and files its waker only if the count is
//! still the same under the socket's lock, which the poller's side takes to add one and take
//! the wakers. If an event came in between, the count moved, and the task tries again instead
//! of waiting (`Registered::poll_io` in `src/net.rs`). Either the event is counted before the
//! task looks under the lock (it tries again), or after (its waker is there to be woken).
//! tokio keeps the same idea in `ScheduledIo`: readiness bits and a tick in one atomic word.
//! `tests/loom_mt_io.rs` checks this protocol, and shows that without the count a wake is
//! lost.
//!
//! # Known drained
//! An attempt that ends in "would block", or a read that does not fill its buffer (a write
//! the send buffer does not take whole), shows that the socket is empty (full) right then;
//! no more data can come without a new event. So the socket notes the event count it saw
//! then, and until the count moves, the next attempt skips its system call and goes straight
//! to filing its waker, with the same check of the count as above, so it is never wrong for
//! long: an event that comes meanwhile moves the count, and the task tries for real. An HTTP
//! server reads a request, answers, and reads again: without this, that second read is a
//! `recv` that only says "would block", one per request (measured with `perf stat` on the
//! `syscalls:sys_enter_recvfrom` tracepoint: 2.00 `recv` calls per request, tokio's runtime
//! 1.00, which does the same as here). The `Relaxed` orderings are enough: a stale
//! value only makes a task try the system call once more, or go to the check under the
//! lock, which decides.
//!
//! # Who waits in the poller
//! The worker that keeps the timers (`timers.rs`) sleeps in `epoll_wait`, with the earliest
//! deadline as its timeout, instead of on its condition variable; waking it is a write to the
//! poller's `mio::Waker` (an eventfd), which `Parker` does when it sees the worker is asleep
//! there (`park.rs`). Busy workers look at the poller without waiting every few dozen tasks,
//! as they do for timers, so that sockets are served even when no worker sleeps. This is the
//! design tokio has: one driver for timers and I/O, "taken by whichever worker parks".
//!
//! The driver is opened on the first socket, as the loop's reactor is: a runtime that never
//! opens one keeps sleeping on condition variables and never creates an epoll instance.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::reactor::{ready_directions, round_up_to_millis, Direction, IoKey};

/// What [`IoSource::file`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Filed {
    /// The waker is filed: the task waits for the socket's next event.
    Waiting,
    /// An event came since the count was read: try the socket again.
    TryAgain,
    /// The driver has failed: the operation fails with [`IoDriver::failure`].
    Failed,
}

/// The token of the `mio::Waker` that ends the keeper's wait.
const WAKE_TOKEN: Token = Token(usize::MAX);
/// How many events one wait collects at most (more come with the next wait).
const EVENTS_PER_WAIT: usize = 1024;

/// The poller and the sockets registered with it, shared by every worker.
pub(crate) struct IoDriver {
    /// Locked only by the worker that holds the timer keeper's role (`timers.rs`), which
    /// one worker at a time does: the lock is never waited for; it is there because
    /// `Poll::poll` needs `&mut`.
    poller: Mutex<Poller>,
    /// Registers and deregisters sockets from any thread (mio's `Registry` is `Sync`).
    registry: Registry,
    /// Ends the keeper's wait from another thread.
    waker: mio::Waker,
    /// Token -> socket. Locked to register, to deregister, and once per wait to look up the
    /// sockets that had events; a task filing its waker does not take it.
    sources: Mutex<SourceTable>,
    /// Why the poller stopped working, if it did (see `fail`).
    failure: OnceLock<String>,
}

struct Poller {
    poll: Poll,
    events: Events,
}

#[derive(Default)]
struct SourceTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// A slot of the table: the socket in it now, and its generation, which goes up each time
/// the slot is freed, so that an event already collected for a closed socket never reaches
/// the socket that reuses the slot (the loop's reactor does the same).
#[derive(Default)]
struct Slot {
    generation: u32,
    source: Option<Arc<IoSource>>,
}

/// One registered socket: its event counts and the wakers of the tasks waiting on it.
#[derive(Debug, Default)]
pub(crate) struct IoSource {
    /// Events sent to this socket, `[read, write]`; only ever go up, under `waiters`' lock.
    ticks: [AtomicU64; 2],
    /// Per direction, one more than the event count at which an attempt found the socket
    /// drained (see "Known drained" in the module docs); 0 if none did.
    drained_at: [AtomicU64; 2],
    /// The wakers filed per direction, `[read, write]`: several tasks may wait on one socket
    /// (two `accept`s on one listener), and each is woken, as in the loop's reactor.
    waiters: Mutex<[Vec<Waker>; 2]>,
}

impl IoDriver {
    pub(crate) fn new() -> io::Result<IoDriver> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(&registry, WAKE_TOKEN)?;
        Ok(IoDriver {
            poller: Mutex::new(Poller {
                poll,
                events: Events::with_capacity(EVENTS_PER_WAIT),
            }),
            registry,
            waker,
            sources: Mutex::new(SourceTable::default()),
            failure: OnceLock::new(),
        })
    }

    fn sources(&self) -> MutexGuard<'_, SourceTable> {
        // No user code runs under this lock (wakers are moved out and woken after it).
        self.sources
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `source` for both directions (edge-triggered).
    pub(crate) fn register(&self, source: &mut impl Source) -> io::Result<(IoKey, Arc<IoSource>)> {
        if let Some(error) = self.failure() {
            return Err(error);
        }
        let io_source = Arc::new(IoSource::default());
        let key = {
            let mut table = self.sources();
            let index = match table.free.pop() {
                Some(index) => index,
                None => {
                    table.slots.push(Slot::default());
                    u32::try_from(table.slots.len() - 1).expect("more than 4 billion sockets")
                }
            };
            let slot = &mut table.slots[index as usize];
            slot.source = Some(Arc::clone(&io_source));
            IoKey::new(index, slot.generation)
        };
        // Outside the table's lock: the system call need not hold up the keeper's lookups.
        // An event for this token cannot come before the registration below returns.
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) = self.registry.register(source, key.token(), interest) {
            self.free_slot(key);
            return Err(error);
        }
        Ok((key, io_source))
    }

    /// Takes `source` out of the poller and frees its slot, from any thread. The wakers it
    /// still held are dropped here, outside every lock.
    pub(crate) fn deregister(&self, key: IoKey, io_source: &IoSource, source: &mut impl Source) {
        // The socket is closed or handed back to std right after; an error here (it is
        // already gone from epoll) changes nothing for the caller.
        let _ = self.registry.deregister(source);
        self.free_slot(key);
        drop(io_source.take_wakers());
    }

    fn free_slot(&self, key: IoKey) {
        let mut table = self.sources();
        let slot = &mut table.slots[key.index() as usize];
        if slot.generation == key.generation() && slot.source.take().is_some() {
            slot.generation = slot.generation.wrapping_add(1);
            table.free.push(key.index());
        }
    }

    /// Waits for events until `timeout` (`None`: until woken; zero: just look), and moves
    /// the wakers of the sockets that are ready into `woken`. Called only by the worker that
    /// holds the timer keeper's role. If the poller itself fails, the driver keeps the error
    /// (`fail`), here where it is seen, and `woken` gets every waiting task.
    pub(crate) fn poll(&self, timeout: Option<Duration>, woken: &mut Vec<Waker>) {
        let mut poller = self
            .poller
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Poller { poll, events } = &mut *poller;
        // epoll counts whole milliseconds: rounded up, so that the keeper never wakes before a
        // deadline only to find nothing due.
        match poll.poll(events, timeout.map(round_up_to_millis)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return,
            Err(error) => return self.fail(&error, woken),
        }
        if events.is_empty() {
            return;
        }
        let table = self.sources();
        for event in events.iter() {
            if event.token() == WAKE_TOKEN {
                continue; // an unpark: the worker looks at its queues after this
            }
            let key = IoKey::from_token(event.token());
            let Some(slot) = table.slots.get(key.index() as usize) else {
                continue;
            };
            let Some(source) = slot.source.as_ref() else {
                continue; // closed since the event was collected
            };
            if slot.generation == key.generation() {
                let (read, write) = ready_directions(event);
                source.dispatch(read, write, woken);
            }
        }
    }

    /// The poller itself failed (not a socket: epoll fails only on a bad descriptor or
    /// argument, so something closed or damaged the runtime's epoll descriptor). The worker
    /// in `poll` cannot hand the error to anyone, so the driver keeps it: the workers stop
    /// sleeping in it (`Shared::io_driver`), every waiting task is woken into `woken`, and
    /// each socket operation that would wait now fails with this error instead.
    pub(crate) fn fail(&self, error: &io::Error, woken: &mut Vec<Waker>) {
        let _ = self.failure.set(format!(
            "the multi-thread runtime's I/O poller failed ({error}); something closed or \
             damaged its epoll descriptor, and no socket on this runtime can wait any more; \
             start a new runtime"
        ));
        woken.extend(self.clear());
    }

    /// Whether [`fail`](Self::fail) happened.
    pub(crate) fn has_failed(&self) -> bool {
        self.failure.get().is_some()
    }

    /// The error each socket operation that would wait gets, after a failure.
    pub(crate) fn failure(&self) -> Option<io::Error> {
        self.failure
            .get()
            .map(|message| io::Error::other(message.clone()))
    }

    /// Ends the current (or the next) wait in [`poll`](Self::poll), from any thread.
    pub(crate) fn wake(&self) {
        // An eventfd write; it fails only if the counter would overflow, which mio avoids by
        // resetting it. If it ever failed, the keeper would still wake at its deadline.
        let _ = self.waker.wake();
    }

    /// Shutdown: every waker still filed, to be dropped by the caller outside the locks.
    pub(crate) fn clear(&self) -> Vec<Waker> {
        // The table's lock, then each socket's, in the order `poll` takes them.
        let table = self.sources();
        let sources = table.slots.iter().filter_map(|slot| slot.source.as_ref());
        sources.flat_map(|source| source.take_wakers()).collect()
    }
}

impl IoSource {
    fn lock(&self) -> MutexGuard<'_, [Vec<Waker>; 2]> {
        // Only pushes and moves happen under this lock.
        self.waiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The events sent so far in `direction`: read before trying the socket.
    pub(crate) fn tick(&self, direction: Direction) -> u64 {
        self.ticks[direction as usize].load(Ordering::Acquire)
    }

    /// Whether an attempt found the socket drained in `direction` and no event came since
    /// (`tick` is the count just read).
    pub(crate) fn is_drained(&self, direction: Direction, tick: u64) -> bool {
        self.drained_at[direction as usize].load(Ordering::Relaxed) == tick + 1
    }

    /// An attempt made after event `tick` found the socket drained in `direction`. Two tasks
    /// marking at once may leave the older count, which only costs one system call more.
    pub(crate) fn mark_drained(&self, direction: Direction, tick: u64) {
        self.drained_at[direction as usize].store(tick + 1, Ordering::Relaxed);
    }

    /// Files `waker` for `direction`, unless an event came since `tick` was read (then the
    /// caller tries the socket again) or the driver has failed.
    pub(crate) fn file(
        &self,
        direction: Direction,
        waker: &Waker,
        tick: u64,
        driver: &IoDriver,
    ) -> Filed {
        let mut waiters = self.lock();
        // Both checks under the lock that `dispatch` and `IoDriver::fail` take: see the
        // module docs for the count; a failure is either seen here, or comes after the
        // waker is filed and wakes it.
        if driver.has_failed() {
            return Filed::Failed;
        }
        if self.ticks[direction as usize].load(Ordering::Acquire) != tick {
            return Filed::TryAgain;
        }
        let filed = &mut waiters[direction as usize];
        if !filed.iter().any(|stored| stored.will_wake(waker)) {
            filed.push(waker.clone());
        }
        Filed::Waiting
    }

    /// An event: counts it and moves the wakers of each ready direction into `woken`.
    fn dispatch(&self, read: bool, write: bool, woken: &mut Vec<Waker>) {
        let mut waiters = self.lock();
        for (direction, is_ready) in [(Direction::Read, read), (Direction::Write, write)] {
            if is_ready {
                self.ticks[direction as usize].fetch_add(1, Ordering::Release);
                woken.append(&mut waiters[direction as usize]);
            }
        }
    }

    fn take_wakers(&self) -> Vec<Waker> {
        let mut waiters = self.lock();
        let mut wakers = std::mem::take(&mut waiters[0]);
        wakers.append(&mut waiters[1]);
        wakers
    }
}

impl std::fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let table = self.sources();
        let registered = table.slots.len() - table.free.len();
        f.debug_struct("IoDriver")
            .field("registered", &registered)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::multi_thread::{Handle, Runtime};
    use crate::net::TcpListener;

    /// A poller that fails (something closed the runtime's epoll descriptor) must not leave a
    /// task waiting for ever on a socket: the task waiting is woken, and its wait, and every
    /// one after it, fails with the driver's error. The failure itself is not made here (it
    /// would take closing a descriptor the runtime owns): the test calls `fail` as `poll` does
    /// when epoll returns an error. Fails (a timeout, not a hang) with `fail` not
    /// handing over the filed wakers, or with `IoSource::file` ignoring the failure.
    #[test]
    #[cfg_attr(miri, ignore = "opens a socket, which miri does not support")]
    fn a_failed_poller_fails_each_socket_wait_with_its_error_instead_of_hanging() {
        let runtime = Runtime::builder().worker_threads(1).build().unwrap();
        let (first, second) = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let listener = std::sync::Arc::new(listener);
            let waiting = Arc::clone(&listener);
            let waiter = crate::spawn(async move { waiting.accept().await.map(drop) });
            crate::sleep(Duration::from_millis(20)).await; // the waiter has filed its waker
            let driver = Arc::clone(Handle::current().shared.io.get().expect("opened"));
            let mut woken = Vec::new();
            driver.fail(&io::Error::other("a test closed it"), &mut woken);
            for waker in woken {
                waker.wake();
            }
            let first = crate::time::timeout(Duration::from_secs(10), waiter)
                .await
                .expect("the waiting task was woken")
                .unwrap();
            let second = crate::time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .expect("a wait after the failure ends at once")
                .map(drop);
            (first, second)
        });
        for result in [first, second] {
            let message = result.unwrap_err().to_string();
            assert!(
                message.contains("I/O poller failed (a test closed it)"),
                "{message}"
            );
            assert!(message.contains("start a new runtime"), "{message}");
        }
    }
}
