"""The REST API's test fixtures: a user, an anonymous client and one logged in with a token. Use them to test a
resource of your own: `token_client` for the happy path, `anonymous` for the 401."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from conftest import ROUTER_HEADERS  # requests arrive through Heroku's router over HTTPS

PASSWORD = "correct horse battery staple"  # noqa: S105 (a test user's)


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
