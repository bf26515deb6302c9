"""Outbound schedules (lịch gọi ra): the time arithmetic, the rules, the API (`schedules/`,
`outbound_schedule` on hotlines and extensions) and the dial check's `at`."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from audit.models import AuditEvent
from dialplan.testing import install_vietnam_rules
from hotlines.models import Schedule
from hotlines.schedules import TIME_ZONE, OpenHours, Window, parse_windows
from hotlines.services import schedule_create
from tests.api import api_client, errors

VN = TIME_ZONE
# A Monday.
MONDAY = dt.date(2025, 3, 3)


def at(date: dt.date, hh: int, mm: int, ss: int = 0) -> dt.datetime:
    return dt.datetime(date.year, date.month, date.day, hh, mm, ss, tzinfo=VN)


OFFICE = OpenHours(windows=(Window(days=(0, 1, 2, 3, 4), start=8 * 60, end=17 * 60),), holidays=frozenset())


# --- the arithmetic ---------------------------------------------------------------------------


def test_end_is_exclusive_to_the_second():
    assert OFFICE.is_open(at(MONDAY, 16, 59, 59))
    assert not OFFICE.is_open(at(MONDAY, 17, 0, 0))
    assert OFFICE.is_open(at(MONDAY, 8, 0, 0))
    assert not OFFICE.is_open(at(MONDAY, 7, 59, 59))


def test_vietnam_time_whatever_the_offset_given():
    # 09:59:59 UTC is 16:59:59 in Vietnam; 10:00 UTC is 17:00.
    assert OFFICE.is_open(dt.datetime(2025, 3, 3, 9, 59, 59, tzinfo=dt.UTC))
    assert not OFFICE.is_open(dt.datetime(2025, 3, 3, 10, 0, 0, tzinfo=dt.UTC))


def test_next_open_skips_the_weekend_and_holidays():
    friday_evening = at(MONDAY + dt.timedelta(days=4), 17, 0)
    assert OFFICE.next_open(friday_evening) == at(MONDAY + dt.timedelta(days=7), 8, 0)
    with_holiday = OpenHours(windows=OFFICE.windows, holidays=frozenset({MONDAY + dt.timedelta(days=7)}))
    assert with_holiday.next_open(friday_evening) == at(MONDAY + dt.timedelta(days=8), 8, 0)
    assert not with_holiday.is_open(at(MONDAY + dt.timedelta(days=7), 10, 0))
    assert OFFICE.next_open(at(MONDAY, 6, 0)) == at(MONDAY, 8, 0)
    assert OpenHours(windows=(), holidays=frozenset()).next_open(at(MONDAY, 6, 0)) is None


def test_overlapping_and_touching_windows_are_one_opening():
    hours = OpenHours(
        windows=tuple(
            parse_windows(
                [
                    {"days": [0], "start": "08:00", "end": "12:00"},
                    {"days": [0], "start": "11:00", "end": "13:00"},
                    {"days": [0], "start": "13:00", "end": "24:00"},
                ]
            )
        ),
        holidays=frozenset(),
    )
    assert hours.is_open(at(MONDAY, 23, 59, 59))
    assert hours.closes_at(at(MONDAY, 9, 0)) == at(MONDAY + dt.timedelta(days=1), 0, 0)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"days": [0], "start": "25:00", "end": "26:00"}, "not a time"),
        ({"days": [0], "start": "8:00", "end": "17:00"}, "not a time"),
        ({"days": [0], "start": "08:00", "end": "24:01"}, "not a time"),
        ({"days": [0], "start": "17:00", "end": "17:00"}, "must be after the start"),
        ({"days": [0], "start": "22:00", "end": "02:00"}, "cannot cross midnight"),
        ({"days": [7], "start": "08:00", "end": "17:00"}, "0 (Monday) to 6 (Sunday)"),
        ({"days": [-1], "start": "08:00", "end": "17:00"}, "0 (Monday) to 6 (Sunday)"),
        ({"days": [], "start": "08:00", "end": "17:00"}, "non-empty"),
        ({"days": [1, 1], "start": "08:00", "end": "17:00"}, "listed twice"),
        ({"days": [1], "start": "08:00"}, "not a time"),
    ],
)
def test_bad_windows_are_refused_with_their_number(window, message):
    with pytest.raises(ValidationError) as exc:
        parse_windows([{"days": [0], "start": "08:00", "end": "09:00"}, window])
    assert "Window 2" in str(exc.value.messages)
    assert message in str(exc.value.messages)


# --- the API --------------------------------------------------------------------------------


def schedule_url(schedule=None) -> str:
    if schedule is None:
        return reverse("api:schedule-list")
    return reverse("api:schedule-detail", kwargs={"pk": schedule.pk})


OFFICE_BODY = {
    "name": "Office hours",
    "windows": [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}],
    "holidays": ["2025-04-30", "2025-01-29"],
}


@pytest.mark.django_db
def test_schedule_crud_through_the_api_is_audited(world):
    admin = api_client(world.admin_a)
    created = admin.post(schedule_url(), OFFICE_BODY)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body == {
        "id": body["id"],
        "name": "Office hours",
        "windows": [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}],
        "holidays": ["2025-01-29", "2025-04-30"],
    }
    schedule = Schedule.objects.get(pk=body["id"])
    assert schedule.tenant == world.tenant_a
    changed = admin.patch(
        schedule_url(schedule), {"windows": [{"days": [5], "start": "08:00", "end": "24:00"}]}
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["windows"] == [{"days": [5], "start": "08:00", "end": "24:00"}]
    assert changed.json()["holidays"] == ["2025-01-29", "2025-04-30"]
    assert admin.get(schedule_url()).json()["count"] == 1
    assert admin.delete(schedule_url(schedule)).status_code == 204
    actions = list(
        AuditEvent.objects.filter(object_type="hotlines.schedule", object_id=str(body["id"]))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["create", "update", "delete"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"windows": [{"days": [0], "start": "18:00", "end": "08:00"}]}, "windows", "after the start"),
        ({"windows": [{"days": [9], "start": "08:00", "end": "17:00"}]}, "windows", "6 (Sunday)"),
        ({"windows": [{"days": [0], "start": "8h", "end": "17:00"}]}, "windows", "HH:MM"),
        ({"holidays": ["2025-02-30"]}, "holidays", "YYYY-MM-DD"),
        ({"holidays": ["2025-04-30", "2025-04-30"]}, "holidays", "listed twice"),
    ],
)
def test_schedule_api_says_what_is_wrong(world, body, field, message):
    response = api_client(world.admin_a).post(schedule_url(), {"name": "Bad", **body})
    assert message in errors(response, field)
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_schedule_names_are_unique_per_tenant(world):
    schedule_create(tenant=world.tenant_a, name="Office")
    schedule_create(tenant=world.tenant_b, name="Office")
    response = api_client(world.admin_a).post(schedule_url(), {"name": "office"})
    assert "already exists" in errors(response, "name")


@pytest.mark.django_db
def test_another_tenants_schedule_is_404_and_cannot_be_assigned(world):
    theirs = schedule_create(tenant=world.tenant_b, name="Theirs")
    admin = api_client(world.admin_a)
    assert admin.get(schedule_url(theirs)).status_code == 404
    assert admin.patch(schedule_url(theirs), {"name": "Mine"}).status_code == 404
    assert admin.delete(schedule_url(theirs)).status_code == 404
    extension = world.ext_a["101"]
    response = admin.patch(
        reverse("api:extension-detail", kwargs={"pk": extension.pk}), {"outbound_schedule": theirs.pk}
    )
    assert response.status_code == 400
    assert "outbound_schedule" in response.json()
    response = admin.patch(
        reverse("api:hotline-detail", kwargs={"pk": world.hotline_a.pk}), {"outbound_schedule": theirs.pk}
    )
    assert response.status_code == 400
    extension.refresh_from_db()
    world.hotline_a.refresh_from_db()
    assert extension.outbound_schedule_id is None and world.hotline_a.outbound_schedule_id is None


@pytest.mark.django_db
def test_controls_on_an_extension_through_the_api_are_audited(world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE_BODY["windows"])
    extension = world.ext_a["101"]
    url = reverse("api:extension-detail", kwargs={"pk": extension.pk})
    admin = api_client(world.admin_a)
    response = admin.patch(
        url,
        {
            "outbound_schedule": schedule.pk,
            "max_calls_per_minute": 5,
            "max_calls_per_day": 200,
            "max_call_seconds": 600,
            "allowed_networks": ["203.0.113.0/24"],
            "max_contacts": 2,
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {k: body[k] for k in ("outbound_schedule", "max_calls_per_minute", "max_calls_per_day")} == {
        "outbound_schedule": schedule.pk,
        "max_calls_per_minute": 5,
        "max_calls_per_day": 200,
    }
    assert body["allowed_networks"] == ["203.0.113.0/24"] and body["max_contacts"] == 2
    listed = admin.get(reverse("api:extension-list"), {"hotline": world.hotline_a.pk}).json()["results"]
    assert next(e for e in listed if e["id"] == extension.pk)["max_call_seconds"] == 600
    event = AuditEvent.objects.filter(object_id=str(extension.pk), action="update").latest("id")
    assert event.changes["outbound_schedule"] == [None, schedule.pk]
    assert event.changes["max_calls_per_minute"] == [None, 5]
    for bad, field in (
        ({"max_calls_per_minute": 0}, "max_calls_per_minute"),
        ({"max_call_seconds": -3}, "max_call_seconds"),
        ({"allowed_networks": ["10.0.0.1/8"]}, "allowed_networks"),
        ({"allowed_networks": ["not-a-net"]}, "allowed_networks"),
        ({"allowed_networks": ["fe80::1%eth0"]}, "allowed_networks"),
        ({"allowed_networks": ["::%x,0.0.0.0/0"]}, "allowed_networks"),
        ({"allowed_networks": [24]}, "allowed_networks"),
    ):
        assert admin.patch(url, bad).status_code == 400, bad
        assert field in admin.patch(url, bad).json()

    # Stored as Kamailio reads them: prefix lengths, the shortest form, each once.
    typed = ["192.0.2.0/255.255.255.0", "10.1.2.3", "2001:DB8:0::/32", "198.51.100.0/" + "0" * 2000 + "24"]
    response = admin.patch(url, {"allowed_networks": [*typed, "192.0.2.0/24"]})
    assert response.status_code == 200, response.content[:500]
    canonical = ["192.0.2.0/24", "10.1.2.3/32", "2001:db8::/32", "198.51.100.0/24"]
    assert response.json()["allowed_networks"] == canonical
    extension.refresh_from_db()
    assert extension.allowed_networks == canonical


@pytest.mark.django_db
def test_a_hotlines_schedule_is_its_extensions_default(world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE_BODY["windows"])
    admin = api_client(world.admin_a)
    response = admin.patch(
        reverse("api:hotline-detail", kwargs={"pk": world.hotline_a.pk}), {"outbound_schedule": schedule.pk}
    )
    assert response.status_code == 200, response.content
    assert response.json()["outbound_schedule"] == schedule.pk
    assert AuditEvent.objects.filter(object_type="hotlines.hotline", action="update").exists()
    install_vietnam_rules()
    url = reverse("api:extension-dial-check", kwargs={"pk": world.ext_a["101"].pk})
    inside = admin.get(url, {"number": "0912345678", "at": "2025-03-03T16:59:59+07:00"}).json()
    assert inside["allowed"] is True, inside
    assert inside["schedule"]["source"] == "hotline" and inside["schedule"]["open"] is True
    outside = admin.get(url, {"number": "0912345678", "at": "2025-03-03T17:00:00+07:00"}).json()
    assert outside["allowed"] is False
    assert outside["decided_by"] == "schedule"
    assert outside["sip_reply"] == "403 Outside the outbound schedule"
    assert outside["schedule"]["next_open"] == "2025-03-04T08:00:00+07:00"
    assert "opens at" in outside["reason"]
    # Internal and emergency calls are never refused by a schedule.
    for number in ("102", "113"):
        check = admin.get(url, {"number": number, "at": "2025-03-03T17:00:00+07:00"}).json()
        assert check["decided_by"] is None and check["schedule"] is None, check
    # The extension's own schedule wins over the hotline's.
    always = schedule_create(
        tenant=world.tenant_a,
        name="Always",
        windows=[{"days": list(range(7)), "start": "00:00", "end": "24:00"}],
    )
    admin.patch(
        reverse("api:extension-detail", kwargs={"pk": world.ext_a["101"].pk}),
        {"outbound_schedule": always.pk},
    )
    check = admin.get(url, {"number": "0912345678", "at": "2025-03-03T17:00:00+07:00"}).json()
    assert check["allowed"] is True and check["schedule"]["source"] == "extension"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", [5, "08:00", {"days": [0]}, [5], [None], [{"days": [0], "start": 8, "end": True}]]
)
def test_any_shape_of_windows_is_a_400_not_a_500(world, value):
    response = api_client(world.admin_a).post(
        schedule_url(), {"name": "Odd", "windows": value, "holidays": value}
    )
    assert response.status_code == 400
    assert set(response.json()) <= {"windows", "holidays"}
    assert all(isinstance(m, str) for messages in response.json().values() for m in messages)
