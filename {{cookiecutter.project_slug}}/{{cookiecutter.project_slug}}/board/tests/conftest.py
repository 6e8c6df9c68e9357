"""Two people on one board, and the events their changes announce."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from ...realtime import publish as publisher
from conftest import ROUTER_HEADERS

TASKS = "/api/board/tasks/"
SPRINTS = "/api/board/sprints/"


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "alice@example.com")


@pytest.fixture
def bob(db):
    return get_user_model().objects.create_user("bob", "bob@example.com")


def logged_in(user):
    browser = Client(headers=ROUTER_HEADERS)
    browser.force_login(user)
    return browser


@pytest.fixture
def as_alice(alice):
    return logged_in(alice)


@pytest.fixture
def as_bob(bob):
    return logged_in(bob)


@pytest.fixture
def published(monkeypatch):
    """What the board publishes, as (channel, data): recorded where publish() hands an event to the broker, once
    the transaction commits, instead of sent (the real-time add-on tests the sending)."""
    sent = []

    def hand_over(channel, event):
        sent.append((channel, json.loads(event)["data"]))
        return True  # the broker took it

    monkeypatch.setattr(publisher, "_send", hand_over)
    return sent


def task_url(task_id):
    return f"{TASKS}{task_id}/"


def create(browser, **fields):
    response = browser.post(TASKS, {"title": "Write the tests", **fields}, "application/json")
    assert response.status_code == 201, response.json()
    return response.json()


def patch(browser, task_id, fields, if_match):
    """PATCH `fields` with this If-Match (None: without the header)."""
    headers = {} if if_match is None else {"If-Match": if_match}
    return browser.patch(task_url(task_id), fields, "application/json", headers=headers)
