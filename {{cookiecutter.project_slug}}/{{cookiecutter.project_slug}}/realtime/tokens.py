"""
What Django and the Tornado server share: socket tokens (Django signs them with SECRET_KEY, Tornado checks them
without a database query), the signature of an event POSTed to Tornado when there is no Redis, and with Redis
the names of this site's channels and the history each keeps. https://docs.djangoproject.com/en/6.1/topics/signing/
"""

import hashlib
import hmac
import re

from django.core import signing
from django.utils.crypto import salted_hmac

from .. import env

CHANNEL = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
# Publishing with Redis, in one atomic step: add the event to the channel's history (a Stream, which gives it its
# ID), trim the history to the window (events, then seconds), and hand the event, ID first, to every Tornado process.
PUBLISH = """
local id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[2], "*", "event", ARGV[1])
local now = redis.call("TIME")
redis.call("XTRIM", KEYS[1], "MINID", "~", string.format("%d", (tonumber(now[1]) - tonumber(ARGV[3])) * 1000))
redis.call("PUBLISH", KEYS[1], '{"id":"' .. id .. '",' .. string.sub(ARGV[1], 2))
return id
"""


def valid_channel(channel):
    return isinstance(channel, str) and CHANNEL.fullmatch(channel) is not None


def signer(key):
    # "." keeps tokens inside the characters a Sec-WebSocket-Protocol value allows (no ":").
    return signing.TimestampSigner(key=key, salt="realtime.token", sep=".", fallback_keys=[])


def make_token(user_id, channel, *, key):
    """A signed, timestamped token binding a user id (None: anonymous) to one channel."""
    return signer(key).sign_object({"user": user_id, "channel": channel})


def check_token(token, channel, *, key, max_age):
    """The user id the token was made for; signing.BadSignature if it is tampered, expired or for another channel."""
    payload = signer(key).unsign_object(token, max_age=max_age)
    if payload.get("channel") != channel:
        raise signing.BadSignature("token is for another channel")
    return payload.get("user")


def publishing_key(settings):
    """REALTIME_PUBLISH_KEY, or else a key derived from SECRET_KEY: no second secret in .env."""
    derived = salted_hmac("realtime.publish", "", secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()
    return settings.REALTIME_PUBLISH_KEY or derived


def channel_namespace(secret_key):
    """The start of this site's channel names in Redis: sites that share one Redis hear only their own events."""
    site = salted_hmac("realtime.namespace", "", secret=secret_key, algorithm="sha256").hexdigest()[:16]
    return f"realtime:{site}:"


def history_window():
    """How far back a socket may resume: (events, seconds) kept per channel."""
    return env.number("REALTIME_HISTORY_EVENTS", default=1000), env.number("REALTIME_HISTORY_SECONDS", default=300)


def publish_signature(timestamp, body, *, key):
    return hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
