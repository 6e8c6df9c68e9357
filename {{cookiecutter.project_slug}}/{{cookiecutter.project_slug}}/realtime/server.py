"""
The real-time server: a small Tornado process that holds the browsers' WebSockets.

Django never writes to a socket. It publishes an event (publish.py); the broker hands
it to every Tornado process, and each process writes it to its own sockets on that
channel:

    browser <-WebSocket-> Tornado process (any number) <-Redis pub/sub- Django publish()

Without REDIS_URL one process works alone and Django POSTs signed events to /publish.
Run it with `python -m {{ cookiecutter.project_slug }}.realtime`. It reads like Tornado's chat demo: an Application,
a handler whose class holds the open connections, and main().

Protocol, JSON text frames. Connect to /ws?channel=NAME offering the subprotocols
["realtime", TOKEN] (a header, so tokens stay out of URLs and access logs). Then:
    browser -> {"type": "subscribe", "channel": NAME, "token": TOKEN} | {"type": "unsubscribe", ...}
    server  -> {"type": "subscribed", "channel": NAME}
               {"type": "message", "channel": NAME, "data": ...}
               {"type": "resync"}  events may have been lost: fetch the current state again
               {"type": "error", "error": TEXT}
Close codes: 1001 server going away, 1007 malformed JSON, 1008 rate limit,
1009 message too big, 1013 too slow to keep up (reconnect and re-sync).

https://www.tornadoweb.org/en/stable/websocket.html
"""

import asyncio
import contextlib
import hmac
import json
import logging
import logging.config
import random
import signal
import struct
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import tornado.web
import tornado.websocket
from django.core import signing
from django.http.request import validate_host
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from tornado.iostream import StreamBufferFullError, StreamClosedError

from .publish import REDIS_PREFIX
from .tokens import check_token, publish_signature, valid_channel

logger = logging.getLogger(__name__)

PROTOCOL = "realtime"
MAX_CHANNELS_PER_SOCKET = 20
PUBLISH_FRESH_SECONDS = 30  # a signed publish older (or newer) than this is refused
CONTROL = "~control"  # always subscribed, so the listener always has a connection; not a valid channel name
BACKOFF_MIN, BACKOFF_MAX = 0.5, 10.0


@dataclass
class Config:
    """Everything the server needs; from_django_settings() reads it from settings.py."""

    secret_key: str
    publish_key: str = ""
    redis_url: str = ""
    redis_options: dict = field(default_factory=dict)
    # Host patterns as in ALLOWED_HOSTS ("example.com", ".example.com") or full origins.
    allowed_origins: list = field(default_factory=lambda: ["localhost", "127.0.0.1"])
    token_max_age: int = 60
    max_message_bytes: int = 64 * 1024
    rate_limit: float = 20  # messages per second from one browser, in bursts of up to twice that
    max_connections: int = 10_000
    ping_interval: float = 20  # Heroku's router drops a socket after 55 s of silence
    ping_timeout: float = 20
    send_buffer_bytes: int = 256 * 1024

    @classmethod
    def from_django_settings(cls):
        from django.conf import settings

        return cls(
            secret_key=settings.SECRET_KEY,
            publish_key=settings.REALTIME_PUBLISH_KEY,
            redis_url=settings.REDIS_URL,
            redis_options=settings.REDIS_OPTIONS,
            allowed_origins=settings.REALTIME_ALLOWED_ORIGINS,
            token_max_age=settings.REALTIME_TOKEN_MAX_AGE,
            max_message_bytes=settings.REALTIME_MAX_MESSAGE_BYTES,
            rate_limit=settings.REALTIME_RATE_LIMIT,
            max_connections=settings.REALTIME_MAX_CONNECTIONS,
            ping_interval=settings.REALTIME_PING_INTERVAL,
            ping_timeout=settings.REALTIME_PING_TIMEOUT,
            send_buffer_bytes=settings.REALTIME_SEND_BUFFER_BYTES,
        )


