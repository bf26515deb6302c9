"""One-scan phone setup (cài đặt điện thoại bằng mã QR): Linphone's remote provisioning.

A provisioning link is `…/provision/<token>/`; its QR code holds `linphone-config:<url>`, which
Linphone opens as "fetch this configuration". The configuration (XML per
http://www.linphone.org/xsds/lpconfig.xsd) names the account, the outbound proxy and the
transport, and authenticates with the digest `ha1` (md5 of user:realm:password), never the
password: neither the QR code, the link, nor the configuration holds it.

The token has to travel in the URL (a phone fetches it; there is no page to read a "#"), so it
reaches access logs; what it yields is bounded instead: one configuration, once, within
`PROVISIONING_LINK_HOURS`, only while the password and the enabled flag are what they were.
Only the token's SHA-256 is stored.

Who may make one is `core.guard`'s: one link is one secret (`Access.SECRET`), links for many
(the onboarding sheet) one bulk operation (`Access.BULK`). Every link made and every
configuration handed out is audited.
"""

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record, audit_record_each
from core.guard import Access, check_reveal_allowed, guard_access
from hotlines.models import Hotline

from .models import Extension, ProvisioningLink, ShareLink

LPCONFIG_NS = "http://www.linphone.org/xsds/lpconfig.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# How often the phone renews its registration (seconds), as `make sip` expects phones to.
REG_EXPIRES = 3600

# User agents of link previewers (chat apps, social networks, search engines): they fetch a
# link as soon as it is pasted or crawled, and must never use it up. Matched as lower-case
# substrings of the User-Agent. The one list: the tests and docs/onboarding.md use it.
LINK_PREVIEW_BOTS = (
    "slackbot",
    "slack-imgproxy",
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "zalo",
    "telegrambot",
    "whatsapp",
    "twitterbot",
    "discordbot",
    "googlebot",
    "google-inspectiontool",
    "adsbot-google",
    "linkedinbot",
    "skypeuripreview",
    "skype",
    "microsoftpreview",
    "bingbot",
    "bingpreview",
    "applebot",
    "viber",
    "pinterest",
    "redditbot",
    "embedly",
    "iframely",
    "vkshare",
    "yandex",
    "duckduckbot",
    "baiduspider",
    "coccocbot",
    "mattermost",
    "rocket.chat",
    "snapchat",
    "bot",
    "crawler",
    "spider",
    "preview",
)
# What marks a softphone's fetch (the only kind that uses the link up).
SOFTPHONE_AGENTS = ("linphone",)
XML_TYPES = ("application/xml", "text/xml")


class ProvisioningUnavailable(Exception):
    """The link cannot give out a configuration; `status` is 404 (unknown) or 410 (gone)."""

    def __init__(self, message: str, *, status: int = 410):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class IssuedLink:
    """A link just made: the row and its token (shown once; only the hash is stored)."""

    link: ProvisioningLink
    token: str


_hash = ProvisioningLink.hash_token


def _ha1_check(extension: Extension) -> str:
    # Keyed, so the stored value says nothing about the password even to a database reader.
    return salted_hmac("extensions.provisioning.ha1", extension.ha1, algorithm="sha256").hexdigest()


def _repr(extension: Extension) -> str:
    return f"{extension.number} ({extension.alias})"


# --- the requester: softphone, link previewer or a person -----------------------------------


def is_link_preview_bot(user_agent: str) -> bool:
    agent = (user_agent or "").lower()
    if any(name in agent for name in SOFTPHONE_AGENTS):
        return False
    return any(name in agent for name in LINK_PREVIEW_BOTS)


def is_softphone(*, user_agent: str, accept: str) -> bool:
    """Linphone (by its User-Agent), or a client asking for XML rather than a page. A browser
    lists application/xml too, after text/html: that is a person, not a phone."""
    agent = (user_agent or "").lower()
    if any(name in agent for name in SOFTPHONE_AGENTS):
        return True
    if is_link_preview_bot(agent):
        return False
    accept = (accept or "").lower()
    return any(kind in accept for kind in XML_TYPES) and "text/html" not in accept


# --- making links ---------------------------------------------------------------------------


