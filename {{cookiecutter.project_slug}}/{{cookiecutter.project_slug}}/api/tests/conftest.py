"""The REST API's test fixtures: a user, an anonymous client and one logged in with a token. Use them to test a
resource of your own: `token_client` for the happy path, `anonymous` for the 401."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conftest import ROUTER_HEADERS  # requests arrive through Heroku's router over HTTPS

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test user's)
# Strings every field and parameter must answer with a 4xx, never a 500, on SQLite and PostgreSQL alike: NUL (a
# PostgreSQL text cannot hold it), lone surrogates (JSON can carry them, UTF-8 cannot), and values far longer
# than any column, yet well under the request size limit.
HOSTILE_STRINGS = {
    "NUL": "a\x00b",
    "lone high surrogate": "a\ud800b",
    "lone low surrogate": "\udfff",
    "over-long": "x" * 100_000,
}


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user("alice", "alice@example.com", PASSWORD, first_name="Alice")


@pytest.fixture
def anonymous():
    return Client(headers=ROUTER_HEADERS)


@pytest.fixture
def token_client(user, anonymous):
    """A non-browser client that logged in through the token endpoint."""
    token = anonymous.post("/api/token/", {"username": "alice", "password": PASSWORD}, "application/json")
    return Client(headers={**ROUTER_HEADERS, "Authorization": f"Token {token.json()['token']}"})


def error_messages(response):
    """Every message of a JSON error answer: {"detail": "..."} or {"field": ["...", ...], ...}."""
    return [
        message for value in response.json().values() for message in (value if isinstance(value, list) else [value])
    ]


def refused_in_one_line(response):
    """True if `response` is a 400 whose every message is one short line: it never echoes a hostile value back."""
    messages = error_messages(response) if response.status_code == 400 else []
    return bool(messages) and all(len(message) < 120 and "\n" not in message for message in messages)
