#!/usr/bin/env bash
# HTTP benchmark with a real load generator: hyper's hello-world server
# (`examples/hyper_hello.rs`) on miniloop and the same server on tokio's current-thread
# runtime, driven by `wrk` with 2 threads and 50 connections, 10 s a run, the two runtimes
# alternated 3 times (miniloop first in rounds 1 and 3, tokio first in round 2). Prints one row
# per run (requests/s, p99 latency), then the medians and miniloop's ratio to tokio: the lines
# docs/benchmarks.md quotes. Not part of CI: the numbers depend on the machine and its load
# (the script prints the load average before and after).
#
#   scripts/bench_http.sh                  # the comparison, about a minute
#   scripts/bench_http.sh --profile        # then where the miniloop server's CPU time goes (perf)
#   scripts/bench_http.sh --multi-thread   # miniloop's multi-thread runtime against tokio's
#                                          # (`--runtime miniloop-mt` / `tokio-mt`, one worker
#                                          # per core; on 2 cores wrk's threads compete with them)
#
#   ROUNDS=3 RUN_SECONDS=10 THREADS=2 CONNECTIONS=50   the defaults, settable from outside
#   CARGO=cargo                                         the command that builds the example
#
# `--profile` samples each server for one more run with `perf record` and sorts the samples by
# whose code they are in: the kernel (sockets, epoll), the executor (`miniloop::`, or
# `tokio::` for tokio's), hyper and the HTTP types, and the rest (allocator, libc, std).
#
# Fails (exit 1) with the command that installs wrk (or perf, for `--profile`) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${ROUNDS:-3}
run_seconds=${RUN_SECONDS:-10}
threads=${THREADS:-2}
connections=${CONNECTIONS:-50}
cargo_command=${CARGO:-cargo}
profile=false
ours=miniloop
theirs=tokio
for arg in "$@"; do
    case "$arg" in
        --profile) profile=true ;;
        --multi-thread) ours=miniloop-mt; theirs=tokio-mt ;;
        *) echo "usage: scripts/bench_http.sh [--profile] [--multi-thread]" >&2; exit 2 ;;
    esac
done

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk is not installed; install it with: apt-get install -y wrk (Debian, Ubuntu), brew install wrk (macOS)" >&2
    exit 1
fi
if $profile && ! command -v perf >/dev/null 2>&1; then
    echo "perf is not installed; install it with: apt-get install -y linux-perf (Debian), linux-tools-generic (Ubuntu)" >&2
    exit 1
fi

"$cargo_command" build --quiet --release --example hyper_hello
server_binary="${CARGO_TARGET_DIR:-target}/release/examples/hyper_hello"
work_dir=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work_dir"
}
trap cleanup EXIT

# Starts the server on `$1`'s runtime on a free port; sets `server_pid` and `server_url`.
start_server() {
    local runtime=$1
    "$server_binary" --runtime "$runtime" --port 0 >"$work_dir/server.out" 2>>"$work_dir/server.err" &
    server_pid=$!
    for _ in $(seq 100); do
        if grep -q "listening on" "$work_dir/server.out" 2>/dev/null; then
            server_url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$work_dir/server.out")
            return
        fi
        sleep 0.05
    done
    echo "the $runtime server did not start; its output:" >&2
    cat "$work_dir/server.out" "$work_dir/server.err" >&2
    exit 1
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# `1.23ms`, `850.00us`, `1.02s` -> milliseconds.
to_millis() {
    awk -v value="$1" 'BEGIN {
        number = value + 0
        if (value ~ /us$/) number /= 1000
        else if (value ~ /ms$/) number *= 1
        else if (value ~ /s$/) number *= 1000
        printf "%.2f", number
    }'
}

