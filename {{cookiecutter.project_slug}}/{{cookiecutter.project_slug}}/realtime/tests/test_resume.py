"""Resuming after a reconnect: every event on a channel carries an ID, and a socket that gives the last one it
saw ("since") gets every event it missed, once each and in order, before the live ones; or one "resync" when
the channel's history no longer reaches back. With Redis (the history is a Stream shared by every process) and
without it (one process keeps its own)."""

import asyncio
import json
import secrets

import pytest
from django.conf import settings

from ..broker import RedisBroker
from ..protocol import event_id, with_id
from ..publish import encode_event, publish
from ..server import Config, SocketHandler
from ..tokens import channel_namespace
from .conftest import in_thread, receive, serving


@pytest.fixture(params=["without Redis", "with Redis"])
def broker_kind(request):
    if request.param == "with Redis":
        request.getfixturevalue("redis_url")  # skips loudly without REDIS_URL
    return request.param


def make_config(config, broker_kind, window=(1000, 300)):
    redis_url = settings.REDIS_URL if broker_kind == "with Redis" else ""
    return Config(**{**vars(config), "redis_url": redis_url, "history": window, "rate_limit": 10_000})


async def send(served, channel, number):
    """Publish event `number` as a project does: Django's publish() with Redis, the process's broker without."""
    if served.config.redis_url:
        await in_thread(publish, channel, {"number": number})
    else:
        await served.broker.publish(channel, encode_event(channel, {"number": number}))


async def events(connection, count):
    """The next `count` messages: [(ID, number)]."""
    found = []
    for _ in range(count):
        message = await receive(connection)
        assert message["type"] == "message", message
        found.append((message["id"], message["data"]["number"]))
    return found


async def nothing_more(connection):
    """No frame is waiting before the answer to a ping: nothing was sent twice."""
    connection.write_message('{"type": "ping"}')
    assert await receive(connection) == {"type": "pong"}


def fresh_channel():
    return f"resume-{secrets.token_hex(4)}"  # a Redis may be shared by other test runs


async def test_a_socket_that_resumes_gets_every_event_it_missed_once_and_in_order(config, broker_kind):
    channel = fresh_channel()
    async with serving(make_config(config, broker_kind)) as served:
        first = await served.connect(channel)
        assert await receive(first) == {"type": "subscribed", "channel": channel}
        for number in range(5):
            await send(served, channel, number)
        seen = await events(first, 5)
        assert [number for _, number in seen] == [0, 1, 2, 3, 4]
        identifiers = [event_id(identifier) for identifier, _ in seen]
        assert None not in identifiers and identifiers == sorted(set(identifiers))  # IDs grow with each event
        first.close()
        for number in range(5, 10):  # published while the socket is away
            await send(served, channel, number)

        back = await served.connect(channel, since=seen[-1][0])
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert [number for _, number in await events(back, 5)] == [5, 6, 7, 8, 9]
        await send(served, channel, 10)
        assert [number for _, number in await events(back, 1)] == [10]
        await nothing_more(back)

        # The same through a "subscribe" message, for a further channel of an open socket.
        back.write_message(
            json.dumps({"type": "subscribe", "channel": channel, "token": served.token(channel), "since": seen[2][0]})
        )
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert [number for _, number in await events(back, 8)] == [3, 4, 5, 6, 7, 8, 9, 10]
        await nothing_more(back)


async def test_events_published_while_a_socket_catches_up_come_after_its_history_once_each(config, broker_kind):
    channel = fresh_channel()
    async with serving(make_config(config, broker_kind)) as served:
        first = await served.connect(channel)
        await receive(first)
        await send(served, channel, 0)
        ((since, _),) = await events(first, 1)
        for number in range(1, 30):
            await send(served, channel, number)

        # Resume while more are being published: history and live events overlap on the server.
        async def publish_more():
            for number in range(30, 60):
                await send(served, channel, number)

        publishing = asyncio.create_task(publish_more())
        back = await served.connect(channel, since=since)
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        await publishing
        received = [number for _, number in await events(back, 59)]
        assert sorted(received) == list(range(1, 60))  # every one, once
        assert received[:29] == list(range(1, 30))  # the history first, in order
        await nothing_more(back)


