"""The `data` of extension events: what a CRM needs to match an extension (máy lẻ), never its
SIP password or hashes."""

from typing import Any

from extensions.choices import CallPermission
from extensions.models import Extension


def extension_data(extension: Extension, *, pk: int | None = None) -> dict[str, Any]:
    hotline = extension.hotline
    return {
        "id": pk if pk is not None else extension.pk,
        "hotline": {"id": hotline.pk, "number": hotline.number, "sip_domain": hotline.sip_domain},
        "number": extension.number,
        "alias": extension.alias,
        "call_permission": CallPermission(extension.call_permission).slug,
        "description": extension.description,
        "enabled": extension.enabled,
    }
