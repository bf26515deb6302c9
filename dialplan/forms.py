from django import forms
from django.utils.translation import gettext_lazy as _

from .validators import DIALLED_INPUT_MAX_LENGTH, validate_dialled


class DialCheckForm(forms.Form):
    """ "Kiểm tra quyền gọi": a number to check against the extension's call permission."""

    number = forms.CharField(
        label=_("Number"),
        max_length=DIALLED_INPUT_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"placeholder": "0912 345 678", "inputmode": "tel", "autocomplete": "off"}
        ),
    )

    def clean_number(self) -> str:
        return validate_dialled(self.cleaned_data["number"])
