from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .classifier import RuleSet
from .models import DialRule
from .validators import validate_dialled


@admin.register(DialRule)
class DialRuleAdmin(admin.ModelAdmin):
    """The platform operator edits the dial rules here. Writes go through dialplan.services,
    which validate the pattern for both Python and Kamailio, audit the change and reload
    Kamailio once it is committed. The changelist's search box also tries a number:
    "0912345678" lists the rules that number meets, the deciding ones first."""

    list_display = [
        "name",
        "stage",
        "priority",
        "pattern",
        "replacement",
        "destination",
        "carrier",
        "enabled",
    ]
    list_display_links = ["name"]
    list_filter = ["stage", "destination", "carrier", "enabled"]
    list_editable = ["enabled"]
    search_fields = ["name", "pattern", "description"]
    ordering = ["stage", "priority"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "stage", "priority", "enabled", "description"]}),
        (_("Match"), {"fields": ["pattern", "replacement"]}),
        (_("Classify rules"), {"fields": ["destination", "carrier"]}),
        (_("History"), {"fields": ["created_at", "updated_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.cleaned_data if name in services.RULE_FIELDS}
        if change:
            services.dial_rule_update(rule=obj, data=data)
        else:
            saved = services.dial_rule_create(**data)
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.dial_rule_delete(rule=obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            services.dial_rule_delete(rule=rule)

    def get_search_results(self, request, queryset, search_term):
        """A number in the search box: the rules it meets, as Kamailio tries them."""
        try:
            number = validate_dialled(search_term)
        except Exception:  # noqa: BLE001 — not a number: an ordinary text search
            return super().get_search_results(request, queryset, search_term)
        if not any(c.isdigit() for c in number):
            return super().get_search_results(request, queryset, search_term)
        result = RuleSet.from_db().classification(number)
        names = [r.name for r in (result.normalised_by, result.rule) if r is not None]
        if names:
            messages.info(
                request,
                _("%(number)s → %(normalised)s: decided by %(rules)s.")
                % {"number": number, "normalised": result.number, "rules": ", ".join(names)},
            )
        else:
            messages.warning(request, _("No dial rule knows %(number)s.") % {"number": number})
        return queryset.filter(name__in=names), False
