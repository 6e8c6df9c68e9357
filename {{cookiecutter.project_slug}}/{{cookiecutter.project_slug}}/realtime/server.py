"""
The real-time server, shaped like Tornado's chat demo: an Application, a handler whose class holds the open
sockets, main(). Django publishes (publish.py), the broker (broker.py) hands each event to every such process,
and each writes it to its sockets on the event's channel. What travels on a socket: protocol.py.
"""

import argparse
import asyncio
import functools
import hmac
import json
import logging
import logging.config
import re
import signal
import time
from collections import Counter, defaultdict
from types import SimpleNamespace

import tornado.web
import tornado.websocket
from django.core import signing
from django.http.request import validate_host

from .. import env
from . import protocol
from .broker import LocalBroker, RedisBroker
from .protocol import SUBPROTOCOL, event_id, frame, id_of
from .tokens import channel_namespace, check_token, history_window, publish_signature, publishing_key, valid_channel

logger = logging.getLogger(__name__)

MAX_CHANNELS_PER_SOCKET = 20
PUBLISH_FRESH_SECONDS = 30  # a signed publish older (or newer) than this is refused
ORIGIN = re.compile(r"(https?)://([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([1-9][0-9]{0,4}))?")  # as browsers send it


class Config(SimpleNamespace):
    @classmethod
    def read(cls, settings, **overrides):
        """What Django shares from settings.py, and this process's own variables."""
        shared = {
            "secret_key": settings.SECRET_KEY,
            "publish_key": publishing_key(settings),
            "redis_url": settings.REDIS_URL,
            "redis_options": settings.REDIS_OPTIONS,
            "plain_http": not settings.SECURE_SSL_REDIRECT,  # as under DEBUG
            "max_message_bytes": settings.REALTIME_MAX_MESSAGE_BYTES,
        }
        return cls(**{**shared, **own_variables(settings.ALLOWED_HOSTS), **overrides})


def own_variables(allowed_hosts):
    """The variables only the Tornado process reads (every one is in .env.example)."""
    return {
        "allowed_origins": env.names("REALTIME_ALLOWED_ORIGINS", default=allowed_hosts),
        "token_max_age": env.number("REALTIME_TOKEN_MAX_AGE", default=60),
        "rate_limit": env.number("REALTIME_RATE_LIMIT", default=20),
        "max_connections": env.number("REALTIME_MAX_CONNECTIONS", default=10_000),
        "max_per_address": env.number("REALTIME_MAX_PER_ADDRESS", default=100),
        "max_per_user": env.number("REALTIME_MAX_PER_USER", default=20),
        "ping_interval": env.number("REALTIME_PING_INTERVAL", default=20),
        "ping_timeout": env.number("REALTIME_PING_TIMEOUT", default=20),
        "send_buffer_bytes": env.number("REALTIME_SEND_BUFFER_BYTES", default=256 * 1024),
        "history": history_window(),  # (events, seconds)
    }


def origin_allowed(origin, allowed, plain_http=False):
    """Whether a page from `origin` may open a socket. `allowed` holds full origins, which match exactly, and
    host patterns as in ALLOWED_HOSTS, which match over HTTPS, and over HTTP too when the site serves it."""

    def parsed(origin):  # (scheme, host, port), or None for anything a browser would not send
        if match := ORIGIN.fullmatch(origin):
            scheme, host, port = match.groups()
            port = int(port or {"http": 80, "https": 443}[scheme])
            return (scheme, host, port) if port <= 65535 else None
        return None

    if (origin := parsed(origin)) is None:
        return False
    hosts = [entry for entry in allowed if "://" not in entry]
    exact = {parsed(entry) for entry in allowed if "://" in entry}
    return origin in exact or (origin[0] == "https" or plain_http) and validate_host(origin[1], hosts)


class Anonymous(tornado.web.RequestHandler):
    """Answers without a Server header: Tornado's names its version, which helps only an attacker."""

    def initialize(self, config, broker):
        self.config, self.broker = config, broker

    def set_default_headers(self):
        self.clear_header("Server")


