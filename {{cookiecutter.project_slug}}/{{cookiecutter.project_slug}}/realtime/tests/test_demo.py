"""The demo page and its endpoints (the token, sending through Django without storing anything), and the one socket
the Content-Security-Policy lets pages open."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection

from .. import publish as publisher
from ..server import Config
from ..tokens import check_token


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("ada")


@pytest.fixture
def published(monkeypatch):
    """Events publish() sends, recorded instead of sent (the broker has its own tests)."""
    events = []
    monkeypatch.setattr(publisher, "_send", lambda channel, event: events.append((channel, event)))
    return events


def test_home_page_links_the_demo(client):
    assert '<a href="/realtime/">Real-time demo</a>' in client.get("/").text


def test_demo_page_loads_the_client_and_invites_anonymous_users_to_log_in(client, db):
    response = client.get("/realtime/")
    assert response.status_code == 200
    assert "realtime/realtime.js" in response.text
    assert '<ul id="messages"></ul>' in response.text
    assert "Log in</a> to send" in response.text


@pytest.mark.parametrize("logged_in", [False, True])
def test_token_is_bound_to_the_user_and_the_channel(client, user, settings, logged_in):
    if logged_in:
        client.force_login(user)
    response = client.get("/realtime/token?channel=demo")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    grant = response.json()
    assert grant["url"] == f"wss://testserver:{settings.REALTIME_PORT}/ws"
    key, max_age = settings.SECRET_KEY, Config.read(settings).token_max_age  # as the Tornado process reads it
    assert check_token(grant["token"], "demo", key=key, max_age=max_age) == (user.pk if logged_in else None)
    with pytest.raises(signing.BadSignature):
        check_token(grant["token"], "other", key=key, max_age=max_age)


def test_token_for_a_channel_nobody_may_join_is_refused(client):
    assert client.get("/realtime/token?channel=secret").status_code == 403


def test_realtime_url_setting_wins(client, settings):
    settings.REALTIME_URL = "wss://rt.example.com/ws"
    assert client.get("/realtime/token?channel=demo").json()["url"] == "wss://rt.example.com/ws"


def test_anonymous_users_cannot_send(client, db, published):
    assert client.post("/realtime/send", {"text": "hi"}).status_code == 403
    assert not published


def test_sending_publishes_the_message_with_its_author(client, user, published, django_capture_on_commit_callbacks):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/realtime/send", {"text": "  hello  "})
    assert response.status_code == 302
    assert published == [("demo", b'{"type":"message","channel":"demo","data":{"author":"ada","text":"hello"}}')]


def test_an_empty_message_publishes_nothing(client, user, published, django_capture_on_commit_callbacks):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/realtime/send", {"text": "   "})
    assert not published


def test_the_add_on_has_no_models_so_removing_it_leaves_no_table(db):
    assert list(apps.get_app_config("realtime").get_models()) == []
    assert not [table for table in connection.introspection.table_names() if table.startswith("realtime_")]


def test_pages_may_open_the_real_time_socket_and_nothing_else(manage):
    show = "from django.conf import settings; print(*settings.SECURE_CSP['connect-src'])"
    production = {"DEBUG": "false", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.com,.example.org"}
    default = manage("shell", "--no-imports", "-c", show, **production, REALTIME_PORT="8001")
    sources = "'self' ws://example.com:8001/ws ws://example.org:8001/ws ws://*.example.org:8001/ws"
    assert default.stdout == sources + "\n", default.stderr  # ws: sources allow wss: too
    url = manage("shell", "--no-imports", "-c", show, **production, REALTIME_URL="wss://rt.example.com/ws")
    assert url.stdout == "'self' wss://rt.example.com/ws\n", url.stderr
