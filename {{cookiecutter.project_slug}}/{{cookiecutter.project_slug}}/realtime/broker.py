"""
Brokers hand each event to every real-time process with a socket on its channel, and keep each channel's recent
events for sockets that resume: history(channel, since) gives the events after `since`, or None when the history
no longer holds `since` itself.

- LocalBroker: no Redis, so this process is the only one and publishing is delivering.
- RedisBroker: Redis pub/sub, ONE subscription per channel per process; the history is a Redis Stream of the
  channel's name (publish.py adds to it). One task, the owner, is the only code that talks on the pub/sub
  connection. Socket handlers change the set of channels wanted and may wait until Redis confirms one. The owner
  sends Redis the difference between what is wanted and what it has asked for, and reads the answers in the same
  order, so "the last socket left while another joined" cannot leave Redis unsubscribed behind its back. When the
  connection fails it closes every socket (resync()), reconnects with backoff and jitter, and asks again.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, defaultdict

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

    def __init__(self, deliver, window=None):
        self.deliver = deliver
        self.events, self.seconds = window or history_window()
        self.kept = defaultdict(dict)  # channel -> {ID: (time.monotonic(), frame)}, oldest first
        self.last = (0, 0)  # the newest ID given, as Redis gives them: milliseconds-sequence

    async def start(self): ...
    async def stop(self): ...
    async def subscribe(self, channel): ...
    def unsubscribe(self, channel): ...

    async def publish(self, channel, event):
        now = int(time.time() * 1000)
        self.last = (now, 0) if now > self.last[0] else (self.last[0], self.last[1] + 1)
        identifier = f"{self.last[0]}-{self.last[1]}"
        kept = self.kept[channel]
        kept[identifier] = (time.monotonic(), with_id(identifier, event))
        self.deliver(channel, kept[identifier][1])
        oldest = time.monotonic() - self.seconds
        while kept and (len(kept) > self.events or next(iter(kept.values()))[0] < oldest):
            del kept[next(iter(kept))]

    async def history(self, channel, since):
        identifiers = list(self.kept.get(channel, ()))
        if since not in identifiers:
            return None
        return [frame for _, frame in list(self.kept[channel].values())[identifiers.index(since) + 1 :]]


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
        self.deliver, self.resync = deliver, resync
        self.prefix, self.window, self.backoff = prefix, window or history_window(), backoff
        self.wanted = set()  # channels some socket here listens to: the handlers' side
        self.asked = set()  # the owner's side: channels whose last command was SUBSCRIBE on this connection
        self.unanswered = Counter()  # channel -> commands about it that Redis has not answered yet
        self.waiters = {}  # channel -> Future, done when Redis confirms the channel
        self.late = set()  # channels whose sockets were told "subscribed" before Redis confirmed it
        self.state = "connecting"
        self.recovered = 0  # when the last outage ended
        self.failures = 0  # connection attempts that failed in a row
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
        """One pub/sub connection at a time; after a failure, the next one after a backoff with jitter."""
        while True:
            pubsub = self.redis.pubsub()
            try:
                await self.serve(pubsub)
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

    async def serve(self, pubsub):
        """Until the connection fails: ask Redis for what is wanted, and hand on what it sends."""
        first = [*self.wanted, CONTROL]  # CONTROL last: its answer says every channel before it is confirmed
        await pubsub.subscribe(*(self.prefix + channel for channel in first))
        self.asked.update(first)
        self.unanswered.update(first)
        handled = 0
        while True:
            await self.ask(pubsub)
            message = await self.next_message(pubsub)
            if message is not None:
                self.handle(message)
                handled += 1
                if handled % 16 == 0:
                    # In a burst get_message() returns without yielding: let the loop run now and then
                    # (handshakes, pings, and the callbacks of writes queued for sockets that are behind).
                    await asyncio.sleep(0)

    async def ask(self, pubsub):
        """Send Redis the difference between the channels wanted and those asked for, until there is none
        (handlers may change `wanted` while a command is sent)."""
        while True:
            joining, leaving = self.wanted - self.asked, self.asked - self.wanted - {CONTROL}
            if not (joining or leaving):
                return
            if joining:
                await pubsub.subscribe(*(self.prefix + channel for channel in joining))
                self.asked |= joining
                self.unanswered.update(joining)
            if leaving:
                await pubsub.unsubscribe(*(self.prefix + channel for channel in leaving))
                self.asked -= leaving
                self.unanswered.update(leaving)

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
        if not self.unanswered[channel]:
            del self.unanswered[channel]
        if self.subscribed(channel):
            self.confirmed(channel)

    def confirmed(self, channel):
        if (waiter := self.waiters.pop(channel, None)) and not waiter.done():
            waiter.set_result(None)
        if channel == CONTROL:
            self.connected()
        elif channel in self.late and self.state == "connected":
            self.late.discard(channel)
            self.resync(channel)

    def connected(self):
        """Every subscription the connection started with is confirmed."""
        if self.state == "disconnected":
            logger.warning("Real-time: Redis is back; %d channels subscribed again", len(self.channels))
            self.recovered = time.time()  # publish() dropped events meanwhile: no history spans the outage
        else:
            for channel in self.late:
                self.resync(channel)
        self.late.clear()
        self.state, self.failures = "connected", 0
