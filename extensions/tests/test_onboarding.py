"""The onboarding sheet ("Gửi thông tin đăng nhập"): many extensions ticked on the list → a
printable card each with a fresh one-time phone-setup QR code. One bulk operation of the guard,
audited with its count, made in a constant number of queries."""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from core.guard import SESSION_AUTH_TIME
from extensions import provisioning
from extensions.models import Extension, ProvisioningLink
from extensions.services import extension_range_create, extension_update

pytestmark = pytest.mark.django_db

LINPHONE_UA = "LinphoneiOS/5.2.4 (iPhone) LinphoneSDK/5.3.47"


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def onboarding_url(hotline) -> str:
    return reverse("extensions:extension_onboarding", kwargs={"hotline_pk": hotline.pk})


def sheet(client, hotline, extensions, **extra):
    return client.post(onboarding_url(hotline), {"pk": [e.pk for e in extensions], "step": "apply", **extra})


def test_the_list_page_offers_it_for_the_selection(admin_client, world):
    html = admin_client.get(
        reverse("extensions:extension_list", kwargs={"hotline_pk": world.hotline_a.pk})
    ).content.decode()
    assert 'id="onboarding-button"' in html and onboarding_url(world.hotline_a) in html


def test_the_confirmation_then_a_card_per_extension(admin_client, world):
    selected = list(world.ext_a.values())
    confirm = admin_client.post(onboarding_url(world.hotline_a), {"pk": [e.pk for e in selected]})
    assert confirm.status_code == 200 and 'id="onboarding-apply"' in confirm.content.decode()
    assert not ProvisioningLink.objects.exists()

    response = sheet(admin_client, world.hotline_a, selected)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert html.count('class="card onboarding-card"') == 3
    assert ProvisioningLink.objects.filter(extension__in=selected).count() == 3
    for card in response.context["cards"]:
        ext = card["extension"]
        assert f"Extension {ext.number}" in html and ext.alias in html
        assert provisioning.qr_svg(card["provisioning_url"]) in html
    # Every stored secret stays off the sheet.
    for ext in Extension.objects.filter(pk__in=[e.pk for e in selected]):
        for secret in (ext.get_sip_password(), ext.ha1, ext.ha1b):
            assert secret not in html
    assert "Install Linphone" in html and "style=" not in html and "<script>" not in html
    # Each card's link is one-time and configures its own extension.
    card = response.context["cards"][1]
    config = admin_client.get(card["provisioning_url"], HTTP_USER_AGENT=LINPHONE_UA)
    assert config.status_code == 200
    assert f"&lt;sip:{card['extension'].number}@" in config.content.decode()
    assert admin_client.get(card["provisioning_url"], HTTP_USER_AGENT=LINPHONE_UA).status_code == 410


def test_the_sheet_is_in_vietnamese_by_default(client, world):
    client.force_login(world.admin_a)
    html = sheet(client, world.hotline_a, [world.ext_a["101"]]).content.decode()
    assert "Cài Linphone" in html and "Điện thoại" in html


def test_audited_as_one_operation_with_its_count_and_per_extension(admin_client, world):
    selected = list(world.ext_a.values())
    response = sheet(admin_client, world.hotline_a, selected)
    operation = AuditEvent.objects.get(action=Action.PROVISION_CREATE, object_type="hotlines.hotline")
    assert operation.changes["count"] == [None, 3] and operation.actor_id == world.admin_a.pk
    assert operation.object_id == str(world.hotline_a.pk)
    per_extension = AuditEvent.objects.filter(
        action=Action.PROVISION_CREATE, object_type="extensions.extension"
    ).values_list("object_id", flat=True)
    assert sorted(per_extension) == sorted(str(e.pk) for e in selected)
    trail = repr(list(AuditEvent.objects.values()))
    for card in response.context["cards"]:
        assert card["provisioning_url"].rstrip("/").rsplit("/", 1)[1] not in trail
    for ext in Extension.objects.filter(pk__in=[e.pk for e in selected]):
        assert ext.ha1 not in trail and ext.get_sip_password() not in trail


def test_disabled_extensions_get_no_card(admin_client, world):
    extension_update(extension=world.ext_a["102"], data={"enabled": False})
    selected = list(world.ext_a.values())
    confirm = admin_client.post(onboarding_url(world.hotline_a), {"pk": [e.pk for e in selected]})
    assert 'id="onboarding-disabled"' in confirm.content.decode()
    response = sheet(admin_client, world.hotline_a, selected)
    assert [c["extension"].number for c in response.context["cards"]] == ["100", "101"]
    assert not ProvisioningLink.objects.filter(extension=world.ext_a["102"]).exists()


def test_it_needs_a_sign_in_within_five_minutes(admin_client, world, settings):
    session = admin_client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - settings.BULK_REAUTH_SECONDS - 30
    session.save()
    response = sheet(admin_client, world.hotline_a, list(world.ext_a.values()))
    assert response.status_code == 302 and response.url.startswith(reverse("confirm_password"))
    assert not ProvisioningLink.objects.exists()
    # …while one extension's link (the single budget, 15 minutes) is still fine.
    one = admin_client.post(reverse("extensions:provisioning_link_add", kwargs={"pk": world.ext_a["101"].pk}))
    assert one.status_code == 200


def test_one_sheet_is_one_operation_of_the_bulk_budget(admin_client, world, settings):
    settings.BULK_RATE_LIMIT = (1, 3600)
    settings.REVEAL_RATE_LIMIT = (1, 600)  # three links at once would be three secrets; it is one operation
    assert sheet(admin_client, world.hotline_a, list(world.ext_a.values())).status_code == 200
    refused = sheet(admin_client, world.hotline_a, [world.ext_a["100"]])
    assert refused.status_code == 302 and int(refused["Retry-After"]) > 3000
    assert ProvisioningLink.objects.count() == 3


def test_only_admins_of_the_tenant(client, world):
    client.force_login(world.agent_a)
    assert sheet(client, world.hotline_a, [world.ext_a["101"]]).status_code == 403
    client.force_login(world.admin_b)
    assert sheet(client, world.hotline_a, [world.ext_a["101"]]).status_code == 404
    # Another tenant's extension ticked on one's own hotline: not a valid choice, nothing made.
    refused = sheet(client, world.hotline_b, [world.ext_a["101"], world.ext_b["101"]])
    assert refused.status_code == 302
    assert not ProvisioningLink.objects.exists()


def test_fifty_extensions_in_a_constant_number_of_queries(admin_client, world, settings):
    settings.BULK_RATE_LIMIT = (10, 3600)
    extension_range_create(hotline=world.hotline_a, first="200", last="249", alias_pattern="team{n}")
    team = list(Extension.objects.filter(hotline=world.hotline_a, number__startswith="2").order_by("number"))
    assert len(team) == 50

    def measure(extensions):
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = sheet(admin_client, world.hotline_a, extensions)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert len(response.context["cards"]) == len(extensions)
        return len(ctx.captured_queries), elapsed

    measure(team[:1])  # the user's first bulk operation also reads its budget back from the database
    small, _ = measure(team[:5])
    large, seconds = measure(team)
    # The user; the hotline; the selection; the savepoint pair of the transaction; the guard's
    # budget record (expired ones deleted, this one inserted); the links (one INSERT); the
    # operation's audit row and the extensions' (one INSERT).
    assert small == large == 10
    assert seconds < 2.0, seconds
    print(f"onboarding sheet of 50: {large} queries, {seconds * 1000:.0f} ms")
    assert ProvisioningLink.objects.count() == 56
