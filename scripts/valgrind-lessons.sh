#!/usr/bin/env bash
# Leak check: runs a few built lessons, and a few shutdown tests, under valgrind's memcheck and
# fails if any memory is "definitely lost" or "indirectly lost".
#
#   scripts/valgrind-lessons.sh
#
# What is fine: "still reachable" (std's thread-local and once-initialised data, the loop
# registry in `waker.rs`) and "possibly lost" (std keeps the main thread's `Thread` handle
# through a pointer into its allocation, which valgrind can't follow). What is not: a task,
# waker or timer that nobody can reach any more, which is what an `Arc` cycle between a task
# and its waker looks like (rust-lang/async-book#177).
#
# Fails (exit 1) with the command that installs valgrind when it is missing (`.ci/run` installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed; install it with: apt-get install valgrind" >&2
    exit 1
fi
valgrind --version

# The lessons print the same lines at any time scale; 0.01 keeps lesson 13 under a second.
export MINILOOP_TIME_SCALE=0.01
memcheck=(valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect
          --errors-for-leak-kinds=definite,indirect
          --error-exitcode=1)

cargo build --quiet --examples
examples_dir="${CARGO_TARGET_DIR:-target}/debug/examples"
for lesson in 03_waiting_list 11_async_fn_is_a_state_machine 13_real_event_loop \
              20_lost_wakeup 21_stale_waker 22_poll_after_ready; do
    echo "valgrind: lesson $lesson"
    "${memcheck[@]}" "$examples_dir/$lesson" >/dev/null
done

# Tests where a leak would show: the loop's shutdown with wakers held outside, and wakes
# racing the drop. (A test binary under valgrind runs about 50 times slower, so only these.)
test_binary() {
    # The JSON line of the test target itself (a test build also lists the crate's binary).
    cargo test --quiet --no-run --message-format=json --test "$1" 2>/dev/null \
        | grep "\"kind\":\[\"test\"\][^}]*\"name\":\"$1\"" \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1
}
tasks_binary="$(test_binary tasks)"
wake_binary="$(test_binary wake)"
stress_binary="$(test_binary stress)"
echo "valgrind: tests of shutdown and leftover wakers"
"${memcheck[@]}" "$tasks_binary" --test-threads=1 --quiet \
    dropping_an_event_loop_drops_every_unfinished_future_once \
    a_handle_awaited_after_its_loop_was_dropped_reports_cancelled
"${memcheck[@]}" "$wake_binary" --test-threads=1 --quiet a_waker_that_outlives_its_loop_is_harmless
MINILOOP_STRESS_ROUNDS=3 "${memcheck[@]}" "$stress_binary" --test-threads=1 --quiet \
    waking_tasks_from_another_thread_while_the_loop_is_dropped_is_harmless
echo "valgrind: no definite or indirect leaks"
