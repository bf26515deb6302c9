"""Sliding-window budgets shared by every worker (Redis), or by one process (the demo).

A budget admits `weight` events now if the events of the last `window` seconds plus these stay
within `limit`; otherwise it records nothing and says how long until they would fit. The
window slides: twenty reveals at 10:09 still count at 10:11, whatever the clock's minute.

Redis counts, atomically for every worker. A durable budget (the guard's) also keeps each
admitted take in the database (core.models.BudgetEvent): a Redis that restarted empty (this
machine's keeps nothing on disk) finds a budget's key missing, and the take first puts back
that budget's events of the window from the database, under the same member names, so putting
them back twice changes nothing. A restart thus gives nobody a fresh budget.
"""

import datetime
import threading
import time
import uuid

from django.core.cache import cache

from .models import BudgetEvent
from .redis_pool import uses_redis

# KEYS[1]: the budget. ARGV: now, window, limit, weight, a unique id for this take, then either
# "check" (answer -1 if the budget's key is missing: the caller fetches its history) or
# "history" followed by the events to put back first (id, at, weight; ZADD NX: known members
# stay as they are). Returns 0 when admitted, else the milliseconds until the oldest events that
# must leave have left. One script, so two workers cannot both see room for the last slot.
_TAKE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local weight = tonumber(ARGV[4])
if ARGV[6] == 'check' and redis.call('EXISTS', key) == 0 then return -1 end
for i = 7, #ARGV, 3 do
  for n = 1, tonumber(ARGV[i + 2]) do
    redis.call('ZADD', key, 'NX', tonumber(ARGV[i + 1]), ARGV[i] .. ':' .. n)
  end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used + weight > limit then
  if weight > limit then return math.floor(window) end
  local leaving = redis.call('ZRANGE', key, used + weight - limit - 1, used + weight - limit - 1,
                             'WITHSCORES')
  return math.max(1, math.ceil((tonumber(leaving[2]) + window - now)))
end
for i = 1, weight do
  redis.call('ZADD', key, now, ARGV[5] .. ':' .. i)
end
redis.call('PEXPIRE', key, math.ceil(window))
return 0
"""
NEEDS_HISTORY = -1

_local_lock = threading.Lock()


def _ms(moment: datetime.datetime) -> int:
    return round(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)


def _history(key: str, *, since_ms: int) -> list:
    """The budget's kept events after `since_ms`, flat, as the script takes them."""
    events = BudgetEvent.objects.filter(budget=key, at__gt=_moment(since_ms)).values_list(
        "take_id", "at", "weight"
    )
    return [value for take_id, at, weight in events for value in (take_id, _ms(at), weight)]


def _keep(key: str, *, take_id: str, now_ms: int, window_ms: int, weight: int) -> None:
    """Keep an admitted take, and forget the budget's events that left the window."""
    BudgetEvent.objects.filter(budget=key, at__lte=_moment(now_ms - window_ms)).delete()
    BudgetEvent.objects.create(budget=key, take_id=take_id, at=_moment(now_ms), weight=weight)


def take(key: str, *, limit: int, window: int, weight: int = 1, durable: bool = False) -> float:
    """Spend `weight` from the budget `key`; 0 when admitted, else seconds to wait (nothing
    spent). `durable`: the events are also kept in the database and survive a Redis restart.
    Raises the cache's connection errors: callers refuse rather than admit."""
    if weight <= 0:
        return 0
    if uses_redis():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no stubs

        connection = get_redis_connection("default")
        redis_key = cache.make_key(f"budget:{key}")
        take_id = uuid.uuid4().hex
        # Milliseconds, so events of the same second stay distinct and ordered.
        now_ms, window_ms = int(time.time() * 1000), window * 1000
        args = [now_ms, window_ms, limit, weight, take_id]
        wait_ms = connection.eval(_TAKE, 1, redis_key, *args, "check" if durable else "history")
        if wait_ms == NEEDS_HISTORY:
            history = _history(key, since_ms=now_ms - window_ms)
            wait_ms = connection.eval(_TAKE, 1, redis_key, *args, "history", *history)
        if durable and wait_ms == 0:
            _keep(key, take_id=take_id, now_ms=now_ms, window_ms=window_ms, weight=weight)
        return int(wait_ms) / 1000
    # One process (the demo without Redis): the same rule over a list of timestamps.
    with _local_lock:
        now = time.time()
        events = [t for t in cache.get(f"budget:{key}", []) if t > now - window]
        if len(events) + weight > limit:
            if weight > limit:
                return window
            return max(1.0, events[len(events) + weight - limit - 1] + window - now)
        events.extend([now] * weight)
        cache.set(f"budget:{key}", events, timeout=window)
        return 0


def reset(key: str) -> None:
    """Forget a budget's events (an operator lifting a limit, tests)."""
    BudgetEvent.objects.filter(budget=key).delete()
    if uses_redis():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no stubs

        get_redis_connection("default").delete(cache.make_key(f"budget:{key}"))
    else:
        cache.delete(f"budget:{key}")
