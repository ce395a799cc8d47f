#!/usr/bin/env python3
"""Count instructions per operation of one benchmark function, and say where they go.

Wall-clock medians move with the machine's load; instruction counts do not. This runs one
criterion function under callgrind (`--profile-time`, so criterion only iterates), divides by
the number of iterations (calls of the bench's `Runtime::block_on`, or of the floor function, both
`#[inline(never)]` for this) and by the operations per iteration (the group's throughput), and prints the
functions with the most instructions of their own, per operation.

    cargo bench --bench vs_tokio --no-run        # build first (and run the bench once for throughput)
    python3 scripts/callgrind_per_op.py vs_tokio chained_spawn/miniloop
    python3 scripts/callgrind_per_op.py vs_tokio chained_spawn/tokio_current_thread --top 30

Needs valgrind (`apt-get install valgrind`). Python 3 standard library only.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CALLEE = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+>\s+(.*) \(([\d,]+)x\)")
FLAT = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$")


def number(text):
    return int(text.replace(",", ""))


def newest_binary(target_dir, bench):
    deps = Path(target_dir) / "release" / "deps"
    candidates = [
        p for p in deps.glob(f"{bench}-*")
        if p.suffix == "" and os.access(p, os.X_OK) and p.is_file()
    ]
    if not candidates:
        sys.exit(f"no built bench `{bench}` in {deps}; run `cargo bench --bench {bench} --no-run`")
    return max(candidates, key=lambda p: p.stat().st_mtime)


def operations(target_dir, function_id):
    benchmark = Path(target_dir) / "criterion" / function_id / "new" / "benchmark.json"
    if benchmark.is_file():
        throughput = json.loads(benchmark.read_text()).get("throughput") or {}
        return throughput.get("Elements") or 1
    return None


def short(name):
    """Drops the file prefix and the binary suffix of a callgrind function name."""
    name = re.sub(r"\s*\[[^\]]*\]$", "", name)
    return name.split(":", 1)[1] if re.match(r"^[./\w-]+\.(rs|c|h):", name) else name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", help="bench target, e.g. vs_tokio")
    parser.add_argument("function_id", help="criterion id, e.g. chained_spawn/miniloop")
    parser.add_argument("--ops", type=int, help="operations per iteration (default: the group's throughput)")
    parser.add_argument("--top", type=int, default=20, help="how many functions to list")
    parser.add_argument("--seconds", type=float, default=1.0, help="criterion --profile-time")
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--frame", default=r"as \w+::runtimes::Runtime>::block_on",
                        help="regex naming the function called once per iteration (default: the "
                             "bench's `Runtime::block_on`; the floors use `workloads::ping_pong_floor$`)")
    args = parser.parse_args()

    ops = args.ops or operations(args.target_dir, args.function_id)
    if ops is None:
        sys.exit("unknown operations per iteration: run the bench once (or pass --ops)")
    binary = newest_binary(args.target_dir, args.bench)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary),
             "--bench", "--profile-time", str(args.seconds), f"^{re.escape(args.function_id)}$"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        tree = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--tree=calling", str(out)],
                              check=True, capture_output=True, text=True).stdout
        flat = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", str(out)],
                              check=True, capture_output=True, text=True).stdout

    iterations, inclusive = 0, 0
    for line in tree.splitlines():
        match = CALLEE.match(line)
        if match and re.search(args.frame, re.sub(r"\s*\[[^\]]*\]$", "", match.group(2))):
            inclusive += number(match.group(1))
            iterations += number(match.group(3))
    if iterations == 0:
        sys.exit(f"found no call of a function matching {args.frame!r}; is the function id right?")
    per_op = inclusive / iterations / ops
    print(f"{args.function_id}: {iterations} iterations x {ops} operations; "
          f"{per_op:,.0f} instructions per operation (inside block_on)\n")
    # callgrind splits a function by the source file its inlined lines came from; add them up.
    own = {}
    in_table = False
    for line in flat.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        match = FLAT.match(line) if in_table else None
        if not match or "PROGRAM TOTALS" in line or "=>" in line:
            continue
        name = short(match.group(2))
        own[name] = own.get(name, 0) + number(match.group(1))
    print(f"{'per op':>8}  function (instructions of its own, inlined code included)")
    for name, cost in sorted(own.items(), key=lambda item: -item[1])[: args.top]:
        print(f"{cost / iterations / ops:8.1f}  {name[:150]}")

if __name__ == "__main__":
    main()
