"""Each option combination, run as a user would: its own tests, Django's checks, and a real gunicorn boot."""

import http.cookiejar
import http.server
import json
import re
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request

import psycopg
import pytest

from . import conftest
from .conftest import (
    ADDON_COMBINATIONS,
    BOARD,
    DEFAULTS,
    PRODUCTION_ENV,
    TEMPLATE,
    UV_COMBINATIONS,
    PortTaken,
    ProcfileProcess,
    combination_id,
    combination_param,
    free_port,
    fresh_database,
    own_suite,
    procfile,
    project_venv,
    run,
    web_and_realtime,
)

HTTPS = {"X-Forwarded-Proto": "https"}
ROUTED = {"X-Request-ID": "5c2b8e4e-4b7a-4f0c-9d3e-0a1b2c3d4e5f"}  # Heroku's router gives each request one


@pytest.fixture(params=[combination_param(answers) for answers in [*ADDON_COMBINATIONS, BOARD, *UV_COMBINATIONS]])
def project(request, bake):
    """(answers, project folder, venv bin folder) for each combination of add-ons, and the example app.

    The other options only add .github/ or .git/ (tests/test_bake.py proves it for all 16
    combinations), so these five cover every distinct project that can be generated; each of the five once more
    with package_manager=uv, installed by `uv sync --locked` (conftest.UV_COMBINATIONS).
    """
    answers = request.param
    path = bake(**answers)
    return answers, path, project_venv(path)


def test_its_own_test_suite_passes_on_sqlite(project):
    _, path, bin_dir = project
    own_suite(path, bin_dir)


def test_its_own_test_suite_passes_on_postgresql(project):
    answers, path, bin_dir = project
    database_url = fresh_database(f"ldj_{combination_id(answers)}".replace("-", "_"))
    own_suite(path, bin_dir, DATABASE_URL=database_url)


def test_its_own_test_suite_ignores_the_dot_env_a_shell_exported(bake):
    """direnv, `honcho run` and `heroku local:run` export .env's lines (DEBUG=true): tests still run production."""
    path = bake(**{**DEFAULTS, "use_rest": True, "use_realtime": True})
    lines = (path / ".env").read_text().splitlines()
    exported = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert exported["DEBUG"] == "true" and exported["SECRET_KEY"]
    own_suite(path, project_venv(path), **exported)


