//! [`JoinError`]: why a task ended without an output.

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::TaskId;

/// Why a task ended without an output: it panicked, or it was cancelled.
///
/// It is `Send + Sync`, as tokio's is, so `?` turns it into a `Box<dyn Error + Send + Sync>`
/// (or an `anyhow::Error`).
pub struct JoinError {
    task_id: TaskId,
    repr: Repr,
}

/// Why a task ended, as its join cell keeps it until the handle reads it: without the task
/// id (the task's header has it) and without `Repr`'s lock (bytes per task are a benchmark
/// target, `docs/benchmarks.md`).
pub(crate) enum Cause {
    Cancelled,
    Panicked(Box<dyn Any + Send + 'static>),
}

/// `Cause` inside a `JoinError`.
enum Repr {
    Cancelled,
    /// The payload of a panic is `Send` but not `Sync` (`Box<dyn Any + Send>`, what
    /// `catch_unwind` gives). A `Mutex` makes it `Sync` without `unsafe`: a `&JoinError` reaches
    /// the payload only through the lock, one thread at a time. tokio makes the same promise
    /// with a wrapper that hands out no `&` to the payload at all; the lock costs a few bytes
    /// and an uncontended lock when the error is printed, which is not a hot path.
    Panicked(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled(task_id: TaskId) -> Self {
        Self::new(task_id, Cause::Cancelled)
    }

    pub(crate) fn panicked(task_id: TaskId, payload: Box<dyn Any + Send + 'static>) -> Self {
        Self::new(task_id, Cause::Panicked(payload))
    }

    /// The error of task `task_id`, from the cause its join cell kept.
    pub(crate) fn new(task_id: TaskId, cause: Cause) -> Self {
        let repr = match cause {
            Cause::Cancelled => Repr::Cancelled,
            Cause::Panicked(payload) => Repr::Panicked(Mutex::new(payload)),
        };
        JoinError { task_id, repr }
    }

    /// The cause, for the join cell (which keeps no task id).
    pub(crate) fn into_cause(self) -> Cause {
        match self.repr {
            Repr::Cancelled => Cause::Cancelled,
            Repr::Panicked(payload) => Cause::Panicked(into_payload(payload)),
        }
    }

    /// The task that ended this way.
    pub fn id(&self) -> TaskId {
        self.task_id
    }

    /// Whether the task was cancelled (aborted, or dropped with its loop).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The panic's payload, to inspect it or to resume it with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicked; check [`JoinError::is_panic`] first,
    /// or use [`JoinError::try_into_panic`].
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(error) => panic!("`JoinError::into_panic` called on an error that is not a panic ({error}); check `is_panic()` first"),
        }
    }

    /// The panic's payload, or the error itself if the task was cancelled.
    ///
    /// # Errors
    /// This `JoinError`, unchanged, if the task was cancelled rather than panicked.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panicked(payload) => Ok(into_payload(payload)),
            Repr::Cancelled => Err(self),
        }
    }

    /// Calls `f` with the panic message, when the payload is a string (as `panic!("...")`
    /// makes it); `None` for a cancellation or another payload.
    fn with_panic_message<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        match &self.repr {
            Repr::Panicked(payload) => {
                // Poisoned only if a formatter panicked while it held the lock; the payload
                // itself is never changed, so it is still fine to read.
                let payload = payload.lock().unwrap_or_else(PoisonError::into_inner);
                let message = payload
                    .downcast_ref::<&'static str>()
                    .copied()
                    .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
                f(message)
            }
            Repr::Cancelled => f(None),
        }
    }
}

/// The payload out of its lock (see `Repr::Panicked` for why it is locked at all).
fn into_payload(payload: Mutex<Box<dyn Any + Send + 'static>>) -> Box<dyn Any + Send + 'static> {
    payload.into_inner().unwrap_or_else(PoisonError::into_inner)
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task_id = self.task_id;
        self.with_panic_message(|message| match (&self.repr, message) {
            (Repr::Cancelled, _) => write!(f, "{task_id} was cancelled"),
            (Repr::Panicked(_), Some(message)) => {
                write!(f, "{task_id} panicked with message {message:?}")
            }
            (Repr::Panicked(_), None) => write!(f, "{task_id} panicked"),
        })
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let task_id = self.task_id;
        self.with_panic_message(|message| match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({task_id})"),
            Repr::Panicked(_) => write!(f, "JoinError::Panic({task_id}, {message:?})"),
        })
    }
}

impl std::error::Error for JoinError {}
