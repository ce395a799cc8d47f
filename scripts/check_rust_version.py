#!/usr/bin/env python3
"""Fails if `rust-version` in Cargo.toml is not true.

`rust-version` is a promise that `cargo run` and `cargo test` work with that release. Two ways
it broke silently before: a dependency that needs a newer Rust (criterion 0.8.2 needs 1.86
while we said 1.85), and tests that need the exact compiler (the gdb recipes read its debug
info: Rust 1.86 fails nine of them). So the repository pins its compiler in
`rust-toolchain.toml`, and this checks that `rust-version` names that release, and that no
package in the lock file that our build can use (normal, build and dev dependencies, on this
platform) has a `rust-version` above it (`cargo metadata` gives each package's own).

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


def pinned_release():
    """The `channel` of rust-toolchain.toml, e.g. `1.95.0`."""
    with open("rust-toolchain.toml", encoding="utf-8") as file:
        for line in file:
            if line.strip().startswith("channel"):
                return line.split("=", 1)[1].strip().strip('"')
    sys.exit("rust-toolchain.toml has no `channel = \"X.Y.Z\"` line: pin the release CI tests with")


def ours_in_cargo_toml():
    """The `rust-version` line of Cargo.toml's `[package]`."""
    with open("Cargo.toml", encoding="utf-8") as file:
        for line in file:
            if line.startswith("rust-version"):
                return line.split("=", 1)[1].strip().strip('"')
    sys.exit("Cargo.toml has no `rust-version`; add the release rust-toolchain.toml pins")


def main():
    ours, pinned = ours_in_cargo_toml(), pinned_release()
    # First, without running cargo: with a wrong pin, rustup would fetch that release.
    if version(ours) not in (version(pinned), version(pinned)[:2]):
        sys.exit(
            f"rust-version = \"{ours}\" in Cargo.toml, but rust-toolchain.toml pins {pinned}: "
            "make them name the same release (the tests are checked with the pinned one only)"
        )
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
            f"need a newer Rust:\n{lines}\nRaise `rust-version` (and the pin), or lock older "
            "versions of them (`cargo update -p NAME --precise VERSION`)."
        )
    print(f"rust-version {ours}: the pinned {pinned}, and all {len(used)} locked packages fit")


if __name__ == "__main__":
    main()
