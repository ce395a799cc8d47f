//! The I/O reactor: sockets register with the OS poller, and the loop's one blocking wait
//! covers timers, I/O readiness and wakes from other threads.
//!
//! Lessons 01 and 02 make real requests; this is what lets a task wait for a socket without
//! holding the thread (chapter: `docs/reactor.md`). A socket operation is tried first; if the
//! OS answers "would block", the task's waker is filed under the socket's token and the task
//! returns `Pending`. When the loop has nothing to run, it blocks in [`Reactor::wait`]
//! (`epoll_wait` on Linux, through mio) until the earliest timer, a readiness event, or a
//! remote wake (a `mio::Waker`, an eventfd the poller watches). Events wake the filed wakers.
//!
//! # Rules this module keeps
//! - Readiness is edge-triggered and never cached: every operation is tried before it waits.
//!   A "would block" is always followed by an event when the socket becomes ready, because the
//!   edge comes after the attempt. Spurious events only cost a retry.
//! - A token carries the slot's generation, so an event for a closed socket never wakes the
//!   task that reuses its slot.
//! - A socket is deregistered before it is closed (`net.rs` drops the registration first).
//!   A socket dropped where its loop can't be reached (outside `run`, on another thread)
//!   can't do that; it leaves its key in the reactor's orphan list instead, and the next
//!   [`Reactor::wait`] frees the slot. Closing the descriptor has already taken it out of
//!   epoll, so the reactor only forgets the slot and never calls epoll for it.
//! - The reactor is created on first use: a loop that never touches a socket never opens an
//!   epoll instance, and keeps idling with `park`.
//!
//! # Why mio and not raw epoll
//! mio is a thin, portable layer over epoll/kqueue whose only dependency is libc, and it runs
//! under miri. Raw epoll would need `unsafe` in this crate, which forbids it.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};

/// The token of the `mio::Waker` that interrupts the wait from another thread.
const REMOTE_WAKE_TOKEN: Token = Token(usize::MAX);
/// How many events one wait collects at most (more are delivered by the next wait).
const EVENTS_PER_WAIT: usize = 1024;

/// Where a socket lives in the reactor: slot and generation, packed into mio's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoKey {
    index: u32,
    generation: u32,
}

impl IoKey {
    pub(crate) fn new(index: u32, generation: u32) -> IoKey {
        IoKey { index, generation }
    }

    pub(crate) fn index(self) -> u32 {
        self.index
    }

    pub(crate) fn generation(self) -> u32 {
        self.generation
    }

    pub(crate) fn token(self) -> Token {
        Token(((self.generation as usize) << 32) | self.index as usize)
    }

    pub(crate) fn from_token(token: Token) -> IoKey {
        IoKey {
            index: token.0 as u32,
            generation: (token.0 >> 32) as u32,
        }
    }
}

/// Which way a task waits on a socket (the numbers index per-direction arrays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read = 0,
    Write = 1,
}

impl Direction {
    /// "readable" or "writable", for messages.
    pub(crate) fn ready_word(self) -> &'static str {
        match self {
            Direction::Read => "readable",
            Direction::Write => "writable",
        }
    }
}

/// One registered socket: who waits to read, who waits to write.
///
/// Several tasks may wait on one socket in the same direction: `TcpListener::accept` takes
/// `&self`, so two tasks sharing an `Arc<TcpListener>` (or two `accept` futures in one
/// `join_all`) wait for the same readiness. Each waker is kept (one per task: a waker that
/// `will_wake` like a filed one replaces nothing), and readiness wakes them all, as tokio
/// does: each tries again, one gets the connection, the others find "would block" and file
/// again. Keeping only the latest waker, as this slot once did, lost the first task's wake
/// for good (`several_tasks_accepting_on_one_listener_are_all_served` in
/// `tests/hostile.rs`). The waker of a future that is dropped while it waits stays until the
/// socket's next event or until it closes, and costs one spurious poll then.
#[derive(Debug, Default)]
struct IoSlot {
    generation: u32,
    is_registered: bool,
    readers: Vec<Waker>,
    writers: Vec<Waker>,
}

impl IoSlot {
    /// Moves every filed waker, both directions, into `woken`.
    fn take_all(&mut self, woken: &mut Vec<Waker>) {
        woken.append(&mut self.readers);
        woken.append(&mut self.writers);
    }
}

