"""
Brokers hand each event to every real-time process with a socket on its channel.

- LocalBroker: no Redis, so this process is the only one and publishing is delivering; it keeps
  each channel's recent events for sockets that resume.
- RedisBroker: Redis pub/sub, with ONE subscription per channel per process however many of
  its sockets listen; a channel's history is a Redis Stream of the same name (publish.py adds to it).

One task, the owner, holds the Redis pub/sub connection and is the only code that talks on it.
Socket handlers only change the set of channels this process wants (subscribe(), unsubscribe())
and may wait until a channel is confirmed. The owner sends Redis the difference between what is
wanted and what it has asked for, in order, and reads the answers in that same order; so "the
last socket left while another joined" cannot leave Redis unsubscribed behind the broker's
back, whatever the timing. When the connection fails the owner reconnects with backoff and
jitter and asks for everything wanted again. While it has no connection every socket is closed
(resync() with no channel), so no page looks live while events published meanwhile reach no
process, and a socket that resumes from before the outage is told to re-sync.

history(channel, since) answers a socket that resumes: every event after `since`, or None when the
history no longer holds all of them.
"""

import asyncio
import contextlib
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

    def __init__(self, deliver, window=None):
        self.deliver = deliver
        self.events, self.seconds = window or history_window()
        self.kept = defaultdict(deque)  # channel -> (ID, time.monotonic(), frame), oldest first
        self.trimmed = defaultdict(lambda: (0, 0))  # channel -> the newest ID dropped from its history
        self.last = (0, 0)  # the newest ID given, as Redis gives them: milliseconds-sequence

    async def start(self):
        pass

    async def stop(self):
        pass

    async def subscribe(self, channel):
        pass

    def unsubscribe(self, channel):
        pass

    async def publish(self, channel, event):
        now = int(time.time() * 1000)
        self.last = (now, 0) if now > self.last[0] else (self.last[0], self.last[1] + 1)
        frame = with_id(f"{self.last[0]}-{self.last[1]}", event)
        self.kept[channel].append((self.last, time.monotonic(), frame))
        self.trim(channel)
        self.deliver(channel, frame)

    def trim(self, channel):
        entries, oldest = self.kept[channel], time.monotonic() - self.seconds
        while entries and (len(entries) > self.events or entries[0][1] < oldest):
            self.trimmed[channel] = entries.popleft()[0]

    async def history(self, channel, since):
        after = event_id(since)
        if after is None or after > self.last:
            return None  # not an ID this process gave (it may have restarted)
        self.trim(channel)
        if after < self.trimmed[channel]:
            return None
        return [frame for identifier, _, frame in self.kept[channel] if identifier > after]


