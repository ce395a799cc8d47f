//! Lesson 27: a waker by hand
//!
//! A `Waker` is two pointers: a data pointer, and a table of four functions
//! (clone, wake, wake_by_ref, drop) that know what the data is. Every executor
//! fills that table in; here we do it by hand, with a counter in each function,
//! and run a future that clones the waker, keeps the clone and has it woken. The
//! counts show exactly which of the four ran, and that every clone was given back.
//! Then the same waker without `unsafe`, from the `Wake` trait; then a wake from
//! another thread, which is why a `Waker` must be `Send + Sync`; and last, which
//! waker a future must keep when it is polled with two (lesson 21, counted).
//!
//! Run it:     cargo run --example 27_waker_by_hand
//! Read:       docs/27-waker-by-hand.md
//! Debug it:   break on `27_waker_by_hand::counting_wake_by_ref`, then `bt`: the
//!             ring that called it, through `Waker::wake_by_ref`
//! Check it:   cargo +nightly miri run --example 27_waker_by_hand
//!
//! Every count it prints is the same on every run.

// The four vtable functions are `unsafe fn`s. This makes every unsafe operation
// inside them sit in its own `unsafe` block, with its own `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread::Thread;

// ---------------------------------------------------------------------------------
// Part 1: a waker from a `RawWakerVTable`.
// ---------------------------------------------------------------------------------

/// How often each function of the table ran, for one waker and all its clones.
#[derive(Debug, Default)]
struct Counts {
    clones: AtomicUsize,
    wakes: AtomicUsize,
    wakes_by_ref: AtomicUsize,
    drops: AtomicUsize,
}

impl Counts {
    fn line(&self) -> String {
        format!(
            "clone {}, wake {}, wake_by_ref {}, drop {}",
            self.clones.load(SeqCst),
            self.wakes.load(SeqCst),
            self.wakes_by_ref.load(SeqCst),
            self.drops.load(SeqCst)
        )
    }
}

/// The table every counting waker shares. A `static`, not a `const`: a `static` has
/// one address, and `will_wake` compares the table's address (with the data
/// pointer) to decide that two wakers are the same.
static COUNTING_VTABLE: RawWakerVTable = RawWakerVTable::new(
    counting_clone,
    counting_wake,
    counting_wake_by_ref,
    counting_drop,
);

/// A waker whose data pointer is an `Arc<Counts>`, turned into a raw pointer.
/// The waker owns one strong count of that `Arc`; each clone owns one more.
fn counting_waker(counts: Arc<Counts>) -> Waker {
    let data = Arc::into_raw(counts).cast::<()>();
    // SAFETY: `data` comes from `Arc::<Counts>::into_raw` and owns one strong count,
    // which is what each of the four functions below expects of it: `clone` adds a
    // count for the new waker, `wake` and `drop` give back the one their waker owns,
    // `wake_by_ref` only reads. `Counts` is `Send + Sync`, so any thread may call them.
    unsafe { Waker::from_raw(RawWaker::new(data, &COUNTING_VTABLE)) }
}

/// `Waker::clone`: one more waker, so one more strong count.
///
/// # Safety
/// `data` must come from `counting_waker` (or this function), from a waker still alive.
unsafe fn counting_clone(data: *const ()) -> RawWaker {
    let counts = data.cast::<Counts>();
    // SAFETY: by the contract above, `counts` is the pointer of a live `Arc<Counts>`
    // (the waker being cloned holds a count). The count added here is owned by the
    // new waker and given back by its `wake` or `drop`.
    unsafe { Arc::increment_strong_count(counts) };
    // SAFETY: the `Arc` is alive (we just added a count), so the pointer is valid.
    let counts = unsafe { &*counts };
    counts.clones.fetch_add(1, SeqCst);
    RawWaker::new(data, &COUNTING_VTABLE)
}

/// `Waker::wake`: consumes the waker, so it gives back the count the waker owned.
///
/// # Safety
/// As for `counting_clone`; the waker is gone afterwards (`Waker::wake` takes `self`).
unsafe fn counting_wake(data: *const ()) {
    // SAFETY: `data` owns one strong count (the consumed waker's); `from_raw` takes
    // it back, and dropping `counts` at the end of this function gives it up.
    let counts = unsafe { Arc::from_raw(data.cast::<Counts>()) };
    counts.wakes.fetch_add(1, SeqCst);
}

/// `Waker::wake_by_ref`: the waker stays, so no count changes hands.
///
/// # Safety
/// As for `counting_clone`.
unsafe fn counting_wake_by_ref(data: *const ()) {
    // SAFETY: the waker we are called through owns a count for as long as this call
    // lasts, so the `Counts` is alive; we only borrow it.
    let counts = unsafe { &*data.cast::<Counts>() };
    counts.wakes_by_ref.fetch_add(1, SeqCst);
}

