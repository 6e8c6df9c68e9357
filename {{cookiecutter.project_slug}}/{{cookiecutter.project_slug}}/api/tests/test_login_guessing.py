"""Guessing a password through the token endpoint locks that username out: 429, also while Redis is down.

django-axes (settings.py) counts failed logins in the database; the API's throttle counts in the cache."""

import pytest
from django.contrib.auth.models import User

from .conftest import PASSWORD

DEAD_REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}


def log_in(client, password):
    return client.post("/api/token/", {"username": "alice", "password": password}, "application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("redis", ["as configured", "down"])
def test_the_token_endpoint_locks_a_guessed_username_out(anonymous, settings, redis):
    if redis == "down":  # the throttle's counts are lost; the lockout's are not
        settings.CACHES = {"default": {**DEAD_REDIS, "OPTIONS": {"IGNORE_EXCEPTIONS": True}}}
    User.objects.create_user("alice", password=PASSWORD)
    limit = settings.AXES_FAILURE_LIMIT
    wrong = [log_in(anonymous, f"guess-{n}").json() for n in range(limit - 1)]
    assert wrong == [{"non_field_errors": ["Unable to log in with provided credentials."]}] * (limit - 1)
    assert log_in(anonymous, "the last guess").status_code == 429
    right = log_in(anonymous, PASSWORD)
    assert right.status_code == 429, "locked: the right password gets no token either"
    assert right.json() == {"detail": "Too many failed logins for this username. Expected available in 900 seconds."}
    assert int(right["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
