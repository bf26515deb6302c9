"""/api/v1/extensions/: the contract's shape, filters, writes through the services (so the
same rules as the dashboard, mirrored from test_views), login info, roles, tenants, queries."""

import datetime as dt

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from core.guard import SESSION_AUTH_TIME
from extensions.choices import CallPermission
from extensions.models import Extension
from extensions.passwords import digest_ha1, digest_ha1b
from extensions.services import extension_update
from tests.api import api_client, errors
from tests.factories import HotlineFactory, NumberGroupFactory, TenantFactory, make_admin, make_extension

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "hotline",
    "number",
    "alias",
    "call_permission",
    "supervisor",
    "outbound_hotlines",
    "outbound_groups",
    "description",
    "enabled",
    # Controls (DESIGN.md, "Controls").
    "outbound_schedule",
    "allowed_networks",
    "max_contacts",
    "max_calls_per_minute",
    "max_calls_per_day",
    "max_call_seconds",
    "created_at",
    "updated_at",
    # Registration status (DESIGN.md, "Presence in the API").
    "online",
    "contacts",
}
LOGIN_INFO_FIELDS = {
    "username",
    "password",
    "domain",
    "sip_uri",
    "display_name",
    "proxy",
    "transports",
    "websocket_url",
}


def list_url() -> str:
    return reverse("api:extension-list")


def detail_url(extension) -> str:
    return reverse("api:extension-detail", kwargs={"pk": extension.pk})


def credentials_url(extension) -> str:
    return reverse("api:extension-credentials", kwargs={"pk": extension.pk})


def rotate_url(extension) -> str:
    return reverse("api:extension-rotate-password", kwargs={"pk": extension.pk})


def numbers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["number"] for item in response.json()["results"]]


@pytest.fixture
def admin(world):
    return api_client(world.admin_a)


@pytest.fixture
def agent(world):
    return api_client(world.agent_a)


# --- reading ------------------------------------------------------------------------------


def test_list_is_paginated_and_has_the_contract_fields(admin, world):
    response = admin.get(list_url())
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3
    assert [item["number"] for item in body["results"]] == ["100", "101", "102"]
    item = body["results"][1]
    assert set(item) == FIELDS
    e100, e101 = world.ext_a["100"], world.ext_a["101"]
    assert item == {
        **item,
        "id": e101.pk,
        "hotline": world.hotline_a.pk,
        "alias": "salea",
        "call_permission": "mobile",
        "supervisor": e100.pk,
        "outbound_hotlines": [],
        "outbound_groups": [world.group_a.pk],
        "description": "",
        "enabled": True,
    }


def test_fast_representation_is_the_declared_one(admin, world):
    """ExtensionSerializer builds its items by hand for speed; they must be exactly what DRF
    makes of the declared fields, on a list page and for one extension."""
    from django.utils import timezone
    from rest_framework import serializers

    from extensions.api.serializers import ExtensionSerializer
    from extensions.selectors import extension_api_list, extension_list
    from sip.selectors import with_contacts
    from sip.tests.test_selectors import add_contact

    add_contact(world.ext_a["101"], transport="ws", user_agent="JsSIP 3.10.1")
    add_contact(world.ext_a["101"], seconds=60)

    e102 = world.ext_a["102"]
    extension_update(
        extension=e102,
        data={
            "supervisor": world.ext_a["100"],
            "outbound_hotlines": [world.hotline_a2, world.hotline_a],
            "outbound_groups": [world.group_a],
            "description": "Trưởng nhóm <b>",
        },
    )
    declared = serializers.ModelSerializer.to_representation
    extensions = {e.pk: e for e in extension_list(user=world.admin_a)}
    rows = list(with_contacts(extension_api_list(user=world.admin_a)))  # a list page's dicts
    assert len(rows) == len(extensions) == 3
    for zone in ("Asia/Ho_Chi_Minh", "UTC"):  # "+07:00"; "Z"
        with timezone.override(zone):
            for row in rows:
                extension = extensions[row["id"]]
                expected = declared(ExtensionSerializer(extension), extension)
                assert ExtensionSerializer(extension).data == expected
                assert ExtensionSerializer(row).data == expected
                assert list(expected) == list(ExtensionSerializer.Meta.fields)
    item = next(i for i in admin.get(list_url()).json()["results"] if i["id"] == e102.pk)
    assert item["supervisor"] == world.ext_a["100"].pk
    assert item["outbound_hotlines"] == sorted([world.hotline_a.pk, world.hotline_a2.pk])
    assert item["created_at"].endswith("+07:00")