# One measured run against a fresh server: sets `measured_rate` (requests/s) and
# `measured_p99` (milliseconds).
measure() {
    local runtime=$1
    start_server "$runtime"
    # A short warm-up (connections, hyper's buffers, the page cache) that is not counted.
    wrk -t"$threads" -c"$connections" -d1s "$server_url" >/dev/null
    wrk -t"$threads" -c"$connections" -d"${run_seconds}s" --latency "$server_url" >"$work_dir/wrk.out"
    stop_server
    measured_rate=$(awk '/^Requests\/sec:/ { print $2 }' "$work_dir/wrk.out")
    local p99
    p99=$(awk '$1 == "99%" { print $2 }' "$work_dir/wrk.out")
    if [[ -z "$measured_rate" || -z "$p99" ]]; then
        echo "could not read wrk's output:" >&2
        cat "$work_dir/wrk.out" >&2
        exit 1
    fi
    measured_p99=$(to_millis "$p99")
}

median() {
    sort -g | awk '{ values[NR] = $1 } END {
        if (NR % 2) print values[(NR + 1) / 2]; else print (values[NR / 2] + values[NR / 2 + 1]) / 2
    }'
}

echo "hyper hello-world: $ours vs $theirs, wrk -t$threads -c$connections -d${run_seconds}s, $rounds rounds"
echo "machine: $(nproc) cores, $(uname -sr); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-11s %12s %10s\n' round runtime requests/s p99-ms
for runtime in "$ours" "$theirs"; do
    : >"$work_dir/$runtime.rates"
    : >"$work_dir/$runtime.p99"
done
for round in $(seq "$rounds"); do
    if ((round % 2)); then order=("$ours" "$theirs"); else order=("$theirs" "$ours"); fi
    for runtime in "${order[@]}"; do
        measure "$runtime"
        printf '%-6s %-11s %12.0f %10.2f\n' "$round" "$runtime" "$measured_rate" "$measured_p99"
        echo "$measured_rate" >>"$work_dir/$runtime.rates"
        echo "$measured_p99" >>"$work_dir/$runtime.p99"
    done
done
our_rate=$(median <"$work_dir/$ours.rates")
their_rate=$(median <"$work_dir/$theirs.rates")
printf 'median  %-11s %12.0f req/s  p99 %6.2f ms\n' "$ours" "$our_rate" "$(median <"$work_dir/$ours.p99")"
printf 'median  %-11s %12.0f req/s  p99 %6.2f ms\n' "$theirs" "$their_rate" "$(median <"$work_dir/$theirs.p99")"
awk -v m="$our_rate" -v t="$their_rate" -v a="$ours" -v b="$theirs" 'BEGIN { printf "%s / %s requests/s: %.3fx\n", a, b, m / t }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
errors=$(grep -c . "$work_dir/server.err" || true)
echo "server errors logged: $errors (connections that wrk cut off mid-request when a run ended)"

if ! $profile; then
    exit 0
fi

# Where the server's CPU time goes: `perf record` on the server for one run, each sample
# filed under the first of these patterns its symbol matches.
profile_runtime() {
    local runtime=$1 executor=$2
    start_server "$runtime"
    wrk -t"$threads" -c"$connections" -d1s "$server_url" >/dev/null
    perf record --quiet -F 1999 -p "$server_pid" -o "$work_dir/perf.data" -- sleep "$run_seconds" \
        >/dev/null 2>&1 &
    local recorder=$!
    wrk -t"$threads" -c"$connections" -d"${run_seconds}s" "$server_url" >/dev/null
    wait "$recorder"
    stop_server
    echo "$runtime server, share of CPU samples:"
    perf report -i "$work_dir/perf.data" --no-children --sort sym --stdio -q 2>/dev/null |
        awk -v executor="$executor" '
        $1 ~ /%$/ {
            share = $1 + 0
            symbol = $0
            if ($2 == "[k]") kind = "kernel (TCP, epoll, syscalls)"
            else if (index(symbol, executor "::") || index(symbol, "<" executor "::")) kind = "executor (" executor "::)"
            else if (symbol ~ /hyper|http|bytes::/) kind = "hyper, http, bytes"
            else kind = "the rest (allocator, libc, std)"
            totals[kind] += share
        }
        END {
            for (kind in totals) printf "  %6.2f%%  %s\n", totals[kind], kind
        }' | sort -g -r
}

echo
profile_runtime "$ours" miniloop
profile_runtime "$theirs" tokio
