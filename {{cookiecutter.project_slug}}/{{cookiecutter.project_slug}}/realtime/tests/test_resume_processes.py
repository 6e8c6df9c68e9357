"""Resuming across real server processes, at random: sockets leave and come back, on either of two processes, with
the last ID they saw, while Django's publish() goes on. Whatever the order, each socket receives every event once,
in order: the ones published while it listened, live, and the ones published while it was away, from the history."""

import asyncio
import collections
import contextlib
import json
import os
import random
import secrets

from django.conf import settings
from tornado.websocket import websocket_connect

from ..publish import publish
from ..tokens import make_token
from .conftest import health, in_thread, realtime_process, receive, until

EVENTS = 240  # well inside the history window (REALTIME_HISTORY_EVENTS, 1000 by default)


class Wanderer:
    """One browser's socket: every frame it read, over all its connections, and the connection it has now."""

    def __init__(self, channel, plan):
        self.channel, self.plan, self.frames, self.connection, self.reading = channel, plan, [], None, None

    @property
    def numbers(self):
        return [frame["data"]["number"] for frame in self.frames if frame.get("type") == "message"]

    async def open(self, port, since=None):
        token = make_token(None, self.channel, key=settings.SECRET_KEY)
        query = f"channel={self.channel}" + (f"&since={since}" if since else "")
        url = f"ws://127.0.0.1:{port}/ws?{query}"
        self.connection = await websocket_connect(url, subprotocols=["realtime", token])
        assert await receive(self.connection) == {"type": "subscribed", "channel": self.channel}
        self.reading = asyncio.create_task(self.read(self.connection))

    async def read(self, connection):
        while (text := await connection.read_message()) is not None:
            self.frames.append(json.loads(text))

    async def leave(self):
        """Close the socket as a browser does, keeping what it read until the close completed."""
        self.connection.close()
        await self.reading  # ends when the server's close frame has been read: no frame is left unread
        return next(frame["id"] for frame in reversed(self.frames) if frame.get("type") == "message")


async def test_sockets_that_leave_and_resume_on_either_process_get_every_event_once_in_order(tmp_path, redis_url):
    """The choices (when each socket leaves, when it comes back and on which process) come from a seed that the
    failure message names; the timing around them is the machine's, so a replay runs the same plan, not
    necessarily the same interleaving."""
    seed = int(os.environ.get("REALTIME_RESUME_SEED") or random.randrange(1 << 32))  # noqa: S311 - not crypto
    rng = random.Random(seed)  # noqa: S311 - the same plan again for the same seed
    replay = f"seed {seed} (replay the same plan with REALTIME_RESUME_SEED={seed})"
    channel = f"wander-{secrets.token_hex(4)}"  # CI's Redis may carry other test runs' events
    published, progress = 0, asyncio.Condition()

    async def reached(count):
        async with progress:
            await progress.wait_for(lambda: published >= count)

    async def publish_all():
        nonlocal published
        for number in range(EVENTS):
            await in_thread(publish, channel, {"number": number})
            async with progress:
                published += 1
                progress.notify_all()

    def plan():
        """A few (leave once this many were published, come back once that many were, on this process), in order."""
        points = sorted(rng.randrange(1, EVENTS) for _ in range(2 * rng.randint(1, 4)))
        return [(points[i], points[i + 1], rng.choice(["first", "second"])) for i in range(0, len(points), 2)]

    async def wander(socket):
        for away_at, back_at, process in socket.plan:
            await reached(away_at)
            await until(lambda: socket.numbers)  # it has an ID to resume from
            since = await socket.leave()
            await reached(back_at)  # away while these are published
            await socket.open(ports[process], since=since)

    with (
        realtime_process(tmp_path, REDIS_URL=redis_url) as first,
        realtime_process(tmp_path, REDIS_URL=redis_url) as second,
    ):
        await until(lambda: health(first.port)[0] == health(second.port)[0] == 200)  # both subscribed to Redis
        ports = {"first": first.port, "second": second.port}
        sockets = [Wanderer(channel, plan()) for _ in range(6)]
        for socket in sockets:
            await socket.open(ports[rng.choice(["first", "second"])])
        await asyncio.gather(publish_all(), *(wander(socket) for socket in sockets))

        with contextlib.suppress(AssertionError):  # the assertions below say what is wrong
            await until(lambda: all(socket.numbers[-1:] == [EVENTS - 1] for socket in sockets))
        for socket in sockets:  # a pong, answered after everything sent before it: nothing else comes meanwhile
            socket.connection.write_message('{"type": "ping"}')
        with contextlib.suppress(AssertionError):
            await until(lambda: all(socket.frames[-1:] == [{"type": "pong"}] for socket in sockets))

        for number, socket in enumerate(sockets):
            numbers, counts = socket.numbers, collections.Counter(socket.numbers)
            missing = sorted(set(range(EVENTS)) - counts.keys())
            twice = sorted(event for event, count in counts.items() if count > 1)
            where = f"socket {number} (plan {socket.plan})"
            assert not missing, f"{where} missed {len(missing)} events, e.g. {missing[:5]}; {replay}"
            assert not twice, f"{where} got {len(twice)} events twice, e.g. {twice[:5]}; {replay}"
            assert numbers == sorted(numbers), f"{where} got events out of order: {numbers}; {replay}"
            others = [frame for frame in socket.frames if frame.get("type") != "message"]
            assert others == [{"type": "pong"}], f"{where} got {others}; {replay}"
            socket.connection.close()
