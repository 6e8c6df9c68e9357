"""
The real-time server: a small Tornado process that holds the browsers' WebSockets.

Django never writes to a socket. It publishes an event (publish.py); the broker (broker.py)
hands it to every Tornado process, and each process writes it to its own sockets on that
channel:

    browser <-WebSocket-> Tornado process (any number) <-Redis pub/sub- Django publish()

Without REDIS_URL one process works alone and Django POSTs signed events to /publish.
Run it with `python -m {{ cookiecutter.project_slug }}.realtime`. It reads like Tornado's chat demo: an Application,
a handler whose class holds the open connections, and main(). What travels on a socket, and
every close code, is described in protocol.py.

https://www.tornadoweb.org/en/stable/websocket.html
"""

import asyncio
import contextlib
import hmac
import json
import logging
import logging.config
import signal
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import tornado.web
import tornado.websocket
from django.core import signing
from django.http.request import validate_host
from tornado.iostream import StreamBufferFullError, StreamClosedError

from . import protocol
from .broker import LocalBroker, RedisBroker
from .protocol import SUBPROTOCOL, error_frame, json_frame, text_frame
from .tokens import channel_namespace, check_token, publish_signature, publishing_key, valid_channel

logger = logging.getLogger(__name__)

MAX_CHANNELS_PER_SOCKET = 20
PUBLISH_FRESH_SECONDS = 30  # a signed publish older (or newer) than this is refused
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Config:
    """Everything the server needs; from_django_settings() reads it from settings.py."""

    secret_key: str
    publish_key: str = ""
    redis_url: str = ""
    redis_options: dict = field(default_factory=dict)
    # Host patterns as in ALLOWED_HOSTS ("example.com", ".example.com") or full origins; see origin_allowed().
    allowed_origins: list = field(default_factory=lambda: ["localhost", "127.0.0.1"])
    plain_http: bool = False  # the site is served over plain HTTP too (SECURE_SSL_REDIRECT off, as under DEBUG)
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
            publish_key=publishing_key(settings),
            redis_url=settings.REDIS_URL,
            redis_options=settings.REDIS_OPTIONS,
            allowed_origins=settings.REALTIME_ALLOWED_ORIGINS,
            plain_http=not settings.SECURE_SSL_REDIRECT,
            token_max_age=settings.REALTIME_TOKEN_MAX_AGE,
            max_message_bytes=settings.REALTIME_MAX_MESSAGE_BYTES,
            rate_limit=settings.REALTIME_RATE_LIMIT,
            max_connections=settings.REALTIME_MAX_CONNECTIONS,
            ping_interval=settings.REALTIME_PING_INTERVAL,
            ping_timeout=settings.REALTIME_PING_TIMEOUT,
            send_buffer_bytes=settings.REALTIME_SEND_BUFFER_BYTES,
        )


def origin_allowed(origin, allowed, plain_http=False):
    """Whether a page from `origin` may open a socket.

    `allowed` holds host patterns as in ALLOWED_HOSTS ("example.com", ".example.com", "*") and
    full origins ("https://admin.example.com:8443"). A full origin matches exactly: scheme, host
    and port (a default port may be left out). A host pattern matches its hosts on any port, over
    the scheme the site is served with: HTTPS, and plain HTTP as well only when the site serves
    it (plain_http: SECURE_SSL_REDIRECT off, as under DEBUG, where runserver and honcho serve
    http://localhost). So a page on http://example.com, which an attacker on the network can
    forge, cannot open sockets for the site on https://example.com.
    """
    parsed = parse_origin(origin)
    if parsed is None:
        return False
    if parsed in {parse_origin(entry) for entry in allowed if "://" in entry}:
        return True
    scheme, host, _ = parsed
    host = f"[{host}]" if ":" in host else host
    schemes = ("https", "http") if plain_http else ("https",)
    return scheme in schemes and validate_host(host, [entry for entry in allowed if "://" not in entry])


