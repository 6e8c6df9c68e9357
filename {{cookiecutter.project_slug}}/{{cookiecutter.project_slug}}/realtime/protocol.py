"""
The wire format between browsers and the real-time server.

Connect to /ws?channel=NAME offering the subprotocols ["realtime", TOKEN] (a header, so tokens
stay out of URLs and access logs). Then JSON text frames, one object each:

    browser -> {"type": "subscribe", "channel": NAME, "token": TOKEN}  another channel, a token each
               {"type": "unsubscribe", "channel": NAME}
               {"type": "ping"}                                       an application-level ping
    server  -> {"type": "subscribed", "channel": NAME}    events on NAME come from now on
               {"type": "unsubscribed", "channel": NAME}  no more of them (also for a channel never joined)
               {"type": "message", "channel": NAME, "data": ...}
               {"type": "resync"}  events may have been lost: fetch the current state again
               {"type": "pong"}
               {"type": "error", "error": TEXT, "channel": NAME}  a JSON object that is not a valid
                   request ("channel" only when it named a valid one); the socket stays open

NAME is 1-100 characters of A-Z a-z 0-9 _ . : - and a TOKEN comes from Django (publish.token_for).
Anything else ends the connection with a close code:

    1002  a close frame that RFC 6455 forbids (a reserved code, a one-byte payload)
    1003  a binary frame
    1007  not a JSON object, JSON nested too deeply, or text that is not UTF-8
    1008  more messages than REALTIME_RATE_LIMIT allows
    1009  a message over REALTIME_MAX_MESSAGE_BYTES

and the server itself closes with 1001 (going away: restarting) and 1013 (too slow to keep up:
reconnect and re-sync). https://www.rfc-editor.org/rfc/rfc6455
"""

import json
import struct
from dataclasses import dataclass

import tornado.websocket

from .tokens import valid_channel

SUBPROTOCOL = "realtime"
TYPES = ("subscribe", "unsubscribe", "ping")
UNKNOWN_TYPE = "unknown message type (subscribe, unsubscribe or ping)"
INVALID_CHANNEL = "invalid channel (1-100 characters of A-Z a-z 0-9 _ . : -)"
# The codes a peer may send (RFC 6455 section 7.4, and 1012-1014 registered since); 3000-4999 are
# for libraries and applications.
VALID_CLOSE_CODES = frozenset([*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)])


@dataclass(frozen=True)
class Request:
    type: str
    channel: str = ""
    token: str = ""


class Close(Exception):
    """The message is not the protocol at all: close the socket with this code."""

    def __init__(self, code, reason):
        super().__init__(reason)
        self.code, self.reason = code, reason


class Invalid(Exception):
    """A JSON object that is not a valid request: answer with this error frame."""

    def __init__(self, error, channel=None):
        super().__init__(error)
        self.frame = error_frame(error, channel)


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
    kind = request.get("type")
    if not (isinstance(kind, str) and kind in TYPES):
        raise Invalid(UNKNOWN_TYPE)
    if kind == "ping":
        return Request(kind)
    channel, token = request.get("channel"), request.get("token")
    if not valid_channel(channel):
        raise Invalid(INVALID_CHANNEL)
    return Request(kind, channel, token if isinstance(token, str) else "")


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


def error_frame(error, channel=None):
    return json_frame({"type": "error", "error": error, **({"channel": channel} if channel else {})})


def is_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class StrictProtocol(tornado.websocket.WebSocketProtocol13):
    """Tornado 6.6's RFC 6455 protocol with the answers it lacks (Autobahn|Testsuite 6.x and 7.x):

    - a text frame that is not UTF-8 fails the connection with 1007, where Tornado drops the TCP
      connection without a close frame;
    - a close frame with a code a peer may not send, or a one-byte payload, fails it with 1002, and
      one whose reason is not UTF-8 with 1007, where Tornado echoes the close frame back.

    It overrides Tornado's private _handle_message(); tests/test_server.py pins every answer, so a
    Tornado release that changes it fails there first.
    """

    def _handle_message(self, opcode, data):
        compressed = self._frame_compressed  # then Tornado decompresses, and checks, itself
        if opcode == 0x1 and not compressed and not is_utf8(data):
            return self.fail(1007, "text frames must be UTF-8")
        if opcode == 0x8 and len(data) == 1:
            return self.fail(1002, "a close frame cannot hold one byte")
        if opcode == 0x8 and len(data) >= 2:
            if struct.unpack("!H", data[:2])[0] not in VALID_CLOSE_CODES:
                return self.fail(1002, "invalid close code")
            if not is_utf8(data[2:]):
                return self.fail(1007, "close reasons must be UTF-8")
        return super()._handle_message(opcode, data)

    def fail(self, code, reason):
        """Fail the WebSocket connection (RFC 6455 section 7.1.7): a close frame, then close TCP."""
        self.close(code, reason)
        self._abort()
