//! The keyspace: keys, their values (strings and lists), and when they expire.
//!
//! Plain data and no runtime. The one thing it needs from the runtime it runs on is a timer
//! per key with a time to live, and it asks for one through [`ExpiryTimers`], a function the
//! runtime hands in: the miniloop server spawns a task that sleeps on the loop's timer heap,
//! the tokio twin a tokio task.
//!
//! # Rules this module keeps
//! - A key with a time to live has exactly one live timer; changing or removing its expiry
//!   (a new `SET`, `DEL`, `FLUSHDB`) cancels the old timer at once, so a client that sets and
//!   deletes the same key a million times leaves no timers behind.
//! - Keys expire by their timer, not by a scan of the keyspace. A key whose deadline passed
//!   but whose timer has not run yet (it runs at the loop's next turn) is already gone for
//!   every command: reads check the deadline too.
//! - The clock is read only for keys that have a deadline: a `GET` of a key without one
//!   costs no `Instant::now()`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Instant;

/// A key, or a value: Redis's are binary-safe byte strings.
pub type Bytes = Vec<u8>;

/// What a key holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (numbers are strings too: `INCR` parses and rewrites them).
    Str(Bytes),
    /// A list (`LPUSH`, `RPUSH`, `LPOP`, `BLPOP`). Never empty: popping the last element
    /// removes the key, as in Redis.
    List(VecDeque<Bytes>),
}

/// A running expiry timer; calling `cancel` stops it.
pub struct TimerHandle {
    cancel: Box<dyn FnOnce() + Send>,
}

impl TimerHandle {
    /// A handle whose `cancel` runs `cancel` (the runtime's `JoinHandle::abort`).
    pub fn new(cancel: impl FnOnce() + Send + 'static) -> TimerHandle {
        TimerHandle {
            cancel: Box::new(cancel),
        }
    }

    fn cancel(self) {
        (self.cancel)();
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TimerHandle")
    }
}

/// Starts a timer that calls [`Keyspace::expire_due`] for `key` at `deadline` (on the
/// runtime's loop, holding the server's lock), and returns its handle.
pub type ExpiryTimers = Box<dyn Fn(&[u8], Instant) -> TimerHandle + Send>;

/// One key's value and, if it has a time to live, its deadline and timer.
#[derive(Debug)]
struct Slot {
    value: Value,
    expiry: Option<(Instant, TimerHandle)>,
}

impl Slot {
    fn is_expired(&self) -> bool {
        // Only keys with a deadline read the clock.
        matches!(&self.expiry, Some((deadline, _)) if *deadline <= Instant::now())
    }

    fn cancel_timer(&mut self) {
        if let Some((_, timer)) = self.expiry.take() {
            timer.cancel();
        }
    }
}

/// The error of a command applied to a key of the other kind (`LPUSH` on a string).
#[derive(Debug, PartialEq, Eq)]
pub struct WrongType;

/// How `SET` treats the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Plain `SET`: the key no longer expires.
    Clear,
    /// `SET ... KEEPTTL`: keep whatever deadline the key had.
    Keep,
    /// `SET ... EX`/`PX`: expire at this instant.
    At(Instant),
}

/// The keys and their values.
pub struct Keyspace {
    slots: HashMap<Bytes, Slot>,
    timers: ExpiryTimers,
}

