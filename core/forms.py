from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.models import ModelChoiceIterator
from django.utils.translation import gettext


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's ValidationError back onto the form, on fields the form has."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        target = field if field in form.fields and field != NON_FIELD_ERRORS else None
        form.add_error(target, errors)


class OrderedModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice whose value keeps the order the ids were submitted in."""

    def clean(self, value):
        queryset = super().clean(value)
        if not value:
            return []
        by_pk = {str(obj.pk): obj for obj in queryset}
        seen, ordered = set(), []
        for pk in value:
            if str(pk) in by_pk and str(pk) not in seen:
                seen.add(str(pk))
                ordered.append(by_pk[str(pk)])
        return ordered


def show_character_count(field: forms.Field, limit: int) -> None:
    """A live "n/limit" under the field (static/js/app.js), and no maxlength attribute: a browser
    would cut a pasted text there without a word; the model's rule refuses it with a message."""
    field.widget.attrs.pop("maxlength", None)
    field.widget.attrs["data-max-chars"] = str(limit)
    field.widget.attrs["data-over-message"] = gettext("too long: shorten it to %(limit)d characters.") % {
        "limit": limit
    }


class ListedChoiceIterator(ModelChoiceIterator):
    """Reads the choices with one plain query, kept on the field's queryset for the next reading.

    Django's iterator reads them through `QuerySet.iterator()`, which on PostgreSQL outside a
    transaction is a server-side cursor: DECLARE, FETCH and CLOSE, three round trips and a
    result materialised for the cursor, on every reading. That pays for thousands of rows;
    a tenant's hotlines or number groups are a handful (the edit page reads two such lists).
    """

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class ShortModelMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A multiple choice among a few rows (a tenant's hotlines or number groups): read with one
    plain query (ListedChoiceIterator)."""

    iterator = ListedChoiceIterator
