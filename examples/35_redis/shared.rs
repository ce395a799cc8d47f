//! What the connections share: the keyspace, who is connected, who listens on which
//! channel, who waits on which list, and whether the server is shutting down.
//!
//! One connection is one task; a task that must hear from another (a subscriber, a client
//! blocked in `BLPOP`) has a *mailbox* here: bytes that other tasks append (encoded replies)
//! and the `Waker` of the task that empties it. That is lesson 33's channel, a queue plus
//! the waker of whoever waits on it; it needs nothing from a runtime but `std::task`, so the
//! tokio twin uses it unchanged.
//!
//! # Rules this module keeps
//! - Fan-out costs no thread: `PUBLISH` encodes the message once, appends it to each
//!   subscriber's mailbox and wakes each subscriber's task.
//! - A subscriber whose unread messages pass [`PUBSUB_OUTPUT_LIMIT`] (32 MiB, Redis's own hard
//!   limit for pub/sub clients) is evicted: its mailbox is freed, it leaves every channel,
//!   and its task closes the connection when it wakes.
//! - A list element pushed while clients wait in `BLPOP` goes to the client that has waited
//!   longest, straight into its mailbox, after the command that pushed it (after `EXEC` for
//!   a transaction), as Redis serves blocked clients. A client that leaves, or whose
//!   time runs out, stops waiting under the same lock, so an element is never handed to a
//!   client that is gone.
//! - All of it sits behind one `Mutex`, locked for one command at a time and never across an
//!   `.await` (the tasks are `Send`, as `miniloop::spawn` and `tokio::spawn` require; on one
//!   thread the lock is never contended).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::keyspace::{Bytes, ExpiryTimers, Keyspace, TimerHandle};
use crate::resp;

/// The unread messages a subscriber may have before it is evicted: 32 MiB.
pub const PUBSUB_OUTPUT_LIMIT: usize = 32 * 1024 * 1024;

/// A connection's number, from 1, in the order they connected (`CLIENT ID`).
pub type ClientId = u64;

/// The server's state behind its lock.
pub type SharedState = Arc<Mutex<Shared>>;

/// Locks the state. A panic while it was held (a bug) leaves it usable: each command leaves
/// the state consistent before it returns, so the data is not half-written.
pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Creates the state. `start_timer` is the runtime's half of expiry: it starts a timer that
/// calls [`expire_key`] at the deadline and returns its handle.
pub fn new_state(
    start_timer: fn(Weak<Mutex<Shared>>, Bytes, Instant) -> TimerHandle,
) -> SharedState {
    Arc::new_cyclic(|weak: &Weak<Mutex<Shared>>| {
        let weak = weak.clone();
        let timers: ExpiryTimers =
            Box::new(move |key, deadline| start_timer(weak.clone(), key.to_vec(), deadline));
        Mutex::new(Shared {
            keys: Keyspace::new(timers),
            clients: HashMap::new(),
            channels: HashMap::new(),
            waiting: HashMap::new(),
            ready_lists: Vec::new(),
            next_id: 1,
            shutdown: Shutdown::default(),
            started: Instant::now(),
        })
    })
}

/// What a key's timer does at its deadline: remove the key, if the server is still there and
/// that is still the key's deadline.
pub fn expire_key(shared: &Weak<Mutex<Shared>>, key: &[u8], deadline: Instant) {
    if let Some(shared) = shared.upgrade() {
        lock(&shared).keys.expire_due(key, deadline);
    }
}

/// One connected client, as the others see it.
#[derive(Debug)]
struct Client {
    address: String,
    name: Option<Bytes>,
    /// Replies that other clients' commands addressed to this one: published messages, the
    /// element a `BLPOP` was waiting for.
    mailbox: Vec<u8>,
    /// The client's task, while it waits for its mailbox.
    waker: Option<Waker>,
    /// The channels it listens on.
    channels: BTreeSet<Bytes>,
    /// The lists it waits on in `BLPOP`, in the order given; empty when not blocked.
    blocked_on: Vec<Bytes>,
    /// Its unread messages passed the limit: the task is to close the connection.
    is_evicted: bool,
}

impl Client {
    fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            // On the loop's own thread a wake only queues the task: safe under the lock.
            waker.wake();
        }
    }
}

/// What a client's mailbox had for it.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Bytes were moved into the output buffer.
    Delivered,
    /// The client was evicted (too many unread messages): close the connection.
    Evicted,
}

