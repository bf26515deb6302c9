"""DESIGN.md's table "Who may obtain SIP access", row by row, against the routes themselves:
a stale sign-in is refused on every route that yields SIP access, choosing a password counts
and is audited like a reveal, bulk routes have their own budget and a fresher sign-in, and the
budgets slide and are shared by every process."""

import subprocess
import sys
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audit.choices import Action
from audit.models import AuditEvent
from core import ratelimit
from core.guard import SESSION_AUTH_TIME
from extensions.models import Extension, ImportJob
from tenants.models import ApiToken
from tests.api import api_client

pytestmark = pytest.mark.django_db

STRONG = "Str0ngPassw0rdX"


@pytest.fixture
def admin_page(client, world):
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    return client


def age_sign_in(client, seconds: int) -> None:
    session = client.session
    session[SESSION_AUTH_TIME] = int(time.time()) - seconds
    session.save()


def ha1(extension) -> str:
    return Extension.objects.get(pk=extension.pk).ha1


# --- a sign-in older than the window: refused on every route --------------------------------


def test_minting_an_api_token_needs_a_recent_sign_in(admin_page, settings):
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    response = admin_page.post(reverse("tenants:api_token"), {"action": "create"})
    assert response.status_code == 302 and response.url.startswith(reverse("confirm_password"))
    assert not ApiToken.objects.exists()


def test_an_api_token_is_never_replaced_silently(admin_page, world):
    first = admin_page.post(reverse("tenants:api_token"), {"action": "create"})
    assert first.status_code == 200 and ApiToken.objects.filter(user=world.admin_a).count() == 1
    kept = ApiToken.objects.get(user=world.admin_a).key_hash
    again = admin_page.post(reverse("tenants:api_token"), {"action": "create"})
    assert again.status_code == 409
    assert ApiToken.objects.get(user=world.admin_a).key_hash == kept
    replaced = admin_page.post(reverse("tenants:api_token"), {"action": "replace"})
    assert replaced.status_code == 200
    assert ApiToken.objects.get(user=world.admin_a).key_hash != kept


