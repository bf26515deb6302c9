"""The web phone in the dashboard ("Điện thoại", /phone/): whose extension it signs in on, and
the short-lived credentials it signs in with (sip.ephemeral), issued to the signed-in user for
their own extension only, audited, and never the stored SIP password."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record
from core.guard import Access, RevealRefused, guard_access
from extensions.models import Extension
from tenants.selectors import membership_for

from .ephemeral import ephemeral_credentials, lifetime_seconds
from .models import WebPhoneCutoff
from .turn import ice_servers


class WebPhoneUnavailable(RevealRefused):
    """The user's extension cannot sign in now (disabled, or its hotline is)."""

    code = "web_phone_unavailable"


def web_phone_extension(*, user) -> Extension | None:
    """The extension the user's web phone signs in on: the one their membership links to, of
    their own tenant (another tenant's is never theirs, even if a link said so), or None."""
    membership = membership_for(user)
    if membership is None or membership.extension_id is None:
        return None
    return (
        Extension.objects.select_related("hotline")
        .filter(pk=membership.extension_id, hotline__tenant_id=membership.tenant_id)
        .first()
    )


@dataclass(frozen=True)
class WebPhoneLogin:
    """What the web phone signs in with: the extension's address and a short-lived credential
    (`username`, `password`), valid until `expires_at`; and the TURN servers its calls may relay
    media through (`ice_servers`, with a credential that expires with the SIP one), if any."""

    username: str
    password: str
    expires_at: dt.datetime
    sip_uri: str
    domain: str
    number: str
    display_name: str
    websocket_url: str
    ice_servers: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
        if not self.ice_servers:
            del data["ice_servers"]
        return data


@sensitive_variables()
@transaction.atomic
def web_phone_credentials_issue(*, user, session, extension: Extension) -> WebPhoneLogin:
    """Credentials for `extension` (the user's own: web_phone_extension), checked by the guard
    (a signed-in session; nothing counted) and recorded in the audit trail without them."""
    guard_access(user=user, session=session, access=Access.PHONE)
    if not extension.enabled or not extension.hotline.enabled:
        raise WebPhoneUnavailable(
            _("Extension %(number)s is disabled, so it cannot sign in. Ask your administrator.")
            % {"number": extension.number}
        )
    domain = extension.hotline.sip_domain
    now = timezone.now()
    # The extension's cut-off row, locked: a sign-out at the same moment waits for this one.
    cutoff, _created = WebPhoneCutoff.objects.select_for_update().get_or_create(extension=extension)
    lifetime = lifetime_seconds()
    # Credentials refused by an earlier sign-out expire at or before `refused_until`: these
    # expire after it (one second more than the lifetime at most, when issued within the
    # second of that sign-out).
    lifetime = max(lifetime, cutoff.refused_until + 1 - int(now.timestamp()))
    credentials = ephemeral_credentials(number=extension.number, domain=domain, now=now, lifetime=lifetime)
    expires = int(credentials.expires_at.timestamp())
    if expires > cutoff.issued_until:
        cutoff.issued_until = expires
        cutoff.save(update_fields=["issued_until"])
    audit_record(
        action=Action.PHONE_SIGN_IN,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        changes={"expires_at": credentials.expires_at.isoformat()},
        object_repr=f"{extension.number} ({extension.alias})",
    )
    return WebPhoneLogin(
        username=credentials.username,
        password=credentials.password,
        expires_at=credentials.expires_at,
        sip_uri=f"sip:{extension.number}@{domain}",
        domain=domain,
        number=extension.number,
        display_name=extension.alias,
        websocket_url=settings.SIP_WEBSOCKET_URL,
        ice_servers=ice_servers(user=f"{extension.number}@{domain}", expires=expires),
    )


def web_phone_credentials_revoke(*, extension_ids) -> int:
    """Every web phone credential issued so far for these extensions stops working now: Kamailio
    refuses their next REGISTER and call (route[EPHEMERAL]), so a browser still open elsewhere
    loses the extension at its next registration refresh (JsSIP's, within 5 minutes), and asks
    the dashboard for new ones, which it gets only with a session that may still have them.
    Returns how many extensions had credentials issued since their last revocation."""
    ids = [pk for pk in extension_ids if pk is not None]
    if not ids:
        return 0
    return WebPhoneCutoff.objects.filter(extension_id__in=ids, issued_until__gt=F("refused_until")).update(
        refused_until=F("issued_until")
    )