def origin_allowed(origin, allowed):
    if origin in allowed:
        return True
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return False
    if not host:  # e.g. "null" from a sandboxed page
        return False
    host = f"[{host}]" if ":" in host else host
    return validate_host(host, [pattern for pattern in allowed if "://" not in pattern])


def text_frame(payload):
    """One final, unmasked WebSocket text frame (RFC 6455 section 5.2).

    Built once per event and written to every socket as is: encoding per socket
    (Tornado's write_message) costs a copy and a task for each one.
    """
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x81, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def json_frame(message):
    return text_frame(json.dumps(message, separators=(",", ":")).encode())


class RateLimit:
    """A token bucket: `rate` messages per second on average, bursts of twice that."""

    def __init__(self, rate):
        self.rate, self.capacity = rate, 2 * rate
        self.tokens, self.updated = self.capacity, time.monotonic()

    def allow(self):
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class SocketHandler(tornado.websocket.WebSocketHandler):
    """One browser. The class attributes are this process's shared state."""

    connections = set()  # every open socket
    listeners = defaultdict(set)  # channel -> sockets subscribed to it
    pinger = None  # the one task that pings them all (keep_alive)

    def initialize(self, config, broker):
        self.config, self.broker = config, broker
        self.channels = set()

    async def get(self, *args, **kwargs):
        """The handshake: check origin, token and capacity before upgrading."""
        # Tornado lets a request without Origin through (non-browser clients) and skips
        # check_origin() for some same-origin cases, so the policy lives here, whole.
        origin = self.request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, self.config.allowed_origins):
            return self.refuse(403, "origin not allowed")
        offered = [value.strip() for value in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        token = offered[1] if len(offered) == 2 and offered[0] == PROTOCOL else ""
        self.first_channel = self.get_query_argument("channel", "")
        if not self.token_is_valid(token, self.first_channel):
            return self.refuse(403, "missing, expired or invalid token")
        if len(self.connections) >= self.config.max_connections:
            return self.refuse(503, "too many connections")
        await super().get(*args, **kwargs)

    def refuse(self, status, reason):
        logger.info("Refused a socket from %s: %s", self.request.remote_ip, reason)
        self.set_status(status)
        self.finish(reason)

    def token_is_valid(self, token, channel):
        if not (isinstance(token, str) and valid_channel(channel)):
            return False
        try:
            check_token(token, channel, key=self.config.secret_key, max_age=self.config.token_max_age)
        except signing.BadSignature:
            return False
        return True

    def check_origin(self, origin):
        return True  # get() has already applied the allowlist

    def select_subprotocol(self, subprotocols):
        return PROTOCOL

    async def open(self):
        self.connections.add(self)
        # Bytes that may wait for a slow socket; beyond this send() closes it instead.
        self.ws_connection.stream.max_write_buffer_size = self.config.send_buffer_bytes
        self.rate_limit = RateLimit(self.config.rate_limit)
        self.heard = time.monotonic()
        if self.config.ping_interval > 0 and (self.pinger is None or self.pinger.done()):
            SocketHandler.pinger = asyncio.create_task(self.keep_alive(self.config))
        await self.join(self.first_channel)

    def on_pong(self, data):
        self.heard = time.monotonic()

    @classmethod
    async def keep_alive(cls, config):
        """Ping every socket each ping_interval; close those that stay silent for ping_timeout.

        One task for the whole process: Tornado's own websocket_ping_interval runs a task
        per socket, which cost 2.7 KB of memory per socket in the template's benchmark.
        """
        next_ping = time.monotonic() + config.ping_interval
        while cls.connections:
            await asyncio.sleep(next_ping - time.monotonic())
            pinged_at, sockets = time.monotonic(), list(cls.connections)
            next_ping = pinged_at + config.ping_interval
            for socket in sockets:
                with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                    socket.ping()
            await asyncio.sleep(config.ping_timeout)
            for socket in sockets:
                if socket.heard < pinged_at and socket in cls.connections:
                    socket.close(reason="ping timed out")

    async def on_message(self, message):
        self.heard = time.monotonic()
        if not self.rate_limit.allow():
            return self.close(1008, "rate limit exceeded")
        try:
            request = json.loads(message)
            kind, channel = request["type"], request.get("channel")
        except (ValueError, TypeError, KeyError, AttributeError):
            return self.close(1007, "malformed JSON")
        if kind == "subscribe":
            if not self.token_is_valid(request.get("token"), channel):
                return self.send(json_frame({"type": "error", "channel": channel, "error": "invalid token"}))
            await self.join(channel)
        elif kind == "unsubscribe" and channel in self.channels:
            self.leave(channel)
        elif kind == "ping":
            self.send(json_frame({"type": "pong"}))
        else:
            self.send(json_frame({"type": "error", "error": "unknown message type"}))

    def on_close(self):
        self.connections.discard(self)
        for channel in list(self.channels):
            self.leave(channel)

    async def join(self, channel):
        if channel not in self.channels:
            if len(self.channels) >= MAX_CHANNELS_PER_SOCKET:
                return self.send(json_frame({"type": "error", "channel": channel, "error": "too many channels"}))
            self.channels.add(channel)
            self.listeners[channel].add(self)
            await self.broker.subscribe(channel)
        self.send(json_frame({"type": "subscribed", "channel": channel}))

    def leave(self, channel):
        self.channels.discard(channel)
        self.listeners[channel].discard(self)
        if not self.listeners[channel]:
            del self.listeners[channel]
            self.broker.unsubscribe(channel)

    def send(self, frame):
        """Queue a pre-built frame; close this socket if its send buffer is already full."""
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        stream = self.ws_connection.stream
        if not stream.writing():
            # Nothing queued, so write straight to the socket: stream.write() alone costs a
            # Future and a callback per socket per event, half the CPU of a broadcast.
            try:
                sent = stream.socket.send(frame)
            except OSError:  # full (BlockingIOError) or broken: let stream.write() deal with it
                sent = 0
            if sent == len(frame):
                return
            frame = frame[sent:]
        try:
            stream.write(frame)  # Tornado reads the Future's error itself if the socket closes
        except StreamBufferFullError:
            # Buffering more would let one slow phone grow the process without limit.
            logger.info("Closing a socket that cannot keep up (%d bytes waiting)", stream.max_write_buffer_size)
            stream.max_write_buffer_size = None  # room for the close frame behind the backlog
            self.close(1013, "too slow; reconnect and re-sync")
        except StreamClosedError:
            pass

    @classmethod
    def broadcast(cls, channel, event):
        """Write one event to every socket on `channel` in this process."""
        sockets = cls.listeners.get(channel)
        if sockets:
            frame = text_frame(event)
            for socket in list(sockets):
                socket.send(frame)

    @classmethod
    def resync_all(cls):
        frame = json_frame({"type": "resync"})
        for socket in list(cls.connections):
            socket.send(frame)

    @classmethod
    def close_all(cls, code, reason):
        for socket in list(cls.connections):
            socket.close(code, reason)


class PublishHandler(tornado.web.RequestHandler):
    """Where Django POSTs events when there is no Redis: signed, fresh, used once, small."""

    seen = {}  # signature -> time after which it would be refused as stale anyway

    def initialize(self, config, broker):
        self.config, self.broker = config, broker

    async def post(self):
        body = self.request.body
        if not self.config.publish_key:
            raise tornado.web.HTTPError(403, "REALTIME_PUBLISH_KEY is not set")
        if len(body) > self.config.max_message_bytes:
            raise tornado.web.HTTPError(413)
        timestamp = self.request.headers.get("X-Realtime-Timestamp", "")
        signature = self.request.headers.get("X-Realtime-Signature", "")
        now = time.time()
        if not timestamp.isdigit() or abs(now - int(timestamp)) > PUBLISH_FRESH_SECONDS:
            raise tornado.web.HTTPError(403, "stale or missing timestamp")
        expected = publish_signature(timestamp, body, key=self.config.publish_key)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise tornado.web.HTTPError(403, "bad signature")
        for old in [old for old, until in self.seen.items() if until < now]:
            del self.seen[old]
        if signature in self.seen:
            raise tornado.web.HTTPError(403, "replayed")
        self.seen[signature] = int(timestamp) + PUBLISH_FRESH_SECONDS
        try:
            event = json.loads(body)
            channel = event["channel"]
        except (ValueError, TypeError, KeyError):
            raise tornado.web.HTTPError(400, "body is not an event") from None
        if event.get("type") != "message" or not valid_channel(channel):
            raise tornado.web.HTTPError(400, "body is not an event")
        await self.broker.publish(channel, body)
        self.set_status(204)


class HealthHandler(tornado.web.RequestHandler):
    """200 while the broker is usable, 503 while it is reconnecting."""

    def initialize(self, config, broker):
        self.broker = broker

    def get(self):
        healthy = self.broker.state in ("connected", "embedded")
        self.set_status(200 if healthy else 503)
        self.set_header("Cache-Control", "no-store")
        status = "ok" if healthy else "error"
        self.finish({"status": status, "broker": self.broker.state, "connections": len(SocketHandler.connections)})


class LocalBroker:
    """No Redis: this process is the only one, so publishing is delivering."""

    state = "embedded"

    def __init__(self, deliver):
        self.deliver = deliver

    async def start(self):
        pass

    async def stop(self):
        pass

    async def subscribe(self, channel):
        pass

    def unsubscribe(self, channel):
        pass

    async def publish(self, channel, event):
        self.deliver(channel, event)


class RedisBroker:
    """Redis pub/sub with ONE subscription per channel per process, however many sockets listen.

    A supervised listener owns the subscribing connection. When Redis goes away it
    reconnects with backoff and jitter, subscribes again, and asks every browser to
    re-sync, because events published meanwhile are gone: pub/sub is at-most-once.
    """

    def __init__(self, url, options, deliver, resync, max_message_bytes=64 * 1024):
        # retry=0: redis-py would otherwise reconnect quietly (losing events unseen) and,
        # after a longer outage, end listen() for good. The supervisor below does it instead.
        self.redis = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, health_check_interval=15, **options
        )
        self.deliver, self.resync, self.max_message_bytes = deliver, resync, max_message_bytes
        self.confirmed = {}  # channel -> Future, done when Redis confirms the subscription
        self.state = "connecting"
        self.waiting_for = set()  # subscriptions sent but not yet confirmed since the last (re)connect
        self.pubsub = None
        self.listener = None
        self.background = set()  # keeps fire-and-forget tasks referenced until they finish

    async def start(self):
        self.listener = asyncio.create_task(self.listen_forever())

    async def stop(self):
        if self.listener:
            self.listener.cancel()
            await asyncio.gather(self.listener, return_exceptions=True)
        await self.redis.aclose()

    async def subscribe(self, channel):
        """Wait (at most 5 s) until this process receives `channel`'s events."""
        if channel not in self.confirmed:
            self.confirmed[channel] = asyncio.get_running_loop().create_future()
            if self.state == "connected":
                # On failure the listener notices too, reconnects and subscribes again.
                with contextlib.suppress(aioredis.RedisError, OSError):
                    await self.pubsub.subscribe(REDIS_PREFIX + channel)
        # Redis is down (or the socket left meanwhile): the browser gets a resync once it is back.
        with contextlib.suppress(TimeoutError, KeyError):
            await asyncio.wait_for(asyncio.shield(self.confirmed[channel]), 5)

    def unsubscribe(self, channel):
        self.confirmed.pop(channel, None)
        self.waiting_for.discard(channel)
        if self.state == "connected":
            task = asyncio.ensure_future(self.pubsub.unsubscribe(REDIS_PREFIX + channel))
            self.background.add(task)
            task.add_done_callback(self.finished)

    def finished(self, task):
        self.background.discard(task)
        if not task.cancelled():
            task.exception()  # a failed unsubscribe is harmless: a reconnect starts clean

    async def publish(self, channel, event):
        await self.redis.publish(REDIS_PREFIX + channel, event)

    async def listen_forever(self):
        delay, reconnecting, handled = BACKOFF_MIN, False, 0
        while True:
            self.pubsub = self.redis.pubsub()
            try:
                loop = asyncio.get_running_loop()
                for channel in self.confirmed:  # every subscription must be confirmed again
                    self.confirmed[channel] = loop.create_future()
                sent = set(self.confirmed)
                await self.pubsub.subscribe(REDIS_PREFIX + CONTROL, *(REDIS_PREFIX + channel for channel in sent))
                self.state = "connected"
                if late := set(self.confirmed) - sent:  # sockets joined while we were subscribing
                    await self.pubsub.subscribe(*(REDIS_PREFIX + channel for channel in late))
                self.waiting_for = set(self.confirmed) | {CONTROL}
                while True:
                    message = await self.pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.handle(message)
                        handled += 1
                        if handled % 16 == 0:
                            # In a burst get_message() returns without yielding: let the loop run now
                            # and then (handshakes, pings, and the callbacks of writes queued for sockets
                            # that are behind, which otherwise pile up by the million in a big burst).
                            await asyncio.sleep(0)
                    if reconnecting and not self.waiting_for:
                        logger.warning("Real-time: Redis is back; %d channels subscribed again", len(self.confirmed))
                        self.resync()  # tell browsers to fetch what they missed meanwhile
                    if not self.waiting_for:
                        delay, reconnecting = BACKOFF_MIN, False
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self.state != "disconnected":
                    logger.warning("Real-time: lost Redis (%s); reconnecting", type(error).__name__)
                self.state, reconnecting = "disconnected", True
            finally:
                with contextlib.suppress(Exception):  # the connection is already broken
                    await self.pubsub.aclose()
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, BACKOFF_MAX)

    def handle(self, message):
        channel = message["channel"].decode().removeprefix(REDIS_PREFIX)
        if message["type"] == "message":
            event = message["data"]
            if len(event) > self.max_message_bytes:
                logger.warning("Real-time: dropped a %d-byte event on %r (over the limit)", len(event), channel)
            else:
                self.deliver(channel, event)
        elif message["type"] == "subscribe":
            if (future := self.confirmed.get(channel)) and not future.done():
                future.set_result(None)
            self.waiting_for.discard(channel)


