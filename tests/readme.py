"""The README's two set-up commands, and running the first one as a new user would."""

import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
FIRST_PAGE = "http://127.0.0.1:8000/"  # where runserver listens by default, as the README says


def readme_commands(root=TEMPLATE):
    """[generate-and-run, test]: the README's ```sh blocks."""
    return re.findall(r"```sh\n(.+?)\n```", (root / "README.md").read_text())


def first_page(clone, log, timeout):
    """Run the README's first command in `clone` until its page answers 200.

    Returns (seconds from start to the first 200, the page's HTML). Only PATH, HOME and pip's own
    settings are passed on, so neither a DATABASE_URL nor a venv of the caller's leaks in. The
    command's whole process group is stopped afterwards; `timeout` bounds the wait, never a result.
    """
    generate = readme_commands(clone)[0]
    env = {name: value for name, value in os.environ.items() if name in ("PATH", "HOME") or name.startswith("PIP_")}
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", generate],
            cwd=clone,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
