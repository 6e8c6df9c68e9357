"""
Clients that hold on to connections, against the web process exactly as the Procfile runs it (gunicorn's gevent
worker, 2 processes, faced directly): the health check still answers, malformed requests are answered at once,
and a restart answers what arrives on idle connections, then closes them cleanly.

The attackers are plain sockets, as slowhttptest's (slowloris: headers that never end; slow POST: a body that
never ends), clients that never close after a "Connection: close" answer, and thousands of idle keep-alive
connections. docs/performance.md has the measured numbers; these tests only check that the health check
answers, with a generous timeout. The generated project's own tests/test_server.py checks the same at a smaller
scale, so a gunicorn or gevent upgrade that breaks it fails the project's CI.
"""

import contextlib
import json
import os
import resource
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
IDLE_KEEP_ALIVE = 5000  # connections that made one request and then hold on, as a crowd or an attacker might
GRACEFUL_TIMEOUT = 20  # gunicorn.conf.py's: after SIGTERM, idle connections are closed by then
MALFORMED = {
    "Transfer-Encoding with a Content-Length": b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Transfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n0\r\n\r\n",
    "bare LF line endings": b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n",
    "an absurd Content-Length": b"POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Length: 99999999999999999999\r\n\r\nab",
}


@pytest.fixture
def web(bake):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # room for thousands of sockets, here and in gunicorn
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * IDLE_KEEP_ALIVE)), hard))
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


def test_the_health_check_answers_while_thousands_of_idle_keep_alive_connections_are_held(web):
    clients = []
    try:
        for _ in range(IDLE_KEEP_ALIVE):
            clients.append(connect(web))
            clients[-1].sendall(KEEP_ALIVE_REQUEST)
        probes = [health(web) for _ in range(5)]
    finally:
        for client in clients:
            client.close()
    assert [(status, body["status"]) for status, body in probes] == [(200, "ok")] * 5
    assert "Traceback" not in web.output()


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_are_answered_at_once_not_held(web, request_bytes):
    client = connect(web)  # PROBE_TIMEOUT is the bound: the old worker held these for 30 s
    client.sendall(request_bytes)
    answer = client.recv(65536).decode(errors="replace")
    client.close()
    assert answer.startswith("HTTP/1.1 4"), answer


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
    # The others stay idle: the server closes them, with FIN, not a reset, once graceful_timeout is up.
    for client in idle:
        client.settimeout(GRACEFUL_TIMEOUT + PROBE_TIMEOUT)
    assert [read_answer(client) for client in idle] == ["closed"] * 25
    assert web.process.wait(timeout=30) == 0, web.output()
    for client in clients:
        client.close()
