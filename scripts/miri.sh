#!/usr/bin/env bash
# Runs miniloop's miri subset: the unit tests and the integration tests that miri can run, and
# lesson 27 (a waker built by hand, with `unsafe`).
#
#   scripts/miri.sh                 # the subset below (about 3 minutes from cold on 2 cores)
#   MIRIFLAGS="-Zmiri-tree-borrows" scripts/miri.sh   # Tree Borrows instead of Stacked Borrows
#   MIRIFLAGS="-Zmiri-many-seeds=0..8" scripts/miri.sh # 8 thread schedules per test (slower)
#
# MIRIFLAGS: nothing is needed by default. miri's isolation stays on: the tests read only the
# monotonic clock (a virtual clock under miri) and use threads and `park`, which miri emulates;
# nothing here needs `-Zmiri-disable-isolation`. Tests miri can't run are marked
# `#[cfg_attr(miri, ignore = "why")]` in the test files: sockets and epoll, getrusage, child
# processes, long loops, and a few whose timing assumes a real clock. docs/reliability.md lists
# the subset and why.
#
# Fails (exit 1) with the command that installs miri when `cargo +nightly miri` is missing:
# a leak check that skips itself would pass without checking anything. `.ci/run` installs it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri is not installed; install it with: rustup toolchain install nightly --component miri" >&2
    exit 1
fi

# Its own target dir, so miri's build never invalidates the normal one.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri-subset"
export MIRIFLAGS="${MIRIFLAGS:-}"

cargo +nightly miri --version
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup
echo "MIRIFLAGS=${MIRIFLAGS}"

cargo +nightly miri test --lib
for test in wake tasks timers join stress model remote_spawn local join_set; do
    cargo +nightly miri test --test "$test"
done
# The multi-thread runtime (`src/multi_thread.rs`): its `unsafe` hand-offs of a task's `TaskRef`
# (`ParkedTask::resume`, `TaskHold::claim`) under real worker threads, with small counts
# (tests/multi_thread_stress.rs shrinks under `cfg(miri)`). A worker reads its thread id from
# `/proc/thread-self` for `worker_stats`; `-Zmiri-isolation-error=hide` makes that read fail
# quietly (the CPU time then reads as zero) instead of halting miri. Isolation stays on.
for test in multi_thread multi_thread_stress; do
    MIRIFLAGS="${MIRIFLAGS} -Zmiri-isolation-error=hide" cargo +nightly miri test --test "$test"
done
# Lesson 27 builds a `Waker` by hand from a `RawWakerVTable`: four `unsafe fn`s that hand an
# `Arc`'s strong count from waker to waker. miri checks that none of them uses the `Arc` after
# giving its count back, and, with its leak check at exit, that every count comes back (its
# chapter's "Try this" breaks each on purpose and shows miri's error). A few seconds.
cargo +nightly miri run --example 27_waker_by_hand
