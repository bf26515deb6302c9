"""What sip does when the apps below it report a change (they never import sip)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, pre_save
from django.dispatch import Signal, receiver

from dialplan.models import DialRule
from dialplan.signals import dial_rules_changed
from extensions.models import Extension
from extensions.signals import extensions_deleted, extensions_disabled
from hotlines.models import Hotline
from hotlines.signals import hotline_changed
from tenants.models import Membership
from webhooks.choices import Event
from webhooks.payloads import extension_data
from webhooks.services import emit, emit_many

from .call_exports import call_exports_discard
from .services import sip_dialplan_reload, sip_domains_reload, sip_registrations_remove_many
from .webphone import web_phone_credentials_revoke


@receiver(hotline_changed, sender=Hotline, dispatch_uid="sip.reload_domains_on_hotline_change")
def reload_domains_on_hotline_change(sender, hotline_ids: list[int], **kwargs) -> None:
    """Kamailio caches the enabled hotlines' SIP domains: a hotline created, renumbered,
    enabled, disabled, moved or deleted is known to it only after a `domain.reload`. Sent after
    the commit, so Kamailio reads the committed rows."""
    sip_domains_reload()


@receiver(extensions_disabled, sender=Extension, dispatch_uid="sip.drop_registrations_of_disabled")
@receiver(extensions_deleted, sender=Extension, dispatch_uid="sip.drop_registrations_of_deleted")
def drop_registrations(sender, *, extensions, **kwargs) -> None:
    """A disabled or deleted extension's phones stop showing online and receiving calls now,
    not when their registrations expire (whichever page, API call, bulk edit or CSV did it)."""
    sip_registrations_remove_many(extensions=extensions)


@receiver(dial_rules_changed, sender=DialRule, dispatch_uid="sip.reload_dialplan_on_rule_change")
def reload_dialplan(sender, **kwargs) -> None:
    """Kamailio keeps the dial rules in memory (it also re-reads them on its own timer)."""
    sip_dialplan_reload()


# --- The web phone's credentials end with the person's access (sip.webphone) ----------------


@receiver(user_logged_out, dispatch_uid="sip.web_phone_signed_out")
def end_web_phone_on_sign_out(sender, request, user, **kwargs) -> None:
    """Signing out ends the web phone on the user's extension everywhere, not up to 12 hours
    later: a browser left open elsewhere asks for new credentials and gets them only with a
    session of its own."""
    if user is not None:
        _end_web_phone_of_user(user.pk)


@receiver(pre_save, sender=Membership, dispatch_uid="sip.membership_changed")
def end_access_of_changed_membership(sender, instance: Membership, raw: bool = False, **kwargs) -> None:
    """A person moved to another extension, or off it, no longer calls as the old one; and one
    whose role, tenant or extension changed no longer downloads the call exports made under the
    old one (an admin's export of every call, kept for a day, is not an agent's to read)."""
    if raw or instance.pk is None:
        return
    fields = ("user_id", "extension_id", "role", "tenant_id")
    old = Membership.objects.filter(pk=instance.pk).values_list(*fields).first()
    if old is None or old == tuple(getattr(instance, name) for name in fields):
        return
    if old[:2] != (instance.user_id, instance.extension_id):
        web_phone_credentials_revoke(extension_ids=[old[1]])
    call_exports_discard(user_id=old[0])


@receiver(post_delete, sender=Membership, dispatch_uid="sip.web_phone_membership_deleted")
def end_web_phone_of_removed(sender, instance: Membership, **kwargs) -> None:
    """A person removed from the tenant (or deleted) no longer calls as their extension."""
    web_phone_credentials_revoke(extension_ids=[instance.extension_id])


@receiver(pre_save, sender=get_user_model(), dispatch_uid="sip.web_phone_user_changed")
def end_web_phone_of_deactivated(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    """A deactivated user, or one whose password was changed (Django signs their other
    sessions out then), no longer calls with credentials issued before."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"is_active", "password"} & set(update_fields):
        return  # e.g. last_login at every sign-in
    old = sender._default_manager.filter(pk=instance.pk).values_list("is_active", "password").first()
    if old is None:
        return
    was_active, old_password = old
    if (was_active and not instance.is_active) or old_password != instance.password:
        _end_web_phone_of_user(instance.pk)


def _end_web_phone_of_user(user_id: int) -> None:
    extension_ids = Membership.objects.filter(user_id=user_id).values_list("extension_id", flat=True)
    web_phone_credentials_revoke(extension_ids=list(extension_ids))


# --- Hooks for higher layers (the webhooks app subscribes to these) --------------------------

call_ended = Signal()
"""Sent after the commit of each call-record import (sip.call_records), with `calls`: the
`sip.models.Call` rows that ended in it (answered and hung up, or failed: busy, no answer,
cancelled, refused, failed). Sender: `Call`. Webhooks map each to a `call.ended` event."""

registration_changed = Signal()
"""Sent after the commit of a presence check (sip.live.presence_record: a page's poll, or
`import_call_records --follow` every second) for each extension whose registration state
changed, once whichever saw it, with `extension` (Extension), `online` (bool) and `alert`
(bool: it went offline during its schedule, sip.live.during_schedule). Sender: `Extension`.
Webhooks map these to `registration.online` / `registration.offline`."""


# --- Webhook events for what the SIP server did (webhooks is a lower app: we call it) ----------


def _call_payload(call) -> dict:
    return {
        "id": call.pk,
        "caller": call.caller,
        "callee": call.callee,
        "direction": call.direction,
        "caller_id": call.caller_id,
        "hotline": call.hotline_id,
        "started_at": call.started_at.isoformat() if call.started_at else None,
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
        "duration": call.duration,
        "disposition": call.disposition,
        "reason": call.reason,
    }


@receiver(call_ended, dispatch_uid="sip.webhooks_call_ended")
def emit_call_ended(sender, *, calls, **kwargs) -> None:
    by_tenant: dict[int, list] = {}
    for call in calls:
        by_tenant.setdefault(call.tenant_id, []).append(call)
    for tenant_id, group in by_tenant.items():
        emit_many(tenant_id=tenant_id, event=Event.CALL_ENDED, items=[_call_payload(c) for c in group])


@receiver(registration_changed, dispatch_uid="sip.webhooks_registration_changed")
def emit_registration_changed(sender, *, extension, online, alert=False, **kwargs) -> None:
    emit(
        tenant_id=extension.hotline.tenant_id,
        event=Event.REGISTRATION_ONLINE if online else Event.REGISTRATION_OFFLINE,
        data={**extension_data(extension), "online": online, "during_schedule": bool(alert)},
    )
