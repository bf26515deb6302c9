"""Sessions kept in the database and read through Redis (`SESSION_ENGINE` with Redis).

Django's `cached_db` store, for which Redis is only what it should be, a cache: when Redis is
down or hung, every read, write and delete of the cache (sign-in's `cycle_key` included) is
logged and skipped, and the session is read from and written to the database alone. Nobody is
signed out and no request fails for want of Redis.

A cached copy that could not be replaced or deleted (a sign-out while Redis did not answer) must
not outlive Redis's return: the process remembers such keys and deletes them from the cache at
the next chance, and no copy is cached for longer than `CACHE_SECONDS`, which bounds what a
process that died in the meantime could leave behind.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.contrib.sessions.backends import cached_db
from django.core.cache.backends.base import BaseCache

from .redis_pool import RedisUnavailable

logger = logging.getLogger(__name__)

# The longest a session is served from Redis without the database being asked: one query per
# active user per 5 minutes, and a sign-out during a Redis hiccup holds everywhere within 5
# minutes even if the process that saw it is gone.
CACHE_SECONDS = 5 * 60
# Keys whose cached copy may be stale, to delete from Redis once it answers; bounded, since an
# outage may last. Beyond the bound, CACHE_SECONDS alone ends the stale copies.
MAX_STALE_KEYS = 10_000
_stale_keys: set[str] = set()
_stale_lock = threading.Lock()


def _log_skipped(action: str, error: Exception) -> None:
    # The breaker logged the failure once already; its fast refusals are not news.
    level = logging.DEBUG if isinstance(error, RedisUnavailable) else logging.WARNING
    logger.log(level, "Session cache unavailable, %s skipped (%s); using the database.", action, error)


def _remember_stale(cache_key: str) -> None:
    with _stale_lock:
        if len(_stale_keys) < MAX_STALE_KEYS:
            _stale_keys.add(cache_key)


class SessionStore(cached_db.SessionStore):
    # What Django's stores have and django-stubs does not declare.
    _cache: BaseCache
    _session: dict[str, Any]
    _get_session_from_db: Callable[[], Any]

    def _forget_stale(self) -> bool:
        """Delete the remembered stale copies; False while Redis still does not answer."""
        if not _stale_keys:
            return True
        with _stale_lock:
            keys = list(_stale_keys)
        try:
            self._cache.delete_many(keys)
        except Exception as error:  # noqa: BLE001 - the cache failing is the case handled here
            _log_skipped("deleting stale copies", error)
            return False
        with _stale_lock:
            _stale_keys.difference_update(keys)
        return True

    def _cache_set(self, data, expiry_age: int) -> None:
        try:
            self._cache.set(self.cache_key, data, min(expiry_age, CACHE_SECONDS))
        except Exception as error:  # noqa: BLE001
            _log_skipped("write", error)
            _remember_stale(self.cache_key)

    def _cache_delete(self, cache_key: str) -> None:
        try:
            self._cache.delete(cache_key)
        except Exception as error:  # noqa: BLE001
            _log_skipped("delete", error)
            _remember_stale(cache_key)

    def load(self):
        data = None
        if self._forget_stale():
            try:
                data = self._cache.get(self.cache_key)
            except Exception as error:  # noqa: BLE001
                _log_skipped("read", error)
        if data is None:
            s = self._get_session_from_db()
            if s:
                data = self.decode(s.session_data)
                self._cache_set(data, self.get_expiry_age(expiry=s.expire_date))
            else:
                data = {}
        return data

    def exists(self, session_key):
        if session_key:
            try:
                if (self.cache_key_prefix + session_key) in self._cache:
                    return True
            except Exception as error:  # noqa: BLE001
                _log_skipped("lookup", error)
        return super(cached_db.SessionStore, self).exists(session_key)

    def save(self, must_create=False):
        super(cached_db.SessionStore, self).save(must_create)
        self._cache_set(self._session, self.get_expiry_age())

    def delete(self, session_key=None):
        super(cached_db.SessionStore, self).delete(session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self._cache_delete(self.cache_key_prefix + session_key)