def _new_link(extension: Extension, *, user, expires_at: datetime) -> IssuedLink:
    token = secrets.token_urlsafe(32)
    link = ProvisioningLink(
        extension=extension,
        token_hash=_hash(token),
        ha1_check=_ha1_check(extension),
        created_by=user if user is not None and user.is_authenticated else None,
        expires_at=expires_at,
    )
    return IssuedLink(link=link, token=token)


def _expiry() -> datetime:
    return timezone.now() + timedelta(hours=settings.PROVISIONING_LINK_HOURS)


def _changes(link: ProvisioningLink, **extra) -> dict:
    return {"provisioning_link": [None, link.pk], "expires_at": [None, link.expires_at.isoformat()], **extra}


@transaction.atomic
def provisioning_link_create(
    *, extension: Extension, user=None, session=None, share_link: ShareLink | None = None
) -> IssuedLink:
    """A new link for one extension. A user's request goes through the guard like a reveal
    (one secret of the single budget). With `share_link`: made for whoever opens that share
    link (no sign-in), which passed the guard when it was created; audited as such."""
    if share_link is None and user is not None:
        check_reveal_allowed(user=user, session=session)
    if not extension.enabled:
        raise ProvisioningUnavailable(_("This extension is disabled; enable it first."), status=400)
    created_by = share_link.created_by if share_link is not None else user
    issued = _new_link(extension, user=created_by, expires_at=_expiry())
    issued.link.save()
    audit_record(
        action=Action.PROVISION_CREATE,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        actor=user,
        object_repr=_repr(extension),
        changes=_changes(issued.link, **({"share_link": [None, share_link.pk]} if share_link else {})),
    )
    return issued


@transaction.atomic
def provisioning_links_create_many(
    *, hotline: Hotline, extensions: Sequence[Extension], user, session=None
) -> list[IssuedLink]:
    """New links for many extensions of one hotline (the onboarding sheet): one bulk operation
    of the guard, one INSERT of the links, one record of the operation with its count and one
    per extension (one INSERT). Disabled extensions get no link (the caller says so)."""
    guard_access(user=user, session=session, access=Access.BULK)
    expires_at = _expiry()
    issued = [_new_link(e, user=user, expires_at=expires_at) for e in extensions if e.enabled]
    ProvisioningLink.objects.bulk_create([i.link for i in issued])
    audit_record(
        action=Action.PROVISION_CREATE,
        obj=hotline,
        tenant_id=hotline.tenant_id,
        actor=user,
        object_repr=hotline.number,
        changes={"count": [None, len(issued)], "expires_at": [None, expires_at.isoformat()]},
    )
    audit_record_each(
        action=Action.PROVISION_CREATE,
        objects=[(i.link.extension, _repr(i.link.extension)) for i in issued],
        changes={"expires_at": [None, expires_at.isoformat()], "via": [None, "onboarding_sheet"]},
        tenant_id=hotline.tenant_id,
        actor=user,
    )
    return issued


# --- using a link ---------------------------------------------------------------------------


def _usable(link: ProvisioningLink | None) -> ProvisioningLink:
    """`link` if it can be used now; else raises `ProvisioningUnavailable` saying why."""
    if link is None:
        raise ProvisioningUnavailable(
            _("This setup link does not exist (or its extension was deleted). Ask for a new one."),
            status=404,
        )
    if (refused := _refusal(link)) is not None:
        raise refused
    return link


def _refusal(link: ProvisioningLink) -> ProvisioningUnavailable | None:
    """Why `link` cannot be used now, or None when it can."""
    if link.used_at is not None:
        when = timezone.localtime(link.used_at).strftime("%d/%m/%Y %H:%M")
        return ProvisioningUnavailable(
            _("This setup link was already used on %(when)s. Ask for a new one.") % {"when": when}
        )
    if link.revoked_at is not None:
        return ProvisioningUnavailable(
            _("This setup link was cancelled when its extension was disabled. Ask for a new one.")
        )
    if link.expires_at <= timezone.now():
        when = timezone.localtime(link.expires_at).strftime("%d/%m/%Y %H:%M")
        return ProvisioningUnavailable(
            _("This setup link expired on %(when)s. Ask for a new one.") % {"when": when}
        )
    extension = link.extension
    if not extension.enabled:
        return ProvisioningUnavailable(_("This extension is disabled. Ask your administrator."))
    if not secrets.compare_digest(link.ha1_check, _ha1_check(extension)):
        return ProvisioningUnavailable(
            _("The extension's password changed after this setup link was made. Ask for a new one.")
        )
    return None


