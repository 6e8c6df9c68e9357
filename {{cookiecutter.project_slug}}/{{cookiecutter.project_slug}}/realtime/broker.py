"""
Brokers hand each event to every real-time process with a socket on its channel (README.md, How it works), and
keep each channel's recent events for sockets that resume: history(channel, since) gives the events after
`since`, or None when the history no longer holds `since` itself.
"""

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import Counter, defaultdict, deque

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .protocol import event_id, with_id
from .tokens import PUBLISH, history_window

logger = logging.getLogger(__name__)

CONTROL = "~control"  # always subscribed, so the connection is never idle in redis-py's eyes; not a valid name


class LocalBroker:
    """No Redis: this process is the only one, so publishing is delivering."""

    state = "embedded"

    def __init__(self, deliver, window):
        self.deliver, (self.events, self.seconds) = deliver, window
        self.kept = defaultdict(deque)  # channel -> [(ID, time.monotonic(), frame)], oldest first
        self.last = (0, 0)  # the newest ID given, as Redis gives them: (milliseconds, sequence)

    async def start(self): ...
    async def stop(self): ...
    async def subscribe(self, channel): ...
    def unsubscribe(self, channel): ...

    async def publish(self, channel, event):
        now = int(time.time() * 1000)
        self.last = (now, 0) if now > self.last[0] else (self.last[0], self.last[1] + 1)
        kept, frame = self.kept[channel], with_id(f"{self.last[0]}-{self.last[1]}", event)
        kept.append((self.last, time.monotonic(), frame))
        while kept and (len(kept) > self.events or kept[0][1] < time.monotonic() - self.seconds):
            kept.popleft()
        self.deliver(channel, frame)

    async def history(self, channel, since):
        identifiers = [identifier for identifier, _, _ in self.kept[channel]]
        if (since := event_id(since)) not in identifiers:
            return None
        return [frame for _, _, frame in list(self.kept[channel])[identifiers.index(since) + 1 :]]


