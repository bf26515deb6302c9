"""Serializer fields shared by the apps' APIs."""

from collections.abc import Callable

from django.db.models import QuerySet
from rest_framework import serializers

from tenants.selectors import membership_for


class TenantScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key chosen among the requesting user's tenant's objects.

    `scope(tenant_id=…)` is a selector returning the allowed objects; another tenant's id gets
    the same "does not exist" as an id that was never used, so ids reveal nothing. `queryset`
    is only a typed empty placeholder, for the OpenAPI schema.
    """

    def __init__(self, *, scope: Callable[..., QuerySet], **kwargs):
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        membership = membership_for(self.context["request"].user)
        if membership is None:
            return self.queryset.none()
        return self.scope(tenant_id=membership.tenant_id)
