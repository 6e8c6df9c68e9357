"""Real server processes, as the Procfile starts them: fan-out through Redis, and shutdown."""

import asyncio
import os
import signal
import time

import pytest

from .. import publish as publisher
from ..publish import publish
from .conftest import health, open_socket, realtime_process, receive, require


@pytest.fixture
def redis_url(settings, transactional_db):
    """REDIS_URL from the environment (CI's Redis service), for Django and the servers alike."""
    url = os.environ.get("REDIS_URL", "")
    require(url, "Redis (REDIS_URL)")
    settings.REDIS_URL = url
    publisher._redis_client = None
    yield url
    publisher._redis_client = None


async def test_two_processes_each_deliver_every_event_published_once_by_django(tmp_path, redis_url):
    with (
        realtime_process(tmp_path, REDIS_URL=redis_url) as first,
        realtime_process(tmp_path, REDIS_URL=redis_url) as second,
    ):
        clients = [await open_socket(first.port), await open_socket(second.port)]
        for number in range(100):
            await asyncio.to_thread(publish, "demo", {"number": number})
        for client in clients:
            received = [(await receive(client))["data"]["number"] for _ in range(100)]
            assert received == list(range(100))  # all of them, once each, in order
        assert health(first.port) == (200, {"status": "ok", "broker": "connected", "connections": 1})


async def test_sigterm_closes_every_socket_with_1001_and_exits_promptly(tmp_path):
    with realtime_process(tmp_path) as server:
        clients = [await open_socket(server.port) for _ in range(5)]
        started = time.monotonic()
        server.send_signal(signal.SIGTERM)
        for client in clients:
            assert await receive(client) is None
            assert client.close_code == 1001
        while server.poll() is None:
            assert time.monotonic() - started < 10, "still running 10 s after SIGTERM"
            await asyncio.sleep(0.05)
        assert server.returncode == 0
        assert "stopping: closing 5 sockets" in server.log.read_text()
