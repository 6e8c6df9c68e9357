"""
The web process exactly as the Procfile starts it (gunicorn with gunicorn.conf.py): clients that send slowly or
hold their connections do not stop it answering everyone else, and a restart (SIGTERM, as the platform stops a
dyno) answers what arrives on idle connections, then closes them cleanly. A gunicorn or gevent upgrade that
breaks either fails here.

The attackers are plain sockets, as slowhttptest's: slowloris (headers that never end), slow POST (a body
that never ends), and clients that never close after a "Connection: close" answer.
"""

import contextlib
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import PRODUCTION_ENV, PROJECT_DIR, Background, Run

ATTACKERS = 100  # of each kind; gthread's 2 workers x 4 threads would stop answering at 8
ANSWER_WITHIN = 15  # seconds: a generous bound for one answer on a busy machine
SLOW_STARTS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-1: 1\r\n",  # slowloris
    b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nusername=",  # slow POST
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",  # answered, never closed
]
KEEP_ALIVE_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
WEB_LINE = re.search(r"^web: (.+)$", (PROJECT_DIR / "Procfile").read_text(), re.MULTILINE)[1]
VENV_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # this venv's gunicorn first


class Web(Background):
    """The Procfile's web line, started as the session begins; ready() waits until its worker boots. DATABASE_URL:
    database_url ("{folder}" stands for the web process's own folder)."""

    def __init__(self, database_url="sqlite:///{folder}/db.sqlite3"):
        self.database_url, self.process, self.port = database_url, None, None

    def start(self, pool, folder):
        self.log = folder / "web.log"
        environment = {
            **PRODUCTION_ENV,
            "PATH": VENV_PATH,
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": self.database_url.replace("{folder}", str(folder)),
            "PORT": "0",  # any free port: gunicorn says which
            "WEB_CONCURRENCY": "1",
            # After SIGTERM, gunicorn answers for graceful_timeout (20 s, within the platform's 30) before it
            # closes idle connections; 1 s here, so the test need not wait.
            "GUNICORN_CMD_ARGS": "--graceful-timeout 1",
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", WEB_LINE],  # as the platform runs a Procfile line
                cwd=PROJECT_DIR,
                env=environment,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def ready(self):
        assert self.process, "declare it at module level or as a test's parameter, to start with the session"
        if self.port is None:
            self.port = self.wait_for(r"Listening at: http://\[::\]:([0-9]+)")
            self.wait_for(r"Booting worker")
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wait_for(self, pattern):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            if found := re.search(pattern, self.output()):
                return found[1] if found.groups() else found[0]
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not log {pattern!r}:\n{self.output()}")

    def output(self):
        return self.log.read_text(errors="replace")

    def connect(self):
        return socket.create_connection(("127.0.0.1", self.port), timeout=ANSWER_WITHIN)

    def health(self):
        status, _, body = fetch(self, "/healthz", accept="application/json")
        return status, json.loads(body).get("status")  # none in outage.py's 503


SITE = Web()  # its database answers


@pytest.fixture
def web():
    """The site's web process, as its last test left it: they share it, as clients share a dyno."""
    return SITE.ready()


class Redirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to look at, not to follow


NO_REDIRECTS = urllib.request.build_opener(Redirects)


def fetch(web, path, accept):
    """GET path as a signed-in browser would (a session cookie, so the database is asked who it is)."""
    headers = {"X-Forwarded-Proto": "https", "Cookie": f"sessionid={'x' * 32}", "Accept": accept}
    request = urllib.request.Request(f"http://127.0.0.1:{web.port}{path}", headers=headers)
    try:
        with NO_REDIRECTS.open(request, timeout=ANSWER_WITHIN) as answer:
            return answer.status, answer.headers, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def read_answer(client):
    """One /healthz answer from a socket, or what happened instead ('closed' for a clean end, or the error)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            chunk = client.recv(65536)
            if not chunk:
                return data.decode() or "closed"
            data += chunk
    except OSError as error:
        return type(error).__name__
    return data.decode()


def test_the_site_answers_while_slow_and_idle_clients_hold_hundreds_of_connections(web):
    attackers = [web.connect() for _ in range(ATTACKERS) for _ in SLOW_STARTS]
    for number, attacker in enumerate(attackers):
        attacker.sendall(SLOW_STARTS[number % len(SLOW_STARTS)])
    slow, idle = attackers[0::3] + attackers[1::3], attackers[2::3]
    # The idle ones connected last of each three, and each has its answer: the server has taken every connection.
    assert [read_answer(client).split("\r\n")[0] for client in idle] == ["HTTP/1.1 200 OK"] * ATTACKERS
    for attacker in slow:
        attacker.sendall(b"a")  # the slow ones trickle on: a header line or a byte of body
    try:
        assert [web.health() for _ in range(5)] == [(200, "ok")] * 5
    finally:
        for attacker in attackers:
            attacker.close()
    assert "Traceback" not in web.output()


def test_head_answers_carry_the_gets_headers_no_body_and_no_warning(web):
    """Django answers HEAD as GET, body included; gunicorn drops the body, and must not log it for each HEAD
    (uptime monitors send many): gunicorn.conf.py quiets that warning."""
    answers = {}
    for method in ("GET", "HEAD"):
        with web.connect() as client:
            request = f"{method} /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"
            client.sendall(request.encode() + b"Connection: close\r\n\r\n")
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        head, _, body = answer.decode().partition("\r\n\r\n")
        answers[method] = head.split("\r\n")[0], re.search(r"Content-Length: (\d+)", head)[1], body
    assert answers["GET"][0] == answers["HEAD"][0] == "HTTP/1.1 200 OK"
    assert answers["HEAD"][1] == answers["GET"][1] == str(len(answers["GET"][2])), "the length of the GET's body"
    assert answers["GET"][2].startswith('{"status": "ok"') and answers["HEAD"][2] == ""
    assert "no-body response" not in web.output()


def test_after_sigterm_idle_keep_alive_connections_answer_what_arrives_then_close_cleanly(web):
    clients = [web.connect() for _ in range(20)]
    for client in clients:
        client.sendall(KEEP_ALIVE_REQUEST)
        assert "Connection: keep-alive" in read_answer(client)
    os.killpg(web.process.pid, signal.SIGTERM)  # as the platform stops a dyno: every process at once
    busy, idle = clients[:10], clients[10:]
    for client in busy:  # these reuse their connection at once
        client.sendall(KEEP_ALIVE_REQUEST)
    assert [read_answer(client).split("\r\n")[0] for client in busy] == ["HTTP/1.1 200 OK"] * 10
    # The others stay idle: the server closes them, with FIN, not a reset, when graceful_timeout is up.
    assert [read_answer(client) for client in idle] == ["closed"] * 10
    web.process.wait(timeout=60)  # the Procfile's shell dies of the signal too; gunicorn's log says how it ended
    assert "Shutting down: Master" in web.output() and "Traceback" not in web.output(), web.output()
    for client in clients:
        client.close()


class LatePostgres(socketserver.ThreadingTCPServer):
    """A port that leads to DATABASE_URL's PostgreSQL server once open() is called: a server that was down."""

    daemon_threads = True

    def __init__(self, target):
        self.target, self.port = target, free_port()

    def open(self):
        super().__init__(("127.0.0.1", self.port), Relay)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Relay(socketserver.BaseRequestHandler):
    def handle(self):
        with socket.create_connection(self.server.target) as upstream:
            threading.Thread(target=pipe, args=(upstream, self.request), daemon=True).start()
            pipe(self.request, upstream)


def pipe(source, sink):
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SQLiteOutage(Web):
    """A web process whose SQLite database is down: a file in a missing folder, which come_back() makes."""

    def __init__(self):
        super().__init__("sqlite:///{folder}/not-there-yet/db.sqlite3")

    def come_back(self):
        (self.log.parent / "not-there-yet").mkdir()


class PostgresOutage(Web):
    """A web process whose PostgreSQL server is down: DATABASE_URL's, on a port of the test's own that leads to it
    once come_back() opens it."""

    def __init__(self):
        url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
        self.server = LatePostgres((url.hostname, url.port or 5432))
        user = url.netloc.rpartition("@")[0]
        super().__init__(url._replace(netloc=f"{user}@127.0.0.1:{self.server.port}").geturl())

    def come_back(self):
        self.server.open()


# SQLite always; PostgreSQL too when DATABASE_URL names a server.
OUTAGES = [pytest.param(SQLiteOutage(), id="sqlite")]
if os.environ.get("DATABASE_URL", "").startswith("postgres"):
    OUTAGES.append(pytest.param(PostgresOutage(), id="postgresql"))


@pytest.mark.parametrize("outage", OUTAGES)
def test_a_database_outage_answers_503_and_logs_one_line_when_it_starts_and_one_when_it_ends(outage):
    """An outage is the platform's to fix, not a bug: no 500, no traceback; and no restart when it is over."""
    web = outage.ready()
    try:
        # A browser and a program at once: each waits for the pool's timeout (PostgreSQL), so not one after the other.
        with ThreadPoolExecutor() as both:
            browser = both.submit(fetch, web, "/admin/", accept="text/html,*/*;q=0.8")
            program = both.submit(fetch, web, "/admin/", accept="application/json")
        status, headers, page = browser.result()
        assert (status, headers["Retry-After"]) == (503, "10")
        assert "<title>Temporarily unavailable</title>" in page
        status, headers, body = program.result()
        assert (status, headers["Content-Type"], json.loads(body)) == (503, "application/json", UNAVAILABLE)
        outage.come_back()
        deadline = time.monotonic() + 60  # a generous bound: the pool retries with a growing pause
        while web.health() != (200, "ok") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert web.health() == (200, "ok"), "back, without a restart"
    finally:
        web.stop()
    log = web.output()
    assert log.count("The database (DATABASE_URL) does not answer") == 1, log
    assert log.count("The database (DATABASE_URL) answers again") == 1, log
    assert "Traceback" not in log and "Service Unavailable" not in log, log  # not Django's line per request either


UNAVAILABLE = {"detail": "The database is not answering; try again in a few seconds."}


# SECRET_KEY "": not .env's key either
NO_SECRET_KEY = Run(["/bin/sh", "-c", WEB_LINE], **{**PRODUCTION_ENV, "SECRET_KEY": ""}, PATH=VENV_PATH, PORT="0")


def test_a_configuration_error_stops_the_web_process_with_one_line_and_no_traceback():
    run = NO_SECRET_KEY.result()
    output = run.stdout + run.stderr
    assert run.returncode != 0
    message = "Configuration error: SECRET_KEY is not set; set it in the environment (or in .env for local work)."
    assert output.splitlines().count(message) == 1, output
    assert "Traceback" not in output and "Booting worker" not in output, output
