//! [`JoinError`]: why a task ended without an output.

use std::any::Any;
use std::fmt;

use super::TaskId;

/// Why a task ended without an output: it panicked, or it was cancelled.
pub struct JoinError {
    pub(super) task_id: TaskId,
    pub(super) cause: Cause,
}

pub(crate) enum Cause {
    Cancelled,
    Panicked(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled(task_id: TaskId) -> Self {
        JoinError {
            task_id,
            cause: Cause::Cancelled,
        }
    }

    pub(crate) fn panicked(task_id: TaskId, payload: Box<dyn Any + Send + 'static>) -> Self {
        JoinError {
            task_id,
            cause: Cause::Panicked(payload),
        }
    }

    /// The task that ended this way.
    pub fn id(&self) -> TaskId {
        self.task_id
    }

    /// Whether the task was cancelled (aborted, or dropped with its loop).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.cause, Cause::Cancelled)
    }

    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.cause, Cause::Panicked(_))
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
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.cause {
            Cause::Panicked(payload) => Ok(payload),
            Cause::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string (as `panic!("...")` makes it).
    fn panic_message(&self) -> Option<&str> {
        match &self.cause {
            Cause::Panicked(payload) => payload
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str)),
            Cause::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.cause, self.panic_message()) {
            (Cause::Cancelled, _) => write!(f, "{} was cancelled", self.task_id),
            (Cause::Panicked(_), Some(message)) => {
                write!(f, "{} panicked with message {message:?}", self.task_id)
            }
            (Cause::Panicked(_), None) => write!(f, "{} panicked", self.task_id),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Cancelled => write!(f, "JoinError::Cancelled({})", self.task_id),
            Cause::Panicked(_) => write!(
                f,
                "JoinError::Panic({}, {:?})",
                self.task_id,
                self.panic_message()
            ),
        }
    }
}

impl std::error::Error for JoinError {}
