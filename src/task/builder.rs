//! [`Builder`]: spawning a task with options (a name).

use std::future::Future;
use std::panic::Location;

use super::{JoinHandle, Origin};

/// Spawns a task with options: for now, a name that traces, warnings and timelines show.
///
/// # Examples
/// ```
/// miniloop::run(async {
///     let handle = miniloop::task::Builder::new().name("fetch google").spawn(async { 200 });
///     assert_eq!(handle.await.unwrap(), 200);
/// });
/// ```
#[derive(Debug, Default)]
#[must_use = "a builder does nothing until `spawn` or `spawn_local` starts the task"]
pub struct Builder {
    name: Option<Box<str>>,
}

impl Builder {
    /// A builder with no options set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task: traces print it as `task#3 "fetch google"`.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Spawns `future` on the loop running on this thread, like [`crate::spawn`].
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::event_loop::spawn_with_origin(future, self.into_origin())
    }

    /// Spawns `future`, which need not be `Send`, on the loop running on this thread, like
    /// [`crate::spawn_local`].
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    ///
    /// miniloop::run(async {
    ///     let shared = Rc::new("local");
    ///     let handle = miniloop::task::Builder::new()
    ///         .name("keeps an Rc")
    ///         .spawn_local(async move { *shared });
    ///     assert_eq!(handle.await.unwrap(), "local");
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        crate::event_loop::spawn_local_with_origin(future, self.into_origin())
    }

    /// Spawns `future` on `event_loop`, like [`EventLoop::spawn`](crate::EventLoop::spawn).
    #[track_caller]
    pub fn spawn_on<F>(self, event_loop: &crate::EventLoop, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        event_loop.spawn_with_origin(future, self.into_origin())
    }

    /// The name, and the caller's line (`#[track_caller]` passes the user's line through).
    #[track_caller]
    fn into_origin(self) -> Origin {
        Origin {
            name: self.name,
            spawned_at: Some(Location::caller()),
        }
    }
}
