"""The brute-force locks, which live in Kamailio (htables `ipban` and `extlock`, see
route[AUTH_FAILED] in deploy/kamailio/kamailio.cfg): listed and lifted over its control socket
on the loopback (the same `kamcmd` as sip.controls), and the security events Kamailio writes
(`sip_security_event`), scoped to a tenant.

- `ipban`, key `<address>`: a source address blocked after too many failed logins;
- `extlock`, key `ext:<number>@<domain>`: an extension locked after too many wrong passwords;
each with the Unix time the lock ends as its value. Locks are in shared memory: a restart
lifts them (the events stay in the database). In a cluster each node replicates its locks to the
others (htable over DMQ): they are read from every node (a lock any node holds is listed, once,
with the latest end) and lifted on every node.

A tenant admin sees the locks of its extensions, and the address blocks whose recorded event
was for one of its hotlines' domains (the address tried its extensions); every lock and event,
platform-wide, is in Django's admin.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from django.db.models import QuerySet

from audit.choices import Action
from audit.services import audit_record
from hotlines.models import Hotline

from .choices import LockKind, SecurityEventKind
from .controls import CountersUnavailable
from .kamailio import KamailioConfig, rpc_each
from .models import SecurityEvent

logger = logging.getLogger(__name__)

HTABLES = {LockKind.ADDRESS: "ipban", LockKind.EXTENSION: "extlock"}
EXTENSION_PREFIX = "ext:"
_ITEM_RE = re.compile(r"name:\s*(\S+)\s+value:\s*(-?\d+)")


@dataclass(frozen=True)
class Lock:
    """A lock Kamailio holds: an address, or an extension as `number@domain`, until `until`."""

    kind: str
    key: str
    until: dt.datetime

    @property
    def domain(self) -> str:
        return self.key.rpartition("@")[2] if self.kind == LockKind.EXTENSION else ""


def _dumps(config: KamailioConfig | None, table: str) -> list[str]:
    """`htable.dump` of the table at every node that answers; raises CountersUnavailable when none
    does."""
    answers = rpc_each("htable.dump", table, config=config)
    outputs = [answer.output for answer in answers if answer.output is not None]
    if not outputs:
        raise CountersUnavailable("; ".join(answer.error for answer in answers) or "No Kamailio answered")
    return outputs


def sip_locks(*, config: KamailioConfig | None = None) -> list[Lock]:
    """Every lock Kamailio holds now (two `htable.dump` per node), soonest to end first. Raises
    CountersUnavailable when Kamailio does not answer."""
    locks = [lock for kind in HTABLES for lock in _table_locks(config, kind)]
    return sorted(locks, key=lambda lock: (lock.until, lock.key))


def _table_locks(config: KamailioConfig | None, kind: LockKind) -> list[Lock]:
    """The table's locks at every node, each once, ending when the last node lifts it."""
    until: dict[str, int] = {}
    for output in _dumps(config, HTABLES[kind]):
        for name, value in _ITEM_RE.findall(output):
            until[name] = max(int(value), until.get(name, 0))
    return [
        Lock(
            kind=kind,
            key=name.removeprefix(EXTENSION_PREFIX),
            until=dt.datetime.fromtimestamp(value, tz=dt.UTC),
        )
        for name, value in until.items()
    ]


def extension_lock(*, number: str, domain: str, config: KamailioConfig | None = None) -> Lock | None:
    """The lock on one extension (route[AUTH_GUARD] refuses everything it sends while it
    lasts), or None. One `htable.dump`; raises CountersUnavailable when Kamailio does not answer."""
    key = f"{number}@{domain}"
    locks = _table_locks(config, LockKind.EXTENSION)
    return next((lock for lock in locks if lock.key == key), None)


def tenant_domains(tenant_id: int | None) -> QuerySet:
    return Hotline.objects.filter(tenant_id=tenant_id).values_list("sip_domain", flat=True)


def security_event_list(*, tenant_id: int | None) -> QuerySet[SecurityEvent]:
    """The security events on the tenant's hotlines' domains, newest first."""
    return SecurityEvent.objects.filter(domain__in=tenant_domains(tenant_id))


def sip_locks_for_tenant(*, tenant_id: int | None, config: KamailioConfig | None = None) -> list[Lock]:
    """The locks a tenant admin sees: its extensions', and the addresses blocked while trying them."""
    locks = sip_locks(config=config)
    domains = set(tenant_domains(tenant_id))
    addresses = set(
        security_event_list(tenant_id=tenant_id)
        .filter(kind=SecurityEventKind.IP_BLOCKED)
        .values_list("source_ip", flat=True)
    )
    return [
        lock
        for lock in locks
        if (lock.kind == LockKind.EXTENSION and lock.domain in domains)
        or (lock.kind == LockKind.ADDRESS and lock.key in addresses)
    ]


def sip_lock_release(
    *, lock: Lock, tenant_id: int | None, actor=None, config: KamailioConfig | None = None
) -> None:
    """Lift a lock in Kamailio (with its failure counter), audited. The caller has checked
    that the tenant may see the lock (sip_locks_for_tenant)."""
    name = f"{EXTENSION_PREFIX}{lock.key}" if lock.kind == LockKind.EXTENSION else lock.key
    counter = name if lock.kind == LockKind.EXTENSION else f"ip:{lock.key}"
    answers = rpc_each("htable.delete", HTABLES[LockKind(lock.kind)], name, config=config)
    if not any(answer.ok for answer in answers):
        raise CountersUnavailable("; ".join(answer.error for answer in answers))
    for answer in answers + rpc_each("htable.delete", "authfail", counter, config=config):
        if not answer.ok:  # a node that is down holds nothing; no counter left: nothing to clear
            logger.info("htable.delete at %s: %s", answer.address, answer.error)
    audit_record(
        action=Action.SIP_UNBLOCK,
        tenant_id=tenant_id,
        actor=actor,
        changes={"lock": [f"{lock.kind} {lock.key}", None], "until": [lock.until.isoformat(), None]},
        object_repr=lock.key,
    )