def test_choosing_a_password_by_api_patch_needs_a_recent_sign_in(admin_page, world, settings):
    extension = world.ext_a["102"]
    before = ha1(extension)
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    url = f"/api/v1/extensions/{extension.pk}/"
    refused = admin_page.patch(url, {"password": STRONG}, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["detail"]
    assert ha1(extension) == before
    # The rest of the API still works with that session; only the secret needs the sign-in.
    assert admin_page.patch(url, {"description": "ok"}, content_type="application/json").status_code == 200


def test_choosing_a_password_in_the_edit_form_needs_a_recent_sign_in(admin_page, world, settings):
    extension = world.ext_a["102"]
    before = ha1(extension)
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    response = admin_page.post(
        reverse("extensions:extension_edit", kwargs={"pk": extension.pk}),
        {
            "alias": "typed-kept",
            "call_permission": 3,
            "description": "",
            "enabled": "on",
            "version": extension.version,
            "password": STRONG,
        },
    )
    assert response.status_code == 403
    html = response.content.decode()
    assert 'id="reauth-needed"' in html and "typed-kept" in html and STRONG not in html
    stored = Extension.objects.get(pk=extension.pk)
    assert stored.ha1 == before and stored.alias == extension.alias


def _upload(page, world, text: str) -> str:
    response = page.post(
        reverse("extensions:extension_import", kwargs={"hotline_pk": world.hotline_a.pk}),
        {"file": SimpleUploadedFile("p.csv", text.encode(), content_type="text/csv")},
    )
    assert response.status_code == 302
    return response.url


def test_a_csv_that_sets_passwords_needs_a_recent_sign_in(admin_page, world, settings):
    job_url = _upload(admin_page, world, f"number,password\r\n102,{STRONG}\r\n")
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    before = ha1(world.ext_a["102"])
    response = admin_page.post(job_url.rstrip("/") + "/apply/")
    assert response.status_code == 302 and response.url.startswith(reverse("confirm_password"))
    assert ha1(world.ext_a["102"]) == before
    assert ImportJob.objects.get().status == "previewed"  # applied once the admin signs in again
    age_sign_in(admin_page, 0)
    admin_page.post(job_url.rstrip("/") + "/apply/")
    assert ha1(world.ext_a["102"]) != before


def test_a_csv_without_passwords_needs_no_recent_sign_in(admin_page, world, settings):
    job_url = _upload(admin_page, world, "number,description\r\n102,hello\r\n")
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    admin_page.post(job_url.rstrip("/") + "/apply/")
    assert Extension.objects.get(pk=world.ext_a["102"].pk).description == "hello"


def test_the_csv_api_with_a_session_needs_a_recent_sign_in_for_passwords(admin_page, world, settings):
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    before = ha1(world.ext_a["102"])
    response = admin_page.post(
        f"/api/v1/extensions/import/?hotline={world.hotline_a.pk}&dry_run=false",
        data=f"number,password\r\n102,{STRONG}\r\n",
        content_type="text/csv",
    )
    assert response.status_code == 403
    assert ha1(world.ext_a["102"]) == before


def test_share_links_need_a_recent_sign_in(admin_page, world, settings):
    age_sign_in(admin_page, settings.REVEAL_REAUTH_SECONDS + 5)
    admin_page.post(reverse("extensions:sharelink_add", kwargs={"pk": world.ext_a["101"].pk}))
    assert not world.ext_a["101"].share_links.exists()


# --- chosen passwords count against the single budget and are audited as reveals --------------


def test_a_chosen_password_counts_and_is_audited_like_a_reveal(world, settings):
    settings.REVEAL_RATE_LIMIT = (2, 600)
    api = api_client(world.admin_a)  # a token: no sign-in time, the owner's budgets
    extension = world.ext_a["102"]
    assert api.post(f"/api/v1/extensions/{world.ext_a['101'].pk}/credentials/").status_code == 200
    assert api.patch(f"/api/v1/extensions/{extension.pk}/", {"password": STRONG}).status_code == 200
    reveal = AuditEvent.objects.filter(action=Action.REVEAL, object_id=str(extension.pk)).get()
    assert reveal.actor_id == world.admin_a.pk and STRONG not in str(reveal.changes)
    before = ha1(extension)
    refused = api.patch(f"/api/v1/extensions/{extension.pk}/", {"password": STRONG + "2"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "minute" in refused.json()["detail"]
    assert ha1(extension) == before


def test_a_csv_with_more_passwords_than_the_budget_is_refused_whole(world, settings):
    settings.REVEAL_RATE_LIMIT = (2, 600)
    api = api_client(world.admin_a)
    rows = "".join(f"{n},{STRONG}{tail}\r\n" for n, tail in (("100", "a"), ("101", "b"), ("102", "c")))
    before = [ha1(e) for e in world.ext_a.values()]
    response = api.post(
        f"/api/v1/extensions/import/?hotline={world.hotline_a.pk}&dry_run=false",
        data=f"number,password\r\n{rows}",
        content_type="text/csv",
    )
    assert response.status_code == 429
    assert "3 passwords" in response.json()["detail"]
    assert [ha1(e) for e in world.ext_a.values()] == before


# --- bulk: a fresher sign-in and a budget of operations ---------------------------------------


def test_bulk_routes_need_a_sign_in_within_five_minutes(admin_page, world, settings):
    age_sign_in(admin_page, settings.BULK_REAUTH_SECONDS + 30)  # 5½ minutes: fine for one secret
    reveal = admin_page.post(reverse("extensions:extension_reveal", kwargs={"pk": world.ext_a["101"].pk}))
    assert reveal.status_code == 200
    export = admin_page.post(
        reverse("extensions:extension_export", kwargs={"hotline_pk": world.hotline_a.pk})
    )
    assert export.status_code == 302 and export.url.startswith(reverse("confirm_password"))
    regenerate = admin_page.post(
        "/api/v1/extensions/bulk/",
        {"action": "regenerate_passwords", "ids": [world.ext_a["100"].pk], "reveal": True},
        content_type="application/json",
    )
    assert regenerate.status_code == 403


def test_bulk_operations_have_their_own_budget_of_any_size(world, settings):
    settings.BULK_RATE_LIMIT = (2, 3600)
    settings.REVEAL_RATE_LIMIT = (1, 600)  # an export of 3 passwords is one bulk operation
    api = api_client(world.admin_a)
    export = f"/api/v1/extensions/export/?hotline={world.hotline_a.pk}"
    assert [api.post(export).status_code for _ in range(2)] == [200, 200]
    refused = api.post(export)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 3000
    assert "minutes" in refused.json()["detail"]
    # The single budget is another one.
    assert api.post(f"/api/v1/extensions/{world.ext_a['101'].pk}/credentials/").status_code == 200


# --- the budgets slide and are shared -----------------------------------------------------------


def test_windows_slide(settings):
    key = f"test-slide-{time.time_ns()}"
    assert ratelimit.take(key, limit=2, window=3) == 0
    time.sleep(1.2)
    assert ratelimit.take(key, limit=2, window=3) == 0
    assert ratelimit.take(key, limit=2, window=3) > 0  # full
    # A fixed window would have reset at some boundary by now; this one frees the first event
    # only 3 s after it was taken, and the second 3 s after that one.
    time.sleep(2.0)
    assert ratelimit.take(key, limit=2, window=3) == 0
    assert ratelimit.take(key, limit=2, window=3) > 0


def test_budgets_are_shared_by_every_process(settings):
    assert "django_redis" in settings.CACHES["default"]["BACKEND"], "make test runs with REDIS_URL"
    key = f"test-shared-{time.time_ns()}"
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='pbx_admin.settings_test'; django.setup();"
        f"from django.conf import settings; settings.CACHES['default']['KEY_PREFIX']={prefix!r};"
        f"from core import ratelimit; print(ratelimit.take({key!r}, limit=3, window=60, weight=3))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert other.stdout.strip().splitlines()[-1] in ("0", "0.0")
    assert ratelimit.take(key, limit=3, window=60) > 0  # the other process spent it all


# --- the web phone's short-lived credential: a signed-in session, own extension only -----------


def phone_credentials(client):
    return client.post(reverse("sip:phone_credentials"), HTTP_ACCEPT="application/json")


def test_the_web_phone_credential_needs_a_session_of_any_age_and_counts_nothing(client, world, settings):
    """The guard table's row: a signed-in session (however old: the phone signs in every time it
    opens, nobody types a password for it), own extension only, not counted, valid ≤ 12 h,
    audited when issued, and never the stored password."""
    settings.REVEAL_RATE_LIMIT = (1, 600)
    settings.WEB_PHONE_CREDENTIAL_SECONDS = 7 * 24 * 3600  # asked for a week: 12 h at most
    extension = world.ext_a["101"]
    client.force_login(world.agent_a)
    age_sign_in(client, settings.REVEAL_REAUTH_SECONDS * 10)
    answers = [phone_credentials(client) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    body = answers[0].json()
    domain = extension.hotline.sip_domain
    expiry, _, user = body["username"].partition(":")
    assert user == f"101@{domain}" and body["sip_uri"] == f"sip:101@{domain}"
    assert 0 < int(expiry) - time.time() <= 12 * 3600
    stored = extension.get_sip_password()
    assert all(stored not in a.content.decode() for a in answers)
    assert "no-store" in answers[0]["Cache-Control"]
    # Audited once per issue, holding neither the credential nor the password.
    events = AuditEvent.objects.filter(action=Action.PHONE_SIGN_IN, object_id=str(extension.pk))
    assert events.count() == 3 and {e.actor_id for e in events} == {world.agent_a.pk}
    for event in events:
        assert body["password"] not in str(event.changes) and body["username"] not in str(event.changes)
        assert stored not in str(event.changes)
    # Nothing was spent: the single budget of one secret still has its one, and the stale sign-in
    # is still asked to sign in again before a reveal.
    assert not AuditEvent.objects.filter(action=Action.REVEAL).exists()
    api = api_client(world.agent_a)
    assert api.post(f"/api/v1/extensions/{extension.pk}/credentials/").status_code == 200
    assert api.post(f"/api/v1/extensions/{extension.pk}/credentials/").status_code == 429


def test_the_web_phone_credential_is_only_for_ones_own_extension(client, world):
    # An admin without an extension of their own: nothing to sign in on.
    client.force_login(world.admin_a)
    assert phone_credentials(client).status_code == 404
    assert client.get(reverse("sip:phone")).status_code == 404
    # A link to another tenant's extension (which Membership.clean refuses) is never honoured.
    membership = world.agent_a.membership
    type(membership).objects.filter(pk=membership.pk).update(extension=world.ext_b["101"])
    client.force_login(world.agent_a)
    refused = phone_credentials(client)
    assert (
        refused.status_code == 404 and world.ext_b["101"].hotline.sip_domain not in refused.content.decode()
    )
    # An API token is not a browser session: the route is not part of the API.
    api = api_client(world.admin_b)
    response = api.post(reverse("sip:phone_credentials"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert not AuditEvent.objects.filter(action=Action.PHONE_SIGN_IN).exists()


def test_an_admin_linked_to_an_extension_gets_the_phone_and_a_disabled_one_is_refused(client, world):
    from extensions.services import extension_update
    from tenants.models import Membership

    membership = Membership.objects.get(user=world.admin_a)
    membership.extension = world.ext_a["100"]
    membership.full_clean()  # an admin may have an extension of their own
    membership.save()
    client.force_login(world.admin_a)
    client.cookies["django_language"] = "en"
    page = client.get(reverse("sip:phone"))
    assert page.status_code == 200
    assert f'href="{reverse("sip:phone")}"' in page.content.decode()  # the menu entry
    assert phone_credentials(client).json()["username"].endswith(f":100@{world.hotline_a.sip_domain}")
    extension_update(extension=world.ext_a["100"], data={"enabled": False})
    refused = phone_credentials(client)
    assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    assert AuditEvent.objects.filter(action=Action.PHONE_SIGN_IN).count() == 1


def test_the_phone_row_admits_no_token_request(world):
    """A token-authenticated caller has no session: the phone's row refuses it outright."""
    from core.guard import Access, RevealRefused, guard_access

    with pytest.raises(RevealRefused):
        guard_access(user=world.agent_a, session=None, access=Access.PHONE)
