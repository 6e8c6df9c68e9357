"""The README's two set-up commands, and running the first one as a new user would."""

import fcntl
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
FIRST_PAGE = "http://127.0.0.1:8000/"  # where runserver listens by default, as the README says


def readme_commands(root=TEMPLATE):
    """[generate-and-run, test]: the README's ```sh blocks."""
    return re.findall(r"```sh\n(.+?)\n```", (root / "README.md").read_text())


def readme_command(project, heading):
    """The first command under `heading` in a generated project's README."""
    section = project.joinpath("README.md").read_text().split(heading, 1)[1]
    return re.search(r"```sh\n(.+?)\n```", section, re.DOTALL)[1]


def uv_first_command(root=TEMPLATE):
    """The README's first command done with uv: the one `$ uvx ...` line it shows after the first ```sh block."""
    (command,) = re.findall(r"^\$ (uvx .+)$", (root / "README.md").read_text(), re.M)
    return command


# What the command gets of the caller's environment: pip's and uv's own settings (uv keeps its cache under HOME),
# and the machine's certificate authorities, which uv reads from these variables.
KEPT = ("PATH", "HOME", "SSL_CERT_FILE", "SSL_CERT_DIR")


def first_page(clone, log, timeout, command=None):
    """Run the README's first command (or `command`) in `clone` until its page answers 200.

    Returns (seconds from start to the first 200, the page's HTML). Only KEPT and pip's and uv's own
    settings are passed on, so neither a DATABASE_URL nor a venv of the caller's leaks in. The
    command's whole process group is stopped afterwards; `timeout` bounds the wait, never a result.
    Each command serves on port 8000, so one runs at a time (other test processes wait for it).
    """
    with open(Path(tempfile.gettempdir()) / "ldj-first-page-8000.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return run_until_first_page(clone, log, timeout, command)


def reader_env():
    """What a reader's shell has of the caller's environment: KEPT, and pip's and uv's own settings."""
    return {name: value for name, value in os.environ.items() if name in KEPT or name.startswith(("PIP_", "UV_"))}


def start_as_a_reader(command, cwd, log, path_first=None):
    """Start `command` with bash in its own process group, its output in `log`, with only KEPT and pip's and uv's
    own settings of the caller's environment (`path_first`: a folder put before PATH, e.g. a Python's)."""
    env = reader_env()
    if path_first:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    with log.open("w") as output:
        return subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def run_until_first_page(clone, log, timeout, command):
    started = time.monotonic()
    process = start_as_a_reader(command or readme_commands(clone)[0], clone, log)
    try:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise AssertionError(f"the README's first command exited {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(FIRST_PAGE, timeout=5) as response:  # noqa: S310 - a fixed local URL
                    return time.monotonic() - started, response.read().decode()
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        raise AssertionError(f"{FIRST_PAGE} did not answer within {timeout} s:\n{log.read_text()}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
