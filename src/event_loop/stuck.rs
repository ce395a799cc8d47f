//! A loop that says why it is stuck: before it waits with no deadline, the loop checks
//! whether anything could ever end that wait, and if nothing can, it panics with a report
//! instead of sleeping forever.
//!
//! Lesson 29 breaks the poll contract on purpose (chapter: `docs/29-poll-contract-broken.md`):
//! a future returns `Pending` without keeping `cx.waker()` anywhere, so nothing will ever wake
//! its task. The loop runs out of work and waits, and a wait with no deadline, no socket and
//! nobody to wake it is a hang with no message. This module turns that hang into a panic that
//! names the waiting tasks and the likely cause.
//!
//! # When the loop is stuck
//! The check runs in one place, `wait_for_work`, when the loop is about to wait with no
//! deadline: nothing is runnable, no timer is filed, no remote wake is pending. What could
//! still end that wait is someone calling a waker of the main future or of a task (a socket's
//! readiness does it through the waker filed in the reactor), a `JoinHandle::abort`, or a
//! spawn through a `Handle`. So the loop is stuck when:
//!
//! - no `Handle` exists (the loop counts them: `Shared::handles`), and
//! - no waker of the main future or of any task exists anywhere, except where only a stuck
//!   task could call it (below), and no live `JoinHandle` of a task may be outside the loop.
//!
//! Why count `Handle`s rather than read `Arc::strong_count` of the loop's `Shared`, which every
//! `Handle` holds: a remote wake holds that `Arc` too, for a moment after the loop can have
//! heard of it. The loop, woken by that very wake, would take it for a `Handle`, wait, and
//! never report.
//!
//! # Counting wakers
//! A task's waker is a clone of the task's `Arc` (`ArcWake`), so `Arc::strong_count` on the
//! task counts them: 1 for the loop's `TaskRef`, 1 for the `JoinHandle` while it lives (the
//! join cell's `DETACHED` bit is unset), and one per waker clone, wherever it is: in a timer,
//! in the reactor, in a channel, on another thread. The main future's waker is
//! `Arc<MainWaker>`: the loop holds one, every other is a clone.
//!
//! One place is known to be inside the loop: the join cell of another task T of this loop,
//! where a `JoinHandle` poll left the waker of whoever awaits T. Only T's completion wakes it,
//! and if T is stuck too, that never comes. This is the common case: `main` awaits a spawned
//! task that is stuck. For each waiter X (the main future, and each task in the table):
//!
//! ```text
//! outside(X) = clones(X) - #{ T in the table : T.awaited_by == X, T's cell holds a waker }
//! ```
//!
//! and the loop is stuck only if `outside(X) == 0` for every X. A waker anywhere else counts
//! as outside, which is conservative: a waker kept in a channel whose sender is in a stuck
//! task could never fire either, but the check cannot see that, and stays silent.
//!
//! A `JoinHandle` could end the wait too: `abort` wakes its task. It counts as inside only
//! when its task's cell holds the waker of a waiter that is itself in this count (main, or a
//! task in the table): that waiter polled the handle last, so it held it then. Any other live
//! handle (never polled, or last polled by another thread or through a combinator's own
//! waker) counts as outside. (A plainer rule, "a live handle is inside", would report a loop
//! whose thread holds a handle it is about to abort.)
//!
//! # Naming who awaits a handle
//! The check must not read the waker in a join cell: the handle side may be replacing it on
//! another thread at that moment. So the name is written down when the waker goes in:
//!
//! 1. A `JoinHandle` poll that leaves a new waker (the join cell's `before_new_waker`) calls
//!    [`note_join_waker`]. On the loop's thread, for a task of this loop, it marks the task's
//!    `Header::awaited_by` `NOTED` and files `(the task's key, the waker's data pointer)` in
//!    `Core::awaits_noted`; anywhere else it marks it `UNKNOWN`. Both before the old waker is
//!    dropped.
//! 2. The check, and only the check, turns the notes into names (`waiters_by_note`): for each
//!    task marked `NOTED`, its newest note's pointer is compared with each waiter's own waker
//!    (`TaskRef::waker_data` of each task in the table; for main, the `MainWaker`'s address).
//!    The match is that waiter; no match (a waker made inside a combinator, say `join_all`'s
//!    for each child) names nobody. Only the newest note counts, since only the latest waker
//!    left in a cell is there; a handle re-polled on another thread since (which wrote
//!    `UNKNOWN`) names nobody either.
//!
//! Why a pointer can be trusted at the check, when the allocation it came from may be gone:
//! if the cell still holds the waker the note describes, that waker keeps its allocation
//! alive, so no other live waiter can have the same address. If it does not (the handle was
//! dropped, or the task finished and took the waker out), the check does not ask whose waker
//! the cell holds: a detached handle counts for nothing and a finished task is not in the
//! table.
//!
//! The notes are kept between polls, so they must not pile up: a million tasks spawned and
//! awaited leave a million notes. When the list reaches twice what its last pruning kept
//! (at least `MIN_NOTES_BEFORE_PRUNING`), the notes of ended tasks and all but the newest of
//! each task go (`prune_notes`): O(1) per note, amortised.
//!
//! Naming after each poll instead, the first version of this module, cost every poll a
//! branch ("did that poll leave a note?"): +7 instructions on a yield, +2.6% of `yield_many`
//! (docs/benchmarks.md). Naming at the check costs the busy path nothing.
//!
//! The mark is an `Awaiter` (`task.rs`, where names are made too) in 32 bits of padding that
//! `Header` had anyway, so a task costs no more memory (`benches/alloc_per_task.rs` counts
//! 128 bytes per task with it and without it).
//!
//! # Races
//! Another thread holding the last outside waker may call it while the loop looks. A wake by
//! value from another thread sets the task's `is_remote_queued`, lets go of its clone, then
//! pushes the key and raises `has_remote_wakes` (`RemoteWake` in `waker.rs`; a wake by
//! reference keeps its clone, which still counts). `Arc::strong_count` is a `Relaxed` load,
//! but the clone's drop is a `Release` decrement: so the loop reads every count first, then
//! issues `fence(Acquire)`, then reads the flags. A count that shows the clone gone then
//! guarantees that the flags show the wake. The same order covers a `Handle` dropped just
//! after it spawned (its count goes down with `Release`, after the spawn raised the flag), a
//! `JoinHandle` dropped (its `DETACHED` is set before its `Arc` goes), and a handle re-polled
//! on another thread (its `UNKNOWN` is written before the old waker is dropped).
//!
//! Why the clone goes *before* the push: after the wake, the loop polls the task and may come
//! back here at once. Had the waking thread still held its spent clone, the loop would count
//! it, wait, and never report a loop that is stuck right after its last wake.
//!
//! Each count is exact when read: a clone is only made from a live one, so once a count shows
//! no clone outside, none can appear. As a second guard, against anything this reasoning
//! missed, the check looks twice, with a real wait of `SECOND_LOOK_AFTER` between (which a
//! remote wake or a socket event ends early), and reports only if both looks agree.
//!
//! # What it cannot see
//! The check errs towards silence: whatever it cannot place counts as a possible wake. So it
//! misses some stuck loops: a waker kept in a channel inside a stuck task, a waker in a
//! combinator (`join_all` gives each child its own waker), a handle held but never polled, a
//! waker another thread drops without waking it after the loop began its wait (the check runs
//! only on the way into a wait, and nothing wakes the loop to look again).
//!
//! It reports a loop that could still be woken in one case only: a task polls a handle, then
//! gives that handle to another thread without polling it again, and the thread later calls
//! `abort`. The check takes such a handle for held by its (stuck) poller.
//!
//! # Rules this module keeps
//! - The check runs only on the way into a wait with no deadline, never on the busy path, and
//!   so does the naming. A poll pays nothing for it; a `JoinHandle` poll that leaves a new
//!   waker pays a thread-local look-up, a push and a length check (a handle awaited after its
//!   task finished pays nothing more).
//! - It reports only what both looks agree on, and names every waiter and what it waits for.
//! - A waker woken by value from another thread is let go of before its wake is sent
//!   (`RemoteWake`, in `waker.rs`), and the loop counts its `Handle`s apart from its `Arc`s.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::{with_current_core, Core};
use crate::task::{Awaiter, Header, JoinView, TaskId, TaskRef};
use crate::trace::label;
use crate::waker::TaskKey;

