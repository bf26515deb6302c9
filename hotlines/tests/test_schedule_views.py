"""The outbound-schedule pages (lịch gọi ra) and a hotline's settings page: the same service and
rules as the API (`schedules/`, PATCH `hotlines/{id}/`), audited, tenant-scoped, admins only."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from extensions.services import extension_update
from hotlines.models import Schedule
from hotlines.services import hotline_set_outbound_schedule, schedule_create
from tests.api import api_client, errors

pytestmark = pytest.mark.django_db

OFFICE = [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"}]


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def rows(*windows, extra: int = 2, initial: int = 0) -> dict:
    """The window editor's POST data: each (days, start, end[, remove]) a row, then empty rows."""
    data: dict[str, str | list[str]] = {
        "windows-TOTAL_FORMS": str(len(windows) + extra),
        "windows-INITIAL_FORMS": str(initial),
        "windows-MIN_NUM_FORMS": "0",
        "windows-MAX_NUM_FORMS": "1000",
    }
    for i, window in enumerate(windows):
        days, start, end, *remove = window
        data[f"windows-{i}-days"] = [str(d) for d in days]
        data[f"windows-{i}-start"] = start
        data[f"windows-{i}-end"] = end
        if remove:
            data[f"windows-{i}-DELETE"] = "on"
    for i in range(len(windows), len(windows) + extra):
        data[f"windows-{i}-start"] = data[f"windows-{i}-end"] = ""
    return data


