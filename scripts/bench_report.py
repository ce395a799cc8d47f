#!/usr/bin/env python3
"""Turn criterion's output into the tables and the chart of docs/benchmarks.md.

Run after `cargo bench --bench vs_tokio --bench ladder --bench alloc_per_task`:

    python3 scripts/bench_report.py                 # reads target/criterion, writes docs/benchmarks.svg
    python3 scripts/bench_report.py --target-dir /work/target-bench

It reads `<target>/criterion/<group>/<function>/new/estimates.json` (the median's point
estimate, in ns per iteration) and `benchmark.json` next to it (the group's throughput, the
number of operations in one iteration, which the benches set from their constants), plus
`<target>/criterion/alloc_per_task.json` from the allocation bench. It prints markdown to
stdout and writes the SVG. Python 3 standard library only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

# The vs_tokio groups in reading order, with the target for miniloop / tokio_current_thread.
WORKLOADS = [
    ("spawn_many", 0.4),
    ("spawn_many_remote", None),
    ("yield_many", 0.4),
    ("yield_among_waiters", None),
    ("chained_spawn", 0.4),
    ("ping_pong", None),
    ("ping_pong_rounds", None),
    ("sleep_many", 0.4),
    ("timeout_cancel", None),
    ("remote_wake", None),
    ("block_on_ready", 0.4),
]
PEERS = ["tokio_current_thread", "tokio_multi_thread", "async_executor_local", "futures_local_pool"]
# Channel-bound workloads: their floor group, and the most miniloop may add above it (ns/op).
FLOORS = {
    "ping_pong": ("floor_ping_pong", 200.0, "pair"),
    "ping_pong_rounds": ("floor_ping_pong_rounds", 30.0, "round trip"),
}
LADDER = [
    "ladder_spawn_many",
    "ladder_yield_many",
    "ladder_yield_among_waiters",
    "ladder_ping_pong",
    "ladder_sleep_many",
]
RUNGS = [
    ("rung1_busy_loop", "1 busy loop (lesson 12)", "#c0392b"),
    ("rung2_waker_loop", "2 waker loop (async book)", "#e67e22"),
    ("rung3_miniloop", "3 miniloop", "#2471a3"),
    ("rung4_tokio_current_thread", "4 tokio current-thread", "#7f8c8d"),
]
COLOURS = {
    "miniloop": "#2471a3",
    "tokio_current_thread": "#7f8c8d",
    "perfect_scheduler": "#27ae60",
}


def read_results(criterion_dir):
    """{group: {function: (median ns per iteration, operations per iteration)}}"""
    results = {}
    if not criterion_dir.is_dir():
        return results
    for group_dir in sorted(p for p in criterion_dir.iterdir() if p.is_dir()):
        for function_dir in sorted(p for p in group_dir.iterdir() if p.is_dir()):
            estimates = function_dir / "new" / "estimates.json"
            benchmark = function_dir / "new" / "benchmark.json"
            if not estimates.is_file():
                continue
            median = json.loads(estimates.read_text())["median"]["point_estimate"]
            operations = 1
            if benchmark.is_file():
                throughput = json.loads(benchmark.read_text()).get("throughput") or {}
                operations = throughput.get("Elements") or throughput.get("Bytes") or 1
            results.setdefault(group_dir.name, {})[function_dir.name] = (median, operations)
    return results


def per_op(results, group, function):
    """Median ns per operation, or None if that benchmark has not run."""
    entry = results.get(group, {}).get(function)
    if entry is None:
        return None
    median, operations = entry
    return median / operations


def fmt_ns(value):
    if value is None:
        return "–"
    if value >= 10_000:
        return f"{value / 1000:,.1f} µs"
    if value >= 100:
        return f"{value:,.0f} ns"
    return f"{value:.1f} ns"


def run(command):
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "?"


def machine_lines():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    load = "?"
    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        pass
    return [
        f"- date: {datetime.date.today().isoformat()}",
        f"- machine: {os.cpu_count()} cores (`nproc`), {cpu}, {platform.system()} {platform.release()}",
        f"- toolchain: {run(['rustc', '--version'])}",
        f"- git describe when this report was generated: `{run(['git', 'describe', '--always', '--dirty'])}`",
        f"- load average when this report was generated (1, 5, 15 min): {load}",
    ]


def vs_tokio_table(results):
    lines = [
        "| workload | ops/iter | miniloop | tokio current-thread | miniloop / tokio | target | met | "
        "tokio multi-thread | async-executor local | futures LocalPool |",
        "|---|---:|---:|---:|---:|---:|:-:|---:|---:|---:|",
    ]
    verdicts = []
    for group, target in WORKLOADS:
        functions = results.get(group)
        if not functions:
            continue
        operations = next(iter(functions.values()))[1]
        mini = per_op(results, group, "miniloop")
        tokio = per_op(results, group, "tokio_current_thread")
        ratio = mini / tokio if mini and tokio else None
        met = ""
        if target is not None and ratio is not None:
            met = "yes" if ratio <= target else "**no**"
            verdicts.append((group, f"miniloop/tokio ≤ {target}", f"{ratio:.2f}", ratio <= target))
        lines.append(
            f"| {group} | {operations:,} | {fmt_ns(mini)} | {fmt_ns(tokio)} | "
            f"{'–' if ratio is None else f'{ratio:.2f}x'} | "
            f"{'–' if target is None else f'≤ {target}x'} | {met} | "
            + " | ".join(fmt_ns(per_op(results, group, peer)) for peer in PEERS[1:])
            + " |"
        )
    return lines, verdicts


def floor_table(results):
    lines = [
        "| workload | per | floor (no executor) | floor with counted wakers | tokio current-thread | "
        "miniloop | tokio above floor | miniloop above floor | target | met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    verdicts = []
    for group, (floor_group, target, unit) in FLOORS.items():
        floor = per_op(results, floor_group, "perfect_scheduler")
        # The same, with a reference-counted waker per future: what the channel's clones and
        # drops of a real waker cost with no scheduler (context for the target, not the floor).
        counted = per_op(results, floor_group, "perfect_scheduler_counted_wakers")
        tokio = per_op(results, group, "tokio_current_thread")
        mini = per_op(results, group, "miniloop")
        if floor is None or mini is None:
            continue
        mini_over = mini - floor
        tokio_over = tokio - floor if tokio is not None else None
        met = mini_over <= target
        verdicts.append((group, f"miniloop − floor ≤ {target:.0f} ns", f"{mini_over:.0f} ns", met))
        lines.append(
            f"| {group} | {unit} | {fmt_ns(floor)} | {fmt_ns(counted)} | {fmt_ns(tokio)} | {fmt_ns(mini)} | "
            f"{fmt_ns(tokio_over)} | {fmt_ns(mini_over)} | ≤ {target:.0f} ns | {'yes' if met else '**no**'} |"
        )
    return lines, verdicts


def ladder_table(results):
    lines = [
        "| workload | " + " | ".join(label for _, label, _ in RUNGS) + " |",
        "|---|" + "---:|" * len(RUNGS),
    ]
    for group in LADDER:
        if group not in results:
            continue
        cells = []
        previous = None
        for function, _, _ in RUNGS:
            value = per_op(results, group, function)
            cell = fmt_ns(value)
            if value is not None and previous is not None:
                cell += f" ({previous / value:.1f}x faster)" if value < previous else f" ({value / previous:.1f}x slower)"
            if value is not None:
                previous = value
            cells.append(cell)
        lines.append(f"| {group.removeprefix('ladder_')} | " + " | ".join(cells) + " |")
    return lines


def other_table(results):
    """Every group this script has no special table for (other bench files' groups)."""
    known = {group for group, _ in WORKLOADS} | {floor for floor, _, _ in FLOORS.values()} | set(LADDER)
    lines = ["| group | function | ops/iter | median per iteration | per operation |",
             "|---|---|---:|---:|---:|"]
    for group in sorted(set(results) - known):
        for function, (median, operations) in sorted(results[group].items()):
            lines.append(f"| {group} | {function} | {operations:,} | {fmt_ns(median)} | "
                         f"{fmt_ns(median / operations)} |")
    return lines


def alloc_table(criterion_dir):
    path = criterion_dir / "alloc_per_task.json"
    if not path.is_file():
        return [], []
    rows = json.loads(path.read_text())
    lines = ["| runtime | bytes per task | allocations per task |", "|---|---:|---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['bytes_per_task']:.0f} | {row['allocations_per_task']:.2f} |")
    verdicts = []
    if "miniloop" in rows and "tokio_current_thread" in rows:
        mini, tokio = rows["miniloop"], rows["tokio_current_thread"]
        verdicts.append((
            "bytes per task",
            f"≤ tokio's {tokio['bytes_per_task']:.0f} B",
            f"{mini['bytes_per_task']:.0f} B",
            mini["bytes_per_task"] <= tokio["bytes_per_task"],
        ))
        verdicts.append((
            "allocations per task",
            f"≤ tokio's {tokio['allocations_per_task']:.2f}",
            f"{mini['allocations_per_task']:.2f}",
            mini["allocations_per_task"] <= tokio["allocations_per_task"] + 1e-9,
        ))
    return lines, verdicts


# ---- the chart ----

def log_scale(values, width):
    """A function mapping ns to x pixels on a log axis covering every value, and its ticks."""
    low = 10 ** math.floor(math.log10(min(values)) - 0.3)  # room for the shortest bar
    high = 10 ** math.ceil(math.log10(max(values)))
    span = math.log10(high) - math.log10(low)

    def x(value):
        return (math.log10(value) - math.log10(low)) / span * width

    ticks = [10 ** e for e in range(int(math.log10(low)), int(math.log10(high)) + 1)]
    return x, ticks


def tick_label(ns):
    if ns >= 1_000_000:
        return f"{ns / 1_000_000:g} ms"
    if ns >= 1000:
        return f"{ns / 1000:g} µs"
    return f"{ns:g} ns"


def panel(title, subtitle, rows, series, top, left=190, width=560, markers=None):
    """One chart: for each row (label, {series: ns}), a bar per series on a log axis.

    `markers` maps (row label, series) to a target in ns, drawn as a red tick on that bar.
    """
    markers = markers or {}
    bar, gap = 11, 10
    values = [v for _, by in rows for v in by.values() if v]
    x, ticks = log_scale(values, width)
    height = sum(len([s for s in series if by.get(s[0])]) * bar + gap for _, by in rows)
    out = [
        f'<text x="10" y="{top + 16}" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="{top + 33}" font-size="11" fill="#555">{escape(subtitle)}</text>',
    ]
    y0 = top + 58
    for tick in ticks:
        tx = left + x(tick)
        out.append(f'<line x1="{tx:.1f}" y1="{y0 - 6}" x2="{tx:.1f}" y2="{y0 + height}" stroke="#ddd"/>')
        out.append(f'<text x="{tx:.1f}" y="{y0 - 9}" font-size="10" text-anchor="middle" fill="#555">{tick_label(tick)}</text>')
    y = y0
    for label, by in rows:
        present = [s for s in series if by.get(s[0])]
        block = len(present) * bar
        out.append(f'<text x="{left - 8}" y="{y + block / 2 + 4:.1f}" font-size="12" text-anchor="end">{escape(label)}</text>')
        for key, _, colour in present:
            value = by[key]
            w = max(x(value), 1.0)
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{colour}"/>')
            label_x = left + w + 4
            target = markers.get((label, key))
            if target:
                mx = left + x(target)
                out.append(f'<line x1="{mx:.1f}" y1="{y - 2}" x2="{mx:.1f}" y2="{y + bar}" stroke="#000" stroke-width="2"/>')
                if label_x - 4 <= mx <= label_x + 45:  # a tick on the figure: put it past the tick
                    label_x = mx + 4
            out.append(f'<text x="{label_x:.1f}" y="{y + bar - 3}" font-size="9" fill="#333">{escape(fmt_ns(value))}</text>')
            y += bar
        y += gap
    legend_y = y + 6
    lx = left
    legend = list(series) + ([("", "target for miniloop", "#000")] if markers else [])
    for _, name, colour in legend:
        out.append(f'<rect x="{lx}" y="{legend_y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{lx + 14}" y="{legend_y + 9}" font-size="11">{escape(name)}</text>')
        lx += 14 + 7 * len(name) + 18
    return out, legend_y + 24


def write_svg(results, path):
    vs_rows, markers = [], {}
    for group, target in WORKLOADS:
        by = {
            "perfect_scheduler": per_op(results, FLOORS[group][0], "perfect_scheduler") if group in FLOORS else None,
            "miniloop": per_op(results, group, "miniloop"),
            "tokio_current_thread": per_op(results, group, "tokio_current_thread"),
        }
        if by["miniloop"] or by["tokio_current_thread"]:
            vs_rows.append((group, by))
        if target and by["tokio_current_thread"]:
            markers[(group, "miniloop")] = target * by["tokio_current_thread"]
        if group in FLOORS and by["perfect_scheduler"]:
            markers[(group, "miniloop")] = by["perfect_scheduler"] + FLOORS[group][1]
    ladder_rows = []
    for group in LADDER:
        by = {function: per_op(results, group, function) for function, _, _ in RUNGS}
        if any(by.values()):
            ladder_rows.append((group.removeprefix("ladder_"), by))
    body, y = [], 0
    if vs_rows:
        part, y = panel(
            "miniloop vs tokio, per workload",
            "median time per operation (task, yield, pair, round trip, timer...), log scale; shorter is faster; black tick: the target",
            vs_rows,
            [("perfect_scheduler", "floor: no executor", COLOURS["perfect_scheduler"]),
             ("miniloop", "miniloop", COLOURS["miniloop"]),
             ("tokio_current_thread", "tokio current-thread", COLOURS["tokio_current_thread"])],
            top=y,
            markers=markers,
        )
        body += part
    if ladder_rows:
        part, y = panel(
            "The optimization ladder",
            "the loops the lessons build, same workloads; median time per operation, log scale",
            ladder_rows,
            RUNGS,
            top=y + 10,
        )
        body += part
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="860" height="{y + 10}" '
        f'viewBox="0 0 860 {y + 10}" font-family="sans-serif">',
        '<rect width="100%" height="100%" fill="white"/>',
        *body,
        "</svg>",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(svg) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"),
                        help="cargo's target directory (default: $CARGO_TARGET_DIR or ./target)")
    parser.add_argument("--svg", default="docs/benchmarks.svg", help="where to write the chart")
    args = parser.parse_args()
    criterion_dir = Path(args.target_dir) / "criterion"
    results = read_results(criterion_dir)
    if not results:
        sys.exit(f"no criterion results under {criterion_dir}; run `cargo bench` first")

    print("\n".join(machine_lines()))
    vs_lines, vs_verdicts = vs_tokio_table(results)
    floor_lines, floor_verdicts = floor_table(results)
    alloc_lines, alloc_verdicts = alloc_table(criterion_dir)
    sections = [
        ("miniloop vs tokio and peers (median time per operation)", vs_lines),
        ("Channel-bound workloads: floor, tokio and miniloop", floor_lines),
        ("The ladder (median time per operation)", ladder_table(results)),
        ("Allocations per spawned task", alloc_lines),
        ("Other groups found under target/criterion", other_table(results)),
    ]
    for title, lines in sections:
        if len(lines) > 2:
            print(f"\n### {title}\n")
            print("\n".join(lines))
    verdicts = vs_verdicts + floor_verdicts + alloc_verdicts
    if verdicts:
        print("\n### Targets\n")
        print("| workload | target | measured | met |")
        print("|---|---|---:|:-:|")
        for group, target, measured, met in verdicts:
            print(f"| {group} | {target} | {measured} | {'yes' if met else '**no**'} |")
    write_svg(results, Path(args.svg))
    print(f"\n(chart written to {args.svg})", file=sys.stderr)


if __name__ == "__main__":
    main()
