"""
Time from a fresh clone to the running page: the README's first command, as a new user runs it.

    python3 bench/first_command.py            # 5 rounds, after one warm-up round
    python3 bench/first_command.py --rounds 1 --no-warm-up

Each round clones the repository's HEAD into a new temporary folder, runs the README's first
command there (two venvs, two pip installs, cookiecutter, migrate, runserver) and stops the
clock at the first 200 from http://127.0.0.1:8000/. The warm-up round fills pip's cache, so the
timed rounds measure a "warm package cache" as docs/quickstart.md quotes it. Needs port 8000
free and the project's Python (python3.13 by default) on PATH. Standard library only.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.readme import TEMPLATE, first_page  # noqa: E402 - the repository root goes on sys.path first


def one_round():
    with tempfile.TemporaryDirectory(prefix="first-command-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(clone)], check=True)
        seconds, _ = first_page(clone, Path(scratch) / "first-command.log", timeout=600)
        return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-warm-up", action="store_true", help="time the first round too (pip's cache as it is)")
    options = parser.parse_args()
    if not options.no_warm_up:
        print(f"warm-up: {one_round():.1f} s (not counted)", flush=True)
    times = []
    for number in range(1, options.rounds + 1):
        times.append(one_round())
        print(f"round {number}: {times[-1]:.1f} s", flush=True)
    print(f"fresh clone to running page: median {statistics.median(times):.1f} s, {min(times):.1f}-{max(times):.1f} s")


if __name__ == "__main__":
    main()
