"""Test set-up shared by every test folder (tests/ and the add-ons' own tests)."""

import pytest
from django.test import Client

from tests.conftest import ROUTER_HEADERS


@pytest.fixture
def client():
    """A browser that reaches the project through Heroku's router over HTTPS."""
    return Client(headers=ROUTER_HEADERS)


@pytest.fixture(autouse=True)
def _static_without_collectstatic(settings):
    """Pages resolve static URLs without a manifest; tests/test_static.py checks the real storage."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
