"""Test set-up shared by every test folder (tests/ and the add-ons' own tests)."""

import pytest


@pytest.fixture(autouse=True)
def _static_without_collectstatic(settings):
    """Pages resolve static URLs without a manifest; tests/test_static.py checks the real storage."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
