"""Django's publish() and the Redis broker when things go wrong: down, slow, restarted."""

import asyncio
import json
import socket
import threading
import time

import pytest
import redis
from django.db import transaction

from .. import publish as publisher
from ..publish import REDIS_PREFIX, publish
from ..server import RedisBroker, SocketHandler
from .conftest import PUBLISH_KEY, free_port, health, open_socket, receive, serving, until


@pytest.fixture(autouse=True)
def fresh_publisher(transactional_db):
    """A new Redis pool per test; and real commits, so on_commit() callbacks run."""
    publisher._redis_client = None
    yield
    publisher._redis_client = None


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers: a hung broker."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("broker", ["redis", "tornado"])
@pytest.mark.parametrize("trouble", ["down", "hung"])
def test_publish_with_the_broker_down_or_hung_returns_in_time_and_logs(settings, caplog, silent_port, broker, trouble):
    port = free_port() if trouble == "down" else silent_port
    settings.REDIS_URL = f"redis://127.0.0.1:{port}/0" if broker == "redis" else ""
    settings.REALTIME_PUBLISH_URL = f"http://127.0.0.1:{port}/publish"
    started = time.monotonic()
    publish("demo", {"text": "hello"})  # outside a transaction: sent at once
    elapsed = time.monotonic() - started
    assert elapsed < settings.REALTIME_PUBLISH_TIMEOUT + 0.3
    assert "Real-time publish to 'demo' dropped after" in caplog.text
    assert "hello" not in caplog.text  # events are not logged


def test_publish_happens_after_commit_and_never_after_rollback(monkeypatch):
    sent = []
    monkeypatch.setattr(publisher, "_send", lambda channel, event: sent.append(json.loads(event)))
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        publish("demo", "rolled back")
        raise ZeroDivisionError
    with transaction.atomic():
        publish("demo", "committed")
        assert sent == []
    assert sent == [{"type": "message", "channel": "demo", "data": "committed"}]


@pytest.mark.parametrize(
    "channel, data",
    [("", 1), ("has space", 1), ("x" * 101, 1), ("demo", "x" * 70_000), ("demo", object())],
    ids=["empty channel", "space in channel", "long channel", "too big", "not JSON"],
)
def test_programming_errors_raise_at_the_call(channel, data):
    with pytest.raises((ValueError, TypeError)):
        publish(channel, data)


async def test_django_publishes_to_the_embedded_server_over_signed_http(config, settings):
    settings.REDIS_URL = ""
    settings.REALTIME_PUBLISH_KEY = PUBLISH_KEY
    async with serving(config) as served:
        settings.REALTIME_PUBLISH_URL = f"{served.url}/publish"
        client = await open_socket(served.port)
        await asyncio.to_thread(publish, "demo", {"text": "over HTTP"})
        assert await receive(client) == {"type": "message", "channel": "demo", "data": {"text": "over HTTP"}}


@pytest.mark.parametrize("outage", [1, 16], ids=["short outage", "long outage (redis-py's listen() gives up)"])
async def test_delivery_resumes_after_redis_restarts_without_restarting_tornado(
    config, settings, caplog, redis_server, outage
):
    settings.REDIS_URL = redis_server.url
    broker = RedisBroker(redis_server.url, {}, SocketHandler.broadcast, SocketHandler.resync_all)
    async with serving(config, broker) as served:
        client = await open_socket(served.port)
        await asyncio.to_thread(publish, "demo", "before")
        assert (await receive(client))["data"] == "before"

        redis_server.stop()
        await until(lambda: broker.state == "disconnected")
        assert (await asyncio.to_thread(health, served.port))[0] == 503
        await asyncio.sleep(outage)
        redis_server.start()

        assert await receive(client, timeout=15) == {"type": "resync"}  # events may have been lost meanwhile
        assert (await asyncio.to_thread(health, served.port))[0] == 200
        # Django's pooled connection died with Redis; the next publish() still gets through.
        await asyncio.to_thread(publish, "demo", "after")
        assert (await receive(client))["data"] == "after"
        assert "dropped" not in caplog.text


class BlackHoleProxy:
    """A TCP proxy in front of Redis whose open connections can go silent: still open, but
    nothing gets through, as when a failover or a NAT forgets them. New connections work."""

    def __init__(self, target_port):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port, self.target_port, self.links = self.listener.getsockname()[1], target_port, []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            link = threading.Event()
            link.set()
            self.links.append(link)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(source, sink, link), daemon=True).start()

    def pipe(self, source, sink, link):
        try:
            while data := source.recv(65536):
                if link.is_set():
                    sink.sendall(data)
        except OSError:
            pass

    def silence_open_connections(self):
        for link in self.links:
            link.clear()

    def close(self):
        self.listener.close()


def next_event(listener, timeout=5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if message := listener.get_message(timeout=0.1):  # None for the subscribe confirmation
            return json.loads(message["data"])["data"]
    return None


def test_a_pooled_connection_that_died_silently_costs_one_attempt_not_the_event(settings, caplog, redis_server):
    proxy = BlackHoleProxy(redis_server.port)
    settings.REDIS_URL = f"redis://127.0.0.1:{proxy.port}/0"
    listener = redis.Redis.from_url(redis_server.url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(REDIS_PREFIX + "demo")
    publish("demo", "before")  # through the pooled connection
    proxy.silence_open_connections()
    started = time.monotonic()
    publish("demo", "after")  # times out on the silent connection, then goes through a new one
    assert time.monotonic() - started < settings.REALTIME_PUBLISH_TIMEOUT + 0.5
    assert [next_event(listener), next_event(listener)] == ["before", "after"]
    assert "dropped" not in caplog.text
    listener.close()
    proxy.close()
