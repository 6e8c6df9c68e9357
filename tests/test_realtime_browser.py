"""
The real-time add-on end to end, in a real browser: bake use_realtime=true, run the
Procfile's web (gunicorn) and realtime (Tornado) lines against Redis, and watch the
demo page in headless Chromium receive events, survive a Tornado restart, and
keep receiving. Then the add-on's README.md snippets, pasted into the project as its
reader would (the page, authorize(), the signal): the page shows who joined.

Needs /usr/bin/chromium and REDIS_URL; skips loudly without them, fails instead
when REQUIRE_SERVICES=1.
"""

import re
import shutil
import signal
from pathlib import Path

import pytest

from .conftest import project_venv, require, run, service_url, web_and_realtime

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
def site(bake, tmp_path_factory):
    """gunicorn and Tornado started from the Procfile's lines, sharing REDIS_URL and .env,
    in a copy of the bake with the README's snippets pasted in."""
    require(Path(CHROMIUM).exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    project = tmp_path_factory.mktemp("realtime-browser") / "my_project"
    shutil.copytree(bake(use_realtime=True), project)
    snippets = paste_readme_snippets(project)
    bin_dir = project_venv(project)
    env = {
        "REDIS_URL": service_url("REDIS_URL"),
        "DEBUG": "true",  # local development, as `honcho start` runs it: plain HTTP
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
    }
    run(["python", "manage.py", "migrate", "-v0"], project, bin_dir, env)
    superuser = ["python", "manage.py", "createsuperuser", "--noinput", "--username", "ada", "--email", "a@example.com"]
    run(superuser, project, bin_dir, env)
    processes = web_and_realtime(project, bin_dir, env)

    class Site:
        url = processes["web"].url

        def restart_realtime(self):
            processes["realtime"].stop(signal.SIGKILL)  # a crash, not a polite shutdown
            processes["realtime"].start()

        def stop_realtime(self):
            processes["realtime"].stop(signal.SIGKILL)

        def start_realtime(self):
            processes["realtime"].start()

        def run_code(self, code):
            run(["python", "manage.py", "shell", "-c", code], project, bin_dir, env)

        def publish(self, text):
            """Publish from Django code, as a view would."""
            event = {"author": "ada", "text": text}
            self.run_code(f"from my_project.realtime.publish import publish\npublish('demo', {event!r})")

        def create_user_with_the_readme_signal(self, username):
            self.run_code(f"{snippets['signal']}\nUser.objects.create_user({username!r})")

    yield Site()
    for process in processes.values():
        process.stop()


def paste_readme_snippets(project):
    """Do what realtime/README.md says, with its own code: its page at /readme/, its authorize()
    in place of views.authorize(); return its signal's code, which a `manage.py shell` runs."""
    readme = (project / "my_project/realtime/README.md").read_text()
    (page,) = re.findall(r"^```html\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    signal_code, authorize = re.findall(r"^```python\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    (project / "my_project/templates/readme.html").write_text(page)
    views = project / "my_project/realtime/views.py"
    views.write_text(
        re.sub(
            r"^def authorize\(.*?(?=^\S)",
            authorize + "\n\n",
            views.read_text(),
            count=1,
            flags=re.DOTALL | re.MULTILINE,
        )
    )
    urls = project / "my_project/urls.py"
    urls.write_text(
        urls.read_text()
        + "\nfrom django.views.generic import TemplateView  # noqa: E402\n"
        + 'urlpatterns.append(path("readme/", TemplateView.as_view(template_name="readme.html")))\n'
    )
    return {"signal": "from django.contrib.auth.models import User\n" + signal_code}


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
    window.live = []; window.reconnects = 0; window.syncs = 0;
    socket.addEventListener('message', (e) => window.live.push(e.detail.data.text));
    socket.addEventListener('reconnecting', () => window.reconnects++);
    socket.addEventListener('sync', () => window.syncs++);
}"""


def arrived_live(page, text):
    page.wait_for_function("(text) => window.live.includes(text)", arg=text, timeout=10_000)


def test_two_windows_update_together_and_survive_a_tornado_restart(site, browser):
    from playwright.sync_api import expect

    sender = browser.new_page()
    log_in(sender, site, "/realtime/")
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

    # Django publishes while no Tornado process runs; the page resumes from the channel's history when one is
    # back: the event arrives as a live one, and the page is not asked to re-fetch (no "sync").
    syncs = watcher.evaluate("() => window.syncs")
    site.stop_realtime()
    watcher.wait_for_function("() => window.reconnects > 1", timeout=10_000)
    expect(watcher.locator("#status")).not_to_have_text("live")
    site.publish("while no real-time server ran")
    site.start_realtime()
    arrived_live(watcher, "while no real-time server ran")
    expect(watcher.locator("#messages")).to_contain_text("ada: while no real-time server ran")
    expect(watcher.locator("#status")).to_have_text("live", timeout=30_000)
    assert watcher.evaluate("() => window.syncs") == syncs


# The README's page exposes no status: record what its socket receives, from before its scripts run.
RECORD_FRAMES = """
    window.received = [];
    window.WebSocket = class extends window.WebSocket {
        constructor(...args) {
            super(...args);
            this.addEventListener('message', (event) => window.received.push(JSON.parse(event.data)));
        }
    };
"""


def log_in(page, site, path):
    page.goto(f"{site.url}/admin/login/?next={path}")
    if page.locator("input[name=username]").count():  # the module's other test may have logged in already
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit]")
    page.goto(f"{site.url}{path}")


def test_the_readme_page_shows_staff_who_joined_through_its_signal_and_authorize(site, browser):
    from playwright.sync_api import expect

    page = browser.new_page()
    page.add_init_script(RECORD_FRAMES)
    log_in(page, site, "/readme/")  # ada is a superuser, so staff: the README's authorize() lets her listen
    subscribed = "() => window.received.some((m) => m.type === 'subscribed' && m.channel === 'staff')"
    page.wait_for_function(subscribed, timeout=15_000)

    site.create_user_with_the_readme_signal("bob")
    expect(page.locator("#joined li")).to_have_text(["bob joined"], timeout=10_000)


def test_a_page_whose_real_time_server_does_not_answer_says_so_and_how_to_start_it(site, browser):
    """As after `runserver` alone: the page must not sit at "reconnecting" with nothing on screen saying why."""
    from playwright.sync_api import expect

    site.stop_realtime()
    try:
        page = browser.new_page()
        page.goto(f"{site.url}/realtime/")
        status = page.locator("#status")
        expect(status).to_contain_text("the real-time server at ws://", timeout=30_000)
        expect(status).to_contain_text("does not answer")
        expect(status).to_contain_text("start it beside Django: PATH=.venv/bin:$PATH honcho start web realtime")
    finally:
        site.start_realtime()
    expect(status).to_have_text("live", timeout=60_000)
