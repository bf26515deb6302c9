"""The call limits' counters, which live in Kamailio (htable `calls`, see route[OUTBOUND_CONTROLS]
in deploy/kamailio/kamailio.cfg): read and cleared over its control socket on the loopback.

- `m<extension id>`: the times (Unix seconds) of its calls out through the carrier in the last
  60 s, comma-separated; a call is refused when as many as its per-minute limit are younger
  than 60 s (a sliding window).
- `d<extension id>:<day>`: its calls out on that day, the day number being Vietnam's
  (UTC+7, no daylight saving): (Unix seconds + 25200) // 86400.

Counters are Kamailio's, in shared memory: lost on a restart of every node (which lifts every
limit). In a cluster each node replicates its changes to the others (htable over DMQ,
kamailio.cfg WITH_CLUSTER): they are read from every node and the highest taken (a node that
missed a change counts fewer, never more), and cleared on every node.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass

from audit.choices import Action
from audit.services import audit_record
from extensions.models import Extension

from .kamailio import KamailioConfig, NodeAnswer, rpc_each

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


def _htable_get(config: KamailioConfig | None, key: str) -> list[str | None]:
    """The key's value at every node that answers (None where it has no such key); raises
    CountersUnavailable when none does."""
    values = []
    errors = []
    for answer in rpc_each("htable.get", HTABLE, key, config=config):
        if answer.ok:
            match = _VALUE_RE.search(answer.output or "")
            values.append(match.group(1) if match else None)
        elif "doesn't exist" in answer.error:  # "500 - Key name doesn't exist in htable."
            values.append(None)  # no such key: nothing counted
        else:
            errors.append(answer.error)
    if not values:
        raise CountersUnavailable("; ".join(errors) or "No Kamailio answered")
    return values


def call_counters(
    *, extension: Extension, config: KamailioConfig | None = None, now: float | None = None
) -> CallCounters:
    """Read the extension's counters from Kamailio (two `htable.get` per node; the node that
    counted most); raises CountersUnavailable when no Kamailio answers."""
    at = int(now if now is not None else time.time())
    minutes = [
        tuple(
            sorted(
                t
                for part in (value or "").split(",")
                if part.strip().isdigit() and (t := int(part)) > at - WINDOW_SECONDS
            )
        )
        for value in _htable_get(config, minute_key(extension.pk))
    ]
    days = [
        int(value) if value and value.strip().isdigit() else 0
        for value in _htable_get(config, day_key(extension.pk, at))
    ]
    return CallCounters(at=at, recent=max(minutes, key=len), today=max(days))


def call_limits_lift(
    *, extension: Extension, actor=None, config: KamailioConfig | None = None
) -> CallCounters:
    """Clear the extension's counters in Kamailio (an admin lifts a limit it ran into), audited
    with what they were. Raises CountersUnavailable when Kamailio does not answer."""
    before = call_counters(extension=extension, config=config)
    for key in (minute_key(extension.pk), day_key(extension.pk, before.at)):
        for answer in rpc_each("htable.delete", HTABLE, key, config=config):
            _log_failed_delete(answer, key)
    audit_record(
        action=Action.CALL_LIMITS_LIFT,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        actor=actor,
        changes={"calls_last_minute": [before.last_minute, 0], "calls_today": [before.today, 0]},
        object_repr=f"{extension.number} ({extension.alias})",
    )
    return before


def _log_failed_delete(answer: NodeAnswer, key: str) -> None:
    if not answer.ok:  # an absent key is fine; a node that is down counts nothing anyway
        logger.info("htable.delete %s at %s: %s", key, answer.address, answer.error)
