"""
Time from a fresh clone to the running page: the README's first command, as a new user runs it, the
same steps with pip alone (the README's first command before uv), and the README's uv line (a
package_manager=uv project), in the same run.

    python3 bench/first_command.py            # 5 rounds, after one warm-up round
    python3 bench/first_command.py --rounds 1 --no-warm-up

Each round clones the repository's HEAD into a new temporary folder, runs the README's first
command there (a venv with uv in it, cookiecutter run by uvx, the project's venv and runtime
requirements installed by uv, migrate, runserver) and stops the clock at the first 200 from
http://127.0.0.1:8000/; then the same in other clones with PIP_ONLY and with the README's uv
line (`uv sync --locked` installs the project's lock). The warm-up round fills pip's and uv's
caches, so the timed rounds measure a "warm package cache" as the README quotes it. Needs port
8000 free, the project's Python (python3.13 by default) on PATH or in pyenv, and uv on PATH for
the uv line (--readme-only skips the other two). Standard library only.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.readme import TEMPLATE, first_page, uv_first_command  # noqa: E402 - the repository root goes first

# The README's first command before uv: two venvs and two pip installs, cookiecutter installed by pip.
PIP_ONLY = (
    "python3 -m venv .venv && .venv/bin/pip install cookiecutter==2.7.1 && .venv/bin/cookiecutter --no-input"
    " --overwrite-if-exists . -o build && cd build/my_project && python3.13 -m venv .venv"
    " && .venv/bin/pip install -r requirements.txt && .venv/bin/python manage.py migrate"
    " && .venv/bin/python manage.py runserver"
)


def one_round(command):
    """Seconds from a fresh clone to the first page with the README's first command, PIP_ONLY or the uv line."""
    with tempfile.TemporaryDirectory(prefix="first-command-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(TEMPLATE), str(clone)], check=True)
        line = {"readme": None, "pip only": PIP_ONLY, "uv line": uv_first_command(clone)}[command]
        seconds, _ = first_page(clone, Path(scratch) / "first-command.log", timeout=600, command=line)
        return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-warm-up", action="store_true", help="time the first round too (caches as they are)")
    parser.add_argument("--readme-only", action="store_true", help="time the README's first command only")
    options = parser.parse_args()
    commands = ["readme"] if options.readme_only else ["readme", "pip only", "uv line"]
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