/// Keys of sockets dropped where their loop could not be reached; shared with every socket
/// of the loop (`Arc` and `Mutex`: a socket may be dropped on any thread).
#[derive(Debug, Default)]
pub(crate) struct OrphanedKeys {
    keys: Mutex<Vec<IoKey>>,
}

impl OrphanedKeys {
    fn lock(&self) -> MutexGuard<'_, Vec<IoKey>> {
        // Only pushes and swaps happen under this lock; nothing in it can panic.
        self.keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Files `key` for the reactor to free at its next wait.
    pub(crate) fn push(&self, key: IoKey) {
        self.lock().push(key);
    }
}

/// The OS poller and the wakers filed per socket.
#[derive(Debug)]
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    slots: Vec<IoSlot>,
    free: Vec<u32>,
    orphaned: Arc<OrphanedKeys>,
}

impl Reactor {
    /// Opens the poller, and the waker other threads use to interrupt its wait.
    pub(crate) fn new() -> io::Result<(Reactor, mio::Waker)> {
        let poll = Poll::new()?;
        let remote_waker = mio::Waker::new(poll.registry(), REMOTE_WAKE_TOKEN)?;
        let reactor = Reactor {
            poll,
            events: Events::with_capacity(EVENTS_PER_WAIT),
            slots: Vec::new(),
            free: Vec::new(),
            orphaned: Arc::default(),
        };
        Ok((reactor, remote_waker))
    }

    /// Registers `source` for both directions (edge-triggered) and returns its key.
    pub(crate) fn register(&mut self, source: &mut impl Source) -> io::Result<IoKey> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(IoSlot::default());
                u32::try_from(self.slots.len() - 1).expect("more than 4 billion sockets")
            }
        };
        let slot = &mut self.slots[index as usize];
        let key = IoKey {
            index,
            generation: slot.generation,
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) = self.poll.registry().register(source, key.token(), interest) {
            self.free.push(index);
            return Err(error);
        }
        slot.is_registered = true;
        Ok(key)
    }

    /// Removes `source` from the poller and frees its slot; returns the wakers it held, for
    /// the caller to drop outside any borrow.
    pub(crate) fn deregister(&mut self, key: IoKey, source: &mut impl Source) -> Vec<Waker> {
        let Some(slot) = self.live_slot(key) else {
            return Vec::new();
        };
        slot.is_registered = false;
        slot.generation = slot.generation.wrapping_add(1);
        let mut wakers = Vec::new();
        slot.take_all(&mut wakers);
        // The socket is about to be closed, which also removes it from epoll; an error here
        // changes nothing for the caller.
        let _ = self.poll.registry().deregister(source);
        self.free.push(key.index);
        wakers
    }

    /// The list where this reactor's sockets leave their key when they are dropped out of
    /// its reach.
    pub(crate) fn orphaned_keys(&self) -> Arc<OrphanedKeys> {
        Arc::clone(&self.orphaned)
    }

    /// Frees the slots of orphaned sockets. Their wakers go to `woken`, because dropping a
    /// waker may run code and the caller holds the reactor; waking them costs at most one
    /// spurious poll, which every future must accept.
    fn free_orphaned_slots(&mut self, woken: &mut Vec<Waker>) {
        let orphaned = std::mem::take(&mut *self.orphaned.lock());
        for key in orphaned {
            let Some(slot) = self.live_slot(key) else {
                continue;
            };
            slot.is_registered = false;
            slot.generation = slot.generation.wrapping_add(1);
            slot.take_all(woken);
            self.free.push(key.index);
        }
    }

    /// Files `waker` to be woken when the socket under `key` is ready in `direction`.
    pub(crate) fn file_waker(&mut self, key: IoKey, direction: Direction, waker: &Waker) {
        let Some(slot) = self.live_slot(key) else {
            return;
        };
        let filed = match direction {
            Direction::Read => &mut slot.readers,
            Direction::Write => &mut slot.writers,
        };
        if !filed.iter().any(|stored| stored.will_wake(waker)) {
            filed.push(waker.clone());
        }
    }

    /// Blocks until a socket is ready, a remote wake arrives, or `timeout` passes (`None`:
    /// no limit; zero: just look). Moves the wakers of ready sockets into `woken`.
    pub(crate) fn wait(
        &mut self,
        timeout: Option<Duration>,
        woken: &mut Vec<Waker>,
    ) -> io::Result<()> {
        // epoll counts whole milliseconds; round up so the loop never wakes before a deadline
        // just to find nothing due (and then spin until it is).
        let timeout = timeout.map(round_up_to_millis);
        self.free_orphaned_slots(woken);
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        }
        for event in &self.events {
            if event.token() == REMOTE_WAKE_TOKEN {
                continue; // the remote queue is read by the loop right after this
            }
            let key = IoKey::from_token(event.token());
            let Some(slot) = self.slots.get_mut(key.index as usize) else {
                continue;
            };
            if !slot.is_registered || slot.generation != key.generation {
                continue; // an event for a socket that has been closed meanwhile
            }
            let (read, write) = ready_directions(event);
            if read {
                woken.append(&mut slot.readers); // keeps the slot's capacity for next time
            }
            if write {
                woken.append(&mut slot.writers);
            }
        }
        Ok(())
    }

    /// Whether any task's waker is filed, waiting for a socket (the stuck check's quick sign:
    /// usually the first live slot answers).
    pub(crate) fn has_filed_wakers(&self) -> bool {
        let has_wakers = |slot: &IoSlot| !slot.readers.is_empty() || !slot.writers.is_empty();
        self.slots.iter().any(has_wakers)
    }

    /// How many sockets are registered and open (orphans waiting to be freed don't count).
    pub(crate) fn registered(&self) -> usize {
        let orphaned = self.orphaned.lock();
        let orphaned_live = orphaned.iter().filter(|key| self.is_live(**key)).count();
        self.slots.len() - self.free.len() - orphaned_live
    }

    /// Takes every filed waker (the loop is shutting down).
    pub(crate) fn take_all_wakers(&mut self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for slot in &mut self.slots {
            slot.take_all(&mut wakers);
        }
        wakers
    }

    fn is_live(&self, key: IoKey) -> bool {
        let slot = self.slots.get(key.index as usize);
        slot.is_some_and(|slot| slot.is_registered && slot.generation == key.generation)
    }

    fn live_slot(&mut self, key: IoKey) -> Option<&mut IoSlot> {
        let slot = self.slots.get_mut(key.index as usize)?;
        (slot.is_registered && slot.generation == key.generation).then_some(slot)
    }
}

