"""Connections to Redis that fail fast, for every user of the shared cache (sessions, the
guard's budgets, import progress, /healthz).

Redis is a cache here: when it is down or hung, a request must not wait for it. The socket
timeouts (settings, `REDIS_CACHE_OPTIONS`) bound one command to a quarter of a second; on top of
that, after a command failed for want of Redis, this process does not ask Redis again for
`SKIP_SECONDS` (a circuit breaker): a hung Redis would otherwise cost every cache call of every
request its timeout. Callers see the skip as a `RedisUnavailable` (a redis `ConnectionError`),
exactly as they see Redis being down.

Measured with a hung Redis (SIGSTOP), 20 requests in one process, as tests/test_redis_outage.py
runs them: without the breaker a signed-in page took 0.55 s (the session's read and write-back
each waited their timeout) and a reveal 0.83 s; with it, 0.04 s and 0.06 s, after one request
that waited 0.29 s.
"""

import logging
import threading
import time
from functools import cache

from django.conf import settings
from redis.connection import AbstractConnection, Connection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# How long a process leaves Redis alone after a failure. Short: when Redis is back, the guard
# answers 503 and sessions skip the cache for at most this long.
SKIP_SECONDS = 5.0


class RedisUnavailable(RedisConnectionError):
    """Redis failed a moment ago; not asked again yet."""


class Breaker:
    """The process's memory of Redis failing: open for `SKIP_SECONDS` after a failure. One per
    process, as a process talks to one Redis (the default cache's)."""

    def __init__(self) -> None:
        self.open_until = 0.0
        self._lock = threading.Lock()

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise RedisUnavailable(f"Redis failed less than {SKIP_SECONDS:g} s ago; not asked again yet.")

    def trip(self, error: Exception) -> None:
        with self._lock:
            was_closed = time.monotonic() >= self.open_until
            self.open_until = time.monotonic() + SKIP_SECONDS
        if was_closed:
            logger.warning("Redis did not answer (%s); not asking it again for %g s.", error, SKIP_SECONDS)

    def reset(self) -> None:
        self.open_until = 0.0


breaker = Breaker()


class FailFastMixin(AbstractConnection):
    """Wraps the three places a redis-py connection touches the socket; mixed in before a
    concrete connection class (plain TCP, TLS, Unix socket) by `fail_fast`."""

    def _watched(self, method, *args, **kwargs):
        try:
            return method(*args, **kwargs)
        except RedisUnavailable:
            raise
        except (RedisConnectionError, RedisTimeoutError) as error:
            breaker.trip(error)
            raise

    def connect(self, *args, **kwargs):
        breaker.check()
        return self._watched(super().connect, *args, **kwargs)

    def send_packed_command(self, *args, **kwargs):
        breaker.check()
        return self._watched(super().send_packed_command, *args, **kwargs)

    def read_response(self, *args, **kwargs):
        return self._watched(super().read_response, *args, **kwargs)


@cache
def fail_fast(connection_class: type) -> type:
    """The connection class (plain TCP, TLS or a Unix socket, as the URL says) with the breaker."""
    return type(f"FailFast{connection_class.__name__}", (FailFastMixin, connection_class), {})


class FailFastConnectionPool(ConnectionPool):
    """django-redis's `CONNECTION_POOL_CLASS`: redis-py's pool, making fail-fast connections."""

    def __init__(self, connection_class=Connection, **kwargs):
        super().__init__(connection_class=fail_fast(connection_class), **kwargs)


def uses_redis() -> bool:
    """Whether the default cache is Redis (production, the tests) or one process's memory (the
    embedded demo)."""
    return "django_redis" in settings.CACHES["default"]["BACKEND"]


def redis_ping() -> bool:
    """True when Redis answers a PING now (through the breaker: False while it is open)."""
    from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no types shipped

    try:
        return bool(get_redis_connection("default").ping())
    except Exception:  # noqa: BLE001 - whatever the failure, Redis did not answer
        return False
