"""
Django's side: publish() an event to every browser listening on a channel, after the transaction commits and
never raising into the request (README.md, How it works); token_for() the token a browser needs to listen.
"""

import json
import logging
import time
import urllib.request

import redis
from django.conf import settings
from django.db import transaction
from redis.backoff import NoBackoff
from redis.retry import Retry

from . import tokens

logger = logging.getLogger(__name__)

_redis_client = None  # one connection pool per process


def token_for(user, channel):
    """A short-lived token that lets this user's browser subscribe to `channel` (decide first: views.authorize)."""
    user_id = user.pk if user is not None and user.is_authenticated else None
    return tokens.make_token(user_id, channel, key=settings.SECRET_KEY)


def encode_event(channel, data):
    """The exact text frame the server forwards to browsers: encoded once, here."""
    return json.dumps({"type": "message", "channel": channel, "data": data}, separators=(",", ":")).encode()


class Publication:
    """What became of one publish(): `sent` is None until the transaction commits and the broker answers (so,
    outside a transaction, by the time publish() returns), then True if the broker took the event, or False if
    it was dropped (the log says why)."""

    sent = None


def publish(channel, data):
    """Send `data` (anything JSON can encode) to the browsers on `channel`, after commit; a Publication.
    A bad channel name, unencodable data or an event above REALTIME_MAX_MESSAGE_BYTES is a programming error
    and raises here; a broker problem is only logged."""
    if not tokens.valid_channel(channel):
        raise ValueError("channel must be 1-100 characters of A-Z a-z 0-9 _ . : -")
    event = encode_event(channel, data)
    if len(event) > settings.REALTIME_MAX_MESSAGE_BYTES:
        raise ValueError(f"event is {len(event)} bytes; the limit is REALTIME_MAX_MESSAGE_BYTES")
    publication = Publication()

    def send():
        publication.sent = _send(channel, event)

    transaction.on_commit(send)
    return publication


def redis_client():
    global _redis_client
    if _redis_client is None:
        timeout = settings.REALTIME_PUBLISH_TIMEOUT / 2  # two attempts fit in the budget
        _redis_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # One retry on a new connection when the pooled one fails or times out. The pool already replaces
            # connections that Redis closed; this covers one that died silently (a failover, a NAT that forgot
            # it). Rarely, a reply lost after delivery means twice.
            retry=Retry(NoBackoff(), 1),
            **settings.REDIS_OPTIONS,
        )
    return _redis_client


def _send(channel, event):
    """Hand the event to the broker: whether it took it."""
    started = time.monotonic()
    try:
        if settings.REDIS_URL:
            keys = [tokens.channel_namespace(settings.SECRET_KEY) + channel]
            redis_client().register_script(tokens.PUBLISH)(keys=keys, args=[event, *tokens.history_window()])
        else:  # no Redis: POST the event to the one Tornado process, signed with the publishing key
            timestamp = str(int(time.time()))
            signature = tokens.publish_signature(timestamp, event, key=tokens.publishing_key(settings))
            headers = {"X-Realtime-Timestamp": timestamp, "X-Realtime-Signature": signature}
            request = urllib.request.Request(  # noqa: S310 - the URL comes from settings, not from users
                settings.REALTIME_PUBLISH_URL, data=event, headers={"Content-Type": "application/json", **headers}
            )
            urllib.request.urlopen(request, timeout=settings.REALTIME_PUBLISH_TIMEOUT / 2).close()  # noqa: S310
        return True
    except Exception as error:  # the request must not fail because the broker did: the event is dropped
        elapsed = time.monotonic() - started
        logger.warning("Real-time publish to %r dropped after %.1f s: %s", channel, elapsed, type(error).__name__)
        return False
