"""The brute-force locks, which live in Kamailio (htables `ipban` and `extlock`, see
route[AUTH_FAILED] in deploy/kamailio/kamailio.cfg): listed and lifted over its control socket
on the loopback (the same `kamcmd` as sip.controls), and the security events Kamailio writes
(`sip_security_event`), scoped to a tenant.

- `ipban`, key `<address>`: a source address blocked after too many failed logins;
- `extlock`, key `ext:<number>@<domain>`: an extension locked after too many wrong passwords;
each with the Unix time the lock ends as its value. Locks are in shared memory, and Kamailio
puts the ones still running back when it starts, from the events it wrote (route[RELOAD_LOCKS]);
an admin's unblock marks those events lifted (`released_at`), so a restart does not undo it.
The failure counters (`authfail`) are not kept: a restart forgets failures short of a lock.
In a cluster each node replicates its locks to the others (htable over DMQ): they are read from
every node (a lock any node holds is listed, once, with the latest end) and lifted on every node.

A tenant admin sees the locks of its extensions, and the address blocks whose recorded event
was for one of its hotlines' domains (the address tried its extensions); every lock and event,
platform-wide, is in Django's admin. The SIP security page and the API (`sip-locks/`,
`security-events/`) both go through the functions below, so they show and lift the same locks.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.choices import Action
from audit.services import audit_record
from extensions.models import Extension
from hotlines.models import Hotline

from .choices import LockKind, SecurityEventKind
from .controls import CountersUnavailable
from .kamailio import KamailioConfig, rpc_each
from .models import SecurityEvent

logger = logging.getLogger(__name__)

HTABLES = {LockKind.ADDRESS: "ipban", LockKind.EXTENSION: "extlock"}
EXTENSION_PREFIX = "ext:"
_ITEM_RE = re.compile(r"name:\s*(\S+)\s+value:\s*(-?\d+)")
# What route[AUTH_GUARD] answers while a lock lasts, whatever the password.
REPLIES = {
    LockKind.ADDRESS: "403 Blocked: too many failed logins from this address",
    LockKind.EXTENSION: "403 Extension locked: too many wrong passwords",
}


@dataclass(frozen=True)
class Lock:
    """A lock Kamailio holds: an address, or an extension as `number@domain`, until `until`."""

    kind: str
    key: str
    until: dt.datetime

    @property
    def id(self) -> str:
        """`<kind>:<key>`, e.g. `address:203.0.113.7`, `extension:101@19001234.sip.example.vn`
        (what the API names it by; see parse_lock_id)."""
        return f"{self.kind}:{self.key}"

    @property
    def domain(self) -> str:
        return self.key.rpartition("@")[2] if self.kind == LockKind.EXTENSION else ""

    @property
    def number(self) -> str:
        return self.key.rpartition("@")[0] if self.kind == LockKind.EXTENSION else ""

    @property
    def sip_reply(self) -> str:
        return REPLIES[LockKind(self.kind)]

    @property
    def reason(self) -> str:
        if self.kind == LockKind.EXTENSION:
            return _(
                "Too many wrong passwords for this extension: the SIP server refuses it from "
                "everywhere, even with the right password, until the lock ends."
            )
        return _(
            "Too many failed logins from this address: the SIP server refuses everything it "
            "sends, even with the right password, until the block ends."
        )

    def remaining(self, now: dt.datetime | None = None) -> int:
        """Whole seconds until it ends (0 when it has)."""
        return max(0, int((self.until - (now or timezone.now())).total_seconds()))


# An extension lock's key as Kamailio writes it: number@hotline SIP domain.
EXTENSION_KEY = re.compile(r"[0-9]{1,16}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}")


def parse_lock_id(lock_id: str) -> tuple[LockKind, str] | None:
    """`Lock.id` → (kind, key); None for anything that names no lock."""
    kind, _sep, key = lock_id.partition(":")
    if kind == LockKind.ADDRESS and _is_address(key):
        return LockKind.ADDRESS, key
    if kind == LockKind.EXTENSION and EXTENSION_KEY.fullmatch(key):
        return LockKind.EXTENSION, key
    return None


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


def _tenant_events(tenant_id: int | None) -> QuerySet[SecurityEvent]:
    return SecurityEvent.objects.filter(domain__in=tenant_domains(tenant_id))


def security_event_list(*, tenant_id: int | None) -> QuerySet[SecurityEvent]:
    """The security events on the tenant's hotlines' domains, newest first, each with
    `extension_pk`: the id of the extension its number and domain name (None: no such
    extension, e.g. a number guessed, or deleted since)."""
    # A SIP domain is one hotline's (unique), here one of the tenant's.
    extension = Extension.objects.filter(
        hotline__sip_domain=OuterRef("domain"), number=OuterRef("username")
    ).values("pk")[:1]
    return _tenant_events(tenant_id).annotate(extension_pk=Subquery(extension))


def _blocked_addresses(tenant_id: int | None) -> QuerySet:
    """The addresses ever blocked (an `ip_blocked` event, lifted or not) while trying the
    tenant's hotlines' domains: whose address blocks the tenant sees and may lift."""
    return (
        _tenant_events(tenant_id)
        .filter(kind=SecurityEventKind.IP_BLOCKED)
        .values_list("source_ip", flat=True)
    )


def sip_locks_for_tenant(*, tenant_id: int | None, config: KamailioConfig | None = None) -> list[Lock]:
    """The locks a tenant admin sees: its extensions', and the addresses blocked while trying them.
    Raises CountersUnavailable when Kamailio does not answer."""
    locks = sip_locks(config=config)
    domains = set(tenant_domains(tenant_id))
    addresses = set(_blocked_addresses(tenant_id))
    return [
        lock
        for lock in locks
        if (lock.kind == LockKind.EXTENSION and lock.domain in domains)
        or (lock.kind == LockKind.ADDRESS and lock.key in addresses)
    ]


def sip_lock_get(*, tenant_id: int | None, lock_id: str, config: KamailioConfig | None = None) -> Lock | None:
    """The lock `lock_id` (Lock.id) in force now if the tenant sees it (sip_locks_for_tenant's
    rule), else None: no such lock, another tenant's, or one that has ended. Whether the tenant
    may see it is decided first, from the database, so another tenant's lock is not found even
    when Kamailio does not answer; then one `htable.dump` per node (CountersUnavailable when none
    answers)."""
    parsed = parse_lock_id(lock_id)
    if parsed is None:
        return None
    kind, key = parsed
    if kind == LockKind.EXTENSION:
        number, _at, domain = key.rpartition("@")
        visible = bool(number) and tenant_domains(tenant_id).filter(sip_domain=domain).exists()
    else:
        visible = _blocked_addresses(tenant_id).filter(source_ip=key).exists() if _is_address(key) else False
    if not visible:
        return None
    return next((lock for lock in _table_locks(config, kind) if lock.key == key), None)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lock_extensions(*, tenant_id: int | None, locks: list[Lock]) -> dict[str, Extension]:
    """{lock key: the tenant's extension} for the extension locks among `locks` (one query)."""
    keyed = {lock.key: lock for lock in locks if lock.kind == LockKind.EXTENSION}
    if not keyed:
        return {}
    extensions = (
        Extension.objects.filter(hotline__sip_domain__in=tenant_domains(tenant_id))
        .filter(
            hotline__sip_domain__in={lock.domain for lock in keyed.values()},
            number__in={lock.number for lock in keyed.values()},
        )
        .select_related("hotline")
    )
    found = {f"{e.number}@{e.hotline.sip_domain}": e for e in extensions}
    return {key: found[key] for key in keyed if key in found}


def _lock_events(lock: Lock) -> QuerySet[SecurityEvent]:
    """The security events that put `lock` in place and are not lifted yet."""
    events = SecurityEvent.objects.filter(released_at__isnull=True)
    if lock.kind == LockKind.EXTENSION:
        number, _at, domain = lock.key.rpartition("@")
        return events.filter(kind=SecurityEventKind.EXTENSION_LOCKED, username=number, domain=domain)
    return events.filter(kind=SecurityEventKind.IP_BLOCKED, source_ip=lock.key)


@transaction.atomic
def sip_lock_release(
    *, lock: Lock, tenant_id: int | None, actor=None, config: KamailioConfig | None = None
) -> None:
    """Lift a lock in Kamailio on every node (with its failure counter), audited, and mark its
    security events lifted, so that a Kamailio restart, which reloads the locks still running
    from those events, does not bring it back. The caller has checked that the tenant may see
    the lock (sip_locks_for_tenant). Nothing is recorded when no node answers (the lock stays)."""
    name = f"{EXTENSION_PREFIX}{lock.key}" if lock.kind == LockKind.EXTENSION else lock.key
    counter = name if lock.kind == LockKind.EXTENSION else f"ip:{lock.key}"
    _lock_events(lock).update(released_at=timezone.now())
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
