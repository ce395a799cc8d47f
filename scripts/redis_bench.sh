#!/usr/bin/env bash
# Lesson 35's Redis server against real Redis and tokio's mini-redis, with redis-benchmark.
#
#     scripts/redis_bench.sh            # the full matrix: about 4 minutes
#     ROUNDS=1 scripts/redis_bench.sh   # one round, for a quick look
#
# Four servers, one after another in each round: this server on miniloop
# (examples/35_redis), the same command code on tokio's current-thread runtime
# (examples/35_redis_tokio), tokio's own example server `mini-redis-server`, and
# `redis-server` 7 with persistence off. Two workloads each: `-t set,get -n 200000 -c 50`
# without pipelining and with `-P 16`. Every configuration runs ROUNDS times (3 by default),
# alternated server by server so that a noisy minute hurts all four alike. The table gives
# the median requests per second and the median p50/p99 latency of the runs.
#
# Not part of CI: it needs tools CI does not install, and a quiet machine. It installs
# nothing; a missing tool is named with the command that installs it. Run it on a quiet
# machine (`uptime` first): the benchmark tool and the server share the cores, and the
# table says what the load was. `CARGO` picks the cargo to build with (default `cargo`).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
CLIENTS=${CLIENTS:-50}
CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

missing=0
need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "missing: $1 ($2)" >&2
        missing=1
    fi
}
need redis-benchmark "apt-get install -y redis-tools"
need redis-cli "apt-get install -y redis-tools"
need redis-server "apt-get install -y redis-server"
need mini-redis-server "cargo install mini-redis"
need python3 "apt-get install -y python3"
if ((missing)); then
    echo "install the tools above, then run this again" >&2
    exit 2
fi

echo "building the two servers (release)..." >&2
"$CARGO" build --release --quiet --example 35_redis --example 35_redis_tokio

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Free ports, far from the default 6379 so that a running Redis is left alone.
port_miniloop=16379
port_tokio=16380
port_mini_redis=16381
port_redis=16382

"$TARGET_DIR/release/examples/35_redis" --port $port_miniloop >"$work/miniloop.log" 2>&1 &
pids+=($!)
"$TARGET_DIR/release/examples/35_redis_tokio" --port $port_tokio >"$work/tokio.log" 2>&1 &
pids+=($!)
mini-redis-server --port $port_mini_redis >"$work/mini-redis.log" 2>&1 &
pids+=($!)
redis-server --port $port_redis --save '' --appendonly no --bind 127.0.0.1 \
    --logfile "$work/redis.log" &
pids+=($!)

for port in $port_miniloop $port_tokio $port_mini_redis $port_redis; do
    for _ in $(seq 100); do
        # mini-redis answers PING with PONG too; any answer means it listens.
        if redis-cli -p $port PING >/dev/null 2>&1; then break; fi
        sleep 0.1
    done
done

servers=("miniloop:$port_miniloop" "tokio-twin:$port_tokio" "mini-redis:$port_mini_redis" "redis-server:$port_redis")
results="$work/results.csv"
echo "round,server,pipeline,test,rps,p50_ms,p99_ms" >"$results"

machine() {
    echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
    echo "- kernel: $(uname -r); $(redis-server --version | cut -d' ' -f1-3); $(redis-benchmark --version 2>/dev/null | head -1 || true)"
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$SECONDS

for round in $(seq "$ROUNDS"); do
    for server in "${servers[@]}"; do
        name=${server%%:*}
        port=${server##*:}
        for pipeline in 1 16; do
            echo "round $round: $name, -P $pipeline" >&2
            redis-benchmark -p "$port" -t set,get -n "$REQUESTS" -c "$CLIENTS" -P "$pipeline" --csv \
                2>/dev/null | tr -d '"' | while IFS=, read -r test rps avg min p50 p95 p99 max; do
                    [[ $test == test ]] && continue
                    echo "$round,$name,$pipeline,$test,$rps,$p50,$p99" >>"$results"
                done
        done
    done
done

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "## redis-benchmark: lesson 35 against tokio, mini-redis and Redis"
echo
machine
echo "- load average (1, 5, 15 min) before: $load_before; after: $load_after; $((SECONDS - started)) s of benchmarks"
echo "- each row: \`redis-benchmark -p PORT -t set,get -n $REQUESTS -c $CLIENTS -P N --csv\`, $ROUNDS rounds, servers alternated; median of the rounds"
echo "- servers: \`35_redis --port $port_miniloop\`, \`35_redis_tokio --port $port_tokio\` (both \`--release\`), \`mini-redis-server --port $port_mini_redis\`, \`redis-server --port $port_redis --save '' --appendonly no\`"
echo
python3 - "$results" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
servers = ["miniloop", "tokio-twin", "mini-redis", "redis-server"]
def median(values):
    return statistics.median(values) if values else float("nan")
table = {}
for row in rows:
    key = (row["server"], row["pipeline"], row["test"])
    table.setdefault(key, []).append(row)
print("| server | -P | test | requests/s (median) | runs | p50 ms | p99 ms | vs redis-server |")
print("|---|---|---|---|---|---|---|---|")
for pipeline in ["1", "16"]:
    for test in ["SET", "GET"]:
        reference = median([float(r["rps"]) for r in table.get(("redis-server", pipeline, test), [])])
        for server in servers:
            runs = table.get((server, pipeline, test), [])
            rps = median([float(r["rps"]) for r in runs])
            p50 = median([float(r["p50_ms"]) for r in runs])
            p99 = median([float(r["p99_ms"]) for r in runs])
            all_runs = " / ".join(f"{float(r['rps']):,.0f}" for r in runs)
            print(f"| {server} | {pipeline} | {test} | {rps:,.0f} | {all_runs} | {p50:.3f} | {p99:.3f} | {rps / reference:.2f}x |")
print()
for pipeline in ["1", "16"]:
    for test in ["SET", "GET"]:
        m = median([float(r["rps"]) for r in table.get(("miniloop", pipeline, test), [])])
        t = median([float(r["rps"]) for r in table.get(("tokio-twin", pipeline, test), [])])
        print(f"- -P {pipeline} {test}: miniloop / tokio twin = {m / t:.2f}x")
EOF
