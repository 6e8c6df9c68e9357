"""
The wire format between browsers and the real-time server. https://www.rfc-editor.org/rfc/rfc6455

Connect to /ws?channel=NAME[&since=ID] offering the subprotocols ["realtime", TOKEN] (a header, so tokens stay
out of URLs and access logs). NAME is 1-100 characters of A-Z a-z 0-9 _ . : - and a TOKEN comes from Django
(publish.token_for). Then JSON text frames, one object each:

    browser -> {"type": "subscribe", "channel": NAME, "token": TOKEN, "since": ID}  one more channel, a token each
               {"type": "unsubscribe", "channel": NAME}
               {"type": "ping"}                           an application-level ping
    server  -> {"type": "subscribed", "channel": NAME}    events on NAME come from now on
               {"type": "unsubscribed", "channel": NAME}  no more of them (also for a channel never joined)
               {"id": ID, "type": "message", "channel": NAME, "data": ...}  IDs grow with each event on NAME
               {"type": "resync", "channel": NAME}        events may have been lost: fetch the current state again
               {"type": "pong"}
               {"type": "error", "error": TEXT, "channel": NAME}  a JSON object that is not a valid request
                   ("channel" only when it named a valid one); the socket stays open

"since" (optional) resumes after the event ID: after "subscribed" the socket gets every later event on NAME from
the channel's history, in order and once each, then the live ones; or one "resync" when the history (bounded by
REALTIME_HISTORY_EVENTS and REALTIME_HISTORY_SECONDS) no longer reaches back to ID, or ID is not one it gave.

Anything else ends the connection: 1003 a binary frame, 1007 not a JSON object (or nested too deeply), 1008
more messages than REALTIME_RATE_LIMIT, 1009 a message over REALTIME_MAX_MESSAGE_BYTES. The server also closes
with 1000 (no pong within REALTIME_PING_TIMEOUT), 1001 (going away) and 1013 (too slow to keep up, or Redis
unreachable: reconnect later and resume). Tornado ends the TCP connection without a close frame when a text
frame is not UTF-8 (the browser sees 1006), and echoes any close code back.
"""

import json
import re
from collections import namedtuple

from .tokens import valid_channel

SUBPROTOCOL = "realtime"
EVENT_ID = re.compile(r"([0-9]{1,19})-([0-9]{1,19})")  # a Redis Stream entry ID: milliseconds-sequence
# "since": resume after this event ID ("" when it was given but is no ID at all)
Request = namedtuple("Request", ["type", "channel", "token", "since"], defaults=["", "", None])


class Close(Exception):
    """The message is not the protocol at all: close the socket with these arguments (code, reason)."""


class Invalid(Exception):
    """A JSON object that is not a valid request: answer with error_frame() of these arguments."""


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


def id_of(frame):
    """The ID a frame made by with_id() carries, as event_id() gives it; None for any other frame."""
    return event_id(frame[7 : frame.find(b'"', 7)].decode()) if frame.startswith(b'{"id":"') else None


def encode(message):
    """A server message as the compact JSON text that goes on the wire."""
    return json.dumps(message, separators=(",", ":"))


def error_frame(error, channel=None):
    return encode({"type": "error", "error": error, **({"channel": channel} if channel else {})})
