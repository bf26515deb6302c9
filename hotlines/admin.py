"""The platform operator's pages for hotlines and number groups. Every write goes through
hotlines.services, so an admin change is validated like any other, audited, and announced
(hotline_changed: Kamailio reloads its domains); a refused change is an error on the form."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.forms.models import BaseInlineFormSet

from core.forms import add_service_errors

from . import services
from .models import Hotline, NumberGroup, NumberGroupMember

HOTLINE_FIELDS = ("tenant", "number", "name", "carrier", "enabled")


def _copy_saved(target: models.Model, saved: models.Model) -> None:
    """Make the admin's unsaved instance the row a create service saved (the admin goes on to
    log it and redirect to it)."""
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class HotlineAdminForm(forms.ModelForm):
    class Meta:
        model = Hotline
        fields = list(HOTLINE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        tenant, number = cleaned.get("tenant"), cleaned.get("number")
        # clean() runs before the form writes onto the instance: self.instance is still the
        # stored hotline, which the service's check compares with.
        if self.instance.pk is not None and tenant is not None and number:
            try:
                services.hotline_validate_change(hotline=self.instance, tenant_id=tenant.pk, number=number)
            except ValidationError as exc:
                add_service_errors(self, exc)
        return cleaned


@admin.register(Hotline)
class HotlineAdmin(admin.ModelAdmin):
    """Platform operators assign hotlines to tenants; the number is validated and normalised
    in Hotline.clean(), which also derives the kind and the SIP domain."""

    form = HotlineAdminForm
    list_display = ["number", "name", "tenant", "kind", "carrier", "sip_domain", "enabled"]
    list_filter = ["kind", "carrier", "enabled", "tenant"]
    search_fields = ["number", "name", "sip_domain"]
    readonly_fields = ["kind", "sip_domain", "created_at"]
    list_select_related = ["tenant"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in HOTLINE_FIELDS if name in form.cleaned_data}
        if change:
            services.hotline_update(hotline=obj, **data)
        else:
            _copy_saved(obj, services.hotline_create(**data))

    def get_deleted_objects(self, objs, request):
        # A hotline in use is "protected": the confirmation page says what to detach first
        # and offers no button, for one hotline or a selection. Our reasons replace Django's
        # "no permission to delete extensions" (the extension admin is read-only), which
        # would hide them and say nothing about number groups or caller IDs.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        refused = []
        for hotline in objs:
            try:
                services.hotline_validate_delete(hotline=hotline)
            except ValidationError as exc:
                refused.extend(f"{hotline}: {message}" for message in exc.messages)
        if refused:
            return deleted, counts, set(), [*protected, *refused]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        services.hotline_delete(hotline=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for hotline in queryset:
            services.hotline_delete(hotline=hotline)


class NumberGroupMemberFormSet(BaseInlineFormSet):
    def member_hotlines(self) -> list[Hotline]:
        """The rows' hotlines, in the order of their positions (then of the rows)."""
        rows = []
        for index, form in enumerate(self.forms):
            data = getattr(form, "cleaned_data", None) or {}
            if data.get("hotline") is None or (self.can_delete and self._should_delete_form(form)):
                continue
            rows.append((data.get("position") or 0, index, data["hotline"]))
        return [hotline for _position, _index, hotline in sorted(rows, key=lambda row: row[:2])]

    def clean(self):
        super().clean()
        # The group's own form reports a missing tenant; the members are checked against it.
        if self.instance.tenant_id is None:
            return
        try:
            services.validate_number_group_hotlines(
                tenant_id=self.instance.tenant_id, hotlines=self.member_hotlines()
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from exc


class NumberGroupMemberInline(admin.TabularInline):
    model = NumberGroupMember
    formset = NumberGroupMemberFormSet
    extra = 0
    autocomplete_fields = ["hotline"]


class NumberGroupAdminForm(forms.ModelForm):
    class Meta:
        model = NumberGroup
        fields = ["tenant", "name", "strategy"]

    def validate_unique(self):
        super().validate_unique()
        # On a change the tenant is read-only, so Django leaves the (tenant, name) constraint
        # out of the form's checks; without this the service would refuse the name on save.
        if self.instance.pk is not None and "tenant" not in self.fields:
            try:
                self.instance.validate_constraints()
            except ValidationError as exc:
                add_service_errors(self, exc)


@admin.register(NumberGroup)
class NumberGroupAdmin(admin.ModelAdmin):
    form = NumberGroupAdminForm
    list_display = ["name", "tenant", "strategy"]
    list_filter = ["strategy", "tenant"]
    search_fields = ["name"]
    inlines = [NumberGroupMemberInline]

    def get_readonly_fields(self, request, obj=None):
        # A group never changes tenant: the extensions using it as caller ID are its tenant's.
        return ["tenant"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        """Nothing here: the service writes the group and its members together, in
        save_related, which is the first hook that sees the member rows."""

    def save_related(self, request, form, formsets, change):
        members = next((fs for fs in formsets if isinstance(fs, NumberGroupMemberFormSet)), None)
        hotlines = members.member_hotlines() if members is not None else None
        data = {"name": form.cleaned_data["name"], "strategy": form.cleaned_data["strategy"]}
        if change:
            services.number_group_update(group=form.instance, hotlines=hotlines, **data)
        else:
            group = services.number_group_create(
                tenant=form.cleaned_data["tenant"], hotlines=hotlines or [], **data
            )
            _copy_saved(form.instance, group)

    def construct_change_message(self, request, form, formsets, add=False):
        # The service, not the member formset, saved the rows, so the formset has no record of
        # them; the audit row holds the members before and after.
        return super().construct_change_message(request, form, [], add)

    def delete_model(self, request, obj):
        services.number_group_delete(group=obj)

    @transaction.atomic
    def delete_queryset(self, request, queryset):
        for group in queryset:
            services.number_group_delete(group=group)
