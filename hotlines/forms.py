from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import OrderedModelMultipleChoiceField

from .models import Hotline, NumberGroup


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
