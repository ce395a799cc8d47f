//! Lesson 28: `Pin`, shown
//!
//! An `async fn` that borrows one of its own locals across an `.await` becomes a
//! state machine that holds the local *and* a reference to it: a value that points
//! into itself. Move it, and the reference still points at the old place. This
//! lesson prints the addresses: where the future is, where the local inside it is,
//! and where the reference kept across the `.await` points. Then what Rust does
//! about it: a future may move until its first poll and never after, `Unpin` (a
//! check the compiler makes), `pin!`, `Box::pin`, and what `pin-project-lite`
//! writes for a hand-written future. Last, the size of a few futures, and why a
//! recursive `async fn` needs a box.
//!
//! Run it:     cargo run --example 28_pin_shown
//! Read:       docs/28-pin-shown.md
//! Debug it:   break on `28_pin_shown::note_reference`, then `up` and
//!             `print reference`: the address the state machine kept across the
//!             `.await` (docs/28-pin-shown.md has the whole recipe)
//!
//! Addresses change from run to run (the stack and the heap are placed at random),
//! and sizes may change with the compiler; the lines that say yes or no do not.

use std::cell::Cell;
use std::future::{ready, Future};
use std::marker::{PhantomData, PhantomPinned};
use std::mem::{size_of, size_of_val};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;

// ---------------------------------------------------------------------------------
// The future we watch, and what it reports from inside.
// ---------------------------------------------------------------------------------

/// A future that answers `Pending` once, then `Ready`: an `.await` that suspends.
#[derive(Debug, Default)]
struct YieldOnce {
    has_yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        if self.has_yielded {
            return Poll::Ready(());
        }
        self.has_yielded = true;
        context.waker().wake_by_ref(); // "poll me again": what `Pending` promises
        Poll::Pending
    }
}

/// Addresses the `async fn` reports from inside, as numbers.
#[derive(Debug, Default)]
struct Seen {
    /// Where `local` is, seen during the first poll.
    local: Cell<usize>,
    /// Where the reference kept across the `.await` points, seen during the second.
    reference: Cell<usize>,
}

/// `reference` points at `local`, and both are alive across the `.await`, so both
/// are kept in the future between its two polls: the future points into itself.
/// (`seen` points outside the future: moving the future would not hurt it.)
async fn borrow_across_await(seen: &Seen) -> u64 {
    let local: u64 = 7;
    let reference = &local;
    seen.local.set(&local as *const u64 as usize);
    YieldOnce::default().await; // suspended here, holding `local` and `reference`
    note_reference(seen, reference);
    *reference * 6
}

/// Notes where `reference` points. Never inlined, so that a debugger can stop here.
#[inline(never)]
fn note_reference(seen: &Seen, reference: &u64) {
    seen.reference.set(reference as *const u64 as usize);
}

// ---------------------------------------------------------------------------------
// Helpers: addresses, one poll by hand, and `Unpin` asked of the compiler.
// ---------------------------------------------------------------------------------

/// Where a value starts, as a number.
fn address_of<T: ?Sized>(value: &T) -> usize {
    value as *const T as *const u8 as usize
}

/// Whether `address` lies within the bytes of `value`.
fn is_inside<T>(address: usize, value: &T) -> bool {
    let start = address_of(value);
    (start..start + size_of_val(value)).contains(&address)
}

fn yes_no(is_true: bool) -> &'static str {
    if is_true {
        "yes"
    } else {
        "no"
    }
}

/// Polls once, with a waker that does nothing: we poll by hand, in order.
fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Polls `future` until it is ready. `pin!` pins it on this function's stack.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = poll_once(future.as_mut()) {
            return output;
        }
    }
}

/// `is_unpin!(value)` says whether the type of `value` is `Unpin`, and the compiler
/// decides: `Probe<T>` has an `is_unpin` method of its own only where `T: Unpin`,
/// and a method of its own wins over the trait's. Where `T` is not `Unpin`, only the
/// trait's is left, and it says no.
struct Probe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> Probe<T> {
    fn of(_: &T) -> Self {
        Probe(PhantomData)
    }
}

impl<T: ?Sized + Unpin> Probe<T> {
    fn is_unpin(&self) -> bool {
        true
    }
}

trait NotUnpin {
    fn is_unpin(&self) -> bool {
        false
    }
}

impl<T: ?Sized> NotUnpin for Probe<T> {}

