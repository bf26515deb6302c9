"""Tenant-scoped reads of extensions: admins see their tenant's, agents only their own."""

from django.db.models import CharField, Exists, Prefetch, QuerySet
from django.db.models.functions import Length
from django.shortcuts import get_object_or_404

from core.expressions import RowSQL
from hotlines.models import Hotline, NumberGroup
from hotlines.selectors import hotline_choices
from tenants.choices import Role
from tenants.selectors import admin_tenant_id, membership_for

from .models import Extension, ImportJob


def _visible(*, user, hotline: Hotline | None = None, hotline_id: int | None = None) -> QuerySet[Extension]:
    """The tenant rule: admins see their tenant's extensions, agents only their own. Of one
    hotline, given as a loaded `hotline` or as a `hotline_id` not yet checked."""
    membership = membership_for(user)
    if membership is None:
        return Extension.objects.none()
    if hotline is not None:
        if hotline.tenant_id != membership.tenant_id:
            return Extension.objects.none()
        qs = Extension.objects.filter(hotline_id=hotline.pk)  # no join: the hotline is checked
    elif hotline_id is not None:
        # The tenant check rides in the rows' own query: an uncorrelated EXISTS, which the
        # database evaluates once, not a join checked on every row.
        qs = Extension.objects.filter(
            Exists(hotline_choices(tenant_id=membership.tenant_id).filter(pk=hotline_id)),
            hotline_id=hotline_id,
        )
    else:
        qs = Extension.objects.filter(hotline__tenant_id=membership.tenant_id)
    if membership.role != Role.ADMIN:
        qs = qs.filter(pk=membership.extension_id) if membership.extension_id else qs.none()
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


def _joined_sql(relation: str, column: str | None):
    """SQL of the outer extension's values of an m2m relation joined into one text by
    LABEL_SEPARATOR (PostgreSQL STRING_AGG, SQLite GROUP_CONCAT), in no particular order; NULL
    when it has none. `column`: a column of the related table; None: the related ids."""
    field = Extension._meta.get_field(relation)
    through = field.remote_field.through._meta.db_table
    own, other = field.m2m_column_name(), field.m2m_reverse_name()
    target = field.related_model._meta
    extension_pk = Extension._meta.pk.column

    def sql(vendor: str, ops) -> str:
        q = ops.quote_name
        if column is None:
            value, join = f"CAST(x.{q(other)} AS TEXT)", ""
        else:
            value = f"t.{q(column)}"
            join = f" INNER JOIN {q(target.db_table)} t ON t.{q(target.pk.column)} = x.{q(other)}"
        joined = f"GROUP_CONCAT({value}, CHAR(31))" if vendor == "sqlite" else f"STRING_AGG({value}, CHR(31))"
        # Names come from the models; nothing here comes from a request.
        return (
            f"(SELECT {joined} FROM {q(through)} x{join} "  # noqa: S608
            f"WHERE x.{q(own)} = {{row}}.{q(extension_pk)})"
        )

    sql.__name__ = f"joined_{relation}_{column or 'id'}"
    return sql


def _supervisor_sql(vendor: str, ops) -> str:
    """SQL of the outer extension's supervisor as "number<LABEL_SEPARATOR>alias", NULL without
    one. A subquery rather than a join, so the list's COUNT stays an index-only scan."""
    q, table = ops.quote_name, Extension._meta.db_table
    pk, number, alias, supervisor = (
        Extension._meta.get_field(name).column for name in ("id", "number", "alias", "supervisor")
    )
    separator = "CHAR(31)" if vendor == "sqlite" else "CHR(31)"
    # Names come from the model; nothing here comes from a request.
    return (
        f"(SELECT s.{q(number)} || {separator} || s.{q(alias)} FROM {q(table)} s "  # noqa: S608
        f"WHERE s.{q(pk)} = {{row}}.{q(supervisor)})"
    )


# The caller-ID hotline numbers and group names of each extension (the list page's badges),
# and their ids (the list API), as text in the rows query instead of two prefetch queries.
CALLER_ID_LABELS = {
    "caller_id_hotlines": RowSQL(_joined_sql("outbound_hotlines", "number"), output_field=CharField()),
    "caller_id_groups": RowSQL(_joined_sql("outbound_groups", "name"), output_field=CharField()),
}
CALLER_ID_IDS = {
    "outbound_hotline_ids": RowSQL(_joined_sql("outbound_hotlines", None), output_field=CharField()),
    "outbound_group_ids": RowSQL(_joined_sql("outbound_groups", None), output_field=CharField()),
}


def extension_table(*, user, hotline: Hotline) -> QuerySet:
    """A hotline's extensions for the list page, as dicts of what a row shows (no secrets):
    id, number, alias, call_permission, description, enabled, `supervisor_label`
    ("number<LABEL_SEPARATOR>alias" or None) and its caller IDs as text (`caller_id_hotlines`,
    `caller_id_groups`: values joined by LABEL_SEPARATOR), so a page costs the same few queries
    at 5 or 10,000 rows. Dicts, not model instances: a fraction of the cost per row."""
    return (
        _visible(user=user, hotline=hotline)
        .annotate(supervisor_label=RowSQL(_supervisor_sql, output_field=CharField()), **CALLER_ID_LABELS)
        .values(
            "id",
            "number",
            "alias",
            "call_permission",
            "description",
            "enabled",
            "supervisor_label",
            *CALLER_ID_LABELS,
        )
        .order_by(Length("number"), "number")
    )


# What an item of the list API shows, as extension_api_list's dicts carry it.
API_LIST_FIELDS = (
    "id",
    "hotline",
    "number",
    "alias",
    "call_permission",
    "supervisor",
    *CALLER_ID_IDS,
    "description",
    "enabled",
    "outbound_schedule",
    "allowed_networks",
    "max_contacts",
    "max_calls_per_minute",
    "max_calls_per_day",
    "max_call_seconds",
    "created_at",
    "updated_at",
)


def extension_api_list(*, user, hotline_id: int | None = None) -> QuerySet:
    """Extensions for the list API: the same rows as extension_list, of one hotline (its id
    checked against the user's tenant in the same query) or of the whole tenant, as dicts
    of API_LIST_FIELDS (no secrets; `hotline` and `supervisor` are ids), with the caller-ID
    ids as joined text in the rows query instead of two prefetch queries."""
    return (
        _visible(user=user, hotline_id=hotline_id)
        .annotate(**CALLER_ID_IDS)
        .values(*API_LIST_FIELDS)
        .order_by("hotline_id", Length("number"), "number")
    )


def split_ids(joined: str | None) -> list[int]:
    """Ids from a CALLER_ID_IDS text, ascending."""
    return sorted(int(value) for value in joined.split(LABEL_SEPARATOR)) if joined else []


def extension_get(*, user, pk) -> Extension:
    return get_object_or_404(extension_list(user=user), pk=pk)


def extension_get_for_form(*, user, pk) -> Extension:
    """One extension for its edit form, in one query: with its hotline and supervisor, and the
    ids of its caller-ID hotlines and groups as text (`outbound_hotline_ids`,
    `outbound_group_ids`: split_ids) instead of two prefetch queries of whole rows."""
    return get_object_or_404(
        _visible(user=user).select_related("hotline", "supervisor").annotate(**CALLER_ID_IDS), pk=pk
    )


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
