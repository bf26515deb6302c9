"""The call limits' counters, which live in Kamailio (htable `calls`, see route[OUTBOUND_CONTROLS]
in deploy/kamailio/kamailio.cfg): read and cleared over its control socket on the loopback.

- `m<extension id>`: the times (Unix seconds) of its calls out through the carrier in the last
  60 s, comma-separated; a call is refused when as many as its per-minute limit are younger
  than 60 s (a sliding window).
- `d<extension id>:<day>`: its calls out on that day, the day number being Vietnam's
  (UTC+7, no daylight saving): (Unix seconds + 25200) // 86400.

Counters are Kamailio's, in shared memory: lost on a restart (which lifts every limit) and not
shared between cluster nodes yet (an htable can be replicated with dmq later).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
import time
from dataclasses import dataclass

from audit.choices import Action
from audit.services import audit_record
from extensions.models import Extension

from .kamailio import KamailioConfig, KamailioError, config_from_settings, rpc

logger = logging.getLogger(__name__)

HTABLE = "calls"
WINDOW_SECONDS = 60
VN_UTC_OFFSET = 7 * 3600
_VALUE_RE = re.compile(r"^\s*value:\s*(.*?)\s*$", re.MULTILINE)


def vn_day(timestamp: float) -> int:
    """The day number Kamailio keys the daily counter with."""
    return (int(timestamp) + VN_UTC_OFFSET) // 86400


def minute_key(extension_id: int) -> str:
    return f"m{extension_id}"


def day_key(extension_id: int, timestamp: float) -> str:
    return f"d{extension_id}:{vn_day(timestamp)}"


@dataclass(frozen=True)
class CallCounters:
    """An extension's counters as Kamailio holds them at `at` (Unix seconds)."""

    at: int
    recent: tuple[int, ...]  # times of its calls out in the last 60 s, oldest first
    today: int

    @property
    def last_minute(self) -> int:
        return len(self.recent)

    def minute_frees_at(self, limit: int) -> dt.datetime | None:
        """When a call becomes possible again under a per-minute `limit` (None: it is now)."""
        if len(self.recent) < limit:
            return None
        oldest_that_matters = self.recent[len(self.recent) - limit]
        return dt.datetime.fromtimestamp(oldest_that_matters + WINDOW_SECONDS, tz=dt.UTC)


class CountersUnavailable(Exception):
    """No Kamailio answered on the control socket."""


def _htable_get(config: KamailioConfig, key: str) -> str | None:
    try:
        output = rpc(config, "htable.get", HTABLE, key)
    except KamailioError as exc:
        if "doesn't exist" in str(exc):  # "500 - Key name doesn't exist in htable."
            return None  # no such key: nothing counted
        raise CountersUnavailable(str(exc)) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CountersUnavailable(str(exc)) from exc
    match = _VALUE_RE.search(output)
    return match.group(1) if match else None


def call_counters(
    *, extension: Extension, config: KamailioConfig | None = None, now: float | None = None
) -> CallCounters:
    """Read the extension's counters from Kamailio (two `htable.get`); raises
    CountersUnavailable when Kamailio does not answer."""
    config = config or config_from_settings()
    if not config.ctl_socket.exists():
        raise CountersUnavailable(f"No Kamailio control socket at {config.ctl_socket}")
    at = int(now if now is not None else time.time())
    minute = _htable_get(config, minute_key(extension.pk)) or ""
    recent = tuple(
        sorted(
            t
            for part in minute.split(",")
            if part.strip().isdigit() and (t := int(part)) > at - WINDOW_SECONDS
        )
    )
    day = _htable_get(config, day_key(extension.pk, at))
    return CallCounters(at=at, recent=recent, today=int(day) if day and day.strip().isdigit() else 0)


def call_limits_lift(
    *, extension: Extension, actor=None, config: KamailioConfig | None = None
) -> CallCounters:
    """Clear the extension's counters in Kamailio (an admin lifts a limit it ran into), audited
    with what they were. Raises CountersUnavailable when Kamailio does not answer."""
    config = config or config_from_settings()
    before = call_counters(extension=extension, config=config)
    for key in (minute_key(extension.pk), day_key(extension.pk, before.at)):
        try:
            rpc(config, "htable.delete", HTABLE, key)
        except KamailioError as exc:
            logger.info("htable.delete %s: %s", key, exc)  # an absent key is fine
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CountersUnavailable(str(exc)) from exc
    audit_record(
        action=Action.CALL_LIMITS_LIFT,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        actor=actor,
        changes={"calls_last_minute": [before.last_minute, 0], "calls_today": [before.today, 0]},
        object_repr=f"{extension.number} ({extension.alias})",
    )
    return before