macro_rules! is_unpin {
    ($value:expr) => {
        Probe::of(&$value).is_unpin()
    };
}

// ---------------------------------------------------------------------------------
// The lesson, in seven parts.
// ---------------------------------------------------------------------------------

fn part_1() {
    println!("1. A future that points into itself");
    let seen = Seen::default();
    let future = borrow_across_await(&seen);
    let on_stack = address_of(&future);
    println!(
        "   built, not yet polled: {} bytes at {on_stack:#x}, on the stack",
        size_of_val(&future)
    );
    // A move before the first poll is fine: the body has not run, so nothing points
    // into the future yet, and the compiler lets us move it. Here, into a box.
    let mut future = Box::pin(future);
    let in_box = address_of(&*future);
    println!("   moved into Box::pin before its first poll: now at {in_box:#x}");
    assert!(poll_once(future.as_mut()).is_pending());
    let local = seen.local.get();
    println!(
        "   poll 1: Pending; `local` is at {local:#x}, inside the future: {} (byte {} of {})",
        yes_no(is_inside(local, &*future)),
        local - in_box,
        size_of_val(&*future)
    );
    // Moving a `Pin<Box<_>>` moves the pointer, not the future.
    let moved_box = future;
    println!(
        "   the box moved to another variable; the future is still at {in_box:#x}: {}",
        yes_no(address_of(&*moved_box) == in_box)
    );
    let mut future = moved_box;
    let Poll::Ready(answer) = poll_once(future.as_mut()) else {
        unreachable!("`YieldOnce` is ready at its second poll");
    };
    let reference = seen.reference.get();
    println!(
        "   poll 2: Ready({answer}); the reference kept across the .await points at \
         {reference:#x}, at `local`: {}",
        yes_no(reference == local && is_inside(reference, &*future))
    );
    // `Pin<Box<F>>` gives back the box (`Pin::into_inner`), or a `&mut F` to move the
    // future through (`Pin::get_mut`), only when `F: Unpin`. This `F` is not, so safe
    // code can't move it any more. This line does not compile:
    //     let unpinned = Pin::into_inner(future); // error[E0277]: `{async fn body of
    //                                             // borrow_across_await()}` cannot be unpinned
    println!(
        "   the future is Unpin: {}, so nothing can move it out of its box now",
        yes_no(is_unpin!(*future))
    );
}

/// The compiler's state machine in miniature, by hand, with a raw pointer for the
/// reference: a raw pointer, so that the compiler lets us move it and see the damage.
#[derive(Debug)]
struct PointsIntoItself {
    value: u64,
    pointer: *const u64,
}

fn part_2() {
    println!("2. Why it must not move after the first poll: the same, by hand");
    let mut original = PointsIntoItself {
        value: 7,
        pointer: std::ptr::null(),
    };
    original.pointer = &original.value; // what the first poll did
    let old_place = address_of(&original.value);
    let moved = Box::new(original); // a move: the bytes are copied, the pointer too
    println!(
        "   after a move the pointer still points at the old place: {}",
        yes_no(moved.pointer as usize == old_place)
    );
    println!(
        "   and at the value it moved with: {} (reading through it now would be a bug)",
        yes_no(std::ptr::eq(moved.pointer, &moved.value))
    );
}

fn part_3() {
    println!("3. Unpin: which values may still move after they are pinned");
    let seen = Seen::default();
    let async_fn_future = borrow_across_await(&seen);
    let hand_made = PointsIntoItself {
        value: 0,
        pointer: std::ptr::null(),
    };
    let rows = [
        ("std::future::ready(7)", is_unpin!(ready(7))),
        ("miniloop::sleep(1 ms)", is_unpin!(miniloop::sleep(MS))),
        ("borrow_across_await(&seen)", is_unpin!(async_fn_future)),
        ("async { 7 }", is_unpin!(async { 7 })),
        ("Box::pin(async { 7 })", is_unpin!(Box::pin(async { 7 }))),
        ("PointsIntoItself, by hand", is_unpin!(hand_made)),
        ("PhantomPinned", is_unpin!(PhantomPinned)),
    ];
    for (what, is_unpin) in rows {
        println!("   {what:<30} {}", yes_no(is_unpin));
    }
}

const MS: Duration = Duration::from_millis(1);