class RedisBroker:
    """deliver(channel, event) writes an event to this process's sockets on a channel; resync(channel) tells
    them to fetch the current state again, and resync() closes every socket: the connection is lost."""

    subscribe_wait = 5.0  # seconds a socket waits for its subscription before it is told "subscribed" anyway
    idle_wait = 1.0  # the owner looks up at least this often, so redis-py's health check (a PING) can run

    def __init__(self, url, options, deliver, resync, backoff=(0.5, 10.0), *, prefix, window=None):
        # retry=0: redis-py would otherwise reconnect quietly (losing events unseen) and, after a
        # longer outage, give up for good. The owner reconnects instead, and says so.
        self.redis = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, health_check_interval=15, **options
        )
        self.deliver, self.resync, self.backoff = deliver, resync, backoff
        self.prefix, self.window = prefix, window or history_window()
        self.wanted = {CONTROL}  # the handlers' side: CONTROL, and the channels some socket here listens to
        self.asked = set()  # the owner's side: channels whose last command on this connection was SUBSCRIBE
        self.unanswered = Counter()  # channel -> commands about it that Redis has not answered yet
        self.waiters = {}  # channel -> Future, done when Redis confirms the channel
        self.late = set()  # channels whose sockets were told "subscribed" before Redis confirmed it
        self.state, self.failures = "connecting", 0  # failures: connection attempts that failed in a row
        self.recovered = 0  # when the last outage ended
        self.idle = self.owner = None  # the owner's wait for Redis, which a change of `wanted` ends early

    async def subscribe(self, channel):
        """Want `channel`, and wait (at most subscribe_wait) until Redis sends this process its events."""
        self.wanted.add(channel)
        self.wake()
        if self.subscribed(channel):
            return
        waiter = self.waiters.setdefault(channel, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.subscribe_wait)
        except TimeoutError:  # Redis is slow or away: "subscribed" now, and "resync" once it confirms
            if channel in self.wanted:
                self.late.add(channel)
            else:
                self.waiters.pop(channel, None)  # the sockets that wanted it have left meanwhile

    def unsubscribe(self, channel):
        self.wanted.discard(channel)
        self.late.discard(channel)
        self.wake()

    def subscribed(self, channel):
        return channel in self.asked and not self.unanswered[channel]

    @property
    def channels(self):
        """The channels Redis has confirmed, as this process believes (tests compare with PUBSUB NUMSUB)."""
        return {channel for channel in self.asked if self.subscribed(channel)} - {CONTROL}

    def wake(self):
        if self.idle is not None and not self.idle.expired():
            self.idle.reschedule(0)  # a moment long past: the owner's wait ends now

    async def history(self, channel, since):
        after = event_id(since)
        if after is None or after[0] < self.recovered * 1000:
            return None  # not an ID, or one from before an outage: events published during it were dropped
        try:
            entries = await self.redis.xrange(self.prefix + channel, min=since, max="+")
        except RedisError:
            return None
        if not entries or entries[0][0].decode() != since:
            return None  # trimmed from the stream's start, or never given
        return [with_id(identifier.decode(), fields[b"event"]) for identifier, fields in entries[1:]]

    async def publish(self, channel, event):
        """As Django's publish() does: into the channel's history, and to every process."""
        await self.redis.register_script(PUBLISH)(keys=[self.prefix + channel], args=[event, *self.window])

    async def start(self):
        self.owner = asyncio.create_task(self.own())

    async def stop(self):
        if self.owner:
            self.owner.cancel()
            await asyncio.gather(self.owner, return_exceptions=True)
        await self.redis.aclose()

    async def own(self):
        """One pub/sub connection at a time: ask Redis for what is wanted and hand on what it sends until the
        connection fails, then open the next one after a backoff with jitter."""
        while True:
            pubsub = self.redis.pubsub()
            try:
                for handled in itertools.count(1):
                    await self.ask(pubsub)
                    if (message := await self.next_message(pubsub)) is not None:
                        self.handle(message)
                    if handled % 16 == 0:
                        # In a burst get_message() returns without yielding: let the loop run now and then
                        # (handshakes, pings, and the callbacks of writes queued for sockets that are behind).
                        await asyncio.sleep(0)
            except Exception as error:
                if self.state != "disconnected":
                    logger.warning("Real-time: lost Redis (%s); reconnecting", type(error).__name__)
                    self.state = "disconnected"
                    self.resync()  # events published from now on reach no process: no socket may look live
                self.failures += 1
            finally:
                self.asked.clear()  # a new connection starts with nothing subscribed
                self.unanswered.clear()
                with contextlib.suppress(Exception):  # the connection is already broken
                    await pubsub.aclose()
            shortest, longest = self.backoff
            delay = min(longest, shortest * 2 ** (self.failures - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311 - jitter, not crypto

    async def ask(self, pubsub):
        """Send Redis the difference between the channels wanted and those asked for, until there is none
        (handlers may change `wanted` while a command is sent)."""
        while (joining := self.wanted - self.asked) | (leaving := self.asked - self.wanted):
            if joining:  # CONTROL last, on a new connection: its answer says every channel before it is confirmed
                await pubsub.subscribe(*(self.prefix + channel for channel in sorted(joining, key=CONTROL.__eq__)))
                self.asked |= joining
            if leaving:
                await pubsub.unsubscribe(*(self.prefix + channel for channel in leaving))
                self.asked -= leaving
            self.unanswered.update(joining | leaving)

    async def next_message(self, pubsub):
        """What Redis sends next; None after idle_wait seconds, or at once when `wanted` changes."""
        try:
            async with asyncio.timeout(self.idle_wait) as self.idle:
                return await pubsub.get_message(timeout=None)
        except TimeoutError:
            if not self.idle.expired():
                raise  # redis-py's, not ours
            return None  # redis-py's reads survive being cut short: its own timeouts do the same
        finally:
            self.idle = None

    def handle(self, message):
        if message["type"] not in ("message", "subscribe", "unsubscribe"):
            return
        channel = message["channel"].decode().removeprefix(self.prefix)
        if message["type"] == "message":
            return self.deliver(channel, message["data"])
        self.unanswered[channel] -= 1  # Redis answers commands in order: one answer per channel per command
        if self.unanswered[channel]:
            return
        del self.unanswered[channel]
        if channel not in self.asked:
            return
        if (waiter := self.waiters.pop(channel, None)) and not waiter.done():
            waiter.set_result(None)
        if channel in self.late:  # its sockets were told "subscribed" already: events may have been missed
            self.late.discard(channel)
            self.resync(channel)
        if channel == CONTROL:  # last on a new connection: every channel it started with is confirmed
            if self.state == "disconnected":
                logger.warning("Real-time: Redis is back; %d channels subscribed again", len(self.channels))
                self.recovered = time.time()  # publish() dropped events meanwhile: no history spans the outage
            self.state, self.failures = "connected", 0