async def test_an_event_read_from_the_history_is_not_sent_again_when_its_live_copy_arrives_late(config, redis_url):
    """Redis hands an event to the history and to pub/sub at once, but the pub/sub copy reaches this process
    whenever the connection's reader gets to it: it can come after the history read that already sent it."""
    channel = fresh_channel()
    async with serving(make_config(config, "with Redis")) as served:
        first = await served.connect(channel)
        await receive(first)
        await send(served, channel, 0)
        ((since, _),) = await events(first, 1)
        # Event 1 as the publish script writes it, with its pub/sub copy held back until the socket has resumed.
        stream = channel_namespace(settings.SECRET_KEY) + channel
        event = encode_event(channel, {"number": 1})
        identifier = (await served.broker.redis.xadd(stream, {"event": event})).decode()

        back = await served.connect(channel, since=since)
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert await events(back, 1) == [(identifier, 1)]
        await served.broker.redis.publish(stream, with_id(identifier, event))
        assert await events(first, 1) == [(identifier, 1)]  # the live copy has arrived
        await nothing_more(back)
        await send(served, channel, 2)
        assert [number for _, number in await events(back, 1)] == [2]


@pytest.mark.parametrize("since", ["not-an-id", "99999999999999-0", "1-2-3", "\ud800", ""])
async def test_an_id_the_server_never_gave_gets_one_resync(config, broker_kind, since):
    channel = fresh_channel()
    async with serving(make_config(config, broker_kind)) as served:
        socket = await served.connect(channel)
        await receive(socket)
        await send(served, channel, 0)
        await events(socket, 1)
        socket.write_message(
            json.dumps({"type": "subscribe", "channel": channel, "token": served.token(channel), "since": since})
        )
        assert await receive(socket) == {"type": "subscribed", "channel": channel}
        assert await receive(socket) == {"type": "resync", "channel": channel}
        await send(served, channel, 1)
        assert [number for _, number in await events(socket, 1)] == [1]  # and live events go on
        await nothing_more(socket)


async def test_a_resume_from_beyond_the_history_window_gets_one_resync_then_live_events(
    config, broker_kind, monkeypatch
):
    channel = fresh_channel()
    monkeypatch.setenv("REALTIME_HISTORY_EVENTS", "5")  # as Django's publish() reads it
    # Redis trims a Stream by whole nodes of 100 entries ("MAXLEN ~"): publish well past that.
    window, away = (5, 300), 300 if broker_kind == "with Redis" else 20
    async with serving(make_config(config, broker_kind, window)) as served:
        first = await served.connect(channel)
        await receive(first)
        await send(served, channel, 0)
        ((since, _),) = await events(first, 1)
        first.close()
        for number in range(1, away):
            await send(served, channel, number)
        back = await served.connect(channel, since=since)
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert await receive(back) == {"type": "resync", "channel": channel}
        await send(served, channel, away)
        assert [number for _, number in await events(back, 1)] == [away]
        await nothing_more(back)


async def test_events_published_while_no_server_runs_reach_a_socket_that_resumes_afterwards(config, redis_url):
    """Django publishes into Redis while the real-time server restarts; the history holds the events."""
    channel, config = fresh_channel(), make_config(config, "with Redis")
    async with serving(config) as served:
        socket = await served.connect(channel)
        await receive(socket)
        await send(served, channel, 0)
        ((since, _),) = await events(socket, 1)
    for number in range(1, 4):  # no server runs now
        await in_thread(publish, channel, {"number": number})
    prefix = channel_namespace(settings.SECRET_KEY)
    broker = RedisBroker(config.redis_url, {}, SocketHandler.broadcast, SocketHandler.resync, prefix=prefix)
    async with serving(config, broker) as restarted:
        back = await restarted.connect(channel, since=since)
        assert await receive(back) == {"type": "subscribed", "channel": channel}
        assert [number for _, number in await events(back, 3)] == [1, 2, 3]
        await nothing_more(back)
