from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from core.api.permissions import IsTenantAdmin
from core.api.views import parse_pk
from tenants.selectors import membership_for

from .. import services
from ..choices import GroupStrategy
from ..models import Hotline, NumberGroup
from ..selectors import hotline_get, hotline_list, number_group_get, number_group_list
from .serializers import HotlineSerializer, NumberGroupSerializer, NumberGroupWriteSerializer


@extend_schema_view(
    list=extend_schema(summary="List hotlines (đầu số)"),
    retrieve=extend_schema(summary="One hotline"),
)
class HotlineViewSet(viewsets.ReadOnlyModelViewSet):
    """The tenant's hotlines, for its admins (agents get 403, as on the dashboard)."""

    serializer_class = HotlineSerializer
    lookup_value_regex = "[^/]+"  # any id reaches get_object(), whose 404 is JSON
    permission_classes = [IsAuthenticated, IsTenantAdmin]
    queryset = Hotline.objects.none()  # for the schema; requests use get_queryset()

    def get_queryset(self):
        return hotline_list(user=self.request.user)

    def get_object(self) -> Hotline:
        return hotline_get(user=self.request.user, pk=parse_pk(self.kwargs["pk"]))


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
            tenant=membership_for(request.user).tenant,
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
