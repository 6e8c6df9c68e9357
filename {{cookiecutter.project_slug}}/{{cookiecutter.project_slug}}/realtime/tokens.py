"""
Signatures shared by Django and the Tornado server; both need the same keys.

- A socket token says "this user may listen to this channel" for a short time.
  Django signs it with SECRET_KEY; Tornado checks it without a database query.
- A publish signature says "this body came from Django just now". It guards the
  HTTP endpoint that Django uses when there is no Redis.
- With Redis, both name this site's channels there the same way (channel_namespace), and both
  know how much history a channel keeps (history_window).

https://docs.djangoproject.com/en/6.1/topics/signing/
"""

import hashlib
import hmac
import re

from django.core import signing
from django.utils.crypto import salted_hmac

from .. import env

CHANNEL = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
TOKEN_SALT = "realtime.token"  # noqa: S105 - a namespace for signatures, not a secret
# "." keeps tokens inside the characters a Sec-WebSocket-Protocol value allows (no ":").
TOKEN_SEPARATOR = "."  # noqa: S105
PUBLISH_KEY_SALT = "realtime.publish"  # noqa: S105 - a namespace, not a secret
NAMESPACE_SALT = "realtime.namespace"
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


def make_token(user_id, channel, *, key):
    """A signed, timestamped token binding a user id (None: anonymous) to one channel."""
    signer = signing.TimestampSigner(key=key, salt=TOKEN_SALT, sep=TOKEN_SEPARATOR)
    return signer.sign_object({"user": user_id, "channel": channel})


def check_token(token, channel, *, key, max_age):
    """Return the user id the token was made for; raise signing.BadSignature if it is
    tampered, expired (SignatureExpired) or made for another channel."""
    signer = signing.TimestampSigner(key=key, salt=TOKEN_SALT, sep=TOKEN_SEPARATOR, fallback_keys=[])
    payload = signer.unsign_object(token, max_age=max_age)
    if payload.get("channel") != channel:
        raise signing.BadSignature("token is for another channel")
    return payload.get("user")


def publishing_key(settings):
    """REALTIME_PUBLISH_KEY, or else a key derived from SECRET_KEY. Django and Tornado read the
    same settings, so they agree without a second secret in .env (a fresh clone has none)."""
    derived = salted_hmac(PUBLISH_KEY_SALT, "", secret=settings.SECRET_KEY, algorithm="sha256")
    return settings.REALTIME_PUBLISH_KEY or derived.hexdigest()


def channel_namespace(secret_key):
    """The start of this site's channel names in Redis: sites that share one Redis (staging beside production,
    projects on one developer's redis-server) have other SECRET_KEYs, so none hears another's events."""
    site = salted_hmac(NAMESPACE_SALT, "", secret=secret_key, algorithm="sha256").hexdigest()[:16]
    return f"realtime:{site}:"


def history_window():
    """How far back a socket may resume: (events, seconds) kept per channel. Django trims Redis's history
    as it publishes, and a Tornado process without Redis keeps its own, so both read it."""
    return env.number("REALTIME_HISTORY_EVENTS", default=1000), env.number("REALTIME_HISTORY_SECONDS", default=300)


def publish_signature(timestamp, body, *, key):
    """HMAC-SHA256 over "<timestamp>." + body, hex encoded."""
    return hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
