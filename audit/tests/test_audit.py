import pytest
from django.urls import reverse

from audit.models import AuditEvent
from extensions.services import extension_update

pytestmark = pytest.mark.django_db


def test_create_update_delete_are_recorded_with_field_changes_and_no_secrets(client, world):
    client.force_login(world.admin_a)
    client.post(
        reverse("extensions:extension_add", kwargs={"hotline_pk": world.hotline_a.pk}),
        {
            "number": "150",
            "alias": "new150",
            "call_permission": 3,
            "enabled": "on",
            "password": "Secret-Passw0rd-X",
        },
    )
    created = AuditEvent.objects.get(action="create", object_repr__startswith="150")
    assert created.changes["alias"] == [None, "new150"]
    assert created.actor_label == world.admin_a.username
    ext = world.ext_a["102"]
    extension_update(extension=ext, data={"call_permission": 4}, password="An0ther-Secret-Y")
    updated = AuditEvent.objects.filter(action="update").latest("id")
    assert updated.changes["call_permission"] == [3, 4]
    assert "password" in updated.changes
    dump = repr(list(AuditEvent.objects.values()))
    assert "Secret-Passw0rd-X" not in dump and "An0ther-Secret-Y" not in dump
    client.post(reverse("extensions:extension_delete", kwargs={"pk": ext.pk}))
    assert AuditEvent.objects.filter(action="delete", object_id=str(ext.pk)).exists()


def test_audit_row_rolls_back_with_a_failed_change(world):
    from django.core.exceptions import ValidationError

    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        extension_update(extension=world.ext_a["102"], data={"alias": "bad alias"})
    assert AuditEvent.objects.count() == before


def test_failed_sign_in_is_recorded(client, world):
    client.post(
        reverse("login"), {"username": world.admin_a.username, "password": "nope"}, REMOTE_ADDR="10.1.2.3"
    )
    event = AuditEvent.objects.get(action="login_failed")
    assert event.tenant == world.tenant_a
    assert event.ip == "10.1.2.3"
    assert "nope" not in repr(event.changes)


def test_audit_page_is_per_tenant_and_filterable(client, world):
    extension_update(extension=world.ext_a["102"], data={"description": "A change"})
    extension_update(extension=world.ext_b["102"], data={"description": "B change"})
    client.force_login(world.admin_a)
    url = reverse("audit:auditevent_list")
    html = client.get(url).content.decode()
    assert "A change" in html and "B change" not in html
    filtered = client.get(url, {"action": "delete"}).content.decode()
    assert "A change" not in filtered
    client.force_login(world.agent_a)
    assert client.get(url).status_code == 403


def test_audit_api_is_read_only_and_per_tenant(world):
    from tests.api import api_client

    extension_update(extension=world.ext_a["102"], data={"description": "A change"})
    extension_update(extension=world.ext_b["102"], data={"description": "B change"})
    api = api_client(world.admin_a)
    body = api.get("/api/v1/audit-events/", {"action": "update"}).json()
    assert [e["changes"]["description"][1] for e in body["results"]] == ["A change"]
    b_event = AuditEvent.objects.get(changes__description__1="B change")
    assert api.get(f"/api/v1/audit-events/{b_event.pk}/").status_code == 404
    assert api.post("/api/v1/audit-events/", {}).status_code == 405
    assert api_client(world.agent_a).get("/api/v1/audit-events/").status_code == 403


def test_events_written_in_bulk_are_the_events_written_one_by_one(rf, world):
    """audit_record_many inserts rows without model instances; what it stores must be what
    audit_record stores for the same request, object and changes."""
    from django.utils import timezone

    from audit.context import current_request
    from audit.services import audit_record, audit_record_many

    request = rf.get("/", REMOTE_ADDR="10.9.8.7", HTTP_USER_AGENT="Bizfly Call/2.1")
    request.user = world.admin_a
    changes = {
        "alias": ["a", "b"],
        "password": ["x", "y"],
        "outbound_groups": [[], [1, 2]],
        "description": ["", "Nhân viên — ca sáng"],
    }
    token = current_request.set(request)
    try:
        started = timezone.now()
        one = audit_record(
            action="update",
            obj=world.ext_a["100"],
            tenant_id=world.tenant_a.pk,
            changes=changes,
            object_repr="100 (bossa)",
        )
        assert (
            audit_record_many(
                action="update",
                tenant_id=world.tenant_a.pk,
                entries=[(world.ext_a["100"], changes, "100 (bossa)")],
            )
            == 1
        )
    finally:
        current_request.reset(token)
    many = AuditEvent.objects.exclude(pk=one.pk).latest("id")
    fields = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname not in ("id", "created_at")]
    one.refresh_from_db()
    assert {f: getattr(many, f) for f in fields} == {f: getattr(one, f) for f in fields}
    assert many.changes["password"] == ["••••••", "••••••"] and many.ip == "10.9.8.7"
    assert many.actor == world.admin_a and started <= many.created_at <= timezone.now()


def test_events_written_each_with_the_same_changes_are_the_events_written_in_bulk(rf, world):
    """audit_record_each sends the shared values once and the objects as arrays; it stores what
    audit_record_many stores for the same request, objects and changes."""
    from audit.context import current_request
    from audit.services import audit_record_each, audit_record_many

    request = rf.get("/", REMOTE_ADDR="10.9.8.7", HTTP_USER_AGENT="Bizfly Call/2.1")
    request.user = world.admin_a
    changes = {"with_passwords": [False, True], "password": ["x", "y"], "note": ["", "Nhân viên — ca sáng"]}
    objects = [(world.ext_a["100"], "100 (bossa)"), (world.ext_a["101"], ""), (world.hotline_a, "x" * 300)]
    token = current_request.set(request)
    try:
        assert (
            audit_record_many(
                action="export", tenant_id=world.tenant_a.pk, entries=[(o, changes, r) for o, r in objects]
            )
            == 3
        )
        assert (
            audit_record_each(action="export", tenant_id=world.tenant_a.pk, objects=objects, changes=changes)
            == 3
        )
        assert audit_record_each(action="export", tenant_id=None, objects=[], changes=changes) == 0
    finally:
        current_request.reset(token)
    fields = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname not in ("id", "created_at")]
    rows = list(AuditEvent.objects.filter(action="export").order_by("id").values(*fields))
    assert len(rows) == 6 and rows[3:] == rows[:3]
    assert rows[3]["changes"]["password"] == ["••••••", "••••••"] and rows[3]["ip"] == "10.9.8.7"
    assert rows[4]["object_repr"] == "101 (salea)" and len(rows[5]["object_repr"]) == 200
