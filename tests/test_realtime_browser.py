"""
The real-time add-on end to end, in a real browser: bake use_realtime=true, run the
Procfile's web (gunicorn) and realtime (Tornado) lines against Redis, and watch the
demo page in headless Chromium receive events, survive a Tornado restart, and
keep receiving.

Needs /usr/bin/chromium and REDIS_URL; skips loudly without them, fails instead
when REQUIRE_SERVICES=1.
"""

import signal
from pathlib import Path

import pytest

from .conftest import ProcfileProcess, free_port, project_venv, require, run, service_url

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


@pytest.fixture(scope="module")
def site(bake):
    """gunicorn and Tornado started from the Procfile's lines, sharing REDIS_URL and .env."""
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    project = bake(use_realtime=True)
    bin_dir = project_venv(project)
    realtime_port = free_port()
    env = {
        "REDIS_URL": service_url("REDIS_URL"),
        "DEBUG": "true",  # local development, as `honcho start` runs it: plain HTTP
        "REALTIME_PORT": str(realtime_port),
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    run(["python", "manage.py", "migrate", "-v0"], project, bin_dir, env)
    superuser = ["python", "manage.py", "createsuperuser", "--noinput", "--username", "ada", "--email", "a@example.com"]
    run(superuser, project, bin_dir, env)
    processes = {
        "web": ProcfileProcess(project, "web", bin_dir, env),
        "realtime": ProcfileProcess(project, "realtime", bin_dir, env, port=realtime_port),
    }

    class Site:
        url = processes["web"].url

        def restart_realtime(self):
            processes["realtime"].stop(signal.SIGKILL)  # a crash, not a polite shutdown
            processes["realtime"].start()

        def publish(self, text):
            """Save a message and publish it from Django code, as a view would."""
            code = (
                "from django.contrib.auth.models import User\n"
                "from my_project.realtime.models import Message\n"
                "from my_project.realtime.publish import publish\n"
                f"message = Message.objects.create(author=User.objects.get(username='ada'), text={text!r})\n"
                "publish('demo', message.as_event())\n"
            )
            run(["python", "manage.py", "shell", "-c", code], project, bin_dir, env)

    yield Site()
    for process in processes.values():
        process.stop()


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
RECORD = """() => {
    window.live = []; window.reconnects = 0;
    socket.addEventListener('message', (e) => window.live.push(e.detail.data.text));
    socket.addEventListener('reconnecting', () => window.reconnects++);
}"""


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
    # (Recorded, not polled: the page may be live again before a look at #status.)
    watcher.wait_for_function("() => window.reconnects > 0", timeout=10_000)
    expect(watcher.locator("#status")).to_have_text("live", timeout=30_000)
    site.publish("after the restart")
    arrived_live(watcher, "after the restart")
    expect(watcher.locator("#messages")).to_contain_text("ada: after the restart")