def test_the_real_time_process_tests_ignore_a_developers_env_file(bake, tmp_path):
    """They start the server as the Procfile does, in a production-like environment that nothing local changes."""
    path = shutil.copytree(bake(**{**DEFAULTS, "use_realtime": True}), tmp_path / "my_project")
    with (path / ".env").open("a") as env_file:
        env_file.write("REALTIME_MAX_CONNECTIONS=0\n")  # a developer's local tweak: every socket refused
    result = run(
        ["pytest", "-q", "-p", "no:randomly", "my_project/realtime/tests/test_processes.py"],
        path,
        project_venv(path),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def fresh_clone(project, target):
    """What a clone of the project's repository holds once its README's first step has run: .env from .env.example."""
    local = shutil.ignore_patterns(".env", "db.sqlite3", "staticfiles", "__pycache__", "*.log")
    shutil.copytree(project, target, ignore=local)
    shutil.copy(target / ".env.example", target / ".env")  # DEBUG=true and an empty SECRET_KEY
    return target


def test_a_fresh_clone_keeps_admin_users_logged_in_across_gunicorn_workers(bake, tmp_path):
    """Each worker process reads the settings: all of them sign with the same development key (startproject's way)."""
    clone = fresh_clone(bake(**DEFAULTS), tmp_path / "clone")
    bin_dir = project_venv(clone)
    run(["python", "manage.py", "migrate", "-v", "0"], clone, bin_dir)
    admin = {"DJANGO_SUPERUSER_PASSWORD": "correct horse battery staple"}
    run(
        ["python", "manage.py", "createsuperuser", "--noinput", "--username", "ada", "--email", "a@example.com"],
        clone,
        bin_dir,
        admin,
    )
    web = ProcfileProcess(clone, "web", bin_dir, {"WEB_CONCURRENCY": "2"})
    try:
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies := http.cookiejar.CookieJar()))
        form = browser.open(f"{web.url}/admin/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)[1]
        fields = {"csrfmiddlewaretoken": token, "username": "ada", "password": admin["DJANGO_SUPERUSER_PASSWORD"]}
        browser.open(f"{web.url}/admin/login/?next=/admin/", urllib.parse.urlencode(fields).encode())
        assert "sessionid" in {cookie.name for cookie in cookies}
        # A new connection each time, so both workers answer; without one key, some answer with the login page.
        pages = [browser.open(f"{web.url}/admin/") for _ in range(20)]
        assert [page.url for page in pages] == [f"{web.url}/admin/"] * 20
    finally:
        assert web.stop() == 0, web.output()
    assert "SECRET_KEY=\n" in (clone / ".env").read_text()  # nobody had to edit .env


LISTENER = """
import asyncio, json, sys, urllib.request
from tornado.websocket import websocket_connect

async def main(web, channel):
    with urllib.request.urlopen(f"{web}/realtime/token?channel={channel}") as response:
        grant = json.load(response)
    socket = await websocket_connect(f"{grant['url']}?channel={channel}", subprotocols=["realtime", grant["token"]])
    for _ in range(2):  # the "subscribed" answer, then one event
        print(await socket.read_message(), flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


def test_a_fresh_real_time_clone_delivers_events_without_redis(bake, tmp_path):
    """No Redis: Django signs each event it POSTs to Tornado. Both must agree on the key with an untouched .env."""
    clone = fresh_clone(bake(**{**DEFAULTS, "use_realtime": True}), tmp_path / "clone")
    bin_dir = project_venv(clone)
    processes = web_and_realtime(clone, bin_dir, {})  # no REDIS_URL: the clone's .env has none
    listener = subprocess.Popen(
        [bin_dir / "python", "-c", LISTENER, processes["web"].url, "demo"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert json.loads(listener.stdout.readline()) == {"type": "subscribed", "channel": "demo"}
        publish = "from my_project.realtime.publish import publish; publish('demo', {'text': 'hello'})"
        env = {"REALTIME_PORT": str(processes["realtime"].port)}  # where Django POSTs the event
        published = run(["python", "manage.py", "shell", "-c", publish], clone, bin_dir, env)
        assert "dropped" not in published.stderr, published.stderr
        event, _ = listener.communicate(timeout=60)
        message = json.loads(event)
        assert message.pop("id"), "every message frame carries its id, to resume after"
        assert message == {"type": "message", "channel": "demo", "data": {"text": "hello"}}
    finally:
        listener.kill()
        statuses = [process.stop() for process in processes.values()]
        assert statuses == [0, 0], [process.output() for process in processes.values()]
    assert not re.search(r"^REALTIME_PUBLISH_KEY=", (clone / ".env").read_text(), re.M)  # nobody edited .env


def test_djangos_checks_pass_with_production_settings(project):
    _, path, bin_dir = project
    deploy = run(["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"], path, bin_dir, PRODUCTION_ENV)
    assert "System check identified no issues" in deploy.stdout
    migrations = run(["python", "manage.py", "makemigrations", "--check", "--dry-run"], path, bin_dir, PRODUCTION_ENV)
    assert "No changes detected" in migrations.stdout


def test_the_procfile_web_command_serves_the_app_and_hashed_static_files(project):
    _, path, _ = project
    bin_dir = project_venv(path, requirements_file="requirements.txt")  # what the platform installs, no more
    # The buildpack's build step: collectstatic with no runtime configuration at all.
    run(["python", "manage.py", "collectstatic", "--noinput"], path, bin_dir)
    web = ProcfileProcess(path, "web", bin_dir, {**PRODUCTION_ENV, "WEB_CONCURRENCY": "1"})
    try:
        health = urllib.request.urlopen(f"{web.url}/healthz")  # plain HTTP: health checks are exempt
        assert health.status == 200 and json.load(health)["status"] == "ok"
        home = urllib.request.urlopen(urllib.request.Request(f"{web.url}/", headers=HTTPS))
        assert home.status == 200 and "It works" in home.read().decode()
        manifest = json.loads((path / "staticfiles" / "staticfiles.json").read_text())["paths"]
        css_url = f"{web.url}/static/{manifest['css/site.css']}"
        css = urllib.request.urlopen(urllib.request.Request(css_url, headers=HTTPS))
        assert css.status == 200
        assert css.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        for url in (f"{web.url}/", css_url):  # HEAD: a page and a static file
            assert urllib.request.urlopen(urllib.request.Request(url, headers=HTTPS, method="HEAD")).status == 200
        # The same port on IPv6 (dual-stack); the router's request id shows in the access log.
        ipv6 = urllib.request.Request(f"http://[::1]:{web.port}/healthz", headers={"Host": "localhost", **ROUTED})
        assert urllib.request.urlopen(ipv6).status == 200
    finally:
        assert web.stop() == 0, web.output()
    assert '"GET /healthz HTTP/1.1" 200' in web.output()  # gunicorn's access log goes to stdout
    assert f"request_id={ROUTED['X-Request-ID']}" in web.output()
    assert "no-body response" not in web.output(), "the app sent gunicorn a body for HEAD"


def test_the_procfile_release_command_migrates_postgresql(project):
    answers, path, bin_dir = project
    database_url = fresh_database(f"ldj_release_{combination_id(answers)}".replace("-", "_"))
    run(["bash", "-c", procfile(path)["release"]], path, bin_dir, {**PRODUCTION_ENV, "DATABASE_URL": database_url})
    with psycopg.connect(database_url) as connection:
        applied = connection.execute("SELECT app, name FROM django_migrations").fetchall()
    assert ("auth", "0001_initial") in applied and ("sessions", "0001_initial") in applied


@pytest.mark.parametrize("manager", json.loads((TEMPLATE / "cookiecutter.json").read_text())["package_manager"])
@pytest.mark.parametrize("version", json.loads((TEMPLATE / "cookiecutter.json").read_text())["python_version"])
def test_the_default_project_passes_on_each_offered_python(bake, version, manager):
    """With each package manager: a uv project's venv comes from its lock of that Python (`uv sync --locked`)."""
    path = bake(python_version=version, package_manager=manager)
    assert (path / ".python-version").read_text().strip() == version
    bin_dir = project_venv(path)
    python = run(["python", "-c", "import sys; print(*sys.version_info[:2], sep='.')"], path, bin_dir)
    assert python.stdout.strip() == version
    own_suite(path, bin_dir)


@pytest.fixture
def impostor():
    """Another server, on a port of its own: what a test's server finds when a port that free_port() found free
    was bound meanwhile by some other test's server (bind(0) may hand the same port out again)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class Impostor(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name BaseHTTPRequestHandler calls
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"not the project")

    def log_message(self, *args):
        pass


def test_a_procfile_process_never_takes_another_server_on_its_port_for_itself(bake, impostor, monkeypatch):
    """Requests meant for a test's server must never reach another (the likely cause of a CI run in which every
    board test's page stayed 'reconnecting': its socket went to whatever held the port Tornado could not bind)."""
    project = bake(**DEFAULTS)
    bin_dir = project_venv(project)
    with pytest.raises(PortTaken, match=f"port {impostor} is another server's"):
        ProcfileProcess(project, "web", bin_dir, PRODUCTION_ENV, port=impostor)
    # A port it picked itself, that another server took meanwhile: it starts again on another port.
    ports = iter([impostor, free_port()])
    monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
    web = ProcfileProcess(project, "web", bin_dir, PRODUCTION_ENV)
    try:
        assert web.port != impostor
        assert json.load(urllib.request.urlopen(f"{web.url}/healthz"))["database"] == "ok"  # the project's own
    finally:
        assert web.stop() == 0, web.output()
