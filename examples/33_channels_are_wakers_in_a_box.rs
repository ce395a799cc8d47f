//! Lesson 33: channels are wakers in a box
//!
//! A channel between two tasks is a queue behind a lock, plus the wakers of whoever
//! waits on it: the receiver's, parked on an empty queue, and the senders', parked
//! on a full one. `send` puts a message in and wakes the receiver; `recv` takes one
//! out and wakes the senders; dropping the last sender (or the receiver) closes the
//! channel and wakes the other side so it can see that. That is all.
//!
//! - Output 1: a oneshot and a bounded mpsc channel, written here (`Arc<Mutex<_>>`,
//!   a `VecDeque`, stored `Waker`s), between a producer and a consumer task on
//!   miniloop: 10 messages through capacity 2. It prints the order of events (the
//!   producer waits when the channel is full: back-pressure) and counts the wakes.
//! - Outputs 2 and 3: the same program on `futures::channel` and on `tokio::sync`,
//!   which run on any executor. The lines that do not depend on the implementation
//!   are the same; the order of events and the counts show where they differ.
//! - Outputs 4 and 5: a `std::sync::Mutex` guard held across an `.await`, on one
//!   thread. Another task cannot get the lock until the holder runs again, and the
//!   holder cannot run until that task yields: `lock()` would never return (shown
//!   with `try_lock`, so the lesson does not hang). Then an async mutex, whose
//!   waiter parks instead.
//!
//! Run it:     cargo run --example 33_channels_are_wakers_in_a_box
//! Read:       docs/33-channels-are-wakers-in-a-box.md
//! Debug it:   break on `33_channels_are_wakers_in_a_box::Receiver<u32>::poll_recv<u32>`,
//!             then `print self.state.ptr.pointer.data.data.value` (the `Arc`, then the
//!             `Mutex`): the queue (`{1, 2}` at the first stop), the waker of the
//!             producer waiting for room, the count of senders
//!
//! The delays are a few milliseconds, so this lesson has no time scale. No line
//! depends on timing except the number of `try_lock` attempts in output 4.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use miniloop::{sleep, spawn, timeout, yield_now, Elapsed, JoinError};

/// How many messages go through the channel, and how many fit in it at once.
const MESSAGES: u32 = 10;
const CAPACITY: usize = 2;

/// How long part 3's lock holders keep their lock.
const HOLD: Duration = Duration::from_millis(10);

/// The error of a send or a receive on a closed channel.
#[derive(Debug, PartialEq, Eq)]
struct Closed;

// ---------------------------------------------------------------------------------
// A oneshot channel: one value, once.
// ---------------------------------------------------------------------------------

/// What the two ends of a oneshot share.
#[derive(Debug)]
struct OnceState<T> {
    value: Option<T>,
    /// The receiver's waker, from its latest `Pending` poll.
    receiver_waker: Option<Waker>,
    is_sender_gone: bool,
    is_receiver_gone: bool,
}

/// The sending end: `send` consumes it, so a oneshot carries one value at most.
#[derive(Debug)]
struct OnceSender<T> {
    state: Arc<Mutex<OnceState<T>>>,
}

/// The receiving end: a future of the value, or of `Closed` if the sender is
/// dropped without sending.
#[derive(Debug)]
struct OnceReceiver<T> {
    state: Arc<Mutex<OnceState<T>>>,
}

fn oneshot<T>() -> (OnceSender<T>, OnceReceiver<T>) {
    let state = Arc::new(Mutex::new(OnceState {
        value: None,
        receiver_waker: None,
        is_sender_gone: false,
        is_receiver_gone: false,
    }));
    let sender = OnceSender {
        state: Arc::clone(&state),
    };
    (sender, OnceReceiver { state })
}

impl<T> OnceSender<T> {
    /// Puts the value in and wakes the receiver; gives the value back if the
    /// receiver is gone.
    fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut state = self.state.lock().unwrap();
            if state.is_receiver_gone {
                return Err(value);
            }
            state.value = Some(value);
            state.receiver_waker.take()
        };
        // Wake after unlocking: the woken task may run on another thread at once, and
        // its first act is to take this lock.
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    } // `self` is dropped here; its `Drop` finds no waker left to wake
}