/// The first line of the report.
pub(crate) const STUCK: &str = "miniloop: the event loop is stuck: every task is waiting and \
     nothing can ever wake one (no timer, no socket, no waker held outside the loop)";
/// What the main future is called in the report.
pub(crate) const STUCK_MAIN: &str = "main (the future given to `run` or `run_until_complete`)";
/// The report's line when a task's spawn location was not kept.
pub(crate) const STUCK_TRACE_HINT: &str =
    "(run with MINILOOP_TRACE=1 to see where each task was spawned)";
/// The report's last line: the likely cause and the fix.
pub(crate) const STUCK_CAUSE: &str = "the likely cause: a future returned `Poll::Pending` \
     without keeping `cx.waker()` where something will call it (a timer, a socket, another \
     thread); keep the waker and wake it when the wait is over, or await something that does \
     (`miniloop::sleep`, a socket, a channel); lesson 29 shows the bug and the fix: \
     `cargo run --example 29_poll_contract_broken`, docs/29-poll-contract-broken.md";

/// The shortest the join-waker notes are let grow before the first pruning
/// (`Core::prune_notes`).
pub(super) const MIN_NOTES_BEFORE_PRUNING: usize = 64;

/// How long the check waits before its second look.
const SECOND_LOOK_AFTER: Duration = Duration::from_millis(50);

