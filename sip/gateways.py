"""Carrier gateways (cổng nhà mạng): the platform operator's writes, and their state as the SIP
server sees it.

Writes go through `gateway_create` / `gateway_update` / `gateway_delete` (the Django admin and
any command): each checks the model's rules (`full_clean`), writes its audit row in the same
transaction, and after the commit asks Kamailio to re-read the gateways (`dispatcher.reload`,
sip.services.sip_gateways_reload). `gateway_states()` reads Kamailio's own view of them
(`dispatcher.list`): active, trying, inactive (its probes fail), disabled.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q

from audit.choices import Action
from audit.services import audit_record, diff
from core.services import integrity_as_validation

from .choices import GatewayState
from .kamailio import KamailioConfig, KamailioError, config_from_settings, rpc
from .models import Gateway
from .services import sip_gateways_reload

FIELDS = ("name", "tenant", "host", "port", "transport", "priority", "weight", "caller_id_format", "enabled")


def _state(gateway: Gateway) -> dict[str, Any]:
    return {
        "name": gateway.name,
        "tenant": gateway.tenant_id,
        "uri": gateway.uri,
        "priority": gateway.priority,
        "weight": gateway.weight,
        "caller_id_format": gateway.caller_id_format,
        "enabled": gateway.enabled,
    }


def _reload_after_commit() -> None:
    transaction.on_commit(sip_gateways_reload)


def _assign(gateway: Gateway, data: dict[str, Any]) -> None:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise TypeError(f"Not a gateway field: {', '.join(sorted(unknown))}")
    for name, value in data.items():
        setattr(gateway, name, value.strip() if isinstance(value, str) else value)


@transaction.atomic
def gateway_create(**data: Any) -> Gateway:
    """A new gateway, in use by Kamailio after the commit."""
    gateway = Gateway()
    _assign(gateway, data)
    gateway.full_clean()
    with integrity_as_validation(Gateway):
        gateway.save()
    changes = diff({}, _state(gateway))
    audit_record(action=Action.CREATE, obj=gateway, tenant_id=gateway.tenant_id, changes=changes)
    _reload_after_commit()
    return gateway


@transaction.atomic
def gateway_update(*, gateway: Gateway, **data: Any) -> Gateway:
    """Change a gateway; a change of scope is audited for both tenants."""
    stored = Gateway.objects.select_for_update().get(pk=gateway.pk)
    before = _state(stored)
    _assign(gateway, data)
    gateway.full_clean()
    changes = diff(before, _state(gateway))
    if not changes:
        return gateway
    with integrity_as_validation(Gateway):
        gateway.save()
    audit_record(action=Action.UPDATE, obj=gateway, tenant_id=gateway.tenant_id, changes=changes)
    if stored.tenant_id and stored.tenant_id != gateway.tenant_id:
        audit_record(action=Action.UPDATE, obj=gateway, tenant_id=stored.tenant_id, changes=changes)
    _reload_after_commit()
    return gateway


@transaction.atomic
def gateway_delete(*, gateway: Gateway) -> None:
    changes = diff(_state(gateway), {})
    audit_record(action=Action.DELETE, obj=gateway, tenant_id=gateway.tenant_id, changes=changes)
    gateway.delete()
    _reload_after_commit()


def gateway_first(*, tenant_id: int) -> Gateway | None:
    """The gateway a call of this tenant tries first (route[CARRIER_SELECT]): the tenant's own
    enabled gateways by priority, then the provider's; among equal priorities the heaviest
    (Kamailio shares those calls by weight). None: SIP_GATEWAY_URI, if set, takes the calls."""
    candidates = Gateway.objects.filter(Q(tenant_id=tenant_id) | Q(tenant__isnull=True), enabled=True)
    return candidates.order_by(F("tenant_id").asc(nulls_last=True), "priority", "-weight", "pk").first()


# --- State, as Kamailio's dispatcher holds it ---------------------------------------------------

_FLAG_STATES = {
    "A": GatewayState.ACTIVE,
    "T": GatewayState.TRYING,
    "I": GatewayState.INACTIVE,
    "D": GatewayState.DISABLED,
}
_DEST_RE = re.compile(r"URI:\s*(?P<uri>\S+)\s+FLAGS:\s*(?P<flags>[A-Z]+)", re.MULTILINE)
_GW_RE = re.compile(r"(?:^|[;\s])gw=(\d+)")


@dataclass(frozen=True)
class GatewayStatus:
    state: GatewayState
    probing: bool = False

    @property
    def usable(self) -> bool:
        return self.state in (GatewayState.ACTIVE, GatewayState.TRYING)


def parse_dispatcher_list(output: str) -> dict[int, GatewayStatus]:
    """`kamcmd dispatcher.list` → {gateway id: status}. Each destination is a block with its
    URI, its FLAGS (state letter A/T/I/D, then P when probed, X when not) and its ATTRS, whose
    BODY carries our `gw=<id>`."""
    statuses: dict[int, GatewayStatus] = {}
    blocks = re.split(r"\bDEST:\s*\{", output)[1:]
    for block in blocks:
        flags = re.search(r"FLAGS:\s*([A-Z]+)", block)
        body = re.search(r"BODY:\s*(\S+)", block)
        gw = _GW_RE.search(body.group(1)) if body else None
        if flags is None or gw is None:
            continue
        letters = flags.group(1)
        statuses[int(gw.group(1))] = GatewayStatus(
            state=_FLAG_STATES.get(letters[0], GatewayState.UNKNOWN), probing="P" in letters[1:]
        )
    return statuses


def gateway_states(*, config: KamailioConfig | None = None) -> dict[int, GatewayStatus] | None:
    """Every loaded gateway's state by id, or None when no Kamailio answers on the control
    socket. An enabled gateway missing from the answer is not loaded yet (no reload since)."""
    config = config or config_from_settings()
    if not config.ctl_socket.exists():
        return None
    try:
        output = rpc(config, "dispatcher.list")
    except KamailioError as exc:
        if "No destination sets" in str(exc) or "no destination" in str(exc).lower():
            return {}
        return None
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_dispatcher_list(output)


def gateway_status(gateway: Gateway, states: dict[int, GatewayStatus] | None) -> GatewayStatus:
    if states is None:
        return GatewayStatus(GatewayState.UNKNOWN)
    if not gateway.enabled:
        return GatewayStatus(GatewayState.DISABLED)
    return states.get(gateway.pk) or GatewayStatus(GatewayState.NOT_LOADED)