impl<T> Drop for OnceSender<T> {
    /// Closes the channel: a receiver still waiting must wake up to see it.
    fn drop(&mut self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.is_sender_gone = true;
            state.receiver_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for OnceReceiver<T> {
    type Output = Result<T, Closed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Closed>> {
        let mut state = self.state.lock().unwrap();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Ok(value));
        }
        if state.is_sender_gone {
            return Poll::Ready(Err(Closed));
        }
        // Keep the latest waker (lesson 21); `clone_from` skips the clone if it is the same.
        match &mut state.receiver_waker {
            Some(kept) => kept.clone_from(cx.waker()),
            empty => *empty = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for OnceReceiver<T> {
    fn drop(&mut self) {
        self.state.lock().unwrap().is_receiver_gone = true;
    }
}

// ---------------------------------------------------------------------------------
// A bounded mpsc channel: many senders, one receiver, at most `capacity` in between.
// ---------------------------------------------------------------------------------

/// What all the ends of a bounded channel share.
#[derive(Debug)]
struct ChannelState<T> {
    queue: VecDeque<T>,
    capacity: usize,
    /// The receiver's waker, while it waits on an empty queue.
    receiver_waker: Option<Waker>,
    /// The wakers of senders waiting on a full queue, oldest first.
    sender_wakers: VecDeque<Waker>,
    /// Live `Sender`s: when the last one goes, the receiver gets `None`.
    senders: usize,
    is_receiver_gone: bool,
}

#[derive(Debug)]
struct Sender<T> {
    state: Arc<Mutex<ChannelState<T>>>,
}

#[derive(Debug)]
struct Receiver<T> {
    state: Arc<Mutex<ChannelState<T>>>,
}

fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "a bounded channel needs room for one message at least"
    );
    let state = Arc::new(Mutex::new(ChannelState {
        queue: VecDeque::with_capacity(capacity),
        capacity,
        receiver_waker: None,
        sender_wakers: VecDeque::new(),
        senders: 1,
        is_receiver_gone: false,
    }));
    let sender = Sender {
        state: Arc::clone(&state),
    };
    (sender, Receiver { state })
}

/// `send`'s value is gone only once it returned `Ready`, after which it is not polled.
const SEND_IS_DONE: &str = "a `send` should not be polled after it returned `Ready`";

impl<T> Sender<T> {
    /// Waits for room, then puts `value` in; gives it back if the receiver is gone.
    async fn send(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        poll_fn(|cx| self.poll_send(cx, &mut value)).await
    }