class RedisBroker:
    """Redis pub/sub through one owner task; see the module's docstring.

    deliver(channel, event) writes an event to this process's sockets on a channel; resync(channel) asks those
    sockets to fetch the current state again, and resync() closes every socket: the connection is lost.
    """

    subscribe_wait = 5.0  # seconds a socket waits for its subscription before it is told "subscribed" anyway
    idle_wait = 1.0  # the owner looks up at least this often, so redis-py's health check (a PING) can run

    def __init__(
        self, url, options, deliver, resync, max_message_bytes=64 * 1024, backoff=(0.5, 10.0), *, prefix, window=None
    ):
        # retry=0: redis-py would otherwise reconnect quietly (losing events unseen) and, after a
        # longer outage, give up for good. The owner reconnects instead, and says so.
        self.redis = aioredis.Redis.from_url(
            url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5, health_check_interval=15, **options
        )
        self.deliver, self.resync, self.max_message_bytes = deliver, resync, max_message_bytes
        self.prefix = prefix  # this site's channel names in Redis start with it (tokens.channel_namespace)
        self.window = window or history_window()  # (events, seconds) a channel's history keeps
        self.backoff = backoff  # first and longest wait (in seconds) between connection attempts
        self.wanted = set()  # channels some socket here listens to: the handlers' side
        # The owner's side, for the current connection only:
        self.asked = set()  # channels whose last command was SUBSCRIBE
        self.unanswered = Counter()  # channel -> commands about it that Redis has not answered yet
        self.replaying = 0  # answers due to the SUBSCRIBE a connection starts with
        self.waiters = {}  # channel -> Future, done when Redis confirms the channel
        self.late = set()  # channels whose sockets were told "subscribed" before Redis confirmed it
        self.state = "connecting"
        self.recovered = 0  # when the last outage ended
        self.failures = 0  # connection attempts that failed in a row
        self.idle = None  # the owner's wait for Redis, which a change of `wanted` ends early
        self.owner = None

    # The handlers' side: change what is wanted, wake the owner, maybe wait.

    async def subscribe(self, channel):
        """Want `channel`, and wait (at most subscribe_wait) until Redis sends this process its events."""
        self.wanted.add(channel)
        self.wake()
        if self.subscribed(channel):
            return
        if channel not in self.waiters:
            self.waiters[channel] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self.waiters[channel]), self.subscribe_wait)
        except TimeoutError:
            # Redis is slow or away. The socket is told "subscribed" now, and to re-sync once it is.
            if channel in self.wanted:
                self.late.add(channel)
            else:
                self.waiters.pop(channel, None)  # the sockets that wanted it have left meanwhile

    def unsubscribe(self, channel):
        """No socket here listens to `channel` any more."""
        self.wanted.discard(channel)
        self.late.discard(channel)
        self.wake()

    def subscribed(self, channel):
        """Whether Redis has confirmed that it sends this process `channel`'s events."""
        return channel in self.asked and not self.unanswered[channel]

    @property
    def channels(self):
        """The channels Redis has confirmed, as this process believes (tests compare with PUBSUB NUMSUB)."""
        return {channel for channel in self.asked if self.subscribed(channel)} - {CONTROL}

    def wake(self):
        if self.idle is not None and not self.idle.expired():
            self.idle.reschedule(0)  # a moment long past: the owner's wait ends now

    async def history(self, channel, since):
        """The events on `channel` after `since`, from its Redis Stream; None when the stream no longer holds
        `since` itself (trimmed from its start, as streams are, or never given) or Redis does not answer."""
        after = event_id(since)
        if after is None or after[0] < self.recovered * 1000:
            return None  # not an ID, or one from before an outage: events published during it were dropped
        try:
            entries = await self.redis.xrange(self.prefix + channel, min=since, max="+")
        except RedisError:
            return None
        if not entries or entries[0][0].decode() != since:
            return None
        return [with_id(identifier.decode(), fields[b"event"]) for identifier, fields in entries[1:]]

    async def publish(self, channel, event):
        """As Django's publish() does: into the channel's history, and to every process."""
        await self.redis.register_script(PUBLISH)(keys=[self.prefix + channel], args=[event, *self.window])

    # The owner.

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
            except asyncio.CancelledError:
                raise
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
        first = [CONTROL, *self.wanted]
        await pubsub.subscribe(*(self.prefix + channel for channel in first))
        self.asked.update(first)
        self.unanswered.update(first)
        self.replaying = len(first)
        handled = 0
        while True:
            await self.ask(pubsub)
            message = await self.next_message(pubsub)
            if message is not None:
                self.handle(message)
                handled += 1
                if handled % 16 == 0:
                    # In a burst get_message() returns without yielding: let the loop run now and
                    # then (handshakes, pings, and the callbacks of writes queued for sockets that
                    # are behind, which otherwise pile up by the million in a big burst).
                    await asyncio.sleep(0)

    async def ask(self, pubsub):
        """Send Redis the difference between the channels wanted and those asked for, until there is none.
        Handlers may change `wanted` while a command is sent; the loop then sends the rest."""
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
        kind = message["type"]
        if kind not in ("message", "subscribe", "unsubscribe"):
            return
        channel = message["channel"].decode().removeprefix(self.prefix)
        if kind == "message":
            event = message["data"]
            if len(event) > self.max_message_bytes:
                logger.warning("Real-time: dropped a %d-byte event on %r (over the limit)", len(event), channel)
            else:
                self.deliver(channel, event)
            return
        # Redis answers commands in the order they were sent: one answer per channel per command.
        self.unanswered[channel] -= 1
        if not self.unanswered[channel]:
            del self.unanswered[channel]
        if self.subscribed(channel):
            self.confirmed(channel)
        if self.replaying:
            self.replaying -= 1
            if not self.replaying:
                self.connected()

    def confirmed(self, channel):
        if (waiter := self.waiters.pop(channel, None)) and not waiter.done():
            waiter.set_result(None)
        if channel in self.late and self.state == "connected":
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
