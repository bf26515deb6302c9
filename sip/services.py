"""Telling the running Kamailio about changes it cannot see in the database by itself.

Credentials are read live on every REGISTER, so password changes and disabled or deleted
extensions need nothing. Some things are cached by Kamailio, and these functions refresh them;
call them after the change commits, e.g. `transaction.on_commit(sip_domains_reload)`:

- the hotline domains (domain module): after a hotline is created, enabled, disabled or deleted;
- the registrations in memory (usrloc): after an extension is disabled or deleted, so its
  devices stop showing online and stop receiving calls at once, not when they expire;
- the carrier gateways (dispatcher): after a gateway is created, changed or deleted
  (sip.gateways);
- the dial rules (dialplan): after a rule is created, changed or deleted. Kamailio refuses a
  reload within 5 s of the previous one (its `reload_delta`); its timer re-reads the rules
  anyway, so a refused reload only delays the change by a few seconds.

Call permission, caller-ID pools and supervisors are read live on every INVITE: nothing to do.

Each goes to every node of a cluster (settings.SIP_CLUSTER_CTL_SOCKETS, sip.kamailio.rpc_each)
and returns False, and logs, when no Kamailio answers (none running in development, say): the
dashboard's own change has happened either way. A node that does not answer re-reads domains and
dial rules on its timer and at its start, and drops a removed registration when it expires.
"""

import logging
from collections.abc import Iterable

from extensions.models import Extension

from .kamailio import KamailioConfig, rpc_each
from .models import Location

logger = logging.getLogger(__name__)


def _rpc(config: KamailioConfig | None, *args: str, absent: str = "") -> bool:
    """`args` on every node; True when at least one did it. `absent`: an error text that means
    there was nothing to do on that node (e.g. the registration went already)."""
    done = False
    for answer in rpc_each(*args, config=config):
        if answer.ok or (absent and absent in answer.error):
            done = True
        elif answer.error.startswith("No Kamailio control socket"):
            logger.info("%s; skipped %s", answer.error, args[0])
        else:
            logger.warning("Kamailio RPC %s failed at %s: %s", args[0], answer.address, answer.error)
    return done


def sip_domains_reload(*, config: KamailioConfig | None = None) -> bool:
    """Make Kamailio re-read the enabled hotlines' SIP domains."""
    return _rpc(config, "domain.reload")


def sip_dialplan_reload(*, config: KamailioConfig | None = None) -> bool:
    """Make Kamailio re-read the dial rules (the `sip_dialplan` view)."""
    return _rpc(config, "dialplan.reload")


def sip_gateways_reload(*, config: KamailioConfig | None = None) -> bool:
    """Make Kamailio re-read the enabled carrier gateways (the `sip_dispatcher` view)."""
    return _rpc(config, "dispatcher.reload")


def sip_registrations_remove(*, extension: Extension, config: KamailioConfig | None = None) -> bool:
    """Drop every registration of the extension (memory and `location`)."""
    aor = f"{extension.number}@{extension.hotline.sip_domain}"
    # A node may have dropped it already: the node that removed it first tells the others (DMQ).
    return _rpc(config, "ul.rm", "location", aor, absent="AOR not found")


def sip_registrations_remove_many(
    *, extensions: Iterable[Extension], config: KamailioConfig | None = None
) -> int:
    """Drop the registrations of many extensions: one query finds those registered now, then
    one `ul.rm` each of them (a bulk disable of 1,000 extensions asks Kamailio about the few
    that are online, not all 1,000). Returns how many were dropped."""
    wanted = {(e.number, e.hotline.sip_domain): e for e in extensions}
    if not wanted:
        return 0
    numbers = {number for number, _domain in wanted}
    online = set(Location.objects.filter(username__in=numbers).values_list("username", "domain").distinct())
    return sum(
        sip_registrations_remove(extension=extension, config=config)
        for key, extension in wanted.items()
        if key in online
    )
