"""The Tornado server, in process with the embedded broker: who may connect, what any message
gets as an answer, limits, liveness, and the signed publish endpoint."""

import asyncio
import json
import logging
import struct
import time
from unittest import mock

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..protocol import event_id
from ..server import Config, SocketHandler, origin_allowed
from ..tokens import publish_signature
from .conftest import (
    PUBLISH_KEY,
    RawFrames,
    client_frame,
    raw_websocket,
    receive,
    serving,
    until,
)

EVENT = b'{"type":"message","channel":"demo","data":{"text":"hello"}}'
TEXT, BINARY, CLOSE = 0x1, 0x2, 0x8


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
        "good token, allowed host over plain HTTP",
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
            "good token, allowed host over plain HTTP": lambda: served.connect(origin="http://localhost:8000"),
            "token without the realtime subprotocol": lambda: served.connect(protocols=[served.token()]),
        }
        with pytest.raises(HTTPClientError) as refused:
            await attempts[case]()
        assert refused.value.code == 403
        assert not SocketHandler.connections


@pytest.mark.parametrize(
    "origin", [None, "https://localhost:8000", "https://www.good.example", "https://exact.example:8443"]
)
async def test_handshake_with_a_good_token_subscribes_to_the_channel(config, origin):
    async with serving(config) as served:
        connection = await served.connect("demo", origin=origin)
        assert connection.selected_subprotocol == "realtime"
        assert await receive(connection) == {"type": "subscribed", "channel": "demo"}
        assert len(SocketHandler.connections) == 1


ALLOWED = ["localhost", ".good.example", "https://exact.example:8443", "https://plain.example"]


@pytest.mark.parametrize(
    "origin, https_site, http_site",
    [
        # Host patterns (as in ALLOWED_HOSTS) match any port, over the scheme the site is served with.
        ("https://localhost", True, True),
        ("https://localhost:8000", True, True),
        ("https://good.example", True, True),
        ("https://deep.www.good.example", True, True),
        ("http://localhost:8000", False, True),
        ("http://www.good.example", False, True),
        # Full origins match exactly: scheme, host and port (a default port may be left out).
        ("https://exact.example:8443", True, True),
        ("https://exact.example", False, False),
        ("http://exact.example:8443", False, False),
        ("https://plain.example:443", True, True),
        ("http://plain.example", False, False),
        # Everything else.
        ("https://evil.example", False, False),
        ("https://localhost.evil.example", False, False),
        ("ws://localhost", False, False),
        ("null", False, False),
        ("file:///etc/passwd", False, False),
        ("https://[::1", False, False),
        ("", False, False),
        # Strings no browser sends as an Origin: refused, however a URL parser would read them.
        ("https://evil.com\\@localhost", False, False),
        ("https://evil.com@localhost", False, False),
        (" https://localhost", False, False),
        ("https://localhost ", False, False),
        ("https://localhost:0", False, False),
        ("https://localhost:65536", False, False),
        ("https://localhost:08000", False, False),
        ("https://localhost/", False, False),
        ("https://localhost?x", False, False),
        ("https://localhost#x", False, False),
        ("HTTPS://LOCALHOST", False, False),
        ("https://local\x00host", False, False),
        ("https://localhost\t", False, False),
    ],
)
def test_which_origins_may_open_a_socket(origin, https_site, http_site):
    assert origin_allowed(origin, ALLOWED) is https_site
    assert origin_allowed(origin, ALLOWED, plain_http=True) is http_site


@pytest.mark.parametrize("redirect", [True, False])
def test_plain_http_origins_follow_whether_the_site_redirects_to_https(settings, redirect):
    settings.SECURE_SSL_REDIRECT = redirect  # off by default with DEBUG=true, for http://localhost
    assert Config.read(settings).plain_http is not redirect


async def test_connections_beyond_the_cap_are_refused_with_503(config):
    async with serving(config) as served:
        for number in range(config.max_connections):
            await receive(await served.connect(address=f"203.0.113.{number}", token=served.token(user=number)))
        with pytest.raises(HTTPClientError) as refused:
            await served.connect(address="203.0.113.200", token=served.token(user=200))
        assert refused.value.code == 503