/// A request to stop the server (`SHUTDOWN`, Ctrl-C), and the accept loop that waits for it.
#[derive(Debug, Default)]
struct Shutdown {
    is_requested: bool,
    waker: Option<Waker>,
}

/// The state every connection shares.
#[derive(Debug)]
pub struct Shared {
    /// The keys and values.
    pub keys: Keyspace,
    clients: HashMap<ClientId, Client>,
    /// The subscribers of each channel (one set per channel, as the issue asks).
    channels: HashMap<Bytes, BTreeSet<ClientId>>,
    /// The clients blocked on each list, longest waiting first.
    waiting: HashMap<Bytes, VecDeque<ClientId>>,
    /// Lists pushed to by the current command, while someone waits on them.
    ready_lists: Vec<Bytes>,
    next_id: ClientId,
    shutdown: Shutdown,
    /// When the server started (`INFO`'s uptime).
    pub started: Instant,
}

impl Shared {
    /// Registers a new connection from `address`; returns its id.
    pub fn connect(&mut self, address: String) -> ClientId {
        let id = self.next_id;
        self.next_id += 1;
        self.clients.insert(
            id,
            Client {
                address,
                name: None,
                mailbox: Vec::new(),
                waker: None,
                channels: BTreeSet::new(),
                blocked_on: Vec::new(),
                is_evicted: false,
            },
        );
        id
    }

    /// Forgets a connection that closed: its channels, its waits, its mailbox.
    pub fn disconnect(&mut self, id: ClientId) {
        self.unblock(id);
        self.unsubscribe_all(id);
        self.clients.remove(&id);
    }

    /// How many clients are connected.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// `CLIENT SETNAME`.
    pub fn set_name(&mut self, id: ClientId, name: Option<Bytes>) {
        if let Some(client) = self.clients.get_mut(&id) {
            client.name = name;
        }
    }

    /// `CLIENT GETNAME`.
    pub fn name(&self, id: ClientId) -> Option<&[u8]> {
        self.clients.get(&id)?.name.as_deref()
    }

    /// `CLIENT LIST`: one line per client, oldest first.
    pub fn client_list(&self) -> String {
        let mut ids: Vec<&ClientId> = self.clients.keys().collect();
        ids.sort();
        ids.iter()
            .map(|id| {
                let client = &self.clients[id];
                format!(
                    "id={id} addr={} name={} sub={} blocked={}\n",
                    client.address,
                    String::from_utf8_lossy(client.name.as_deref().unwrap_or_default()),
                    client.channels.len(),
                    u8::from(!client.blocked_on.is_empty()),
                )
            })
            .collect()
    }

    // Pub/sub.

    /// Adds `id` to `channel`'s subscribers; returns how many channels it now listens on.
    pub fn subscribe(&mut self, id: ClientId, channel: &[u8]) -> usize {
        let Some(client) = self.clients.get_mut(&id) else {
            return 0;
        };
        if client.channels.insert(channel.to_vec()) {
            self.channels
                .entry(channel.to_vec())
                .or_default()
                .insert(id);
        }
        client.channels.len()
    }

    /// Removes `id` from `channel`; returns how many channels it still listens on.
    pub fn unsubscribe(&mut self, id: ClientId, channel: &[u8]) -> usize {
        let Some(client) = self.clients.get_mut(&id) else {
            return 0;
        };
        if client.channels.remove(channel) {
            if let Some(subscribers) = self.channels.get_mut(channel) {
                subscribers.remove(&id);
                if subscribers.is_empty() {
                    self.channels.remove(channel);
                }
            }
        }
        client.channels.len()
    }

