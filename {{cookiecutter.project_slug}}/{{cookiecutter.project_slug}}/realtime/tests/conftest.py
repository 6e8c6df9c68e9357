"""
Helpers for the real-time tests: `async def` tests run in a fresh event loop, and
serving() starts the Tornado app in that loop on a random 127.0.0.1 port.
"""

import asyncio
import base64
import collections
import contextlib
import inspect
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.db import connections
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.websocket import websocket_connect

from ..server import Application, Config, PublishHandler, SocketHandler, make_broker, shutdown
from ..tokens import make_token
from conftest import copy_checkout

PUBLISH_KEY = "publish-key-for-tests"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def test_...` functions to completion, each in its own event loop."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        # A guard against a hung test, far above any test's own deadlines (on a slow, loaded machine too).
        asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=180))
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
    return Config.read(
        settings,
        publish_key=PUBLISH_KEY,
        redis_url="",  # the embedded broker; tests that want Redis say so
        redis_options={},
        allowed_origins=["localhost", ".good.example", "https://exact.example:8443"],
        max_message_bytes=1024,
        rate_limit=5,
        max_connections=5,
        max_per_address=3,
        max_per_user=2,
        ping_interval=1,
        ping_timeout=1,  # a pong later than this, even on a loaded machine, means a dead client
        send_buffer_bytes=64 * 1024,
    )


class Served:
    def __init__(self, port, config, broker):
        self.port, self.config, self.broker = port, config, broker
        self.url = f"http://127.0.0.1:{port}"

    def token(self, channel="demo", user=None):
        return make_token(user, channel, key=self.config.secret_key)

    async def connect(self, channel="demo", token=None, origin=None, protocols=None, address=None, since=None):
        """A client socket; `address` is the client's address as the proxy in front reports it."""
        headers = {"Origin": origin} if origin else {}
        if address:
            headers["X-Forwarded-For"] = f"198.51.100.99, {address}"  # the proxy appends the address it saw
        query = f"channel={channel}" + (f"&since={since}" if since else "")
        request = HTTPRequest(f"ws://127.0.0.1:{self.port}/ws?{query}", headers=headers)
        if protocols is None:
            protocols = ["realtime", self.token(channel) if token is None else token]
        return await websocket_connect(request, subprotocols=protocols)


@contextlib.asynccontextmanager
async def serving(config, broker=None):
    """The real-time app on a random port in this event loop; shut down (1001) on exit."""
    broker = broker or make_broker(config)
    sockets = bind_sockets(0, "127.0.0.1")
    # As main() serves it: behind a proxy (Heroku's router) that appends the client's address to X-Forwarded-For.
    server = HTTPServer(Application(config, broker), xheaders=True, max_body_size=config.max_message_bytes + 4096)
    server.add_sockets(sockets)
    await broker.start()
    try:
        yield Served(sockets[0].getsockname()[1], config, broker)
    finally:
        await shutdown(server, broker, grace=1)
        SocketHandler.connections.clear()
        SocketHandler.listeners.clear()
        SocketHandler.clients.clear()
        PublishHandler.seen.clear()


# Deadlines in these tests are generous upper bounds on an event that normally takes milliseconds;
# only a failing test waits that long. Absence is never tested by waiting: see nothing_but().
EVENT_DEADLINE = 30


async def receive(connection, timeout=EVENT_DEADLINE):
    """The next message as a dict, or None when the server closed the socket."""
    text = await asyncio.wait_for(connection.read_message(), timeout)
    return None if text is None else json.loads(text)


async def until(condition, timeout=EVENT_DEADLINE):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def in_thread(function, *args, **kwargs):
    """Django code (publish(), a view, the ORM) in a worker thread, as a request runs, and that thread's database
    connection closed after it, as Django closes a request's: one left open would keep the test database from
    being dropped at the end of the run."""

    def call():
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of our own on a random port, so a test can stop and restart it. Like realtime_process(),
    its first start takes another port if another program bound this one meanwhile."""

    def __init__(self, tmp_path, tls=False):
        self.port, self.dir, self.process, self.tls, self.log = None, tmp_path, None, tls, None

    @property
    def url(self):
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def start(self):
        """Start it on the port it had (a restart), or on a free one."""
        restart = self.port is not None
        for attempt in range(1, 4):
            self.port = self.port if restart else free_port()
            if self.launch():
                return
            if restart or attempt == 3:
                raise RuntimeError(f"redis-server did not start:\n{self.log.read_text()}")

    def launch(self):
        """Whether it is ready; False when it exited (most often: the port is taken)."""
        command = ["redis-server", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.tls:  # TLS only, with a self-signed certificate, like Heroku Redis
            command += ["--port", "0", "--tls-port", str(self.port), "--tls-auth-clients", "no"]
            command += ["--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"]
        else:
            command += ["--port", str(self.port)]
        self.log = self.dir / f"redis-{self.port}.log"
        with self.log.open("w") as output:
            self.process = subprocess.Popen(command, cwd=self.dir, stdout=output)  # noqa: S603
        deadline = time.monotonic() + 30  # a generous bound on a start that takes milliseconds
        while "Ready to accept connections" not in self.log.read_text():
            if self.process.poll() is not None:
                return False
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.02)
        return True

    def stop(self):
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture
def redis_url(settings, transactional_db):
    """REDIS_URL from the environment (CI's Redis service), for Django and the servers alike."""
    from .. import publish as publisher

    url = os.environ.get("REDIS_URL", "")
    require(url, "Redis (REDIS_URL)")
    settings.REDIS_URL = url
    publisher._redis_client = None
    yield url
    publisher._redis_client = None


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


async def open_socket(port, channel="demo", since=None):
    """A client on `channel` of the server at `port` (resuming after event `since`), past its "subscribed" answer."""
    token = make_token(None, channel, key=settings.SECRET_KEY)
    url = f"ws://127.0.0.1:{port}/ws?channel={channel}" + (f"&since={since}" if since else "")
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


SERVER_COMMAND = [sys.executable, "-m", __package__.rsplit(".", 1)[0]]  # as the Procfile runs it


def server_environment(**variables):
    """A production-like environment for a server process: nothing inherited but PATH."""
    return {
        "PATH": os.environ["PATH"],
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "REALTIME_PUBLISH_KEY": PUBLISH_KEY,
        **variables,
    }


def process_checkout(tmp_path):
    """Where server processes run: a copy of the project as git checks it out, so a developer's .env stays out."""
    checkout = tmp_path / "checkout"
    return checkout if checkout.exists() else copy_checkout(checkout)


@contextlib.contextmanager
def realtime_process(tmp_path, **variables):
    """`python -m <project>.realtime` in a subprocess, as the Procfile runs it, once it listens.

    A port free_port() found free may be bound by another program (a parallel test run's server) before the
    server binds it. The server then exits saying so, and starts again here on another port: waiting for its
    own "on port" line, not for an answer on the port, keeps the tests from talking to that program."""
    for attempt in range(1, 4):
        port = free_port()
        log = tmp_path / f"realtime-{port}.log"
        with log.open("w") as output:
            command, cwd = [*SERVER_COMMAND, "--port", str(port)], process_checkout(tmp_path)
            process = subprocess.Popen(command, cwd=cwd, env=server_environment(**variables), stderr=output)  # noqa: S603
        deadline = time.monotonic() + 60  # a generous bound on Django's and Tornado's start on a loaded machine
        while f"Real-time server on port {port}," not in log.read_text() and process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        if process.poll() is None:
            break
        assert "cannot listen on port" in log.read_text() and attempt < 3, log.read_text()
    process.port, process.log = port, log
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def raw_websocket(port, token, receive_buffer=None):
    """A socket that does the handshake by hand, then sends and reads exactly what a test says."""
    raw = socket.socket()
    if receive_buffer:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        f"GET /ws?channel=demo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: realtime, {token}\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)  # byte by byte, so not one byte of the first frame is consumed here
    assert response.startswith(b"HTTP/1.1 101"), response
    raw.setblocking(False)
    return raw


def client_frame(opcode, payload):
    """One final frame as a client must send it: masked (RFC 6455 section 5.3)."""
    mask, length = os.urandom(4), len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def split_frames(data):
    """The complete (opcode, payload) frames at the start of `data`, and how many bytes they took.
    Server frames are unmasked."""
    found, at = [], 0
    while at + 2 <= len(data):
        opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if start + size > len(data):
                break
            length, start = int.from_bytes(data[start : start + size], "big"), start + size
        if start + length > len(data):
            break  # the rest has not arrived yet
        found.append((opcode, bytes(data[start : start + length])))
        at = start + length
    return found, at


class RawFrames:
    """Server frames read from a raw socket as they arrive. Each byte is parsed once, so reading
    a backlog of megabytes costs the same whether it comes in one recv() or in thousands.
    Like a browser, it answers the server's pings (and does not count them as frames)."""

    def __init__(self, raw):
        self.raw, self.pending, self.frames = raw, bytearray(), collections.deque()

    async def next(self, timeout=EVENT_DEADLINE):
        """The next (opcode, payload) other than a ping, or None once the server has closed TCP."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            while not self.frames:
                chunk = await asyncio.wait_for(loop.sock_recv(self.raw, 1 << 20), deadline - loop.time())
                if not chunk:
                    return None
                self.pending += chunk
                found, used = split_frames(self.pending)
                del self.pending[:used]
                self.frames.extend(found)
            opcode, payload = self.frames.popleft()
            if opcode != 0x9:
                return opcode, payload
            with contextlib.suppress(OSError):  # the server may be closing
                await loop.sock_sendall(self.raw, client_frame(0xA, payload))

    async def close_frame(self, timeout=EVENT_DEADLINE):
        """Skip frames up to the server's close frame and answer it, as browsers do (RFC 6455 section
        5.5.1); (code, reason), or None if the TCP connection ended first."""
        while (frame := await self.next(timeout)) is not None:
            opcode, payload = frame
            if opcode == 0x8:
                with contextlib.suppress(OSError):  # the server may have closed TCP already
                    await asyncio.get_running_loop().sock_sendall(self.raw, client_frame(0x8, payload[:2]))
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return code, payload[2:].decode(errors="replace")
        return None
