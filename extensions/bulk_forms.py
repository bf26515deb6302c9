"""Forms of the bulk pages: a range of extensions, one change to many, a CSV upload.

They only parse input; the rules live in `extensions.services` and `extensions.imports`.
A supervisor is typed as an extension number with matches offered as one types
(`forms.SupervisorField`: a hotline of 10,000 extensions is no `<select>`).
"""

from django import forms
from django.utils.formats import number_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.forms import ShortModelMultipleChoiceField, show_character_count
from hotlines.models import Hotline, NumberGroup

from . import csvio
from .choices import CALL_PERMISSION_HINT, CallPermission
from .forms import SupervisorField, bind_supervisor_field
from .models import Extension
from .services.bulk import MAX_BATCH
from .validators import DESCRIPTION_MAX_LENGTH

KEEP = ""


class RangeCreateForm(forms.Form):
    """ "Tạo dải máy lẻ": extensions first…last sharing their settings."""

    first = forms.CharField(
        label=_("First number"),
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "100"}),
    )
    last = forms.CharField(
        label=_("Last number"),
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "199"}),
    )
    alias_pattern = forms.CharField(
        label=_("Alias pattern"),
        max_length=40,
        initial="sale{n}",
        help_text=_("{n} stands for the number: sale{n} gives sale100, sale101, …"),
    )
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
    )
    outbound_groups = ShortModelMultipleChoiceField(
        label=_("Number groups"),
        queryset=NumberGroup.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    def __init__(self, *args, hotline: Hotline, hotlines, groups, **kwargs):
        super().__init__(*args, **kwargs)
        self.hotline = hotline
        self.fields["last"].help_text = gettext("At most %(max)s numbers at once.") % {
            "max": number_format(MAX_BATCH, force_grouping=True)
        }
        bind_supervisor_field(self, hotline)
        self.fields["outbound_hotlines"].queryset = hotlines
        self.fields["outbound_groups"].queryset = groups
        show_character_count(self.fields["description"], DESCRIPTION_MAX_LENGTH)


class SelectionForm(forms.Form):
    """The extensions ticked on the list page (checkboxes named `pk`)."""

    pk = forms.ModelMultipleChoiceField(
        queryset=Extension.objects.none(),
        widget=forms.MultipleHiddenInput,
        error_messages={"required": _("Select at least one extension.")},
    )

    def __init__(self, *args, hotline: Hotline, **kwargs):
        super().__init__(*args, **kwargs)
        self.hotline = hotline
        self.fields["pk"].queryset = Extension.objects.filter(hotline=hotline).select_related("hotline")

    def clean_pk(self):
        selected = self.cleaned_data["pk"]
        if len(selected) > MAX_BATCH:
            raise forms.ValidationError(
                gettext("At most %(max)s extensions at once.")
                % {"max": number_format(MAX_BATCH, force_grouping=True)}
            )
        return sorted(selected, key=lambda e: (len(e.number), e.number))


class BulkEditForm(SelectionForm):
    """What to change on every selected extension; each field defaults to "keep"."""

    call_permission = forms.TypedChoiceField(
        label=_("Call permission"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(KEEP, _("— keep —")), *CallPermission.choices],
    )
    # One field each for the supervisor and the number groups, as on the extension form:
    # left empty, they keep what each extension has; a box below each removes it.
    supervisor = SupervisorField(
        help_text=_("Type a number to give every selected extension that supervisor; empty: keep.")
    )
    clear_supervisor = forms.BooleanField(
        label=_("Remove the supervisor of every selected extension"), required=False
    )
    outbound_groups = ShortModelMultipleChoiceField(
        label=_("Number groups"),
        queryset=NumberGroup.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Ticked groups replace each selected extension's groups; none ticked: keep."),
    )
    clear_groups = forms.BooleanField(
        label=_("Remove every number group of the selected extensions"), required=False
    )
    enabled = forms.ChoiceField(
        label=_("Enabled"),
        required=False,
        initial=KEEP,
        choices=[(KEEP, _("— keep —")), ("true", _("Enable")), ("false", _("Disable"))],
    )

    def __init__(self, *args, groups, **kwargs):
        super().__init__(*args, **kwargs)
        bind_supervisor_field(self, self.hotline)
        self.fields["outbound_groups"].queryset = groups

    def clean(self):
        data = super().clean()
        if data.get("clear_supervisor") and data.get("supervisor") is not None:
            self.add_error("supervisor", _("Type a supervisor or remove it, not both."))
        if data.get("clear_groups") and data.get("outbound_groups"):
            self.add_error("outbound_groups", _("Tick groups or remove them all, not both."))
        if not self.changes() and not self.errors:
            raise forms.ValidationError(_("Choose at least one thing to change."))
        return data

    def changes(self) -> dict:
        """The service's `data`: only the fields being changed."""
        data = self.cleaned_data
        changes = {}
        if data.get("call_permission") is not None:
            changes["call_permission"] = data["call_permission"]
        if data.get("clear_supervisor"):
            changes["supervisor"] = None
        elif data.get("supervisor"):
            changes["supervisor"] = data["supervisor"]
        if data.get("clear_groups"):
            changes["outbound_groups"] = []
        elif data.get("outbound_groups"):
            changes["outbound_groups"] = list(data["outbound_groups"])
        if data.get("enabled") in ("true", "false"):
            changes["enabled"] = data["enabled"] == "true"
        return changes


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = gettext(
            "UTF-8 (“CSV UTF-8” in a spreadsheet), at most %(mb)d MB and %(rows)s rows."
        ) % {
            "mb": csvio.MAX_BYTES // 1024 // 1024,
            "rows": number_format(csvio.MAX_ROWS, force_grouping=True),
        }

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > csvio.MAX_BYTES:
            # Refused from its size alone, before it is read.
            raise forms.ValidationError(
                gettext("The file is %(size)s MB; the limit is %(limit)d MB. Split it into smaller files.")
                % {"size": f"{upload.size / 1024 / 1024:.1f}", "limit": csvio.MAX_BYTES // 1024 // 1024}
            )
        return upload