    /// The channels `id` listens on, in order.
    pub fn channels_of(&self, id: ClientId) -> Vec<Bytes> {
        self.clients
            .get(&id)
            .map(|client| client.channels.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn unsubscribe_all(&mut self, id: ClientId) {
        for channel in self.channels_of(id) {
            self.unsubscribe(id, &channel);
        }
    }

    /// Sends `message` to every subscriber of `channel`; returns how many there were.
    pub fn publish(&mut self, channel: &[u8], message: &[u8]) -> usize {
        let Some(subscribers) = self.channels.get(channel) else {
            return 0;
        };
        // Encoded once; each subscriber gets a copy of the bytes.
        let mut encoded = Vec::with_capacity(message.len() + channel.len() + 32);
        resp::array_header(&mut encoded, 3);
        resp::bulk(&mut encoded, b"message");
        resp::bulk(&mut encoded, channel);
        resp::bulk(&mut encoded, message);
        let mut evicted = Vec::new();
        for id in subscribers {
            let Some(client) = self.clients.get_mut(id) else {
                continue;
            };
            client.mailbox.extend_from_slice(&encoded);
            if client.mailbox.len() > PUBSUB_OUTPUT_LIMIT {
                client.is_evicted = true;
                client.mailbox = Vec::new();
                evicted.push(*id);
            }
            client.wake();
        }
        let receivers = subscribers.len();
        for id in evicted {
            self.unsubscribe_all(id);
        }
        receivers
    }

    /// Moves what `id`'s mailbox holds into `out`, or files the task's waker and returns
    /// `Pending` if it is empty.
    pub fn poll_mailbox(
        &mut self,
        id: ClientId,
        out: &mut Vec<u8>,
        cx: &mut Context<'_>,
    ) -> Poll<Delivery> {
        let Some(client) = self.clients.get_mut(&id) else {
            return Poll::Ready(Delivery::Evicted);
        };
        if client.is_evicted {
            return Poll::Ready(Delivery::Evicted);
        }
        if !client.mailbox.is_empty() {
            if out.is_empty() {
                std::mem::swap(out, &mut client.mailbox);
            } else {
                out.append(&mut client.mailbox);
            }
            return Poll::Ready(Delivery::Delivered);
        }
        match &client.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => client.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Moves what `id`'s mailbox holds into `out` without waiting; whether there was any.
    pub fn take_mailbox(&mut self, id: ClientId, out: &mut Vec<u8>) -> bool {
        match self.clients.get_mut(&id) {
            Some(client) if !client.mailbox.is_empty() => {
                out.append(&mut client.mailbox);
                true
            }
            _ => false,
        }
    }

    /// Whether `id` was evicted; files the task's waker if not, to hear of it.
    pub fn poll_evicted(&mut self, id: ClientId, cx: &mut Context<'_>) -> Poll<()> {
        let Some(client) = self.clients.get_mut(&id) else {
            return Poll::Ready(());
        };
        if client.is_evicted {
            return Poll::Ready(());
        }
        client.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    // Blocking list pops.

    /// Marks `id` as waiting in `BLPOP` on `keys`.
    pub fn block(&mut self, id: ClientId, keys: Vec<Bytes>) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        for key in &keys {
            self.waiting.entry(key.clone()).or_default().push_back(id);
        }
        client.blocked_on = keys;
    }

    /// `id` stops waiting (its time ran out, or it left); whether it was still waiting.
    pub fn unblock(&mut self, id: ClientId) -> bool {
        let Some(client) = self.clients.get_mut(&id) else {
            return false;
        };
        let keys = std::mem::take(&mut client.blocked_on);
        for key in &keys {
            if let Some(queue) = self.waiting.get_mut(key) {
                queue.retain(|waiter| *waiter != id);
                if queue.is_empty() {
                    self.waiting.remove(key);
                }
            }
        }
        !keys.is_empty()
    }

    /// Notes that `key` got elements, for [`Shared::serve_blocked`] to hand out.
    pub fn note_pushed(&mut self, key: &[u8]) {
        if self.waiting.contains_key(key) && !self.ready_lists.iter().any(|k| k == key) {
            self.ready_lists.push(key.to_vec());
        }
    }

    /// Hands the elements pushed by the last command to the clients waiting for them,
    /// longest waiting first, one element each; each gets `[key, element]` in its mailbox.
    pub fn serve_blocked(&mut self) {
        while let Some(key) = self.ready_lists.pop() {
            while let Some(&id) = self.waiting.get(&key).and_then(VecDeque::front) {
                let popped = match self.keys.pop_front(&key, 1) {
                    Ok(mut popped) if !popped.is_empty() => popped.remove(0),
                    _ => break, // emptied, or no longer a list
                };
                self.unblock(id);
                let client = self
                    .clients
                    .get_mut(&id)
                    .expect("a waiting client is connected");
                resp::array_header(&mut client.mailbox, 2);
                resp::bulk(&mut client.mailbox, &key);
                resp::bulk(&mut client.mailbox, &popped);
                client.wake();
            }
        }
    }

    // Shutdown.

    /// Asks the server to stop (`SHUTDOWN`, Ctrl-C); wakes the accept loop.
    pub fn request_shutdown(&mut self) {
        self.shutdown.is_requested = true;
        if let Some(waker) = self.shutdown.waker.take() {
            waker.wake();
        }
    }

    /// Ready once a shutdown was requested.
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shutdown.is_requested {
            return Poll::Ready(());
        }
        self.shutdown.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
