"""Tenant-scoped reads of extensions: admins see their tenant's, agents only their own."""

from functools import cache

from django.db.models import Aggregate, CharField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast, Length
from django.shortcuts import get_object_or_404

from hotlines.models import Hotline, NumberGroup
from tenants.choices import Role
from tenants.selectors import admin_tenant_id, membership_for

from .models import Extension, ImportJob


def _visible(*, user, hotline: Hotline | None) -> QuerySet[Extension]:
    """The tenant rule: admins see their tenant's extensions, agents only their own."""
    membership = membership_for(user)
    if membership is None:
        return Extension.objects.none()
    qs = Extension.objects.filter(hotline__tenant_id=membership.tenant_id)
    if membership.role != Role.ADMIN:
        qs = qs.filter(pk=membership.extension_id) if membership.extension_id else qs.none()
    if hotline is not None:
        qs = qs.filter(hotline=hotline)
    return qs


def extension_list(*, user, hotline: Hotline | None = None) -> QuerySet[Extension]:
    """Extensions the user may see, with everything a list row or API item shows preloaded."""
    return (
        _visible(user=user, hotline=hotline)
        .select_related("hotline", "supervisor")
        .prefetch_related(
            Prefetch("outbound_hotlines", queryset=Hotline.objects.order_by("number")),
            Prefetch("outbound_groups", queryset=NumberGroup.objects.order_by("name")),
        )
        # The order of the (hotline, length(number), number) index: a page of a large hotline
        # is an index scan that stops after one page, not a sort of all its rows.
        .order_by("hotline_id", Length("number"), "number")
    )


LABEL_SEPARATOR = "\x1f"  # ASCII unit separator: in no hotline number or group name


class _JoinedValues(Aggregate):
    """A column's values joined by LABEL_SEPARATOR (PostgreSQL STRING_AGG, SQLite
    GROUP_CONCAT), in no particular order."""

    function = "STRING_AGG"
    output_field = CharField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection,
                              template="%(function)s(%(expressions)s, CHR(31))", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, function="GROUP_CONCAT",
                              template="%(function)s(%(expressions)s, CHAR(31))", **extra_context)


@cache
def _caller_id_labels() -> dict[str, Subquery]:
    """The caller-ID hotline numbers and group names of the outer extension, each joined into
    one text. Built once: a query uses copies of these expressions."""

    def joined(relation: str, column: str) -> Subquery:
        through = Extension._meta.get_field(relation).remote_field.through
        return Subquery(
            through.objects.filter(extension_id=OuterRef("pk")).order_by().values("extension_id")
            .annotate(joined=_JoinedValues(column)).values("joined"),
            output_field=CharField(),
        )

    return {"caller_id_hotlines": joined("outbound_hotlines", "hotline__number"),
            "caller_id_groups": joined("outbound_groups", "numbergroup__name")}


def extension_table(*, user, hotline: Hotline) -> QuerySet[Extension]:
    """A hotline's extensions for the list page: its caller IDs come as text in the rows
    (`caller_id_hotlines`, `caller_id_groups`: values joined by LABEL_SEPARATOR) instead of
    two prefetch queries, so a page costs the same few queries at 5 or 10,000 rows."""
    return (
        _visible(user=user, hotline=hotline)
        .select_related("supervisor")
        # What a row shows, no secrets: fewer columns to compile, send and load.
        .only("hotline_id", "number", "alias", "call_permission", "supervisor_id", "description",
              "enabled", "supervisor__number", "supervisor__alias")
        .annotate(**_caller_id_labels())
        .order_by(Length("number"), "number")
    )


@cache
def _caller_id_ids() -> dict[str, Subquery]:
    """The outer extension's caller-ID hotline ids and group ids, each joined into one text."""

    def joined(relation: str, column: str) -> Subquery:
        through = Extension._meta.get_field(relation).remote_field.through
        return Subquery(
            through.objects.filter(extension_id=OuterRef("pk")).order_by().values("extension_id")
            .annotate(joined=_JoinedValues(Cast(column, CharField()))).values("joined"),
            output_field=CharField(),
        )

    return {"outbound_hotline_ids": joined("outbound_hotlines", "hotline_id"),
            "outbound_group_ids": joined("outbound_groups", "numbergroup_id")}


def extension_api_list(*, user, hotline: Hotline | None = None) -> QuerySet[Extension]:
    """Extensions for the list API: the same rows as extension_list, with the caller-ID ids
    as joined text in the rows query instead of two prefetch queries (and no joins: the API
    shows ids only)."""
    return (
        _visible(user=user, hotline=hotline)
        .defer("password_encrypted", "ha1", "ha1b")
        .annotate(**_caller_id_ids())
        .order_by("hotline_id", Length("number"), "number")
    )


def split_ids(joined: str | None) -> list[int]:
    """Ids from a `_caller_id_ids` text, ascending."""
    return sorted(int(value) for value in joined.split(LABEL_SEPARATOR)) if joined else []


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
