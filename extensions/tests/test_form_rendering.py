"""The extension form's page renders its fields with `{% fast_form %}` (core/templatetags/fast_forms.py)
instead of `{% crispy %}`: the same markup, at half the cost. These hold it to crispy's own
output, field by field, in every state the form shows: new, filled in, and with errors on each
kind of field (text, select, checkbox, list of checkboxes, the form as a whole)."""

import re

import pytest
from django.template import Context, Template
from django.utils import translation

from extensions.forms import ExtensionCreateForm, ExtensionUpdateForm
from hotlines.models import Hotline, NumberGroup
from tests.factories import HotlineFactory, NumberGroupFactory, make_extension

pytestmark = pytest.mark.django_db


def normalised(html: str) -> str:
    """Whitespace does not matter between tags and around text; it does inside attribute values."""
    return re.sub(r"\s*([<>])\s*", r"\1", re.sub(r"\s+", " ", html)).strip()


def both(form) -> tuple[str, str]:
    context = Context({"form": form})
    crispy = Template("{% load crispy_forms_tags %}{% crispy form %}").render(context)
    fast = Template("{% load fast_forms %}{% fast_form form %}").render(context)
    return normalised(crispy), normalised(fast)


@pytest.fixture
def hotline():
    hotline = HotlineFactory()
    HotlineFactory(tenant=hotline.tenant)
    NumberGroupFactory(tenant=hotline.tenant, name="Kinh doanh")
    NumberGroupFactory(tenant=hotline.tenant, name="Chăm sóc <khách>")
    return hotline


def kwargs(hotline):
    return {
        "hotline": hotline,
        "hotlines": Hotline.objects.filter(tenant_id=hotline.tenant_id).order_by("number"),
        "groups": NumberGroup.objects.filter(tenant_id=hotline.tenant_id).order_by("name"),
    }


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_new_extension_form_renders_as_crispy_renders_it(hotline, language):
    with translation.override(language):
        crispy, fast = both(ExtensionCreateForm(**kwargs(hotline)))
    assert 'name="number"' in fast
    assert fast == crispy


def test_a_filled_in_edit_form_renders_as_crispy_renders_it(hotline):
    supervisor = make_extension(hotline, "100")
    extension = make_extension(hotline, "101", supervisor=supervisor)
    initial = {
        "alias": extension.alias,
        "call_permission": extension.call_permission,
        "supervisor": supervisor.number,
        "outbound_hotlines": [hotline.pk],
        "outbound_groups": list(NumberGroup.objects.values_list("pk", flat=True)),
        "description": 'Nhân viên <kinh doanh> & "chăm sóc"',
        "enabled": True,
        "version": extension.version,
    }
    crispy, fast = both(ExtensionUpdateForm(initial=initial, **kwargs(hotline)))
    assert "checked" in fast
    assert fast == crispy


def test_an_edit_form_with_errors_everywhere_renders_as_crispy_renders_it(hotline):
    form = ExtensionUpdateForm(
        {
            "alias": "bad alias!",
            "call_permission": "9",
            "supervisor": "999",
            "outbound_groups": ["0"],
            "outbound_hotlines": [str(hotline.pk)],
            "description": "<b>x</b>",
            "version": "1",
        },
        **kwargs(hotline),
    )
    assert not form.is_valid()
    form.add_error(None, "Someone else saved it <meanwhile>.")
    form.add_error("enabled", "Not now.")
    form.add_error("regenerate_password", "Not with a typed password.")
    form.add_error("outbound_hotlines", "Too many.")
    crispy, fast = both(form)
    # call permission, supervisor, both lists, both boxes (the alias is the service's to refuse)
    assert fast.count("invalid-feedback") == 6
    assert "alert-danger" in fast
    assert fast == crispy
