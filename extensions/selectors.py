"""Tenant-scoped reads of extensions: admins see their tenant's, agents only their own."""

from django.db.models import Prefetch, QuerySet
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404

from hotlines.models import Hotline, NumberGroup
from tenants.choices import Role
from tenants.selectors import admin_tenant_id, membership_for

from .models import Extension, ImportJob


def extension_list(*, user, hotline: Hotline | None = None) -> QuerySet[Extension]:
    """Extensions the user may see, with everything a list row or API item shows preloaded."""
    membership = membership_for(user)
    if membership is None:
        return Extension.objects.none()
    qs = Extension.objects.filter(hotline__tenant_id=membership.tenant_id)
    if membership.role != Role.ADMIN:
        qs = qs.filter(pk=membership.extension_id) if membership.extension_id else qs.none()
    if hotline is not None:
        qs = qs.filter(hotline=hotline)
    return (
        qs.select_related("hotline", "supervisor")
        .prefetch_related(
            Prefetch("outbound_hotlines", queryset=Hotline.objects.order_by("number")),
            Prefetch("outbound_groups", queryset=NumberGroup.objects.order_by("name")),
        )
        .order_by("hotline__number", Length("number"), "number")
    )


def extension_get(*, user, pk) -> Extension:
    return get_object_or_404(extension_list(user=user), pk=pk)


def supervisor_choices(*, hotline: Hotline, exclude: Extension | None = None) -> QuerySet[Extension]:
    qs = Extension.objects.filter(hotline=hotline).order_by(Length("number"), "number")
    if exclude is not None and exclude.pk:
        qs = qs.exclude(pk=exclude.pk)
    return qs


def extension_choices(*, tenant_id: int) -> QuerySet[Extension]:
    """Every extension of the tenant, for supervisor pickers: one on another hotline is then
    refused by the model's own rule (same hotline) instead of looking like an unknown id."""
    return Extension.objects.filter(hotline__tenant_id=tenant_id)


def import_job_list(*, user, hotline: Hotline | None = None) -> QuerySet[ImportJob]:
    """CSV imports of the tenant the user administers, newest first."""
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return ImportJob.objects.none()
    qs = ImportJob.objects.filter(tenant_id=tenant_id).select_related("hotline", "created_by")
    if hotline is not None:
        qs = qs.filter(hotline=hotline)
    return qs.defer("csv_encrypted", "summary").order_by("-created_at", "-id")


def import_job_get(*, user, pk) -> ImportJob:
    return get_object_or_404(import_job_list(user=user).defer(None), pk=pk)
