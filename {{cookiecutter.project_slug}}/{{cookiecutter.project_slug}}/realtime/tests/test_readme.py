"""
README.md's snippets, run as they are written there: the rules of its authorize() decide
who gets a token, and its signal's event reaches a socket that has one, only after the
transaction commits. (Its page snippet runs in a real browser in the template's tests.)
"""

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_save
from django.test import Client
from tornado.websocket import websocket_connect

from .. import views
from ..protocol import event_id
from .conftest import PUBLISH_KEY, in_thread, receive, serving
from conftest import ROUTER_HEADERS

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = ["the signal", "authorize()"]  # README.md's ```python blocks, in order


def snippet(name, namespace=()):
    """Run one of README.md's python blocks in a fresh namespace; return what it defined."""
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.DOTALL | re.MULTILINE)
    assert len(blocks) == len(SNIPPETS), f"README.md has {len(blocks)} python blocks; these tests know {SNIPPETS}"
    namespace = dict(namespace)
    exec(compile(blocks[SNIPPETS.index(name)], f"README.md: {name}", "exec"), namespace)  # noqa: S102 - our README
    return namespace


@pytest.fixture
def readme_authorize(monkeypatch):
    """views.authorize() replaced by the README's (which uses views' names, as it would there)."""
    monkeypatch.setattr(views, "authorize", snippet("authorize()", vars(views))["authorize"])


@pytest.fixture
def readme_signal():
    announce = snippet("the signal")["announce_new_user"]  # @receiver connected it; this keeps it alive
    yield
    post_save.disconnect(announce, sender=get_user_model())


def token(user, channel):
    """/realtime/token's answer for this user (None: anonymous), through the router over HTTPS."""
    client = Client(headers=ROUTER_HEADERS)
    if user is not None:
        client.force_login(user)
    return client.get(f"/realtime/token?channel={channel}")


def token_status(user, channel):
    return token(user, channel).status_code


def test_the_readme_rules_give_tokens_only_to_whom_they_name(db, readme_authorize):
    users = get_user_model().objects
    ada, bob = users.create_user("ada", is_staff=True), users.create_user("bob")
    assert [token_status(None, channel) for channel in ["demo", "staff", f"user.{ada.pk}"]] == [200, 403, 403]
    assert [token_status(bob, channel) for channel in ["staff", f"user.{bob.pk}", f"user.{ada.pk}"]] == [403, 200, 403]
    assert [token_status(ada, channel) for channel in ["staff", f"user.{ada.pk}"]] == [200, 200]


def create_user(username, commit=True):
    with transaction.atomic():
        user = get_user_model().objects.create_user(username, is_staff=True)
        if not commit:
            transaction.set_rollback(True)
    return user


async def test_the_readme_signal_tells_the_staff_channel_who_joined_after_commit(
    config, settings, transactional_db, readme_authorize, readme_signal
):
    settings.REDIS_URL = ""  # the embedded server's signed endpoint: the same publish() without Redis
    settings.REALTIME_PUBLISH_KEY = PUBLISH_KEY
    async with serving(config) as served:
        settings.REALTIME_PUBLISH_URL = f"{served.url}/publish"
        ada = await in_thread(create_user, "ada")
        grant = (await in_thread(token, ada, "staff")).json()
        staff = await websocket_connect(
            f"ws://127.0.0.1:{served.port}/ws?channel=staff", subprotocols=["realtime", grant["token"]]
        )
        assert await receive(staff) == {"type": "subscribed", "channel": "staff"}

        await in_thread(create_user, "carol", commit=False)  # rolled back: never announced
        await in_thread(create_user, "bob")
        message = await receive(staff)
        assert event_id(message.pop("id")) is not None  # every event has its ID
        assert message == {"type": "message", "channel": "staff", "data": {"joined": "bob"}}