def test_create_a_schedule_from_the_page(admin_client, world):
    page = admin_client.get(reverse("hotlines:schedule_add"))
    assert page.status_code == 200
    # A new schedule starts with office hours on weekdays, visible and editable.
    assert page.context["formset"].initial == OFFICE
    response = admin_client.post(
        reverse("hotlines:schedule_add"),
        {
            "name": "Giờ hành chính",
            "holidays": "2026-04-30, 2026-05-01\n2026-09-02",
            # "8:00" is read as 08:00; a night window is two rows, one on each side of midnight.
            **rows(([0, 1, 2, 3, 4], "8:00", "17:00"), ([5], "22:00", "24:00"), ([6], "00:00", "02:00")),
        },
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    schedule = Schedule.objects.get(tenant=world.tenant_a)
    assert [w.as_dict() for w in schedule.window_values()] == [
        {"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "17:00"},
        {"days": [5], "start": "22:00", "end": "24:00"},
        {"days": [6], "start": "00:00", "end": "02:00"},
    ]
    assert [d.isoformat() for d in schedule.holiday_dates()] == ["2026-04-30", "2026-05-01", "2026-09-02"]
    event = AuditEvent.objects.get(object_type="hotlines.schedule", action="create")
    assert event.tenant_id == world.tenant_a.pk and event.changes["name"] == [None, "Giờ hành chính"]
    listed = admin_client.get(reverse("hotlines:schedule_list")).content.decode()
    assert "Monday–Friday 08:00–17:00" in listed and "Saturday 22:00–24:00" in listed


def test_edit_changes_removes_and_adds_windows(admin_client, world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE, holidays=["2026-01-01"])
    url = reverse("hotlines:schedule_edit", kwargs={"pk": schedule.pk})
    page = admin_client.get(url)
    assert page.context["form"].initial["holidays"] == "2026-01-01"
    assert len(page.context["formset"].forms) == 1 + 2  # the window, and two empty rows to add
    data = {
        "name": "Office (summer)",
        "holidays": "",
        **rows(([0, 1, 2, 3, 4], "08:00", "17:00", "remove"), ([0, 2, 4], "07:30", "16:30"), initial=1),
    }
    assert admin_client.post(url, data).status_code == 302
    schedule.refresh_from_db()
    assert schedule.name == "Office (summer)"
    assert [w.as_dict() for w in schedule.window_values()] == [
        {"days": [0, 2, 4], "start": "07:30", "end": "16:30"}
    ]
    assert schedule.holiday_dates() == []
    event = AuditEvent.objects.filter(object_type="hotlines.schedule", action="update").latest("id")
    assert event.changes["holidays"] == [["2026-01-01"], []]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (([0], "18:00", "08:00"), "a window cannot cross midnight, use two"),
        (([], "08:00", "17:00"), "Days are a non-empty list"),
        (([0], "8h", "17:00"), "is not a time as HH:MM"),
    ],
)
def test_a_wrong_window_is_refused_on_its_row_and_in_the_summary(admin_client, world, row, message):
    response = admin_client.post(
        reverse("hotlines:schedule_add"),
        {"name": "Bad", "holidays": "", **rows(([1], "09:00", "10:00"), row)},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="error-summary"' in html and "Window 2: " in html and message in html
    assert response.context["formset"].forms[1].non_field_errors() and not Schedule.objects.exists()


def test_the_page_and_the_api_refuse_the_same_holiday(admin_client, world):
    response = admin_client.post(
        reverse("hotlines:schedule_add"), {"name": "X", "holidays": "2026-02-30", **rows()}
    )
    assert response.status_code == 400
    page_message = response.context["form"].errors["holidays"][0]
    api = api_client(world.admin_a).post(
        reverse("api:schedule-list"), {"name": "X", "holidays": ["2026-02-30"]}
    )
    assert errors(api, "holidays") == page_message
    duplicate = admin_client.post(
        reverse("hotlines:schedule_add"), {"name": "x", "holidays": "", **rows(([0], "08:00", "09:00"))}
    )
    assert duplicate.status_code == 302
    again = admin_client.post(reverse("hotlines:schedule_add"), {"name": "X ", **rows()})
    assert "already exists" in again.context["form"].errors["name"][0]


def test_a_schedule_in_use_is_not_deleted_on_the_page_nor_through_the_api(admin_client, world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE)
    hotline_set_outbound_schedule(hotline=world.hotline_a, schedule=schedule)
    extension_update(extension=world.ext_a["102"], data={"outbound_schedule": schedule})
    url = reverse("hotlines:schedule_delete", kwargs={"pk": schedule.pk})
    listed = admin_client.get(reverse("hotlines:schedule_list")).content.decode()
    assert "1 hotline, 1 extension" in listed
    page = admin_client.get(url).content.decode()
    assert 'id="schedule-in-use"' in page and world.hotline_a.display_number in page and "102@" in page
    assert 'type="submit" class="btn btn-danger"' not in page  # no delete button to press
    refused = admin_client.post(url)
    assert refused.status_code == 400 and "cannot be deleted" in refused.content.decode()
    api = api_client(world.admin_a).delete(reverse("api:schedule-detail", kwargs={"pk": schedule.pk}))
    assert api.status_code == 400
    assert "cannot be deleted" in api.json()["non_field_errors"][0]
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert not AuditEvent.objects.filter(object_type="hotlines.schedule", action="delete").exists()

    # Once nobody uses it, it goes (audited).
    hotline_set_outbound_schedule(hotline=world.hotline_a, schedule=None)
    extension_update(extension=world.ext_a["102"], data={"outbound_schedule": None})
    assert admin_client.post(url).status_code == 302
    assert not Schedule.objects.filter(pk=schedule.pk).exists()
    assert AuditEvent.objects.filter(object_type="hotlines.schedule", action="delete").exists()


def test_a_hotlines_default_schedule_is_set_on_its_settings_page(admin_client, world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE)
    theirs = schedule_create(tenant=world.tenant_b, name="Theirs", windows=OFFICE)
    url = reverse("hotlines:hotline_settings", kwargs={"pk": world.hotline_a.pk})
    form = admin_client.get(url).context["form"]
    assert [c[1] for c in form.fields["outbound_schedule"].choices] == [
        "None: calls out at any hour",
        "Office",
    ]
    # Another tenant's schedule is not a choice.
    assert admin_client.post(url, {"outbound_schedule": theirs.pk}).status_code == 400
    assert admin_client.post(url, {"outbound_schedule": schedule.pk}).status_code == 302
    world.hotline_a.refresh_from_db()
    assert world.hotline_a.outbound_schedule == schedule
    event = AuditEvent.objects.filter(object_type="hotlines.hotline", action="update").latest("id")
    assert event.changes == {"outbound_schedule": [None, schedule.pk]}
    detail = admin_client.get(reverse("hotlines:hotline_detail", kwargs={"pk": world.hotline_a.pk}))
    assert "Office" in detail.content.decode()
    assert admin_client.post(url, {"outbound_schedule": ""}).status_code == 302
    world.hotline_a.refresh_from_db()
    assert world.hotline_a.outbound_schedule is None


def test_only_the_tenants_admin_opens_them(client, world):
    schedule = schedule_create(tenant=world.tenant_a, name="Office", windows=OFFICE)
    urls = [
        reverse("hotlines:schedule_list"),
        reverse("hotlines:schedule_add"),
        reverse("hotlines:schedule_edit", kwargs={"pk": schedule.pk}),
        reverse("hotlines:schedule_delete", kwargs={"pk": schedule.pk}),
        reverse("hotlines:hotline_settings", kwargs={"pk": world.hotline_a.pk}),
    ]
    client.force_login(world.agent_a)  # an agent: may not read nor change them
    for url in urls:
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"name": "Agent's", "outbound_schedule": schedule.pk}).status_code == 403, url
    client.force_login(world.admin_b)  # another tenant's admin: no such schedule or hotline
    for url in urls[2:]:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "B's", "outbound_schedule": ""}).status_code == 404, url
    assert "Office" not in client.get(urls[0]).content.decode()
    schedule.refresh_from_db()
    world.hotline_a.refresh_from_db()
    assert schedule.name == "Office" and world.hotline_a.outbound_schedule is None


def test_the_list_page_reads_a_fixed_number_of_queries(admin_client, world, django_assert_max_num_queries):
    for n in range(8):
        schedule = schedule_create(
            tenant=world.tenant_a, name=f"S{n}", windows=OFFICE, holidays=["2026-01-01"]
        )
        extension_update(extension=world.ext_a["101"], data={"outbound_schedule": schedule})
    admin_client.get(reverse("hotlines:schedule_list"))  # warm the session and caches
    with django_assert_max_num_queries(8):
        assert admin_client.get(reverse("hotlines:schedule_list")).status_code == 200