class SocketHandler(tornado.websocket.WebSocketHandler, Anonymous):
    """One browser. The class attributes are this process's shared state."""

    connections = set()  # every open socket
    listeners = defaultdict(set)  # channel -> sockets subscribed to it
    clients = Counter()  # ("address", ip) and ("user", id) -> open sockets

    async def get(self, *args, **kwargs):
        """The handshake: check token and capacity before upgrading (Tornado checks the origin)."""
        offered = [value.strip() for value in self.request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        token = offered[1] if len(offered) == 2 and offered[0] == SUBPROTOCOL else ""
        self.first = self.get_query_argument("channel", ""), self.get_query_argument("since", None)
        try:
            user = self.checked_user(token, self.first[0])
        except signing.BadSignature:
            return self.refuse(403, "missing, expired or invalid token")
        # A token is valid for its whole lifetime, so one client could open every socket with one:
        # count sockets per address (as the proxy in front reports it) and per logged-in user.
        self.client = Counter([("address", self.request.remote_ip)] + [("user", user)] * (user is not None))
        limits = {"address": self.config.max_per_address, "user": self.config.max_per_user}
        if len(self.connections) >= self.config.max_connections:
            return self.refuse(503, "too many connections")
        if self.broker.state == "disconnected":  # no event would reach the socket
            return self.refuse(503, "the broker is unavailable")
        if any(self.clients[key] >= limits[key[0]] for key in self.client):
            return self.refuse(429, "too many connections from this client")
        self.allowance, self.checked = 2 * self.config.rate_limit, time.monotonic()  # see within_rate_limit()
        self.channels = {}  # channel -> the newest event ID sent on it (None before the first, or unknown)
        self.behind = {}  # channel -> live events held back while the socket catches up on its history
        self.pending = 0  # bytes handed to write_message() whose Future is not done yet
        await super().get(*args, **kwargs)

    def refuse(self, status, reason):
        logger.info("Refused a socket from %s: %s", self.request.remote_ip, reason)
        self.set_status(status)
        self.finish(reason)

    def checked_user(self, token, channel):
        """The user id a valid token names (None: anonymous); signing.BadSignature for anything else."""
        if not (token.isascii() and valid_channel(channel)):  # tokens are ASCII: base64 and dots
            raise signing.BadSignature("not a token")
        return check_token(token, channel, key=self.config.secret_key, max_age=self.config.token_max_age)

    def check_origin(self, origin):  # Tornado answers 403 when it is not allowed
        return origin_allowed(origin, self.config.allowed_origins, self.config.plain_http)

    def select_subprotocol(self, subprotocols):
        return SUBPROTOCOL

    async def open(self):
        self.connections.add(self)
        self.clients.update(self.client)
        await self.join(*self.first)

    def within_rate_limit(self):
        """A token bucket: REALTIME_RATE_LIMIT messages per second on average, bursts of twice that (a socket
        over it is closed, so what it is owed after that does not matter)."""
        now, rate = time.monotonic(), self.config.rate_limit
        self.allowance = min(2 * rate, self.allowance + (now - self.checked) * rate) - 1
        self.checked = now
        return self.allowance >= 0

    async def on_message(self, message):
        if not self.within_rate_limit():
            return self.close(1008, "rate limit exceeded")
        try:
            request = protocol.parse(message)
        except protocol.Close as close:
            return self.close(*close.args)
        except protocol.Invalid as invalid:
            return self.send(frame("error", error=str(invalid)))
        if request.type == "ping":
            return self.send(frame("pong"))
        if request.type == "unsubscribe":
            self.leave(request.channel)
            return self.send(frame("unsubscribed", request.channel))
        try:
            self.checked_user(request.token, request.channel)
        except signing.BadSignature:
            return self.send(frame("error", request.channel, error="invalid token"))
        await self.join(request.channel, request.since)

    def on_close(self):
        self.connections.discard(self)
        SocketHandler.clients -= self.client  # in place, forgetting clients with no socket left
        for channel in list(self.channels):
            self.leave(channel)

    async def join(self, channel, since=None):
        if channel not in self.channels and len(self.channels) >= MAX_CHANNELS_PER_SOCKET:
            return self.send(frame("error", channel, error="too many channels"))
        self.channels.setdefault(channel, None)
        self.listeners[channel].add(self)
        if since is not None:
            self.behind[channel] = []
        await self.broker.subscribe(channel)  # at once if this process already receives the channel
        if channel not in self.channels:
            return  # it closed, or left, while Redis confirmed
        self.send(frame("subscribed", channel))
        if since is not None:
            await self.catch_up(channel, since)

    async def catch_up(self, channel, since):
        """Send the events after `since` from the history, then those that arrived live meanwhile (the two
        overlap: the history was read after the subscription was in place)."""
        backlog = await self.broker.history(channel, since)
        if channel not in self.channels:
            return
        if backlog is None:
            self.send(frame("resync", channel))
        else:
            self.channels[channel] = event_id(since)
        for event in [*(backlog or ()), *self.behind.pop(channel, ())]:
            self.deliver(channel, event, id_of(event))

    def deliver(self, channel, event, identifier):
        """Send an event once, in ID order (Redis sends in ID order, and a live copy of an event the history
        held may reach this process after the catch-up)."""
        newest = self.channels[channel]
        if identifier is None or newest is None or identifier > newest:
            self.channels[channel] = identifier or newest
            self.send(event)

    def leave(self, channel):
        if channel in self.channels:
            del self.channels[channel]
            self.behind.pop(channel, None)
            self.listeners[channel].discard(self)
            if not self.listeners[channel]:
                del self.listeners[channel]
                self.broker.unsubscribe(channel)

    def send(self, message):
        """Queue a message, and close a socket that cannot keep up: more than send_buffer_bytes handed to
        write_message() whose Futures (done once the bytes left the process) are not done yet."""
        try:
            written = self.write_message(message)
        except tornado.websocket.WebSocketClosedError:
            return
        self.pending += len(message)
        written.add_done_callback(functools.partial(self.written, len(message)))
        if self.pending > self.config.send_buffer_bytes:
            logger.info("Closing a socket that cannot keep up (%d bytes waiting)", self.pending)
            self.close(1013, "too slow; reconnect and re-sync")

    def written(self, size, future):
        self.pending -= size
        if not future.cancelled():
            future.exception()  # a socket that closed meanwhile: nothing to do, and nothing to log

    @classmethod
    def broadcast(cls, channel, event):
        """Write one event to every socket on `channel` in this process."""
        identifier = id_of(event)
        for socket in list(cls.listeners.get(channel, ())):
            if channel in socket.behind:
                socket.behind[channel].append(event)
            else:
                socket.deliver(channel, event, identifier)

    @classmethod
    def resync(cls, channel=None):
        """Tell the sockets on `channel` to fetch the current state. Without a channel the broker lost Redis:
        close every socket, so no page looks live; each reconnects and resumes once Redis is back."""
        if channel is None:
            return cls.close_all(1013, "the broker is unavailable; reconnect")
        for socket in list(cls.listeners.get(channel, ())):
            socket.send(frame("resync", channel))

    @classmethod
    def close_all(cls, code, reason):
        for socket in list(cls.connections):
            socket.close(code, reason)


class PublishHandler(Anonymous):
    """Where Django POSTs events when there is no Redis: signed, fresh, used once, small."""

    seen = {}  # signature -> time after which it would be refused as stale anyway

    async def post(self):
        body, now = self.request.body, time.time()
        timestamp = self.request.headers.get("X-Realtime-Timestamp", "")
        signature = self.request.headers.get("X-Realtime-Signature", "").encode()
        expected = publish_signature(timestamp, body, key=self.config.publish_key).encode()
        if not self.config.publish_key:
            raise tornado.web.HTTPError(403, "REALTIME_PUBLISH_KEY is not set")
        if len(body) > self.config.max_message_bytes:
            raise tornado.web.HTTPError(413)
        if not timestamp.isdigit() or abs(now - int(timestamp)) > PUBLISH_FRESH_SECONDS:
            raise tornado.web.HTTPError(403, "stale or missing timestamp")
        if not hmac.compare_digest(signature, expected):
            raise tornado.web.HTTPError(403, "bad signature")
        for old in [old for old, until in self.seen.items() if until < now]:
            del self.seen[old]
        if signature in self.seen:
            raise tornado.web.HTTPError(403, "replayed")
        self.seen[signature] = int(timestamp) + PUBLISH_FRESH_SECONDS
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        if not isinstance(event, dict) or event.get("type") != "message" or not valid_channel(event.get("channel")):
            raise tornado.web.HTTPError(400, "body is not an event")
        await self.broker.publish(event["channel"], body)
        self.set_status(204)


class HealthHandler(Anonymous):
    """200 while the broker is usable, 503 while it is (re)connecting. Public: no operational numbers."""

    def get(self):
        healthy = self.broker.state in ("connected", "embedded")
        self.set_status(200 if healthy else 503)
        self.set_header("Cache-Control", "no-store")
        self.finish({"status": "ok" if healthy else "error", "broker": self.broker.state})


class NotFound(Anonymous):
    def prepare(self):
        raise tornado.web.HTTPError(404)


def make_broker(config):
    if not config.redis_url:
        return LocalBroker(SocketHandler.broadcast, config.history)
    prefix, handlers = channel_namespace(config.secret_key), (SocketHandler.broadcast, SocketHandler.resync)
    return RedisBroker(config.redis_url, config.redis_options, *handlers, prefix=prefix, window=config.history)


def log_request(handler):
    """Tornado's access log without query strings."""
    status, request = handler.get_status(), handler.request
    log = logger.info if status < 400 else logger.warning
    log("%d %s %s (%s) %.1fms", status, request.method, request.path, request.remote_ip, 1000 * request.request_time())


class Application(tornado.web.Application):
    def __init__(self, config, broker):
        services = {"config": config, "broker": broker}
        handlers = [(r"/ws", SocketHandler), (r"/publish", PublishHandler), (r"/healthz", HealthHandler)]
        super().__init__(
            [(path, handler, services) for path, handler in handlers],
            default_handler_class=NotFound,
            default_handler_args=services,
            websocket_max_message_size=config.max_message_bytes,
            websocket_ping_interval=config.ping_interval,
            websocket_ping_timeout=config.ping_timeout,
            log_function=log_request,
        )


async def shutdown(server, broker, grace=5.0):
    """Stop accepting, tell every browser we are going away (1001), and leave promptly (Tornado's
    server.stop() alone leaves upgraded sockets open)."""
    server.stop()
    SocketHandler.close_all(1001, "server restarting")
    deadline = time.monotonic() + grace
    while SocketHandler.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await broker.stop()


async def main():
    from django.conf import settings

    config = Config.read(settings)  # a bad variable stops the process with env.py's one line, as manage.py does
    parser = argparse.ArgumentParser(description="The real-time server.")
    parser.add_argument("--port", type=int, default=settings.REALTIME_PORT)
    port = parser.parse_args().port
    logging.config.dictConfig(settings.LOGGING)
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
