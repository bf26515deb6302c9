import re
from typing import cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.forms import OrderedModelMultipleChoiceField

from .models import Hotline, NumberGroup, Schedule
from .schedules import MAX_WINDOWS, parse_window


class NumberGroupForm(forms.Form):
    name = NumberGroup._meta.get_field("name").formfield()
    strategy = NumberGroup._meta.get_field("strategy").formfield()
    hotlines = OrderedModelMultipleChoiceField(
        label=_("Hotlines, in order"),
        queryset=Hotline.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "orderable"}),
        help_text=_("Tick the hotlines of the group; use ↑ ↓ to set their order."),
    )

    def __init__(self, *args, hotlines, ordered_pks=(), **kwargs):
        super().__init__(*args, **kwargs)
        # Show the group's members first, in their order, so the form's order is the group's.
        position = {pk: i for i, pk in enumerate(ordered_pks)}
        choices = sorted(hotlines, key=lambda h: (position.get(h.pk, len(position)), h.number))
        field = self.fields["hotlines"]
        field.queryset = hotlines
        field.choices = [(h.pk, str(h)) for h in choices]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("save", _("Save")))


# -- Outbound schedules (lịch gọi ra) -------------------------------------------------------------

_TIME_ATTRS = {"class": "form-control", "inputmode": "numeric", "autocomplete": "off"}
_LOOSE_TIME_RE = re.compile(r"^(\d)[:hH.](\d\d)$")


def _time_text(value: str) -> str:
    """ "8:00" / "8h00" / "8.00" → "08:00"; anything else is left for the rules to refuse."""
    value = value.strip()
    match = _LOOSE_TIME_RE.match(value)
    return f"0{match.group(1)}:{match.group(2)}" if match else value.replace("h", ":").replace("H", ":")


class ScheduleForm(forms.Form):
    """A schedule's name and holidays; its windows come in ScheduleWindowFormSet."""

    name = Schedule._meta.get_field("name").formfield()
    holidays = forms.CharField(
        label=_("Holidays"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-04-30"}),
        help_text=_(
            "Dates on which nobody may call out, as YYYY-MM-DD, one per line (or separated by commas)."
        ),
    )

    def clean_holidays(self) -> list[str]:
        return [d for d in re.split(r"[\s,;]+", self.cleaned_data["holidays"]) if d]


class ScheduleWindowForm(forms.Form):
    """One row of the window editor. An empty row is left out; a filled one is checked with the
    same rule as the API's (hotlines.schedules.parse_window), so its message sits on its row."""

    days = forms.TypedMultipleChoiceField(
        label=_("Days"),
        choices=list(WEEKDAYS.items()),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )
    start = forms.CharField(
        label=pgettext_lazy("time of day", "From"),
        required=False,
        max_length=5,
        widget=forms.TextInput(attrs={**_TIME_ATTRS, "placeholder": "08:00"}),
    )
    end = forms.CharField(
        label=pgettext_lazy("time of day", "Until"),
        required=False,
        max_length=5,
        widget=forms.TextInput(attrs={**_TIME_ATTRS, "placeholder": "17:00"}),
    )

    def clean(self):
        data = super().clean() or {}
        data["start"] = _time_text(data.get("start") or "")
        data["end"] = _time_text(data.get("end") or "")
        if not (data.get("days") or data["start"] or data["end"]):
            return data  # an empty row: left out
        try:
            data["window"] = parse_window(
                {"days": data.get("days") or [], "start": data["start"], "end": data["end"]}
            )
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data


class _WindowFormSet(forms.BaseFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = _("Remove")
            form.fields["DELETE"].widget.attrs["class"] = "form-check-input"

    def windows(self) -> list[dict]:
        """The filled rows, in order, as the service takes them (not those ticked for removal)."""
        return [
            form.cleaned_data["window"].as_dict()
            for form in self.forms
            if form.cleaned_data.get("window") and not form.cleaned_data.get("DELETE")
        ]


ScheduleWindowFormSet = cast(
    type[_WindowFormSet],
    forms.formset_factory(
        ScheduleWindowForm,
        formset=_WindowFormSet,
        extra=2,
        can_delete=True,
        max_num=MAX_WINDOWS,
        validate_max=True,
    ),
)


class HotlineSettingsForm(forms.Form):
    """What a tenant admin may change on a hotline: its extensions' default outbound schedule."""

    outbound_schedule = forms.ModelChoiceField(
        label=_("Outbound schedule"),
        queryset=Schedule.objects.none(),
        required=False,
        empty_label=_("None: calls out at any hour"),
        help_text=_(
            "The default for its extensions; an extension with its own schedule keeps it. Internal "
            "and emergency calls are always allowed."
        ),
    )

    def __init__(self, *args, schedules, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["outbound_schedule"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = schedules
        self.helper = FormHelper()
        self.helper.form_tag = False
