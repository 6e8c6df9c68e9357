"""
The wire format between browsers and the real-time server: reading a browser's message of any shape, and the
frames the server sends. README.md's "The protocol" lists every message and close code.
"""

import json
import re
from collections import namedtuple

from .tokens import valid_channel

SUBPROTOCOL = "realtime"
EVENT_ID = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")  # a Redis Stream entry ID: milliseconds-sequence
# since: resume after this event ID ("" when it was given but is no ID at all)
Request = namedtuple("Request", ["type", "channel", "token", "since"], defaults=["", "", None])


class Close(Exception):
    """The message is not the protocol at all: close the socket with these arguments (code, reason)."""


class Invalid(Exception):
    """A JSON object that is not a valid request: answer with an error frame saying why."""


def parse(message):
    """A browser's message as a Request; raises Close or Invalid, whatever its shape."""
    if isinstance(message, bytes):
        raise Close(1003, "binary frames are not supported")
    try:
        request = json.loads(message)
    except (ValueError, RecursionError):  # ValueError also covers integers of over 4300 digits
        raise Close(1007, "not JSON") from None
    if not isinstance(request, dict):
        raise Close(1007, "not a JSON object")
    kind, channel, token, since = (request.get(field) for field in Request._fields)
    if kind not in ("subscribe", "unsubscribe", "ping"):
        raise Invalid("unknown message type (subscribe, unsubscribe or ping)")
    if kind == "ping":
        return Request(kind)
    if not valid_channel(channel):
        raise Invalid("invalid channel (1-100 characters of A-Z a-z 0-9 _ . : -)")
    since = since if isinstance(since, str) or since is None else ""
    return Request(kind, channel, token if isinstance(token, str) else "", since)


def event_id(text):
    """An event ID as a comparable (milliseconds, sequence) pair, or None when `text` is not one."""
    match = EVENT_ID.fullmatch(text) if isinstance(text, str) else None
    return (int(match[1]), int(match[2])) if match else None


def with_id(identifier, event):
    """publish.encode_event()'s bytes with "id" first: the frame sockets get."""
    return b'{"id":"' + identifier.encode() + b'",' + event[1:]


def id_of(event):
    """The ID a frame made by with_id() carries, as event_id() gives it; None for any other frame."""
    return event_id(event[7 : event.find(b'"', 7)].decode()) if event.startswith(b'{"id":"') else None


def frame(kind, channel=None, **fields):
    """A server message as the compact JSON text that goes on the wire ("channel" only when there is one)."""
    return json.dumps({"type": kind, **({"channel": channel} if channel else {}), **fields}, separators=(",", ":"))
