"""
The cache on Redis (settings.CACHES, when REDIS_URL is set), which a Redis outage cannot turn into errors.

Django's Redis cache raises when Redis is unreachable, and whatever uses the cache then answers 500: the REST
API's throttles read it on every request. This one acts as an empty cache meanwhile (nothing is found, nothing
is kept, throttles count nothing), tries Redis again every RETRY_SECONDS rather than on every call, and says
when an outage starts and ends, once each in every process. /healthz reports it as "cache": "unavailable".

https://docs.djangoproject.com/en/6.1/topics/cache/#redis
"""

import logging
import threading
import time

import redis
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)  # not the errors of a bad command


class Outage:
    """Whether Redis is unreachable, for every thread of this process (each has its own cache object)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.since = None  # time.monotonic() when the outage began
        self.next_try = 0.0

    def may_try(self):
        if self.since is None:
            return True
        with self.lock:  # one thread tries; the others go on without Redis meanwhile
            if time.monotonic() < self.next_try:
                return False
            self.next_try = time.monotonic() + RETRY_SECONDS
            return True

    def began(self, error):
        with self.lock:
            self.next_try = time.monotonic() + RETRY_SECONDS
            if self.since is None:
                self.since = time.monotonic()
                logger.warning(
                    "Redis (REDIS_URL) is unreachable: %s. The cache acts empty and the API's throttles count "
                    "nothing until it answers; trying again every %d s.",
                    str(error).rstrip("."),
                    RETRY_SECONDS,
                )

    def ended(self):
        with self.lock:
            if self.since is not None:
                seconds = time.monotonic() - self.since
                logger.info("Redis (REDIS_URL) answers again after %.0f s: caching is back.", seconds)
                self.since = None


def _twice_if_disconnected(method, *args, **kwargs):
    """method(...), once more after a ConnectionError: the first try may have had a pooled connection that died
    with an earlier Redis (restarted, failed over); redis-py has dropped it, so the second one connects anew."""
    try:
        return method(*args, **kwargs)
    except redis.ConnectionError:
        return method(*args, **kwargs)


_outages = {}  # LOCATION: Outage
_outages_lock = threading.Lock()


class RedisCache(DjangoRedisCache):
    """Django's Redis cache, but while Redis is unreachable: a miss for every read, nothing kept by a write."""

    def __init__(self, server, params):
        super().__init__(server, params)
        with _outages_lock:
            self.outage = _outages.setdefault(server, Outage())

    def _unless_down(self, fallback, method, *args, **kwargs):
        """method(*args, **kwargs), or `fallback` when Redis is unreachable (raised, if it is an exception)."""
        if self.outage.may_try():
            try:
                result = _twice_if_disconnected(method, *args, **kwargs)
            except UNREACHABLE as error:
                self.outage.began(error)
            else:
                if self.outage.since is not None:
                    self.outage.ended()
                return result
        if isinstance(fallback, Exception):
            raise fallback
        return fallback

    def reachable(self):
        """Whether Redis answers now (while it is down, asked at most every RETRY_SECONDS); for /healthz."""
        self.has_key("healthz")  # a round trip
        return self.outage.since is None

    def get(self, key, default=None, version=None):
        return self._unless_down(default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._unless_down({}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._unless_down(False, super().has_key, key, version)

    def add(self, key, *args, **kwargs):
        return self._unless_down(False, super().add, key, *args, **kwargs)

    def set(self, key, *args, **kwargs):
        return self._unless_down(None, super().set, key, *args, **kwargs)

    def set_many(self, data, *args, **kwargs):
        return self._unless_down(list(data), super().set_many, data, *args, **kwargs)  # the keys not set

    def touch(self, key, *args, **kwargs):
        return self._unless_down(False, super().touch, key, *args, **kwargs)

    def delete(self, key, version=None):
        return self._unless_down(False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        return self._unless_down(None, super().delete_many, keys, version)

    def incr(self, key, delta=1, version=None):  # decr() calls it too
        missing = ValueError(f"Key '{key}' not found (Redis is unreachable)")  # as for any key an empty cache lacks
        return self._unless_down(missing, super().incr, key, delta, version)

    def clear(self):
        return self._unless_down(None, super().clear)