def test_registration_status_is_in_the_detail_and_in_every_list_item(admin, world):
    """DESIGN.md, "Presence in the API": `online` and `contacts` ({transport, user_agent,
    source, expires_at}), read from the live `location` rows."""
    from sip.tests.test_selectors import add_contact

    e100, e101 = world.ext_a["100"], world.ext_a["101"]
    row = add_contact(e101, transport="wss", user_agent="JsSIP 3.10.1", source="192.0.2.10:51234")
    add_contact(e101, seconds=-5)  # expired: not shown
    expires_at = row.expires.astimezone(dt.timezone(dt.timedelta(hours=7))).isoformat()
    expected = [
        {
            "transport": "wss",
            "user_agent": "JsSIP 3.10.1",
            "source": "192.0.2.10:51234",
            "expires_at": expires_at,
        }
    ]

    detail = admin.get(detail_url(e101)).json()
    assert (detail["online"], detail["contacts"]) == (True, expected)
    assert expires_at.endswith("+07:00")
    items = {item["id"]: item for item in admin.get(list_url()).json()["results"]}
    assert (items[e101.pk]["online"], items[e101.pk]["contacts"]) == (True, expected)
    assert (items[e100.pk]["online"], items[e100.pk]["contacts"]) == (False, [])
    offline = admin.get(detail_url(e100)).json()
    assert (offline["online"], offline["contacts"]) == (False, [])


def test_passwords_never_appear_in_list_or_detail(admin, world):
    for response in (admin.get(list_url()), admin.get(detail_url(world.ext_a["101"]))):
        text = response.content.decode()
        assert response.status_code == 200
        for extension in world.ext_a.values():
            extension.refresh_from_db()
            assert extension.get_sip_password() not in text
            assert extension.ha1 not in text
        assert "password" not in text


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"hotline": "second"}, []),
        ({"hotline": "first"}, ["100", "101", "102"]),
        ({"call_permission": "internal"}, ["102"]),
        ({"call_permission": "mobile"}, ["100", "101"]),
        ({"enabled": "false"}, ["100"]),
        ({"enabled": "true"}, ["101", "102"]),
        ({"search": "sale"}, ["101"]),
        ({"search": "10"}, ["100", "101", "102"]),
        ({"search": "02"}, []),  # the number matches by prefix only
        ({"search": "KD"}, ["102"]),
    ],
)
def test_filters(admin, world, query, expected):
    extension_update(extension=world.ext_a["102"], data={"call_permission": CallPermission.INTERNAL})
    extension_update(extension=world.ext_a["100"], data={"enabled": False})
    hotlines = {"first": world.hotline_a.pk, "second": world.hotline_a2.pk}
    if "hotline" in query:
        query = {"hotline": hotlines[query["hotline"]]}
    assert numbers(admin.get(list_url(), query)) == expected


@pytest.mark.parametrize(
    "query, field",
    [
        ({"call_permission": "superuser"}, "call_permission"),
        ({"hotline": "abc"}, "hotline"),
        ({"hotline": "999999"}, "hotline"),
        ({"hotline": "0"}, "hotline"),
        ({"hotline": "99999999999999999999999"}, "hotline"),  # past bigint: 400, not a database error
        ({"hotline": "999999", "page": "2"}, "hotline"),
    ],
)
def test_invalid_filter_values_are_400(admin, query, field):
    assert errors(admin.get(list_url(), query), field)