/// A `JoinHandle` poll on the loop's thread left a new waker in the cell of a task of this
/// loop: which task, and the waker's data pointer (compared, never dereferenced).
#[derive(Debug)]
pub(crate) struct JoinWakerNote {
    awaited: TaskKey,
    waker_data: *const (),
}

/// Called by a `JoinHandle` poll just before it leaves a new waker in its task's join cell,
/// on whatever thread polls it (step 1 of "Naming who awaits a handle" above).
pub(crate) fn note_join_waker(awaited: &Header, waker: &Waker) {
    let is_noted = with_current_core(|core| core.note_join_waker(awaited, waker));
    let mark = if is_noted == Some(true) {
        Awaiter::NOTED
    } else {
        Awaiter::UNKNOWN
    };
    // `Relaxed` is enough: the old waker is dropped after this, with a `Release` decrement of
    // its task's count, and that is what the check's `Acquire` fence pairs with.
    awaited.awaited_by.store(mark.0, Ordering::Relaxed);
}

/// What `check_stuck` concluded.
pub(super) enum Verdict {
    /// A wake is possible (or the check cannot tell): wait as usual.
    MayWake,
    /// The second look's wait ended early, or the two looks differ: the caller starts a new
    /// turn instead of waiting, and the next wait looks again.
    LookAgain,
    /// Both looks agree that nothing can ever wake the loop.
    Stuck(StuckReport),
}

impl Core {
    /// Files the note, on the loop's thread, if `awaited` is this loop's: step 1 of naming.
    /// The only work a `JoinHandle` poll pays for the check; once in a while (twice the
    /// length the last pruning left) it also prunes the list.
    fn note_join_waker(&self, awaited: &Header, waker: &Waker) -> bool {
        if awaited.home != self.id {
            return false;
        }
        let Ok(mut notes) = self.awaits_noted.try_borrow_mut() else {
            return false;
        };
        notes.push(JoinWakerNote {
            awaited: awaited.key(),
            waker_data: waker.data(),
        });
        if notes.len() >= self.prune_notes_at.get() {
            self.prune_notes(&mut notes);
        }
        true
    }

