"""
Time from a fresh clone to the running page: the README's first command, as a new user runs it, and
its uv form (a package_manager=uv project) in the same run.

    python3 bench/first_command.py            # 5 rounds, after one warm-up round
    python3 bench/first_command.py --rounds 1 --no-warm-up

Each round clones the repository's HEAD into a new temporary folder, runs the README's first
command there (two venvs, two pip installs, cookiecutter, migrate, runserver) and stops the
clock at the first 200 from http://127.0.0.1:8000/; then the same in another clone with the
README's uv line (uvx runs cookiecutter, `uv sync --locked` installs the project's lock). The
warm-up round fills pip's and uv's caches, so the timed rounds measure a "warm package cache"
as docs/quickstart.md quotes it. Needs port 8000 free, the project's Python (python3.13 by
default) on PATH, and uv on PATH for the uv rounds (--pip-only skips them). Standard library only.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.readme import TEMPLATE, first_page, uv_first_command  # noqa: E402 - the repository root goes first


def one_round(command):
    """Seconds from a fresh clone to the first page with the README's first command (pip) or its uv line."""
    with tempfile.TemporaryDirectory(prefix="first-command-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(clone)], check=True)
        uv = uv_first_command(clone) if command == "uv" else None
        seconds, _ = first_page(clone, Path(scratch) / "first-command.log", timeout=600, command=uv)
        return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-warm-up", action="store_true", help="time the first round too (caches as they are)")
    parser.add_argument("--pip-only", action="store_true", help="time the README's first command only")
    options = parser.parse_args()
    commands = ["pip"] if options.pip_only else ["pip", "uv"]
    if not options.no_warm_up:
        for command in commands:
            print(f"warm-up, {command}: {one_round(command):.1f} s (not counted)", flush=True)
    times = {command: [] for command in commands}
    for number in range(1, options.rounds + 1):
        for command in commands:  # one after the other in each round: both see the machine as it is then
            times[command].append(one_round(command))
            print(f"round {number}, {command}: {times[command][-1]:.1f} s", flush=True)
    for command, taken in times.items():
        median, fastest, slowest = statistics.median(taken), min(taken), max(taken)
        print(f"fresh clone to running page, {command}: median {median:.1f} s, {fastest:.1f}-{slowest:.1f} s")


if __name__ == "__main__":
    main()
