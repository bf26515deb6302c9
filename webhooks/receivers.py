"""Extension events for webhooks, from the signals the one write path sends on commit."""

from collections import defaultdict
from collections.abc import Iterable

from django.dispatch import receiver

from extensions.models import Extension
from extensions.signals import (
    extensions_created,
    extensions_deleted,
    extensions_password_changed,
    extensions_updated,
)

from .choices import Event
from .payloads import extension_data
from .services import emit_many


def _by_tenant(extensions: Iterable[Extension]) -> dict[int, list[Extension]]:
    grouped: dict[int, list[Extension]] = defaultdict(list)
    for extension in extensions:
        grouped[extension.hotline.tenant_id].append(extension)
    return grouped


@receiver(extensions_created, sender=Extension, dispatch_uid="webhooks.extensions_created")
def on_created(sender, *, extensions, **kwargs) -> None:
    for tenant_id, group in _by_tenant(extensions).items():
        emit_many(
            tenant_id=tenant_id, event=Event.EXTENSION_CREATED, items=[extension_data(e) for e in group]
        )


@receiver(extensions_updated, sender=Extension, dispatch_uid="webhooks.extensions_updated")
def on_updated(sender, *, extensions, changes, **kwargs) -> None:
    for tenant_id, group in _by_tenant(extensions).items():
        emit_many(
            tenant_id=tenant_id,
            event=Event.EXTENSION_UPDATED,
            items=[{**extension_data(e), "changes": changes.get(e.pk, {})} for e in group],
        )


@receiver(extensions_password_changed, sender=Extension, dispatch_uid="webhooks.extensions_password_changed")
def on_password_changed(sender, *, extensions, **kwargs) -> None:
    for tenant_id, group in _by_tenant(extensions).items():
        emit_many(
            tenant_id=tenant_id,
            event=Event.EXTENSION_PASSWORD_CHANGED,
            items=[extension_data(e) for e in group],
        )


@receiver(extensions_deleted, sender=Extension, dispatch_uid="webhooks.extensions_deleted")
def on_deleted(sender, *, extensions, ids=None, **kwargs) -> None:
    ids = ids or [None] * len(extensions)
    pk_of = {id(e): pk for e, pk in zip(extensions, ids, strict=True)}
    for tenant_id, group in _by_tenant(extensions).items():
        emit_many(
            tenant_id=tenant_id,
            event=Event.EXTENSION_DELETED,
            items=[extension_data(e, pk=pk_of[id(e)]) for e in group],
        )
