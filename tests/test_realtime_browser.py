"""
The real-time add-on end to end, in a real browser: bake use_realtime=true, run the
Procfile's web (gunicorn) and realtime (Tornado) lines against Redis, and watch the
demo page in headless Chromium receive events, survive a Tornado restart, and
keep receiving.

Needs /usr/bin/chromium and REDIS_URL; skips loudly without them, fails instead
when REQUIRE_SERVICES=1.
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-password-1234"


def require(available, what):
    if not available:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
        pytest.skip(f"SKIPPED: {what} is not available; the real-time browser test did not run")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url, process, log, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: process exited\n{log.read_text()}"
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout} s\n{log.read_text()}")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A baked project with use_realtime=true, and its requirements in a cached venv."""
    require(Path(CHROMIUM).exists(), CHROMIUM)
    require(os.environ.get("REDIS_URL"), "Redis (REDIS_URL)")
    out = tmp_path_factory.mktemp("bake")
    command = [sys.executable, "-m", "cookiecutter", "--no-input", str(TEMPLATE_DIR), "-o", str(out)]
    subprocess.run([*command, "use_realtime=true"], check=True, capture_output=True)
    directory = out / "my_project"
    requirements = (directory / "requirements-dev.txt").read_bytes()
    venv = Path("/tmp/ldj-venvs") / hashlib.sha256(requirements).hexdigest()[:16]
    venv.parent.mkdir(exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # other test runs may be building the same venv
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "pip"), "install", "-q", "-r", str(directory / "requirements-dev.txt")]
            subprocess.run(pip, check=True)
            (venv / "ready").touch()
    return directory, venv / "bin"


@pytest.fixture(scope="module")
def site(project):
    """gunicorn and Tornado started from the Procfile's lines, sharing REDIS_URL and .env."""
    directory, bin_dir = project
    web_port, realtime_port = free_port(), free_port()
    environment = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DEBUG": "true",  # local development, as `honcho start` runs it: plain HTTP
        "REALTIME_PORT": str(realtime_port),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    environment.pop("PROCESS_ROLE", None)
    manage = [str(bin_dir / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=directory, env=environment, check=True)
    superuser = [*manage, "createsuperuser", "--noinput", "--username", "ada", "--email", "ada@example.com"]
    subprocess.run(superuser, cwd=directory, env=environment, check=True)
    lines = dict(line.split(": ", 1) for line in (directory / "Procfile").read_text().splitlines() if ": " in line)

    def start(name, port):
        log = directory / f"{name}.log"
        process = subprocess.Popen(
            lines[name],
            shell=True,
            cwd=directory,
            env={**environment, "PORT": str(port)},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        health = f"http://127.0.0.1:{port}/healthz"
        wait_for_http(health, process, log)
        return process

    def stop(process, how=signal.SIGTERM):
        if process.poll() is None:
            os.killpg(process.pid, how)
            process.wait(10)

    processes = {"web": start("web", web_port), "realtime": start("realtime", realtime_port)}

    class Site:
        url = f"http://127.0.0.1:{web_port}"

        def restart_realtime(self):
            stop(processes["realtime"], signal.SIGKILL)  # a crash, not a polite shutdown
            processes["realtime"] = start("realtime", realtime_port)

        def publish(self, text):
            """Save a message and publish it from Django code, as a view would."""
            code = (
                "from django.contrib.auth.models import User\n"
                "from my_project.realtime.models import Message\n"
                "from my_project.realtime.publish import publish\n"
                f"message = Message.objects.create(author=User.objects.get(username='ada'), text={text!r})\n"
                "publish('demo', message.as_event())\n"
            )
            subprocess.run([*manage, "shell", "-c", code], cwd=directory, env=environment, check=True)

    yield Site()
    for process in processes.values():
        stop(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield context
        context.close()


# Records what arrives over the socket, so a message seen in the list is known to be live,
# not re-fetched; `socket` is the demo page's RealtimeSocket.
RECORD = "() => { window.live = []; socket.addEventListener('message', (e) => window.live.push(e.detail.data.text)); }"


def arrived_live(page, text):
    page.wait_for_function("(text) => window.live.includes(text)", arg=text, timeout=10_000)


def test_two_windows_update_together_and_survive_a_tornado_restart(site, browser):
    from playwright.sync_api import expect

    sender = browser.new_page()
    sender.goto(f"{site.url}/admin/login/?next=/realtime/")
    sender.fill("input[name=username]", "ada")
    sender.fill("input[name=password]", PASSWORD)
    sender.click("input[type=submit]")
    watcher = browser.new_page()
    watcher.goto(f"{site.url}/realtime/")
    for page in (sender, watcher):
        expect(page.locator("#status")).to_have_text("live", timeout=15_000)
        page.evaluate(RECORD)

    # A logged-in user sends through Django; both windows show it at once.
    sender.fill("#send input[name=text]", "hello from the sender")
    sender.click("#send button")
    for page in (sender, watcher):
        arrived_live(page, "hello from the sender")
        expect(page.locator("#messages")).to_contain_text("ada: hello from the sender")

    # A publish() from Django code appears live.
    site.publish("published by Django")
    arrived_live(watcher, "published by Django")
    expect(watcher.locator("#messages")).to_contain_text("ada: published by Django")

    # Tornado dies and comes back; the page reconnects by itself and receives the next event.
    site.restart_realtime()
    expect(watcher.locator("#status")).not_to_have_text("live", timeout=10_000)
    expect(watcher.locator("#status")).to_have_text("live", timeout=30_000)
    site.publish("after the restart")
    arrived_live(watcher, "after the restart")
    expect(watcher.locator("#messages")).to_contain_text("ada: after the restart")