async def test_one_address_cannot_take_every_slot_whatever_its_tokens(config):
    async with serving(config) as served:
        anonymous = served.token(user=None)  # one token, reused: a token is valid for its whole lifetime
        for _ in range(config.max_per_address):
            await receive(await served.connect(token=anonymous, address="203.0.113.7"))
        for token in (anonymous, served.token(user=None), served.token(user=41)):
            with pytest.raises(HTTPClientError) as refused:
                await served.connect(token=token, address="203.0.113.7")
            assert refused.value.code == 429
        assert await receive(await served.connect(address="203.0.113.8")) == {"type": "subscribed", "channel": "demo"}


async def test_one_user_cannot_take_every_slot_from_many_addresses(config):
    async with serving(config) as served:
        token = served.token(user=42)
        sockets = [await served.connect(token=token, address=f"203.0.113.{n}") for n in range(config.max_per_user)]
        with pytest.raises(HTTPClientError) as refused:
            await served.connect(token=token, address="203.0.113.100")
        assert refused.value.code == 429
        assert await receive(await served.connect(token=served.token(user=43), address="203.0.113.100"))
        sockets[0].close()  # a slot a user frees is theirs again
        await until(lambda: len(SocketHandler.connections) == config.max_per_user)
        assert await receive(await served.connect(token=token, address="203.0.113.100"))


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


async def test_unsubscribing_stops_this_socket_and_no_other(config):
    async with serving(config) as served:
        leaving, staying = await served.connect(), await served.connect()
        await receive(leaving), await receive(staying)
        leaving.write_message(json.dumps({"type": "unsubscribe", "channel": "demo"}))
        assert await receive(leaving) == {"type": "unsubscribed", "channel": "demo"}
        SocketHandler.broadcast("demo", b'{"type":"message","channel":"demo","data":1}')
        assert await receive(staying) == {"type": "message", "channel": "demo", "data": 1}
        leaving.write_message('{"type": "ping"}')
        assert await receive(leaving) == {"type": "pong"}  # the event, had it been sent, would have come first


INVALID_CHANNEL = {"type": "error", "error": "invalid channel (1-100 characters of A-Z a-z 0-9 _ . : -)"}
UNKNOWN_TYPE = {"type": "error", "error": "unknown message type (subscribe, unsubscribe or ping)"}
NOT_JSON, BINARY_FRAMES, TOO_BIG, NO_CLOSE_FRAME = 1007, 1003, 1009, None


def text(value):
    return (TEXT, value.encode() if isinstance(value, str) else value)


# Strings a browser's JSON may hold that no valid field does, as JSON escapes (so the frame is valid UTF-8):
# lone surrogates (alone and in the shape of a token, a.b.c), NUL, non-ASCII letters, a surrogate pair.
ODD_STRINGS = {
    "a lone surrogate": "\\ud800",
    "a lone surrogate in a dotted token": "a\\ud800.b.c",
    "a lone low surrogate": "\\udfff.x",
    "NUL": "\\u0000",
    "NUL in a dotted token": "a\\u0000.b.c",
    "non-ASCII": "caf\\u00e9",
    "non-ASCII in a dotted token": "\\u65e5\\u672c.b.c",
    "an emoji": "\\ud83d\\ude00.b.c",
}


def odd_string_cases():
    """Every string field of every request, holding each of the odd strings, with its documented answer."""
    invalid_token = {"type": "error", "channel": "news", "error": "invalid token"}
    for name, odd in ODD_STRINGS.items():
        yield pytest.param(text('{"type": "' + odd + '"}'), UNKNOWN_TYPE, id=f"type: {name}")
        for kind in ("subscribe", "unsubscribe"):
            message = '{"type": "' + kind + '", "channel": "' + odd + '", "token": "x"}'
            yield pytest.param(text(message), INVALID_CHANNEL, id=f"{kind} channel: {name}")
        message = '{"type": "subscribe", "channel": "news", "token": "' + odd + '"}'
        yield pytest.param(text(message), invalid_token, id=f"token: {name}")


