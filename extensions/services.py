"""Every write to extensions goes through here: the dashboard, the API, commands and imports."""

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record, diff, snapshot
from core.services import integrity_as_validation
from hotlines.models import Hotline, NumberGroup
from sip.services import sip_registrations_remove

from .credentials import LoginInfo, login_info
from .guard import check_reveal_allowed
from .models import Extension
from .passwords import generate_sip_password
from .validators import validate_sip_password

EDITABLE_FIELDS = ("alias", "call_permission", "supervisor", "description", "enabled")
AUDITED_FIELDS = [
    "number",
    "alias",
    "call_permission",
    "supervisor",
    "outbound_hotlines",
    "outbound_groups",
    "description",
    "enabled",
]


def _audit(action: str, extension: Extension, changes: dict | None = None) -> None:
    audit_record(
        action=action,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        changes=changes,
        object_repr=f"{extension.number} ({extension.alias})",
    )


def _validate_caller_id_pool(
    *, hotline: Hotline, outbound_hotlines: Iterable[Hotline], outbound_groups: Iterable[NumberGroup]
) -> None:
    """Every caller-ID number must belong to the extension's own tenant."""
    errors = {}
    if any(h.tenant_id != hotline.tenant_id for h in outbound_hotlines):
        errors["outbound_hotlines"] = _("A caller-ID hotline belongs to another customer.")
    if any(g.tenant_id != hotline.tenant_id for g in outbound_groups):
        errors["outbound_groups"] = _("A number group belongs to another customer.")
    if errors:
        raise ValidationError(errors)


def _apply_password(extension: Extension, password: str | None) -> None:
    if password:
        try:
            validate_sip_password(password, number=extension.number, alias=extension.alias)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
    else:
        password = generate_sip_password()
    extension.set_sip_password(password)


def _full_clean(extension: Extension, *, password: str | None, set_password: bool) -> None:
    """Model validation and password policy, reported together."""
    errors: dict[str, list] = {}
    try:
        extension.full_clean(exclude=["password_encrypted", "ha1", "ha1b"])
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    if set_password:
        try:
            _apply_password(extension, password)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


@sensitive_variables()
@transaction.atomic
def extension_create(
    *,
    hotline: Hotline,
    number: str,
    alias: str,
    call_permission: int | None = None,
    supervisor: Extension | None = None,
    outbound_hotlines: Iterable[Hotline] = (),
    outbound_groups: Iterable[NumberGroup] = (),
    description: str = "",
    enabled: bool = True,
    password: str | None = None,
) -> Extension:
    """Create an extension with a typed (policy-checked) or generated SIP password."""
    outbound_hotlines, outbound_groups = list(outbound_hotlines), list(outbound_groups)
    extension = Extension(
        hotline=hotline,
        number=number,
        alias=alias,
        supervisor=supervisor,
        description=description,
        enabled=enabled,
    )
    if call_permission is not None:
        extension.call_permission = call_permission
    _full_clean(extension, password=password, set_password=True)
    _validate_caller_id_pool(
        hotline=hotline, outbound_hotlines=outbound_hotlines, outbound_groups=outbound_groups
    )
    with integrity_as_validation(Extension), transaction.atomic():
        extension.save()
    extension.outbound_hotlines.set(outbound_hotlines)
    extension.outbound_groups.set(outbound_groups)
    created = snapshot(extension, AUDITED_FIELDS)
    _audit(Action.CREATE, extension, {**diff({}, created), "password": ["", "set"]})
    return extension


@sensitive_variables()
@transaction.atomic
def extension_update(
    *,
    extension: Extension,
    data: dict[str, Any],
    expected_version: int | None = None,
    password: str | None = None,
    regenerate_password: bool = False,
) -> Extension:
    """Change an extension's editable fields (and optionally its password).

    `expected_version` is the version the editor loaded; if someone saved in between, the
    change is refused with a clear message instead of silently overwriting theirs.
    """
    locked = Extension.objects.select_for_update().select_related("hotline").get(pk=extension.pk)
    if expected_version is not None and locked.version != expected_version:
        raise ValidationError(
            _(
                "This extension was changed by someone else since you opened it. "
                "Your changes were not saved; review the current values and save again."
            ),
            code="stale",
        )
    before = snapshot(locked, AUDITED_FIELDS)
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(locked, field, data[field])
    set_password = regenerate_password or bool(password)
    _full_clean(locked, password=None if regenerate_password else password, set_password=set_password)
    outbound_hotlines = list(data.get("outbound_hotlines", locked.outbound_hotlines.all()))
    outbound_groups = list(data.get("outbound_groups", locked.outbound_groups.all()))
    _validate_caller_id_pool(
        hotline=locked.hotline, outbound_hotlines=outbound_hotlines, outbound_groups=outbound_groups
    )
    locked.version += 1
    with integrity_as_validation(Extension), transaction.atomic():
        locked.save()
    if "outbound_hotlines" in data:
        locked.outbound_hotlines.set(outbound_hotlines)
    if "outbound_groups" in data:
        locked.outbound_groups.set(outbound_groups)
    if before["enabled"] and not locked.enabled:
        # Its next REGISTER is refused anyway; this also drops the devices signed in now.
        transaction.on_commit(partial(sip_registrations_remove, extension=locked))
    changes = diff(before, snapshot(locked, AUDITED_FIELDS))
    if set_password:
        changes["password"] = ["", "generated" if regenerate_password else "set"]
    _audit(Action.UPDATE, locked, changes)
    return locked


@sensitive_variables()
@transaction.atomic
def extension_rotate_password(*, extension: Extension, user=None, session=None) -> tuple[Extension, str]:
    """Replace the password with a generated one; returns the extension and the new password
    (shown to the caller, so the reveal guard applies when a user asks)."""
    if user is not None:
        check_reveal_allowed(user=user, session=session)
    password = generate_sip_password()
    locked = Extension.objects.select_for_update().select_related("hotline").get(pk=extension.pk)
    locked.set_sip_password(password)
    locked.version += 1
    locked.save(update_fields=["password_encrypted", "ha1", "ha1b", "version", "updated_at"])
    _audit(Action.ROTATE_PASSWORD, locked)
    return locked, password


@transaction.atomic
def extension_delete(*, extension: Extension) -> None:
    """Delete an extension; the extensions it supervised keep working without a supervisor."""
    supervised = list(extension.supervised.values_list("number", flat=True))
    _audit(
        Action.DELETE,
        extension,
        {
            **diff(snapshot(extension, AUDITED_FIELDS), {}),
            **({"supervised": [supervised, []]} if supervised else {}),
        },
    )
    extension.delete()
    transaction.on_commit(partial(sip_registrations_remove, extension=extension))


@sensitive_variables()
def extension_reveal_credentials(*, extension: Extension, user=None, session=None) -> LoginInfo:
    """The login info with the decrypted password, for the page, the API and exports.

    With a `user`, the reveal guard applies (recent sign-in for browser sessions, per-user rate
    limit) and the reveal is audited; without one it is an internal call (tests, share links,
    which have their own checks and audit records).
    """
    if user is not None:
        check_reveal_allowed(user=user, session=session)
        _audit(Action.REVEAL, extension)
    return login_info(extension, extension.get_sip_password())