    /// Drops every note that can no longer name anyone: those of tasks that have ended, and
    /// all but the newest of each task (only the latest waker left in a cell is there).
    #[cold]
    #[inline(never)]
    fn prune_notes(&self, notes: &mut Vec<JoinWakerNote>) {
        // The task being polled is out of the table, but alive: `is_polling` keeps its notes.
        // With the table busy (it never is inside a poll), prune another time.
        let Ok(scheduler) = self.scheduler.try_borrow() else {
            return;
        };
        let mut seen = HashSet::new();
        let mut kept: Vec<JoinWakerNote> = notes
            .drain(..)
            .rev()
            .filter(|note| {
                let key = note.awaited;
                (scheduler.parked_task(key).is_some() || scheduler.is_polling(key))
                    && seen.insert(key)
            })
            .collect();
        kept.reverse();
        *notes = kept;
        self.prune_notes_at
            .set((2 * notes.len()).max(MIN_NOTES_BEFORE_PRUNING));
    }

    /// Step 2 of naming, at the check: who left the waker in each cell marked `NOTED`. The
    /// newest note of a task gives the waker's data pointer, which is compared with that of
    /// every waiter the loop has (the main future and each task in the table). A cell with no
    /// note, or a waker that is no waiter's (a combinator's own), names nobody: `UNKNOWN`.
    fn waiters_by_note(&self, tasks: &[(TaskKey, &TaskRef)]) -> HashMap<TaskKey, Awaiter> {
        let mut waiters: HashMap<*const (), Awaiter> = tasks
            .iter()
            .map(|(_, task)| (task.waker_data(), Awaiter::of(task.header().id)))
            .collect();
        waiters.insert(Arc::as_ptr(&self.main_waker).cast(), Awaiter::MAIN);
        let notes = self.awaits_noted.borrow();
        // Oldest first, so the newest note of each task is the one left in the map.
        let mut newest: HashMap<TaskKey, Awaiter> = HashMap::new();
        for note in notes.iter() {
            let waiter = waiters.get(&note.waker_data).copied();
            newest.insert(note.awaited, waiter.unwrap_or(Awaiter::UNKNOWN));
        }
        newest
    }

    /// Called by `wait_for_work` just before a wait with no deadline: can anything ever end
    /// it? Looks twice (see "Races" above); between the looks it waits `SECOND_LOOK_AFTER`,
    /// through the reactor if the loop has one.
    pub(super) fn check_stuck(&self, has_reactor: bool) -> Verdict {
        let Some(first) = self.look() else {
            return Verdict::MayWake;
        };
        if first.verdict().is_none() {
            return Verdict::MayWake;
        }
        self.wait_briefly(has_reactor);
        if self.is_runnable() || self.shared.has_remote_wakes() {
            return Verdict::LookAgain;
        }
        match self.look() {
            Some(second) if second == first => match second.verdict() {
                Some(waits) => Verdict::Stuck(self.report(&second, &waits)),
                None => Verdict::LookAgain,
            },
            _ => Verdict::LookAgain,
        }
    }

    /// The real wait between the two looks: ends early on a remote wake or a socket event.
    fn wait_briefly(&self, has_reactor: bool) {
        let until = Instant::now() + SECOND_LOOK_AFTER;
        loop {
            let now = Instant::now();
            if now >= until || self.is_runnable() || self.shared.has_remote_wakes() {
                return;
            }
            // `park_timeout` may return early for an old unpark token: go round until the
            // time is up or something happened.
            if has_reactor {
                self.wait_for_io(Some(until - now));
            } else {
                std::thread::park_timeout(until - now);
            }
        }
    }

