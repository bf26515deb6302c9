from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api.permissions import IsTenantAdmin
from core.api.views import parse_pk
from tenants.models import Tenant
from tenants.selectors import membership_for

from .. import services
from ..choices import GroupStrategy
from ..models import Hotline, NumberGroup, Schedule
from ..selectors import (
    hotline_get,
    hotline_list,
    number_group_get,
    number_group_list,
    schedule_get,
    schedule_list,
)
from .serializers import (
    HotlineSerializer,
    HotlineWriteSerializer,
    NumberGroupSerializer,
    NumberGroupWriteSerializer,
    ScheduleSerializer,
    ScheduleWriteSerializer,
)


def _tenant_of(user) -> Tenant:
    membership = membership_for(user)
    assert membership is not None  # IsTenantAdmin let the request through
    return membership.tenant


@extend_schema_view(
    list=extend_schema(summary="List hotlines (đầu số)"),
    retrieve=extend_schema(summary="One hotline"),
    partial_update=extend_schema(
        summary="Set a hotline's outbound schedule (the default of its extensions)",
        request=HotlineWriteSerializer,
        responses={200: HotlineSerializer},
    ),
)
class HotlineViewSet(viewsets.ReadOnlyModelViewSet):
    """The tenant's hotlines, for its admins (agents get 403, as on the dashboard). The platform
    operator manages them; a tenant admin may only set their outbound schedule (PATCH)."""

    serializer_class = HotlineSerializer
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = Hotline.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return hotline_list(user=self.request.user)

    def get_object(self) -> Hotline:
        return hotline_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))

    def partial_update(self, request, pk=None):
        hotline = self.get_object()
        serializer = HotlineWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        services.hotline_set_outbound_schedule(
            hotline=hotline, schedule=serializer.validated_data["outbound_schedule"]
        )
        return Response(HotlineSerializer(self.get_object()).data)


@extend_schema_view(
    list=extend_schema(summary="List number groups (nhóm đầu số)"),
    retrieve=extend_schema(summary="One number group"),
    create=extend_schema(
        summary="Create a number group",
        request=NumberGroupWriteSerializer,
        responses={201: NumberGroupSerializer},
    ),
    update=extend_schema(
        summary="Change a number group",
        request=NumberGroupWriteSerializer,
        responses={200: NumberGroupSerializer},
    ),
    partial_update=extend_schema(
        summary="Change some fields of a number group",
        request=NumberGroupWriteSerializer,
        responses={200: NumberGroupSerializer},
    ),
    destroy=extend_schema(summary="Delete a number group"),
)
class NumberGroupViewSet(viewsets.ModelViewSet):
    """The tenant's number groups; writes go through hotlines.services."""

    serializer_class = NumberGroupSerializer
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = NumberGroup.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return number_group_list(user=self.request.user)

    def get_object(self) -> NumberGroup:
        return number_group_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))

    def create(self, request):
        data = self._parse(partial=False)
        group = services.number_group_create(
            tenant=_tenant_of(request.user),
            name=data["name"],
            strategy=data.get("strategy", GroupStrategy.SAME_CARRIER),
            hotlines=data.get("hotlines", []),
        )
        return self._group_response(group, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        group = self.get_object()
        services.number_group_update(group=group, **self._parse(partial=partial))
        return self._group_response(group)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def perform_destroy(self, instance: NumberGroup) -> None:
        services.number_group_delete(group=instance)

    def _parse(self, *, partial: bool) -> dict:
        serializer = NumberGroupWriteSerializer(
            data=self.request.data, partial=partial, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _group_response(self, group: NumberGroup, status=status.HTTP_200_OK) -> Response:
        # Read back through the selector, so the members come in their stored order.
        group = number_group_get(user=self.request.user, pk=group.pk)
        return Response(NumberGroupSerializer(group).data, status=status)


@extend_schema_view(
    list=extend_schema(summary="List outbound schedules (lịch gọi ra)"),
    retrieve=extend_schema(summary="One outbound schedule"),
    create=extend_schema(
        summary="Create an outbound schedule",
        request=ScheduleWriteSerializer,
        responses={201: ScheduleSerializer},
    ),
    update=extend_schema(
        summary="Change an outbound schedule",
        request=ScheduleWriteSerializer,
        responses={200: ScheduleSerializer},
    ),
    partial_update=extend_schema(
        summary="Change some fields of an outbound schedule",
        request=ScheduleWriteSerializer,
        responses={200: ScheduleSerializer},
    ),
    destroy=extend_schema(summary="Delete an outbound schedule"),
)
class ScheduleViewSet(viewsets.ModelViewSet):
    """The tenant's outbound schedules; writes go through hotlines.services."""

    serializer_class = ScheduleSerializer
    lookup_value_regex = "[^/]+"
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = Schedule.objects.none()

    def get_queryset(self):
        return schedule_list(user=self.request.user)

    def get_object(self) -> Schedule:
        return schedule_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))

    def create(self, request):
        data = self._parse(partial=False)
        schedule = services.schedule_create(tenant=_tenant_of(request.user), **data)
        return self._response(schedule, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        schedule = self.get_object()
        services.schedule_update(schedule=schedule, **self._parse(partial=partial))
        return self._response(schedule)

    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def perform_destroy(self, instance: Schedule) -> None:
        services.schedule_delete(schedule=instance)

    def _parse(self, *, partial: bool) -> dict:
        serializer = ScheduleWriteSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _response(self, schedule: Schedule, status=status.HTTP_200_OK) -> Response:
        return Response(
            ScheduleSerializer(schedule_get(user=self.request.user, pk=schedule.pk)).data, status=status
        )
