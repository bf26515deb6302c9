"""GET /api/v1/extensions/{id}/dial-check/?number=… — the same check as the dashboard's."""

import pytest

from extensions.choices import CallPermission
from extensions.services import extension_update
from hotlines.choices import GroupStrategy
from hotlines.numbering import format_vn_number
from hotlines.services import number_group_update, schedule_create, schedule_update
from tests.api import api_client, errors


def url(extension) -> str:
    return f"/api/v1/extensions/{extension.pk}/dial-check/"


@pytest.fixture
def admin(world, vn_rules):
    return api_client(world.admin_a)


def test_allowed_number(admin, world):
    number_group_update(
        group=world.group_a, strategy=GroupStrategy.FIRST, hotlines=[world.hotline_a2, world.hotline_a]
    )
    response = admin.get(url(world.ext_a["101"]), {"number": "+84 912 345 678"})
    assert response.status_code == 200
    extension = world.ext_a["101"]
    assert response.json() == {
        "extension": {
            "id": extension.pk,
            "number": "101",
            "alias": extension.alias,
            "call_permission": "mobile",
        },
        "dialled": "+84912345678",
        "number": "0912345678",
        "allowed": True,
        "outcome": "gateway",
        "reason": "Allowed: goes out through the carrier.",
        "summary": (
            "0912 345 678 is a mobile number on VinaPhone; extension 101 may call it, because its "
            "call permission “Mobile” includes it, and the callee sees "
            f"{format_vn_number(world.hotline_a2.number)}."
        ),
        "sip_reply": "",
        "destination": "mobile",
        "required_permission": "mobile",
        "rule": {
            "name": "mobile-vinaphone",
            "description": "VinaPhone mobiles: 081–085, 087, 088, 091, 094",
            "pattern": "^0(8[1-5]|8[78]|9[14])[0-9]{7}$",
        },
        "normalised_by": {
            "name": "plus84",
            "description": "+84 numbers: national form (+84 912 345 678 → 0912345678)",
            "pattern": r"^\+84([0-9]+)$",
        },
        "caller_id": {
            "strategy": "first",
            "pool": [world.hotline_a2.number, world.hotline_a.number],
            "number": world.hotline_a2.number,
            "candidates": [world.hotline_a2.number],
            "format": "national",
            "gateway": "",  # none kept in the dashboard: SIP_GATEWAY_URI's
        },
        "target": None,
        "supervise_mode": None,
        "at": response.json()["at"],
        "decided_by": None,
        "lock_state": "unknown",  # no Kamailio answers in this test
        "locked_until": None,
        "schedule": None,
        "limits": {
            "max_calls_per_minute": None,
            "max_calls_per_day": None,
            "max_call_seconds": None,
            "counters": None,
            "counters_error": "",
        },
    }


def test_refused_number(admin, world):
    body = admin.get(url(world.ext_a["102"]), {"number": "0012025550100"}).json()
    assert (body["allowed"], body["outcome"], body["sip_reply"], body["required_permission"]) == (
        False,
        "denied",
        "403 Call permission: international required",
        "international",
    )
    assert body["caller_id"] is None


def test_emergency_and_supervision(admin, world):
    internal = world.ext_a["100"]
    extension_update(extension=internal, data={"call_permission": CallPermission.INTERNAL})
    assert admin.get(url(internal), {"number": "113"}).json()["allowed"] is True
    body = admin.get(url(internal), {"number": "*33101"}).json()
    assert (body["outcome"], body["supervise_mode"], body["target"]) == ("media_server", "listen", "101")
    assert body["allowed"] is True
    # Barge needs audio mixing, which the media relay cannot do: a 501, said as such.
    body = admin.get(url(internal), {"number": "*35101"}).json()
    assert (body["outcome"], body["supervise_mode"], body["target"]) == ("not_available", "barge", "101")
    assert (body["allowed"], body["sip_reply"]) == (False, "501 Barge needs audio mixing, not available")


@pytest.mark.parametrize("number", ["", "   ", "abc", "09l2345678", "1" * 33, "x" * 65, "0912\x00"])
def test_garbage_is_400_with_a_field_error(admin, world, number):
    assert errors(admin.get(url(world.ext_a["101"]), {"number": number}), "number")