fn part_4() {
    println!("4. pin!: pinned on the stack, for a future polled right here");
    let seen = Seen::default();
    let mut future = pin!(borrow_across_await(&seen));
    // From here on there is only `future`, a `Pin<&mut _>`. The future itself is in
    // a hidden local of this frame, which no code can name, so none can move it.
    let at = address_of(&*future);
    let mut polls = 0;
    let answer = loop {
        polls += 1;
        if let Poll::Ready(answer) = poll_once(future.as_mut()) {
            break answer;
        }
    };
    let local = seen.local.get();
    println!("   Ready({answer}) after {polls} polls, the future at {at:#x} all along");
    println!(
        "   `local` inside it, and the kept reference pointing at `local`: {}",
        yes_no(is_inside(local, &*future) && seen.reference.get() == local)
    );
}

pin_project! {
    /// Counts the polls of the future inside it. `#[pin]` marks the field that is
    /// pinned whenever the whole is: `project` turns a `Pin<&mut CountPolls<F>>`
    /// into a `Pin<&mut F>` for `inner` and a plain `&mut u32` for `polls`, with
    /// no `unsafe` and no box.
    struct CountPolls<F> {
        #[pin]
        inner: F,
        polls: u32,
    }
}

impl<F: Future> Future for CountPolls<F> {
    type Output = (F::Output, u32);

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        *this.polls += 1;
        match this.inner.poll(context) {
            Poll::Ready(output) => Poll::Ready((output, *this.polls)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn count_polls<F: Future>(inner: F) -> CountPolls<F> {
    CountPolls { inner, polls: 0 }
}

fn part_5() {
    println!("5. pin-project-lite: a hand-written future around another one");
    let seen = Seen::default();
    let (answer, polls) = block_on(count_polls(borrow_across_await(&seen)));
    println!("   CountPolls(borrow_across_await): Ready({answer}) after {polls} polls");
    // `pin_project!` also writes `impl Unpin for CountPolls<F> where F: Unpin`.
    println!(
        "   CountPolls<ready(7)> is Unpin: {}; CountPolls<async {{ 7 }}> is Unpin: {}",
        yes_no(is_unpin!(count_polls(ready(7)))),
        yes_no(is_unpin!(count_polls(async { 7 })))
    );
}

/// Holds a 4 KiB buffer across an `.await`, so the buffer is kept in the future.
async fn big_across_await() -> u8 {
    let buffer = [1u8; 4096];
    YieldOnce::default().await;
    buffer[4095]
}

fn part_6() {
    println!("6. The size of a future: what it keeps across an .await");
    let seen = Seen::default();
    let small = size_of_val(&borrow_across_await(&seen));
    let big = size_of_val(&big_across_await());
    let boxed = size_of_val(&Box::pin(big_across_await()));
    let rows = [
        ("std::future::ready(7u8)", size_of_val(&ready(7u8))),
        ("async { 7 }", size_of_val(&async { 7 })),
        ("miniloop::sleep(1 ms)", size_of_val(&miniloop::sleep(MS))),
        ("borrow_across_await(&seen)", small),
        ("big_across_await()", big),
        ("Box::pin(big_across_await())", boxed),
    ];
    for (what, size) in rows {
        let unit = if size == 1 { "byte" } else { "bytes" };
        println!("   {what:<30} {size:>5} {unit}");
    }
    println!(
        "   the 4096-byte buffer is inside its future: {}; boxed, a future is one pointer: {}",
        yes_no(big > 4096),
        yes_no(boxed == size_of::<usize>())
    );
}

/// Counts down one `async` call per step. The `Box::pin` is what lets it compile:
/// without it, the future of `depth(n)` would hold the future of `depth(n - 1)`,
/// which holds that of `depth(n - 2)`, and so on, a type of infinite size (error
/// E0733). Boxed, each level holds a pointer to the next.
async fn depth(n: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    1 + Box::pin(depth(n - 1)).await
}

fn part_7() {
    println!("7. A recursive async fn needs a box");
    println!("   depth(100) = {}", block_on(depth(100)));
    let shallow = size_of_val(&depth(1));
    let deep = size_of_val(&depth(100));
    println!(
        "   the future of depth(1): {shallow} bytes, of depth(100): {deep} bytes; the same: {}",
        yes_no(shallow == deep)
    );
}

fn main() {
    part_1();
    part_2();
    part_3();
    part_4();
    part_5();
    part_6();
    part_7();
}
