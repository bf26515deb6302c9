"""The platform operator edits dial rules in Django admin, through the services."""

from unittest import mock

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from dialplan.models import DialRule
from tests.factories import UserFactory

RELOAD = "sip.signals.sip_dialplan_reload"  # the receiver of dial_rules_changed


@pytest.fixture
def operator(client, vn_rules):
    user = UserFactory(username="operator", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return client


def form_data(rule: DialRule, **changes) -> dict:
    data = {
        name: getattr(rule, name)
        for name in (
            "name",
            "stage",
            "priority",
            "pattern",
            "replacement",
            "destination",
            "carrier",
            "description",
        )
    }
    data["enabled"] = "on" if rule.enabled else ""
    return {**data, **changes}


def test_changelist_lists_rules_in_the_order_kamailio_tries_them(operator):
    html = operator.get(reverse("admin:dialplan_dialrule_changelist")).content.decode()
    rows = [html.index(f">{name}</a>") for name in ("plus84-service", "emergency", "international")]
    assert rows == sorted(rows)


def test_an_edit_goes_through_the_service(operator, django_capture_on_commit_callbacks):
    rule = DialRule.objects.get(name="premium")
    with mock.patch(RELOAD) as reload, django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            reverse("admin:dialplan_dialrule_change", args=[rule.pk]),
            form_data(rule, description="1900 numbers"),
        )
    assert response.status_code == 302
    assert reload.call_count == 1
    assert AuditEvent.objects.filter(object_type="dialplan.dialrule", action="update").exists()


def test_an_unsafe_pattern_is_refused_with_a_clear_message(operator):
    rule = DialRule.objects.get(name="premium")
    response = operator.post(
        reverse("admin:dialplan_dialrule_change", args=[rule.pk]), form_data(rule, pattern=r"^1900(?=\d)\d+$")
    )
    assert response.status_code == 200
    assert "look-arounds" in response.content.decode()
    assert DialRule.objects.get(pk=rule.pk).pattern == r"^1900([0-9]{4}|[0-9]{6})$"


def test_add_and_delete(operator, django_capture_on_commit_callbacks):
    with mock.patch(RELOAD), django_capture_on_commit_callbacks(execute=True):
        operator.post(
            reverse("admin:dialplan_dialrule_add"),
            {
                "name": "hotline-116",
                "stage": 2,
                "priority": 15,
                "pattern": "^116$",
                "replacement": "",
                "destination": "landline",
                "carrier": "",
                "description": "",
                "enabled": "on",
            },
        )
        rule = DialRule.objects.get(name="hotline-116")
        operator.post(reverse("admin:dialplan_dialrule_delete", args=[rule.pk]), {"post": "yes"})
    assert not DialRule.objects.filter(name="hotline-116").exists()
    assert [e.action for e in AuditEvent.objects.filter(object_type="dialplan.dialrule")] in (
        ["create", "delete"],
        ["delete", "create"],
    )


def test_searching_a_number_shows_the_rules_that_decide_it(operator):
    response = operator.get(reverse("admin:dialplan_dialrule_changelist"), {"q": "+84 912 345 678"})
    html = response.content.decode()
    assert "0912345678: decided by plus84, mobile-vinaphone" in html
    assert "mobile-viettel" not in html
