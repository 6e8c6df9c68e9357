"""The cache on Redis: an outage makes it an empty cache that says so once, and it is back when Redis is.
A test run never shares cache entries with a development server or another run on the same Redis, nor one
site with another."""

import logging
import socket
import uuid
from types import SimpleNamespace

import pytest
import redis
from django.core.cache import CacheHandler, cache

from {{ cookiecutter.project_slug }} import cache as cache_module
from {{ cookiecutter.project_slug }} import settings as configured
from {{ cookiecutter.project_slug }}.cache import RETRY_SECONDS, RedisCache

from .conftest import PRODUCTION_ENV

UNREACHABLE = "Redis (REDIS_URL) is unreachable"


@pytest.fixture(autouse=True)
def _no_outage_known(monkeypatch):
    """Each test starts knowing of no outage. cache.py keeps one per Redis URL for the whole process, and bind()
    may give a later test the port of an earlier one: that test would find its Redis "down" since before it began."""
    monkeypatch.setattr(cache_module, "_outages", {})


def refused_url():
    """A Redis URL on a port held bound but not listening: connections to it are refused, and no other process
    can listen on it (nor connect() take it for its own end) while the generator is open."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"redis://127.0.0.1:{held.getsockname()[1]}/0"


@pytest.fixture
def unreachable_redis():
    """A Redis URL where nothing listens (connections are refused), new in each test."""
    yield from refused_url()


@pytest.fixture(scope="module")
def unreachable_redis_again():
    """One such URL for every test of this module that asks: the same port, as bind() may hand out again."""
    yield from refused_url()


@pytest.fixture
def clock(monkeypatch):
    """The clock the cache module reads, moved on by hand: clock.now += seconds."""
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    return clock


def test_while_redis_is_unreachable_every_read_misses_and_every_write_is_dropped(unreachable_redis, caplog):
    cache = RedisCache(unreachable_redis, {})
    assert cache.get("page", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("page") is False
    assert cache.add("page", "html") is False
    assert cache.set("page", "html") is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]  # the keys it could not set
    assert cache.get_or_set("page", "html") == "html"
    assert cache.touch("page") is False and cache.delete("page") is False
    with pytest.raises(ValueError, match="Key 'hits' not found"):  # as for any key an empty cache lacks
        cache.incr("hits")
    assert cache.reachable() is False
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1, "one line per outage, not one per call"
    assert warnings[0].getMessage().startswith(f"{UNREACHABLE}: Error 111 connecting to 127.0.0.1:")


def test_a_down_redis_is_tried_every_few_seconds_not_on_every_call(unreachable_redis, clock, monkeypatch, caplog):
    cache, redis_up, tries = RedisCache(unreachable_redis, {}), [False], []

    def redis_get(self, key, default=None, version=None):
        tries.append(key)
        if not redis_up[0]:
            raise redis.ConnectionError("Connection refused.")
        return "from Redis"

    monkeypatch.setattr(cache_module.DjangoRedisCache, "get", redis_get)
    assert [cache.get("key", "miss") for _ in range(50)] == ["miss"] * 50
    assert len(tries) == 2  # one call, on a new connection once more; the other calls did not wait for Redis
    clock.now += RETRY_SECONDS
    assert cache.get("key", "miss") == "miss" and len(tries) == 4  # still down
    redis_up[0] = True
    clock.now += RETRY_SECONDS
    assert cache.get("key", "miss") == "from Redis"
    assert cache.get("key", "miss") == "from Redis" and len(tries) == 6  # up: every call goes to Redis again
    assert [record.getMessage() for record in caplog.records] == [
        f"{UNREACHABLE}: Connection refused. The cache acts empty and the API's throttles count nothing until it "
        f"answers; trying again every {RETRY_SECONDS} s.",
        f"Redis (REDIS_URL) answers again after {2 * RETRY_SECONDS} s: caching is back.",
    ]


def test_a_pooled_connection_that_died_with_an_earlier_redis_is_no_outage(unreachable_redis, monkeypatch, caplog):
    cache, tries = RedisCache(unreachable_redis, {}), []

    def redis_get(self, key, default=None, version=None):
        tries.append(key)
        if len(tries) == 1:
            raise redis.ConnectionError("Connection closed by server.")  # Redis restarted since this connection
        return "from Redis"

    monkeypatch.setattr(cache_module.DjangoRedisCache, "get", redis_get)
    assert cache.get("key") == "from Redis" and cache.outage.since is None
    assert caplog.records == []


@pytest.mark.parametrize("test", ["an earlier test", "a later test given the same port"])
def test_each_test_sees_its_own_outage_begin_even_on_a_port_used_before(unreachable_redis_again, caplog, test):
    cache = RedisCache(unreachable_redis_again, {})
    assert cache.get("page", "miss") == "miss"
    assert cache.reachable() is False
    assert caplog.text.count(UNREACHABLE) == 1, f"{test}: the outage begins, and says so, in this test"


def test_every_thread_sees_the_same_outage(unreachable_redis, caplog):
    """Django gives each thread its own cache object; what one learns about Redis, all know."""
    first, second = RedisCache(unreachable_redis, {}), RedisCache(unreachable_redis, {})
    first.get("key")
    assert second.outage is first.outage and second.reachable() is False
    assert caplog.text.count(UNREACHABLE) == 1


def test_healthz_stays_200_and_says_degraded_while_redis_is_down(client, db, settings, unreachable_redis):
    settings.CACHES = {"default": {"BACKEND": f"{RedisCache.__module__}.RedisCache", "LOCATION": unreachable_redis}}
    response = client.get("/healthz")
    assert response.status_code == 200  # restarting the app would not bring Redis back
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}


def test_a_test_neither_sees_nor_leaves_entries_in_the_cache_that_development_uses():
    """Tests and `runserver` may share one REDIS_URL. The API's throttles count requests in the cache, so a shared
    entry would let a test run throttle the developer's own requests, or a developer's requests throttle a test."""
    development = CacheHandler(configured.CACHES)["default"]  # as settings.py makes it, without the test's prefix
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