impl fmt::Debug for Keyspace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyspace")
            .field("keys", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Keyspace {
    /// An empty keyspace that starts its expiry timers with `timers`.
    pub fn new(timers: ExpiryTimers) -> Keyspace {
        Keyspace {
            slots: HashMap::new(),
            timers,
        }
    }

    /// The live slot of `key`, removing it first if its deadline has passed.
    fn live(&mut self, key: &[u8]) -> Option<&mut Slot> {
        if self.slots.get(key)?.is_expired() {
            self.remove(key);
            return None;
        }
        self.slots.get_mut(key)
    }

    /// The value of `key`, if it exists and has not expired.
    pub fn get(&mut self, key: &[u8]) -> Option<&Value> {
        self.live(key).map(|slot| &slot.value)
    }

    /// The string at `key`: `Ok(None)` if there is none, `Err` if it holds a list.
    pub fn get_str(&mut self, key: &[u8]) -> Result<Option<&[u8]>, WrongType> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Str(bytes)) => Ok(Some(bytes)),
            Some(Value::List(_)) => Err(WrongType),
        }
    }

    /// Whether `key` exists.
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.live(key).is_some()
    }

    /// Stores a string at `key`, replacing whatever was there.
    pub fn set(&mut self, key: &[u8], value: &[u8], ttl: Ttl) {
        let deadline = match ttl {
            Ttl::At(deadline) => Some(deadline),
            Ttl::Clear => None,
            Ttl::Keep => self.deadline(key),
        };
        let timers = &self.timers;
        if let Some(slot) = self.slots.get_mut(key) {
            match &mut slot.value {
                // Overwriting a string reuses its buffer when the new value fits and would
                // not leave most of it empty: no allocation for "set the same key again".
                Value::Str(old)
                    if old.capacity() >= value.len() && old.capacity() <= 2 * value.len() + 64 =>
                {
                    old.clear();
                    old.extend_from_slice(value);
                }
                other => *other = Value::Str(value.to_vec()),
            }
            // KEEPTTL keeps the running timer; anything else replaces or removes it.
            let keeps_timer = matches!(
                (&slot.expiry, deadline),
                (Some((old, _)), Some(new)) if *old == new
            );
            if !keeps_timer {
                slot.cancel_timer();
                slot.expiry = deadline.map(|at| (at, timers(key, at)));
            }
            return;
        }
        let expiry = deadline.map(|at| (at, timers(key, at)));
        self.slots.insert(
            key.to_vec(),
            Slot {
                value: Value::Str(value.to_vec()),
                expiry,
            },
        );
    }

    /// Removes `key`; whether it existed (expired keys do not count).
    pub fn remove(&mut self, key: &[u8]) -> bool {
        match self.slots.remove(key) {
            Some(mut slot) => {
                let was_live = !slot.is_expired();
                slot.cancel_timer();
                was_live
            }
            None => false,
        }
    }

    /// When `key` expires: `None` if it does not exist or has no time to live.
    pub fn deadline(&mut self, key: &[u8]) -> Option<Instant> {
        self.live(key)?
            .expiry
            .as_ref()
            .map(|(deadline, _)| *deadline)
    }

    /// Sets `key` to expire at `deadline`; `false` if there is no such key. A deadline that
    /// has already passed removes the key now, as `EXPIRE key 0` does in Redis.
    pub fn expire_at(&mut self, key: &[u8], deadline: Instant) -> bool {
        if deadline <= Instant::now() {
            return self.remove(key);
        }
        let timers = &self.timers;
        let Some(slot) = self.slots.get_mut(key).filter(|slot| !slot.is_expired()) else {
            self.remove(key);
            return false;
        };
        slot.cancel_timer();
        slot.expiry = Some((deadline, timers(key, deadline)));
        true
    }

    /// Removes `key`'s time to live (`PERSIST`); whether it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        match self.live(key) {
            Some(slot) if slot.expiry.is_some() => {
                slot.cancel_timer();
                true
            }
            _ => false,
        }
    }

    /// Called by `key`'s timer at `deadline`: removes the key if that is still its deadline.
    /// (A timer is cancelled when its deadline changes; this guards the turn between.)
    pub fn expire_due(&mut self, key: &[u8], deadline: Instant) -> bool {
        let is_due = matches!(
            self.slots.get(key),
            Some(Slot { expiry: Some((at, _)), .. }) if *at == deadline
        );
        if is_due {
            // The timer calling us has finished: dropping its handle is all that is left.
            if let Some(slot) = self.slots.remove(key) {
                drop(slot.expiry);
            }
        }
        is_due
    }

    /// The list at `key`, created empty if there is none (the caller must push to it, since
    /// an empty list must not stay); `Err` if the key holds a string.
    pub fn list_for_push(&mut self, key: &[u8]) -> Result<&mut VecDeque<Bytes>, WrongType> {
        if self.live(key).is_none() {
            self.slots.insert(
                key.to_vec(),
                Slot {
                    value: Value::List(VecDeque::new()),
                    expiry: None,
                },
            );
        }
        match &mut self.slots.get_mut(key).expect("inserted above").value {
            Value::List(list) => Ok(list),
            Value::Str(_) => Err(WrongType),
        }
    }

    /// Pops up to `count` elements from the front of the list at `key`; removes the key when
    /// the list empties. `Ok(empty)` when there is no such key.
    pub fn pop_front(&mut self, key: &[u8], count: usize) -> Result<Vec<Bytes>, WrongType> {
        let Some(slot) = self.live(key) else {
            return Ok(Vec::new());
        };
        let Value::List(list) = &mut slot.value else {
            return Err(WrongType);
        };
        let popped: Vec<Bytes> = list.drain(..count.min(list.len())).collect();
        if list.is_empty() {
            self.remove(key);
        }
        Ok(popped)
    }

    /// How many keys there are (keys past their deadline whose timer has not run yet
    /// included, as Redis's `DBSIZE` counts them).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Removes every key and cancels every timer.
    pub fn clear(&mut self) {
        for (_, mut slot) in self.slots.drain() {
            slot.cancel_timer();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A keyspace whose timers only count how many were started and cancelled.
    fn counting() -> (Keyspace, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let started = Arc::new(AtomicUsize::new(0));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let (s, c) = (started.clone(), cancelled.clone());
        let timers: ExpiryTimers = Box::new(move |_key, _deadline| {
            s.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            TimerHandle::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            })
        });
        (Keyspace::new(timers), started, cancelled)
    }

    #[test]
    fn every_change_of_expiry_cancels_the_old_timer() {
        let (mut keys, started, cancelled) = counting();
        let later = Instant::now() + Duration::from_secs(60);
        for _ in 0..1000 {
            keys.set(b"k", b"v", Ttl::At(later));
            keys.remove(b"k");
        }
        keys.set(b"k", b"v", Ttl::At(later));
        keys.set(b"k", b"w", Ttl::Keep); // KEEPTTL keeps the timer running
        assert_eq!(keys.deadline(b"k"), Some(later));
        keys.set(b"k", b"x", Ttl::Clear);
        assert_eq!(keys.deadline(b"k"), None);
        let live = started.load(Ordering::SeqCst) - cancelled.load(Ordering::SeqCst);
        assert_eq!(live, 0, "no timer outlives its expiry");
    }

    #[test]
    fn a_key_past_its_deadline_is_gone_before_its_timer_runs() {
        let (mut keys, _, cancelled) = counting();
        keys.set(b"k", b"v", Ttl::At(Instant::now()));
        assert_eq!(keys.len(), 1, "still stored: the timer has not run");
        assert_eq!(keys.get_str(b"k"), Ok(None));
        assert_eq!(keys.len(), 0, "the read removed it");
        assert_eq!(cancelled.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_timer_removes_its_key_only_at_its_own_deadline() {
        let (mut keys, _, _) = counting();
        let first = Instant::now() + Duration::from_secs(60);
        keys.set(b"k", b"v", Ttl::At(first));
        assert!(keys.expire_at(b"k", first + Duration::from_secs(1)));
        assert!(
            !keys.expire_due(b"k", first),
            "a stale timer changes nothing"
        );
        assert!(keys.expire_due(b"k", first + Duration::from_secs(1)));
        assert!(!keys.contains(b"k"));
    }

    #[test]
    fn lists_and_strings_refuse_each_other() {
        let (mut keys, _, _) = counting();
        keys.set(b"s", b"v", Ttl::Clear);
        assert_eq!(keys.list_for_push(b"s").err(), Some(WrongType));
        keys.list_for_push(b"l").unwrap().push_back(b"a".to_vec());
        assert_eq!(keys.get_str(b"l"), Err(WrongType));
        assert_eq!(keys.pop_front(b"l", 5), Ok(vec![b"a".to_vec()]));
        assert!(!keys.contains(b"l"), "an emptied list is removed");
    }
}