    fn poll_send(&self, cx: &mut Context<'_>, value: &mut Option<T>) -> Poll<Result<(), T>> {
        let mut state = self.state.lock().unwrap();
        if state.is_receiver_gone {
            return Poll::Ready(Err(value.take().expect(SEND_IS_DONE)));
        }
        if state.queue.len() == state.capacity {
            // Full: wait. Back-pressure is nothing more than this `Pending`.
            state.sender_wakers.push_back(cx.waker().clone());
            return Poll::Pending;
        }
        state.queue.push_back(value.take().expect(SEND_IS_DONE));
        let receiver = state.receiver_waker.take();
        drop(state); // wake after unlocking (see `OnceSender::send`)
        if let Some(waker) = receiver {
            waker.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.state.lock().unwrap().senders += 1;
        Sender {
            state: Arc::clone(&self.state),
        }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender closes the channel: the receiver must wake to see `None`.
    fn drop(&mut self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.senders -= 1;
            match state.senders {
                0 => state.receiver_waker.take(),
                _ => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next message, or `None` once every sender is gone and the queue is empty.
    async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.state.lock().unwrap();
        if let Some(value) = state.queue.pop_front() {
            // Room for one: wake the waiting senders. All of them, not the oldest only:
            // a sender whose `send` was cancelled (lesson 31) would swallow a single wake,
            // and the others would wait for ever. (tokio's channel avoids waking a herd
            // with a queue of waiters that a cancelled `send` leaves as it is dropped.)
            let senders = std::mem::take(&mut state.sender_wakers);
            drop(state);
            senders.into_iter().for_each(Waker::wake);
            return Poll::Ready(Some(value));
        }
        if state.senders == 0 {
            return Poll::Ready(None);
        }
        match &mut state.receiver_waker {
            Some(kept) => kept.clone_from(cx.waker()),
            empty => *empty = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    /// Closes the channel: waiting senders must wake to get their values back.
    fn drop(&mut self) {
        let senders = {
            let mut state = self.state.lock().unwrap();
            state.is_receiver_gone = true;
            std::mem::take(&mut state.sender_wakers)
        };
        senders.into_iter().for_each(Waker::wake);
    }
}

// ---------------------------------------------------------------------------------
// One program, three implementations of its channels.
// ---------------------------------------------------------------------------------

/// What the program needs of a bounded channel and a oneshot. Each method returns a
/// `Send` future, so that the tasks using it can be spawned (and `'static`, as
/// spawned tasks must be). An impl may write them as `async fn`s: the compiler then
/// checks that each one's future is `Send`.
trait Channels: 'static {
    const NAME: &'static str;
    type Sender: Send + 'static;
    type Receiver: Send + 'static;
    type OnceSender: Send + 'static;
    type OnceReceiver: Send + 'static;

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver);
    fn send(
        sender: &mut Self::Sender,
        value: u32,
    ) -> impl Future<Output = Result<(), Closed>> + Send + '_;
    fn recv(receiver: &mut Self::Receiver) -> impl Future<Output = Option<u32>> + Send + '_;
    fn oneshot() -> (Self::OnceSender, Self::OnceReceiver);
    fn send_once(sender: Self::OnceSender, value: u32) -> Result<(), Closed>;
    fn recv_once(receiver: Self::OnceReceiver) -> impl Future<Output = Result<u32, Closed>> + Send;
}

/// The channels written above.
#[derive(Debug)]
struct Ours;

impl Channels for Ours {
    const NAME: &'static str = "Our channels, written in this file";
    type Sender = Sender<u32>;
    type Receiver = Receiver<u32>;
    type OnceSender = OnceSender<u32>;
    type OnceReceiver = OnceReceiver<u32>;

    fn bounded(capacity: usize) -> (Sender<u32>, Receiver<u32>) {
        channel(capacity)
    }
    async fn send(sender: &mut Sender<u32>, value: u32) -> Result<(), Closed> {
        sender.send(value).await.map_err(|_| Closed)
    }
    fn recv(receiver: &mut Receiver<u32>) -> impl Future<Output = Option<u32>> + Send + '_ {
        receiver.recv()
    }
    fn oneshot() -> (OnceSender<u32>, OnceReceiver<u32>) {
        oneshot()
    }
    fn send_once(sender: OnceSender<u32>, value: u32) -> Result<(), Closed> {
        sender.send(value).map_err(|_| Closed)
    }
    fn recv_once(receiver: OnceReceiver<u32>) -> impl Future<Output = Result<u32, Closed>> + Send {
        receiver
    }
}

/// `futures::channel`: the futures crate's channels, which need no runtime.
#[derive(Debug)]
struct Futures;

impl Channels for Futures {
    const NAME: &'static str = "The same program on futures::channel::{mpsc, oneshot}";
    type Sender = futures::channel::mpsc::Sender<u32>;
    type Receiver = futures::channel::mpsc::Receiver<u32>;
    type OnceSender = futures::channel::oneshot::Sender<u32>;
    type OnceReceiver = futures::channel::oneshot::Receiver<u32>;

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
        // futures' bound is `buffer` plus one slot per sender: one sender, so one less.
        futures::channel::mpsc::channel(capacity - 1)
    }
    async fn send(sender: &mut Self::Sender, value: u32) -> Result<(), Closed> {
        let sent = futures::SinkExt::send(sender, value).await;
        sent.map_err(|_| Closed)
    }
    fn recv(receiver: &mut Self::Receiver) -> impl Future<Output = Option<u32>> + Send + '_ {
        futures::StreamExt::next(receiver)
    }
    fn oneshot() -> (Self::OnceSender, Self::OnceReceiver) {
        futures::channel::oneshot::channel()
    }
    fn send_once(sender: Self::OnceSender, value: u32) -> Result<(), Closed> {
        sender.send(value).map_err(|_| Closed)
    }
    async fn recv_once(receiver: Self::OnceReceiver) -> Result<u32, Closed> {
        receiver.await.map_err(|_| Closed)
    }
}

/// `tokio::sync`: tokio's channels, which need no tokio runtime either.
#[derive(Debug)]
struct Tokio;

impl Channels for Tokio {
    const NAME: &'static str = "The same program on tokio::sync::{mpsc, oneshot}";
    type Sender = tokio::sync::mpsc::Sender<u32>;
    type Receiver = tokio::sync::mpsc::Receiver<u32>;
    type OnceSender = tokio::sync::oneshot::Sender<u32>;
    type OnceReceiver = tokio::sync::oneshot::Receiver<u32>;

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
        tokio::sync::mpsc::channel(capacity)
    }
    async fn send(sender: &mut Self::Sender, value: u32) -> Result<(), Closed> {
        sender.send(value).await.map_err(|_| Closed)
    }
    fn recv(receiver: &mut Self::Receiver) -> impl Future<Output = Option<u32>> + Send + '_ {
        receiver.recv()
    }
    fn oneshot() -> (Self::OnceSender, Self::OnceReceiver) {
        tokio::sync::oneshot::channel()
    }
    fn send_once(sender: Self::OnceSender, value: u32) -> Result<(), Closed> {
        sender.send(value).map_err(|_| Closed)
    }
    async fn recv_once(receiver: Self::OnceReceiver) -> Result<u32, Closed> {
        receiver.await.map_err(|_| Closed)
    }
}

