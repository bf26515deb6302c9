from crispy_forms.helper import FormHelper
from django import forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.forms import ShortModelMultipleChoiceField, show_character_count
from hotlines.models import Hotline, NumberGroup, Schedule

from .choices import CALL_PERMISSION_HINT, CallPermission
from .filtersets import CALL_PERMISSION_SLUGS, filter_extensions
from .models import Extension
from .validators import DESCRIPTION_MAX_LENGTH


def _model_field(name: str, **kwargs) -> forms.Field:
    """The form field of a model field: same validators, label and help text."""
    return Extension._meta.get_field(name).formfield(**kwargs)


class SupervisorField(forms.CharField):
    """The supervisor ("máy giám sát") typed as an extension number of the same hotline, with
    matches offered as one types (static/js/picker.js asks the list API for them). One field for
    the create/edit form, range create and bulk edit: a page never lists every extension of a
    hotline, so it costs the same at 10 or 100,000 extensions. Cleans to the Extension or None."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", _("Supervisor extension"))
        kwargs.setdefault(
            "help_text", _("Type the number (or part of the alias) and pick it from the list; empty: none.")
        )
        super().__init__(
            required=False,
            max_length=6,
            widget=forms.TextInput(
                attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": _("e.g. 100")}
            ),
            **kwargs,
        )
        self.hotline: Hotline | None = None

    def for_hotline(self, hotline: Hotline) -> None:
        self.hotline = hotline
        self.widget.attrs["data-picker"] = (
            f"{reverse('api:extension-list')}?{urlencode({'hotline': hotline.pk, 'page_size': 20})}"
        )

    def clean(self, value) -> Extension | None:
        number = super().clean(value).strip()
        if not number:
            return None
        supervisor = (
            Extension.objects.filter(hotline=self.hotline, number=number).select_related("hotline").first()
        )
        if supervisor is None:
            raise forms.ValidationError(
                gettext("There is no extension %(number)s on this hotline.") % {"number": number},
                code="unknown_supervisor",
            )
        return supervisor


class NetworksField(forms.CharField):
    """Allowed networks typed one per line (or separated by commas/spaces) → a list of text;
    the model's validator says which entry is wrong."""

    widget = forms.Textarea(attrs={"rows": 2, "placeholder": "203.0.113.0/24"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def clean(self, value) -> list[str]:
        text = super().clean(value) or ""
        return [part for part in text.replace(",", " ").split() if part]


def bind_supervisor_field(form: forms.Form, hotline: Hotline, name: str = "supervisor") -> None:
    """Point a form's SupervisorField at the hotline whose extensions it offers and accepts."""
    field = form.fields[name]
    assert isinstance(field, SupervisorField)
    field.for_hotline(hotline)


class ExtensionForm(forms.Form):
    """Create ("Tạo máy lẻ") or edit an extension; the service does the real validation."""

    number = _model_field("number")
    # No max_length on the form: the model's rules answer (the same message as the API, range
    # and CSV), and no browser cuts a pasted text silently at a maxlength attribute.
    alias = _model_field("alias", max_length=None)
    call_permission = forms.TypedChoiceField(
        label=_("Call permission"),
        coerce=int,
        help_text=CALL_PERMISSION_HINT,
        choices=CallPermission.choices,
        initial=CallPermission.MOBILE,
    )
    supervisor = SupervisorField()
    outbound_hotlines = ShortModelMultipleChoiceField(
        label=_("Caller-ID hotlines"),
        queryset=Hotline.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Hotlines this extension may show as caller ID. None chosen: its own hotline."),
    )
    outbound_groups = ShortModelMultipleChoiceField(
        label=_("Number groups"),
        queryset=NumberGroup.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    description = _model_field("description", max_length=None, widget=forms.Textarea(attrs={"rows": 3}))
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    # Controls at the SIP server (the model owns their limits and texts).
    outbound_schedule = forms.ModelChoiceField(
        label=_("Outbound schedule"),
        queryset=Schedule.objects.none(),
        required=False,
        empty_label=_("The hotline's schedule"),
        help_text=_(
            "When it may call out through the carrier; internal and emergency calls are always allowed."
        ),
    )
    max_calls_per_minute = _model_field("max_calls_per_minute")
    max_calls_per_day = _model_field("max_calls_per_day")
    max_call_seconds = _model_field("max_call_seconds")
    allowed_networks = NetworksField(
        label=_("Allowed networks"),
        required=False,
        help_text=_(
            "Networks it may register from, one per line (e.g. 203.0.113.0/24); empty: anywhere. "
            "A registration from elsewhere is refused."
        ),
    )
    max_contacts = _model_field("max_contacts")
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Leave empty to generate a strong password. If you type one: at least 10 "
            "characters with upper case, lower case and a digit, not containing the "
            "number or alias."
        ),
    )

    def __init__(self, *args, hotline: Hotline, hotlines, groups, schedules=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hotline = hotline
        bind_supervisor_field(self, hotline)
        self.fields["outbound_hotlines"].queryset = hotlines
        self.fields["outbound_groups"].queryset = groups
        show_character_count(self.fields["description"], DESCRIPTION_MAX_LENGTH)
        schedule_field = self.fields["outbound_schedule"]
        assert isinstance(schedule_field, forms.ModelChoiceField)
        schedule_field.queryset = (
            schedules if schedules is not None else Schedule.objects.filter(tenant_id=hotline.tenant_id)
        )
        self.helper = FormHelper()
        self.helper.form_tag = False


class ExtensionCreateForm(ExtensionForm):
    """The buttons ("Tạo máy lẻ", "Hủy") are the template's (extensions/extension_form.html)."""


class ExtensionUpdateForm(ExtensionForm):
    regenerate_password = forms.BooleanField(
        label=_("Generate a new password"),
        required=False,
        help_text=_("The old password stops working at the phone's next sign-in."),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)

    field_order = [
        "alias",
        "call_permission",
        "supervisor",
        "outbound_hotlines",
        "outbound_groups",
        "description",
        "enabled",
        "outbound_schedule",
        "max_calls_per_minute",
        "max_calls_per_day",
        "max_call_seconds",
        "allowed_networks",
        "max_contacts",
        "password",
        "regenerate_password",
        "version",
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["number"]
        self.fields["password"].help_text = _(
            "Leave empty to keep the current password, or type a new one (at least 10 "
            "characters with upper case, lower case and a digit)."
        )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("regenerate_password"):
            self.add_error("password", _("Type a new password or generate one, not both."))
        return data


class ExtensionFilterForm(forms.Form):
    """The search bar of the extension list; the API takes the same filters (ExtensionFilterSet)
    and both apply them with `filter_extensions`."""

    search = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": _("Number or alias")}),
    )
    call_permission = forms.ChoiceField(
        label=_("Call permission"),
        required=False,
        choices=[("", _("All permissions"))] + CALL_PERMISSION_SLUGS,
    )
    enabled = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("true", _("Enabled")), ("false", _("Disabled"))],
    )

    def filter(self, queryset: QuerySet[Extension]) -> QuerySet[Extension]:
        """The queryset narrowed by the fields that are valid; an invalid one is left out (the
        page says so from `errors`)."""
        self.is_valid()
        data = self.cleaned_data
        return filter_extensions(
            queryset,
            search=data.get("search", ""),
            call_permission=data.get("call_permission", ""),
            enabled={"true": True, "false": False}.get(data.get("enabled", "")),
        )
