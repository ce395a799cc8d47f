#!/usr/bin/env python3
"""Fails if any locked dependency needs a newer Rust than the `rust-version` Cargo.toml claims.

`rust-version` is a promise that `cargo run` and `cargo test` work with that toolchain; a
dependency that needs a newer one (criterion 0.8.2 needs 1.86) breaks the promise silently,
since the compiler in CI is newer. `cargo metadata` gives each package's own `rust-version`;
this compares them with ours, for every package in the lock file that our build can use
(normal, build and dev dependencies, on this platform).

    python3 scripts/check_rust_version.py

Python 3 standard library only.
"""

import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def host():
    """This machine's target triple (`rustc -vV` says it on its `host:` line)."""
    about = subprocess.run(["rustc", "-vV"], check=True, capture_output=True, text=True).stdout
    return next(line.split(": ", 1)[1] for line in about.splitlines() if line.startswith("host: "))


def main():
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked",
             "--filter-platform", host()],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {package["id"]: package for package in metadata["packages"]}
    root = metadata["resolve"]["root"]
    ours = packages[root].get("rust_version")
    if not ours:
        sys.exit("Cargo.toml has no `rust-version`; add one (the oldest Rust `cargo test` works on)")
    # Only what the resolver keeps for this platform: `resolve.nodes` lists it.
    used = [node["id"] for node in metadata["resolve"]["nodes"]]
    too_new = sorted(
        (packages[id]["name"], packages[id]["version"], packages[id]["rust_version"])
        for id in used
        if packages[id].get("rust_version")
        and version(packages[id]["rust_version"]) > version(ours)
    )
    if too_new:
        lines = "\n".join(f"  {name} {v} needs Rust {needs}" for name, v, needs in too_new)
        sys.exit(
            f"rust-version = \"{ours}\" in Cargo.toml is not true: these locked dependencies "
            f"need a newer Rust:\n{lines}\nRaise `rust-version`, or lock older versions of "
            "them (`cargo update -p NAME --precise VERSION`)."
        )
    print(f"rust-version {ours}: all {len(used)} locked packages fit")


if __name__ == "__main__":
    main()