def test_the_number_is_required(admin, world):
    assert errors(admin.get(url(world.ext_a["101"])), "number")


def test_tenant_scoping(world, vn_rules):
    assert api_client().get(url(world.ext_a["101"]), {"number": "115"}).status_code == 401
    assert api_client(world.admin_b).get(url(world.ext_a["101"]), {"number": "115"}).status_code == 404
    agent = api_client(world.agent_a)
    assert agent.get(url(world.ext_a["101"]), {"number": "115"}).status_code == 200
    assert agent.get(url(world.ext_a["102"]), {"number": "115"}).status_code == 404


@pytest.fixture
def office(world):
    """Extension 101 of tenant A on an outbound schedule: weekdays 08:00–17:00, and Saturday
    until midnight (a window ending 24:00)."""
    schedule = schedule_create(
        tenant=world.tenant_a,
        name="Office",
        windows=[
            {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"},
            {"days": [5], "start": "20:00", "end": "24:00"},
        ],
    )
    extension_update(extension=world.ext_a["101"], data={"outbound_schedule": schedule})
    return schedule


LATE_FRIDAY = [{"days": [4], "start": "22:00", "end": "24:00"}]


@pytest.mark.parametrize(
    ("windows", "moment"),
    [
        # 9999-12-31 is a Friday. Closed at 20:00: the next opening was looked for past the
        # last date datetime knows (an OverflowError, a 500).
        (None, "9999-12-31T20:00:00+07:00"),
        # Open at 23:00 until 24:00: the closing time was midnight after it (the same 500).
        (LATE_FRIDAY, "9999-12-31T23:00:00+07:00"),
        (None, "0001-01-01T00:00:00+07:00"),  # before year 1 in UTC (the same 500)
        (None, "0001-01-01T00:00:00+08:00"),  # DRF's own conversion overflowed: its message
        (None, "0001-01-01T00:00:00"),
        (None, "1999-12-31T23:59:59+07:00"),
        (None, "3000-01-01T00:00:00+07:00"),
    ],
)
def test_a_moment_outside_the_years_is_a_400_on_at(admin, world, office, windows, moment):
    if windows:
        schedule_update(schedule=office, windows=windows)
    response = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": moment})
    assert errors(response, "at") == "Choose a moment from the year 2000 to 2999."


@pytest.mark.parametrize("moment", ["soon", "2025-02-30T10:00:00+07:00", "2025-03-03T25:00"])
def test_a_moment_that_is_no_moment_is_a_400_on_at(admin, world, moment):
    assert errors(admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": moment}), "at")


def test_the_edges_of_the_years_are_decided(admin, world, office):
    # 2999-12-31 is a Tuesday: 20:00 is closed, and it opens next in the year 3000.
    last = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": "2999-12-31T20:00:00+07:00"})
    assert last.status_code == 200, last.content
    assert last.json()["schedule"]["next_open"] == "3000-01-01T08:00:00+07:00"
    first = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": "2000-01-01T00:00:00+07:00"})
    assert first.status_code == 200, first.content
    assert first.json()["schedule"]["next_open"] == "2000-01-01T20:00:00+07:00"  # a Saturday


def test_a_moment_without_an_offset_is_vietnam_time(admin, world, office):
    closed = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": "2025-03-03T17:00:00"}).json()
    assert (closed["at"], closed["decided_by"]) == ("2025-03-03T17:00:00+07:00", "schedule")
    assert closed["schedule"]["next_open"] == "2025-03-04T08:00:00+07:00"
    inside = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": "2025-03-03T16:59:59"}).json()
    assert (inside["allowed"], inside["schedule"]["closes_at"]) == (True, "2025-03-03T17:00:00+07:00")
    # Saturday's window ends at midnight.
    saturday = admin.get(url(world.ext_a["101"]), {"number": "0912345678", "at": "2025-03-08T23:00"}).json()
    assert saturday["schedule"]["closes_at"] == "2025-03-09T00:00:00+07:00"
