"""
Helpers for the real-time tests: `async def` tests run in a fresh event loop, and
serving() starts the Tornado app in that loop on a random 127.0.0.1 port.
"""

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import websocket_connect

from ..server import Config, PublishHandler, SocketHandler, make_app, make_broker, shutdown
from ..tokens import make_token

PUBLISH_KEY = "publish-key-for-tests"
PROJECT_DIR = Path(__file__).resolve().parents[3]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def test_...` functions to completion, each in its own event loop."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=45))
        return True
    return None


def require(available, what):
    """Skip loudly when a service is missing, or fail when REQUIRE_SERVICES=1 says it must be there."""
    if not available:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{what} is required (REQUIRE_SERVICES=1) but not available")
        pytest.skip(f"SKIPPED: {what} is not available; set it up, or REQUIRE_SERVICES=1 to make this a failure")


@pytest.fixture
def config():
    """Small limits and fast pings, so every limit can be reached quickly."""
    return Config(
        secret_key=settings.SECRET_KEY,
        publish_key=PUBLISH_KEY,
        allowed_origins=["localhost", ".good.example", "https://exact.example:8443"],
        max_message_bytes=1024,
        rate_limit=5,
        max_connections=3,
        ping_interval=0.2,
        ping_timeout=0.3,
        send_buffer_bytes=64 * 1024,
    )


class Served:
    def __init__(self, port, config, broker):
        self.port, self.config, self.broker = port, config, broker
        self.url = f"http://127.0.0.1:{port}"

    def token(self, channel="demo", user=7):
        return make_token(user, channel, key=self.config.secret_key)

    async def connect(self, channel="demo", token=None, origin=None, protocols=None):
        headers = {"Origin": origin} if origin else {}
        request = HTTPRequest(f"ws://127.0.0.1:{self.port}/ws?channel={channel}", headers=headers)
        if protocols is None:
            protocols = ["realtime", self.token(channel) if token is None else token]
        return await websocket_connect(request, subprotocols=protocols)


@contextlib.asynccontextmanager
async def serving(config, broker=None):
    """The real-time app on a random port in this event loop; shut down (1001) on exit."""
    broker = broker or make_broker(config)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(make_app(config, broker), max_body_size=config.max_message_bytes + 4096)
    server.add_sockets(sockets)
    await broker.start()
    try:
        yield Served(sockets[0].getsockname()[1], config, broker)
    finally:
        await shutdown(server, broker, grace=1)
        SocketHandler.connections.clear()
        SocketHandler.listeners.clear()
        PublishHandler.seen.clear()


async def receive(connection, timeout=5):
    """The next message as a dict, or None when the server closed the socket."""
    text = await asyncio.wait_for(connection.read_message(), timeout)
    return None if text is None else json.loads(text)


async def until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a random port, so a test can stop and restart it."""

    def __init__(self, tmp_path, tls=False):
        self.port, self.dir, self.process, self.tls = free_port(), tmp_path, None, tls
        self.url = f"{'rediss' if tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self):
        command = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:  # TLS only, with a self-signed certificate, like Heroku Redis
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            command += ["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]
        else:
            command += ["--port", str(self.port)]
        self.process = subprocess.Popen(command, cwd=self.dir, stdout=subprocess.DEVNULL)  # noqa: S603
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture
def redis_server(tmp_path):
    require(shutil.which("redis-server"), "the redis-server binary")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tls_redis_server(tmp_path):
    require(shutil.which("redis-server") and shutil.which("openssl"), "redis-server and openssl")
    certificate = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    certificate += ["-keyout", "key.pem", "-out", "cert.pem"]
    subprocess.run(certificate, cwd=tmp_path, check=True, capture_output=True)  # noqa: S603
    server = RedisServer(tmp_path, tls=True)
    server.start()
    yield server
    server.stop()


async def open_socket(port, channel="demo"):
    """A client on `channel` of the server at `port`, past its "subscribed" answer."""
    token = make_token(None, channel, key=settings.SECRET_KEY)
    url = f"ws://127.0.0.1:{port}/ws?channel={channel}"
    connection = await websocket_connect(url, subprotocols=["realtime", token])
    assert await receive(connection) == {"type": "subscribed", "channel": channel}
    return connection


def health(port):
    """(status, body) of the server's /healthz; (None, None) while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return None, None


@contextlib.contextmanager
def realtime_process(tmp_path, **variables):
    """`python -m <project>.realtime` in a subprocess, as the Procfile runs it, once it answers."""
    port = free_port()
    environment = {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "REALTIME_PUBLISH_KEY": PUBLISH_KEY,
        **variables,
    }
    log = open(tmp_path / f"realtime-{port}.log", "w+")  # noqa: SIM115 - closed below
    command = [sys.executable, "-m", __package__.rsplit(".", 1)[0], "--port", str(port)]
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=environment, stderr=log)  # noqa: S603
    try:
        deadline = time.monotonic() + 15
        while health(port)[0] is None:
            assert process.poll() is None and time.monotonic() < deadline, Path(log.name).read_text()
            time.sleep(0.05)
        process.port, process.log = port, Path(log.name)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