def provisioning_link_check(*, token: str) -> ProvisioningLink:
    """The link behind a token if it could be used now (does not use it)."""
    return _usable(
        ProvisioningLink.objects.select_related("extension__hotline").filter(token_hash=_hash(token)).first()
    )


@sensitive_variables()
@transaction.atomic
def provisioning_link_redeem(*, token: str, ip: str | None = None) -> str:
    """Use the link: the Linphone configuration (XML), exactly once even when two fetches race
    (the row is locked; the second waits, then sees it used)."""
    link = _usable(
        ProvisioningLink.objects.select_for_update(of=("self",))
        .select_related("extension__hotline")
        .filter(token_hash=_hash(token))
        .first()
    )
    link.used_at = timezone.now()
    link.used_ip = ip
    link.save(update_fields=["used_at", "used_ip"])
    extension = link.extension
    audit_record(
        action=Action.PROVISION_USE,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        object_repr=_repr(extension),
        changes={"provisioning_link": [None, link.pk]},
    )
    return linphone_config(extension)


def provisioning_links_revoke(*, extensions: Sequence[Extension]) -> int:
    """Cancel the unused links of `extensions` (they were disabled): one UPDATE, inside the
    caller's transaction (the write path's). Returns how many."""
    return ProvisioningLink.objects.filter(
        extension__in=extensions, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


# --- what the phone gets and what the QR code holds ----------------------------------------


def proxy_transport() -> str:
    """The transport a provisioned phone uses: TCP when offered (a mobile network's NAT keeps a
    TCP connection open, and SIP messages outgrow a UDP datagram), else UDP."""
    offered = [t.lower() for t in settings.SIP_TRANSPORTS]
    return "tcp" if "tcp" in offered else "udp"


def linphone_config(extension: Extension) -> str:
    """The account as Linphone's remote provisioning XML (lpconfig.xsd): proxy_0 and
    auth_info_0 (with `ha1`, not the password)."""
    domain = extension.hotline.sip_domain
    proxy = f"<sip:{settings.SIP_OUTBOUND_PROXY};transport={proxy_transport()}>"
    ET.register_namespace("", LPCONFIG_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(
        f"{{{LPCONFIG_NS}}}config", {f"{{{XSI_NS}}}schemaLocation": f"{LPCONFIG_NS} lpconfig.xsd"}
    )

    def section(name: str, entries: dict[str, str]) -> None:
        element = ET.SubElement(root, f"{{{LPCONFIG_NS}}}section", {"name": name, "overwrite": "true"})
        for key, value in entries.items():
            entry = ET.SubElement(element, f"{{{LPCONFIG_NS}}}entry", {"name": key, "overwrite": "true"})
            entry.text = value

    section("sip", {"default_proxy": "0"})
    section(
        "proxy_0",
        {
            "reg_proxy": proxy,
            "reg_route": proxy,
            "reg_identity": f'"{extension.alias}" <sip:{extension.number}@{domain}>',
            "realm": domain,
            "reg_expires": str(REG_EXPIRES),
            "reg_sendregister": "1",
            "publish": "0",
        },
    )
    section(
        "auth_info_0",
        {
            "username": extension.number,
            "userid": extension.number,
            "ha1": extension.ha1,
            "realm": domain,
            "domain": domain,
            "algorithm": "MD5",
        },
    )
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def qr_payload(url: str) -> str:
    """What the QR code holds: Linphone's "fetch this configuration" link."""
    return f"linphone-config:{url}"


def qr_svg(url: str) -> str:
    """The QR code as inline SVG: no style attribute or script, so the strict CSP shows it; a
    viewBox and no fixed size, so CSS sizes it (screen, print)."""
    return segno.make(qr_payload(url), error="m").svg_inline(dark="#000", light="#fff", omitsize=True)
