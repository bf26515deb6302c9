"""Sliding-window budgets shared by every worker (Redis), or by one process (the demo).

A budget admits `weight` events now if the events of the last `window` seconds plus these stay
within `limit`; otherwise it records nothing and says how long until they would fit. The
window slides: twenty reveals at 10:09 still count at 10:11, whatever the clock's minute.
"""

import threading
import time
import uuid

from django.conf import settings
from django.core.cache import cache

# KEYS[1]: the budget. ARGV: now, window, limit, weight, a unique id for this take.
# Returns 0 when admitted, else the milliseconds until the oldest events that must leave have
# left. One script, so two workers cannot both see room for the last slot.
_TAKE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local weight = tonumber(ARGV[4])
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

_local_lock = threading.Lock()


def _uses_redis() -> bool:
    return "django_redis" in settings.CACHES["default"]["BACKEND"]


def take(key: str, *, limit: int, window: int, weight: int = 1) -> float:
    """Spend `weight` from the budget `key`; 0 when admitted, else seconds to wait (nothing
    spent). Raises the cache's connection errors: callers refuse rather than admit."""
    if weight <= 0:
        return 0
    if _uses_redis():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no stubs

        connection = get_redis_connection("default")
        # Milliseconds, so events of the same second stay distinct and ordered.
        wait_ms = connection.eval(
            _TAKE,
            1,
            cache.make_key(f"budget:{key}"),
            int(time.time() * 1000),
            window * 1000,
            limit,
            weight,
            uuid.uuid4().hex,
        )
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
    if _uses_redis():
        from django_redis import get_redis_connection  # type: ignore[import-untyped]  # no stubs

        get_redis_connection("default").delete(cache.make_key(f"budget:{key}"))
    else:
        cache.delete(f"budget:{key}")