/// What happened, in order, shared by the tasks.
#[derive(Clone, Debug, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, event: impl Into<String>) {
        self.0.lock().unwrap().push(event.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// How far the producer ran ahead of the consumer.
#[derive(Debug, Default)]
struct Progress {
    sent: AtomicU32,
    received: AtomicU32,
    most_ahead: AtomicU32,
}

/// Counts the wakes of the future it wraps: it polls that future with a waker of its
/// own, which counts each wake and passes it on to the task's waker. It works the same
/// whatever channel is inside.
struct CountWakes<F> {
    future: Pin<Box<F>>,
    wakes: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct CountingWaker {
    task: Waker,
    wakes: Arc<AtomicUsize>,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.task.wake_by_ref();
    }
}

impl<F: Future> Future for CountWakes<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let waker = Waker::from(Arc::new(CountingWaker {
            task: cx.waker().clone(),
            wakes: Arc::clone(&self.wakes),
        }));
        self.future.as_mut().poll(&mut Context::from_waker(&waker))
    }
}

fn count_wakes<F: Future>(future: F, wakes: &Arc<AtomicUsize>) -> CountWakes<F> {
    CountWakes {
        future: Box::pin(future),
        wakes: Arc::clone(wakes),
    }
}

/// Awaits `future`, and calls `on_wait` the first time it returns `Pending`. Returns the
/// output, and whether it had to wait.
async fn noting_wait<F: Future>(future: F, on_wait: impl FnOnce()) -> (F::Output, bool) {
    let mut future = pin!(future);
    let mut on_wait = Some(on_wait);
    let output = poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some(on_wait) = on_wait.take() {
                on_wait();
            }
        }
        poll
    })
    .await;
    (output, on_wait.is_none())
}

/// Sends 1 to `MESSAGES`, noting each send that had to wait for room. Returns how
/// many did. Dropping `sender` at the end closes the channel.
async fn producer<C: Channels>(mut sender: C::Sender, log: Log, progress: Arc<Progress>) -> u32 {
    let mut waits = 0;
    for message in 1..=MESSAGES {
        let send = C::send(&mut sender, message);
        let (sent, has_waited) = noting_wait(send, || log.push(format!("({message} waits)"))).await;
        sent.expect("the consumer receives until the channel closes");
        waits += u32::from(has_waited);
        log.push(format!("+{message}"));
        let sent = progress.sent.fetch_add(1, Ordering::Relaxed) + 1;
        let ahead = sent - progress.received.load(Ordering::Relaxed);
        progress.most_ahead.fetch_max(ahead, Ordering::Relaxed);
    }
    waits
}

/// Receives until the channel closes, then sends the sum over the oneshot.
async fn consumer<C: Channels>(
    mut receiver: C::Receiver,
    sum: C::OnceSender,
    log: Log,
    progress: Arc<Progress>,
) -> Vec<u32> {
    let mut received = Vec::new();
    while let Some(message) = C::recv(&mut receiver).await {
        log.push(format!("-{message}"));
        progress.received.fetch_add(1, Ordering::Relaxed);
        received.push(message);
    }
    log.push("end");
    let total = received.iter().sum();
    C::send_once(sum, total).expect("main waits for the sum");
    received
}

