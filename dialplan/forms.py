from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hotlines.schedules import TIME_ZONE, validate_moment

from .validators import DIALLED_INPUT_MAX_LENGTH, validate_dialled


class MomentField(forms.DateTimeField):
    """A moment to decide for, as the browser's `datetime-local` sends it (no offset: Vietnam's
    time, whatever the user's time zone) or ISO 8601 with an offset, as the API takes it; within
    the years schedules are asked about (hotlines.schedules.validate_moment)."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S")

    def to_python(self, value):
        with timezone.override(TIME_ZONE):
            moment = super().to_python(value)
        if moment is not None:
            validate_moment(moment)
        return moment


class DialCheckForm(forms.Form):
    """ "Kiểm tra quyền gọi": a number to check against the extension's call permission, now or
    at another moment (the outbound schedule decides by it)."""

    number = forms.CharField(
        label=_("Number"),
        max_length=DIALLED_INPUT_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"placeholder": "0912 345 678", "inputmode": "tel", "autocomplete": "off"}
        ),
    )
    at = MomentField(label=_("At"), required=False, help_text=_("Vietnam's time; empty: now."))

    def clean_number(self) -> str:
        return validate_dialled(self.cleaned_data["number"])
