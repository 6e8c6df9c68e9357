"""The cache on Redis (django-redis): while Redis is down it acts as an empty cache, so pages and the API answer
without it, and /healthz says "degraded". A test run never shares cache entries with a development server or
another run on the same Redis, nor one site with another."""

import socket
import uuid

import pytest
from django.conf import global_settings
from django.core.cache import CacheHandler, cache

from {{ cookiecutter.project_slug }} import settings as configured

from conftest import PRODUCTION_ENV


@pytest.fixture
def unreachable_redis():
    """A Redis URL on a port held bound but not listening: connections to it are refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{held.getsockname()[1]}/0"


@pytest.fixture
def redis_settings(load_settings, unreachable_redis):
    """The settings as production computes them with REDIS_URL pointing where Redis is down."""
    return load_settings(**PRODUCTION_ENV, REDIS_URL=unreachable_redis)


def test_while_redis_is_unreachable_every_read_misses_and_every_write_is_dropped(redis_settings):
    down = CacheHandler(redis_settings.CACHES)["default"]
    assert down.get("page", "default") == "default"
    assert down.get_many(["a", "b"]) == {}
    assert not down.has_key("page")
    assert not down.add("page", "html")
    assert down.set("page", "html") is None and down.set_many({"a": 1}) is None
    assert down.get_or_set("page", "html") == "html"
    assert not down.delete("page")
    assert down.incr("hits") is None  # what the API's throttles count with: nothing, until Redis is back


def test_healthz_stays_200_and_says_degraded_while_redis_is_down(client, db, settings, redis_settings, caplog):
    settings.REDIS_URL, settings.CACHES = redis_settings.REDIS_URL, redis_settings.CACHES
    response = client.get("/healthz")
    assert response.status_code == 200  # restarting the app would not bring Redis back
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}
    assert "Health check: Redis (REDIS_URL) did not answer: Error 111 connecting to 127.0.0.1:" in caplog.text


def test_a_test_neither_sees_nor_leaves_entries_in_the_cache_that_development_uses():
    """Tests and `runserver` may share one REDIS_URL. The API's throttles count requests in the cache, so a shared
    entry would let a test run throttle the developer's own requests, or a developer's requests throttle a test."""
    # The cache as settings.py makes it (Django's default without REDIS_URL), without the test's prefix
    development = CacheHandler(getattr(configured, "CACHES", global_settings.CACHES))["default"]
    theirs, ours = f"development-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    development.set(theirs, "their entry", 60)
    cache.set(ours, "our entry", 60)
    try:
        assert cache.get(theirs) is None
        assert development.get(ours) is None
    finally:
        development.delete(theirs)
        cache.delete(ours)


def test_sites_that_share_a_redis_keep_their_entries_apart(load_settings):
    """Staging beside production, or two projects on one developer's redis-server: one site's throttle counts
    and cached values are never another's. The key prefix follows SECRET_KEY, which no two sites share."""

    def site_cache(secret_key):
        variables = {**PRODUCTION_ENV, "REDIS_URL": "redis://shared-redis.example:6379/0", "SECRET_KEY": secret_key}
        return CacheHandler(load_settings(**variables).CACHES)["default"]

    production, staging = site_cache("production-key-" + "p" * 50), site_cache("staging-key-" + "s" * 50)
    assert production.make_key("throttle_user_1") != staging.make_key("throttle_user_1")
    another_production_process = site_cache("production-key-" + "p" * 50)
    assert another_production_process.make_key("throttle_user_1") == production.make_key("throttle_user_1")
    assert "production-key" not in production.make_key("throttle_user_1")
