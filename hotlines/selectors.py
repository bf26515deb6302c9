"""Tenant-scoped reads of hotlines and number groups."""

from django.db.models import Count, Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from tenants.selectors import admin_tenant_id

from .models import Hotline, NumberGroup, NumberGroupMember, Schedule, ScheduleHoliday, ScheduleWindow


def hotline_list(*, user) -> QuerySet[Hotline]:
    """The hotlines of the tenant the user administers, each with its extension count."""
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return Hotline.objects.none()
    return (
        Hotline.objects.filter(tenant_id=tenant_id)
        .annotate(extension_count=Count("extensions", distinct=True))
        .order_by("number")
    )


def hotline_get(*, user, pk, counts: bool = True) -> Hotline:
    """One of the user's tenant's hotlines (404 otherwise); `counts=False` skips counting its
    extensions, which pages that list or change them do not need (a COUNT over a large
    hotline's rows on every request)."""
    if counts:
        return get_object_or_404(hotline_list(user=user), pk=pk)
    tenant_id = admin_tenant_id(user)
    return get_object_or_404(Hotline.objects.filter(tenant_id=tenant_id), pk=pk)


def hotline_choices(*, tenant_id: int) -> QuerySet[Hotline]:
    """The tenant's hotlines, for caller-ID and number-group pickers."""
    return Hotline.objects.filter(tenant_id=tenant_id).order_by("number")


def number_group_list(*, user) -> QuerySet[NumberGroup]:
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return NumberGroup.objects.none()
    return (
        NumberGroup.objects.filter(tenant_id=tenant_id)
        .prefetch_related(
            Prefetch(
                "members",
                queryset=NumberGroupMember.objects.select_related("hotline").order_by("position", "id"),
            )
        )
        .annotate(extension_count=Count("extensions", distinct=True))
        .order_by("name", "id")
    )


def number_group_get(*, user, pk) -> NumberGroup:
    return get_object_or_404(number_group_list(user=user), pk=pk)


def number_group_choices(*, tenant_id: int) -> QuerySet[NumberGroup]:
    """The tenant's number groups, for caller-ID pickers."""
    return NumberGroup.objects.filter(tenant_id=tenant_id).order_by("name", "id")


def schedule_list(*, user) -> QuerySet[Schedule]:
    """The outbound schedules of the tenant the user administers, windows and holidays loaded."""
    tenant_id = admin_tenant_id(user)
    if tenant_id is None:
        return Schedule.objects.none()
    return (
        Schedule.objects.filter(tenant_id=tenant_id)
        .prefetch_related(
            Prefetch("windows", queryset=ScheduleWindow.objects.order_by("position", "id")),
            Prefetch("holidays", queryset=ScheduleHoliday.objects.order_by("date")),
        )
        .order_by("name", "id")
    )


def schedule_get(*, user, pk) -> Schedule:
    return get_object_or_404(schedule_list(user=user), pk=pk)


def schedule_list_with_uses(*, user) -> QuerySet[Schedule]:
    """schedule_list, each with how many hotlines and extensions use it (`hotline_count`,
    `extension_count`), for the dashboard's list and delete pages."""
    return schedule_list(user=user).annotate(
        hotline_count=Count("hotlines", distinct=True), extension_count=Count("extensions", distinct=True)
    )


def schedule_choices(*, tenant_id: int) -> QuerySet[Schedule]:
    """The tenant's schedules, for the hotline's and extensions' pickers."""
    return Schedule.objects.filter(tenant_id=tenant_id).order_by("name", "id")
