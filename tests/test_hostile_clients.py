"""
Clients that hold on to connections, against the web process exactly as the Procfile runs it (2 workers of
4 threads): the health check still answers, and a restart answers what arrives on idle connections.

The attackers are plain sockets, as slowhttptest's (slowloris: headers that never end; slow POST: a body that
never ends) and clients that never close after a "Connection: close" answer. docs/performance.md has the
measured numbers; these tests only check that the health check answers, with a generous timeout.
"""

import contextlib
import json
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from .conftest import PRODUCTION_ENV, ProcfileProcess, project_venv

ATTACKERS = 200
PROBE_TIMEOUT = 15  # seconds: an upper bound for an answer; unpatched gunicorn never answers during the attack
HTTPS = "X-Forwarded-Proto: https\r\n"  # what the router adds, so pages are not redirected to HTTPS
SLOW_STARTS = {
    "slowloris": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-1: 1\r\n",
    "slow POST": f"POST /admin/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n{HTTPS}Content-Length: 1000\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n\r\nusername=".encode(),
}
SLOW_TRICKLES = {"slowloris": b"X-2: 2\r\n", "slow POST": b"a"}
ANSWER_AND_HOLD = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{HTTPS}Connection: close\r\n\r\n".encode()
KEEP_ALIVE_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
def web(bake):
    project = bake()
    web = ProcfileProcess(project, "web", project_venv(project), PRODUCTION_ENV)
    yield web
    web.stop(signal.SIGKILL)


def connect(web):
    return socket.create_connection(("127.0.0.1", web.port), timeout=PROBE_TIMEOUT)


def health(web):
    with urllib.request.urlopen(f"{web.url}/healthz", timeout=PROBE_TIMEOUT) as answer:
        return answer.status, json.load(answer)


class Attack:
    """ATTACKERS sockets, each sending `start` at once and then `trickle` every 2 s, until stopped."""

    def __init__(self, web, start, trickle=None):
        self.sockets = [connect(web) for _ in range(ATTACKERS)]
        for attacker in self.sockets:
            attacker.sendall(start)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.keep_on, args=(trickle,), daemon=True)
        self.thread.start()

    def keep_on(self, trickle):
        while trickle and not self.stopped.wait(2):
            for attacker in self.sockets:
                with contextlib.suppress(OSError):  # the server gave up on this one; the others go on
                    attacker.sendall(trickle)

    def stop(self):
        self.stopped.set()
        self.thread.join()
        for attacker in self.sockets:
            attacker.close()


@pytest.mark.parametrize("attack", ["slowloris", "slow POST", "answered, never closed"])
def test_the_health_check_answers_while_200_clients_hold_connections(web, attack):
    if attack == "answered, never closed":
        held = Attack(web, ANSWER_AND_HOLD)
    else:
        held = Attack(web, SLOW_STARTS[attack], SLOW_TRICKLES[attack])
    try:
        time.sleep(3)  # the trickle goes on: every thread would be taken by now
        probes = [health(web) for _ in range(5)]
    finally:
        held.stop()
    assert [(status, body["status"]) for status, body in probes] == [(200, "ok")] * 5
    assert "Traceback" not in web.output()


def read_answer(client):
    """One HTTP answer from a socket, or what happened instead ('closed' for a clean EOF, or the error's name)."""
    data = b""
    try:
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):  # /healthz answers JSON
            chunk = client.recv(65536)
            if not chunk:
                return data.decode() or "closed"
            data += chunk
    except OSError as error:
        return type(error).__name__
    return data.decode()


def test_after_sigterm_idle_keep_alive_connections_answer_what_arrives_then_close_cleanly(web):
    clients = [connect(web) for _ in range(50)]
    for client in clients:
        client.sendall(KEEP_ALIVE_REQUEST)
        assert "Connection: keep-alive" in read_answer(client)
    os.killpg(web.process.pid, signal.SIGTERM)  # as the platform stops a dyno: every process at once
    busy, idle = clients[:25], clients[25:]
    for client in busy:  # these clients reuse their connection at once, and do not close it after the answer
        client.sendall(KEEP_ALIVE_REQUEST)
    answers = [read_answer(client) for client in busy]
    assert [answer.split("\r\n")[0] for answer in answers] == ["HTTP/1.1 200 OK"] * 25
    # The others stay idle: the server closes them, with FIN, not a reset, once it has stopped taking requests.
    assert [read_answer(client) for client in idle] == ["closed"] * 25
    assert web.process.wait(timeout=30) == 0, web.output()
    for client in clients:
        client.close()
