"""Every write to extensions goes through here: the dashboard, the API, commands and imports."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.services import integrity_as_validation
from hotlines.models import Hotline, NumberGroup

from .credentials import LoginInfo, login_info
from .models import Extension
from .passwords import generate_sip_password
from .validators import validate_sip_password

EDITABLE_FIELDS = ("alias", "call_permission", "supervisor", "description", "enabled")


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
        hotline=hotline, number=number, alias=alias, supervisor=supervisor,
        description=description, enabled=enabled,
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
    return extension


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
            _("This extension was changed by someone else since you opened it. "
              "Your changes were not saved; review the current values and save again."),
            code="stale",
        )
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(locked, field, data[field])
    set_password = regenerate_password or bool(password)
    _full_clean(locked, password=None if regenerate_password else password,
                set_password=set_password)
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
    return locked


@transaction.atomic
def extension_rotate_password(*, extension: Extension) -> tuple[Extension, str]:
    """Replace the password with a generated one; returns the extension and the new password."""
    password = generate_sip_password()
    locked = Extension.objects.select_for_update().select_related("hotline").get(pk=extension.pk)
    locked.set_sip_password(password)
    locked.version += 1
    locked.save(update_fields=["password_encrypted", "ha1", "ha1b", "version", "updated_at"])
    return locked, password


@transaction.atomic
def extension_delete(*, extension: Extension) -> None:
    """Delete an extension; the extensions it supervised keep working without a supervisor."""
    extension.delete()


def extension_reveal_credentials(*, extension: Extension) -> LoginInfo:
    """The login info with the decrypted password: the only way a password leaves storage."""
    return login_info(extension, extension.get_sip_password())
