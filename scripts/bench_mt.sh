#!/usr/bin/env bash
# Issue 18's table for the multi-thread runtime: runs `benches/vs_tokio_mt.rs` group by group
# with short criterion runs, and prints one line per group: miniloop's median, tokio
# multi-thread's, their ratio, the target and whether it is met (for `mt_skewed` a second line
# against thread-per-core, whose target is 0.6, and a third with the floor: the same work split
# evenly on two plain threads, the best any scheduler could do on the machine at that time).
#
#   scripts/bench_mt.sh                     # every group once
#   scripts/bench_mt.sh --rounds 3          # three rounds, the group order reversed every other
#                                           # round; the table gives the median of the rounds
#   scripts/bench_mt.sh mt_ping_pong mt_skewed
#
# Options: --rounds N, --warm-up SECONDS (default 1), --measure SECONDS (default 3).
# `CARGO` picks the cargo command (e.g. `CARGO=/work/bin/cargo-slot`); `CARGO_TARGET_DIR` is
# honoured. The machine's load moves these numbers: the script prints `uptime` before each
# round, and repeating rounds shows how far the medians move.
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
ROUNDS=1
WARM_UP=1
MEASURE=3
GROUPS_WANTED=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --warm-up) WARM_UP=$2; shift 2 ;;
    --measure) MEASURE=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "bench_mt.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) GROUPS_WANTED+=("$1"); shift ;;
  esac
done
ALL_GROUPS=(mt_spawn_many mt_spawn_many_outside mt_yield_many mt_chained_spawn mt_ping_pong
            mt_ping_pong_rounds mt_remote_wake mt_skewed)
if [ ${#GROUPS_WANTED[@]} -eq 0 ]; then
  GROUPS_WANTED=("${ALL_GROUPS[@]}")
fi
for group in "${GROUPS_WANTED[@]}"; do
  case " ${ALL_GROUPS[*]} " in
    *" $group "*) ;;
    *) echo "bench_mt.sh: no group \`$group\`; the groups are: ${ALL_GROUPS[*]}" >&2; exit 2 ;;
  esac
done

# Build once, then run the bench binary itself: no cargo (and no build slot) held while the
# benchmark runs.
BINARY=$("$CARGO" bench --bench vs_tokio_mt --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == "vs_tokio_mt":
        print(message["executable"])')
if [ -z "$BINARY" ]; then
  echo "bench_mt.sh: the build of benches/vs_tokio_mt.rs failed; run \`$CARGO bench --bench vs_tokio_mt --no-run\` to see why" >&2
  exit 1
fi

RESULTS=$(mktemp)
LOG=$(mktemp)
trap 'rm -f "$RESULTS" "$LOG"' EXIT
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round: $(uptime)" >&2
  order=("${GROUPS_WANTED[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    reversed=()
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do reversed+=("${order[i]}"); done
    order=("${reversed[@]}")
  fi
  for group in "${order[@]}"; do
    # Outside cargo, criterion would guess where the target directory is: tell it.
    if ! CRITERION_HOME="$TARGET_DIR/criterion" "$BINARY" --bench "^$group/" \
      --warm-up-time "$WARM_UP" --measurement-time "$MEASURE" >"$LOG" 2>&1; then
      cat "$LOG" >&2
      echo "bench_mt.sh: group $group failed (its output is above)" >&2
      exit 1
    fi
    for function in miniloop tokio_multi_thread thread_per_core floor_two_threads; do
      estimates="$TARGET_DIR/criterion/$group/$function/new/estimates.json"
      if [ -f "$estimates" ]; then
        median=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' "$estimates")
        printf '%s\t%s\t%s\t%s\n' "$round" "$group" "$function" "$median" >>"$RESULTS"
      fi
    done
  done
done

python3 - "$RESULTS" "${GROUPS_WANTED[@]}" <<'EOF'
import statistics
import sys

results, groups = sys.argv[1], sys.argv[2:]
runs = {}  # (group, function) -> [median ns per iteration, one per round]
for line in open(results):
    _, group, function, median = line.split("\t")
    runs.setdefault((group, function), []).append(float(median))

def show(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"

print(f"{'group':<22} {'ours':<18} {'median':>8} {'peer':<19} {'median':>8} {'ratio':>6} {'rounds':<16} target  met")
# `floor_two_threads` (mt_skewed) is the skewed work split evenly on two plain threads: its
# ratio to thread_per_core is the best any scheduler could do at the time of the run.
ROWS = [("miniloop", "tokio_multi_thread", 1.0), ("miniloop", "thread_per_core", 0.6),
        ("floor_two_threads", "thread_per_core", None)]
for group in groups:
    for ours_name, peer, target in ROWS:
        ours, theirs = runs.get((group, ours_name)), runs.get((group, peer))
        if not ours or not theirs:
            continue
        ratio = statistics.median(ours) / statistics.median(theirs)
        each = ",".join(f"{a / b:.2f}" for a, b in zip(ours, theirs))
        verdict = "  (floor)" if target is None else f"≤ {target:.1f}   {'yes' if ratio <= target else 'no'}"
        print(f"{group:<22} {ours_name:<18} {show(statistics.median(ours)):>8} {peer:<19} "
              f"{show(statistics.median(theirs)):>8} {ratio:6.2f} {each:<16} {verdict}")
EOF
