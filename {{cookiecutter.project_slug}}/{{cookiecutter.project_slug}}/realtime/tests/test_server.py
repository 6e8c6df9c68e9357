"""The Tornado server, in process with the embedded broker: who may connect, limits, liveness."""

import asyncio
import base64
import json
import os
import socket
import struct
import time
from unittest import mock

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..server import SocketHandler, text_frame
from ..tokens import publish_signature
from .conftest import PUBLISH_KEY, receive, serving, until

EVENT = b'{"type":"message","channel":"demo","data":{"text":"hello"}}'


def tampered(token):
    return token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")


def expired(served):
    with mock.patch("django.core.signing.time.time", return_value=time.time() - served.config.token_max_age - 5):
        return served.token()


@pytest.mark.parametrize(
    "case",
    [
        "token for another channel",
        "tampered token",
        "expired token",
        "no token, no origin",
        "good token, foreign origin",
        "good token, origin that only ends like an allowed one",
        "token without the realtime subprotocol",
    ],
)
async def test_handshake_is_refused(config, case):
    async with serving(config) as served:
        attempts = {
            "token for another channel": lambda: served.connect("demo", token=served.token("other")),
            "tampered token": lambda: served.connect(token=tampered(served.token())),
            "expired token": lambda: served.connect(token=expired(served)),
            "no token, no origin": lambda: served.connect(protocols=[]),
            "good token, foreign origin": lambda: served.connect(origin="https://evil.example"),
            "good token, origin that only ends like an allowed one": lambda: served.connect(
                origin="https://evilgood.example"
            ),
            "token without the realtime subprotocol": lambda: served.connect(protocols=[served.token()]),
        }
        with pytest.raises(HTTPClientError) as refused:
            await attempts[case]()
        assert refused.value.code == 403
        assert not SocketHandler.connections


@pytest.mark.parametrize(
    "origin", [None, "http://localhost:8000", "https://www.good.example", "https://exact.example:8443"]
)
async def test_handshake_with_a_good_token_subscribes_to_the_channel(config, origin):
    async with serving(config) as served:
        connection = await served.connect("demo", origin=origin)
        assert connection.selected_subprotocol == "realtime"
        assert await receive(connection) == {"type": "subscribed", "channel": "demo"}
        assert len(SocketHandler.connections) == 1


async def test_connections_beyond_the_cap_are_refused_with_503(config):
    async with serving(config) as served:
        for _ in range(config.max_connections):
            await receive(await served.connect())
        with pytest.raises(HTTPClientError) as refused:
            await served.connect()
        assert refused.value.code == 503


async def test_more_channels_need_a_token_each(config):
    async with serving(config) as served:
        connection = await served.connect("demo")
        await receive(connection)
        connection.write_message(json.dumps({"type": "subscribe", "channel": "news", "token": served.token("demo")}))
        assert await receive(connection) == {"type": "error", "channel": "news", "error": "invalid token"}
        connection.write_message(json.dumps({"type": "subscribe", "channel": "news", "token": served.token("news")}))
        assert await receive(connection) == {"type": "subscribed", "channel": "news"}
        SocketHandler.broadcast("news", b'{"type":"message","channel":"news","data":1}')
        assert await receive(connection) == {"type": "message", "channel": "news", "data": 1}


@pytest.mark.parametrize(
    "send, code",
    [
        pytest.param(lambda c: c.write_message("x" * 2048), 1009, id="oversized message"),
        pytest.param(lambda c: c.write_message("{not json"), 1007, id="malformed JSON"),
        pytest.param(lambda c: c.write_message('["a list"]'), 1007, id="JSON that is not an object"),
        pytest.param(
            lambda c: [c.write_message('{"type": "ping"}') for _ in range(30)], 1008, id="flood beyond rate limit"
        ),
    ],
)
async def test_misbehaving_clients_are_closed_with_a_code(config, send, code):
    async with serving(config) as served:
        connection = await served.connect()
        await receive(connection)
        send(connection)
        while (message := await receive(connection)) is not None:
            assert message == {"type": "pong"}  # answers within the rate limit, then the close
        assert connection.close_code == code
        await until(lambda: not SocketHandler.connections)


def raw_websocket(port, token, receive_buffer=None):
    """A socket that does the handshake by hand and then reads only when told to."""
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
        response += raw.recv(1)
    assert response.startswith(b"HTTP/1.1 101"), response
    return raw


def frames(data):
    """Split raw server bytes into complete (opcode, payload) frames; server frames are unmasked."""
    found, at = [], 0
    while at + 10 <= len(data) or (at + 2 <= len(data) and data[at + 1] & 0x7F < 126):
        opcode, length, start = data[at] & 0x0F, data[at + 1] & 0x7F, at + 2
        if length == 126:
            (length,), start = struct.unpack("!H", data[at + 2 : at + 4]), at + 4
        elif length == 127:
            (length,), start = struct.unpack("!Q", data[at + 2 : at + 10]), at + 10
        if start + length > len(data):
            break  # the rest has not arrived yet
        found.append((opcode, data[start : start + length]))
        at = start + length
    return found


async def test_a_silent_client_is_reaped_by_the_ping_timeout(config):
    async with serving(config) as served:
        raw = await asyncio.to_thread(raw_websocket, served.port, served.token())  # never answers pings
        await until(lambda: len(SocketHandler.connections) == 1)
        started = time.monotonic()
        await until(lambda: not SocketHandler.connections, timeout=10)
        # ping interval + timeout, then Tornado's 5 s wait for a closing handshake that never comes
        assert time.monotonic() - started < config.ping_interval + config.ping_timeout + 5.5
        raw.close()