/// `Waker`'s `Drop`: gives back the count the waker owned.
///
/// # Safety
/// As for `counting_clone`; the waker is being dropped.
unsafe fn counting_drop(data: *const ()) {
    // SAFETY: `data` owns one strong count (the dropped waker's); dropping the `Arc`
    // rebuilt from it gives that count back, exactly once.
    let counts = unsafe { Arc::from_raw(data.cast::<Counts>()) };
    counts.drops.fetch_add(1, SeqCst);
}

/// What a bell and the future that waits for it share.
#[derive(Debug, Default)]
struct Bell {
    rings: u32,
    /// The waker of the future's latest poll.
    waker: Option<Waker>,
}

/// A future that is ready once its bell has rung twice.
#[derive(Debug)]
struct TwoRings {
    bell: Arc<Mutex<Bell>>,
}

impl Future for TwoRings {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut bell = self.bell.lock().unwrap();
        if bell.rings >= 2 {
            return Poll::Ready(());
        }
        // Keep the latest waker, and clone only if it is a different one (lesson 21).
        match &bell.waker {
            Some(kept) if kept.will_wake(context.waker()) => {}
            _ => bell.waker = Some(context.waker().clone()),
        }
        Poll::Pending
    }
}

/// Rings the bell. The first ring wakes by reference (the waker stays: another ring
/// is due); the last takes the waker out and wakes it by value.
fn ring(bell: &Mutex<Bell>) -> &'static str {
    let mut bell = bell.lock().unwrap();
    bell.rings += 1;
    if bell.rings < 2 {
        if let Some(waker) = &bell.waker {
            waker.wake_by_ref();
        }
        "wake_by_ref on the kept clone, which stays: another ring is due"
    } else {
        let waker = bell.waker.take();
        drop(bell); // wake outside the lock: waking may run code that wants it
        if let Some(waker) = waker {
            waker.wake();
        }
        "wake on the kept clone, which wake consumes"
    }
}

/// Polls `TwoRings` with `waker`, ringing between polls, and prints each step with
/// the strong count of the `Arc` behind the waker.
fn poll_with_rings(waker: &Waker, strong_count: impl Fn() -> usize) {
    let say = |line: &str| println!("   {line} (strong count {})", strong_count());
    let bell = Arc::new(Mutex::new(Bell::default()));
    let mut future = pin!(TwoRings {
        bell: Arc::clone(&bell)
    });
    let mut context = Context::from_waker(waker);
    let notes = [
        "Pending; the future kept a clone of the waker",
        "Pending; will_wake says the kept clone is this waker: no new clone",
    ];
    for (poll, note) in (1..).zip(notes) {
        assert!(future.as_mut().poll(&mut context).is_pending());
        say(&format!("poll {poll}: {note}"));
        say(&format!("ring {poll}: {}", ring(&bell)));
    }
    assert!(future.as_mut().poll(&mut context).is_ready());
    say("poll 3: Ready");
}

/// The last strong count: 1 is ours alone, so every waker gave its count back.
fn report_strong_count(strong_count: usize) {
    let verdict = match strong_count {
        1 => "every waker gave its count back",
        _ => "a count was never given back: a leak",
    };
    println!("   our waker dropped (strong count {strong_count}: {verdict})");
}

fn part_1() {
    println!("1. A waker from a RawWakerVTable: four unsafe functions of ours");
    let counts = Arc::new(Counts::default());
    // Strong counts: ours (`counts`), the waker's, and one per clone alive.
    let waker = counting_waker(Arc::clone(&counts));
    poll_with_rings(&waker, || Arc::strong_count(&counts));
    drop(waker);
    report_strong_count(Arc::strong_count(&counts));
    println!("   vtable calls: {}", counts.line());
}

// ---------------------------------------------------------------------------------
// Part 2: the same waker from the `Wake` trait. No `unsafe`: std writes the table.
// ---------------------------------------------------------------------------------

/// `Wake` asks for two functions; clone and drop are the `Arc`'s own.
#[derive(Debug, Default)]
struct WakeCounts {
    wakes: AtomicUsize,
    wakes_by_ref: AtomicUsize,
}

impl Wake for WakeCounts {
    fn wake(self: Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes_by_ref.fetch_add(1, SeqCst);
    }
}

fn part_2() {
    println!("2. The same waker from the Wake trait: no unsafe");
    let counts = Arc::new(WakeCounts::default());
    let waker = Waker::from(Arc::clone(&counts));
    poll_with_rings(&waker, || Arc::strong_count(&counts));
    drop(waker);
    report_strong_count(Arc::strong_count(&counts));
    println!(
        "   Wake calls: wake {}, wake_by_ref {} (clone and drop are the Arc's own)",
        counts.wakes.load(SeqCst),
        counts.wakes_by_ref.load(SeqCst)
    );
}