def parse_origin(origin):
    """(scheme, host, port) of an http(s) origin, or None for anything else ("null", file://, garbage)."""
    try:
        parts = urlsplit(origin)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname, port


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
        if origin is not None and not origin_allowed(origin, self.config.allowed_origins, self.config.plain_http):
            return self.refuse(403, "origin not allowed")
        offered = [value.strip() for value in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        token = offered[1] if len(offered) == 2 and offered[0] == SUBPROTOCOL else ""
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
        return SUBPROTOCOL

    def get_websocket_protocol(self):
        tornados = super().get_websocket_protocol()
        if tornados is None:  # a WebSocket version other than 13: Tornado answers 426
            return None
        return protocol.StrictProtocol(self, False, tornados.params)

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
        """Every ping_interval, ping every socket, and drop those silent for longer than
        ping_interval + ping_timeout: they have left a ping unanswered for ping_timeout.

        One task for the whole process: Tornado's own websocket_ping_interval runs a task per
        socket, which cost 2.7 KB of memory per socket in the template's benchmark.
        """
        while cls.connections:
            await asyncio.sleep(config.ping_interval)
            silent_since = time.monotonic() - config.ping_interval - config.ping_timeout
            for socket in list(cls.connections):
                if socket.heard < silent_since:
                    socket.drop("ping timed out")
                else:
                    with contextlib.suppress(tornado.websocket.WebSocketClosedError):
                        socket.ping()

    async def on_message(self, message):
        if self.ws_connection is None or self.ws_connection.is_closing():
            return  # frames that were on their way when we closed
        self.heard = time.monotonic()
        if not self.rate_limit.allow():
            return self.close(1008, "rate limit exceeded")
        try:
            request = protocol.parse(message)
        except protocol.Close as close:
            return self.close(close.code, close.reason)
        except protocol.Invalid as invalid:
            return self.send(invalid.frame)
        if request.type == "subscribe":
            if not self.token_is_valid(request.token, request.channel):
                return self.send(error_frame("invalid token", request.channel))
            await self.join(request.channel)
        elif request.type == "unsubscribe":
            self.leave(request.channel)
            self.send(json_frame({"type": "unsubscribed", "channel": request.channel}))
        else:
            self.send(json_frame({"type": "pong"}))

    def on_close(self):
        self.connections.discard(self)
        for channel in list(self.channels):
            self.leave(channel)

    async def join(self, channel):
        if channel not in self.channels:
            if len(self.channels) >= MAX_CHANNELS_PER_SOCKET:
                return self.send(error_frame("too many channels", channel))
            self.channels.add(channel)
            self.listeners[channel].add(self)
        await self.broker.subscribe(channel)  # at once if this process already receives the channel
        self.send(json_frame({"type": "subscribed", "channel": channel}))

    def leave(self, channel):
        if channel not in self.channels:
            return
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

    def drop(self, reason):
        """A close frame, then the TCP connection closed at once: a peer that stopped answering
        will not send its half of the closing handshake, which Tornado would wait 5 s for."""
        connection = self.ws_connection  # close() forgets it
        self.close(reason=reason)
        if connection is not None:
            connection.stream.close()

    @classmethod
    def broadcast(cls, channel, event):
        """Write one event to every socket on `channel` in this process."""
        sockets = cls.listeners.get(channel)
        if sockets:
            frame = text_frame(event)
            for socket in list(sockets):
                socket.send(frame)

    @classmethod
    def resync(cls, channel=None):
        """Ask the sockets on `channel` (or all) to fetch the current state: events may have been lost."""
        frame = json_frame({"type": "resync"})
        for socket in list(cls.listeners.get(channel, ()) if channel else cls.connections):
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
    """200 while the broker is usable, 503 while it is (re)connecting."""

    def initialize(self, config, broker):
        self.broker = broker

    def get(self):
        healthy = self.broker.state in ("connected", "embedded")
        self.set_status(200 if healthy else 503)
        self.set_header("Cache-Control", "no-store")
        status = "ok" if healthy else "error"
        self.finish({"status": status, "broker": self.broker.state, "connections": len(SocketHandler.connections)})


def make_broker(config):
    if config.redis_url:
        return RedisBroker(
            config.redis_url,
            config.redis_options,
            SocketHandler.broadcast,
            SocketHandler.resync,
            config.max_message_bytes,
            prefix=channel_namespace(config.secret_key),
        )
    return LocalBroker(SocketHandler.broadcast)


def log_request(handler):
    """Tornado's access log without query strings."""
    status = handler.get_status()
    log = logger.info if status < 400 else logger.warning
    request = handler.request
    log("%d %s %s (%s) %.1fms", status, request.method, request.path, request.remote_ip, 1000 * request.request_time())


class Application(tornado.web.Application):
    def __init__(self, config, broker):
        dependencies = {"config": config, "broker": broker}
        handlers = [
            (r"/ws", SocketHandler, dependencies),
            (r"/publish", PublishHandler, dependencies),
            (r"/healthz", HealthHandler, dependencies),
        ]
        super().__init__(handlers, websocket_max_message_size=config.max_message_bytes, log_function=log_request)


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
    try:
        server = Application(config, broker).listen(port, xheaders=True, max_body_size=config.max_message_bytes + 4096)
    except OSError as error:  # most often another process on the port: one line, not a traceback
        raise SystemExit(
            f"Real-time server: cannot listen on port {port}: {error.strerror or error}. Stop whatever holds it, "
            "or choose another port with REALTIME_PORT (or --port)."
        ) from None
    await broker.start()
    logger.info("Real-time server on port %d, broker: %s", port, "Redis" if config.redis_url else "this process")
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
    await stopping.wait()
    logger.info("Real-time server stopping: closing %d sockets", len(SocketHandler.connections))
    await shutdown(server, broker)