def test_an_empty_page_of_an_own_hotline_is_not_refused(admin, world):
    empty = admin.get(list_url(), {"hotline": world.hotline_a2.pk})
    assert empty.status_code == 200 and empty.json()["count"] == 0
    past_the_end = admin.get(list_url(), {"hotline": world.hotline_a.pk, "page": 2})
    assert past_the_end.status_code == 404


def test_filtering_by_another_tenants_hotline_is_refused_like_an_unknown_id(admin, world):
    foreign = admin.get(list_url(), {"hotline": world.hotline_b.pk})
    unknown = admin.get(list_url(), {"hotline": 999999})
    assert foreign.status_code == unknown.status_code == 400
    assert foreign.json()["hotline"] == [
        m.replace("999999", str(world.hotline_b.pk)) for m in unknown.json()["hotline"]
    ]


def test_pagination(admin):
    first = admin.get(list_url(), {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2
    assert first["previous"] is None and "page=2" in first["next"]
    assert admin.get(list_url(), {"page_size": 2, "page": 99}).status_code == 404


def test_retrieve_has_an_etag(admin, world):
    extension = world.ext_a["100"]
    response = admin.get(detail_url(extension))
    assert response.json()["number"] == "100"
    assert response["ETag"] == f'"{Extension.objects.get(pk=extension.pk).version}"'


@pytest.mark.parametrize("pk", ["abc", "-1", "1.5", "99999999999999999999999"])
def test_ids_that_are_not_known_numbers_are_404_json(admin, pk):
    response = admin.get(f"{list_url()}{pk}/")
    assert response.status_code == 404
    assert "detail" in response.json()


# --- creating -----------------------------------------------------------------------------


def test_create_generates_a_strong_password_when_none_is_given(admin, world):
    response = admin.post(list_url(), {"hotline": world.hotline_a.pk, "number": "103", "alias": "sale03"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["call_permission"] == "mobile"  # the default of the design
    extension = Extension.objects.get(pk=body["id"])
    password = extension.get_sip_password()
    assert len(password) >= 16
    assert extension.ha1 == digest_ha1("103", world.hotline_a.sip_domain, password)
    assert extension.ha1b == digest_ha1b("103", world.hotline_a.sip_domain, password)
    assert password not in response.content.decode()
    assert response["ETag"] == f'"{extension.version}"'


def test_create_with_every_field(admin, world):
    response = admin.post(
        list_url(),
        {
            "hotline": world.hotline_a.pk,
            "number": "103",
            "alias": "sale03",
            "call_permission": "international",
            "supervisor": world.ext_a["100"].pk,
            "outbound_hotlines": [world.hotline_a2.pk, world.hotline_a.pk],
            "outbound_groups": [world.group_a.pk],
            "description": "Nhân viên mới",
            "enabled": False,
            "password": "Giong-Noi-2024",
        },
    )
    assert response.status_code == 201, response.content
    extension = Extension.objects.get(pk=response.json()["id"])
    assert extension.call_permission == CallPermission.INTERNATIONAL
    assert extension.supervisor == world.ext_a["100"]
    assert set(extension.outbound_hotlines.all()) == {world.hotline_a, world.hotline_a2}
    assert list(extension.outbound_groups.all()) == [world.group_a]
    assert (extension.description, extension.enabled) == ("Nhân viên mới", False)
    assert extension.get_sip_password() == "Giong-Noi-2024"


# The same rules as the dashboard's create form (extensions/tests/test_views.py), each
# reaching the API user as a 400 on the field to fix.
@pytest.mark.parametrize(
    "overrides, field, fragment",
    [
        ({"number": "101"}, "number", "already exists"),
        ({"number": "1"}, "number", "2 to 6 digits"),
        ({"number": "１０３"}, "number", "2 to 6 digits"),  # full-width digits are not digits here
        ({"alias": "Đức"}, "alias", "diacritics"),
        ({"alias": "sale 03"}, "alias", "spaces"),
        ({"alias": "salea"}, "alias", "already used"),
        ({"alias": "-sale"}, "alias", "first character that is not a letter or a digit"),
        ({"password": "weakpass"}, "password", "at least 10"),
        ({"password": "Sale03Abcdefg"}, "password", "alias"),
        ({"password": "X103abcdefgH"}, "password", "extension number"),
        ({"password": "Password123"}, "password", "too common"),
        ({"call_permission": "superuser"}, "call_permission", "not a valid choice"),
        ({"call_permission": 3}, "call_permission", "not a valid choice"),  # slugs, not levels
    ],
)
def test_create_refuses_what_the_dashboard_refuses(admin, world, overrides, field, fragment):
    data = {"hotline": world.hotline_a.pk, "number": "103", "alias": "sale03", **overrides}
    response = admin.post(list_url(), data)
    assert fragment in errors(response, field)
    assert Extension.objects.filter(hotline=world.hotline_a).count() == 3


def test_supervisor_must_be_on_the_same_hotline(admin, world):
    elsewhere = make_extension(world.hotline_a2, "200", "other")
    response = admin.post(
        list_url(),
        {"hotline": world.hotline_a.pk, "number": "103", "alias": "sale03", "supervisor": elsewhere.pk},
    )
    assert "same hotline" in errors(response, "supervisor")


@pytest.mark.parametrize(
    "field, foreign",
    [
        ("hotline", lambda w: w.hotline_b.pk),
        ("supervisor", lambda w: w.ext_b["100"].pk),
        ("outbound_hotlines", lambda w: [w.hotline_a.pk, w.hotline_b.pk]),
        ("outbound_groups", lambda w: [w.group_b.pk]),
    ],
)
def test_another_tenants_ids_do_not_exist(admin, world, field, foreign):
    data = {"hotline": world.hotline_a.pk, "number": "103", "alias": "sale03", field: foreign(world)}
    response = admin.post(list_url(), data)
    assert "does not exist" in errors(response, field)
    assert world.hotline_b.sip_domain not in response.content.decode()
    assert not Extension.objects.filter(number="103").exists()


def test_required_fields(admin):
    response = admin.post(list_url(), {})
    for field in ("hotline", "number", "alias"):
        assert errors(response, field)


@pytest.mark.parametrize("body", [[], "text", 7, None])
def test_a_body_that_is_not_an_object_is_400(admin, body):
    response = admin.post(list_url(), body)
    assert response.status_code == 400


def test_a_body_that_is_not_json_is_400_or_415(admin):
    assert admin.post(list_url(), "{not json", content_type="application/json").status_code == 400
    assert admin.post(list_url(), {"alias": "x"}, format="multipart").status_code == 415


# --- updating -----------------------------------------------------------------------------


def test_patch_changes_only_what_is_sent(admin, world):
    extension = world.ext_a["101"]
    before = admin.get(detail_url(extension))
    response = admin.patch(detail_url(extension), {"alias": "sale-01", "call_permission": "landline"})
    assert response.status_code == 200, response.content
    assert response.json() == {
        **before.json(),
        "alias": "sale-01",
        "call_permission": "landline",
        "updated_at": response.json()["updated_at"],
    }
    assert response["ETag"] != before["ETag"]
    extension.refresh_from_db()
    assert (extension.alias, extension.call_permission) == ("sale-01", CallPermission.LANDLINE)


def test_hotline_and_number_cannot_change(admin, world):
    extension = world.ext_a["101"]
    response = admin.patch(detail_url(extension), {"number": "999", "hotline": world.hotline_a2.pk})
    assert response.status_code == 200
    extension.refresh_from_db()
    assert (extension.number, extension.hotline) == ("101", world.hotline_a)


def test_put_needs_the_alias_and_keeps_fields_it_does_not_name(admin, world):
    extension = world.ext_a["101"]
    assert "required" in errors(admin.put(detail_url(extension), {"description": "x"}), "alias")
    response = admin.put(detail_url(extension), {"alias": "sale01", "supervisor": None})
    assert response.status_code == 200
    extension.refresh_from_db()
    assert extension.supervisor is None
    assert list(extension.outbound_groups.all()) == [world.group_a]


def test_update_replaces_the_caller_id_pool(admin, world):
    extension = world.ext_a["101"]
    response = admin.patch(
        detail_url(extension), {"outbound_hotlines": [world.hotline_a2.pk], "outbound_groups": []}
    )
    assert response.json()["outbound_hotlines"] == [world.hotline_a2.pk]
    assert response.json()["outbound_groups"] == []


@pytest.mark.parametrize(
    "extension, supervisor, fragment",
    [
        ("100", "100", "cannot supervise itself"),
        ("100", "101", "cycle"),  # 101 is already supervised by 100
    ],
)
def test_supervision_rules_on_update(admin, world, extension, supervisor, fragment):
    response = admin.patch(detail_url(world.ext_a[extension]), {"supervisor": world.ext_a[supervisor].pk})
    assert fragment in errors(response, "supervisor")


@pytest.mark.parametrize(
    "field, foreign",
    [
        ("supervisor", lambda w: w.ext_b["100"].pk),
        ("outbound_hotlines", lambda w: [w.hotline_b.pk]),
        ("outbound_groups", lambda w: [w.group_b.pk]),
    ],
)
def test_update_refuses_another_tenants_ids(admin, world, field, foreign):
    response = admin.patch(detail_url(world.ext_a["102"]), {field: foreign(world)})
    assert "does not exist" in errors(response, field)


def test_update_password(admin, world):
    extension = world.ext_a["102"]
    old = extension.get_sip_password()
    assert "at least 10" in errors(admin.patch(detail_url(extension), {"password": "short"}), "password")
    assert admin.patch(detail_url(extension), {"password": ""}).status_code == 200
    extension.refresh_from_db()
    assert extension.get_sip_password() == old  # empty: keep it
    assert admin.patch(detail_url(extension), {"password": "Giong-Noi-2024"}).status_code == 200
    extension.refresh_from_db()
    assert extension.get_sip_password() == "Giong-Noi-2024"
    assert extension.ha1 == digest_ha1("102", world.hotline_a.sip_domain, "Giong-Noi-2024")


def test_if_match_refuses_a_stale_update(admin, world):
    extension = world.ext_a["102"]
    etag = admin.get(detail_url(extension))["ETag"]
    extension_update(extension=extension, data={"description": "changed by someone else"})
    stale = admin.patch(detail_url(extension), {"alias": "mine"}, HTTP_IF_MATCH=etag)
    assert stale.status_code == 412
    assert "changed by someone else" in stale.json()["detail"]
    extension.refresh_from_db()
    assert extension.alias == "kda"
    fresh = admin.get(detail_url(extension))["ETag"]
    assert admin.patch(detail_url(extension), {"alias": "mine"}, HTTP_IF_MATCH=fresh).status_code == 200
    assert admin.patch(detail_url(extension), {"alias": "any"}, HTTP_IF_MATCH="*").status_code == 200
    assert admin.patch(detail_url(extension), {"alias": "x"}, HTTP_IF_MATCH="garbage").status_code == 412


# --- deleting -----------------------------------------------------------------------------


def test_delete(admin, world):
    extension = world.ext_a["100"]
    assert admin.delete(detail_url(extension)).status_code == 204
    assert not Extension.objects.filter(pk=extension.pk).exists()
    assert Extension.objects.get(pk=world.ext_a["101"].pk).supervisor is None
    assert admin.get(detail_url(extension)).status_code == 404


# --- login info ---------------------------------------------------------------------------


def test_credentials_are_revealed_by_post_only(admin, world):
    extension = world.ext_a["101"]
    domain = world.hotline_a.sip_domain
    response = admin.post(credentials_url(extension))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response.json() == {
        "username": "101",
        "password": extension.get_sip_password(),
        "domain": domain,
        "sip_uri": f"sip:101@{domain}",
        "display_name": "salea",
        "proxy": settings.SIP_OUTBOUND_PROXY,
        "transports": list(settings.SIP_TRANSPORTS),
        "websocket_url": settings.SIP_WEBSOCKET_URL,
    }
    assert admin.get(credentials_url(extension)).status_code == 405


def test_rotate_password(admin, world):
    extension = world.ext_a["101"]
    old = extension.get_sip_password()
    response = admin.post(rotate_url(extension))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == LOGIN_INFO_FIELDS
    assert body["password"] != old
    extension.refresh_from_db()
    assert extension.get_sip_password() == body["password"]
    assert extension.ha1 == digest_ha1("101", world.hotline_a.sip_domain, body["password"])
    assert admin.post(credentials_url(extension)).json()["password"] == body["password"]


def test_reveals_and_rotations_are_audited(admin, world):
    extension = world.ext_a["101"]
    admin.post(credentials_url(extension))
    admin.post(rotate_url(extension))
    events = AuditEvent.objects.filter(
        object_type="extensions.extension",
        object_id=str(extension.pk),
        action__in=[Action.REVEAL, Action.ROTATE_PASSWORD],
    )
    assert sorted(e.action for e in events) == [Action.REVEAL, Action.ROTATE_PASSWORD]
    assert all(e.actor == world.admin_a and e.tenant == world.tenant_a for e in events)


def test_reveals_are_rate_limited_like_on_the_dashboard(admin, world, settings):
    settings.REVEAL_RATE_LIMIT = (2, 600)
    extension = world.ext_a["101"]
    assert [admin.post(credentials_url(extension)).status_code for _ in range(2)] == [200, 200]
    refused = admin.post(credentials_url(extension))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert extension.get_sip_password() not in refused.content.decode()
    assert admin.post(rotate_url(extension)).status_code == 429


def test_a_browser_session_must_have_signed_in_recently_to_reveal(client, world, settings):
    client.force_login(world.admin_a)  # a fresh sign-in
    extension = world.ext_a["101"]
    assert client.post(credentials_url(extension)).status_code == 200
    session = client.session
    session[SESSION_AUTH_TIME] -= settings.REVEAL_REAUTH_SECONDS + 1
    session.save()
    refused = client.post(credentials_url(extension))
    assert refused.status_code == 403
    assert extension.get_sip_password() not in refused.content.decode()


# --- who may do what ----------------------------------------------------------------------


def test_agent_sees_only_their_own_extension_and_its_login_info(agent, world):
    own, other = world.ext_a["101"], world.ext_a["102"]
    assert numbers(agent.get(list_url())) == ["101"]
    assert agent.get(detail_url(own)).status_code == 200
    assert agent.get(detail_url(other)).status_code == 404
    assert agent.post(credentials_url(own)).json()["password"] == own.get_sip_password()
    response = agent.post(credentials_url(other))
    assert response.status_code == 404
    assert other.get_sip_password() not in response.content.decode()


@pytest.mark.parametrize(
    "method, url",
    [
        ("post", lambda w: list_url()),
        ("patch", lambda w: detail_url(w.ext_a["101"])),
        ("put", lambda w: detail_url(w.ext_a["101"])),
        ("delete", lambda w: detail_url(w.ext_a["101"])),
        ("post", lambda w: rotate_url(w.ext_a["101"])),
    ],
)
def test_agent_may_not_write_even_their_own_extension(agent, world, method, url):
    before = Extension.objects.get(pk=world.ext_a["101"].pk)
    response = getattr(agent, method)(
        url(world), {"alias": "agent-was-here", "number": "555", "hotline": world.hotline_a.pk}
    )
    assert response.status_code == 403
    after = Extension.objects.get(pk=before.pk)
    assert (after.alias, after.version, after.ha1) == (before.alias, before.version, before.ha1)
    assert not Extension.objects.filter(number="555").exists()


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", detail_url),
        ("patch", detail_url),
        ("put", detail_url),
        ("delete", detail_url),
        ("post", credentials_url),
        ("post", rotate_url),
    ],
)
def test_other_tenant_gets_404(world, method, url):
    extension = world.ext_a["101"]
    before = Extension.objects.get(pk=extension.pk)
    response = getattr(api_client(world.admin_b), method)(url(extension), {"alias": "hacked"})
    assert response.status_code == 404
    text = response.content.decode()
    assert "salea" not in text and extension.get_sip_password() not in text
    after = Extension.objects.get(pk=extension.pk)
    assert (after.alias, after.version, after.ha1) == (before.alias, before.version, before.ha1)


def test_anonymous_and_bad_tokens_get_401(world):
    anonymous = api_client()
    response = anonymous.get(list_url())
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous.get(list_url()).status_code == 401


def test_a_revoked_token_stops_working(world):
    from tenants.services import api_token_revoke

    client = api_client(world.admin_a)
    assert client.get(list_url()).status_code == 200
    api_token_revoke(user=world.admin_a)
    assert client.get(list_url()).status_code == 401


def test_session_authentication_works_too(client, world):
    client.force_login(world.admin_a)
    assert client.get(list_url()).status_code == 200


def test_user_without_a_tenant_gets_403(world, django_user_model):
    stranger = django_user_model.objects.create_user("stranger", password="pw")
    client = api_client(stranger)
    assert client.get(list_url()).status_code == 403
    assert client.post(credentials_url(world.ext_a["101"])).status_code == 403


# --- queries ------------------------------------------------------------------------------


def _bulk_extensions(hotline, template, start: int, count: int) -> None:
    """`count` more extensions, written in bulk (the list only reads them), each with a
    supervisor and a caller-ID pool so every relation the list shows is exercised."""
    extensions = Extension.objects.bulk_create(
        Extension(
            hotline=hotline,
            number=str(i),
            alias=f"bulk{i}",
            supervisor=template,
            password_encrypted=template.password_encrypted,
            ha1=template.ha1,
            ha1b=template.ha1b,
        )
        for i in range(start, start + count)
    )
    group = template.outbound_groups.get()
    Extension.outbound_hotlines.through.objects.bulk_create(
        Extension.outbound_hotlines.through(extension=e, hotline=hotline) for e in extensions
    )
    Extension.outbound_groups.through.objects.bulk_create(
        Extension.outbound_groups.through(extension=e, numbergroup=group) for e in extensions
    )


def test_list_query_count_does_not_grow_with_the_number_of_extensions():
    tenant = TenantFactory()
    hotline = HotlineFactory(tenant=tenant)
    group = NumberGroupFactory(tenant=tenant)
    template = make_extension(hotline, "99", "template", outbound_groups=[group], outbound_hotlines=[hotline])
    client = api_client(make_admin(tenant))

    def count_queries(expected_rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(list_url(), {"page_size": 500})
        results = response.json()["results"]
        assert len(results) == expected_rows
        # The caller IDs come with the rows, right.
        assert all(
            r["outbound_groups"] == [group.pk] and r["outbound_hotlines"] == [hotline.pk] for r in results
        )
        return len(queries)

    _bulk_extensions(hotline, template, 1000, 4)
    client.get(list_url())  # the token's first use records its last-use time (once a minute)
    few = count_queries(5)
    _bulk_extensions(hotline, template, 2000, 495)
    # The token with its user and membership; the page (its total and caller IDs inside).
    assert count_queries(500) == few == 2