/// Which directions an event makes ready, `(read, write)`. Errors and hang-ups wake both
/// sides: the next attempt reports what happened. (The runtime's driver reads events the
/// same way: `multi_thread/driver.rs`.)
pub(crate) fn ready_directions(event: &mio::event::Event) -> (bool, bool) {
    let is_closed = event.is_error() || event.is_read_closed() || event.is_write_closed();
    (
        event.is_readable() || is_closed,
        event.is_writable() || is_closed,
    )
}

/// `duration` rounded up to a whole number of milliseconds.
pub(crate) fn round_up_to_millis(duration: Duration) -> Duration {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_so_the_loop_never_wakes_early() {
        assert_eq!(
            round_up_to_millis(Duration::from_nanos(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_millis(3)),
            Duration::from_millis(3)
        );
        assert_eq!(
            round_up_to_millis(Duration::from_micros(3001)),
            Duration::from_millis(4)
        );
        assert_eq!(round_up_to_millis(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    #[cfg_attr(miri, ignore = "real TCP sockets: Miri has no TCP shims")]
    fn an_orphaned_socket_frees_its_slot_at_the_next_wait() {
        let (mut reactor, _remote_waker) = Reactor::new().unwrap();
        let address = "127.0.0.1:0".parse().unwrap();
        let mut first = mio::net::TcpListener::bind(address).unwrap();
        let key = reactor.register(&mut first).unwrap();
        drop(first); // as a socket dropped outside its loop: closed, never deregistered
        reactor.orphaned_keys().push(key);
        assert_eq!(reactor.registered(), 0, "an orphan no longer counts");
        let mut woken = Vec::new();
        reactor.wait(Some(Duration::ZERO), &mut woken).unwrap();
        let mut second = mio::net::TcpListener::bind(address).unwrap();
        let reused = reactor.register(&mut second).unwrap();
        assert_eq!(
            (reused.index, reused.generation),
            (key.index, key.generation + 1)
        );
        assert_eq!(reactor.registered(), 1);
    }

    #[test]
    fn tokens_carry_the_slot_and_its_generation() {
        let key = IoKey {
            index: 7,
            generation: 3,
        };
        assert_eq!(IoKey::from_token(key.token()), key);
    }
}