@pytest.mark.parametrize(
    "frame, answer",
    [
        # Not a JSON object: the client does not speak the protocol, so the socket is closed.
        pytest.param(text("{not json"), NOT_JSON, id="not JSON"),
        pytest.param(text('["a list"]'), NOT_JSON, id="a JSON array"),
        pytest.param(text('"subscribe"'), NOT_JSON, id="a JSON string"),
        pytest.param(text("null"), NOT_JSON, id="JSON null"),
        pytest.param(text("1" * 5000), NOT_JSON, id="an integer of 5000 digits"),
        pytest.param(text('{"type": 1' + "0" * 5000 + "}"), NOT_JSON, id="a field of 5000 digits"),
        # Deeper than the json module can parse (Python 3.12 gives up before 5000 levels, 3.13 before 10,000).
        pytest.param(text("[" * 30_000 + "]" * 30_000), NOT_JSON, id="30,000 nested arrays"),
        pytest.param(text('{"x": ' + '{"a":' * 10_000 + "1" + "}" * 10_001), NOT_JSON, id="a deep object"),
        pytest.param((BINARY, b'{"type": "ping"}'), BINARY_FRAMES, id="a binary frame"),
        # Tornado ends the TCP connection without a close frame (a browser sees 1006), and logs nothing at INFO.
        pytest.param(text(b'{"type": "\xff"}'), NO_CLOSE_FRAME, id="a text frame that is not UTF-8"),
        pytest.param(text('{"type": "ping", "x": "' + "y" * 70_000 + '"}'), TOO_BIG, id="over the size limit"),
        # A JSON object with the wrong fields: an error frame, and the socket stays open.
        pytest.param(text("{}"), UNKNOWN_TYPE, id="no type"),
        pytest.param(text('{"type": "publish"}'), UNKNOWN_TYPE, id="unknown type"),
        pytest.param(text('{"type": null}'), UNKNOWN_TYPE, id="type null"),
        pytest.param(text('{"type": ["subscribe"]}'), UNKNOWN_TYPE, id="type a list"),
        pytest.param(text('{"type": {"subscribe": 1}}'), UNKNOWN_TYPE, id="type an object"),
        pytest.param(text('{"type": 1e999}'), UNKNOWN_TYPE, id="type infinity"),
        pytest.param(text('{"type": NaN}'), UNKNOWN_TYPE, id="type NaN"),
        pytest.param(text('{"type": "\\ud800"}'), UNKNOWN_TYPE, id="type a lone surrogate"),
        pytest.param(text('{"type": "subscribe"}'), INVALID_CHANNEL, id="subscribe without a channel"),
        pytest.param(text('{"type": "subscribe", "channel": ["a"]}'), INVALID_CHANNEL, id="channel a list"),
        pytest.param(text('{"type": "subscribe", "channel": "no spaces"}'), INVALID_CHANNEL, id="a bad name"),
        pytest.param(text('{"type": "subscribe", "channel": "' + "x" * 101 + '"}'), INVALID_CHANNEL, id="a long name"),
        pytest.param(
            text('{"type": "subscribe", "channel": "news", "token": ["t"]}'),
            {"type": "error", "channel": "news", "error": "invalid token"},
            id="token a list",
        ),
        pytest.param(
            text('{"type": "subscribe", "channel": "news", "token": null}'),
            {"type": "error", "channel": "news", "error": "invalid token"},
            id="token null",
        ),
        pytest.param(text('{"type": "unsubscribe", "channel": ["a"]}'), INVALID_CHANNEL, id="unsubscribe a list"),
        pytest.param(text('{"type": "unsubscribe", "channel": {"a": 1}}'), INVALID_CHANNEL, id="an object"),
        pytest.param(text('{"type": "unsubscribe", "channel": 12345678901234567890}'), INVALID_CHANNEL, id="big int"),
        pytest.param(text('{"type": "unsubscribe"}'), INVALID_CHANNEL, id="unsubscribe without a channel"),
        # Well formed.
        pytest.param(
            text('{"type": "unsubscribe", "channel": "never-joined"}'),
            {"type": "unsubscribed", "channel": "never-joined"},
            id="unsubscribe from a channel never joined",
        ),
        pytest.param(text('{"type": "ping", "extra": [[[1]]]}'), {"type": "pong"}, id="ping with extra fields"),
        *odd_string_cases(),
    ],
)
async def test_every_message_gets_a_documented_answer_and_never_a_traceback(config, caplog, frame, answer):
    config.max_message_bytes = 64 * 1024  # room for deep nesting
    caplog.set_level(logging.INFO)
    async with serving(config) as served:
        raw = await asyncio.to_thread(raw_websocket, served.port, served.token())
        loop, frames = asyncio.get_running_loop(), RawFrames(raw)
        assert await frames.next() == (TEXT, b'{"type":"subscribed","channel":"demo"}')
        await loop.sock_sendall(raw, client_frame(*frame))
        if answer is NO_CLOSE_FRAME:
            assert await frames.close_frame() is None
            await until(lambda: not SocketHandler.connections)
        elif isinstance(answer, int):  # a close code
            assert (await frames.close_frame())[0] == answer
            await until(lambda: not SocketHandler.connections)
        else:
            opcode, payload = await frames.next()
            assert (opcode, json.loads(payload)) == (TEXT, answer)
            await loop.sock_sendall(raw, client_frame(TEXT, b'{"type": "ping"}'))
            assert await frames.next() == (TEXT, b'{"type":"pong"}')  # still open and answering
        raw.close()
    problems = [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert not problems, [record.getMessage() for record in problems]
    assert "Traceback" not in caplog.text and "Uncaught exception" not in caplog.text


async def test_a_flood_beyond_the_rate_limit_is_closed_with_1008(config):
    async with serving(config) as served:
        connection = await served.connect()
        await receive(connection)
        for _ in range(30):
            connection.write_message('{"type": "ping"}')
        while (message := await receive(connection)) is not None:
            assert message == {"type": "pong"}  # answers within the rate limit, then the close
        assert connection.close_code == 1008
        await until(lambda: not SocketHandler.connections)


@pytest.mark.parametrize(
    "payload, answer",
    [
        # Tornado echoes the code of a close frame, whatever it is: RFC 6455 section 7.4 would fail the
        # connection with 1002 for the codes a peer may not send (Autobahn|Testsuite 7.9.x), which Tornado
        # offers no public way to do. The add-on lives with Tornado's answer; this pins it.
        *[
            pytest.param(struct.pack("!H", code), code, id=f"code {code}")
            for code in [1000, 1001, 1011, 3000, 4999, 0, 1005, 1006, 2999, 65535]
        ],
        pytest.param(b"", None, id="no code"),
        pytest.param(b"\x03", None, id="a one-byte payload"),
        # A reason that is not UTF-8: Tornado closes TCP without a close frame (the browser sees 1006).
        pytest.param(struct.pack("!H", 1000) + b"\xff\xfe", "no close frame", id="reason not UTF-8"),
    ],
)
async def test_the_closing_handshake_is_tornados_and_never_logs_a_traceback(config, caplog, payload, answer):
    caplog.set_level(logging.INFO)  # the default LOG_LEVEL; Tornado describes malformed frames at DEBUG only
    async with serving(config) as served:
        raw = await asyncio.to_thread(raw_websocket, served.port, served.token())
        frames = RawFrames(raw)
        await frames.next()  # subscribed
        await asyncio.get_running_loop().sock_sendall(raw, client_frame(CLOSE, payload))
        closed = await frames.close_frame()
        assert (closed[0] if closed else "no close frame") == answer
        assert await frames.next() is None  # and the server closed the TCP connection
        await until(lambda: not SocketHandler.connections)
        raw.close()
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_a_silent_client_is_reaped_by_the_ping_timeout(config):
    async with serving(config) as served:
        raw = await asyncio.to_thread(raw_websocket, served.port, served.token())  # never answers pings
        await until(lambda: len(SocketHandler.connections) == 1)
        await until(lambda: not SocketHandler.connections)  # the close frame, then 5 s for the peer's answer
        raw.close()


async def test_clients_that_answer_pings_stay_connected_past_the_ping_timeout(config):
    async with serving(config) as served:
        connections = [await served.connect() for _ in range(3)]
        for connection in connections:
            await receive(connection)
        rounds = 3  # each round is a ping and ping_timeout seconds without the answer being late
        with mock.patch.object(SocketHandler, "on_pong", autospec=True, return_value=None) as pong:
            await until(lambda: pong.call_count >= rounds * len(connections))
        assert len(SocketHandler.connections) == 3
        SocketHandler.broadcast("demo", b'{"type":"message","channel":"demo","data":1}')
        for connection in connections:
            assert (await receive(connection))["data"] == 1


async def test_a_client_that_cannot_keep_up_is_closed_with_1013_and_others_are_not(config):
    config.ping_interval = 0  # a client that does not read does not answer pings either: test the buffer alone
    async with serving(config) as served:
        slow = await asyncio.to_thread(raw_websocket, served.port, served.token(), 4096)  # stops reading
        fast = await served.connect()
        await receive(fast)
        await until(lambda: len(SocketHandler.connections) == 2)
        event = b'{"type":"message","channel":"demo","data":"' + b"x" * 900 + b'"}'
        received, burst = 0, 20  # a burst is what waits for a socket before the loop runs again: under 64 KiB
        while received < 4000:  # about 4 MB to the slow socket: more than any kernel buffer plus 64 KiB
            for _ in range(burst):
                SocketHandler.broadcast("demo", event)
            for _ in range(burst):  # the fast client drains as we go
                assert (await receive(fast))["type"] == "message"
            received += burst
        code, reason = await RawFrames(slow).close_frame()  # after the backlog the socket could take
        assert (code, reason) == (1013, "too slow; reconnect and re-sync")
        slow.close()
        await until(lambda: len(SocketHandler.connections) == 1)  # the fast one stays


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
        message = await receive(connection)
        assert event_id(message.pop("id")) is not None  # every event has its ID
        assert message == {"type": "message", "channel": "demo", "data": {"text": "hello"}}


@pytest.mark.parametrize(
    "kwargs, status",
    [
        pytest.param({"signature": "0" * 64}, 403, id="bad signature"),
        pytest.param({"key": "another-key"}, 403, id="signed with another key"),
        pytest.param({"seconds_from_now": -120}, 403, id="stale timestamp"),
        pytest.param({"seconds_from_now": 120}, 403, id="timestamp from the future"),
        pytest.param({"timestamp": "yesterday"}, 403, id="timestamp not a number"),
        pytest.param({"body": EVENT.replace(b"hello", b"x" * 2000)}, 413, id="oversized"),
        pytest.param({"body": b'{"channel": "bad channel!"}'}, 400, id="not an event"),
        pytest.param({"method": "GET"}, 405, id="wrong method"),
    ],
)
async def test_a_bad_publish_is_refused_and_delivers_nothing(config, kwargs, status):
    if "seconds_from_now" in kwargs:  # now, when the test runs: not when it was collected
        kwargs["timestamp"] = int(time.time()) + kwargs.pop("seconds_from_now")
    async with serving(config) as served:
        connection = await served.connect()
        await receive(connection)
        body = kwargs.pop("body", EVENT)
        assert await post(served, body, **kwargs) == status
        assert await post(served, EVENT.replace(b"hello", b"good")) == 204
        assert (await receive(connection))["data"] == {"text": "good"}  # the first, and only, event to arrive


async def test_a_replayed_publish_is_refused(config):
    async with serving(config) as served:
        timestamp = int(time.time())
        assert await post(served, EVENT, timestamp=timestamp) == 204
        assert await post(served, EVENT, timestamp=timestamp) == 403


async def test_publishing_is_off_without_a_publish_key(config):
    config.publish_key = ""
    async with serving(config) as served:
        assert await post(served, EVENT, key="") == 403


async def test_healthz_reports_the_broker_and_no_operational_numbers(config):
    async with serving(config) as served:
        await receive(await served.connect())
        response = await AsyncHTTPClient().fetch(f"{served.url}/healthz")
        assert json.loads(response.body) == {"status": "ok", "broker": "embedded"}


@pytest.mark.parametrize("path", ["/healthz", "/publish", "/ws?channel=demo", "/nowhere"])
async def test_no_answer_names_the_server_or_its_version(config, path):
    async with serving(config) as served:
        response = await AsyncHTTPClient().fetch(f"{served.url}{path}", raise_error=False)
        assert response.code in (200, 400, 403, 404, 405)
        assert "Server" not in response.headers, response.headers.get("Server")


@pytest.mark.parametrize("token", ["a\xff.b.c", "\xe9t\xe9.b.c", "a\x80", "a.b.c" * 200])
async def test_a_handshake_with_a_token_of_any_shape_is_refused_without_a_traceback(config, caplog, token):
    caplog.set_level(logging.INFO)
    async with serving(config) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(
            b"GET /ws?channel=demo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Protocol: realtime, " + token.encode("latin-1") + b"\r\n\r\n"
        )
        status = await asyncio.wait_for(reader.readline(), 30)
        assert status.startswith(b"HTTP/1.1 403"), status
        writer.close()
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_shutdown_closes_every_socket_with_1001(config):
    async with serving(config) as served:
        connections = [await served.connect() for _ in range(3)]
        for connection in connections:
            await receive(connection)
    for connection in connections:
        assert await receive(connection) is None
        assert connection.close_code == 1001
