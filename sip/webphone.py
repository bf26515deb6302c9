"""The web phone in the dashboard ("Điện thoại", /phone/): whose extension it signs in on, and
the short-lived credentials it signs in with (sip.ephemeral), issued to the signed-in user for
their own extension only, audited, and never the stored SIP password."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record
from core.guard import Access, RevealRefused, guard_access
from extensions.models import Extension
from tenants.selectors import membership_for

from .ephemeral import ephemeral_credentials


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
    (`username`, `password`), valid until `expires_at`."""

    username: str
    password: str
    expires_at: dt.datetime
    sip_uri: str
    domain: str
    number: str
    display_name: str
    websocket_url: str

    def as_dict(self) -> dict:
        data = asdict(self)
        data["expires_at"] = self.expires_at.isoformat()
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
    credentials = ephemeral_credentials(number=extension.number, domain=domain)
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
    )
