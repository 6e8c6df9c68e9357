"""Real server processes, as the Procfile starts them: fan-out through Redis, resuming on either process, and
shutdown."""

import asyncio
import collections
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import time

import pytest
import redis
from tornado.httpclient import HTTPClientError

from .. import publish as publisher
from ..publish import publish
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
        back = await open_socket(second.port, channel, since)
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
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Configuration error: {variable} must be {rule}; set e.g. {variable}="), lines
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


EVENTS = 240  # well inside the history window (REALTIME_HISTORY_EVENTS, 1000 by default)


class Wanderer:
    """One browser's socket: every frame it read, over all its connections, and the connection it has now."""

    def __init__(self, channel, plan):
        self.channel, self.plan, self.frames, self.connection, self.reading = channel, plan, [], None, None

    @property
    def numbers(self):
        return [frame["data"]["number"] for frame in self.frames if frame.get("type") == "message"]

    async def open(self, port, since=None):
        self.connection = await open_socket(port, self.channel, since)
        self.reading = asyncio.create_task(self.read(self.connection))

    async def read(self, connection):
        while (text := await connection.read_message()) is not None:
            self.frames.append(json.loads(text))

    async def leave(self):
        """Close the socket as a browser does, keeping what it read until the close completed."""
        self.connection.close()
        await self.reading  # ends when the server's close frame has been read: no frame is left unread
        return next(frame["id"] for frame in reversed(self.frames) if frame.get("type") == "message")


async def test_sockets_that_leave_and_resume_on_either_process_get_every_event_once_in_order(tmp_path, redis_url):
    """Sockets leave and come back at random, on either of two processes, with the last ID they saw, while Django's
    publish() goes on. Whatever the order, each receives every event once, in order: those published while it
    listened, live, and those published while it was away, from the history.

    The choices (when each socket leaves, when it comes back and on which process) come from a seed that the
    failure message names; the timing around them is the machine's, so a replay runs the same plan, not
    necessarily the same interleaving."""
    seed = int(os.environ.get("REALTIME_RESUME_SEED") or random.randrange(1 << 32))  # noqa: S311 - not crypto
    rng = random.Random(seed)  # noqa: S311 - the same plan again for the same seed
    replay = f"seed {seed} (replay the same plan with REALTIME_RESUME_SEED={seed})"
    channel = f"wander-{secrets.token_hex(4)}"  # CI's Redis may carry other test runs' events
    published, progress = 0, asyncio.Condition()

    async def reached(count):
        async with progress:
            await progress.wait_for(lambda: published >= count)

    async def publish_all():
        nonlocal published
        for number in range(EVENTS):
            await in_thread(publish, channel, {"number": number})
            async with progress:
                published += 1
                progress.notify_all()

    def plan():
        """A few (leave once this many were published, come back once that many were, on this process), in order."""
        points = sorted(rng.randrange(1, EVENTS) for _ in range(2 * rng.randint(1, 4)))
        return [(points[i], points[i + 1], rng.choice(["first", "second"])) for i in range(0, len(points), 2)]

    async def wander(socket):
        for away_at, back_at, process in socket.plan:
            await reached(away_at)
            await until(lambda: socket.numbers)  # it has an ID to resume from
            since = await socket.leave()
            await reached(back_at)  # away while these are published
            await socket.open(ports[process], since=since)

    with (
        realtime_process(tmp_path, REDIS_URL=redis_url) as first,
        realtime_process(tmp_path, REDIS_URL=redis_url) as second,
    ):
        await until(lambda: health(first.port)[0] == health(second.port)[0] == 200)  # both subscribed to Redis
        ports = {"first": first.port, "second": second.port}
        sockets = [Wanderer(channel, plan()) for _ in range(6)]
        for socket in sockets:
            await socket.open(ports[rng.choice(["first", "second"])])
        await asyncio.gather(publish_all(), *(wander(socket) for socket in sockets))

        with contextlib.suppress(AssertionError):  # the assertions below say what is wrong
            await until(lambda: all(socket.numbers[-1:] == [EVENTS - 1] for socket in sockets))
        for socket in sockets:  # a pong, answered after everything sent before it: nothing else comes meanwhile
            socket.connection.write_message('{"type": "ping"}')
        with contextlib.suppress(AssertionError):
            await until(lambda: all(socket.frames[-1:] == [{"type": "pong"}] for socket in sockets))

        for number, socket in enumerate(sockets):
            numbers, counts = socket.numbers, collections.Counter(socket.numbers)
            missing = sorted(set(range(EVENTS)) - counts.keys())
            twice = sorted(event for event, count in counts.items() if count > 1)
            where = f"socket {number} (plan {socket.plan})"
            assert not missing, f"{where} missed {len(missing)} events, e.g. {missing[:5]}; {replay}"
            assert not twice, f"{where} got {len(twice)} events twice, e.g. {twice[:5]}; {replay}"
            assert numbers == sorted(numbers), f"{where} got events out of order: {numbers}; {replay}"
            others = [frame for frame in socket.frames if frame.get("type") != "message"]
            assert others == [{"type": "pong"}], f"{where} got {others}; {replay}"
            socket.connection.close()
