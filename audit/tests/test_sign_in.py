"""Failed sign-ins in the audit trail: a wrong password for a known user is one row each; what an
outsider can repeat at will (sign-ins refused by the lockout, unknown usernames) is counted, so
neither the audit trail nor django-axes' tables grow with the number of attempts."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db.models import Sum
from django.db.models.functions import Length
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import COUNT_WINDOW

pytestmark = pytest.mark.django_db

ATTEMPTS = 100
SOURCE = "203.0.113.66"


def sign_in(client, username: str, password: str = "wrong"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=SOURCE)


def axes_rows() -> int:
    return AccessAttempt.objects.count() + AccessFailureLog.objects.count() + AccessLog.objects.count()


def axes_stored_chars() -> int:
    # axes appends each recorded attempt's GET/POST data to its row: a row can grow too.
    sizes = AccessAttempt.objects.aggregate(get=Sum(Length("get_data")), post=Sum(Length("post_data")))
    return (sizes["get"] or 0) + (sizes["post"] or 0)


def test_wrong_passwords_for_a_known_user_are_one_row_each(client, world, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, world.admin_a.username).status_code == 200
    assert sign_in(client, world.admin_a.username).status_code == 429  # the one that locks
    failed = AuditEvent.objects.filter(action="login_failed")
    assert failed.count() == settings.AXES_FAILURE_LIMIT
    assert {(e.tenant_id, e.object_repr, e.ip, e.count) for e in failed} == {
        (world.tenant_a.pk, world.admin_a.username, SOURCE, 1)
    }


def test_refused_and_unknown_sign_ins_are_counted_not_written_one_by_one(client, world, settings):
    username = world.admin_a.username
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, username)
    audit_rows, axes_count, axes_chars = AuditEvent.objects.count(), axes_rows(), axes_stored_chars()
    for _ in range(ATTEMPTS):
        assert sign_in(client, username, "pw").status_code == 429  # even the right password
    for _ in range(ATTEMPTS):
        assert sign_in(client, "no-such-user").status_code in (200, 429)

    # The audit trail: the known user's failures, plus one counted row for each kind.
    assert AuditEvent.objects.count() == audit_rows + 2
    refused = AuditEvent.objects.get(action="login_locked_out")
    assert (refused.tenant, refused.object_repr, refused.ip, refused.count) == (
        world.tenant_a,
        username,
        SOURCE,
        ATTEMPTS,
    )
    unknown = AuditEvent.objects.get(action="login_unknown_user")
    assert (unknown.tenant, unknown.ip, unknown.count) == (None, SOURCE, ATTEMPTS)
    assert "no-such-user" not in repr(AuditEvent.objects.values())  # often a mistyped password

    # django-axes: one attempt row for the unknown username, and nothing written while locked out.
    assert axes_rows() == axes_count + 1
    assert (
        AccessAttempt.objects.get(username="no-such-user").failures_since_start == settings.AXES_FAILURE_LIMIT
    )
    assert axes_stored_chars() <= axes_chars * 2 + 2048

    # The tenant's admin sees how many there were, on the page and in the API.
    from tests.api import api_client

    client.force_login(world.admin_a)
    html = client.get(reverse("audit:auditevent_list"), {"action": "login_locked_out"}).content.decode()
    assert f"×{ATTEMPTS}" in html
    body = api_client(world.admin_a).get("/api/v1/audit-events/", {"action": "login_locked_out"}).json()
    assert [e["count"] for e in body["results"]] == [ATTEMPTS]


def test_many_unknown_usernames_from_one_source_are_one_counted_row(client, world):
    for number in range(50):
        sign_in(client, f"guess-{number}")
    unknown = AuditEvent.objects.get(action__startswith="login")
    assert (unknown.action, unknown.count, unknown.object_repr) == ("login_unknown_user", 50, "")


def test_a_counted_row_covers_one_source_and_one_hour(client, world):
    unknown = AuditEvent.objects.filter(action="login_unknown_user")
    sign_in(client, "nobody")
    client.post(reverse("login"), {"username": "nobody", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    assert sorted(unknown.values_list("ip", "count")) == [("198.51.100.7", 1), (SOURCE, 1)]
    unknown.update(created_at=unknown.get(ip=SOURCE).created_at - COUNT_WINDOW)
    sign_in(client, "nobody")
    assert sorted(unknown.filter(ip=SOURCE).values_list("count", flat=True)) == [1, 1]
    sign_in(client, "nobody")
    assert sorted(unknown.filter(ip=SOURCE).values_list("count", flat=True)) == [1, 2]