    /// One look at the loop: every count first, then a fence, then every flag. `None` if the
    /// quick signs already say a wake is possible.
    fn look(&self) -> Option<Look> {
        // Quick signs first. A `Handle` can spawn; a waker filed in the reactor is a socket
        // that can wake its task. (The counts below would find those wakers too: this only
        // spares a busy server the count.)
        let handles = self.shared.handles();
        if handles > 0 {
            return None;
        }
        if self.with_existing_reactor(|reactor| reactor.has_filed_wakers()) == Some(true) {
            return None;
        }
        let scheduler = self.scheduler.try_borrow().ok()?;
        let tasks = scheduler.parked_tasks()?;
        // Phase 1: the counts (`Relaxed` loads).
        let main_refs = Arc::strong_count(&self.main_waker);
        let refs: Vec<usize> = tasks.iter().map(|(_, task)| task.ref_count()).collect();
        // A count that saw a clone's `Release` drop now also sees what that thread did before
        // it: the wake it sent, the `DETACHED` it set, the `UNKNOWN` it wrote.
        fence(Ordering::Acquire);
        // Phase 2: the flags.
        let is_remote_woken = self.shared.has_remote_wakes()
            || self
                .main_waker
                .header
                .is_remote_queued
                .load(Ordering::Acquire);
        let named = self.waiters_by_note(&tasks);
        let tasks = tasks
            .iter()
            .zip(refs)
            .map(|((key, task), refs)| {
                let header = task.header();
                let awaited_by = match header.awaited_by() {
                    Awaiter::NOTED => named.get(key).copied().unwrap_or(Awaiter::UNKNOWN),
                    _ => Awaiter::UNKNOWN,
                };
                TaskLook {
                    key: *key,
                    id: header.id,
                    name: Awaiter::of(header.id),
                    refs,
                    join: task.join_view(),
                    awaited_by,
                    is_woken: header.is_remote_queued.load(Ordering::Acquire)
                        || header.is_abort_requested.load(Ordering::Acquire),
                }
            })
            .collect();
        Some(Look {
            handles,
            main_refs,
            is_remote_woken,
            tasks,
        })
    }

    /// The report for a verdict, with each task's name and spawn location from its header.
    #[cold]
    fn report(&self, look: &Look, waits: &[Waits]) -> StuckReport {
        let scheduler = self.scheduler.borrow();
        let describe = |index: usize| -> (String, Option<String>) {
            let task = &look.tasks[index];
            let header = scheduler.parked_task(task.key).map(TaskRef::header);
            let name = header.map_or_else(|| task.id.to_string(), label);
            let at = header
                .and_then(Header::spawned_at)
                .map(|location| location.to_string());
            (name, at)
        };
        let mut lines = Vec::new();
        let mut is_any_location_missing = false;
        for wait in waits {
            let (who, at) = match wait.waiter {
                None => (STUCK_MAIN.to_string(), None),
                Some(index) => {
                    let (name, at) = describe(index);
                    is_any_location_missing |= at.is_none();
                    (name, at)
                }
            };
            let at = at
                .map(|at| format!(" (spawned at {at})"))
                .unwrap_or_default();
            let what = if wait.awaits.is_empty() {
                "nothing kept its waker".to_string()
            } else {
                let awaited: Vec<String> = wait.awaits.iter().map(|&i| describe(i).0).collect();
                let are = if awaited.len() == 1 {
                    "which is stuck too"
                } else {
                    "which are stuck too"
                };
                format!("waits for {}, {are}", awaited.join(" and "))
            };
            lines.push(format!("  {who}{at}: {what}"));
        }
        StuckReport {
            lines,
            is_any_location_missing,
        }
    }
}

/// A stuck loop's report: the panic message of `run` and `run_until_complete`.
#[derive(Debug)]
pub(crate) struct StuckReport {
    /// One line per waiter: the main future first, then the tasks by id.
    lines: Vec<String>,
    is_any_location_missing: bool,
}

impl StuckReport {
    /// Panics with the report: the end of `run` or `run_until_complete` for a stuck loop. Its
    /// own function, so that a debugger can stop here (docs/debugging.md, section 6).
    #[cold]
    #[inline(never)]
    pub(super) fn raise(self) -> ! {
        panic!("{self}")
    }
}

impl fmt::Display for StuckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{STUCK}")?;
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        if self.is_any_location_missing {
            writeln!(f, "{STUCK_TRACE_HINT}")?;
        }
        write!(f, "{STUCK_CAUSE}")
    }
}

/// One look at the loop (`Core::look`). Two looks are compared whole.
#[derive(Debug, PartialEq)]
struct Look {
    /// How many `Handle`s exist (`Shared::handles`).
    handles: usize,
    main_refs: usize,
    /// `has_remote_wakes`, or the main future's `is_remote_queued`.
    is_remote_woken: bool,
    tasks: Vec<TaskLook>,
}

