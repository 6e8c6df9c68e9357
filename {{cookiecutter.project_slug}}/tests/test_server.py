"""
The web process exactly as the Procfile starts it (gunicorn with gunicorn.conf.py): clients that send slowly or
hold their connections do not stop it answering everyone else, and a restart (SIGTERM, as the platform stops a
dyno) answers what arrives on idle connections, then closes them cleanly. A gunicorn or gevent upgrade that
breaks either fails here.

The attackers are plain sockets, as slowhttptest's: slowloris (headers that never end), slow POST (a body
that never ends), and clients that never close after a "Connection: close" answer.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import PRODUCTION_ENV, PROJECT_DIR

ATTACKERS = 100  # of each kind; gthread's 2 workers x 4 threads would stop answering at 8
ANSWER_WITHIN = 15  # seconds: a generous bound for one answer on a busy machine
SLOW_STARTS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-1: 1\r\n",  # slowloris
    b"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\nusername=",  # slow POST
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",  # answered, never closed
]
KEEP_ALIVE_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Web:
    def __init__(self, folder):
        web_line = re.search(r"^web: (.+)$", (PROJECT_DIR / "Procfile").read_text(), re.MULTILINE)[1]
        self.log = folder / "web.log"
        environment = {
            **PRODUCTION_ENV,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # this venv's gunicorn
            "ALLOWED_HOSTS": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
            "PORT": "0",  # any free port: gunicorn says which
            "WEB_CONCURRENCY": "1",
            # After SIGTERM, gunicorn answers for graceful_timeout (20 s, within the platform's 30) before it
            # closes idle connections; 1 s here, so the test need not wait.
            "GUNICORN_CMD_ARGS": "--graceful-timeout 1",
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", web_line],  # as the platform runs a Procfile line
                cwd=PROJECT_DIR,
                env=environment,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.port = self.wait_for(r"Listening at: http://\[::\]:([0-9]+)")
        self.wait_for(r"Booting worker")

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
        url = f"http://127.0.0.1:{self.port}/healthz"
        with urllib.request.urlopen(url, timeout=ANSWER_WITHIN) as answer:  # noqa: S310 (a fixed http:// URL)
            return answer.status, json.load(answer)["status"]


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    web = Web(tmp_path_factory.mktemp("web"))
    yield web
    if web.process.poll() is None:
        os.killpg(web.process.pid, signal.SIGKILL)
        web.process.wait()


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
    time.sleep(1)
    for attacker in attackers[: 2 * ATTACKERS]:
        attacker.sendall(b"a")  # the slow ones trickle on: a header line or a byte of body
    try:
        assert [web.health() for _ in range(5)] == [(200, "ok")] * 5
    finally:
        for attacker in attackers:
            attacker.close()
    assert "Traceback" not in web.output()


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