def make_broker(config):
    if config.redis_url:
        return RedisBroker(
            config.redis_url,
            config.redis_options,
            SocketHandler.broadcast,
            SocketHandler.resync_all,
            config.max_message_bytes,
        )
    return LocalBroker(SocketHandler.broadcast)


def log_request(handler):
    """Tornado's access log without query strings."""
    status = handler.get_status()
    log = logger.info if status < 400 else logger.warning
    request = handler.request
    log("%d %s %s (%s) %.1fms", status, request.method, request.path, request.remote_ip, 1000 * request.request_time())


def make_app(config, broker):
    dependencies = {"config": config, "broker": broker}
    return tornado.web.Application(
        [
            (r"/ws", SocketHandler, dependencies),
            (r"/publish", PublishHandler, dependencies),
            (r"/healthz", HealthHandler, dependencies),
        ],
        websocket_max_message_size=config.max_message_bytes,
        log_function=log_request,
    )


async def shutdown(server, broker, grace=5.0):
    """Stop accepting, tell every browser we are going away (1001), and leave promptly.

    Tornado's server.stop() leaves upgraded sockets open, so close them here.
    """
    server.stop()
    if SocketHandler.pinger:
        SocketHandler.pinger.cancel()
        SocketHandler.pinger = None
    SocketHandler.close_all(1001, "server restarting")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while SocketHandler.connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    await broker.stop()


async def main(port):
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    config = Config.from_django_settings()
    broker = make_broker(config)
    server = make_app(config, broker).listen(port, xheaders=True, max_body_size=config.max_message_bytes + 4096)
    await broker.start()
    logger.info("Real-time server on port %d, broker: %s", port, "Redis" if config.redis_url else "this process")
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    logger.info("Real-time server stopping: closing %d sockets", len(SocketHandler.connections))
    await shutdown(server, broker)