async def test_clients_that_answer_pings_stay_connected_and_one_task_pings_them_all(config):
    async with serving(config) as served:
        connections = [await served.connect() for _ in range(3)]
        for connection in connections:
            await receive(connection)
        tasks = len(asyncio.all_tasks())
        await asyncio.sleep(4 * (config.ping_interval + config.ping_timeout))  # several ping rounds
        assert len(SocketHandler.connections) == 3
        SocketHandler.broadcast("demo", b'{"type":"message","channel":"demo","data":1}')
        for connection in connections:
            assert (await receive(connection))["data"] == 1
        assert len(asyncio.all_tasks()) == tasks  # no task per socket was started meanwhile
        assert not SocketHandler.pinger.done()


async def test_a_client_that_cannot_keep_up_is_closed_with_1013_and_others_are_not(config):
    config.ping_interval = 0  # a client that does not read does not answer pings either: test the buffer alone
    async with serving(config) as served:
        slow = await asyncio.to_thread(raw_websocket, served.port, served.token(), 4096)  # stops reading
        fast = await served.connect()
        await receive(fast)
        await until(lambda: len(SocketHandler.connections) == 2)
        event = b'{"type":"message","channel":"demo","data":"' + b"x" * 900 + b'"}'
        received = 0
        for burst in range(40):  # about 4 MB to the slow socket: more than any kernel buffer plus 64 KiB
            for _ in range(100):
                SocketHandler.broadcast("demo", event)
            while received < burst * 100 + 100:  # the fast client drains as we go
                assert (await receive(fast))["type"] == "message"
                received += 1
        assert received == 4000
        slow.setblocking(False)
        data = b""
        deadline = time.monotonic() + 5
        while not any(opcode == 0x8 for opcode, _ in frames(data)) and time.monotonic() < deadline:
            try:
                chunk = slow.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.01)
                continue
            if not chunk:
                break
            data += chunk
        closing = [payload for opcode, payload in frames(data) if opcode == 0x8]
        assert closing and struct.unpack("!H", closing[0][:2])[0] == 1013
        slow.close()
        await until(lambda: len(SocketHandler.connections) == 1)  # the fast one stays


def test_a_broadcast_frame_is_a_valid_websocket_text_frame():
    for size in (0, 125, 126, 65535, 65536):
        payload = b"y" * size
        assert frames(text_frame(payload)) == [(0x1, payload)]


async def post(served, body, timestamp=None, signature=None, method="POST", key=PUBLISH_KEY):
    timestamp = str(int(time.time())) if timestamp is None else str(timestamp)
    headers = {
        "X-Realtime-Timestamp": timestamp,
        "X-Realtime-Signature": signature or publish_signature(timestamp, body, key=key),
    }
    response = await AsyncHTTPClient().fetch(
        f"{served.url}/publish",
        method=method,
        headers=headers,
        body=body if method == "POST" else None,
        raise_error=False,
    )
    return response.code


async def test_a_signed_publish_reaches_the_sockets(config):
    async with serving(config) as served:
        connection = await served.connect()
        await receive(connection)
        assert await post(served, EVENT) == 204
        assert await receive(connection) == {"type": "message", "channel": "demo", "data": {"text": "hello"}}


@pytest.mark.parametrize(
    "kwargs, status",
    [
        pytest.param({"signature": "0" * 64}, 403, id="bad signature"),
        pytest.param({"key": "another-key"}, 403, id="signed with another key"),
        pytest.param({"timestamp": int(time.time()) - 120}, 403, id="stale timestamp"),
        pytest.param({"timestamp": int(time.time()) + 120}, 403, id="timestamp from the future"),
        pytest.param({"timestamp": "yesterday"}, 403, id="timestamp not a number"),
        pytest.param({"body": EVENT.replace(b"hello", b"x" * 2000)}, 413, id="oversized"),
        pytest.param({"body": b'{"channel": "bad channel!"}'}, 400, id="not an event"),
        pytest.param({"method": "GET"}, 405, id="wrong method"),
    ],
)
async def test_a_bad_publish_is_refused_and_delivers_nothing(config, kwargs, status):
    async with serving(config) as served:
        connection = await served.connect()
        await receive(connection)
        body = kwargs.pop("body", EVENT)
        assert await post(served, body, **kwargs) == status
        with pytest.raises(asyncio.TimeoutError):
            await receive(connection, timeout=0.3)


async def test_a_replayed_publish_is_refused(config):
    async with serving(config) as served:
        timestamp = int(time.time())
        assert await post(served, EVENT, timestamp=timestamp) == 204
        assert await post(served, EVENT, timestamp=timestamp) == 403


async def test_publishing_is_off_without_a_publish_key(config):
    config.publish_key = ""
    async with serving(config) as served:
        assert await post(served, EVENT, key="") == 403


async def test_healthz_reports_the_broker(config):
    async with serving(config) as served:
        await receive(await served.connect())
        response = await AsyncHTTPClient().fetch(f"{served.url}/healthz")
        assert json.loads(response.body) == {"status": "ok", "broker": "embedded", "connections": 1}


async def test_shutdown_closes_every_socket_with_1001(config):
    async with serving(config) as served:
        connections = [await served.connect() for _ in range(3)]
        for connection in connections:
            await receive(connection)
    for connection in connections:
        assert await receive(connection) is None
        assert connection.close_code == 1001