// ---------------------------------------------------------------------------------
// Part 3: any thread may wake, and any thread may drop the last waker.
// ---------------------------------------------------------------------------------

/// Compiles only for types that are `Send + Sync`: the compiler makes the check.
fn is_send_and_sync<T: Send + Sync>(_: &T) -> bool {
    true
}

/// What the main thread learns from its waker.
#[derive(Debug, Default)]
struct Report {
    is_woken: AtomicBool,
    woken_by: Mutex<String>,
    dropped_on: Mutex<String>,
}

/// Unparks a thread; notes which thread woke it and which dropped the last waker.
#[derive(Debug)]
struct ThreadWaker {
    thread: Thread,
    report: Arc<Report>,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        *self.report.woken_by.lock().unwrap() = current_thread_name();
        self.report.is_woken.store(true, SeqCst);
        self.thread.unpark();
    } // `self` is dropped here: if it was the last waker, `drop` below runs now
}

impl Drop for ThreadWaker {
    fn drop(&mut self) {
        *self.report.dropped_on.lock().unwrap() = current_thread_name();
    }
}

fn current_thread_name() -> String {
    let thread = std::thread::current();
    thread.name().unwrap_or("unnamed").to_owned()
}

fn part_3() {
    println!("3. Any thread may wake: a Waker is Send + Sync");
    let report = Arc::new(Report::default());
    let waker = Waker::from(Arc::new(ThreadWaker {
        thread: std::thread::current(),
        report: Arc::clone(&report),
    }));
    println!(
        "   Waker is Send + Sync: {} (the compiler checked)",
        is_send_and_sync(&waker)
    );
    let (go, wait_for_go) = mpsc::channel::<()>();
    let waker_for_ringer = waker.clone(); // moving it to another thread needs `Send`
    let ringer = std::thread::Builder::new()
        .name("ringer".to_owned())
        .spawn(move || {
            wait_for_go.recv().unwrap();
            waker_for_ringer.wake();
        })
        .unwrap();
    drop(waker); // from now on the ringer holds the only waker
    println!("   the main thread parks; a thread named ringer holds the only waker");
    go.send(()).unwrap();
    // `park` may also return for no reason (a spurious wake-up): check, park again.
    while !report.is_woken.load(SeqCst) {
        std::thread::park();
    }
    ringer.join().unwrap();
    println!(
        "   the main thread was woken by: {}",
        report.woken_by.lock().unwrap()
    );
    println!(
        "   the last waker was dropped on: {} (so what a waker owns must be Send)",
        report.dropped_on.lock().unwrap()
    );
}

// ---------------------------------------------------------------------------------
// Part 4: which waker to keep. A leaf polled by task A, then by task B, then woken.
// ---------------------------------------------------------------------------------

/// How a leaf future files the waker of each poll.
#[derive(Clone, Copy, Debug)]
enum Keep {
    /// The bug of lesson 21: the first waker stays forever.
    First,
    /// Correct, and wasteful: a new clone on every poll.
    CloneEveryPoll,
    /// The rule: replace the kept waker unless `will_wake` says it is this one.
    LatestUnlessWillWake,
}

fn file_waker(kept: &mut Option<Waker>, context: &Context<'_>, keep: Keep) {
    match (keep, kept.as_ref()) {
        (Keep::First, Some(_)) => {}
        (Keep::LatestUnlessWillWake, Some(waker)) if waker.will_wake(context.waker()) => {}
        _ => *kept = Some(context.waker().clone()),
    }
}

fn part_4() {
    println!("4. Which waker to keep: a leaf polled by task A, then twice by task B, then woken");
    let rules = [
        (Keep::First, "keep the first"),
        (Keep::CloneEveryPoll, "clone on every poll"),
        (Keep::LatestUnlessWillWake, "clone unless will_wake"),
    ];
    for (keep, label) in rules {
        let task_a = Arc::new(Counts::default());
        let task_b = Arc::new(Counts::default());
        let waker_a = counting_waker(Arc::clone(&task_a));
        let waker_b = counting_waker(Arc::clone(&task_b));
        let mut kept = None;
        // A polls the leaf once and moves on; B awaits it from then on.
        for waker in [&waker_a, &waker_b, &waker_b] {
            file_waker(&mut kept, &Context::from_waker(waker), keep);
        }
        if let Some(waker) = kept {
            waker.wake(); // the leaf's event happens
        }
        let clones = task_a.clones.load(SeqCst) + task_b.clones.load(SeqCst);
        let stale = task_a.wakes.load(SeqCst);
        let woken_b = task_b.wakes.load(SeqCst);
        let verdict = if woken_b == 0 {
            "B waits forever"
        } else {
            "B runs"
        };
        println!(
            "   {label:<22}  clones {clones}, stale wakes (to A) {stale}, wakes to B {woken_b}: {verdict}"
        );
    }
}

fn main() {
    part_1();
    part_2();
    part_3();
    part_4();
}
