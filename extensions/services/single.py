"""One extension at a time: the dashboard's forms, the API, commands. Each is a batch of one
through `batch` (the same rules and writer as range create, bulk edit and CSV)."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from audit.choices import Action
from audit.services import audit_record, diff
from core.guard import check_reveal_allowed
from hotlines.models import Hotline, NumberGroup

from ..credentials import LoginInfo, login_info
from ..models import Extension
from ..signals import extensions_deleted
from . import batch
from .rules import CONTROL_FIELDS, Draft

EDITABLE_FIELDS = ("alias", "call_permission", "supervisor", "description", "enabled", *CONTROL_FIELDS)


def _audit(action: str, extension: Extension, changes: dict | None = None) -> None:
    audit_record(
        action=action,
        obj=extension,
        tenant_id=extension.hotline.tenant_id,
        changes=changes,
        object_repr=f"{extension.number} ({extension.alias})",
    )


def _raise_for(draft: Draft) -> None:
    if draft.errors:
        raise ValidationError(
            {(name or NON_FIELD_ERRORS): messages for name, messages in draft.errors.items()}
        )


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
    user=None,
    session=None,
    **controls: Any,
) -> Extension:
    """Create an extension with a typed (policy-checked, guarded) or generated SIP password.
    `controls` are CONTROL_FIELDS (outbound_schedule, limits, allowed networks)."""
    unknown = set(controls) - set(CONTROL_FIELDS)
    if unknown:
        raise TypeError(f"extension_create() got unexpected fields {sorted(unknown)}")
    extension = Extension(
        hotline=hotline, number=number, alias=alias, description=description, enabled=enabled, **controls
    )
    if supervisor is not None:
        extension.supervisor = supervisor
    if call_permission is not None:
        extension.call_permission = call_permission
    draft = Draft(
        extension=extension,
        key=number,
        hotlines=list(outbound_hotlines),
        groups=list(outbound_groups),
        password=password or "",
    )
    batch.check([draft], tenant_id=hotline.tenant_id)
    _raise_for(draft)
    batch.guard_chosen([draft], user=user, session=session)
    batch.write([draft], tenant_id=hotline.tenant_id)
    return draft.extension


@sensitive_variables()
@transaction.atomic
def extension_update(
    *,
    extension: Extension,
    data: dict[str, Any],
    expected_version: int | None = None,
    password: str | None = None,
    regenerate_password: bool = False,
    user=None,
    session=None,
) -> Extension:
    """Change an extension's editable fields (and optionally its password).

    `expected_version` is the version the editor loaded; if someone saved in between, the
    change is refused with a clear message instead of silently overwriting theirs.
    """
    locked = batch.lock_extensions([extension.pk])
    if not locked:
        raise ValidationError(_("This extension was deleted meanwhile."), code="gone")
    (draft,) = batch.drafts_for(locked)
    stored = draft.extension
    if expected_version is not None and stored.version != expected_version:
        raise ValidationError(
            _(
                "This extension was changed by someone else since you opened it. "
                "Your changes were not saved; review the current values and save again."
            ),
            code="stale",
        )
    for name in EDITABLE_FIELDS:
        if name in data:
            setattr(stored, name, data[name])
    if "outbound_hotlines" in data:
        draft.hotlines = list(data["outbound_hotlines"])
    if "outbound_groups" in data:
        draft.groups = list(data["outbound_groups"])
    draft.password = "" if regenerate_password else (password or "")
    draft.regenerate = regenerate_password
    batch.check([draft], tenant_id=stored.hotline.tenant_id)
    _raise_for(draft)
    batch.guard_chosen([draft], user=user, session=session)
    batch.write([draft], tenant_id=stored.hotline.tenant_id)
    return stored


@sensitive_variables()
@transaction.atomic
def extension_rotate_password(*, extension: Extension, user=None, session=None) -> tuple[Extension, str]:
    """Replace the password with a generated one; returns the extension and the new password
    (shown to the caller, so the guard applies when a user asks)."""
    if user is not None:
        check_reveal_allowed(user=user, session=session)
    locked = batch.lock_extensions([extension.pk])
    (draft,) = batch.drafts_for(locked)
    draft.regenerate = True
    batch.write([draft], tenant_id=draft.extension.hotline.tenant_id, update_action=Action.ROTATE_PASSWORD)
    return draft.extension, draft.new_password


@transaction.atomic
def extension_delete(*, extension: Extension) -> None:
    """Delete an extension; the extensions it supervised keep working without a supervisor."""
    (draft,) = batch.drafts_for([extension])
    supervised = list(extension.supervised.values_list("number", flat=True))
    changes = diff(draft.before or {}, {})
    batch.name_relations([changes], {})
    _audit(
        Action.DELETE,
        extension,
        {**changes, **({"supervised": [supervised, []]} if supervised else {})},
    )
    pk = extension.pk
    extension.delete()
    transaction.on_commit(lambda: extensions_deleted.send(sender=Extension, extensions=[extension], ids=[pk]))


@sensitive_variables()
def extension_reveal_credentials(*, extension: Extension, user=None, session=None) -> LoginInfo:
    """The login info with the decrypted password, for the page, the API and exports.

    With a `user`, the guard applies (recent sign-in for browser sessions, per-user budget) and
    the reveal is audited; without one it is an internal call (tests, share links, which have
    their own checks and audit records).
    """
    if user is not None:
        check_reveal_allowed(user=user, session=session)
        _audit(Action.REVEAL, extension)
    return login_info(extension, extension.get_sip_password())
