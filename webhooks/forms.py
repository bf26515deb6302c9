from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import Event
from .models import WebhookEndpoint
from .validators import SECRET_MIN_LENGTH


class WebhookForm(forms.Form):
    """Create or edit a webhook; the secret is asked for on creation and never shown again (left
    empty on an edit, it stays as it is)."""

    url = forms.URLField(label=pgettext_lazy("webhook", "URL"), max_length=500, assume_scheme="https")
    secret = forms.CharField(
        label=pgettext_lazy("webhook", "Secret"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        min_length=SECRET_MIN_LENGTH,
        max_length=200,
        strip=False,
    )
    events = forms.MultipleChoiceField(
        label=pgettext_lazy("webhook", "Events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    description = forms.CharField(label=_("Description"), max_length=200, required=False)

    def __init__(self, *args, endpoint: WebhookEndpoint | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if endpoint is not None:
            self.fields["secret"].required = False
            self.fields["secret"].help_text = _("Leave empty to keep the current secret.")
        else:
            self.fields["secret"].help_text = _(
                "Used to sign each request (X-PBX-Signature). At least %(n)d characters; it is not "
                "shown again."
            ) % {"n": SECRET_MIN_LENGTH}
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.add_input(Submit("save", _("Save")))
