"""
Gunicorn settings; the Procfile's `web:` line runs `gunicorn` in this folder, which reads them.

Numbers fit Heroku's router: it gives up on a request after 30 s and keeps idle
connections open for 90 s. Slow or stalled clients cannot take the threads (see
WholeRequestWorker below; the numbers are in the docs' performance page).
https://docs.gunicorn.org/en/stable/settings.html
"""

import os
import re
import selectors
import socket
import time
from collections import deque
from functools import partial

from gunicorn.workers.gthread import ThreadWorker


def _whole_number(name, default):
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name} must be a whole number above 0; set e.g. {name}={default}.")
    return int(value)


def _any_address():
    """[::] takes IPv6 and, as Linux sets it up by default (net.ipv6.bindv6only=0), IPv4 too; 0.0.0.0 without IPv6."""
    try:
        socket.socket(socket.AF_INET6).close()
    except OSError:
        return "0.0.0.0"  # noqa: S104 (every interface: the platform's router is on another host)
    return "[::]"


# A request reaches a thread once it has arrived whole, if it is at most this big (headers and body);
# a bigger upload streams to its view as it arrives, holding a thread meanwhile.
WHOLE_REQUEST_BYTES = 64 * 1024
ARRIVAL_TIMEOUT = 30  # seconds for a request to arrive; by then Heroku's router has given up on it anyway
LINGER = 2  # seconds to wait for a client to close after a "Connection: close" answer (RFC 9112, 9.6)
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*([0-9]+)", re.IGNORECASE)
EXPECT = re.compile(rb"\r\nexpect:", re.IGNORECASE)


def has_arrived(data):
    """Whether a thread can read this request without waiting: its headers, and its body if it has a length."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return len(data) >= WHOLE_REQUEST_BYTES  # headers this long: let gunicorn's parser refuse them
    head = data[: head_end + 2]
    length = CONTENT_LENGTH.search(head)
    if length is None or EXPECT.search(head):  # no body, a chunked one, or a client waiting for "100 Continue"
        return True
    return len(data) >= min(head_end + 4 + int(length[1]), WHOLE_REQUEST_BYTES)


def _read_available(sock, limit):
    """(What a non-blocking socket holds, up to limit bytes; whether the client may still send more).

    One recv() is enough: the event loop calls again as long as the socket has more to read."""
    if limit <= 0:
        return b"", True
    try:
        data = sock.recv(limit)
    except BlockingIOError:
        return b"", True
    except OSError:  # reset by the client
        return b"", False
    return data, bool(data)


class WholeRequestWorker(ThreadWorker):
    """gunicorn's gthread worker, with slow clients kept out of its threads.

    gthread gives a connection to a thread as soon as it has bytes to read, and the thread waits for the rest
    of the request: a few clients that send slowly (slowloris, slow POST) hold every thread and the site stops
    answering. Here the worker's event loop collects the request, and a thread gets it once it is all there.
    The event loop also does the lingering close after a "Connection: close" answer, which gthread does while
    every other connection of the worker waits (up to 2 s per client that does not close at once).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lingering = deque()  # closing connections, oldest first

    def enqueue_req(self, conn):
        """The event loop calls this when a connection has bytes to read; gthread gives it to a thread."""
        if self.cfg.is_ssl:  # TLS needs its handshake in a thread; Heroku's router ends TLS before gunicorn
            return super().enqueue_req(conn)
        conn.init()  # the connection's parser, whose buffer keeps what has arrived so far
        data = conn.parser.unreader.take_buffered()
        conn.sock.setblocking(False)
        more, still_open = _read_available(conn.sock, WHOLE_REQUEST_BYTES - len(data))
        conn.parser.unreader.unread(data + more)
        if still_open and not has_arrived(data + more):
            return self._wait_for_more(conn)
        if getattr(conn, "waiting", False):
            conn.waiting = False
            self.pending_conns.remove(conn)
        super().enqueue_req(conn)

    def _wait_for_more(self, conn):
        if not getattr(conn, "waiting", False):
            conn.waiting, conn.timeout = True, time.monotonic() + ARRIVAL_TIMEOUT
            self.pending_conns.append(conn)  # gthread's murder_pending() closes it once conn.timeout passes
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._more_arrived, conn))

    def _more_arrived(self, conn, sock):
        self.poller.unregister(sock)
        self.enqueue_req(conn)

    def finish_request(self, conn, fs):
        """The event loop calls this when a thread is done with a connection."""
        if self.cfg.is_ssl or fs.cancelled() or fs.exception() or fs.result() is not False:
            return super().finish_request(conn, fs)
        # Closing. Send FIN, then read until the client closes or LINGER passes, so that bytes it already
        # sent cannot make the kernel reset the connection before the client has read the answer.
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.nr_conns -= 1
            return conn.close()
        conn.sock.setblocking(False)
        conn.timeout = time.monotonic() + LINGER
        self.lingering.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))

    def _drain(self, conn, sock):
        if not _read_available(sock, 64 * 1024)[1]:
            self._close_lingering(conn)

    def _close_lingering(self, conn):
        self.poller.unregister(conn.sock)
        self.lingering.remove(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        """The event loop calls this about once a second: close what has run out of time."""
        super().murder_pending()  # requests that did not arrive in time
        while self.lingering and self.lingering[0].timeout <= time.monotonic():
            self._close_lingering(self.lingering[0])

    def handle_exit(self, sig, frame):
        """SIGTERM: gthread keeps idle connections 2 s more for a request already on its way; so here too."""
        super().handle_exit(sig, frame)
        soon = time.monotonic() + LINGER
        for conn in self.pending_conns:
            conn.timeout = min(conn.timeout, soon)


bind = f"{_any_address()}:{_whole_number('PORT', 8000)}"
workers = _whole_number("WEB_CONCURRENCY", 2)
worker_class = WholeRequestWorker
threads = _whole_number("GUNICORN_THREADS", 4)
timeout = 25  # restart a worker that stops responding, before the router's 30 s (gthread never cuts a slow request)
graceful_timeout = 20  # finish requests on restart within Heroku's 30 s shutdown window
keepalive = 95  # outlive the router's 90 s idle connections, so it never reuses a closed one
accesslog = "-"  # stdout
# Heroku's router gives each request an X-Request-ID and logs it: find a request in both logs with it.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}i)s'
errorlog = "-"  # stderr
control_socket_disable = True  # else gunicorn 25.1+ opens ~/.gunicorn/gunicorn.ctl, shared by every server here
