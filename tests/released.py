"""A clone of this repository with its release tags, and commands that ask questions run on a terminal."""

import os
import pty
import re
import select
import subprocess
import sys
import time

from .conftest import TEMPLATE
from .three_tools import GIT_ENV


def clone_with_release_tags(path):
    """A clone of this repository's main at `path`, with the tags its CHANGELOG.md promises, made by
    scripts/release.py as the release workflow makes them (this repository's own tags are not copied)."""
    subprocess.run(["git", "clone", "-q", "--no-tags", str(TEMPLATE), str(path)], check=True)
    made = subprocess.run([sys.executable, str(TEMPLATE / "scripts" / "release.py"), "tag"], cwd=path,
                          env={**os.environ, **GIT_ENV}, capture_output=True, text=True)  # fmt: skip
    assert made.returncode == 0, made.stderr
    return path


def on_a_terminal(command, cwd, env, question, timeout=900):
    """Run `command` on a terminal, pressing Enter at each question (`question` finds them in the output).
    Returns (exit status, output). Each answer waits for its question, never for time; `timeout` only bounds
    a command that hangs."""
    master, terminal = pty.openpty()
    process = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdin=terminal, stdout=terminal,
                               stderr=terminal, start_new_session=True)  # fmt: skip
    os.close(terminal)
    output, answered, deadline = b"", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the command closed the terminal: it has ended
                    break
                if not chunk:
                    break
                output += chunk
                for _ in range(len(re.findall(question, output.decode(errors="replace"))) - answered):
                    os.write(master, b"\r")
                    answered += 1
            elif process.poll() is not None:
                break
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        os.close(master)
    return process.returncode, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))