/// `yes` or `no`.
fn yes(is_true: bool) -> &'static str {
    if is_true {
        "yes"
    } else {
        "no"
    }
}

/// The program: a producer and a consumer task, then main gets the sum over a oneshot.
async fn program<C: Channels>(number: u32) {
    println!(
        "{number}. {}: {MESSAGES} messages through capacity {CAPACITY}",
        C::NAME
    );
    let log = Log::default();
    let progress = Arc::new(Progress::default());
    let (sender, receiver) = C::bounded(CAPACITY);
    let (sum_sender, sum_receiver) = C::oneshot();
    let producer = spawn(producer::<C>(sender, log.clone(), Arc::clone(&progress)));
    let consumer_wakes = Arc::new(AtomicUsize::new(0));
    let consumer_task = consumer::<C>(receiver, sum_sender, log.clone(), Arc::clone(&progress));
    let consumer = spawn(count_wakes(consumer_task, &consumer_wakes));
    let main_wakes = Arc::new(AtomicUsize::new(0));
    let total = count_wakes(C::recv_once(sum_receiver), &main_wakes).await;
    let waits = producer.await.expect("the producer does not panic");
    let received = consumer.await.expect("the consumer does not panic");

    println!("   order: {}", log.take().join(" "));
    let in_order: Vec<u32> = (1..=MESSAGES).collect();
    println!(
        "   the consumer got 1 to {MESSAGES} in order: {}, then None: the sender was dropped",
        yes(received == in_order)
    );
    let most_ahead = progress.most_ahead.load(Ordering::Relaxed);
    println!(
        "   back-pressure: the producer waited for room: {}; never more than {CAPACITY} messages ahead: {}",
        yes(waits > 0),
        yes(most_ahead as usize <= CAPACITY)
    );
    println!("   main got the sum over the oneshot: {total:?}");
    for line in closing::<C>().await {
        println!("   closing: {line}");
    }
    let consumer_wakes = consumer_wakes.load(Ordering::Relaxed);
    println!(
        "   counts: the producer waited {waits} times and was at most {most_ahead} ahead; the consumer \
         was woken {consumer_wakes} times for {MESSAGES} messages ({:.1} per message); main {} time",
        consumer_wakes as f64 / f64::from(MESSAGES),
        main_wakes.load(Ordering::Relaxed)
    );
}

/// How long `closing` waits for a wake that a correct channel sends at once.
const GIVE_UP: Duration = Duration::from_secs(1);

/// What a parked task got, or that nothing woke it.
fn woken_with<T: std::fmt::Debug>(outcome: Result<Result<T, JoinError>, Elapsed>) -> String {
    match outcome {
        Ok(Ok(output)) => format!("woken, gets {output:?}"),
        Ok(Err(error)) => format!("the task failed: {error}"),
        Err(_) => format!("not woken: still waiting after {GIVE_UP:?}"),
    }
}

/// What each end sees when the other is gone. A receiver already parked must be woken
/// by the drop of the other end, or it waits for ever (here: until `GIVE_UP`).
async fn closing<C: Channels>() -> [String; 3] {
    let (sender, mut receiver) = C::bounded(CAPACITY);
    let waiting = spawn(async move { C::recv(&mut receiver).await });
    yield_now().await; // the receiving task runs, finds the channel empty, and parks
    drop(sender);
    let parked_receiver = woken_with(timeout(GIVE_UP, waiting).await);

    let (mut sender, receiver) = C::bounded(CAPACITY);
    drop(receiver);
    let sent = C::send(&mut sender, 1).await;

    let (once_sender, once_receiver) = C::oneshot();
    let waiting = spawn(C::recv_once(once_receiver));
    yield_now().await;
    drop(once_sender);
    let parked_once_receiver = woken_with(timeout(GIVE_UP, waiting).await);
    [
        format!("a receiver parked on an empty channel when its last sender is dropped: {parked_receiver}"),
        format!("a send after the receiver was dropped: {sent:?}"),
        format!("a oneshot receiver parked when its sender is dropped unsent: {parked_once_receiver}"),
    ]
}

// ---------------------------------------------------------------------------------
// Part 3: a std Mutex guard across an `.await`, and an async mutex.
// ---------------------------------------------------------------------------------

