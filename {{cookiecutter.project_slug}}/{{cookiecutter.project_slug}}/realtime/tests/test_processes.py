"""Real server processes, as the Procfile starts them: fan-out through Redis, and shutdown."""

import asyncio
import os
import signal
import socket
import subprocess
import time

import pytest
import redis
from django.conf import settings
from tornado.httpclient import HTTPClientError
from tornado.websocket import websocket_connect

from .. import publish as publisher
from ..publish import publish
from ..tokens import make_token
from . import conftest
from .conftest import (
    SERVER_COMMAND,
    health,
    in_thread,
    open_socket,
    process_checkout,
    realtime_process,
    receive,
    server_environment,
    until,
)


async def test_two_processes_each_deliver_every_event_published_once_by_django(tmp_path, redis_url):
    with (
        realtime_process(tmp_path, REDIS_URL=redis_url) as first,
        realtime_process(tmp_path, REDIS_URL=redis_url) as second,
    ):
        await until(lambda: health(first.port)[0] == health(second.port)[0] == 200)  # both subscribed to Redis
        channel = f"test-{os.getpid()}"  # CI's Redis may carry other test runs' events at the same time
        clients = [await open_socket(first.port, channel), await open_socket(second.port, channel)]
        for number in range(100):
            await in_thread(publish, channel, {"number": number})
        for client in clients:
            received = [(await receive(client))["data"]["number"] for _ in range(100)]
            assert received == list(range(100))  # all of them, once each, in order
        assert health(first.port) == (200, {"status": "ok", "broker": "connected"})


async def test_a_socket_resumes_on_another_process_with_every_event_it_missed(tmp_path, redis_url):
    """The history is Redis's, not a process's: a socket that left one process resumes on another."""
    with (
        realtime_process(tmp_path, REDIS_URL=redis_url) as first,
        realtime_process(tmp_path, REDIS_URL=redis_url) as second,
    ):
        await until(lambda: health(first.port)[0] == health(second.port)[0] == 200)
        channel = f"test-resume-{os.getpid()}"
        client = await open_socket(first.port, channel)
        await in_thread(publish, channel, {"number": 0})
        since = (await receive(client))["id"]
        client.close()
        for number in range(1, 20):
            await in_thread(publish, channel, {"number": number})
        token = make_token(None, channel, key=settings.SECRET_KEY)
        url = f"ws://127.0.0.1:{second.port}/ws?channel={channel}&since={since}"
        back = await websocket_connect(url, subprotocols=["realtime", token])
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert [(await receive(back))["data"]["number"] for _ in range(19)] == list(range(1, 20))
        await in_thread(publish, channel, {"number": 20})
        assert (await receive(back))["data"]["number"] == 20


@pytest.mark.parametrize("cert_reqs, broker", [("none", "connected"), ("required", "disconnected")])
async def test_tls_redis_with_a_self_signed_certificate_needs_cert_reqs_none(
    tmp_path, settings, transactional_db, tls_redis_server, cert_reqs, broker
):
    variables = {"REDIS_URL": tls_redis_server.url, "REDIS_SSL_CERT_REQS": cert_reqs}
    with realtime_process(tmp_path, **variables) as server:
        await until(lambda: health(server.port)[1]["broker"] == broker)
        if broker == "connected":
            settings.REDIS_URL, settings.REDIS_OPTIONS = tls_redis_server.url, {"ssl_cert_reqs": "none"}
            publisher._redis_client = None
            client = await open_socket(server.port)
            await in_thread(publish, "demo", "over TLS")
            assert (await receive(client))["data"] == "over TLS"
            publisher._redis_client = None


async def test_sigterm_closes_every_socket_with_1001_and_exits_promptly(tmp_path):
    with realtime_process(tmp_path) as server:
        clients = [await open_socket(server.port) for _ in range(5)]
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for client in clients:
            assert await receive(client) is None
            assert client.close_code == 1001
        while server.poll() is None:  # the server gives sockets 5 s; 30 s is a generous bound on that
            assert time.monotonic() - started < 30, "still running 30 s after SIGTERM"
            await asyncio.sleep(0.05)
        assert server.returncode == 0
        assert "stopping: closing 5 sockets" in server.log.read_text()


@pytest.mark.parametrize("how", ["REALTIME_PORT", "--port"])
def test_a_busy_port_is_one_line_that_names_the_port_and_the_setting(how, tmp_path):
    with socket.create_server(("", 0)) as holder:  # every interface, as the server listens
        port = holder.getsockname()[1]
        variables = {"REALTIME_PORT": str(port)} if how == "REALTIME_PORT" else {}
        command = SERVER_COMMAND if how == "REALTIME_PORT" else [*SERVER_COMMAND, "--port", str(port)]
        result = subprocess.run(  # noqa: S603
            command,
            cwd=process_checkout(tmp_path),
            env=server_environment(**variables),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Real-time server: cannot listen on port {port}: Address already in use. Stop whatever holds it, "
        "or choose another port with REALTIME_PORT (or --port)."
    ]


@pytest.mark.parametrize(
    "variable, value, rule",
    [
        ("REALTIME_RATE_LIMIT", "fast", "a whole number"),
        ("REALTIME_MAX_PER_ADDRESS", "1e3", "a whole number"),
        ("REALTIME_PING_TIMEOUT", "twenty", "a whole number"),
    ],
)
def test_a_bad_server_variable_stops_the_server_with_one_line_that_names_it(tmp_path, variable, value, rule):
    """The Tornado process reads its own variables (not settings.py), as strictly as Django reads its."""
    result = subprocess.run(  # noqa: S603
        SERVER_COMMAND,
        cwd=process_checkout(tmp_path),
        env=server_environment(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{variable} must be {rule}; set e.g. {variable}="), lines
    assert value not in lines[0]  # values may be secrets: never echoed


async def test_the_server_reads_its_limits_from_the_environment(tmp_path):
    with realtime_process(tmp_path, REALTIME_MAX_PER_ADDRESS="1") as server:
        await open_socket(server.port)
        with pytest.raises(HTTPClientError) as refused:
            await open_socket(server.port)
        assert refused.value.code == 429


@pytest.fixture
def taken_port(monkeypatch):
    """A port that free_port() finds free, yet another program (a parallel test run's server) binds before the
    server does: free_port() hands it out first, then a free one. Yields the taken port."""
    with socket.create_server(("", 0)) as other_program:  # every interface, as the servers listen
        taken = other_program.getsockname()[1]
        ports = iter([taken, conftest.free_port()])
        monkeypatch.setattr(conftest, "free_port", lambda: next(ports))
        yield taken


def test_a_test_server_whose_port_was_taken_meanwhile_starts_again_on_another(tmp_path, taken_port):
    """The tests then talk to the server they started, never to that program."""
    with realtime_process(tmp_path) as server:
        assert server.port != taken_port
        assert health(server.port) == (200, {"status": "ok", "broker": "embedded"})
    assert f"cannot listen on port {taken_port}" in (tmp_path / f"realtime-{taken_port}.log").read_text()


def test_a_test_redis_whose_port_was_taken_meanwhile_starts_on_another(tmp_path, taken_port):
    """The same for the redis-server a test starts of its own: it never takes another program for itself."""
    server = conftest.RedisServer(tmp_path)
    server.start()
    try:
        assert server.port != taken_port
        assert redis.Redis.from_url(server.url, socket_timeout=5).ping()
    finally:
        server.stop()
