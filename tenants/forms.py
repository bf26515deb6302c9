from django import forms
from django.utils.translation import gettext_lazy as _


class ApiTokenForm(forms.Form):
    """The buttons of the API token page."""

    action = forms.ChoiceField(
        choices=[
            ("create", _("Create a token")),
            ("replace", _("Replace the token")),
            ("revoke", _("Revoke")),
        ]
    )