/// One task, as a look saw it.
#[derive(Debug, PartialEq)]
struct TaskLook {
    key: TaskKey,
    id: TaskId,
    /// This task's own name, as `awaited_by` would call it.
    name: Awaiter,
    /// `Arc::strong_count` on the task.
    refs: usize,
    join: JoinView,
    awaited_by: Awaiter,
    /// A wake is on its way (`is_remote_queued`) or an abort was asked for.
    is_woken: bool,
}

/// In a stuck verdict: one waiter (`None`: main; `Some(i)`: `tasks[i]`) and the tasks whose
/// join cells hold its only wakers.
#[derive(Debug, PartialEq)]
struct Waits {
    waiter: Option<usize>,
    awaits: Vec<usize>,
}

impl Look {
    /// `None` if a wake is still possible (or the look does not add up); otherwise what each
    /// waiter waits for.
    fn verdict(&self) -> Option<Vec<Waits>> {
        if self.handles > 0 || self.is_remote_woken {
            return None;
        }
        // A finished task is never in the table; one that seems so is mid-change: no verdict.
        if self
            .tasks
            .iter()
            .any(|task| task.is_woken || task.join.is_complete)
        {
            return None;
        }
        let in_table: HashSet<Awaiter> = self.tasks.iter().map(|task| task.name).collect();
        let is_waiter = |name: Awaiter| name == Awaiter::MAIN || in_table.contains(&name);
        // Which cells hold a waiter's waker: `awaits[X]` lists the tasks X waits for.
        let mut awaits: HashMap<Awaiter, Vec<usize>> = HashMap::new();
        for (index, task) in self.tasks.iter().enumerate() {
            if task.join.has_waker && task.awaited_by.is_named() && is_waiter(task.awaited_by) {
                awaits.entry(task.awaited_by).or_default().push(index);
            }
        }
        let awaited = |name: Awaiter| awaits.get(&name).map_or(&[][..], Vec::as_slice);
        // Main: the loop's own `Arc`, plus the clones in stuck tasks' cells.
        let main_inside = 1 + awaited(Awaiter::MAIN).len();
        if self.main_refs != main_inside {
            return None;
        }
        let mut waits = vec![Waits {
            waiter: None,
            awaits: awaited(Awaiter::MAIN).to_vec(),
        }];
        for (index, task) in self.tasks.iter().enumerate() {
            // The handle counts as inside only if a waiter of this loop polled it last (see
            // "Counting wakers"); a task named `UNKNOWN` is never in anyone's list.
            let has_handle = !task.join.is_detached;
            let is_handle_inside =
                task.join.has_waker && task.awaited_by.is_named() && is_waiter(task.awaited_by);
            if has_handle && !is_handle_inside {
                return None;
            }
            let in_cells = if task.name.is_named() {
                awaited(task.name)
            } else {
                &[]
            };
            let inside = 1 + usize::from(has_handle) + in_cells.len();
            if task.refs != inside {
                return None; // a clone outside (or a look that does not add up)
            }
            waits.push(Waits {
                waiter: Some(index),
                awaits: in_cells.to_vec(),
            });
        }
        // Tasks in id order, as a trace lists them.
        waits[1..].sort_by_key(|wait| wait.waiter.map(|index| self.tasks[index].id));
        Some(waits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::JoinView;

    const OPEN: JoinView = JoinView {
        is_complete: false,
        has_waker: false,
        is_detached: false,
    };

    fn task(number: u64, refs: usize) -> TaskLook {
        TaskLook {
            key: TaskKey {
                index: number as u32,
                generation: 0,
            },
            id: TaskId(number),
            name: Awaiter::of(TaskId(number)),
            refs,
            join: OPEN,
            awaited_by: Awaiter::UNKNOWN,
            is_woken: false,
        }
    }

    fn look(main_refs: usize, tasks: Vec<TaskLook>) -> Look {
        Look {
            handles: 0,
            main_refs,
            is_remote_woken: false,
            tasks,
        }
    }

    /// The task's handle, polled last by `awaiter`, holds that awaiter's waker.
    fn awaited_by(mut task: TaskLook, awaiter: Awaiter) -> TaskLook {
        task.join.has_waker = true;
        task.awaited_by = awaiter;
        task
    }

    #[test]
    fn main_with_no_waker_anywhere_is_stuck() {
        let waits = look(1, vec![]).verdict().expect("stuck");
        assert_eq!(
            waits,
            [Waits {
                waiter: None,
                awaits: vec![]
            }]
        );
    }

    #[test]
    fn a_clone_of_mains_waker_anywhere_is_a_possible_wake() {
        assert!(look(2, vec![]).verdict().is_none());
    }

    #[test]
    fn main_awaiting_a_stuck_task_is_stuck_and_the_report_says_what_it_waits_for() {
        // main's waker is in task#1's cell; task#1: its `TaskRef` and its handle (held by main).
        let stuck = awaited_by(task(1, 2), Awaiter::MAIN);
        let waits = look(2, vec![stuck]).verdict().expect("stuck");
        assert_eq!(waits[0].awaits, [0]);
        assert_eq!(waits[1].awaits, Vec::<usize>::new());
    }

    #[test]
    fn a_waker_of_the_awaited_task_held_elsewhere_is_a_possible_wake() {
        let awake = awaited_by(task(1, 3), Awaiter::MAIN);
        assert!(look(2, vec![awake]).verdict().is_none());
    }

    #[test]
    fn a_handle_nobody_of_the_loop_polled_may_be_outside() {
        // task#1's handle is alive, but no waiter's waker is in its cell.
        assert!(look(1, vec![task(1, 2)]).verdict().is_none());
        // Polled last by something the loop cannot name (another thread, a combinator).
        let unknown = awaited_by(task(1, 2), Awaiter::UNKNOWN);
        assert!(look(2, vec![unknown]).verdict().is_none());
        // Polled last by a task that is not in the table (it finished, or it is elsewhere).
        let gone = awaited_by(task(1, 2), Awaiter::of(TaskId(7)));
        assert!(look(1, vec![gone]).verdict().is_none());
    }

    #[test]
    fn a_dropped_handle_counts_for_nothing() {
        let mut detached = task(1, 1);
        detached.join.is_detached = true;
        assert!(look(1, vec![detached]).verdict().is_some());
    }

    #[test]
    fn two_tasks_awaiting_each_other_are_stuck() {
        let first = awaited_by(task(1, 3), Awaiter::of(TaskId(2)));
        let second = awaited_by(task(2, 3), Awaiter::of(TaskId(1)));
        let waits = look(1, vec![first, second]).verdict().expect("stuck");
        assert_eq!(waits[1].awaits, [1], "task#1 waits for task#2");
        assert_eq!(waits[2].awaits, [0], "task#2 waits for task#1");
    }

    #[test]
    fn a_handle_a_wake_or_an_abort_in_flight_is_a_possible_wake() {
        let mut with_handle = look(1, vec![]);
        with_handle.handles += 1;
        assert!(with_handle.verdict().is_none());
        let mut woken = look(1, vec![]);
        woken.is_remote_woken = true;
        assert!(woken.verdict().is_none());
        let mut queued = task(1, 1);
        queued.join.is_detached = true;
        queued.is_woken = true;
        assert!(look(1, vec![queued]).verdict().is_none());
    }

    /// The loop counts its `Handle`s, clones included, and forgets each dropped one.
    #[test]
    fn a_loop_counts_its_handles() {
        let event_loop = crate::EventLoop::new();
        let shared = &event_loop.core.shared;
        assert_eq!(shared.handles(), 0);
        let handle = event_loop.handle();
        let clone = handle.clone();
        assert_eq!(shared.handles(), 2);
        drop(handle);
        assert_eq!(shared.handles(), 1);
        drop(clone);
        assert_eq!(shared.handles(), 0);
    }

    /// Waits up to a second for `condition`.
    fn eventually(condition: impl Fn() -> bool) -> bool {
        let until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < until {
            if condition() {
                return true;
            }
            std::thread::yield_now();
        }
        condition()
    }

    /// Guarantee: a waker woken by value on another thread is let go of before its wake is
    /// queued, so a loop that hears of the wake never counts the spent waker (which would keep
    /// it from reporting a loop stuck right after that wake). The test holds the remote queue's
    /// lock, so the waking thread stops at the push: by then the count must be down. Fails with
    /// `ArcWake::wake` left to its default (wake by reference, then drop): the count stays up
    /// until the lock is released. Main's waker and a task's.
    #[test]
    #[cfg_attr(miri, ignore = "spins on another thread for up to a second")]
    fn a_waker_woken_by_value_is_let_go_of_before_its_wake_is_queued() {
        use std::future::Future;
        use std::sync::Mutex;
        use std::task::{Context, Poll};

        let event_loop = crate::EventLoop::new();
        let core = &event_loop.core;
        // Main's waker.
        let main = futures_task::waker(Arc::clone(&core.main_waker));
        let queue = core.shared.lock_remote_queue();
        let waking = std::thread::spawn(move || main.wake());
        assert!(
            eventually(|| Arc::strong_count(&core.main_waker) == 1),
            "main's spent waker was still counted while its wake waited to be queued"
        );
        drop(queue);
        waking.join().unwrap();
        // A task's waker: a task that keeps its waker in `kept` and waits.
        struct KeepWaker(Arc<Mutex<Option<Waker>>>);
        impl Future for KeepWaker {
            type Output = ();
            fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                *self.0.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
        let kept = Arc::new(Mutex::new(None));
        let handle = event_loop.spawn_eager(KeepWaker(Arc::clone(&kept)));
        let waker = kept
            .lock()
            .unwrap()
            .take()
            .expect("the first poll kept its waker");
        let refs = || {
            let scheduler = core.scheduler.borrow();
            scheduler.parked_tasks().unwrap()[0].1.ref_count()
        };
        assert_eq!(refs(), 3, "the loop's `TaskRef`, the handle and the waker");
        let queue = core.shared.lock_remote_queue();
        let waking = std::thread::spawn(move || waker.wake());
        assert!(
            eventually(|| refs() == 2),
            "the task's spent waker was still counted while its wake waited to be queued"
        );
        drop(queue);
        waking.join().unwrap();
        drop(handle);
    }

    /// Guarantee: the notes do not pile up. Spawning and awaiting 10 000 tasks one after
    /// another files a note each (main's await leaves a new waker in each new task's cell);
    /// pruning keeps the list under twice its floor, since at most two tasks live at once.
    /// Without pruning it would hold 10 000 notes at the end (under miri, 300 tasks: still
    /// more than twice the floor, in a miri-sized time).
    #[test]
    fn the_notes_of_join_wakers_stay_few_however_many_tasks_were_awaited() {
        let tasks: u32 = if cfg!(miri) { 300 } else { 10_000 };
        let event_loop = crate::EventLoop::builder().trace(false).build();
        let most = event_loop.run_until_complete(async {
            let mut most = 0;
            for n in 0..tasks {
                let handle = crate::spawn(async move {
                    crate::yield_now().await;
                    n
                });
                assert_eq!(handle.await.unwrap(), n);
                let notes = with_current_core(|core| core.awaits_noted.borrow().len());
                most = most.max(notes.expect("inside the loop"));
            }
            most
        });
        assert!(
            (2..2 * MIN_NOTES_BEFORE_PRUNING).contains(&most),
            "at most {most} notes"
        );
    }

    #[test]
    fn the_report_names_each_waiter_and_gives_the_cause() {
        let report = StuckReport {
            lines: vec![
                format!("  {STUCK_MAIN}: waits for task#1, which is stuck too"),
                "  task#1: nothing kept its waker".to_string(),
            ],
            is_any_location_missing: true,
        };
        let text = report.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], STUCK);
        assert_eq!(lines[3], STUCK_TRACE_HINT);
        assert_eq!(lines[4], STUCK_CAUSE);
        assert!(STUCK_CAUSE.contains("docs/29-poll-contract-broken.md"));
    }
}