/// Holds a `std::sync::Mutex` guard across an `.await`: the bug this part shows.
/// clippy's `await_holding_lock` lint flags exactly this; here it is on purpose.
#[allow(clippy::await_holding_lock)]
async fn std_mutex_across_await() {
    let log = Log::default();
    let shared = Arc::new(Mutex::new(0u32));
    let mut guard = shared.lock().unwrap();
    log.push("main: locks the std Mutex, then awaits a sleep with the guard held");
    let nap = sleep(HOLD);
    let other = spawn(try_to_lock(
        Arc::clone(&shared),
        nap.deadline(),
        log.clone(),
    ));
    nap.await; // parked here with the lock held
    *guard += 1;
    drop(guard);
    log.push("main: wakes, unlocks");
    other.await.expect("the other task does not panic");
    for event in log.take() {
        println!("   {event}");
    }
}

/// The other task: `lock()` here would block the only thread for ever. `try_lock`
/// shows why without hanging: it keeps failing, however long it tries, until this
/// task yields and lets main run.
async fn try_to_lock(shared: Arc<Mutex<u32>>, main_wakes_at: Instant, log: Log) {
    let mut attempts = 0u64;
    let mut all_blocked = true;
    // Try until well after main's sleep has ended: its timer is due, yet main cannot run.
    while Instant::now() < main_wakes_at + HOLD {
        attempts += 1;
        all_blocked &= matches!(shared.try_lock(), Err(TryLockError::WouldBlock));
    }
    log.push(format!(
        "other task: try_lock {attempts} times without yielding, until past main's wake-up time: \
         all WouldBlock: {}",
        yes(all_blocked)
    ));
    log.push(
        "other task: main holds the lock, parked at an .await on this thread; it runs only when \
         this task yields, so lock() here would wait for ever: a deadlock",
    );
    yield_now().await; // main's timer fires; main runs first in the next turn
    let got_it = shared.try_lock().is_ok();
    log.push(format!(
        "other task: yielded once; try_lock now: {}",
        if got_it { "Ok" } else { "WouldBlock" }
    ));
}

/// The same with an async mutex: the waiting task parks in `lock().await` (its future
/// returns `Pending`), so the thread is free to run the holder, which unlocks it.
async fn async_mutex_across_await() {
    let log = Log::default();
    let shared = Arc::new(tokio::sync::Mutex::new(0u32));
    let holder = spawn(hold_async_lock(Arc::clone(&shared), log.clone()));
    let waiter_wakes = Arc::new(AtomicUsize::new(0));
    let waiter = spawn(count_wakes(
        wait_for_async_lock(Arc::clone(&shared), log.clone()),
        &waiter_wakes,
    ));
    holder.await.expect("the holder does not panic");
    waiter.await.expect("the waiter does not panic");
    for event in log.take() {
        println!("   {event}");
    }
    println!(
        "   the waiter was woken {} time: by the unlock",
        waiter_wakes.load(Ordering::Relaxed)
    );
}

/// Locks, then holds the async mutex's guard across an `.await`: fine, and `Send`.
async fn hold_async_lock(shared: Arc<tokio::sync::Mutex<u32>>, log: Log) {
    let mut guard = shared.lock().await;
    log.push("holder: locks the async Mutex, awaits a sleep with the guard held");
    sleep(HOLD).await;
    *guard += 1;
    drop(guard);
    log.push("holder: wakes, unlocks");
}

async fn wait_for_async_lock(shared: Arc<tokio::sync::Mutex<u32>>, log: Log) {
    let on_wait =
        || log.push("waiter: lock().await returned Pending: the waiter parks, the thread runs on");
    let (mut guard, _) = noting_wait(shared.lock(), on_wait).await;
    *guard += 1;
    log.push(format!("waiter: got the lock; the count is {}", *guard));
}

fn main() {
    miniloop::run(program::<Ours>(1));
    miniloop::run(program::<Futures>(2));
    miniloop::run(program::<Tokio>(3));
    println!("4. A std::sync::Mutex guard held across an .await, on one thread");
    miniloop::run(std_mutex_across_await());
    println!("5. An async mutex (tokio::sync::Mutex): the waiter parks instead of blocking");
    miniloop::run(async_mutex_across_await());
}
